"""Healing one damaged petal from a sibling's copy: the store side of a fetch-back.

A petal that does not read (bad JSON, a chi that is not a petal's, a missing
row) ends what the device serves of its hum. A sibling holding a replica has
the petal: the node asks it for the range (`unreadable_from` says where it
starts), and `heal_petal` writes each one back only if the row there is really
damaged and the petal fits its neighbours: the stored petal before it reads,
and the one after it (when stored) reads too. The node also compares the
sibling's neighbours with its own before handing a petal here.
"""

from __future__ import annotations

import json
import sqlite3

from hum.store.blocks import block_tip, explode, merged
from hum.wire.tones import PETAL_CHIS


def unreadable_from(db: sqlite3.Connection, sigil: str) -> int | None:
    """The first wane of `sigil` that is missing or does not read (None: the stored log is whole),
    its blocks read beside its rows (store/blocks.py)."""
    (top,) = db.execute("SELECT COALESCE(MAX(wane), 0) FROM petals WHERE sigil = ?", (sigil,)).fetchone()
    top = max(top, block_tip(db, sigil))
    whole = len(merged(db.execute, sigil, 0, top, lambda after, upto: _readable_rows(db, sigil, after, upto), lambda lines, _sid: lines))
    return None if whole == top else whole + 1


def _readable_rows(db: sqlite3.Connection, sigil: str, after: int, upto: int) -> list[int]:
    """The wanes `after < wane <= upto` of `sigil` that read, up to the first that does not."""
    rows = db.execute("SELECT wane, chi, json_valid(body) FROM petals WHERE sigil = ? AND wane > ? AND wane <= ? ORDER BY wane", (sigil, after, upto))
    out: list[int] = []
    for wane, chi, valid in rows:
        if wane != after + len(out) + 1 or not valid or chi not in PETAL_CHIS:
            break
        out.append(wane)
    return out


def _reads(db: sqlite3.Connection, sigil: str, wane: int) -> bool:
    row = db.execute("SELECT chi, json_valid(body) FROM petals WHERE sigil = ? AND wane = ?", (sigil, wane)).fetchone()
    return row is not None and bool(row[1]) and row[0] in PETAL_CHIS


def heal_petal(db: sqlite3.Connection, sigil: str, wane: int, chi: str, body: str) -> bool:
    """Write a sibling's copy of petal `wane` over a damaged (or missing) row; True if written.

    Refused (False) when the row there reads already (nothing to heal: a copy
    never replaces a good petal), when the copy itself does not read, or when
    it does not fit: the petal before it must read, and the one after it too
    if stored, so a heal never papers over a wider hole.
    """
    with db:  # a block round the petal, as rows: a heal writes one row
        explode(db, sigil, wane - 1, wane + 1)
    if wane < 1 or chi not in PETAL_CHIS or _reads(db, sigil, wane):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    if wane > 1 and not _reads(db, sigil, wane - 1):
        return False
    after = db.execute("SELECT 1 FROM petals WHERE sigil = ? AND wane = ?", (sigil, wane + 1)).fetchone()
    if after is not None and not _reads(db, sigil, wane + 1):
        return False
    with db:
        db.execute("INSERT OR REPLACE INTO petals (sigil, wane, chi, body) VALUES (?, ?, ?, ?)", (sigil, wane, chi, body))
    return True
