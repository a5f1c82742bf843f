"""The bloom runner: feeds a hum's open blooms to the brood and the worker's events back to the router."""

from __future__ import annotations

import logging

from hum.errors import WorkerError
from hum.interfaces import Done
from hum.node.shell import BloomShell

log = logging.getLogger(__name__)


async def run_blooms(humd: BloomShell, sg: str) -> None:
    """Run blooms of hum `sg` until it has no open bloom and no queued prompt."""
    while (request := humd.bloom_request(sg)) is not None:
        try:
            finished = False
            # Read to the stream's own end, which comes right after `Done`: a generator left
            # unfinished is closed later through the loop's thread-safe wake-up, once per bloom.
            async for batch in humd.brood.bloom_batches(sg, request.turns, model=request.model, tools=request.tools):
                humd.worker_event(sg, *batch)  # what one read of the worker brought, decided at once
                finished = isinstance(batch[-1], Done)
            if not finished:
                raise WorkerError("worker-crash", "the worker ended the bloom without finishing it")
        except WorkerError as exc:
            humd.worker_event(sg, exc)
        except Exception as exc:  # a worker bug must close the bloom, never hang it
            log.exception("%s: bloom of %s failed", humd.name, sg)
            humd.worker_event(sg, WorkerError("worker-crash", str(exc)))
