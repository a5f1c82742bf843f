"""One warm worker cell of the brood, and the watch kept on its stream while it blooms.

The watch makes a worker's stream safe to hand to a hum: no hang (the stall
guard), no crash leaking out as anything but a `WorkerError`, nothing after a
cancel but the `Done` that ends the bloom.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from hum.brood.stall import StallGuard
from hum.errors import WorkerError
from hum.interfaces import Done, PermissionAsk, Usage, Worker, WorkerEvent


@dataclass
class Cell:
    name: str
    worker: Worker
    last_used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    busy: bool = False
    cancelled: bool = False
    closed: bool = False
    # Asks of the running bloom waiting for a person: no stall while they wait.
    asking: set[str] = field(default_factory=set)
    # The stall guard of the event being awaited, moved when an answer arrives.
    stall: StallGuard = field(default_factory=StallGuard)


@dataclass(frozen=True)
class Watch:
    """How long a cell's worker may stay silent, and what to do with a cell that failed."""

    stall_seconds: float
    cancel_grace_seconds: float
    discard: Callable[[], Awaitable[None]]  # the brood lets the cell go (it is closed)


async def watched(cell: Cell, events: AsyncIterator[WorkerEvent], watch: Watch) -> AsyncIterator[WorkerEvent]:
    """The worker's stream, made safe: no hang, no crash leak, nothing after cancel."""
    stream = events.__aiter__()
    sent = 0
    try:
        while True:
            event = await _next_event(cell, stream, sent, watch)
            if isinstance(event, Done):
                # Let the worker finish its clean-up now, not whenever its
                # generator is collected (which could be mid-way through the next bloom).
                with contextlib.suppress(Exception):
                    await stream.aclose()  # type: ignore[attr-defined]
                yield Done("cancelled", event.usage) if cell.cancelled else event
                return
            if cell.cancelled:  # "no further chunks after cancel" holds even for a slow worker
                continue
            if isinstance(event, PermissionAsk):
                cell.asking.add(event.permit_id)
            else:
                sent += 1
            yield event
    except WorkerError:
        if not cell.worker.healthy():
            await watch.discard()
        raise
    except (asyncio.CancelledError, GeneratorExit):
        raise
    except Exception as exc:
        await watch.discard()
        raise WorkerError("worker-crash", f"{cell.name} worker crashed: {exc!r}") from exc
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]


async def _next_event(cell: Cell, stream: AsyncIterator[WorkerEvent], sent: int, watch: Watch) -> WorkerEvent:
    """The worker's next event under the stall guard. A stream that ends or falls silent
    after a cancel ends the bloom `cancelled` (with `sent` chunks); otherwise a WorkerError."""
    timeout = watch.cancel_grace_seconds if cell.cancelled else watch.stall_seconds
    try:
        # a stall guard, not wait_for: no task nor timer per event on the hot path;
        # a worker waiting for a person's answer is not stalled (the router times the ask)
        async with cell.stall.waiting(None if cell.asking and not cell.cancelled else timeout):
            return await anext(stream)
    except StopAsyncIteration:
        if cell.cancelled:  # the worker ended quietly; the hum still gets its Done
            return Done("cancelled", Usage(0, sent))
        raise WorkerError("worker-crash", f"{cell.name} worker ended the bloom without finishing") from None
    except TimeoutError:
        await watch.discard()
        if cell.cancelled:
            return Done("cancelled", Usage(0, sent))
        raise WorkerError("worker-stall", f"{cell.name} worker sent nothing for {watch.stall_seconds:g}s") from None
