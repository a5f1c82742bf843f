"""Faults chaos deals that reach inside a device: a damaged row in its store, asks answered from two devices."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from pathlib import Path
from typing import Any

from hum.node.humd import Humd
from hum.sim.harness import SimNestler


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


def damage(path: str | Path, sg: str, wane: int) -> bool:
    """One stored row of the hum (in the store at `path`) stops reading (bad JSON), as a damaged page would leave it."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        changed = db.execute("UPDATE petals SET body = '{damaged' WHERE sigil = ? AND wane = ?", (sg, wane)).rowcount
        db.commit()
    return bool(changed)


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
