"""What the shell's helpers (sessions, link runners, the bloom runner) may ask of the shell."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from hum.brood.pool import Brood
from hum.ensemble.trust.certificates import HumdId
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.siblings import SiblingCheck
from hum.interfaces import Transport
from hum.node.effects import Effect
from hum.node.owners import Owner
from hum.node.router import Router
from hum.wire.tones import Tone


class Shell(Protocol):
    """The asyncio side of a humd, as its helpers see it (`Humd` is the one implementation)."""

    router: Router
    name: str
    identity: Identity
    check: SiblingCheck
    transport: Transport
    brood: Brood
    max_line: int
    stopping: bool

    def apply(self, effects: list[Effect]) -> None:
        """Carry out what the router decided."""

    async def next_tones(self, owner: Owner, *, lines: bool = False) -> list[Tone]:
        """Wait until `owner` is owed something, then take it (petals as `bytes` lines with `lines`)."""

    def close_owner(self, owner: Owner) -> None: ...

    def push_to(self, owner: Owner, pusher: Any) -> None:
        """Write what `owner` is owed straight from the wake while `pusher.ready()`."""

    def loop_time(self) -> float: ...

    def link_up(self, peer: HumdId, *, dialled: bool, cut: Callable[[], None], name: str = "") -> Owner | None:
        """A link proved `peer`; its owner, or None when it duplicates a live link."""

    def link_tone(self, owner: Owner, tone: Tone) -> None: ...

    def link_ended(self, owner: Owner | None) -> None: ...
