"""A hum whose log lives in the store: a bounded tail in memory, the rest read on demand, a restart that reads no chunk."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hum.core.bloom import EMPTY_TRANSCRIPT, key_of_turns
from hum.core.hum import TAIL_PETALS, Hum
from hum.core.petal import Petal
from hum.core.tap import Tap
from hum.core.wane import WaneTracker
from hum.demo.chaos_deal import damage
from hum.store.sqlite import SqliteStore
from hum.wire.tones import sigil

HOME = "a" * 64
SG = sigil("local", "long")


class CountingArchive:
    """The store as a hum's archive, counting the petals read back from it."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.read = 0

    def petals(self, sigil_: str, after: int, upto: int) -> list[Petal]:
        got = self.store.petals(sigil_, after, upto)
        self.read += len(got)
        return got

    def lines(self, sigil_: str, sid: str, after: int, upto: int) -> list[bytes]:
        got = self.store.lines(sigil_, sid, after, upto)
        self.read += len(got)
        return got


def settle(store: SqliteStore) -> None:
    """Commit, and tell each hum how far its log is durable now (the node's part)."""
    for hum, wane in store.flush().durable:
        hum.mark_durable(wane)


def stored_hum(tmp_path: Path) -> tuple[Hum, SqliteStore, CountingArchive]:
    store = SqliteStore(tmp_path / "hums.db")
    archive = CountingArchive(store)
    hum = Hum(SG, "long", "local", HOME, WaneTracker(), archive=archive)
    store.save_hum(hum)
    return hum, store, archive


def bloom(hum: Hum, store: SqliteStore, text: str, deltas: list[str]) -> None:
    for chi, body in [("prompt", {"text": text})] + [("chunk", {"chunkType": "text_delta", "delta": d}) for d in deltas]:
        store.append(hum, hum.append(chi, body))
    settle(store)  # two commits: the tail lets go only of what was stored before the last one
    finish = hum.append("finish", {"finishReason": "stop"})
    store.append(hum, finish, hum.transcript_key)
    settle(store)


def test_a_long_log_is_read_back_from_the_store_in_order_and_the_live_edge_from_memory(tmp_path: Path) -> None:
    hum, store, archive = stored_hum(tmp_path)
    deltas = [f"d{i} " for i in range(5000)]
    bloom(hum, store, "count", deltas)
    assert hum.tip == 5002

    live = Tap(SG, hum.tip - 10, owner="live")
    live.grant(hum.tip)
    tones = hum.read(live, 100, hum.durable_tip)
    assert [t["wane"] for t in tones if "wane" in t and t["chi"] != "hello"] == list(range(4993, 5003))
    assert archive.read == 0  # the live edge never touches the store

    late = Tap(SG, 0, owner="late")
    late.grant(hum.tip)
    got: list[int] = []
    while hum.owes(late, hum.durable_tip):
        got += [t["wane"] for t in hum.read(late, 256, hum.durable_tip) if t["chi"] != "hello"]
    assert got == list(range(1, 5003))
    assert archive.read >= 5002 - 2 * TAIL_PETALS  # everything older than the tail came from SQLite
    assert hum.blooms()[0].text == "".join(deltas)


def test_a_restart_knows_the_tip_the_open_bloom_and_the_transcript_without_reading_chunks(tmp_path: Path) -> None:
    hum, store, _ = stored_hum(tmp_path)
    bloom(hum, store, "one", ["un", "o"])
    bloom(hum, store, "two", ["dos"])
    store.append(hum, hum.append("prompt", {"text": "three"}))
    store.append(hum, hum.append("chunk", {"chunkType": "text_delta", "delta": "tr"}))
    settle(store)
    key_before = hum.transcript_key
    store.close()
    with sqlite3.connect(tmp_path / "hums.db") as db:  # a start-up that read the chunks of closed blooms would trip here
        db.execute("UPDATE petals SET body = '{damaged' WHERE wane = 2")

    again = SqliteStore(tmp_path / "hums.db")
    (back,) = again.load(WaneTracker())
    assert (back.tip, back.bloom_open, back.last_prompt) == (hum.tip, True, hum.tip - 1)
    assert back.transcript_key == key_before == key_of_turns([("user", "one"), ("assistant", "uno"), ("user", "two"), ("assistant", "dos")])
    assert back.last_bloom() is not None and back.last_bloom().text == "tr"  # type: ignore[union-attr]
    # the open bloom goes on where it stopped: its key covers the chunk read back at the restart
    again.append(back, back.append("chunk", {"chunkType": "text_delta", "delta": "es"}))
    back.append("finish", {"finishReason": "stop"})
    assert back.transcript_key == key_of_turns([("user", "one"), ("assistant", "uno"), ("user", "two"), ("assistant", "dos"), ("user", "three"), ("assistant", "tres")])


def test_a_store_from_before_transcript_keys_gets_them_at_its_first_load(tmp_path: Path) -> None:
    hum, store, _ = stored_hum(tmp_path)
    bloom(hum, store, "hi", ["hello"])
    store.close()
    with sqlite3.connect(tmp_path / "hums.db") as db:  # as an older humd wrote it
        db.execute("UPDATE petals SET transcript = NULL")
    (back,) = SqliteStore(tmp_path / "hums.db").load(WaneTracker())
    assert back.transcript_key == key_of_turns([("user", "hi"), ("assistant", "hello")])
    (again,) = SqliteStore(tmp_path / "hums.db").load(WaneTracker())
    assert again.transcript_key == back.transcript_key


def test_a_store_with_a_gap_serves_what_comes_before_it_and_says_why_it_stops(tmp_path: Path) -> None:
    hum, store, _ = stored_hum(tmp_path)
    bloom(hum, store, "hi", [f"{i}" for i in range(3 * TAIL_PETALS)])
    store.close()
    assert damage(tmp_path / "hums.db", SG, 3, gone=True)  # chunk 3's line cut out of its block
    (back,) = SqliteStore(tmp_path / "hums.db").load(WaneTracker())
    assert [p.wane for p in back.since(0, 10)] == [1, 2]
    tap = Tap(SG, 0, owner="late")
    tap.grant(back.tip)
    tones = []
    while back.owes(tap, back.durable_tip):
        tones += back.read(tap, 256, back.durable_tip)
    assert [t["wane"] for t in tones if t["chi"] in ("prompt", "chunk")] == [1, 2]
    assert tones[-1]["qualifier"] == "cannot-read"


def test_cutting_a_stored_log_back_keeps_the_bloom_state_and_key_of_what_is_kept(tmp_path: Path) -> None:
    hum, store, _ = stored_hum(tmp_path)
    bloom(hum, store, "one", [f"{i}" for i in range(2 * TAIL_PETALS + 50)])
    kept = hum.tip
    key = hum.transcript_key
    bloom(hum, store, "two", [f"{i}" for i in range(3 * TAIL_PETALS)])
    cut = hum.truncate(kept + 5)
    assert [p.wane for p in cut] == list(range(kept + 6, kept + 3 * TAIL_PETALS + 3))
    assert hum.tip == kept + 5 and hum.bloom_open and hum.transcript_key == key
    store.orphan(hum, kept + 5, 1)
    settle(store)
    assert [p.wane for p in hum.petals] == list(range(1, kept + 6))


def test_branches_of_two_incarnations_at_the_same_epoch_and_wanes_are_both_kept(tmp_path: Path) -> None:
    hum, store, _ = stored_hum(tmp_path)
    hum.born = 1_000
    bloom(hum, store, "ours", ["a", "b"])
    store.orphan(hum, 0, 0, born=1_000)  # our incarnation lost to another minted elsewhere: all of it aside
    hum.truncate(0)
    hum.born = 2_000
    bloom(hum, store, "theirs", ["c", "d"])
    store.orphan(hum, 0, 0)  # later, a branch of the winner at the same epoch and wanes
    hum.truncate(0)
    settle(store)
    kept = [(o["born"], o["wane"], o.get("text") or o.get("delta") or o["chi"]) for o in store.orphans(SG)]
    assert kept == [(1_000, 1, "ours"), (1_000, 2, "a"), (1_000, 3, "b"), (1_000, 4, "finish")] + [
        (2_000, 1, "theirs"), (2_000, 2, "c"), (2_000, 3, "d"), (2_000, 4, "finish")
    ]


def test_an_adopted_hum_remembers_the_epoch_it_was_adopted_from_across_a_restart(tmp_path: Path) -> None:
    hum, store, _ = stored_hum(tmp_path)
    bloom(hum, store, "hi", ["hello"])
    hum.epoch, hum.fork, hum.prior = 2, 3, (1, "b" * 64)
    store.save_hum(hum)
    settle(store)
    store.close()
    (back,) = SqliteStore(tmp_path / "hums.db").load(WaneTracker())
    assert (back.epoch, back.fork, back.prior) == (2, 3, (1, "b" * 64))
    assert back.summary()["prior"] == {"epoch": 1, "home": "b" * 64}


def test_a_store_from_before_orphans_had_an_incarnation_keeps_its_branches_as_of_its_hum(tmp_path: Path) -> None:
    hum, store, _ = stored_hum(tmp_path)
    hum.born = 1_000
    store.save_hum(hum)
    bloom(hum, store, "ours", ["a"])
    store.orphan(hum, 1, 2)
    settle(store)
    store.close()
    with sqlite3.connect(tmp_path / "hums.db") as db:  # as an older humd wrote it: no `born` in its key
        db.executescript(
            "ALTER TABLE orphans RENAME TO o; CREATE TABLE orphans (sigil TEXT NOT NULL, epoch INTEGER NOT NULL, wane INTEGER NOT NULL, "
            "chi TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (sigil, epoch, wane)) WITHOUT ROWID; "
            "INSERT INTO orphans SELECT sigil, epoch, wane, chi, body FROM o; DROP TABLE o;"
        )
    again = SqliteStore(tmp_path / "hums.db")
    assert [(o["born"], o["epoch"], o["wane"], o["chi"]) for o in again.orphans(SG)] == [(1_000, 2, 2, "chunk"), (1_000, 2, 3, "finish")]
    (back,) = again.load(WaneTracker())
    back.born = 3_000
    again.orphan(back, 0, 2)  # a later incarnation's branch at the same epoch and wane: kept beside it
    settle(again)
    assert [(o["born"], o["wane"]) for o in again.orphans(SG)] == [(1_000, 2), (1_000, 3), (3_000, 1)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.text(max_size=8), st.lists(st.text(max_size=4), max_size=5), st.booleans()), min_size=1, max_size=6)
)
def test_a_hums_transcript_key_is_the_key_of_its_transcript(blooms: list[tuple[str, list[str], bool]]) -> None:
    hum = Hum(SG, "long", "local", HOME, WaneTracker())
    for text, deltas, note in blooms:
        hum.append("prompt", {"text": text, "system": "be brief"})
        for d in deltas:
            hum.append("chunk", {"chunkType": "text_delta", "delta": d})
            if note:
                hum.append("chunk", {"chunkType": "reasoning_delta", "delta": "hm"})
        hum.append("finish", {"finishReason": "stop"})
    turns = [(role, text) for role, text in hum.transcript() if role != "system"]
    assert hum.transcript_key == key_of_turns(turns)
    assert hum.transcript_key != EMPTY_TRANSCRIPT


def test_a_petal_that_no_longer_reads_ends_the_tap_with_a_store_error(tmp_path: Path) -> None:
    hum, store, _ = stored_hum(tmp_path)
    bloom(hum, store, "hi", [f"{i}" for i in range(3 * TAIL_PETALS)])
    assert damage(tmp_path / "hums.db", SG, 10)  # a chunk's line in its block (store/blocks.py)
    tap = Tap(SG, 0, owner="late")
    tap.grant(hum.tip)
    tones = []
    while hum.owes(tap, hum.durable_tip):
        tones += hum.read(tap, 256, hum.durable_tip)
    assert [t["wane"] for t in tones if t["chi"] == "prompt" or t["chi"] == "chunk"] == list(range(1, 10))
    assert tones[-1]["chi"] == "error" and tones[-1]["qualifier"] == "cannot-read"


def read_all(hum: Hum, *, lines: bool) -> list:
    tap = Tap(SG, 0, owner="late")
    tap.grant(hum.tip)
    out: list = []
    while hum.owes(tap, hum.durable_tip):
        out += hum.read(tap, 256, hum.durable_tip, lines=lines)
    return out


def test_a_byte_reader_far_behind_gets_from_the_store_exactly_the_lines_a_tone_reader_gets(tmp_path: Path) -> None:
    hum, store, archive = stored_hum(tmp_path)
    # bodies that could shadow the envelope ("wane", "sid" as keys) or only mention it in text
    store.append(hum, hum.append("prompt", {"text": 'say "wane": 3', "from": "me"}))
    for i in range(3 * TAIL_PETALS):
        body = {"chunkType": "text_delta", "delta": f"{i} é"} if i % 100 else {"delta": "x", "wane": 99, "sid": "no"}
        store.append(hum, hum.append("chunk", body))
    settle(store)
    store.append(hum, hum.append("finish", {}), hum.transcript_key)
    settle(store)
    as_lines = read_all(hum, lines=True)
    assert archive.read >= 3 * TAIL_PETALS - 2 * TAIL_PETALS
    as_tones = read_all(hum, lines=False)
    assert [json.loads(line) if isinstance(line, bytes) else line for line in as_lines] == as_tones
    assert all(t["wane"] == i for i, t in enumerate(as_tones[1:], 1))  # the envelope wins over a body's "wane"
    assert as_tones[102]["sid"] == "long" and as_tones[102]["delta"] == "x"  # chunk 100, at wane 102


def test_a_byte_reader_stops_at_a_damaged_row_with_a_store_error(tmp_path: Path) -> None:
    hum, store, _ = stored_hum(tmp_path)
    bloom(hum, store, "hi", [f"{i}" for i in range(3 * TAIL_PETALS)])
    assert damage(tmp_path / "hums.db", SG, 10)  # a chunk's line in its block (store/blocks.py)
    got = read_all(hum, lines=True)
    wanes = [json.loads(line)["wane"] for line in got if isinstance(line, bytes)]
    assert wanes == list(range(1, 10))
    assert got[-1]["chi"] == "error" and got[-1]["qualifier"] == "cannot-read"


def test_the_last_system_text_is_known_as_prompts_come_and_after_a_restart(tmp_path: Path) -> None:
    hum, store, _ = stored_hum(tmp_path)
    store.append(hum, hum.append("prompt", {"text": "one", "system": "be brief"}))
    store.append(hum, hum.append("finish", {}), hum.transcript_key)
    store.append(hum, hum.append("prompt", {"text": "two"}))
    store.append(hum, hum.append("finish", {}), hum.transcript_key)
    settle(store)
    assert hum.last_system() == "be brief"
    store.close()
    (back,) = SqliteStore(tmp_path / "hums.db").load(WaneTracker())
    assert back.last_system() == "be brief"
    back.append("prompt", {"text": "three", "system": "be kind"})
    assert back.last_system() == "be kind"
