"""Petal blocks: a contiguous run of one hum's chunks stored as one row holding their tap lines.

A replica writes a block for each stretch of chunks in a home's `petals` frame (`write_run`);
every other petal (prompts, what closes a bloom, asks) stays a row, so the load's tip, last prompt
and last close read the rows' turn index as before, plus the last block. Readers merge blocks and
rows (`merged`); whatever rewrites or cuts inside a block (a repair, an orphaned branch, `hum store
heal`) first turns it back into rows (`explode`). docs/ARCHITECTURE.md, "Petal blocks", says why.

A block is `(sigil, first, last, sid, crc, lines)`: the tap lines (for `sid`, the hum's sid when
written) of wanes `first..last`, each ending in `\n`, exactly as `Petal.line(sid)` makes them and
as a home's `petals` frame carries them (a link's form of a petal is its tap line). One INSERT a
frame, one row read back a frame: SQLite's per-row cost is paid once per block, not per petal.
`crc` is the lines' CRC-32 (zlib): a block whose bytes changed is read line by line, and serves
the lines before the first that does not read, as rows do.
"""

from __future__ import annotations

import logging
import sqlite3
import zlib
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

import msgspec

from hum.core.petal import Petal, head_bytes, mirrored_petal
from hum.errors import BadTone
from hum.store.rows import PetalRows

T = TypeVar("T")

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

# A block holds at most this many petals: a link's frame (`BATCH_PETALS`) fills one, a home's
# commit of a flat-out bloom (about 2,600 chunks at once) fills several. A read of wanes from
# `after` then looks only at blocks starting after `after - BLOCK_PETALS`: one range of the index,
# not every block of the hum before it.
BLOCK_PETALS = 256
# A commit writes a run of chunks this long or longer as blocks; a shorter run (a bloom paced by
# its upstream commits one or a few chunks at a time) stays rows: a block of one or two petals
# saves no row and reads no faster.
BLOCK_MIN = 16

_INSERT = "INSERT OR IGNORE INTO blocks (sigil, first, last, sid, crc, lines) VALUES (?, ?, ?, ?, ?, ?)"
_READ = "SELECT first, last, sid, crc, lines FROM blocks WHERE sigil = ?1 AND first > ?2 - ?4 AND first <= ?3 AND last > ?2 ORDER BY first"

# How the store runs a read of a hum's rows: a query and its parameters in, rows out.
Read = Callable[[str, tuple[Any, ...]], Iterable[tuple[Any, ...]]]


def write_block(db: sqlite3.Connection, sigil: str, sid: str, first: int, lines: list[bytes]) -> None:
    """Store tap lines (for `sid`, each ending in `\\n`) of wanes `first, first + 1, ...` as blocks
    of up to `BLOCK_PETALS`, inside the caller's transaction."""
    for start in range(0, len(lines), BLOCK_PETALS):
        data = b"".join(lines[start : start + BLOCK_PETALS])
        end = min(len(lines), start + BLOCK_PETALS)
        db.execute(_INSERT, (sigil, first + start, first + end - 1, sid, zlib.crc32(data), data))


def write_run(db: sqlite3.Connection, rows: PetalRows, sigil: str, sid: str, run: list[tuple[Petal, bytes | None]]) -> None:
    """Petals of hum `sigil` in wane order (a home's commit, a replica's frames): each stretch of at
    least `BLOCK_MIN` chunks as blocks of their lines (for the sid a line was made for already, a
    mirrored petal's home's, else `sid`), every other petal (a turn, an ask, a shorter stretch) a
    row as before."""
    stretch: list[Petal] = []
    for petal, transcript in run:
        if petal.chi == "chunk" and transcript is None and (not stretch or petal.wane == stretch[-1].wane + 1):
            stretch.append(petal)
            continue
        _write_stretch(db, rows, sigil, sid, stretch)
        stretch = []
        if petal.chi == "chunk" and transcript is None:  # after a hole in the wanes: a new stretch
            stretch.append(petal)
        else:
            rows.add_run(sigil, ((petal, transcript),))
    _write_stretch(db, rows, sigil, sid, stretch)


def _write_stretch(db: sqlite3.Connection, rows: PetalRows, sigil: str, sid: str, stretch: list[Petal]) -> None:
    """Consecutive chunks: rows when they are few, else blocks of their lines; a chunk whose line
    would not hold its whole body (a body key shadows the head) is a row between two blocks."""
    if len(stretch) < BLOCK_MIN:
        rows.add_run(sigil, ((p, None) for p in stretch))
        return
    block_sid = stretch[0].line_sid or sid
    lines: list[bytes] = []
    for petal in stretch:
        line = petal.whole_line(block_sid)  # a mirrored petal's is the line it came as: no copy
        if line is not None:
            lines.append(line)
            continue
        if lines:
            write_block(db, sigil, block_sid, petal.wane - len(lines), lines)
            lines = []
        rows.add_run(sigil, ((petal, None),))
    if lines:
        write_block(db, sigil, block_sid, stretch[-1].wane + 1 - len(lines), lines)


def merged(read: Read, sigil: str, after: int, upto: int, from_rows: Callable[[int, int], list[T]], from_block: Callable[[list[bytes], str], list[T]]) -> list[T]:
    """Hum `sigil`'s petals `after < wane <= upto` in wane order, from its blocks (`from_block` of a
    block's lines and the sid they were written for) and its rows (`from_rows(after, upto)`) between
    them; a petal that is missing or does not read ends the answer there."""
    out: list[T] = []
    cursor = after
    for first, last, written_for, crc, data in read(_READ, (sigil, after, upto, BLOCK_PETALS)):
        if first > cursor + 1:
            got = from_rows(cursor, first - 1)
            out += got
            cursor += len(got)
            if cursor < first - 1:
                return out
        end = min(last, upto)
        part = readable_lines(sigil, first, last, crc, data)[cursor + 1 - first : end + 1 - first]
        out += from_block(part, written_for)
        cursor += len(part)
        if cursor < end:
            log.error("store: hum %s: petal %d (block %d..%d) does not read; serving the %d before it", sigil, cursor + 1, first, last, len(out))
            return out
    return out + from_rows(cursor, upto) if cursor < upto else out


def block_lines(db: sqlite3.Connection, sigil: str, sid: str, after: int, upto: int) -> list[bytes]:
    """The tap lines (for `sid`) of hum `sigil`'s petals `after < wane <= upto` held in blocks alone."""
    return merged(db.execute, sigil, after, upto, lambda _after, _upto: [], lines_for(sigil, sid))


def readable_lines(sigil: str, first: int, last: int, crc: int, data: bytes) -> list[bytes]:
    """A block's lines, in wane order from `first`; a block whose bytes changed keeps the lines
    before the first one that is not hum `sigil`'s petal at its wane."""
    lines = data.splitlines(keepends=True)
    if zlib.crc32(data) == crc and len(lines) == last - first + 1:
        return lines
    for i, line in enumerate(lines):
        petal = line_petal(sigil, line)
        if petal is None or petal.wane != first + i or first + i > last:
            return lines[:i]
    return lines


def checked_lines(sigil: str, first: int, last: int, crc: int, data: bytes) -> list[tuple[str, int, str, bool]]:
    """(sigil, wane, chi, reads) of each line of a block, for `hum store check`: an intact block
    at a glance, a changed one line by line."""
    lines = data.splitlines(keepends=True)
    if zlib.crc32(data) == crc and len(lines) == last - first + 1:
        return [(sigil, wane, "chunk", True) for wane in range(first, last + 1)]
    out = []
    for i, line in enumerate(lines):
        petal = line_petal(sigil, line)
        out.append((sigil, first + i, "chunk", petal is not None and petal.wane == first + i))
    return out


def lines_for(sigil: str, sid: str) -> Callable[[list[bytes], str], list[bytes]]:
    """`merged`'s `from_block` for tap lines of `sid` (a line written for another sid gets its head's sid)."""

    def of_block(lines: list[bytes], written_for: str) -> list[bytes]:
        if written_for == sid:
            return lines
        was, now = _head_middle(sigil, written_for), _head_middle(sigil, sid)
        return [line.replace(was, now, 1) for line in lines]  # the head comes first: its match is the first

    return of_block


def petals_of(sigil: str) -> Callable[[list[bytes], str], list[Petal]]:
    """`merged`'s `from_block` for `Petal`s (cut from their lines: a body is read only when asked for)."""
    return lambda lines, _sid: [p for p in map(partial(line_petal, sigil), lines) if p is not None]


def line_petal(sigil: str, line: bytes) -> Petal | None:
    """A block's line as hum `sigil`'s petal (None: it does not read as one). The whole line is read
    first: a frame's petals come inside JSON already read, a block's bytes may have changed."""
    data = line.rstrip(b"\n")
    try:
        _AN_OBJECT.decode(data)
        return mirrored_petal(sigil, msgspec.Raw(data))
    except (BadTone, msgspec.DecodeError):
        return None


class _AnObject(msgspec.Struct):
    """Any JSON object, read through and thrown away: whether a line reads, nothing built."""


_AN_OBJECT = msgspec.json.Decoder(_AnObject)


def block_tip(db: sqlite3.Connection, sigil: str) -> int:
    """The last wane of hum `sigil` held in a block (0: none)."""
    row = db.execute("SELECT last FROM blocks WHERE sigil = ? ORDER BY first DESC LIMIT 1", (sigil,)).fetchone()
    return 0 if row is None else int(row[0])


def explode(db: sqlite3.Connection, sigil: str, lo: int = 0, hi: int = 2**62) -> None:
    """Turn the blocks of hum `sigil` holding any wane `lo..hi` (by default, every one from `lo`)
    back into rows, so what rewrites or cuts one petal works on rows; a line that does not read
    becomes no row (a gap, fetched back like a damaged row)."""
    query = "SELECT rowid, sigil, first, last, lines FROM blocks WHERE sigil = ? AND last >= ? AND first <= ?"
    for rowid, sg, first, last, data in db.execute(query, (sigil, lo, hi)).fetchall():
        lines = data.splitlines(keepends=True)  # every line that reads, a damaged one's neighbours too
        petals = [p for w, p in enumerate(map(partial(line_petal, sg), lines), start=first) if p is not None and p.wane == w <= last]
        db.executemany("INSERT OR IGNORE INTO petals (sigil, wane, chi, body) VALUES (?, ?, ?, ?)", [(sg, p.wane, p.chi, p.body_json) for p in petals])
        db.execute("DELETE FROM blocks WHERE rowid = ?", (rowid,))


def _head_middle(sigil: str, sid: str) -> bytes:
    """`,"sigil":..,"sid":..,"wane":`: what every petal's head of hum `sigil` for `sid` holds."""
    return head_bytes(sigil, 0, "", sid)[len(b'{"chi":""') : -len(b"0}")]
