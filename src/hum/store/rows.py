"""Petal rows into SQLite: runs of one hum's petals as multi-row INSERTs, its sigil bound once a statement."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from hum.core.petal import Petal

# Petals go in as multi-row INSERTs of up to this many rows: one statement per
# batch of rows costs SQLite (and the sqlite3 module) far less per row than
# `executemany` (measured 1.5-1.9x the rows/s on this schema). 64 rows x 3
# parameters + 1 stays well under SQLite's limit of 32,766 variables, and the
# statements of 1..64 rows fit the sqlite3 module's statement cache.
INSERT_ROWS = 64

# A run of one hum's petals: `?1` is the hum's sigil, bound once, then (wane, chi, body) a row.
# Binding the sigil once and leaving the transcript out (NULL) costs about 0.8 µs less a petal
# than five parameters a row (measured: 2.9 -> 2.1 µs a petal, 100k chunk petals, 2 cores).
_INSERT_RUN = tuple(
    "INSERT OR IGNORE INTO petals (sigil, wane, chi, body) VALUES "
    + ",".join(f"(?1,?{3 * k + 2},?{3 * k + 3},?{3 * k + 4})" for k in range(n))
    for n in range(INSERT_ROWS + 1)
)
# A petal that closes a bloom carries the hum's transcript key from then on: one a bloom.
_INSERT_CLOSE = "INSERT OR IGNORE INTO petals (sigil, wane, chi, body, transcript) VALUES (?, ?, ?, ?, ?)"

_STEP = 3 * INSERT_ROWS


class PetalRows:
    """Petal rows waiting for their INSERT inside an open transaction, in order; `flush` writes them."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._sigil = ""
        self._params: list[object] = []  # (wane, chi, body) a row, all of hum `_sigil`

    def add_run(self, sigil: str, run: Iterable[tuple[Petal, bytes | None]]) -> None:
        """Petals of hum `sigil` in wane order, each with its transcript key when it closes a bloom."""
        if sigil != self._sigil:
            self.flush()
            self._sigil = sigil
        params = self._params
        for petal, transcript in run:
            if transcript is None:
                params += (petal.wane, petal.chi, petal.body_json)  # the JSON its taps' lines hold too
            else:
                self.flush()
                self._db.execute(_INSERT_CLOSE, (sigil, petal.wane, petal.chi, petal.body_json, transcript))

    def flush(self) -> None:
        """Write the rows added so far, `INSERT_ROWS` a statement."""
        params = self._params
        for start in range(0, len(params), _STEP):
            chunk = params if len(params) <= _STEP else params[start : start + _STEP]
            self._db.execute(_INSERT_RUN[len(chunk) // 3], [self._sigil, *chunk])
        params.clear()  # in place: `add_run` goes on adding to this list
