"""Retention: when each hum homed here was last touched, and which have been left alone for too long."""

from __future__ import annotations

from hum.core.hum import Hum
from hum.node.config import RouterConfig
from hum.node.effects import SaveHum
from hum.node.facts import Facts
from hum.node.outbox import Outbox

DAY_MS = 86_400_000
# Retention looks at every hum homed here at most this often (seconds): it counts in days,
# and a sweep over thousands of hums each drone tick would be wasted work.
RETENTION_SWEEP_EVERY = 60.0
# A hum's last-touched time is stored again only once it moved this far (wall ms): retention
# counts whole days, so a minute of slack costs nothing and spares a row write per request.
TOUCH_STORE_STEP_MS = 60_000


class Retention:
    """Last-touched times of the hums homed here (wall ms, stored with the hum) and the sweep over them."""

    def __init__(self, facts: Facts, outbox: Outbox, config: RouterConfig) -> None:
        self.facts = facts
        self.outbox = outbox
        self.config = config
        self.touched: dict[str, int] = {}  # sigil -> wall ms of its last prompt or attach (hums homed here)
        self.forgot = 0  # hums retention forgot since this humd started
        self._swept_at: float | None = None  # when it last looked (monotonic)

    def mark(self, hum: Hum) -> None:
        """Somebody prompted or attached `hum`: if it is homed here, its days count from now."""
        if hum.home != self.facts.me:
            return
        now, last = int(self.facts.clock.wall_ms()), self.touched.get(hum.sigil)
        self.touched[hum.sigil] = now
        if last is None or now - last >= TOUCH_STORE_STEP_MS:
            self.outbox.emit(SaveHum(hum, now))  # rides the next commit with the petals

    def drop(self, sg: str) -> None:
        self.touched.pop(sg, None)

    def due(self) -> list[Hum]:
        """Hums homed here untouched for `retain_days` (none blooming, none followed), at most once a sweep period."""
        days, now = self.config.retain_days, self.facts.clock.monotonic()
        if days is None or (self._swept_at is not None and now - self._swept_at < RETENTION_SWEEP_EVERY):
            return []
        self._swept_at = now
        wall, limit, due = int(self.facts.clock.wall_ms()), days * DAY_MS, []
        for hum in [h for h in self.facts.hums.values() if h.home == self.facts.me]:
            touched = self.touched.get(hum.sigil)
            if touched is None:
                # never touched since the store learned to say when: its days count from now
                self.touched[hum.sigil] = wall
                self.outbox.emit(SaveHum(hum, wall))
            elif wall - touched >= limit and not (
                hum.bloom_open or hum.pending_prompts or self.facts.taps.watched(hum.sigil)
            ):
                due.append(hum)
        return due

    def status(self) -> dict[str, float | int | None]:
        """The setting as `/hum/status` shows it: days (None: keep everything), and how many it forgot."""
        return {"days": self.config.retain_days, "forgotten": self.forgot}
