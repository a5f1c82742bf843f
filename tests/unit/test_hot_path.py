"""The hot path: a petal encoded once for every reader, and replication in `petals` frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from link_helpers import linked, tones_in
from router_helpers import Node, link, pump

from hum.core.hum import Hum
from hum.core.petal import Petal, mirrored_petal
from hum.core.tap import Tap
from hum.core.wane import WaneTracker
from hum.ensemble.link.envelope import BATCH_PETALS
from hum.ensemble.link.events import ToneIn
from hum.ensemble.link.protocol import Link
from hum.ensemble.trust.identity import Identity
from hum.errors import BadTone
from hum.node.effects import PersistRun
from hum.node.owners import Owner, OwnerKind
from hum.store.sqlite import SqliteStore
from hum.wire.framing import Encodings, SealedTone, lines
from hum.wire.tones import Tone, sigil

SG = sigil("local", "s1")


def a_bloom(home: str, chunks: int = 3) -> Hum:
    """A hum on `home` with a prompt (which has a `from`), `chunks` chunks and a finish, all durable."""
    hum = Hum(SG, "s1", "local", home, WaneTracker())
    hum.append("prompt", {"text": "hi", "from": "cli"})
    for i in range(chunks):
        hum.append("chunk", {"chunkType": "text_delta", "delta": f"w{i} ", "blockIdx": 0})
    hum.append(
        "finish", {"finishReason": "stop", "usage": {"input_tokens": 1, "output_tokens": chunks}}
    )
    hum.mark_durable(hum.tip)
    return hum


def granted_taps(hum: Hum, kind: OwnerKind, count: int) -> list[Tap]:
    """`count` taps from wane 0, their hello already read (a fresh tone per tap, not a petal)."""
    taps = [Tap(SG, 0, Owner(kind, f"{kind.value}-{i}")) for i in range(count)]
    for tap in taps:
        tap.grant(hum.home_tip)
        assert hum.read(tap, 1)[0].chi == "hello"
    return taps


def read_by(hum: Hum, taps: int, links: list[Link]) -> tuple[int, list[bytes], list[bytes]]:
    """Each tap and each link reads the whole log on its own, as their tasks do: (encodings made
    for the petals, the bytes each tap got, the bytes each link sent)."""
    nestlers = granted_taps(hum, OwnerKind.NESTLER, taps)
    peers = granted_taps(hum, OwnerKind.PEER, len(links))
    before = Encodings.count
    # every other tap reads lines, as a session that only writes bytes does
    got = [lines(hum.read(tap, 100, lines=i % 2 == 1)) for i, tap in enumerate(nestlers)]
    for one, tap in zip(links, peers, strict=True):
        one.send_all(hum.read(tap, 100))
    return Encodings.count - before, got, [one.data_to_send() for one in links]


def test_a_petal_is_encoded_once_however_many_taps_and_links_read_it(laptop, phone, operator):
    tablet = Identity.mint(operator, "tablet")
    alone, _ = read_by(a_bloom(laptop.humd_id), 1, [])[:2]
    to_phone, _ = linked(laptop, phone)
    to_tablet, _ = linked(laptop, tablet)
    crowd, taps, sent = read_by(a_bloom(laptop.humd_id), 5, [to_phone, to_tablet])
    # one body per petal, and the prompt's link form (its `from` travels as `petalFrom`): once for all
    assert alone == 5 and crowd == alone + 1
    assert all(got == taps[0] for got in taps)
    assert [json.loads(line)["wane"] for line in taps[0].splitlines()] == [1, 2, 3, 4, 5]
    assert all(b'"petalFrom":"cli"' in data for data in sent)


def test_every_reader_of_a_petal_gets_the_same_sealed_tone_and_none_may_change_it(laptop):
    hum = a_bloom(laptop.humd_id)
    one, two = granted_taps(hum, OwnerKind.NESTLER, 2)
    first, second = hum.read(one, 100), hum.read(two, 100)
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert isinstance(first[0], SealedTone) and first[0]["from"] == "cli"
    with pytest.raises(TypeError):
        first[0]["from"] = "someone else"
    with pytest.raises(TypeError):
        first[0].pop("from")
    changed = Tone(first[0])  # a copy may change
    changed["from"] = "me"
    assert hum.read(granted_taps(hum, OwnerKind.NESTLER, 1)[0], 100)[0]["from"] == "cli"


# -- petals frames ---------------------------------------------------------------------------


def test_a_run_of_one_hums_petals_crosses_as_one_frame_and_arrives_as_sent(laptop, phone):
    hum = a_bloom(laptop.humd_id)
    a, b = linked(laptop, phone)
    tones = [p.tone(hum.sid) for p in hum.since(0)]
    a.send_all([Tone(chi="hums", hums=[]), *tones, Tone(chi="heartbeat")])
    data = a.data_to_send()
    assert [t.chi for t in tones_in(data)] == ["hums", "petals", "heartbeat"]
    events = b.receive_data(data, 0.1)
    [frame] = [e.content for e in events if isinstance(e, ToneIn) and e.tone.chi == "petals"]
    assert "from" not in frame and "to" not in frame  # the envelope is gone
    again = next(e.content for e in events if isinstance(e, ToneIn) and e.tone.chi == "petals")
    assert again["petals"] == frame["petals"]  # reading it twice changes nothing
    assert frame["petals"] == [
        dict(t) for t in tones
    ]  # the prompt's own `from` restored, in wane order


def test_a_long_run_is_split_into_bounded_frames_in_order(laptop, phone):
    hum = a_bloom(laptop.humd_id, chunks=2 * BATCH_PETALS + 10)
    a, b = linked(laptop, phone)
    a.send_all([p.tone(hum.sid) for p in hum.since(0)])
    sent = tones_in(a.data_to_send())
    assert [t.chi for t in sent] == ["petals"] * 3
    assert all(len(t["petals"]) <= BATCH_PETALS for t in sent)
    assert [p["wane"] for t in sent for p in t["petals"]] == list(range(1, hum.tip + 1))


def test_a_peer_that_did_not_offer_batches_gets_single_petals(laptop, phone):
    hum = a_bloom(laptop.humd_id)
    a, _ = linked(laptop, phone)
    a.peer_batches = False  # as a link-hello without `batches: true` leaves it
    a.send_all([p.tone(hum.sid) for p in hum.since(0)])
    sent = tones_in(a.data_to_send())
    assert [t["wane"] for t in sent] == [1, 2, 3, 4, 5]
    assert sent[0]["petalFrom"] == "cli" and sent[0]["to"] == phone.humd_id


# -- the receiving humd ------------------------------------------------------------------------


def mirrored_pair(operator: Any, chunks: int) -> tuple[Node, Node, list[Tone]]:
    """The laptop's hum with a bloom, the phone holding an empty replica it asked for; the petals as sent."""
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    link(phone, laptop)
    cli = laptop.nestler()
    laptop.say(cli, "prompt", sid="s1", text="one")
    laptop.bloom(SG, *[f"w{i}" for i in range(chunks)])
    pump(laptop, phone)  # the announcements, both ways
    ai = phone.nestler()
    phone.say(ai, "attach", sigil=SG, since=0)
    [attach] = [t for t in phone.router.pull(phone.links[laptop.id]) if t.chi == "attach"]
    laptop.settle(laptop.router.link_tone(laptop.links[phone.id], attach))
    hello, *petals = laptop.router.pull(laptop.links[phone.id])
    phone.settle(phone.router.link_tone(phone.links[laptop.id], hello))
    return laptop, phone, petals


def petals_frame(items: list[Any]) -> Tone:
    return Tone(chi="petals", sigil=SG, petals=items)


def test_a_frame_is_mirrored_in_order_and_a_repeat_adds_nothing(operator):
    laptop, phone, petals = mirrored_pair(operator, 6)
    frame = petals_frame([dict(p) for p in petals])
    phone.settle(phone.router.link_tone(phone.links[laptop.id], frame))
    phone.settle(phone.router.link_tone(phone.links[laptop.id], frame))
    assert phone.router.hums[SG].petals == laptop.router.hums[SG].petals
    assert phone.router.pull(phone.links[laptop.id]) == []  # nothing to complain about


def test_a_bad_petal_in_a_frame_is_answered_bad_petal_and_the_link_stays_up(operator):
    laptop, phone, petals = mirrored_pair(operator, 3)
    items: list[Any] = [dict(p) for p in petals]
    items[1] = {"chi": "chunk", "sigil": SG, "wane": "two"}
    phone.settle(phone.router.link_tone(phone.links[laptop.id], petals_frame([*items, 7])))
    answers = phone.router.pull(phone.links[laptop.id])
    assert [(t.chi, t.get("qualifier")) for t in answers] == [
        ("error", "bad-petal"),
        ("attach", None),
    ]
    assert answers[1]["since"] == 1  # wane 2 never came: asked again from the tip, once
    assert phone.router.hums[SG].tip == 1
    assert phone.router.peers() == [laptop.id]
    phone.settle(phone.router.link_tone(phone.links[laptop.id], petals_frame([{"not": "a petal"}])))
    phone.settle(phone.router.link_tone(phone.links[laptop.id], petals_frame([])))
    qualifiers = [t.get("qualifier") for t in phone.router.pull(phone.links[laptop.id])]
    assert qualifiers == ["bad-petal", "bad-petal"]
    assert phone.router.peers() == [laptop.id]


def test_a_frame_lands_in_the_store_in_one_commit(operator, tmp_path: Path):
    laptop, phone, petals = mirrored_pair(operator, 40)
    store = SqliteStore(tmp_path / "phone.db")
    store.save_hum(phone.router.hums[SG])
    effects = phone.router.link_tone(
        phone.links[laptop.id], petals_frame([dict(p) for p in petals])
    )
    runs = [effect for effect in effects if isinstance(effect, PersistRun)]
    assert len(runs) == 1  # the frame is one change to the store
    store.append_run(runs[0].hum, runs[0].run)
    durable = [wane for _, wane in store.flush().durable]
    assert durable == [len(petals)]  # one commit made the whole frame durable
    assert [
        p.wane for p in SqliteStore(tmp_path / "phone.db").load(WaneTracker())[0].petals
    ] == list(range(1, len(petals) + 1))


# -- petals as bytes ---------------------------------------------------------------------------


def test_a_run_of_tap_lines_crosses_as_one_frame_and_is_kept_as_the_bytes_it_came_as(laptop, phone):
    hum = a_bloom(laptop.humd_id)
    [peer_tap] = granted_taps(hum, OwnerKind.PEER, 1)
    sent_lines = hum.read(peer_tap, 100, lines=True)  # what a link's sender pulls: bytes, never parsed
    assert all(isinstance(line, bytes) for line in sent_lines)
    a, b = linked(laptop, phone)
    a.send_all(sent_lines)
    data = a.data_to_send()
    assert [t.chi for t in tones_in(data)] == ["petals"]
    [event] = [e for e in b.receive_data(data, 0.1) if isinstance(e, ToneIn)]
    # read as tones, the frame is what the home's taps were sent (the prompt's own `from` too)
    assert event.content["petals"] == [dict(p.tone(hum.sid)) for p in hum.since(0)]
    mirrored = [mirrored_petal(SG, item) for item in event.content_lazy["petals"]]
    assert mirrored == hum.since(0)
    # a chunk is kept as the bytes it came as: its line is the home's line, its stored body the home's
    chunk, home_chunk = mirrored[1], hum.since(1, 2)[0]
    assert chunk.line(hum.sid) == home_chunk.line(hum.sid)
    assert json.loads(chunk.body_json) == home_chunk.body
    assert mirrored[0].body["from"] == "cli"  # the prompt, read whole: its `from` is back


def test_a_frame_petal_of_another_hum_or_not_a_petal_is_bad_petal():
    other = Petal(sigil("local", "s2"), 1, "prompt", {"text": "hi"}).line("s2")[:-1]
    for item in (msgspec.Raw(other), msgspec.Raw(b'{"chi":"hello","sigil":"x","wane":1}'), msgspec.Raw(b"7"), 7):
        with pytest.raises(BadTone) as err:
            mirrored_petal(SG, item)
        assert err.value.qualifier == "bad-petal"


def test_a_body_key_that_could_shadow_the_head_or_the_envelope_is_read_whole():
    line = b'{"chi":"chunk","sigil":"' + SG.encode() + b'","sid":"s1","wane":2,"delta":"x","rid":"r","to":"me"}'
    petal = mirrored_petal(SG, msgspec.Raw(line))
    assert petal.body == {"delta": "x"}  # the envelope's keys are not the petal's
