"""Small helpers for brood tests."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

from hum.interfaces import Delta, Done, WorkerEvent

# Upper bound for anything a test awaits; generous for a loaded 2-core CI box.
TEST_TIMEOUT_SECONDS = 30.0


async def collect(stream: AsyncIterator[WorkerEvent]) -> tuple[list[Delta], Done]:
    """All deltas of a bloom and its Done; fails if the stream ends without Done."""
    deltas: list[Delta] = []
    async for ev in stream:
        if isinstance(ev, Done):
            return deltas, ev
        deltas.append(ev)
    raise AssertionError("stream ended without Done")


def text_of(deltas: list[Delta]) -> str:
    return "".join(d.text for d in deltas if d.chunk_type == "text_delta")


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
