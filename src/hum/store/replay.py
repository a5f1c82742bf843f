"""A stored log read back as tap lines: SQLite checks each row and cuts its body in C, Python puts
one line together per petal (one format), and nothing is parsed (a body whose text might shadow
the head is the exception, read in Python as `core.petal.stored_line` reads it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from hum.core.petal import head_bytes, stored_line
from hum.wire.tones import PETAL_CHIS

log = logging.getLogger(__name__)

_CHIS = ", ".join(f"'{chi}'" for chi in sorted(PETAL_CHIS))
# A body that might hold a key of the head (`petal.shadows_head` says exactly): its line is built in Python.
_PLAIN = " AND ".join(f"instr(body, '\"{key}\"') = 0" for key in ("chi", "sigil", "sid", "wane"))

# Each stored petal `?2 < wane <= ?3` of hum `?1` in wane order: its wane, its chi, and its body
# after the `{` (bytes), or in its place 0 for a row that does not read (a chi that is no petal's,
# a body that is not a JSON object: checked in C) or 1 for a body read in Python. CASE stops at
# the first WHEN that holds, so `json_type` only sees valid JSON, and only when it does not start
# with `{` (valid JSON that does is an object: one parse a row, not two).
_READ_TAILS = f"""
SELECT wane, chi, CASE
    WHEN chi NOT IN ({_CHIS}) THEN 0
    WHEN NOT json_valid(body) THEN 0
    WHEN substr(body, 1, 1) = '{{' AND {_PLAIN} THEN substr(CAST(body AS BLOB), 2)
    WHEN json_type(body) != 'object' THEN 0
    ELSE 1 END
FROM petals WHERE sigil = ?1 AND wane > ?2 AND wane <= ?3 ORDER BY wane
"""

# What the head holds between its chi and its wane, as the encoder writes it for any chi.
_CHI = b'{"chi":"chunk'


# How the store runs a read of a hum's petal rows: a query and its parameters in, rows out.
Read = Callable[[str, tuple[Any, ...]], Iterable[tuple[Any, ...]]]


def stored_lines(read: Read, sigil: str, sid: str, after: int, upto: int) -> list[bytes]:
    """The tap lines (for `sid`) of hum `sigil`'s stored petals `after < wane <= upto`, each as
    `core.petal.tap_line` makes it, read through `read` (the store's way of reading a hum's rows);
    a missing or damaged row ends the answer there (the intact part is served)."""
    rest = head_bytes(sigil, 0, "chunk", sid)[len(_CHI) : -len(b"0}")]  # `","sigil":..,"sid":..,"wane":`
    heads: dict[str, bytes] = {}  # chi -> the head up to its wane
    out: list[bytes] = []
    for wane, chi, tail in read(_READ_TAILS, (sigil, after, upto)):
        if wane != after + len(out) + 1 or (tail.__class__ is not bytes and not tail):
            log.error("store: hum %s: petal %d does not read; serving the %d before it", sigil, wane, len(out))
            break
        if tail.__class__ is not bytes:  # 1: its body is read first
            [(body,)] = read("SELECT body FROM petals WHERE sigil = ? AND wane = ?", (sigil, wane))
            out.append(stored_line(sigil, wane, chi, sid, body))
            continue
        head = heads.get(chi)
        if head is None:
            head = heads[chi] = b'{"chi":"' + chi.encode() + rest
        out.append(b"%s%d}\n" % (head, wane) if tail == b"}" else b"%s%d,%s\n" % (head, wane, tail))
    return out
