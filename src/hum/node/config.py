"""The settings a humd's router runs with (`hum up` flags and the environment), given once at construction."""

from __future__ import annotations

from dataclasses import dataclass

# An ask unanswered this long is denied: long enough to find the phone in a
# pocket, short enough that an agent is not left hanging for a day.
PERMIT_TIMEOUT = 600.0


@dataclass
class RouterConfig:
    """What the router is told by whoever starts it; the parts read it, nothing else writes it.

    It stays a plain mutable record so a test (or the sim) can set a value
    after construction, as an operator would restart with another flag.
    """

    nest: str = "local"  # the nest kind a prompt with no `nest` mints in
    permit_timeout: float = PERMIT_TIMEOUT  # seconds before an unanswered ask is denied
    auto_adopt: float | None = None  # adopt a followed hum whose home has been lost this long (None: never)
    retain_days: float | None = None  # forget hums homed here untouched this many days (None: keep everything)
