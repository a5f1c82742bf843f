"""Petal blocks: a contiguous run of one hum's petals stored as one row holding their tap lines.

Not wired into `SqliteStore` yet (docs/ARCHITECTURE.md, "Petal blocks", says what is left): this
is the format, its writer and its reader, measured by `python -m hum.demo.bench.store_blocks` and
tested against the row store byte for byte.

A block is `(sigil, first, last, sid, crc, lines)`: the tap lines (for `sid`, the hum's sid when
written) of wanes `first..last`, each ending in `\\n`, exactly as `Petal.line(sid)` makes them and
as a home's `petals` frame carries them (a link's form of a petal is its tap line). One INSERT a
frame, one row read back a frame: SQLite's per-row cost is paid once per block, not per petal.
`crc` is the lines' CRC-32 (zlib): a block whose bytes changed (a damaged page SQLite did not
notice) does not read, and a replay serves what comes before it, as with a damaged row.
"""

from __future__ import annotations

import logging
import sqlite3
import zlib
from collections.abc import Iterable

from hum.core.petal import head_bytes

log = logging.getLogger(__name__)

# A rowid table with its key as an index, not WITHOUT ROWID: a block is 10-100 KB, and SQLite
# advises WITHOUT ROWID only for rows far smaller than a page.
SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    sigil TEXT NOT NULL,
    first INTEGER NOT NULL,
    last  INTEGER NOT NULL,
    sid   TEXT NOT NULL,
    crc   INTEGER NOT NULL,
    lines BLOB NOT NULL,
    UNIQUE (sigil, first)
);
"""

_INSERT = "INSERT OR IGNORE INTO blocks (sigil, first, last, sid, crc, lines) VALUES (?, ?, ?, ?, ?, ?)"
_READ = "SELECT first, last, sid, crc, lines FROM blocks WHERE sigil = ? AND last > ? AND first <= ? ORDER BY first"


def write_block(db: sqlite3.Connection, sigil: str, sid: str, first: int, lines: Iterable[bytes]) -> int:
    """Store tap lines (for `sid`, each without its `\\n`) of wanes `first, first + 1, ...` as one
    block, inside the caller's transaction; returns the block's last wane."""
    items = list(lines)
    data = b"\n".join(items) + b"\n"
    last = first + len(items) - 1
    db.execute(_INSERT, (sigil, first, last, sid, zlib.crc32(data), data))
    return last


def block_lines(db: sqlite3.Connection, sigil: str, sid: str, after: int, upto: int) -> list[bytes]:
    """The tap lines (for `sid`) of hum `sigil`'s petals `after < wane <= upto`, block by block; a
    gap, or a block that does not read (its CRC or its line count is wrong), ends the answer there."""
    out: list[bytes] = []
    for first, last, written_for, crc, data in db.execute(_READ, (sigil, after, upto)):
        expected = after + len(out) + 1
        lines = data.splitlines(keepends=True) if first <= expected and zlib.crc32(data) == crc else []
        if len(lines) != last - first + 1:
            log.error("store: hum %s: block %d..%d does not read; serving the %d before it", sigil, first, last, len(out))
            break
        part = lines[expected - first : min(last, upto) - first + 1]
        out += part if written_for == sid else [_for_sid(line, sigil, written_for, sid) for line in part]
    return out


def _for_sid(line: bytes, sigil: str, old: str, new: str) -> bytes:
    """A block's line written for sid `old` as a tap of sid `new` reads it (its head's sid replaced;
    the head comes first in a line, so the first match is the head's)."""
    return line.replace(_head_middle(sigil, old), _head_middle(sigil, new), 1)


def _head_middle(sigil: str, sid: str) -> bytes:
    """`,"sigil":..,"sid":..,"wane":`: what every petal's head of hum `sigil` for `sid` holds."""
    return head_bytes(sigil, 0, "", sid)[len(b'{"chi":""') : -len(b"0}")]
