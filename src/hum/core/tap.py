"""Taps: one watcher's cursor into one hum."""

from __future__ import annotations

from collections import deque
from typing import Any

from hum.wire.tones import Tone


class Tap:
    """One nestler's (or one peer humd's) live view of a hum: a cursor plus what is owed.

    A tap holds no copy of the petals: the hum's log is the queue, the hum
    reads it for the tap (`Hum.read`), and the cursor says how far this tap
    has read. That makes "every petal after `since`, once, in wane order,
    with no gap" true by construction, and a slow reader costs nothing but
    its own lag. `owner` is whoever the tap delivers to; the tap never looks
    inside it.
    """

    def __init__(self, sigil: str, since: int, owner: Any) -> None:
        self.sigil = sigil
        self.owner = owner
        self.since = since
        self.cursor = since  # wane of the last petal delivered
        self.granted_wane: int | None = None  # home tip at grant; hello waits for it
        self.hello_sent = False
        self.ended = False  # a terminal notice (e.g. peer-loss) was delivered
        self.notices: deque[tuple[int, Tone, bool]] = deque()

    @property
    def granted(self) -> bool:
        return self.granted_wane is not None

    def grant(self, home_wane: int) -> None:
        """Attach was granted; `hello` (with the home's tip) goes out before any petal."""
        if self.granted_wane is None:
            self.granted_wane = home_wane

    def notify(self, tone: Tone, after_wane: int, *, terminal: bool = False) -> None:
        """Owe the tap a non-petal tone, placed after the petal at `after_wane`."""
        self.notices.append((after_wane, tone, terminal))

    def cut_back(self, wane: int) -> None:
        """The log was cut back to `wane` (a branch set aside): notices placed past it are owed after it."""
        self.notices = deque((min(after, wane), tone, terminal) for after, tone, terminal in self.notices)
