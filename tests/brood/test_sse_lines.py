"""SSE parsing reads the body in whatever pieces the network brings, never line by line."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hum.brood.http_stream import MAX_SSE_LINE, sse_events
from hum.errors import WorkerError

BODY = (
    ": a comment\r\n"
    'event: message_start\r\ndata: {"a":1}\r\n\r\n'
    "data: one\ndata: two\n\n"
    "data: caf\u00e9 \U0001f41d\n\n"
    "data: cut at the end"
).encode()
EVENTS = [("message_start", '{"a":1}'), ("message", "one\ntwo"), ("message", "caf\u00e9 \U0001f41d"), ("message", "cut at the end")]


class Pieces:
    """A response whose body arrives in the given pieces."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.content = self
        self.pieces = pieces

    async def iter_any(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


async def events_of(pieces: list[bytes]) -> list[tuple[str, str]]:
    return [e async for e in sse_events(Pieces(pieces))]  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(BODY)])
async def test_events_are_the_same_however_the_body_is_cut(size: int) -> None:
    pieces = [BODY[i : i + size] for i in range(0, len(BODY), size)]
    assert await events_of(pieces) == EVENTS


async def test_a_line_without_end_past_the_limit_is_an_upstream_error() -> None:
    with pytest.raises(WorkerError) as err:
        await events_of([b"data: " + b"x" * (MAX_SSE_LINE + 1)])
    assert err.value.qualifier == "upstream-error"
