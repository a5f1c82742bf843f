"""The stall guard on a virtual clock: a bloom is stalled after `stall_seconds` of silence, never earlier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from hum.brood.pool import Brood
from hum.errors import WorkerError
from hum.interfaces import Delta, Turn, Worker, WorkerEvent
from hum.sim.clock import run_virtual

STALL = 0.25


class SlowingWorker(Worker):
    """A delta every `gap` seconds for `seconds`, then silence; notes when it last spoke."""

    kind = "slowing"

    def __init__(self, gap: float = 0.1, seconds: float = 3.0) -> None:
        self.gap, self.seconds = gap, seconds
        self.last_said = 0.0

    async def bloom(self, transcript: Sequence[Turn], *, model=None) -> AsyncIterator[WorkerEvent]:
        loop = asyncio.get_running_loop()
        end = loop.time() + self.seconds
        while loop.time() < end:
            await asyncio.sleep(self.gap)
            self.last_said = loop.time()
            yield Delta("x")
        await asyncio.Event().wait()
        yield Delta("never")

    async def cancel(self) -> None:
        pass


def test_a_worker_that_keeps_talking_is_never_stalled_and_one_that_stops_is_stalled_on_time():
    worker = SlowingWorker()

    async def story() -> tuple[int, float]:
        brood = Brood({"slowing": lambda: worker}, "slowing", stall_seconds=STALL)
        said = 0
        with pytest.raises(WorkerError) as err:
            async for event in brood.bloom("s1", [Turn("user", "hi")]):
                said += isinstance(event, Delta)
        assert err.value.qualifier == "worker-stall"
        return said, asyncio.get_running_loop().time() - worker.last_said

    said, silence = run_virtual(story())
    assert said == 30  # three seconds of deltas, ten times the stall limit: all of them came
    assert STALL <= silence < STALL + 0.05
