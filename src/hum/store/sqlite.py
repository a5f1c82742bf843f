"""Durable hums: SQLite in WAL mode, petals committed in small batches.

A petal reaches any tap only after its commit (see `Hum.durable_tip`), so a
SIGKILL never takes back a petal somebody has seen. WAL with
`synchronous=NORMAL` makes a commit durable against process death (the OS
holds the WAL pages) without an fsync per petal; power loss may lose the last
few commits, which no tap has been promised beyond what the OS kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from hum.core.hum import Hum
from hum.core.petal import Petal
from hum.core.wane import WaneTracker

log = logging.getLogger(__name__)

# Petals are conversations: only the owner reads them. SQLite gives its -wal
# and -shm files the database file's mode, so creating the file 0600 covers all three.
STORE_MODE = 0o600

# Under a flood, coalesce petals into one commit per interval; never hold a
# petal back longer than a frame of a chat UI, so streaming still looks live.
COMMIT_INTERVAL = 0.005

SCHEMA = """
CREATE TABLE IF NOT EXISTS hums (
    sigil TEXT PRIMARY KEY,
    sid   TEXT NOT NULL,
    nest  TEXT NOT NULL,
    home  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS petals (
    sigil TEXT NOT NULL REFERENCES hums(sigil),
    wane  INTEGER NOT NULL,
    chi   TEXT NOT NULL,
    body  TEXT NOT NULL,
    PRIMARY KEY (sigil, wane)
) WITHOUT ROWID;
"""


class StoreError(Exception):
    """The store cannot be opened or written; the message names the file."""


class SqliteStore:
    """Hums and their petals in one SQLite file; commits batched, durability reported back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if str(path) != ":memory:":
                os.close(os.open(path, os.O_RDWR | os.O_CREAT, STORE_MODE))
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the hum store {path}: {exc}") from exc
        self._pending: list[tuple[Hum, Petal]] = []
        self._hums: list[Hum] = []
        self._wake = asyncio.Event()
        self.on_durable: Callable[[Hum, int], None] = lambda hum, wane: None

    def load(self, tracker: WaneTracker) -> list[Hum]:
        """Every stored hum with its petals, the tracker set to each tip."""
        try:
            return self._load(tracker)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the hum store {self.path}: {exc}") from exc

    def _load(self, tracker: WaneTracker) -> list[Hum]:
        hums = []
        for sigil, sid, nest, home in self._db.execute("SELECT sigil, sid, nest, home FROM hums ORDER BY sigil"):
            rows = self._db.execute("SELECT wane, chi, body FROM petals WHERE sigil = ? ORDER BY wane", (sigil,))
            petals = []
            for wane, chi, body in rows:
                try:
                    if wane != len(petals) + 1:
                        raise ValueError(f"a gap before wane {wane}")
                    petals.append(Petal(sigil, wane, chi, json.loads(body)))
                except ValueError as exc:
                    # serve the intact prefix; the rows stay on disk for whoever investigates
                    log.error("store: hum %s: %s; keeping the first %d petals", sigil, exc, len(petals))
                    break
            hum = Hum(sigil, sid, nest, home, tracker, petals)
            hum.home_tip = hum.tip
            hums.append(hum)
        return hums

    def save_hum(self, hum: Hum) -> None:
        self._db.execute(
            "INSERT INTO hums (sigil, sid, nest, home) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(sigil) DO UPDATE SET sid = excluded.sid WHERE hums.sid = ''",
            (hum.sigil, hum.sid, hum.nest, hum.home),
        )

    def append(self, hum: Hum, petal: Petal) -> None:
        self._pending.append((hum, petal))
        self._wake.set()

    async def flush(self) -> None:
        """Commit everything appended so far and report it durable."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO petals (sigil, wane, chi, body) VALUES (?, ?, ?, ?)",
                [(p.sigil, p.wane, p.chi, json.dumps(p.body, separators=(",", ":"))) for _, p in batch],
            )
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK") if self._db.in_transaction else None
            self._pending[:0] = batch  # nothing was promised; try again next round
            raise
        tips: dict[str, tuple[Hum, int]] = {}
        for hum, petal in batch:
            tips[hum.sigil] = (hum, max(petal.wane, tips.get(hum.sigil, (hum, 0))[1]))
        for hum, wane in tips.values():
            self.on_durable(hum, wane)

    async def run(self) -> None:
        """The committer: at once when quiet, at most one commit per COMMIT_INTERVAL when busy."""
        loop = asyncio.get_running_loop()
        last = -COMMIT_INTERVAL
        while True:
            await self._wake.wait()
            self._wake.clear()
            # a lone petal is committed right away; a flood shares a commit
            await asyncio.sleep(max(0.0, last + COMMIT_INTERVAL - loop.time()))
            last = loop.time()
            try:
                await self.flush()
            except sqlite3.Error as exc:
                log.error("store: commit failed, will retry: %s", exc)

    def close(self) -> None:
        self._db.close()
