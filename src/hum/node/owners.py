"""Owners: whoever a humd delivers tones to, a nestler session or a linked peer humd."""

from __future__ import annotations

from collections import deque
from enum import Enum

from hum.wire.tones import Tone


class OwnerKind(Enum):
    """What is on the other end: a client of this humd, or another humd of the ensemble."""

    NESTLER = "nestler"
    PEER = "peer"


class Owner:
    """One receiver of tones: its taps live in the router's `TapBook`, its replies in `outbox`.

    Compared by identity: a peer that relinks is a new owner, so nothing
    meant for the old link can leak onto the new one.
    """

    def __init__(self, kind: OwnerKind, name: str, bee: str | None = None) -> None:
        self.kind = kind
        self.name = name  # a nestler's session name, or the peer's HumdId
        self.bee = bee or name  # who a nestler says it is (its hello's `bee`); a prompt's `from`
        # a nestler said hello; one in this process that names its `bee` at opening needs none (nor its breath)
        self.greeted = bee is not None
        self.closed = False
        self.dialled = False  # a peer's link that this humd dialled (not accepted)
        self.outbox: deque[Tone] = deque()  # replies and notices, sent before tap tones

    @property
    def is_peer(self) -> bool:
        return self.kind is OwnerKind.PEER

    def __repr__(self) -> str:
        return f"Owner({self.kind.value}, {self.name[:16]})"
