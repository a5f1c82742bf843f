"""What the shell's helpers (sessions, link runners, the bloom runner) may ask of the shell: each sees only its part."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from hum.brood.pool import Brood
from hum.ensemble.trust.certificates import HumdId
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.siblings import SiblingCheck
from hum.errors import BadTone, WorkerError
from hum.interfaces import Delta, Done, PermissionAsk, Transport
from hum.node.blooms import BloomRequest
from hum.node.owners import Owner
from hum.wire.tones import Tone


class NestlerShell(Protocol):
    """A nestler's session's view of the humd: its tones in, what it is owed out."""

    def nestler_tone(self, owner: Owner, item: Tone | BadTone) -> None: ...

    async def next_tones(self, owner: Owner, *, lines: bool = False) -> list[Tone]:
        """Wait until `owner` is owed something, then take it (petals as `bytes` lines with `lines`)."""

    def push_to(self, owner: Owner, pusher: Any) -> None:
        """Write what `owner` is owed straight from the wake while `pusher.ready()`."""

    def close_owner(self, owner: Owner) -> None: ...


class LinkShell(Protocol):
    """A link runner's view of the humd: who it is, the link's life, and the tones it carries."""

    name: str
    identity: Identity
    check: SiblingCheck
    transport: Transport
    max_line: int
    stopping: bool

    def loop_time(self) -> float: ...

    def link_up(self, peer: HumdId, *, dialled: bool, cut: Callable[[], None], name: str = "") -> Owner | None:
        """A link proved `peer`; its owner, or None when it duplicates a live link."""

    def link_heard(self, peer: str) -> None: ...

    def link_tone(self, owner: Owner, tone: Tone) -> None: ...

    def link_ended(self, owner: Owner | None) -> None: ...

    async def next_tones(self, owner: Owner, *, lines: bool = False) -> list[Tone]: ...


class BloomShell(Protocol):
    """The bloom runner's view of the humd: what the next bloom needs, and where the worker's events go."""

    name: str
    brood: Brood

    def bloom_request(self, sg: str) -> BloomRequest | None: ...

    def worker_event(self, sg: str, *events: Delta | Done | PermissionAsk | WorkerError) -> None: ...
