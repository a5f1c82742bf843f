"""What a committed batch of store changes made durable, as the store hands it back (`Commit`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hum.core.hum import Hum
from hum.core.petal import Petal
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


def in_runs(batch: list[tuple[str, Hum, Any]]) -> Iterator[tuple[str, Hum, Any]]:
    """The batch's changes in order, each hum's petals change after change (a home's appends, a
    replica's frames) joined as one `("petals", hum, run)`: the store writes a run's chunks as blocks."""
    run: list[tuple[Petal, bytes | None]] = []
    run_hum: Hum | None = None
    for kind, hum, what in batch:
        if run and (hum is not run_hum or kind not in ("petal", "petals")):
            yield "petals", run_hum, run  # type: ignore[misc]
            run = []
        if kind == "petal":
            run.append(what)
        elif kind == "petals":
            run += what
        else:
            yield kind, hum, what
        run_hum = hum
    if run:
        yield "petals", run_hum, run  # type: ignore[misc]
