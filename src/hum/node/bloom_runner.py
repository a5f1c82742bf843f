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
            async for batch in humd.brood.bloom_batches(sg, request.turns, model=request.model, tools=request.tools):
                for event in batch:  # what one read of the worker brought
                    humd.worker_event(sg, event)
                if isinstance(batch[-1], Done):
                    break
            else:
                raise WorkerError("worker-crash", "the worker ended the bloom without finishing it")
        except WorkerError as exc:
            humd.worker_event(sg, exc)
        except Exception as exc:  # a worker bug must close the bloom, never hang it
            log.exception("%s: bloom of %s failed", humd.name, sg)
            humd.worker_event(sg, WorkerError("worker-crash", str(exc)))
