"""One ensemble link, sans I/O: handshake, refusals, heartbeats, liveness, `from` checks."""

from __future__ import annotations

import json

import pytest
from link_helpers import link_for, linked, pump, tones_in

from hum.ensemble.link.events import LinkDown, LinkEvent, LinkUp, ToneIn
from hum.ensemble.link.protocol import HANDSHAKE_TIMEOUT, HEARTBEAT_INTERVAL, LINK_TIMEOUT, Link
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import OperatorKey
from hum.errors import RouteError
from hum.wire.framing import encode

# -- handshake ----------------------------------------------------------------------------


def test_siblings_reach_link_up_on_both_sides(laptop: Identity, phone: Identity) -> None:
    a, b = linked(laptop, phone)
    assert a.state == b.state == "up"
    assert a.peer == phone.humd_id
    assert b.peer == laptop.humd_id


def test_link_hello_is_the_first_tone_and_names_the_sender(laptop: Identity) -> None:
    a = link_for(laptop)
    [hello] = tones_in(a.data_to_send())
    assert hello.chi == "link-hello"
    assert hello["from"] == laptop.humd_id
    assert len(bytes.fromhex(hello["nonce"])) == 32
    assert "BEGIN CERTIFICATE" in hello["cert"]


def test_hum_tones_cross_once_up(laptop: Identity, phone: Identity) -> None:
    a, b = linked(laptop, phone)
    a.send({"chi": "prompt", "sigil": "abc", "text": "hi", "to": phone.humd_id})
    events = b.receive_data(a.data_to_send(), 0.1)
    assert len(events) == 1 and isinstance(events[0], ToneIn)
    tone = events[0].tone
    assert tone["text"] == "hi"
    assert tone["from"] == laptop.humd_id  # the link stamps the sender


def test_send_raises_before_the_link_is_up(laptop: Identity, phone: Identity) -> None:
    a, b = link_for(laptop), link_for(phone)
    with pytest.raises(RouteError, match="no hum tone may cross"):
        a.send({"chi": "prompt", "text": "too early"})
    # half way: a has the peer's hello, not yet its proof
    a.receive_data(b.data_to_send(), 0.0)
    with pytest.raises(RouteError, match="no hum tone may cross"):
        a.send({"chi": "prompt", "text": "still too early"})
    assert b"too early" not in a.data_to_send()


def test_accepts_the_humd_prefixed_wire_form_of_a_claimed_id(
    laptop: Identity, phone: Identity
) -> None:
    a = link_for(laptop)
    [hello] = tones_in(link_for(phone).data_to_send())
    hello["from"] = "humd_" + hello["from"]
    assert a.receive_data(encode(hello), 0.0) == []
    assert a.state == "handshake"
    assert tones_in(a.data_to_send())[-1].chi == "link-proof"


# -- refusals -------------------------------------------------------------------------------


def assert_refused(link: Link, events: list[LinkEvent]) -> None:
    """Refused: a route-error/identity-mismatch tone goes back, LinkDown, no hum tone crosses."""
    assert [type(e) for e in events] == [LinkDown]
    assert isinstance(events[0], LinkDown) and events[0].qualifier == "identity-mismatch"
    out = tones_in(link.data_to_send())
    errors = [t for t in out if t.chi == "error"]
    assert errors and errors[-1]["code"] == "route-error"
    assert errors[-1]["qualifier"] == "identity-mismatch"
    assert link.state == "closed"
    with pytest.raises(RouteError, match="no hum tone may cross"):
        link.send({"chi": "chunk", "delta": "leak"})
    # nothing more is heard on a closed link
    assert link.receive_data(encode({"chi": "chunk", "from": "x"}), 1.0) == []


def test_foreign_operator_peer_is_refused(laptop: Identity) -> None:
    stranger = Identity.mint(OperatorKey.generate(), "intruder")
    a, b = link_for(laptop), link_for(stranger)
    events = a.receive_data(b.data_to_send(), 0.0)
    assert_refused(a, events)
    assert a.peer is None


def test_forged_claimed_id_is_refused(
    laptop: Identity, phone: Identity, operator: OperatorKey
) -> None:
    # a real sibling certificate, but the hello claims to be another sibling
    other = Identity.mint(operator, "tablet")
    [hello] = tones_in(link_for(phone).data_to_send())
    hello["from"] = str(other.humd_id)
    a = link_for(laptop)
    events = a.receive_data(encode(hello), 0.0)
    assert_refused(a, events)


def test_claimed_id_that_is_not_a_humd_id_is_refused(laptop: Identity, phone: Identity) -> None:
    [hello] = tones_in(link_for(phone).data_to_send())
    hello["from"] = "not-a-humd-id"
    a = link_for(laptop)
    assert_refused(a, a.receive_data(encode(hello), 0.0))


def test_replayed_link_proof_from_another_session_is_refused(
    laptop: Identity, phone: Identity
) -> None:
    # session 1: a real handshake, recorded by an eavesdropper
    a1, b1 = link_for(laptop), link_for(phone)
    phone_hello = b1.data_to_send()
    a1.receive_data(phone_hello, 0.0)
    b1.receive_data(a1.data_to_send(), 0.0)
    phone_proof = [t for t in tones_in(b1.data_to_send()) if t.chi == "link-proof"]
    assert phone_proof
    # session 2: the eavesdropper replays the phone's hello and proof to the laptop
    a2 = link_for(laptop)
    assert a2.receive_data(phone_hello, 1.0) == []
    events = a2.receive_data(encode(phone_proof[0]), 1.0)
    assert_refused(a2, events)


def test_reflected_handshake_is_refused(laptop: Identity) -> None:
    # A man in the middle with no key echoes the laptop's own hello and proof back to it:
    # nobody but the laptop itself proved anything, so the link must not come up.
    a = link_for(laptop)
    events = a.receive_data(a.data_to_send(), 0.0)
    events += a.receive_data(a.data_to_send(), 0.0)
    assert not any(isinstance(e, LinkUp) for e in events), "linked with itself"
    assert a.state != "up"


def test_bad_signature_in_the_proof_is_refused(laptop: Identity, phone: Identity) -> None:
    a, b = link_for(laptop), link_for(phone)
    a.receive_data(b.data_to_send(), 0.0)
    b.receive_data(a.data_to_send(), 0.0)
    proof = [t for t in tones_in(b.data_to_send()) if t.chi == "link-proof"][0]
    sig = bytearray(bytes.fromhex(proof["signature"]))
    sig[0] ^= 1
    proof["signature"] = sig.hex()
    assert_refused(a, a.receive_data(encode(proof), 0.0))


def test_hum_tone_before_the_handshake_is_refused(laptop: Identity, phone: Identity) -> None:
    a = link_for(laptop)
    events = a.receive_data(encode({"chi": "prompt", "from": phone.humd_id, "text": "hi"}), 0.0)
    assert_refused(a, events)


def test_garbage_during_the_handshake_is_refused(laptop: Identity) -> None:
    a = link_for(laptop)
    events = a.receive_data(b"this is not json\n", 0.0)
    assert_refused(a, events)


def test_refusal_from_the_peer_closes_the_link(operator: OperatorKey, laptop: Identity) -> None:
    stranger = Identity.mint(OperatorKey.generate(), "intruder")
    a, s = link_for(laptop), link_for(stranger)
    ev_a, ev_s = pump(a, s)
    assert any(isinstance(e, LinkDown) and e.qualifier == "identity-mismatch" for e in ev_a)
    assert any(isinstance(e, LinkDown) for e in ev_s)
    assert not any(isinstance(e, LinkUp) for e in ev_a + ev_s)
    assert a.state == s.state == "closed"


def test_handshake_timeout(laptop: Identity) -> None:
    a = link_for(laptop, now=5.0)
    assert a.next_deadline() == 5.0 + HANDSHAKE_TIMEOUT
    assert a.tick(5.0 + HANDSHAKE_TIMEOUT - 0.01) == []
    [down] = a.tick(5.0 + HANDSHAKE_TIMEOUT)
    assert isinstance(down, LinkDown) and down.qualifier == "handshake-timeout"


# -- after the handshake ---------------------------------------------------------------------


def test_tone_whose_from_differs_from_the_peer_is_dropped(
    laptop: Identity, phone: Identity, operator: OperatorKey
) -> None:
    a, _ = linked(laptop, phone)
    other = Identity.mint(operator, "tablet")
    forged = encode({"chi": "chunk", "from": str(other.humd_id), "delta": "x"})
    missing = encode({"chi": "chunk", "delta": "y"})
    genuine = encode({"chi": "chunk", "from": str(phone.humd_id), "delta": "z"})
    events = a.receive_data(forged + missing + genuine, 0.1)
    assert [e.tone["delta"] for e in events if isinstance(e, ToneIn)] == ["z"]
    assert a.state == "up"  # dropped and logged, the link stays


def test_bad_tone_on_an_up_link_is_answered_and_the_link_stays(
    laptop: Identity, phone: Identity
) -> None:
    a, _ = linked(laptop, phone)
    events = a.receive_data(b'{"chi":"nonsense","rid":"q"}\n', 0.1)
    assert events == []
    [reply] = tones_in(a.data_to_send())
    assert (
        reply["code"] == "bad-tone" and reply["qualifier"] == "unknown-chi" and reply["rid"] == "q"
    )
    assert a.state == "up"


def test_heartbeat_after_heartbeat_interval_of_silence(laptop: Identity, phone: Identity) -> None:
    a, _ = linked(laptop, phone)
    a.sent(10.0)
    a.receive_data(b"", 10.0)  # heard at 10.0
    assert a.tick(10.0 + HEARTBEAT_INTERVAL - 0.01) == []
    assert a.data_to_send() == b""
    assert a.tick(10.0 + HEARTBEAT_INTERVAL) == []
    [beat] = tones_in(a.data_to_send())
    assert beat.chi == "heartbeat" and beat["from"] == laptop.humd_id
    # the next one is due an interval later, not at once
    assert a.tick(10.0 + HEARTBEAT_INTERVAL + 0.01) == []
    assert a.data_to_send() == b""
    assert a.next_deadline() == pytest.approx(10.0 + 2 * HEARTBEAT_INTERVAL)


def test_heartbeats_are_swallowed_and_keep_the_link_alive(
    laptop: Identity, phone: Identity
) -> None:
    a, b = linked(laptop, phone)
    now = 0.0
    for _ in range(20):  # 10 s of idle link, heartbeats each way
        now += HEARTBEAT_INTERVAL
        assert b.tick(now) == []
        assert a.tick(now) == []
        assert a.receive_data(b.data_to_send(), now) == []  # heartbeats are no events
        assert b.receive_data(a.data_to_send(), now) == []
    assert a.state == b.state == "up"


def test_peer_loss_after_link_timeout_of_not_hearing(laptop: Identity, phone: Identity) -> None:
    a, b = linked(laptop, phone)
    a.receive_data(encode({"chi": "heartbeat", "from": str(phone.humd_id)}), 3.0)
    # sending does not count as hearing
    a.send({"chi": "chunk", "delta": "x"})
    a.sent(3.0 + LINK_TIMEOUT - 0.2)
    assert a.tick(3.0 + LINK_TIMEOUT - 0.01) == []
    [down] = a.tick(3.0 + LINK_TIMEOUT)
    assert isinstance(down, LinkDown) and down.qualifier == "peer-loss"
    assert a.state == "closed"
    assert a.tick(100.0) == []  # said once


def test_goodbye(laptop: Identity, phone: Identity) -> None:
    a, b = linked(laptop, phone)
    a.goodbye()
    assert a.state == "closed"
    with pytest.raises(RouteError, match="no hum tone may cross"):
        a.send({"chi": "chunk"})
    [down] = b.receive_data(a.data_to_send(), 0.2)
    assert isinstance(down, LinkDown) and down.qualifier == "goodbye"
    assert b.state == "closed"


def test_goodbye_before_up_sends_nothing(laptop: Identity) -> None:
    a = link_for(laptop)
    a.data_to_send()
    a.goodbye()
    assert a.state == "closed"
    assert a.data_to_send() == b""


def test_transport_close_is_peer_loss_once(laptop: Identity, phone: Identity) -> None:
    a, _ = linked(laptop, phone)
    down = a.closed_by_transport("reset")
    assert down is not None and down.qualifier == "peer-loss"
    assert a.closed_by_transport("again") is None


def test_tones_after_goodbye_in_the_same_chunk_are_not_delivered(
    laptop: Identity, phone: Identity
) -> None:
    a, b = linked(laptop, phone)
    data = encode({"chi": "goodbye", "from": str(phone.humd_id)}) + encode(
        {"chi": "chunk", "from": str(phone.humd_id), "delta": "late"}
    )
    events = a.receive_data(data, 0.1)
    assert [type(e) for e in events] == [LinkDown]


def test_wire_bytes_are_ndjson(laptop: Identity, phone: Identity) -> None:
    a, _ = linked(laptop, phone)
    a.send({"chi": "chunk", "delta": "ü\n"})
    data = a.data_to_send()
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data)["delta"] == "ü\n"


def test_a_humd_prefixed_from_is_the_same_humd(laptop: Identity, phone: Identity) -> None:
    a, b = linked(laptop, phone)
    raw = encode({"chi": "attach", "sigil": "abc", "from": "humd_" + laptop.humd_id, "to": "humd_" + phone.humd_id.upper()})
    events = b.receive_data(raw, 0.1)
    assert [type(e).__name__ for e in events] == ["ToneIn"]
    assert events[0].tone["from"] == laptop.humd_id and events[0].tone["to"] == phone.humd_id
