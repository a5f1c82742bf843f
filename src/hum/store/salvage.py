"""Reading round a damaged page: every petal row of a hum that still reads, and which wanes do not.

A read of a hum's petals that crosses a page SQLite cannot read fails as a
whole ("database disk image is malformed"). The petals table is keyed by
(sigil, wane), so a read of a wane range touches only the pages holding that
range: `readable_petals` halves a failing range until each failing part is a
single wane, and keeps every row of the parts that read. A damaged page costs
a few reads per halving and one per wane it held, never a read per wane of the log.
`hum store check` names the hum and the wanes; `hum store repair` keeps the rows.
"""

from __future__ import annotations

import sqlite3
from typing import Any

# When the hum's last page does not read (MAX(wane) fails), wanes are looked for up to its last
# turn (the turns index is another b-tree) plus this many: a bloom's chunks after its prompt.
TAIL_GUESS = 4096


def readable_petals(db: sqlite3.Connection, columns: list[str], sigil: str) -> tuple[list[tuple[Any, ...]], list[int], bool]:
    """Hum `sigil`'s petal rows (`columns`, in wane order) that read, the wanes before the last of
    them that do not, and whether the end of its log does not read either."""
    select = f"SELECT {', '.join(columns)} FROM petals WHERE sigil = ? AND wane >= ? AND wane <= ? ORDER BY wane"
    rows: list[tuple[Any, ...]] = []
    failed: list[int] = []
    ranges = [(1, _top(db, sigil))]
    while ranges:  # depth first, low wanes first: rows come out in wane order
        lo, hi = ranges.pop()
        try:
            rows.extend(db.execute(select, (sigil, lo, hi)).fetchall())
        except sqlite3.DatabaseError:
            if lo == hi:
                failed.append(lo)
                continue
            mid = (lo + hi) // 2
            ranges += [(mid + 1, hi), (lo, mid)]
    last = rows[-1][columns.index("wane")] if rows else 0
    return rows, [w for w in failed if w < last], any(w > last for w in failed)


def _top(db: sqlite3.Connection, sigil: str) -> int:
    try:
        return int(db.execute("SELECT COALESCE(MAX(wane), 0) FROM petals WHERE sigil = ?", (sigil,)).fetchone()[0])
    except sqlite3.DatabaseError:
        pass
    turns = "SELECT COALESCE(MAX(wane), 0) FROM petals WHERE sigil = ? AND chi IN ('prompt', 'finish', 'error')"
    try:
        return int(db.execute(turns, (sigil,)).fetchone()[0]) + TAIL_GUESS
    except sqlite3.DatabaseError:
        return TAIL_GUESS
