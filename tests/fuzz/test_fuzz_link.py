"""Fuzz the ensemble link and what the router does with a peer's tones: a refusal or an answer, never a crash."""

from __future__ import annotations

import json

from fuzz_helpers import budget, json_values, raw_lines, shaped, tone_objects
from hypothesis import given
from hypothesis import strategies as st

from hum.ensemble.link.events import LinkDown, LinkUp, ToneIn
from hum.ensemble.link.protocol import Link
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck
from hum.node.router import Router
from hum.wire.framing import encode
from hum.wire.tones import PETAL_CHIS, Tone

OPERATOR = OperatorKey.generate()
LAPTOP, PHONE = Identity.mint(OPERATOR, "laptop"), Identity.mint(OPERATOR, "phone")
STRANGER = Identity.mint(OperatorKey.generate(), "stranger")


class StillClock:
    def monotonic(self) -> float:
        return 100.0

    def wall_ms(self) -> float:
        return 1_700_000_000_000.0


def encoded(item: object) -> bytes:
    return encode(item) if isinstance(item, dict) else json.dumps(item).encode() + b"\n"


handshakes = st.lists(
    st.one_of(
        tone_objects.map(encoded),
        raw_lines.map(lambda b: b + b"\n"),
        st.builds(
            lambda cert, body: encoded({"chi": "link-hello", "cert": cert, **body}),
            st.sampled_from([PHONE.certificate.pem().decode(), STRANGER.certificate.pem().decode(), "", "-----BEGIN"]),
            shaped({"from": st.sampled_from([PHONE.humd_id, LAPTOP.humd_id, "humd_" + PHONE.humd_id, "x"]), "nonce": st.text(max_size=70), "protoVersion": json_values(1)}),
        ),
    ),
    max_size=6,
)


@budget(100)
@given(handshakes)
def test_any_bytes_during_the_handshake_refuse_or_wait_and_never_link_up_without_a_proof(lines: list[bytes]) -> None:
    link = Link(LAPTOP, SiblingCheck(LAPTOP.operator), 0.0)
    events = []
    for line in lines:
        events += link.receive_data(line, 1.0)
    assert not any(isinstance(e, LinkUp) for e in events)  # nobody here holds the phone's key
    assert link.state in ("handshake", "closed")
    assert all(isinstance(e, LinkDown) for e in events)
    assert link.peer is None or link.state != "up"


def linked_pair() -> tuple[Link, Link]:
    a, b = Link(LAPTOP, SiblingCheck(LAPTOP.operator), 0.0), Link(PHONE, SiblingCheck(PHONE.operator), 0.0)
    for _ in range(4):
        b.receive_data(a.data_to_send(), 0.0)
        a.receive_data(b.data_to_send(), 0.0)
    assert a.state == b.state == "up"
    return a, b


@budget(100)
@given(st.lists(st.one_of(tone_objects.map(lambda t: encoded({**t, "from": PHONE.humd_id})), raw_lines.map(lambda b: b + b"\n")), max_size=8))
def test_a_linked_peers_odd_tones_are_answered_and_the_link_stays_up(lines: list[bytes]) -> None:
    laptop, phone = linked_pair()
    for line in lines:
        laptop.receive_data(line, 1.0)
    goodbye = any(b'"chi":"goodbye"' in line or b'"chi": "goodbye"' in line for line in lines)
    assert laptop.state == "up" or goodbye


peer_tones = st.builds(
    lambda chi, body: Tone({"chi": chi, **body}),
    st.sampled_from(sorted({"hums", "attach", "detach", "prompt", "cancel", "hello", "error", "revoke", "queued", "release-permit", "orphaned", "breath", *PETAL_CHIS})),
    shaped({
        "sigil": st.sampled_from(["0123456789ab", ""]) | st.text(max_size=14), "wane": st.integers(-2, 50), "since": st.integers(-2, 50),
        "hums": st.lists(shaped({"sigil": st.text(max_size=12), "home": st.sampled_from([PHONE.humd_id, LAPTOP.humd_id]), "epoch": st.integers(-1, 3), "fork": json_values(1)}), max_size=3),
        "text": st.text(max_size=20), "delta": st.text(max_size=5), "rid": json_values(1), "permitId": st.text(max_size=4),
        "decision": st.sampled_from(["allow", "deny", "maybe"]), "count": json_values(1), "first": json_values(1), "last": json_values(1),
        "humdId": st.text(max_size=64), "signature": st.text(max_size=20), "dusk": json_values(1),
    }),
)


@budget(100)
@given(st.lists(peer_tones, max_size=10))
def test_a_peers_tones_never_crash_the_router_nor_drop_the_link(tones: list[Tone]) -> None:
    router = Router(LAPTOP, SiblingCheck(LAPTOP.operator), StillClock())
    router.mint("s1", "local")
    owner, _ = router.link_up(PHONE.humd_id, dialled=False)
    assert owner is not None
    for tone in tones:
        router.link_tone(owner, tone)
        router.pull(owner)
    assert router.peers() == [PHONE.humd_id]


REPLICA = "0123456789ab"  # a hum homed on the phone that the laptop mirrors

petal_items = st.one_of(
    st.builds(
        lambda chi, wane, body: {"chi": chi, "sigil": REPLICA, "sid": "s", "wane": wane, **body},
        st.sampled_from(sorted(PETAL_CHIS)),
        st.integers(1, 8),
        shaped({"delta": st.text(max_size=5), "petalFrom": st.text(max_size=5), "from": st.text(max_size=5), "to": st.text(max_size=5), "wane": json_values(1), "sigil": st.text(max_size=12)}),
    ),
    json_values(3),
)


def mirroring_laptop() -> tuple[Router, Link, Link]:
    """The laptop's router mirroring REPLICA from the phone (granted, empty), with the link pair between them."""
    router = Router(LAPTOP, SiblingCheck(LAPTOP.operator), StillClock())
    owner, _ = router.link_up(PHONE.humd_id, dialled=False)
    assert owner is not None
    router.link_tone(owner, Tone(chi="hums", hums=[{"sigil": REPLICA, "sid": "s", "home": PHONE.humd_id, "wane": 8}]))
    cli = router.open_nestler("cli")
    router.nestler_tone(cli, Tone(chi="hello", bee="cli"))
    router.nestler_tone(cli, Tone(chi="attach", sigil=REPLICA, since=0))
    router.link_tone(owner, Tone(chi="hello", sigil=REPLICA, sid="s", home=PHONE.humd_id, wane=8))
    router.pull(owner)
    laptop, phone = linked_pair()
    return router, laptop, phone


@budget(100)
@given(st.lists(st.lists(petal_items, max_size=6) | json_values(2), min_size=1, max_size=5))
def test_petals_frames_of_any_shape_are_mirrored_in_order_or_answered_bad_petal_and_the_link_stays_up(frames: list[object]) -> None:
    router, laptop, _ = mirroring_laptop()
    owner = router.ensemble.owner(PHONE.humd_id)
    for items in frames:
        line = encoded({"chi": "petals", "sigil": REPLICA, "petals": items, "from": PHONE.humd_id, "to": LAPTOP.humd_id})
        for event in laptop.receive_data(line, 1.0):
            if isinstance(event, ToneIn):
                router.link_tone(owner, event.content)
        answers = router.pull(owner)
        # a gap asks the home again, another petal at a held wane sets our branch aside: both as for single petals
        assert all(t.chi in ("attach", "orphaned") or t.get("qualifier") == "bad-petal" for t in answers), answers
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            assert answers and answers[0].get("qualifier") == "bad-petal"  # the first bad item is answered
    assert laptop.state == "up" and router.peers() == [PHONE.humd_id]
    log = router.hums[REPLICA].petals
    assert [p.wane for p in log] == list(range(1, len(log) + 1))  # a prefix of the home's log, in order
    assert all("petalFrom" not in p.body for p in log)  # a petal's own `from` is restored on arrival
