"""The phone-laptop-roam scenario's yardsticks, shared by the sim and the real-process runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The scenario's own limits.
LATENCY_MARGIN = 0.050  # "within RTT + 50ms"
PEER_LOSS_LIMIT = 2.0  # a killed home is surfaced within 2 s
DEFAULT_RTT = 0.060  # >= 40 ms, as the scenario asks; a phone on home Wi-Fi
WALK_AWAY_AT = 10  # chunks the laptop has seen when the operator walks away


@dataclass
class Criterion:
    """One success criterion or failure mode, with what was measured."""

    ok: bool
    value: Any
    limit: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"ok": bool(self.ok), "value": self.value, "limit": self.limit}
