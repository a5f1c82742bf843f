"""The garbage collector in a humd that runs for months: full passes that do not grow with what it has made.

`hum up` freezes what start-up loaded (`gc.freeze`), so a full collection
does not walk thousands of stored hums. A humd then keeps making hums (every
stateless `/v1` request mints one) and each full collection walked all of
them again: its pause grew with the hums minted since start. So after each
full collection, what survived it is frozen too, and the next one walks only
what was made since. What is frozen is never collected, so a reference cycle
that dies later is not freed: now and then everything is thawed and collected
once. That pass walks every object (about 150 a hum minted at runtime: 0.2 s
of CPU after 4,000 of them) and in a humd serving `/v1` it found nothing to
free; so each pass that frees (almost) nothing doubles the wait before the
next, from `RECLAIM_SECONDS` up to `RECLAIM_MAX_SECONDS`, and one that frees a
real amount brings it back to `RECLAIM_SECONDS`.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from typing import Any

# How often everything frozen is collected once (one long pause, walking every
# object): a cycle that died meanwhile waits at least this long to be freed.
RECLAIM_SECONDS = 900.0
# The longest wait between those passes once they keep finding nothing: one long
# pause a day at most, and a leak of cycles is still freed within a day.
RECLAIM_MAX_SECONDS = 86_400.0
# Objects made (less those freed) between two collections of the youngest generation, where
# Python's default is 700: a flat-out bloom makes a handful a petal (its petal, its body, the
# worker's delta), so at 700 a young collection ran every hundred-odd petals and took 5-10 % of
# the home's CPU over a 100,000-petal bloom (measured with `hum bench`'s flat-out bloom); at this
# many, a few MB of young objects at most wait to be looked at, and cycles still die young.
YOUNG_OBJECTS = 10_000
# Young collections before the middle generation's, and middle ones before a full collection's
# (Python's defaults: 10 and 10): a full collection then still comes every ~80,000 objects made,
# as often as with the defaults (~70,000), so the survivors of the hums minted since start are
# frozen as they come (the ttft tests with thousands of hums hold it).
OLDER_COLLECTIONS = (2, 4)
# Objects a pass must free to count as worth it (less is a few stray cycles,
# not a leak worth a pause of a fifth of a second every 15 minutes).
RECLAIM_WORTH = 1_000


class Collector:
    """Freezes the survivors of each full collection; thaws and collects everything now and then."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._freezing = False  # a freeze is scheduled
        self.frozen = 0  # freezes after a full collection, for tests and status
        self._began = 0.0
        self.collections = [0, 0, 0]  # per generation, since start
        self.longest_ms = [0.0, 0.0, 0.0]  # the most CPU one collection took, per generation (not time descheduled)
        self.cpu_ms = [0.0, 0.0, 0.0]  # CPU all collections took, per generation
        self.reclaims: deque[int] = deque(maxlen=10)  # what the last passes over everything found unreachable

    def start(self) -> None:
        """Freeze what exists now (start-up) and every full collection's survivors from now on."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG_OBJECTS, *OLDER_COLLECTIONS)
        gc.callbacks.append(self._collected)

    def stop(self) -> None:
        if self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)

    def status(self) -> dict[str, Any]:
        """Collections per generation and the longest pause of each, for `hum status`."""
        return {"collections": list(self.collections), "longestPauseMs": [round(ms, 3) for ms in self.longest_ms], "cpuMs": [round(ms, 1) for ms in self.cpu_ms], "frozenAfterFull": self.frozen, "frozenObjects": gc.get_freeze_count(), "reclaimed": list(self.reclaims)}

    def _collected(self, phase: str, info: dict[str, Any]) -> None:
        # called inside the collector, maybe on another thread: the freeze runs on the loop, next
        if phase == "start":
            self._began = time.thread_time()
            return
        generation = info.get("generation", 0)
        self.collections[generation] += 1
        took = (time.thread_time() - self._began) * 1000
        self.cpu_ms[generation] += took
        self.longest_ms[generation] = max(self.longest_ms[generation], took)
        if generation == 2 and not self._freezing and not self.loop.is_closed():
            self._freezing = True
            self.loop.call_soon_threadsafe(self._freeze)

    def _freeze(self) -> None:
        self._freezing = False
        self.frozen += 1
        gc.freeze()

    async def reclaim_forever(self, every: float = RECLAIM_SECONDS, longest: float = RECLAIM_MAX_SECONDS) -> None:
        """Now and then, collect everything once (cycles that died while frozen), then freeze again:
        after `every` seconds, twice as long after each pass that freed less than RECLAIM_WORTH."""
        wait = every
        while True:
            await asyncio.sleep(wait)
            wait = next_reclaim_wait(wait, self.reclaim(), every, longest)

    def reclaim(self) -> int:
        """Thaw, collect everything, freeze again; how many unreachable objects it found."""
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.reclaims.append(freed)
        return freed


def next_reclaim_wait(wait: float, freed: int, every: float = RECLAIM_SECONDS, longest: float = RECLAIM_MAX_SECONDS) -> float:
    """The wait before the next pass over everything: back to `every` after one that freed a real
    amount, twice as long (up to `longest`) after one that freed almost nothing."""
    return every if freed >= RECLAIM_WORTH else min(wait * 2, longest)
