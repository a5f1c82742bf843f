"""What the router asks its shell to do: plain records, carried out in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hum.core.hum import Hum
from hum.core.petal import Petal
from hum.node.owners import Owner


@dataclass(frozen=True)
class Wake:
    """`owner` has tones to pull (`Router.pull`)."""

    owner: Owner


@dataclass(frozen=True)
class Persist:
    """Store `petal`; the store reports it durable (`Router.durable`) before any tap sees it.

    `dequeued` names the queued prompt this petal is, so its queue entry goes
    in the same commit.
    """

    hum: Hum
    petal: Petal
    dequeued: int | None = None
    transcript: bytes | None = None  # the hum's transcript key, when the petal closes a bloom


@dataclass(frozen=True)
class PersistRun:
    """Store a replica's frame of `hum`'s petals as one change (`Store.append_run`), each with the
    hum's transcript key when it closes a bloom; durable together, reported like `Persist`."""

    hum: Hum
    run: list[tuple[Petal, bytes | None]]


@dataclass(frozen=True)
class QueuePrompt:
    """Keep a prompt that waits behind the open bloom; the store reports it (`Router.queued`)."""

    hum: Hum
    seq: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Orphan:
    """Move `hum`'s stored petals after wane `keep` aside as an orphaned branch of `epoch` in incarnation `born`
    (taken when decided: a lost incarnation's branch is set aside before the hum takes the winner's)."""

    hum: Hum
    keep: int
    epoch: int
    born: int


@dataclass(frozen=True)
class SaveHum:
    """Record a hum (its sigil, sid, nest and home) in the store, and when it was last touched (wall ms) if given."""

    hum: Hum
    touched: int | None = None


@dataclass(frozen=True)
class Forget:
    """Remove `hum` from the store: its petals, queued prompts, orphaned branches and its row, in one commit."""

    hum: Hum
    tombstone: int | None = None  # forgotten at its home (here), at this wall ms: keep its tombstone


@dataclass(frozen=True)
class RepairPetal:
    """Write `petal`'s row again: the stored one did not read, a sibling's copy was checked against its neighbours."""

    hum: Hum
    petal: Petal


@dataclass(frozen=True)
class StartBloom:
    """Run blooms for hum `sigil` until `Router.bloom_request` says there is none."""

    sigil: str


@dataclass(frozen=True)
class CancelBloom:
    """Stop the running bloom of `sigil` at the worker."""

    sigil: str


@dataclass(frozen=True)
class ReleasePermit:
    """Tell the worker blooming `sigil` the answer to its permission ask `permit_id`."""

    sigil: str
    permit_id: str
    decision: str
    message: str | None


@dataclass(frozen=True)
class CutLink:
    """Say goodbye on the link `owner` stands for and close it (duplicate, revoked)."""

    owner: Owner


@dataclass(frozen=True)
class PeersChanged:
    """The set of linked peers changed: whoever waits on `peers()` looks again."""


@dataclass(frozen=True)
class Revoked:
    """A device was revoked here (with the operator's signature, hex, when there is one): record it."""

    humd_id: str
    signature: str | None


Effect = Wake | Persist | PersistRun | QueuePrompt | Orphan | SaveHum | Forget | RepairPetal | StartBloom | CancelBloom | ReleasePermit | CutLink | PeersChanged | Revoked
