"""Taps: one watcher's cursor into one hum."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from hum.wire.tones import Tone

if TYPE_CHECKING:
    from hum.core.hum import Hum


class Tap:
    """One nestler's (or one peer humd's) live view of a hum: a cursor plus what is owed.

    A tap holds no copy of the petals: the hum's log is the queue, and the
    cursor says how far this tap has read it. That makes "every petal after
    `since`, once, in wane order, with no gap" true by construction, and a
    slow reader costs nothing but its own lag.
    """

    def __init__(self, tap_id: str, sigil: str, since: int, owner: str) -> None:
        self.tap_id = tap_id
        self.sigil = sigil
        self.owner = owner
        self.since = since
        self.cursor = since  # wane of the last petal delivered
        self.granted_wane: int | None = None  # home tip at grant; hello waits for it
        self.hello_sent = False
        self.ended = False  # a terminal notice (e.g. peer-loss) was delivered
        self._notices: deque[tuple[int, Tone, bool]] = deque()

    @property
    def granted(self) -> bool:
        return self.granted_wane is not None

    def grant(self, home_wane: int) -> None:
        """Attach was granted; `hello` (with the home's tip) goes out before any petal."""
        if self.granted_wane is None:
            self.granted_wane = home_wane

    def notify(self, tone: Tone, after_wane: int, *, terminal: bool = False) -> None:
        """Owe the tap a non-petal tone, placed after the petal at `after_wane`."""
        self._notices.append((after_wane, tone, terminal))

    def pull(self, hum: Hum, limit: int, upto: int | None = None) -> list[Tone]:
        """Up to `limit` tones owed now, in order; advances the cursor past them."""
        out: list[Tone] = []
        if self.ended:
            return out
        if self._notices and not self.granted:
            # refused or lost before the grant: the notice is all there is to say
            out.append(self._notices.popleft()[1])
            self.ended = True
            return out
        if not self.granted:
            return out
        if not self.hello_sent:
            out.append(hum.hello(self.granted_wane or 0))
            self.hello_sent = True
        tip = hum.tip if upto is None else min(upto, hum.tip)
        while len(out) < limit:
            notice_at = self._notices[0][0] if self._notices else None
            if notice_at is not None and notice_at <= self.cursor:
                _, tone, terminal = self._notices.popleft()
                out.append(tone)
                if terminal:
                    self.ended = True
                    break
                continue
            stop = tip if notice_at is None else min(tip, notice_at)
            if self.cursor >= stop:
                break
            for petal in hum.since(self.cursor, min(stop, self.cursor + limit - len(out))):
                out.append(petal.tone(hum.sid))
                self.cursor = petal.wane
        return out

    def owes(self, hum: Hum, upto: int | None = None) -> bool:
        """True when `pull` would return something."""
        if self.ended:
            return False
        if self._notices and (not self.granted or self._notices[0][0] <= self.cursor):
            return True
        if not self.granted:
            return False
        tip = hum.tip if upto is None else min(upto, hum.tip)
        return not self.hello_sent or self.cursor < tip
