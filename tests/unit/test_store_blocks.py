"""Petal blocks (store/blocks.py): a replay from blocks equals the rows' byte for byte, and a block
survives kill -9 whole or not at all."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import msgspec

from hum.core.hum import Hum
from hum.core.petal import Petal, mirrored_petal
from hum.core.wane import WaneTracker
from hum.store.blocks import SCHEMA, block_lines, write_block
from hum.store.repair import check_store
from hum.store.sqlite import SqliteStore
from hum.wire.tones import sigil

HOME = "a" * 64
SID = "blocks"
SG = sigil("local", SID)

# A bloom of every kind of body a replay meets: escapes, non-ASCII, an empty body, a body with a
# key that shadows the head (its line is built by reading it), a finish and an error.
BODIES: list[tuple[str, dict[str, object]]] = [
    ("prompt", {"text": "say \"hi\"\nplease"}),
    *[("chunk", {"chunkType": "text_delta", "delta": f"tok{i} é\u2028\t\\"}) for i in range(40)],
    ("chunk", {}),
    ("chunk", {"delta": "x", "sid": "a body's own sid"}),
    ("finish", {"finishReason": "stop"}),
    ("prompt", {"text": "again"}),
    ("chunk", {"delta": "y"}),
    ("error", {"code": "upstream", "message": "gone"}),
]


def stored_rows(tmp_path: Path, bodies: list[tuple[str, dict[str, object]]] = BODIES, name: str = "rows.db") -> tuple[SqliteStore, list[Petal]]:
    """A home's store that committed each petal alone, as a bloom paced by its upstream does: rows."""
    store = SqliteStore(tmp_path / name)
    hum = Hum(SG, SID, "local", HOME, WaneTracker(), archive=store)
    store.save_hum(hum)
    petals = [hum.append(chi, body) for chi, body in bodies]
    for petal in petals:
        store.append(hum, petal, hum.transcript_key if petal.closes_bloom else None)
        store.flush()
    return store, petals


def test_a_home_commits_a_flat_out_blooms_chunks_as_blocks_and_serves_what_rows_serve(tmp_path: Path) -> None:
    bodies = BODIES + [("prompt", {"text": "long"}), *[("chunk", {"delta": f"w{i} "}) for i in range(700)], ("finish", {})]
    rows, petals = stored_rows(tmp_path, bodies)
    store = SqliteStore(tmp_path / "home.db")
    hum = Hum(SG, SID, "local", HOME, WaneTracker(), archive=store)
    store.save_hum(hum)
    for chi, body in bodies:  # everything in one commit, as a home behind a fast upstream commits
        petal = hum.append(chi, body)
        store.append(hum, petal, hum.transcript_key if petal.closes_bloom else None)
    store.flush()
    with sqlite3.connect(tmp_path / "home.db") as db:
        sizes = [last - first + 1 for first, last in db.execute("SELECT first, last FROM blocks ORDER BY first")]
        chunk_rows = db.execute("SELECT COUNT(*) FROM petals WHERE chi = 'chunk'").fetchone()[0]
    assert sizes == [41, 256, 256, 188] and chunk_rows == 2  # a body with its own "sid" and a stretch of one stay rows
    n = len(petals)
    for after, upto in [(0, n), (40, 300), (299, 301), (600, n), (n - 1, n), (500, n + 10)]:
        assert store.lines(SG, SID, after, upto) == rows.lines(SG, SID, after, upto), (after, upto)
        assert store.petals(SG, after, upto) == rows.petals(SG, after, upto), (after, upto)
    store.close()
    rows.close()
    [home] = SqliteStore(tmp_path / "home.db").load(WaneTracker())
    [row_home] = SqliteStore(tmp_path / "rows.db").load(WaneTracker())
    assert (home.tip, home.bloom_open, home.transcript_key) == (row_home.tip, False, row_home.transcript_key) == (n, False, hum.transcript_key)
    assert check_store(tmp_path / "home.db")["ok"]


def blocks_of(path: Path, petals: list[Petal], frame: int) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(SCHEMA)
    db.execute("BEGIN")
    for start in range(0, len(petals), frame):
        write_block(db, SG, SID, start + 1, [p.line(SID) for p in petals[start : start + frame]])
    db.execute("COMMIT")
    return db


def test_a_replay_from_blocks_equals_the_rows_replay_byte_for_byte(tmp_path: Path) -> None:
    store, petals = stored_rows(tmp_path)
    db = blocks_of(tmp_path / "blocks.db", petals, frame=7)  # frames cut across blooms and odd windows
    n = len(petals)
    for after, upto in [(0, n), (0, 1), (3, 9), (6, 7), (7, 8), (13, n), (n - 1, n), (5, n + 10)]:
        assert block_lines(db, SG, SID, after, upto) == store.lines(SG, SID, after, upto), (after, upto)
    # a tap whose hum's sid is not the one the block was written for reads what the rows give it
    assert block_lines(db, SG, "other", 0, n) == store.lines(SG, "other", 0, n)
    store.close()


def test_a_damaged_line_in_a_block_ends_the_replay_before_it(tmp_path: Path) -> None:
    store, petals = stored_rows(tmp_path)
    db = blocks_of(tmp_path / "blocks.db", petals, frame=10)
    db.execute("""UPDATE blocks SET lines = CAST(replace(CAST(lines AS TEXT), '"tok12', 'tok12') AS BLOB) WHERE first = 11""")
    assert block_lines(db, SG, SID, 0, len(petals)) == store.lines(SG, SID, 0, 13)  # wane 14 holds tok12
    store.close()


def mirrored_store(path: Path, petals: list[Petal], frame: int) -> tuple[SqliteStore, Hum]:
    """A replica's store fed the home's petals in `petals` frames of `frame`, as `Replicas.mirror` does."""
    store = SqliteStore(path)
    replica = Hum(SG, SID, "local", HOME, WaneTracker(), archive=store)
    store.save_hum(replica)
    for start in range(0, len(petals), frame):
        run: list[tuple[Petal, bytes | None]] = []
        for home_petal in petals[start : start + frame]:
            petal = mirrored_petal(SG, msgspec.Raw(home_petal.line(SID)[:-1]))
            assert replica.receive(petal)
            run.append((petal, replica.transcript_key if petal.closes_bloom else None))
        store.append_run(replica, run)
    store.flush()
    return store, replica


def test_a_replica_keeps_its_frames_chunks_as_blocks_and_serves_what_the_rows_serve(tmp_path: Path) -> None:
    rows, petals = stored_rows(tmp_path)
    replica, _ = mirrored_store(tmp_path / "replica.db", petals, frame=9)  # frames of 9, one commit
    n = len(petals)
    with sqlite3.connect(tmp_path / "replica.db") as db:  # the frames' 42 chunks in a row, one block; the lone one a row
        assert db.execute("SELECT first, last FROM blocks").fetchall() == [(2, 43)]
        assert db.execute("SELECT wane FROM petals WHERE chi = 'chunk'").fetchall() == [(n - 1,)]
    for after, upto in [(0, n), (3, 9), (8, 10), (13, n), (n - 1, n)]:
        assert replica.lines(SG, SID, after, upto) == rows.lines(SG, SID, after, upto), (after, upto)
        # the petals the replica received (a body's own `sid` never crosses a link: the line's head is the petal's)
        assert replica.petals(SG, after, upto) == [mirrored_petal(SG, msgspec.Raw(line[:-1])) for line in rows.lines(SG, SID, after, upto)]
    replica.close()
    rows.close()
    again, mine = SqliteStore(tmp_path / "replica.db"), SqliteStore(tmp_path / "rows.db")
    [loaded] = again.load(WaneTracker())
    [home] = mine.load(WaneTracker())
    assert (loaded.tip, loaded.bloom_open, loaded.transcript_key) == (home.tip, home.bloom_open, home.transcript_key) == (n, False, home.transcript_key)
    assert check_store(tmp_path / "replica.db")["ok"]


def test_a_damaged_chunk_in_a_block_is_served_up_to_it_and_repaired_alone(tmp_path: Path) -> None:
    rows, petals = stored_rows(tmp_path)
    replica, hum = mirrored_store(tmp_path / "replica.db", petals, frame=20)
    with sqlite3.connect(tmp_path / "replica.db") as db:
        db.execute("""UPDATE blocks SET lines = CAST(replace(CAST(lines AS TEXT), '"tok12', 'tok12') AS BLOB)""")
    assert replica.lines(SG, SID, 0, len(petals)) == rows.lines(SG, SID, 0, 13)  # wane 14 holds tok12
    report = check_store(tmp_path / "replica.db")
    assert [(p["problem"], p["detail"]) for p in report["problems"]] == [("unreadable-petal", "petal 14 does not read")]
    replica.repair(hum, petals[13])  # a sibling's copy, as the node's Repairs fetches it
    replica.flush()
    assert replica.lines(SG, SID, 0, len(petals)) == rows.lines(SG, SID, 0, len(petals))
    replica.close()
    rows.close()


def test_an_orphaned_branch_cuts_a_block_and_a_forget_drops_them_all(tmp_path: Path) -> None:
    rows, petals = stored_rows(tmp_path)
    replica, hum = mirrored_store(tmp_path / "replica.db", petals, frame=20)
    replica.orphan(hum, 30, epoch=1)
    replica.flush()
    assert replica.lines(SG, SID, 0, len(petals)) == rows.lines(SG, SID, 0, 30)
    assert [(o["wane"], o.get("delta")) for o in replica.orphans(SG)][:2] == [(31, "tok29 é\u2028\t\\"), (32, "tok30 é\u2028\t\\")]
    replica.forget(hum)
    replica.flush()
    with sqlite3.connect(tmp_path / "replica.db") as db:
        assert db.execute("SELECT COUNT(*) FROM blocks").fetchone()[0] == 0
    replica.close()
    rows.close()


# A writer that commits blocks of 64 lines, two blocks a transaction, and says each commit.
_WRITER = textwrap.dedent(
    """
    import sqlite3, sys
    from hum.store.blocks import SCHEMA, write_block
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    first = 1
    while True:
        db.execute("BEGIN")
        for _ in range(2):
            line = b'{"chi":"chunk","sigil":"%s","sid":"%s","wane":%%d,"delta":"%s"}\\n'
            write_block(db, sys.argv[2], sys.argv[3], first, [line %% w for w in range(first, first + 64)])
            first += 64
        db.execute("COMMIT")
        print(first - 1, flush=True)
    """
)


def test_a_block_survives_kill_9_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    writer = _WRITER % (SG, SID, "x" * 200)
    child = subprocess.Popen([sys.executable, "-c", writer, str(path), SG, SID], stdout=subprocess.PIPE)
    assert child.stdout is not None
    deadline = time.monotonic() + 30
    committed = 0
    while committed < 4_000 and time.monotonic() < deadline:  # killed while it writes, mid-transaction
        said = child.stdout.readline()
        assert said, "the writer ended by itself"
        committed = int(said)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert committed >= 4_000
    db = sqlite3.connect(path)
    (tip,) = db.execute("SELECT MAX(last) FROM blocks WHERE sigil = ?", (SG,)).fetchone()
    lines = block_lines(db, SG, SID, 0, tip)
    assert tip >= committed  # every commit it said is there
    assert len(lines) == tip  # and every block there reads whole: no torn block, no gap
    assert lines[-1].startswith(b'{"chi":"chunk","sigil":"%s","sid":"%s","wane":%d,' % (SG.encode(), SID.encode(), tip))
    assert tip % 64 == 0
