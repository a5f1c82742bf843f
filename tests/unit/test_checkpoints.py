"""The store's WAL is copied into its database by the checkpointer's thread, never inside a commit.

A real SQLite store in WAL mode on disk; the checkpointer runs on a real event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from hum.core.hum import Hum
from hum.core.wane import WaneTracker
from hum.daemon.checkpoints import Checkpointer
from hum.store.sqlite import SqliteStore
from hum.wire.tones import sigil

# Well past SQLite's auto-checkpoint (1,000 pages): a commit that crossed it used to copy them itself.
HUMS = 600
ANSWER = "x" * 4000  # about a page a petal


def write_hums(store: SqliteStore, first: int, count: int) -> None:
    tracker = WaneTracker()
    for i in range(first, first + count):
        hum = Hum(sigil("local", f"s{i}"), f"s{i}", "local", "me", tracker)
        store.save_hum(hum)
        store.append(hum, hum.append("prompt", {"text": f"question {i}", "from": "test"}))
        store.append(hum, hum.append("chunk", {"delta": ANSWER, "chunkType": "text_delta", "blockIdx": 0}))
        store.flush()  # one commit a hum, as stateless requests make them


def stored_hums(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM hums").fetchone()[0]


async def test_commits_leave_the_wal_to_the_checkpointer_which_copies_it_off_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "hums.db"
    store = SqliteStore(path)
    checkpointer = Checkpointer(store, every=3600.0)  # checkpoints only when the test asks
    checkpointer.start()
    try:
        write_hums(store, 0, HUMS)
        wal = Path(f"{path}-wal")
        grown = wal.stat().st_size
        # no commit checkpointed: every page written since the start is still in the WAL
        assert grown > 2 * 1000 * 4096  # twice what SQLite lets a WAL reach before a commit checkpoints it
        assert checkpointer.checkpoints == 0

        await asyncio.to_thread(checkpointer.checkpoint)
        assert checkpointer.checkpoints == 1
        await asyncio.to_thread(checkpointer.checkpoint)  # nothing committed since: nothing to copy
        assert checkpointer.checkpoints == 1

        # the WAL is reused from its start once copied: more commits do not grow it
        write_hums(store, HUMS, HUMS // 4)
        assert wal.stat().st_size == grown
    finally:
        await checkpointer.stop()
        store.close()
    assert stored_hums(path) == HUMS + HUMS // 4


async def test_the_checkpointer_runs_by_itself_and_stops_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "hums.db"
    store = SqliteStore(path)
    checkpointer = Checkpointer(store, every=0.05, pages=1)  # any WAL at all is worth copying here
    checkpointer.start()
    try:
        write_hums(store, 0, 50)
        async with asyncio.timeout(10):
            while checkpointer.checkpoints == 0:
                await asyncio.sleep(0.05)  # its own period: the event the test waits for is its checkpoint
        write_hums(store, 50, 50)  # commits go on while it runs
    finally:
        await checkpointer.stop()
        store.close()
    assert stored_hums(path) == 100
