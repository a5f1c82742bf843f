"""`hum store check` and `hum store repair`: SQLite's integrity check plus hum's own, and a rebuild.

Check reads the store without changing it: SQLite's `integrity_check`, then
per hum: a `hums` row that does not read, a gap in its wanes, a petal body
that is not JSON (or a chi that is not a petal's). Repair rebuilds the file
from every row that still reads, with `hums` values coerced to text where
they can be; the old file is kept beside it, never deleted.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from hum.store.blocks import checked_lines
from hum.store.check import readable_hum_row
from hum.store.salvage import readable_petals
from hum.wire.tones import PETAL_CHIS

# Problems listed per check: a badly damaged store could list millions; the count stays exact.
MAX_LISTED = 200
TABLES = ("hums", "petals", "blocks", "orphans", "queued", "tombstones")


def check_store(path: Path) -> dict[str, Any]:
    """What is wrong with the store at `path`: `{"ok", "integrity", "problems", "count"}`."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    problems: list[dict[str, Any]] = []
    try:
        try:
            integrity = [row[0] for row in db.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            integrity = [str(exc)]
        columns = {r[1] for r in _rows(db, "PRAGMA table_info(hums)", problems)}
        born = "born" if "born" in columns else "0"  # a store from before incarnations
        for row in _rows(db, f"SELECT sigil, sid, nest, home, epoch, fork, {born} FROM hums", problems):
            try:
                readable_hum_row(row)
            except ValueError as exc:
                problems.append({"sigil": str(row[0]), "problem": "hum-row", "detail": str(exc)})
        expected: dict[str, int] = {}
        for sigil, wane, chi, valid in sorted(_petal_rows(db, problems) + block_rows(db, problems)):
            want = expected.get(sigil, 0) + 1
            if wane != want and not any(p["sigil"] == sigil and p["problem"] == "unreadable-page" for p in problems):
                problems.append({"sigil": sigil, "problem": "gap", "detail": f"wanes {want} to {wane - 1} are missing"})
            if not valid or chi not in PETAL_CHIS:
                problems.append({"sigil": sigil, "problem": "unreadable-petal", "detail": f"petal {wane} does not read"})
            expected[sigil] = wane
    finally:
        db.close()
    ok = integrity == ["ok"] and not problems
    return {"ok": ok, "integrity": integrity[:MAX_LISTED], "problems": problems[:MAX_LISTED], "count": len(problems)}


def _petal_rows(db: sqlite3.Connection, problems: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(sigil, wane, chi, body is JSON) of every petal row that reads: the whole table at once, or,
    when a page does not read, hum by hum, each hum with a damaged page named with the wanes lost."""
    columns = ["sigil", "wane", "chi", "json_valid(body)"]
    try:
        return db.execute(f"SELECT {', '.join(columns)} FROM petals ORDER BY sigil, wane").fetchall()
    except sqlite3.DatabaseError as exc:
        problems.append({"sigil": None, "problem": "unreadable-page", "detail": f"petals: {exc}"})
    rows: list[tuple[Any, ...]] = []
    for sigil in _column(db, "SELECT sigil FROM hums ORDER BY sigil"):
        kept, gaps, tail = readable_petals(db, columns, sigil)
        rows += kept
        if gaps or tail:
            lost = f"wanes {_runs(gaps)}" if gaps else ""
            end = f"its log after wane {kept[-1][1] if kept else 0}" if tail else ""
            detail = " and ".join(x for x in (lost, end) if x) + " do not read (a damaged page)"
            problems.append({"sigil": sigil, "problem": "unreadable-page", "detail": detail})
    return rows


def block_rows(db: sqlite3.Connection, problems: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(sigil, wane, chi, reads) of every petal held in a block (store/blocks.py); none in a store from before blocks."""
    if not _column(db, "SELECT 1 FROM sqlite_master WHERE name = 'blocks'"):
        return []
    return [row for block in _rows(db, "SELECT sigil, first, last, crc, lines FROM blocks", problems) for row in checked_lines(*block)]


def _runs(wanes: list[int]) -> str:
    """Wanes in order as runs: "300 to 340, 880 to 911"."""
    runs = [[wanes[0], wanes[0]]]
    for w in wanes[1:]:
        if w == runs[-1][1] + 1:
            runs[-1][1] = w
        else:
            runs.append([w, w])
    return ", ".join(f"{a} to {b}" if a != b else str(a) for a, b in runs)


def _rows(db: sqlite3.Connection, query: str, problems: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    try:
        return db.execute(query).fetchall()
    except sqlite3.DatabaseError as exc:
        problems.append({"sigil": None, "problem": "unreadable-page", "detail": f"{query.split(' FROM ')[1].split()[0] if ' FROM ' in query else query}: {exc}"})
        return []


def repair_store(path: Path, schema: str) -> dict[str, Any]:
    """Rebuild the store at `path` from every row that reads; returns what was kept and lost, and where the old file is."""
    kept = path.with_name(f"{path.name}.damaged-{int(time.time())}")
    shutil.copy2(path, kept)
    for suffix in ("-wal", "-shm"):
        if path.with_name(path.name + suffix).exists():
            shutil.copy2(path.with_name(path.name + suffix), kept.with_name(kept.name + suffix))
    fresh = path.with_name(f"{path.name}.rebuilt")
    fresh.unlink(missing_ok=True)
    old, new = sqlite3.connect(kept), sqlite3.connect(fresh)
    counts: dict[str, list[int]] = {}
    try:
        new.executescript(schema)
        for table in TABLES:
            counts[table] = _copy_table(old, new, table)
        new.commit()
    except sqlite3.DatabaseError:  # the old file's schema does not read: nothing to copy, nothing replaced
        new.close()
        fresh.unlink(missing_ok=True)
        raise
    finally:
        old.close()
        new.close()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    fresh.replace(path)
    return {"kept": {t: c[0] for t, c in counts.items()}, "lost": {t: c[1] for t, c in counts.items()}, "old": str(kept)}


def _copy_table(old: sqlite3.Connection, new: sqlite3.Connection, table: str) -> list[int]:
    """Copy `table` (a page that does not read loses only its rows); [kept, lost]."""
    columns = [row[1] for row in new.execute(f"PRAGMA table_info({table})")]
    wanted = [c for c in columns if c in {row[1] for row in old.execute(f"PRAGMA table_info({table})")}]
    if not wanted:
        return [0, 0]  # a table the old store did not have yet (tombstones came later)
    rows, lost = _read_rows(old, table, wanted)
    insert = f"INSERT OR IGNORE INTO {table} ({', '.join(wanted)}) VALUES ({', '.join('?' * len(wanted))})"
    for row in rows:
        if table == "hums":
            row = tuple(_as_text(v) if c in ("sigil", "sid", "nest", "home") else v for c, v in zip(wanted, row, strict=True))
        new.execute(insert, row)
    return [len(rows), lost]


def _read_rows(db: sqlite3.Connection, table: str, columns: list[str]) -> tuple[list[tuple[Any, ...]], int]:
    """Every row that reads: whole if it can, else `hums` row by row and the others hum by hum
    (a hum's petals round a damaged page, wane range by range: store/salvage.py)."""
    select = f"SELECT {', '.join(columns)} FROM {table}"
    try:
        return db.execute(select).fetchall(), 0
    except sqlite3.DatabaseError:
        pass
    if table == "hums":
        keys, where = _column(db, "SELECT rowid FROM hums"), " WHERE rowid = ?"
    else:
        keys, where = _column(db, "SELECT sigil FROM hums"), " WHERE sigil = ?"
    rows: list[tuple[Any, ...]] = []
    lost = 0
    for key in keys:
        try:
            rows.extend(db.execute(select + where, (key,)).fetchall())
        except sqlite3.DatabaseError:
            if table != "petals":
                lost += 1
                continue
            kept, gaps, tail = readable_petals(db, columns, key)
            rows += kept
            lost += len(gaps) + tail  # wanes lost (the end of a log that does not read counts one)
    return rows, lost


def _column(db: sqlite3.Connection, query: str) -> list[Any]:
    try:
        return [r[0] for r in db.execute(query)]
    except sqlite3.DatabaseError:
        return []


def _as_text(value: Any) -> Any:
    """A `hums` value of the wrong type made text where it can be (bytes as UTF-8, numbers as digits)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) or value is None else str(value)
