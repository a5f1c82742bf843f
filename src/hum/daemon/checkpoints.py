"""The store's WAL copied into its database by a thread of its own, never inside a commit.

SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: it
copies them into the database file and fsyncs it, in the committing thread.
humd commits on its event loop, so every such commit (one in about fifty
`/v1` requests) held every request behind it for 2 to 40 ms, more once many
hums minted since start had spread the pages it writes: the first token's p99.
Here a worker thread with its own connection checkpoints instead, past the same
1,000 pages, PASSIVE (it never waits for the writer, nor the writer for it); the
event loop only writes the WAL, as it always did between checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

from hum.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

# How often the WAL is looked at: a busy humd writes SQLite's 1,000 pages in well under a
# second, so the WAL holds about a second of commits past them; at most one fsync a second,
# off the event loop.
CHECKPOINT_SECONDS = 1.0
# SQLite's own threshold, kept: a WAL file smaller than this many pages is left to grow (as
# auto-checkpoint would), so a quiet humd writes and fsyncs no more than it did.
CHECKPOINT_PAGES = 1000


class Checkpointer:
    """Checkpoints `store`'s WAL every `every` seconds in which something was committed."""

    def __init__(self, store: SqliteStore, every: float = CHECKPOINT_SECONDS, pages: int = CHECKPOINT_PAGES) -> None:
        self.store = store
        self.every = every
        self.pages = pages
        self._wal = Path(f"{store.path}-wal")
        self._wal_bytes = 0  # the WAL's size past which it is checkpointed (pages, in bytes)
        self.checkpoints = 0  # that copied something, for tests and status
        self._db: sqlite3.Connection | None = None
        self._seen_version: int | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing: str | None = None  # the error the last checkpoint failed with

    def start(self) -> None:
        self._db = sqlite3.connect(self.store.path, isolation_level=None, check_same_thread=False)
        self._wal_bytes = self.pages * self._db.execute("PRAGMA page_size").fetchone()[0]
        self.store.checkpoint_elsewhere()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """The checkpoint under way (if any) ends, then the connection closes; the store's own close
        checkpoints what is left, as the last connection to the database."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._db is not None:
            self._db.close()
            self._db = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.every)
                return
            try:
                await asyncio.to_thread(self.checkpoint)
            except sqlite3.Error as exc:  # the commit path reports the disk's faults; this one only retries
                if str(exc) != self._failing:  # said once, not every second while the disk is full
                    log.warning("store: checkpoint failed, retried every %.0f s: %s", self.every, exc)
                self._failing = str(exc)
            else:
                self._failing = None

    def checkpoint(self) -> None:
        """Copy what was committed since the last checkpoint into the database, once the WAL has
        grown past `pages` (nothing if nothing was committed since)."""
        assert self._db is not None
        with contextlib.suppress(FileNotFoundError):
            if self._wal.stat().st_size < self._wal_bytes:
                return
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._seen_version:
            return
        self._seen_version = version
        _, _, copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if copied > 0:
            self.checkpoints += 1
