"""A worker's stream made safe for the brood: no hang, no crash leak, nothing after cancel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from hum.brood.stall import StallGuard
from hum.brood.transcript import plain
from hum.errors import WorkerError
from hum.interfaces import Done, PermissionAsk, ToolSpec, Turn, Usage, Worker, WorkerEvent


@dataclass
class Cell:
    """One warm worker of the brood and the state of its bloom."""

    name: str
    worker: Worker
    last_used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    busy: bool = False
    cancelled: bool = False
    closed: bool = False
    # Asks of the running bloom waiting for a person: no stall while they wait.
    asking: set[str] = field(default_factory=set)
    # The stall guard of the batch being awaited, moved when an answer arrives.
    stall: StallGuard = field(default_factory=StallGuard)

    def batches(self, transcript: Sequence[Turn], model: str | None, tools: Sequence[ToolSpec] | None) -> AsyncIterator[list[WorkerEvent]]:
        """The worker's bloom: `tools` reach only a `native_tools` worker; any other reads the
        transcript's tool calls and results as text (`transcript.plain`)."""
        if self.worker.native_tools:
            return self.worker.bloom_batches(transcript, model=model, tools=tools)
        return self.worker.bloom_batches(plain(transcript), model=model)


async def guarded(
    cell: Cell,
    events: AsyncIterator[list[WorkerEvent]],
    stall_seconds: float,
    cancel_grace_seconds: float,
    discard: Callable[[], Awaitable[None]],
) -> AsyncIterator[list[WorkerEvent]]:
    """`cell`'s worker's batches, ending in exactly one `Done`: a stall past `stall_seconds` (or,
    once cancelled, past `cancel_grace_seconds`) and a crash are `WorkerError`s and the cell is
    discarded; after a cancel only the `Done` (as `cancelled`) comes through."""
    stream = events.__aiter__()
    sent = 0
    try:
        while True:
            timeout = cancel_grace_seconds if cell.cancelled else stall_seconds
            try:
                # a stall guard, not wait_for: no task nor timer per batch on the hot path;
                # a worker waiting for a person's answer is not stalled (the router times the ask)
                async with cell.stall.waiting(None if cell.asking and not cell.cancelled else timeout):
                    batch = await anext(stream)
            except StopAsyncIteration:
                if cell.cancelled:  # the worker ended quietly; the hum still gets its Done
                    yield [Done("cancelled", Usage(0, sent))]
                    return
                raise WorkerError("worker-crash", f"{cell.name} worker ended the bloom without finishing") from None
            except TimeoutError:
                await discard()
                if cell.cancelled:
                    yield [Done("cancelled", Usage(0, sent))]
                    return
                raise WorkerError("worker-stall", f"{cell.name} worker sent nothing for {stall_seconds:g}s") from None
            out, counted, done = _sift(cell, batch)
            sent += counted
            if done:
                # Let the worker finish its clean-up now, not whenever its
                # generator is collected (which could be mid-way through the next bloom).
                with contextlib.suppress(Exception):
                    await stream.aclose()  # type: ignore[attr-defined]
                yield out
                return
            if out:
                yield out
    except WorkerError:
        if not cell.worker.healthy():
            await discard()
        raise
    except (asyncio.CancelledError, GeneratorExit):
        raise
    except Exception as exc:
        await discard()
        raise WorkerError("worker-crash", f"{cell.name} worker crashed: {exc!r}") from exc
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]


def _sift(cell: Cell, batch: list[WorkerEvent]) -> tuple[list[WorkerEvent], int, bool]:
    """What of `batch` goes on (after a cancel only the `Done`, as `cancelled`), how many of its
    events count as sent, and whether it ended with the `Done`."""
    out: list[WorkerEvent] = []
    sent = 0
    for event in batch:
        if isinstance(event, Done):
            out.append(Done("cancelled", event.usage) if cell.cancelled else event)
            return out, sent, True
        if cell.cancelled:  # "no further chunks after cancel" holds even for a slow worker
            continue
        if isinstance(event, PermissionAsk):
            cell.asking.add(event.permit_id)
        else:
            sent += 1
        out.append(event)
    return out, sent, False
