"""The contract every brood worker kind implements.

A worker turns a hum's transcript into a stream of deltas and one `Done`.
The transcript belongs to the hum, not the worker, so the same hum can be
continued on another worker kind at any bloom.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Turn:
    """One message of a hum's transcript, as a worker sees it."""

    role: Role
    text: str


@dataclass(frozen=True)
class Delta:
    """A piece of a bloom's output; becomes one `chunk` petal.

    `chunk_type` is `"text_delta"` for model text. `"note"` marks a notice from
    the brood itself (e.g. "3 earlier turns were trimmed to fit the model's
    window"): show it to the reader, but do not feed it back to a model as part
    of the assistant's turn.
    """

    text: str
    chunk_type: str = "text_delta"
    block_idx: int = 0


@dataclass(frozen=True)
class Usage:
    """Token counts of one bloom, as the model counted them."""

    input_tokens: int
    output_tokens: int

    def as_wire(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


@dataclass(frozen=True)
class Done:
    """The end of a bloom; becomes the `finish` petal."""

    finish_reason: str
    usage: Usage


WorkerEvent = Delta | Done

# `Delta.chunk_type` values.
TEXT_DELTA = "text_delta"
NOTE = "note"


class WorkerError(Exception):
    """A bloom that could not run; becomes an `error` petal with this qualifier.

    Qualifiers in use: `unknown-model`, `worker-crash`, `worker-stall`,
    `brood-full`, `model-missing`, `model-load`, `upstream-unreachable`,
    `upstream-auth`, `upstream-error`, `upstream-timeout`, `claude-missing`,
    `claude-error`.
    """

    def __init__(self, qualifier: str, message: str) -> None:
        super().__init__(message)
        self.qualifier = qualifier
        self.message = message


class Worker(ABC):
    """One warm cell of the brood: a model (or upstream, or process) ready to bloom."""

    kind: ClassVar[str]

    async def warm(self) -> None:  # noqa: B027 - optional hook, most workers are warm at birth
        """Load or connect ahead of the first bloom."""

    @abstractmethod
    def bloom(
        self, transcript: Sequence[Turn], *, model: str | None = None
    ) -> AsyncIterator[WorkerEvent]:
        """Stream one bloom: zero or more `Delta`, then exactly one `Done`.

        Raises `WorkerError` for a bloom that cannot run or dies part-way.
        """

    @abstractmethod
    async def cancel(self) -> None:
        """Stop the running bloom at the metal; its stream then ends with `Done('cancelled')`."""

    def healthy(self) -> bool:
        """Whether this cell can bloom again after a failed bloom (else the brood discards it)."""
        return True

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model, connection or process."""
