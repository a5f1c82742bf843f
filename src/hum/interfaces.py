"""The contracts the node is built on: clock, store, transport and worker.

Each is an abstract shape with more than one implementation (the sim's and
the daemon's clock and transport; SQLite in memory or in the home; the brood's
worker kinds), so the node depends on these and never on a concrete one.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import msgspec

from hum.core.hum import Hum
from hum.core.petal import Petal
from hum.core.wane import WaneTracker

# -- clock -----------------------------------------------------------------------


class Clock(Protocol):
    """Time as the node reads it: a monotonic clock for deadlines, a wall clock for `dusk`."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (the event loop's; virtual in the sim)."""

    def wall_ms(self) -> float:
        """Milliseconds since the epoch: `dusk` is an absolute time, comparable across devices."""


# -- store -----------------------------------------------------------------------


@dataclass
class Commit:
    """What one commit made durable: each hum's log up to a wane, and queued prompts (hum, seq)."""

    durable: list[tuple[Hum, int]]
    queued: list[tuple[Hum, int]]
    saved: list[Hum] = field(default_factory=list)  # hums whose row this commit stored (or removed)


class Store(Protocol):
    """Where petals become durable before any tap sees them (SQLite in the home, or nowhere: `InstantStore`).

    Changes wait in the store until `flush` commits them and hands back what
    became durable; the shell's committer decides when (`has_pending`, `wait_pending`).
    """

    damaged: list[Any]  # hums set aside at load because their rows do not read (`store/check.py`)

    def save_hum(self, hum: Hum, touched: int | None = None) -> None: ...

    def forget(self, hum: Hum, tombstone: int | None = None) -> None:
        """Remove the hum and everything stored of it, in the next commit; with `tombstone` (wall ms)
        keep its (sigil, born) as forgotten at its home."""

    def tombstones(self) -> list[tuple[str, int]]:
        """The (sigil, born) of hums forgotten at their home here, oldest first."""

    def touched(self) -> dict[str, int]:
        """When each stored hum was last prompted or attached (wall ms), where known."""

    def append(self, hum: Hum, petal: Petal, transcript: bytes | None = None) -> None: ...

    def append_run(self, hum: Hum, run: list[tuple[Petal, bytes | None]]) -> None:
        """A replica's frame of petals as one change (each with its transcript key if it closes a bloom)."""

    def queue_prompt(self, hum: Hum, seq: int, body: dict[str, Any]) -> None: ...

    def dequeue_prompt(self, hum: Hum, seq: int) -> None: ...

    def orphan(self, hum: Hum, keep: int, epoch: int, born: int | None = None) -> None: ...

    def repair(self, hum: Hum, petal: Petal) -> None:
        """Write `petal`'s row again (the stored one did not read), in the next commit."""

    def orphans(self, sigil: str) -> list[dict[str, Any]]: ...

    def petals(self, sigil: str, after: int, upto: int) -> list[Petal]:
        """Stored petals of `sigil` with `after < wane <= upto`, in wane order (a hum's `PetalArchive`)."""

    def lines(self, sigil: str, sid: str, after: int, upto: int) -> list[bytes]:
        """The same petals as their tap lines for `sid` (a hum's `PetalArchive`)."""

    def flush(self) -> Commit:
        """Commit everything appended so far; what became durable (raises `StoreError`, keeping the batch)."""

    def has_pending(self) -> bool: ...

    async def wait_pending(self) -> None:
        """Return once something waits to be committed."""

    def load(self, tracker: WaneTracker) -> list[Hum]: ...


# -- transport -------------------------------------------------------------------


class Connection(ABC):
    """One byte stream to a peer humd (a TCP+TLS socket, or an in-memory pipe)."""

    # HumdId the transport itself authenticated (TLS), or None (in-memory).
    peer_humd_id: str | None = None

    @abstractmethod
    async def read(self) -> bytes:
        """Next bytes; b"" at a clean end; raises ConnectionError on a reset."""

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    async def drain(self) -> None:
        """Wait until the peer is keeping up (backpressure)."""

    @abstractmethod
    def close(self) -> None: ...


OnConnection = Callable[[Connection], Awaitable[None]]


class Transport(ABC):
    """Listens for and dials connections between humds."""

    @abstractmethod
    async def listen(self, on_connection: OnConnection) -> str:
        """Start accepting; returns the address peers dial."""

    @abstractmethod
    async def connect(self, address: str) -> Connection: ...

    @abstractmethod
    async def close(self) -> None: ...


# -- worker ----------------------------------------------------------------------

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """One tool call a model made: its id, the tool's name, the arguments as JSON text."""

    id: str
    name: str
    arguments: str

    def delta(self, block_idx: int = 0) -> Delta:
        """The call as the one `chunk` petal that carries it (`chunkType:"tool_call"`)."""
        body = {"id": self.id, "name": self.name, "arguments": self.arguments}
        return Delta(json.dumps(body), chunk_type=TOOL_CALL, block_idx=block_idx)


@dataclass(frozen=True)
class Turn:
    """One message of a hum's transcript, as a worker sees it.

    An assistant turn may carry the tool calls it made; a `tool` turn is the
    result of one of them (`text`), naming it by `tool_call_id`.
    """

    role: Role
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


class Delta(msgspec.Struct, frozen=True):
    """A piece of a bloom's output; becomes one `chunk` petal.

    `chunk_type` is `"text_delta"` for model text. `"note"` marks a notice from
    the brood itself (e.g. "3 earlier turns were trimmed to fit the model's
    window"): show it to the reader, but do not feed it back to a model as part
    of the assistant's turn. `"tool_call"` is one whole native tool call, its
    text the JSON `{id, name, arguments}` (see `ToolCall.delta`). A note about
    a long read carries `progress`, (tokens read, tokens to read), so a
    surface can show one line that moves instead of a line per note.

    A frozen `msgspec.Struct`, not a dataclass: a worker makes one per token,
    and a struct is made in C (0.09 against 0.76 us here).
    """

    text: str
    chunk_type: str = "text_delta"
    block_idx: int = 0
    progress: tuple[int, int] | None = None

    def body(self) -> dict[str, Any]:
        """The `chunk` petal's body."""
        body: dict[str, Any] = {"chunkType": self.chunk_type, "delta": self.text, "blockIdx": self.block_idx}
        if self.progress is not None:
            body["progress"] = {"read": self.progress[0], "of": self.progress[1]}
        return body


@dataclass(frozen=True)
class Usage:
    """Token counts of one bloom, as the model counted them."""

    input_tokens: int
    output_tokens: int
    # Of `input_tokens`, those the worker did not read again (a local model's cached prefix);
    # None: the worker does not say.
    cached_input_tokens: int | None = None

    def as_wire(self) -> dict[str, int]:
        wire = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        if self.cached_input_tokens is not None:
            wire["cached_input_tokens"] = self.cached_input_tokens
        return wire


@dataclass(frozen=True)
class Done:
    """The end of a bloom; becomes the `finish` petal."""

    finish_reason: str
    usage: Usage


@dataclass(frozen=True)
class PermissionAsk:
    """The worker wants to use a tool and waits for a person's answer (`Worker.release`)."""

    permit_id: str
    tool: str
    input: dict[str, Any]
    question: str


WorkerEvent = Delta | Done | PermissionAsk

# `Delta.chunk_type` values.
TEXT_DELTA = "text_delta"
NOTE = "note"
TOOL_CALL = "tool_call"

# A tool as a worker is offered it: an OpenAI-style function spec,
# `{"type": "function", "function": {"name", "description", "parameters"}}`.
ToolSpec = dict[str, Any]


class Worker(ABC):
    """One warm cell of the brood: a model (or upstream, or process) ready to bloom."""

    kind: ClassVar[str]
    # Whether this kind takes `tools` in `bloom` and emits its calls as
    # `tool_call` deltas; the others get calls and results as text (the brood
    # flattens the transcript for them) and never a `tools` argument.
    native_tools: ClassVar[bool] = False

    async def warm(self) -> None:  # noqa: B027 - optional hook, most workers are warm at birth
        """Load or connect ahead of the first bloom."""

    @abstractmethod
    def bloom(
        self,
        transcript: Sequence[Turn],
        *,
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> AsyncIterator[WorkerEvent]:
        """Stream one bloom: zero or more `Delta`, then exactly one `Done`.

        A `native_tools` worker offers `tools` to its model; a bloom that calls
        tools emits one `ToolCall.delta` per call and ends `Done("tool_calls")`.

        Raises `WorkerError` for a bloom that cannot run or dies part-way.
        """

    async def bloom_batches(
        self,
        transcript: Sequence[Turn],
        *,
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> AsyncIterator[list[WorkerEvent]]:
        """`bloom`'s events in order, in batches: a worker that reads its model or upstream in
        pieces gives one batch per read (one hand-over per read, not per token); this one gives
        each event on its own."""
        kwargs: dict[str, Any] = {} if tools is None else {"tools": tools}
        async for event in self.bloom(transcript, model=model, **kwargs):
            yield [event]

    async def release(self, permit_id: str, decision: str, message: str | None) -> None:  # noqa: B027 - only asking kinds answer
        """A person answered this bloom's `PermissionAsk` `permit_id`: `allow` or `deny` (with why)."""

    @abstractmethod
    async def cancel(self) -> None:
        """Stop the running bloom at the metal; its stream then ends with `Done('cancelled')`."""

    def healthy(self) -> bool:
        """Whether this cell can bloom again after a failed bloom (else the brood discards it)."""
        return True

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model, connection or process."""
