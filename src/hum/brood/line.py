"""The brood's waiting line: blooms that wait for room for a cell, per worker kind, served in arrival order."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hum.errors import WorkerError

# Blooms that wait for a cell of one worker kind, beyond which a bloom gets
# `brood-full`. Each waiter costs a few hundred bytes, so the bound is about
# telling a runaway client "no" rather than about memory: 256 is four times the
# upstream cells, enough for every opencode tab and chat app one person runs.
DEFAULT_MAX_QUEUE = 256


@dataclass(eq=False)
class Waiter:
    """A queued bloom; whoever wakes it has reserved its room first (`granted`)."""

    sigil: str
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    granted: bool = False


class Line:
    """Rooms for new cells, handed out in arrival order.

    `room(name)` says whether one more cell of worker `name` fits (it may let
    an idle cell go to make room); a room handed out counts in `starting[name]`
    until its cell exists, so no room is given twice.
    """

    def __init__(self, room: Callable[[str], bool], limit: Callable[[str], int], max_queue: int) -> None:
        self.room = room
        self.limit = limit
        self.max_queue = max_queue
        self.starting: Counter[str] = Counter()
        self._queues: dict[str, deque[Waiter]] = {}

    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def reserve(self, sigil: str, name: str) -> Waiter | None:
        """A room for a new cell of `name` now (None), else a place in line; `brood-full` if the line is full."""
        queue = self._queues.setdefault(name, deque())
        if not queue and self.room(name):
            self.starting[name] += 1
            return None
        if len(queue) >= self.max_queue:
            raise WorkerError(
                "brood-full",
                f"all {self.limit(name)} {name} cells are blooming and {len(queue)} blooms "
                "are waiting for one; try again when one finishes",
            )
        waiter = Waiter(sigil)
        queue.append(waiter)
        return waiter

    async def wait(self, name: str, waiter: Waiter) -> bool:
        """Wait for the waiter's turn; False if its bloom was cancelled while it waited."""
        try:
            await waiter.ready.wait()
        except BaseException:
            self.leave(name, waiter)
            raise
        return waiter.granted

    def leave(self, name: str, waiter: Waiter) -> None:
        """The waiter's bloom went away (its consumer stopped listening): out of line, and any room it was given goes on."""
        queue = self._queues.get(name, deque())
        if waiter in queue:
            queue.remove(waiter)
        elif waiter.granted:  # the room reserved for it goes to the next in line
            waiter.granted = False
            self.give_back(name)

    def hatched(self, name: str) -> None:
        """A reserved room now holds its cell (which counts from here on)."""
        self.starting[name] -= 1

    def give_back(self, name: str) -> None:
        """A reserved room was not used (its cell failed to start): the next in line may have it."""
        self.starting[name] -= 1
        self.wake(name)

    def wake(self, name: str) -> None:
        """Hand whatever room there is to the head of `name`'s line."""
        queue = self._queues.get(name)
        while queue and self.room(name):
            waiter = queue.popleft()
            self.starting[name] += 1
            waiter.granted = True
            waiter.ready.set()

    def wake_all(self) -> None:
        for name in list(self._queues):
            self.wake(name)

    def cancel(self, sigil: str) -> None:
        """A queued bloom of `sigil` leaves the line without a cell."""
        for queue in self._queues.values():
            for waiter in [w for w in queue if w.sigil == sigil]:
                queue.remove(waiter)
                waiter.ready.set()

    def close(self) -> None:
        """Nothing will free a cell any more: every queued bloom leaves the line."""
        for queue in self._queues.values():
            while queue:
                queue.popleft().ready.set()
