"""Durable hums: SQLite in WAL mode, petals (and queued prompts) committed in batches.

A petal reaches any tap only after its commit (see `Hum.durable_tip`), so a
SIGKILL never takes back a petal somebody has seen. WAL with
`synchronous=NORMAL` makes a commit durable against process death (the OS
holds the WAL pages) without an fsync per petal; power loss may lose the last
few commits, which no tap has been promised beyond what the OS kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from hum.core.bloom import EMPTY_TRANSCRIPT
from hum.core.hum import Hum, Stored
from hum.core.petal import Petal
from hum.core.wane import WaneTracker
from hum.errors import StoreError
from hum.interfaces import Commit
from hum.store.aside import AsideBook, is_damage
from hum.store.batch import committed, in_runs
from hum.store.blocks import SCHEMA as BLOCKS
from hum.store.blocks import (
    block_tip,
    explode,
    lines_for,
    merged,
    petals_of,
    write_run,
)
from hum.store.check import DamagedHum, hum_rows, readable_hum_row
from hum.store.replay import stored_lines
from hum.store.rows import PetalRows
from hum.store.upgrade import ORPHANS, upgrade
from hum.wire.framing import from_json, to_json

log = logging.getLogger(__name__)


# Petals are conversations: only the owner reads them. SQLite gives its -wal
# and -shm files the database file's mode, so creating the file 0600 covers all three.
STORE_MODE = 0o600

# Tombstones a home keeps: each is told to every peer at link-up (500 a `hums` part, ~40 bytes
# each), so ten thousand cost a device ~400 KB once per link; a device away for more forgets
# than that keeps its copies of the oldest (it never loses a hum it should keep).
TOMBSTONES_KEPT = 10_000

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
    transcript BLOB,  -- on a petal that closes a bloom: the hum's transcript key from then on
    PRIMARY KEY (sigil, wane)
) WITHOUT ROWID;
-- the turns of a hum (prompts and what closes blooms), so a restart finds its
-- last bloom without reading its chunks; partial, so a chunk costs no index write
CREATE INDEX IF NOT EXISTS petal_turns ON petals (sigil, wane) WHERE chi IN ('prompt', 'finish', 'error');
-- hums forgotten at their home here (sigil, incarnation): told to every peer at link-up, so a
-- device that was away drops its copy; the newest TOMBSTONES_KEPT are kept
CREATE TABLE IF NOT EXISTS tombstones (
    sigil TEXT NOT NULL,
    born  INTEGER NOT NULL,
    at    INTEGER NOT NULL,
    PRIMARY KEY (sigil, born)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queued (
    sigil TEXT NOT NULL REFERENCES hums(sigil),
    seq   INTEGER NOT NULL,
    body  TEXT NOT NULL,
    PRIMARY KEY (sigil, seq)
) WITHOUT ROWID;
""" + ORPHANS + BLOCKS  # orphaned branches (store/upgrade.py); runs of chunks, one row a block (store/blocks.py)

# A hum's stored petals in wane order, each with whether its body is a JSON
# object (checked by SQLite in C; `json_type` only once `json_valid` said yes).
_READ_PETALS = (
    "SELECT wane, chi, body, CASE WHEN json_valid(body) THEN json_type(body) = 'object' ELSE 0 END "
    "FROM petals WHERE sigil = ? AND wane > ? AND wane <= ? ORDER BY wane"
)

# SQLite's own ceiling on a database's pages (the default of max_page_count).
UNLIMITED_PAGES = 4294967294

# The SQLite result codes that mean "no space left" (SQLITE_FULL) rather than a broken disk.
_FULL_CODES = {13}


def fault_of(exc: sqlite3.Error) -> StoreError:
    """A failed commit as a `StoreError`: `disk-full` when there is no room, else `io-error`."""
    full = getattr(exc, "sqlite_errorcode", None) in _FULL_CODES or "full" in str(exc).lower()
    return StoreError("disk-full" if full else "io-error", f"cannot write the hum store: {exc}")


class SqliteStore:
    """Hums, their petals and their queued prompts in one SQLite file; durability reported back.

    Every change waits in `_pending`, in order, until a commit; nothing is
    reported durable before its commit returned. A failed commit keeps the
    batch, says so through `on_fault` and is retried with backoff, so delivery
    resumes by itself when the disk has room again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.damaged: list[DamagedHum] = []  # hums set aside (at load, or since: store/aside.py): their rows do not read
        self.aside = AsideBook(self.damaged)
        self.aside.opens(path)  # a file whose schema does not read is moved aside: humd starts on a new one
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if str(path) != ":memory:":
                os.close(os.open(path, os.O_RDWR | os.O_CREAT, STORE_MODE))
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            upgrade(self._db)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError("cannot-open", f"cannot open the hum store {path}: {exc}") from exc
        self._pending: list[tuple[str, Hum, Any]] = []  # ("hum"|"petal"|"petals"|"queue"|"dequeue"|"orphan"|"forget", hum, what)
        self._wake = asyncio.Event()

    def load(self, tracker: WaneTracker) -> list[Hum]:
        """Every stored hum, its tracker set to its tip; petals stay on disk until read (`petals`)."""
        try:
            with self.aside.whole_or_nothing():  # a hum whose log meets a damaged page at load is set aside whole
                return self._load(tracker)
        except sqlite3.Error as exc:
            raise StoreError("cannot-read", f"cannot read the hum store {self.path}: {exc}") from exc

    def _load(self, tracker: WaneTracker) -> list[Hum]:
        hums = []
        queued: dict[str, list[tuple[int, Any]]] = {}
        for sigil, seq, body in self.aside.table(self._db, "SELECT sigil, seq, body FROM queued", "queued prompts"):
            queued.setdefault(sigil, []).append((seq, from_json(body)))
        for row in hum_rows(self._db, self.damaged):
            try:  # a damaged row is set aside (store/check.py), never the end of the whole device
                sigil, sid, nest, home, epoch, fork, born = readable_hum_row(row)
                stored = self._stored(sigil)
                # thousands of hums share a few homes and nests: one string each, not one a hum
                home, nest = sys.intern(home), sys.intern(nest)
                hum = Hum(sigil, sid, nest, home, tracker, queued=queued.get(sigil, ()), archive=self, stored=stored)
            except (ValueError, TypeError, sqlite3.DatabaseError) as exc:  # (and its open bloom's replay)
                self.damaged.append(DamagedHum(str(row[0]), str(exc)))
                log.error("store: hum %s does not read (%s); it is set aside, every other hum is served", row[0], exc)
                continue
            hum.home_tip = hum.tip
            hum.epoch, hum.fork, hum.born = epoch, fork, born
            hums.append(hum)
        priors = "SELECT sigil, prior_epoch, prior_home FROM hums WHERE prior_home IS NOT NULL"
        adopted = {sg: (e, h) for sg, e, h in self.aside.table(self._db, priors, "adoptions") if isinstance(e, int) and isinstance(h, str)}
        for hum in hums:
            hum.prior = adopted.get(hum.sigil)
        return hums

    def _stored(self, sigil: str) -> Stored:
        """Where the hum's stored log ends, where its last bloom starts, whether it is open, its transcript key.

        A few index lookups however long the log, so start-up grows with the
        number of hums, not of petals. A damaged log (a gap, a row that does
        not read) is found when someone reads that far (`petals`), not here.
        """
        (last,) = self._db.execute("SELECT COALESCE(MAX(wane), 0) FROM petals WHERE sigil = ?", (sigil,)).fetchone()
        last = max(last, block_tip(self._db, sigil))
        turns = "sigil = ? AND wane <= ? AND chi IN ('prompt', 'finish', 'error')"  # the partial index's rows
        (last_prompt,) = self._db.execute(f"SELECT COALESCE(MAX(wane), 0) FROM petals WHERE {turns} AND chi = 'prompt'", (sigil, last)).fetchone()
        close = self._db.execute(
            f"SELECT wane, transcript FROM petals WHERE {turns} AND chi != 'prompt' ORDER BY wane DESC LIMIT 1", (sigil, last)
        ).fetchone()
        closed_at, key = close if close is not None else (0, EMPTY_TRANSCRIPT)
        if key is None:  # closed before transcript keys were stored: computed from the log once, and kept
            # the hum's own reckoning, replayed over its log in memory: one way to compute a key
            key = Hum(sigil, "", "", "", WaneTracker(), self.petals(sigil, 0, closed_at)).transcript_key
            self._db.execute("UPDATE petals SET transcript = ? WHERE sigil = ? AND wane = ?", (key, sigil, closed_at))
        return Stored(tip=last, last_prompt=last_prompt, bloom_open=last_prompt > closed_at, transcript_key=bytes(key))

    def petals(self, sigil: str, after: int, upto: int) -> list[Petal]:
        """Stored petals of `sigil` with `after < wane <= upto`, in wane order (`PetalArchive`), from
        its blocks and rows (store/blocks.py). A missing petal or one that no longer reads (a damaged
        store) ends the answer there: the intact part is served, and the rows stay on disk for
        whoever investigates."""
        return merged(self._reads(sigil), sigil, after, upto, lambda a, u: self._row_petals(sigil, a, u), petals_of(sigil))

    def _reads(self, sigil: str) -> Any:
        return lambda query, params: self.aside.rows(self._db, query, params, sigil)

    def _row_petals(self, sigil: str, after: int, upto: int) -> list[Petal]:
        out = []
        for wane, chi, body, valid in self.aside.rows(self._db, _READ_PETALS, (sigil, after, upto), sigil):
            try:
                if wane != after + len(out) + 1:
                    raise ValueError(f"a gap before wane {wane}")
                if not valid:  # checked in C; the body itself is read when somebody asks for it
                    raise ValueError("its body is not a JSON object")
                out.append(Petal.stored(sigil, wane, chi, body))
            except ValueError as exc:
                log.error("store: hum %s: petal %d does not read (%s); serving the %d before it", sigil, wane, exc, len(out))
                break
        return out

    def lines(self, sigil: str, sid: str, after: int, upto: int) -> list[bytes]:
        """The tap lines of stored petals `after < wane <= upto` (`PetalArchive`), built by SQLite
        around the stored body JSON (store/replay.py); a missing or damaged row ends the answer, as in `petals`."""
        read = self._reads(sigil)
        return merged(read, sigil, after, upto, lambda a, u: stored_lines(read, sigil, sid, a, u), lines_for(sigil, sid))

    def save_hum(self, hum: Hum, touched: int | None = None) -> None:
        """Record the hum's row; `touched` (wall ms) is when somebody last prompted or attached it."""
        self._add("hum", hum, touched)

    def forget(self, hum: Hum, tombstone: int | None = None) -> None:
        """Remove the hum: its petals, queued prompts, orphaned branches and its row, in one commit;
        with `tombstone` (wall ms), the home keeps (sigil, incarnation) to tell devices that were away."""
        self._add("forget", hum, tombstone)

    def tombstones(self) -> list[tuple[str, int]]:
        """The hums forgotten at their home here, as (sigil, born), oldest first."""
        try:
            return [(s, b) for s, b in self.aside.table(self._db, "SELECT sigil, born FROM tombstones ORDER BY at, sigil", "tombstones")]
        except sqlite3.Error as exc:
            raise StoreError("cannot-read", f"cannot read the hum store {self.path}: {exc}") from exc

    def touched(self) -> dict[str, int]:
        """When each stored hum was last prompted or attached (wall ms); hums never touched since the column came are left out."""
        try:
            return dict(self.aside.table(self._db, "SELECT sigil, touched FROM hums WHERE touched IS NOT NULL", "times hums were touched"))
        except sqlite3.Error as exc:
            raise StoreError("cannot-read", f"cannot read the hum store {self.path}: {exc}") from exc

    def append(self, hum: Hum, petal: Petal, transcript: bytes | None = None) -> None:
        """Store `petal`; `transcript` is the hum's transcript key when the petal closes a bloom."""
        self._add("petal", hum, (petal, transcript))

    def append_run(self, hum: Hum, run: list[tuple[Petal, bytes | None]]) -> None:
        """Store a replica's frame of petals (in wane order, each with its transcript key when it closes
        a bloom) as one change: one entry to commit, its rows written as one run."""
        self._add("petals", hum, run)

    def queue_prompt(self, hum: Hum, seq: int, body: dict[str, Any]) -> None:
        """A prompt waiting behind the open bloom: kept across a restart until it is appended."""
        self._add("queue", hum, (seq, body))

    def orphan(self, hum: Hum, keep: int, epoch: int, born: int | None = None) -> None:
        """Petals after wane `keep` are a branch the hum's home never had: kept aside, never served,
        under the epoch and the incarnation (`born`, the hum's now if not given) it was appended in."""
        self._add("orphan", hum, (keep, epoch, hum.born if born is None else born))

    def repair(self, hum: Hum, petal: Petal) -> None:
        """Write `petal`'s row again (the stored one did not read: a sibling's copy came back)."""
        self._add("repair", hum, petal)

    def orphans(self, sigil: str) -> list[dict[str, Any]]:
        """The orphaned branches of hum `sigil`: each petal with the incarnation and epoch its branch was appended in."""
        rows = self._db.execute("SELECT born, epoch, wane, chi, body FROM orphans WHERE sigil = ? ORDER BY born, epoch, wane", (sigil,))
        out = []
        for born, e, w, c, b in rows:
            try:
                out.append({**from_json(b), "born": born, "epoch": e, "wane": w, "chi": c})
            except (ValueError, TypeError):  # a damaged row set aside with its branch: the rest still read
                log.error("store: hum %s: orphaned petal %d (epoch %d) does not read", sigil, w, e)
        return out

    def dequeue_prompt(self, hum: Hum, seq: int) -> None:
        """Queued prompt `seq` became a petal (in the same commit as that petal)."""
        self._add("dequeue", hum, seq)

    def _add(self, kind: str, hum: Hum, what: Any) -> None:
        self._pending.append((kind, hum, what))
        self._wake.set()

    def has_pending(self) -> bool:
        return bool(self._pending)

    async def wait_pending(self) -> None:
        """Return once something waits to be committed."""
        while not self._pending:
            self._wake.clear()
            await self._wake.wait()

    def flush(self) -> Commit:
        """Commit everything pending and hand back what became durable; raises `StoreError` (the batch is kept)."""
        if not self._pending:
            return Commit([], [])
        batch, self._pending = self.aside.writable(self._pending), []  # a hum set aside by a commit: never again
        try:
            self._db.execute("BEGIN")
            self._write(batch)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if is_damage(exc):  # a damaged page: every hum but the one it belongs to goes in (store/aside.py)
                batch, left = self.aside.commit_each(self._db, batch, self._write)
                self._pending[:0] = left
                return committed(batch)
            self._pending[:0] = batch  # nothing was promised; the whole batch goes again
            raise fault_of(exc) from exc
        return committed(batch)

    def _write(self, batch: list[tuple[str, Hum, Any]]) -> None:
        """Every change of `batch`, in order, inside the open transaction: each hum's run of petals
        (a home's chunks, a replica's frames) as blocks and multi-row INSERTs (store/blocks.py)."""
        rows = PetalRows(self._db)
        for kind, hum, what in in_runs(batch):
            if kind == "petals":
                write_run(self._db, rows, hum.sigil, hum.sid, what)
            else:
                rows.flush()
                self._write_change(kind, hum, what)
        rows.flush()

    def _write_change(self, kind: str, hum: Hum, what: Any) -> None:
        """One change that is not a petal: a hum's row, a forget, an orphaned branch, a queued prompt."""
        if kind == "hum":
            prior_epoch, prior_home = hum.prior if hum.prior is not None else (None, None)
            self._db.execute(
                "INSERT INTO hums (sigil, sid, nest, home, epoch, fork, touched, born, prior_epoch, prior_home) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(sigil) DO UPDATE SET sid = CASE WHEN hums.sid = '' THEN excluded.sid ELSE hums.sid END, "
                "home = excluded.home, epoch = excluded.epoch, fork = excluded.fork, born = excluded.born, "
                "prior_epoch = excluded.prior_epoch, prior_home = excluded.prior_home, touched = COALESCE(excluded.touched, hums.touched)",
                (hum.sigil, hum.sid, hum.nest, hum.home, hum.epoch, hum.fork, what, hum.born, prior_epoch, prior_home),
            )
        elif kind == "forget":
            for table in ("petals", "blocks", "queued", "orphans", "hums"):
                self._db.execute(f"DELETE FROM {table} WHERE sigil = ?", (hum.sigil,))
            if what is not None:
                self._tombstone(hum, what)
        elif kind == "orphan":
            keep, epoch, born = what
            explode(self._db, hum.sigil, keep + 1)  # the branch's chunks as rows, moved below
            self._db.execute(
                "INSERT OR IGNORE INTO orphans (sigil, born, epoch, wane, chi, body) "
                "SELECT sigil, ?, ?, wane, chi, body FROM petals WHERE sigil = ? AND wane > ?",
                (born, epoch, hum.sigil, keep),
            )
            self._db.execute("DELETE FROM petals WHERE sigil = ? AND wane > ?", (hum.sigil, keep))
        elif kind == "repair":
            # transcript NULL: a closing petal's key is computed again from the log at the next load
            explode(self._db, what.sigil, what.wane, what.wane)  # the petal's block, if it is in one, as rows
            self._db.execute(
                "INSERT OR REPLACE INTO petals (sigil, wane, chi, body, transcript) VALUES (?, ?, ?, ?, NULL)",
                (what.sigil, what.wane, what.chi, what.body_json),
            )
        elif kind == "queue":
            self._db.execute(
                "INSERT OR REPLACE INTO queued (sigil, seq, body) VALUES (?, ?, ?)", (hum.sigil, what[0], to_json(what[1]))
            )
        else:
            self._db.execute("DELETE FROM queued WHERE sigil = ? AND seq = ?", (hum.sigil, what))

    def _tombstone(self, hum: Hum, at: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO tombstones (sigil, born, at) VALUES (?, ?, ?)", (hum.sigil, hum.born, at))
        self._db.execute(
            "DELETE FROM tombstones WHERE (sigil, born) IN (SELECT sigil, born FROM tombstones ORDER BY at DESC LIMIT -1 OFFSET ?)",
            (TOMBSTONES_KEPT,),
        )

    def hold_size(self, held: bool = True) -> None:
        """Hold the store at its present size: growing it then fails with SQLite's own "database or
        disk is full", as on a full disk (chaos schedules use it); `False` lets it grow again."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0] if held else UNLIMITED_PAGES
        self._db.execute(f"PRAGMA max_page_count = {int(pages)}")

    def checkpoint_elsewhere(self) -> None:
        """Commits stop copying the WAL into the database (SQLite's auto-checkpoint, an fsync in the
        committing thread); the caller checkpoints from its own connection (`hum.daemon.checkpoints`)."""
        self._db.execute("PRAGMA wal_autocheckpoint=0")

    def close(self) -> None:
        self._db.close()

