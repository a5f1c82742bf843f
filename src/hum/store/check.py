"""A damaged store, found and set aside: one bad `hums` row never takes the whole device down.

`readable_hum_row` checks one `hums` row before the store builds a hum from it;
a row that does not read (a value of the wrong type, a page SQLite cannot read)
is put aside: named in `SqliteStore.damaged` (which `hum status` shows) and in
the log, its rows left on disk for whoever repairs them, every other hum served.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DamagedHum:
    """A hum the store could not read at start, and why."""

    sigil: str  # the hum, or what else was set aside (a table, the whole file) when `kind` says so
    reason: str
    kind: str = "hum"  # "hum", "table" or "file"

    def as_status(self) -> dict[str, str]:
        return {"sigil": self.sigil, "reason": self.reason, "kind": self.kind}


def readable_hum_row(row: tuple[Any, ...]) -> tuple[str, str, str, str, int, int, int]:
    """A `hums` row (sigil, sid, nest, home, epoch, fork, born) as the types a hum needs; ValueError says what is wrong."""
    sigil, sid, nest, home, epoch, fork, born = row
    for name, value in (("sigil", sigil), ("sid", sid), ("nest", nest), ("home", home)):
        if not isinstance(value, str):
            raise ValueError(f"its {name} is {type(value).__name__}, not text")
    born = born or 0  # stores from before incarnations: 0, older than any hum minted since
    for name, value in (("epoch", epoch), ("fork", fork), ("born", born)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"its {name} is {value!r}, not a whole number")
    return sigil, sid, nest, home, epoch, fork, born


def hum_rows(db: sqlite3.Connection, damaged: list[DamagedHum]) -> list[tuple[Any, ...]]:
    """Every `hums` row that reads; a page that does not is skipped row by row (by sigil) and noted."""
    query = "SELECT sigil, sid, nest, home, epoch, fork, born FROM hums ORDER BY sigil"
    try:
        return db.execute(query).fetchall()
    except sqlite3.DatabaseError as exc:  # e.g. "database disk image is malformed": read what can be read
        log.error("store: the hums table does not read whole (%s); reading it hum by hum", exc)
    rows = []
    for (rowid,) in _rowids(db):
        try:
            rows.append(db.execute("SELECT sigil, sid, nest, home, epoch, fork, born FROM hums WHERE rowid = ?", (rowid,)).fetchone())
        except sqlite3.DatabaseError as exc:
            damaged.append(DamagedHum(f"row {rowid}", f"the row does not read: {exc}"))
    return [r for r in rows if r is not None]


def _rowids(db: sqlite3.Connection) -> list[tuple[int]]:
    try:
        return db.execute("SELECT rowid FROM hums").fetchall()
    except sqlite3.DatabaseError:
        return []
