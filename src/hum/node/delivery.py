"""Delivery: how the shell hands each owner what the router says it is owed, by waking its task or by pushing."""

from __future__ import annotations

import asyncio
from typing import Protocol

from hum.node.outbox import PULL_BATCH, Outbox
from hum.node.owners import Owner
from hum.wire.framing import lines
from hum.wire.tones import Tone


class Pusher(Protocol):
    """A nestler's transport as the humd may write to it straight from a wake."""

    def ready(self) -> bool:
        """True when a write now goes out without piling up (nothing backed up)."""

    def write(self, data: bytes) -> None: ...


class Delivery:
    """One wake event per owner with a task waiting on it; a pusher for owners written to at once."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._wakes: dict[Owner, asyncio.Event] = {}
        self._pushers: dict[Owner, Pusher] = {}  # owners written to straight from the wake

    def open(self, owner: Owner) -> None:
        self._wakes[owner] = asyncio.Event()

    def close(self, owner: Owner) -> None:
        self._pushers.pop(owner, None)
        self._wakes.pop(owner, None)

    def wake(self, owner: Owner) -> None:
        """`owner` is owed something: push it now if it takes pushes, else wake its task."""
        if self._push(owner):
            return
        event = self._wakes.get(owner)
        if event is not None:
            event.set()

    async def next_tones(self, owner: Owner, *, lines: bool = False) -> list[Tone]:
        """Wait until `owner` is owed something, then take it (petals as lines with `lines`: `Outbox.pull`)."""
        event = self._wakes.setdefault(owner, asyncio.Event())
        while True:
            tones = self.outbox.pull(owner, lines=lines)
            if tones:
                if self.outbox.owes(owner):
                    event.set()
                return tones
            event.clear()
            if self.outbox.owes(owner):
                continue
            await event.wait()

    def push_to(self, owner: Owner, pusher: Pusher) -> None:
        """Write what `owner` is owed straight from the wake, while its transport takes bytes at once.

        A fan-out then costs one write per tap, not a task switch per tap as
        well; a tap whose transport is backed up is left to its own task (which
        waits for it to drain), so a slow reader never makes this humd buffer more.
        """
        self._pushers[owner] = pusher

    def _push(self, owner: Owner) -> bool:
        """Push to `owner` now if it takes pushes; True when nothing is left for its task."""
        pusher = self._pushers.get(owner)
        if pusher is None or not pusher.ready():
            return False
        owed = self.outbox.pull(owner, lines=True)
        if owed:
            pusher.write(owed[0] if len(owed) == 1 and isinstance(owed[0], bytes) else lines(owed))
        # a pull short of its batch took everything owed: no need to ask again
        return len(owed) < PULL_BATCH or not self.outbox.owes(owner)
