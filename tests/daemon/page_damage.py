"""A damaged page in a real store: long hums written straight into the file, a page of one hum's
petals overwritten under a running humd, and a whole-log read over the thrum socket."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from hum.core.hum import Hum
from hum.core.wane import WaneTracker
from hum.demo.roam_real import HumdProcess, Nestler
from hum.store.sqlite import SqliteStore
from hum.wire.tones import Tone, is_petal, sigil


def stored_hum(store: Path, home: str, sid: str, turns: int) -> tuple[str, int]:
    """A hum homed on `home` with `turns` turns of a prompt, 18 chunks and a finish, written
    through the store before any humd starts (thousands of petals in well under a second). Each
    petal is its own commit, as a bloom paced by its upstream commits them: its chunks are rows
    (a home's commit of many chunks at once writes blocks, store/blocks.py), the petals b-tree
    whose pages these tests damage."""
    db = SqliteStore(store)
    hum = Hum(sigil("local", sid), sid, "local", home, WaneTracker())
    db.save_hum(hum)
    for n in range(turns):
        db.append(hum, hum.append("prompt", {"text": f"turn {n}"}))
        for word in range(18):
            db.append(hum, hum.append("chunk", {"delta": f"word {word} "}))
            db.flush()
        db.append(hum, hum.append("finish", {"finishReason": "stop"}), hum.transcript_key)
    db.flush()
    db.close()
    return hum.sigil, hum.tip


def lengthen(store: Path, sigil: str, times: int) -> int:
    """Repeat hum `sigil`'s stored turns `times` more times (the humd is stopped); its new tip."""
    with closing(sqlite3.connect(store)) as db, db:
        rows = db.execute("SELECT wane, chi, body FROM petals WHERE sigil = ? ORDER BY wane", (sigil,)).fetchall()
        turn = len(rows)
        db.executemany(
            "INSERT INTO petals (sigil, wane, chi, body) VALUES (?, ?, ?, ?)",
            [(sigil, turn * n + wane, chi, body) for n in range(1, times + 1) for wane, chi, body in rows],
        )
    return turn * (times + 1)


def damage_a_page_of(store: Path, sigil: str, *, last: bool = False) -> None:
    """Overwrite, in the file, a leaf page of the petals b-tree from the middle of hum `sigil`'s rows
    (with `last`, the last page wholly its own, where its next petals go), while a humd runs on it: the WAL is checkpointed first (the page is read from the file), and a
    commit afterwards makes the humd's connection drop the pages it cached."""
    with closing(sqlite3.connect(store)) as db:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "the humd held a read open: the WAL could not be checkpointed"
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        leaves = db.execute("SELECT pageno, ncell FROM dbstat WHERE name = 'petals' AND pagetype = 'leaf' ORDER BY path").fetchall()
        keys = [s for (s,) in db.execute("SELECT sigil FROM petals ORDER BY sigil, wane")]
        owned, first = [], 0
        for n, (pageno, cells) in enumerate(leaves):
            # in key order a leaf's cells come after the leaves before it and one parent key each
            start = first + n
            if keys[start] == sigil and keys[min(start + cells, len(keys) - 1)] == sigil:
                owned.append(pageno)
            first += cells
        assert len(owned) > 4, f"hum {sigil} spans only {len(owned)} pages"
        overwrite(store, owned[-1 if last else len(owned) // 2], page_size)
        db.execute("PRAGMA user_version = 1")


def damage_the_table(store: Path, table: str) -> None:
    """Overwrite the first page of `table` in the file (the humd is stopped)."""
    with closing(sqlite3.connect(store)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (pageno,) = db.execute("SELECT pageno FROM dbstat WHERE name = ? ORDER BY path LIMIT 1", (table,)).fetchone()
        overwrite(store, pageno, db.execute("PRAGMA page_size").fetchone()[0])


def overwrite(store: Path, pageno: int, page_size: int) -> None:
    with open(store, "r+b") as file:
        file.seek((pageno - 1) * page_size)
        file.write(b"\xde\xad" * (page_size // 2))


def damage_first_page(store: Path) -> None:
    """Overwrite the schema's page (page 1) past the file header: no table can be found (the humd is stopped)."""
    with open(store, "r+b") as file:
        file.seek(100)
        file.write(b"\xde\xad" * 200)


async def read_all(humd: HumdProcess, sg: str) -> tuple[list[Tone], Tone | None]:
    """What an attach from wane 0 gets: its petals, and the error that ended it early (None: it got them all)."""
    reader = await Nestler.open(humd, "reader")
    reader.client.send(Tone(chi="attach", sigil=sg, since=0))
    _, hello = await reader.wait_for(lambda t: t.chi == "hello")
    _, last = await reader.wait_for(lambda t: (is_petal(t) and t["wane"] == hello["wane"]) or (t.chi == "error" and not is_petal(t)))
    reader.close()
    return [t for _, t in reader.seen if is_petal(t)], None if is_petal(last) else last
