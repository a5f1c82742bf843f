"""What a committed batch of store changes made durable, as the store hands it back (`Commit`)."""

from __future__ import annotations

from typing import Any

from hum.core.hum import Hum
from hum.interfaces import Commit


def committed(batch: list[tuple[str, Hum, Any]]) -> Commit:
    """What a committed batch made durable: each hum's highest wane, its queued prompts, the hums whose row it stored."""
    tips: dict[str, tuple[Hum, int]] = {}
    queued, saved = [], {}
    for kind, hum, what in batch:
        if kind in ("hum", "forget"):
            saved[id(hum)] = hum
        if kind == "petal":
            tips[hum.sigil] = (hum, max(what[0].wane, tips.get(hum.sigil, (hum, 0))[1]))
        elif kind == "petals" and what:  # a replica's frame, in wane order: its last petal is its highest
            tips[hum.sigil] = (hum, max(what[-1][0].wane, tips.get(hum.sigil, (hum, 0))[1]))
        elif kind == "queue":
            queued.append((hum, what[0]))
        elif kind == "forget":
            tips.pop(hum.sigil, None)  # its petals are gone: nobody is owed them
    return Commit(list(tips.values()), queued, list(saved.values()))
