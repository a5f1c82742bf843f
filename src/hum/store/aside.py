"""Hums set aside while humd runs: a page of the store that no longer reads takes down one hum, not the device.

SQLite answers "database disk image is malformed" (SQLITE_CORRUPT) when a read
or a write meets a damaged page. `AsideBook` turns that into one hum set aside:
named in `SqliteStore.damaged` (which `hum status` shows) and in the log, once;
what could be read before the damage is served, and a tap reading further hears
`cannot-read`. A commit that meets the damage is tried again hum by hum
(`commit_each`): every other hum's changes go in, and the damaged hum's are
kept out of commits from then on, so the committer neither stops nor loops on
it. `hum store repair` (humd stopped) copies every row that still reads into a
fresh file; a sibling's copy fills the rest at the next start (node/repairs.py).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from hum.store.check import DamagedHum

log = logging.getLogger(__name__)

# SQLite's result codes for a page that does not read: SQLITE_CORRUPT (11) and SQLITE_NOTADB (26)
# (their extended codes, SQLITE_CORRUPT_INDEX and the like, keep them in the low byte).
_DAMAGE_CODES = {11, 26}

# One change waiting for a commit, as SqliteStore keeps it: (kind, hum, what).
Change = tuple[str, Any, Any]


def is_aside(archive: object, sigil: str) -> bool:
    """True when `archive` (a store) set hum `sigil` aside: a page of its petals does not read."""
    book = getattr(archive, "aside", None)
    return isinstance(book, AsideBook) and book.holds(sigil)


def aside_hums(archive: object) -> list[str]:
    """The hums `archive` (a store) set aside, in the order it did (at load first)."""
    book = getattr(archive, "aside", None)
    return [d.sigil for d in book.damaged if d.kind == "hum"] if isinstance(book, AsideBook) else []


# The first bytes of every SQLite database file: a file without them was never a store.
SQLITE_HEADER = b"SQLite format 3\x00"


def is_damage(exc: sqlite3.Error) -> bool:
    """True when `exc` says a page of the file is damaged (rather than a full disk or a busy lock)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (isinstance(code, int) and code & 0xFF in _DAMAGE_CODES) or "malformed" in str(exc).lower()


class AsideBook:
    """The hums this store set aside (at load or since), and the ones whose changes cannot be written."""

    def __init__(self, damaged: list[DamagedHum]) -> None:
        self.damaged = damaged  # the store's own list: `hum status` shows it
        self.unwritable: set[str] = set()  # hums a commit met the damage for: kept out of commits
        self._strict = False  # reads raise instead of serving half a log (at load: the hum is set aside whole)

    @contextmanager
    def whole_or_nothing(self) -> Iterator[None]:
        """While loading: a read that meets a damaged page raises, so the store sets the hum aside
        whole rather than reckon its transcript key or open bloom from half its log."""
        self._strict = True
        try:
            yield
        finally:
            self._strict = False

    def set_aside(self, sigil: str, exc: sqlite3.Error, what: str) -> None:
        """Hum `sigil` meets a damaged page (`what`: a read, a commit): named in status and the log, once."""
        if self.holds(sigil):
            return
        self.damaged.append(DamagedHum(sigil, f"a page of its petals does not read ({what}): {exc}"))
        log.error(
            "store: hum %s is set aside: a page of its petals does not read (%s: %s); every other hum is served; "
            "stop humd and run `hum store repair`",
            sigil, what, exc,
        )

    def opens(self, path: Path) -> None:
        """Before the store opens: a file whose schema does not read (its first page is damaged) is
        moved aside, with its -wal and -shm, and humd starts on a new one; named in status and the log."""
        if str(path) == ":memory:" or not path.exists():
            return
        with open(path, "rb") as file:
            if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                return  # not a damaged store but some other file: the open says so and leaves it as it is
        try:
            with closing(sqlite3.connect(path)) as db:
                db.execute("SELECT name, sql FROM sqlite_master").fetchall()
                return
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                return  # said by the open itself
            reason = str(exc)
        kept = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            if path.with_name(path.name + suffix).exists():
                path.with_name(path.name + suffix).rename(kept.with_name(kept.name + suffix))
        self.damaged.append(DamagedHum(f"the store {path.name}", f"it does not open ({reason}); kept as {kept}, a new one begun", kind="file"))
        log.error("store: %s does not open (%s); it is kept as %s and humd starts on a new store", path, reason, kept)

    def holds(self, sigil: str) -> bool:
        return any(d.sigil == sigil for d in self.damaged)

    def table(self, db: sqlite3.Connection, query: str, what: str) -> list[tuple[Any, ...]]:
        """A small table read whole at start (queued prompts, tombstones, when hums were touched): a damaged
        page loses what it held, named in status and the log, and humd starts without it."""
        try:
            return db.execute(query).fetchall()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            self.damaged.append(DamagedHum(f"the {what}", f"the table does not read: {exc}", kind="table"))
            log.error("store: the %s do not read (%s); humd starts without them", what, exc)
            return []

    def rows(self, db: sqlite3.Connection, query: str, params: tuple[Any, ...], sigil: str) -> Iterator[tuple[Any, ...]]:
        """The rows of a read of hum `sigil`'s petals, as far as its pages read; a damaged page sets it aside."""
        try:
            yield from db.execute(query, params)
        except sqlite3.DatabaseError as exc:
            if self._strict or not is_damage(exc):
                raise
            self.set_aside(sigil, exc, "a read")

    def writable(self, batch: list[Change]) -> list[Change]:
        """`batch` without the changes of hums a commit already found damaged (they can never go in)."""
        if not self.unwritable:
            return batch
        return [c for c in batch if c[1].sigil not in self.unwritable]

    def commit_each(self, db: sqlite3.Connection, batch: list[Change], write: Callable[[list[Change]], None]) -> tuple[list[Change], list[Change]]:
        """Commit `batch` hum by hum after a commit of all of it met a damaged page.

        Returns (what went in, what is left): a hum whose own changes meet the
        damage is set aside and its changes dropped; any other failure (a full
        disk) stops here and leaves that hum's changes and the rest for the next commit.
        """
        by_hum: dict[str, list[Change]] = {}
        for change in batch:  # each hum's changes in order; hums do not depend on each other
            by_hum.setdefault(change[1].sigil, []).append(change)
        done: list[Change] = []
        groups = list(by_hum.items())
        for n, (sigil, changes) in enumerate(groups):
            try:
                db.execute("BEGIN")
                write(changes)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if not is_damage(exc):
                    return done, [c for _, cs in groups[n:] for c in cs]
                self.unwritable.add(sigil)
                self.set_aside(sigil, exc, "a commit")
                continue
            done += changes
        return done, []
