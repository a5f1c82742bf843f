"""A stored log read back as tap lines, built by SQLite: a replay from the store runs no Python per petal
beyond taking each line (the case of a body whose text might shadow the head is read in Python)."""

from __future__ import annotations

import logging
import sqlite3

from hum.core.petal import head_bytes, stored_line
from hum.wire.tones import PETAL_CHIS

log = logging.getLogger(__name__)

_CHIS = ", ".join(f"'{chi}'" for chi in sorted(PETAL_CHIS))
# A body that might hold a key of the head (`petal.shadows_head` says exactly): its line is built in Python.
_PLAIN = " AND ".join(f"instr(body, '\"{key}\"') = 0" for key in ("chi", "sigil", "sid", "wane"))

# Each stored petal `?3 < wane <= ?4` of hum `?1` in wane order with its tap line, made as
# `core.petal.tap_line` makes it: `{"chi":"<chi>` + ?2 (the rest of the head, encoded once by
# msgspec: `","sigil":..,"sid":..,"wane":`) + wane + the body after its `{`. In place of the
# line: 0 for a row that does not read (a chi that is no petal's, a body that is not a JSON
# object: checked in C), 1 for a body read in Python. CASE stops at the first WHEN that holds,
# so `json_type` only sees valid JSON.
_READ_LINES = f"""
SELECT wane, CASE
    WHEN chi NOT IN ({_CHIS}) THEN 0
    WHEN NOT json_valid(body) THEN 0
    WHEN json_type(body) != 'object' THEN 0
    WHEN substr(body, 1, 1) = '{{' AND {_PLAIN} THEN
        CAST('{{"chi":"' || chi || ?2 || wane || CASE WHEN body = '{{}}' THEN '}}' ELSE ',' || substr(body, 2) END || char(10) AS BLOB)
    ELSE 1 END
FROM petals WHERE sigil = ?1 AND wane > ?3 AND wane <= ?4 ORDER BY wane
"""

# What the head holds before its wane, after its chi, for any chi (the encoder's own bytes).
_CHI = b'{"chi":"chunk'


def stored_lines(db: sqlite3.Connection, sigil: str, sid: str, after: int, upto: int) -> list[bytes]:
    """The tap lines (for `sid`) of hum `sigil`'s stored petals `after < wane <= upto`; a missing or
    damaged row ends the answer there (the intact part is served)."""
    head = head_bytes(sigil, 0, "chunk", sid)
    rest = head[len(_CHI) : -len(b"0}")].decode()
    out: list[bytes] = []
    for wane, line in db.execute(_READ_LINES, (sigil, rest, after, upto)):
        if wane != after + len(out) + 1 or line == 0:
            log.error("store: hum %s: petal %d does not read; serving the %d before it", sigil, wane, len(out))
            break
        if line == 1:
            chi, body = db.execute("SELECT chi, body FROM petals WHERE sigil = ? AND wane = ?", (sigil, wane)).fetchone()
            line = stored_line(sigil, wane, chi, sid, body)
        out.append(line)
    return out
