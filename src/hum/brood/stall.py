"""The stall guard: the wait for a worker's next event times out, with no timer per event."""

from __future__ import annotations

import asyncio
from types import TracebackType

# asyncio fires a timer up to its clock resolution early; a deadline this
# close counts as reached, or the check would re-arm without time moving on.
TIMER_SLACK = 1e-6


class StallGuard:
    """One bloom's guard: `async with guard.waiting(seconds): await next event` raises
    `TimeoutError` once that await has lasted `seconds` (None: no limit).

    A fast worker sends thousands of events a second, and `asyncio.timeout`
    around each await made and cancelled a timer each time (a sixth of a busy
    humd's time). Here each await only notes its deadline; one timer per bloom
    looks at it when it fires, and is set again for the deadline it finds. On
    expiry it cancels the waiting task as `asyncio.timeout` does, and the
    cancellation leaves the `async with` as `TimeoutError`.
    """

    def __init__(self) -> None:
        self._deadline: float | None = None
        self._task: asyncio.Task[object] | None = None  # the task awaiting under guard, while it lasts
        self._cancelling = 0  # its cancel requests from others when the await began
        self._expired = False  # we cancelled the task: its CancelledError is our TimeoutError
        self._timer: asyncio.TimerHandle | None = None

    def waiting(self, seconds: float | None) -> StallGuard:
        """Guard the next await for `seconds` from now."""
        self._deadline = None if seconds is None else asyncio.get_running_loop().time() + seconds
        return self

    def move(self, seconds: float) -> None:
        """The await under guard may last `seconds` from now (an answer came, a cancel was asked)."""
        if self._task is not None:
            self._deadline = asyncio.get_running_loop().time() + seconds
            self._arm()

    def stop(self) -> None:
        """The bloom is over: no timer stays behind."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = None

    async def __aenter__(self) -> StallGuard:
        task = asyncio.current_task()
        assert task is not None, "a stall guard runs inside a task"
        self._task, self._cancelling, self._expired = task, task.cancelling(), False
        self._arm()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task, self._task = self._task, None
        if self._expired and task is not None:
            self._expired = False
            if task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
                raise TimeoutError from exc

    def _arm(self) -> None:
        if self._deadline is None or (self._timer is not None and self._timer.when() <= self._deadline):
            return  # no limit, or the timer fires in time and looks again then
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(self._deadline, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._task is None or self._deadline is None or self._expired:
            return  # between awaits, or no limit: the next await sets the timer again
        if asyncio.get_running_loop().time() + TIMER_SLACK < self._deadline:
            self._arm()  # events came since: wait for the deadline they moved
            return
        self._expired = True
        self._task.cancel()
