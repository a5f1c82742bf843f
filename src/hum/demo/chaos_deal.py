"""Faults chaos deals that reach inside a device: a damaged row in its store, asks answered from two devices."""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hum.node.humd import Humd
from hum.sim.harness import SimNestler
from hum.store.blocks import line_petal


def held_elsewhere(hum: Any, siblings: list[Any], rng: random.Random) -> int | None:
    """A stored wane of `hum` that some sibling holds the same, with its neighbours (None if none is found)."""
    for _ in range(4):
        if hum.durable_tip < 3:
            return None
        wane = rng.randrange(2, hum.durable_tip)
        ours = hum.since(wane - 2, wane + 1)
        if len(ours) == 3 and any(s.durable_tip > wane and s.since(wane - 2, wane + 1) == ours for s in siblings):
            return wane
    return None


def damage(path: str | Path, sg: str, wane: int, *, gone: bool = False) -> bool:
    """One stored petal of the hum (in the store at `path`) stops reading (bad JSON), as a damaged
    page would leave it; with `gone`, it is missing (a row deleted, a line cut out of its block)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        query = "DELETE FROM petals" if gone else "UPDATE petals SET body = '{damaged'"
        changed = db.execute(f"{query} WHERE sigil = ? AND wane = ?", (sg, wane)).rowcount
        block = db.execute("SELECT rowid, first, lines FROM blocks WHERE sigil = ? AND first <= ? AND last >= ?", (sg, wane, wane)).fetchone()
        if not changed and block is not None:  # a chunk: its line in its block (store/blocks.py)
            lines = block[2].splitlines(keepends=True)
            lines[wane - block[1]] = b"" if gone else b"{damaged\n"
            changed = db.execute("UPDATE blocks SET lines = ? WHERE rowid = ?", (b"".join(lines), block[0])).rowcount
        db.commit()
    return bool(changed)


def stored_rows(path: Path, sg: str) -> dict[int, tuple[str, object]]:
    """The stored petals of a hum as (chi, body); a body that does not read is None."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        rows = db.execute("SELECT wane, chi, body FROM petals WHERE sigil = ?", (sg,)).fetchall()
        blocks = db.execute("SELECT first, lines FROM blocks WHERE sigil = ?", (sg,)).fetchall()
    out: dict[int, tuple[str, object]] = {}
    for first, data in blocks:  # chunks (store/blocks.py)
        for wane, line in enumerate(data.splitlines(), start=first):
            petal = line_petal(sg, line)
            out[wane] = ("chunk", petal.body if petal is not None and petal.wane == wane else None)
    for wane, chi, body in rows:
        try:
            out[int(wane)] = (str(chi), json.loads(body))
        except (ValueError, TypeError):
            out[int(wane)] = (str(chi), None)
    return out


def unrepaired(damaged: Sequence[tuple[Path, str, int]]) -> int:
    """Damaged rows that still do not read at the end (a row since dropped with its hum is not counted)."""
    left = 0
    for path, sg, wane in damaged:
        row = stored_rows(path, sg).get(wane)
        left += row is not None and row[1] is None
    return left


def unserved(damaged: Sequence[tuple[str, Path, str, int]], humds: dict[str, Humd | None]) -> int:
    """Damaged rows (device, store, sigil, wane) still unreadable that their device, up at the end, cannot
    serve either. (A row inside the hum's tail in memory is served from there; it is met, and fetched
    back, when a restart or a later read reads it from the store.)"""
    left = 0
    for name, path, sg, wane in damaged:
        humd = humds.get(name)
        hum = humd.hums.get(sg) if humd is not None else None
        if hum is not None and unrepaired([(path, sg, wane)]) and not hum.since(wane - 1, wane):
            left += 1
    return left


def open_asks(home: Humd, sg: str) -> list[str]:
    """The permit ids of asks in the home's log that nobody has decided yet (in its open bloom)."""
    hum = home.hums.get(sg)
    if hum is None or not hum.bloom_open:
        return []
    petals = hum.since(max(hum.tip - 200, 0))  # an open bloom's ask is among its last petals
    decided = {p.body.get("permitId") for p in petals if p.chi == "permit"}
    return [str(p.body.get("permitId")) for p in petals if p.chi == "permission-ask" and p.body.get("permitId") not in decided]


def answer_asks(home: Humd, devices: list[Humd], sg: str, rng: random.Random, answerers: list[SimNestler], nestler: Any) -> None:
    """Every open ask is answered from two devices at once (or one, if only one is up), allow or deny by chance."""
    for permit_id in open_asks(home, sg):
        for at in rng.sample(devices, min(len(devices), 2)):
            answerer = nestler(at, f"answer{len(answerers)}")
            answerer.send("release-permit", sigil=sg, permitId=permit_id, decision=rng.choice(["allow", "deny"]))
            answerers.append(answerer)
