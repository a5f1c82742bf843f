"""A fake OpenAI-compatible upstream for the bench: real SSE `chat.completion.chunk`s, paced on request.

Each chunk's content is the moment it was written (`time.monotonic_ns()`,
the machine-wide monotonic clock, then a space), so whoever receives it, in
this process or another, knows how long it took to arrive. The last user
message says what to send, e.g. `bench chunks=2000 pace=200 hold=20`:
`chunks` contents, `pace` per second (0: flat out), and `hold` (start only
once that many streams are open at once, to prove they run side by side).
Anything else is answered with a few stamped chunks at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

# Chunks of an answer that does not say how many: enough for a first token
# and a finish, little enough that minting thousands of hums stays quick.
DEFAULT_CHUNKS = 4

# Flat out, this many chunks go in one write: the upstream must never be what
# limits a throughput measure, and one write per chunk would be.
FLAT_OUT_BATCH = 256

FRAME = 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench","choices":[{"index":0,"delta":{"content":"%d "},"finish_reason":null}]}\n\n'
LAST = (
    'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":%d,"total_tokens":%d}}\n\n'
    "data: [DONE]\n\n"
)


def ask(chunks: int, pace: float = 0.0, hold: int = 0) -> str:
    """The prompt that makes this upstream send `chunks` stamped chunks at `pace` per second."""
    return f"bench chunks={chunks} pace={pace:g} hold={hold}"


def stamps(text: str) -> list[int]:
    """The send times carried by a piece of answer text (one per chunk)."""
    return [int(word) for word in text.split() if word.isdigit()]


def _order(body: dict[str, Any]) -> tuple[int, float, int]:
    text = ""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            break
    fields = dict(w.split("=", 1) for w in text.split() if "=" in w)
    try:
        return int(fields.get("chunks", DEFAULT_CHUNKS)), float(fields.get("pace", 0)), int(fields.get("hold", 0))
    except ValueError:
        return DEFAULT_CHUNKS, 0.0, 0


class FakeUpstream:
    """An aiohttp server on loopback answering `POST /v1/chat/completions` as an SSE stream."""

    def __init__(self) -> None:
        self.base_url = ""
        self.open_streams = 0
        self.most_at_once = 0
        self._held: list[asyncio.Event] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "bench", "object": "model", "owned_by": "bench"}]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        chunks, pace, hold = _order(await request.json())
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        self.open_streams += 1
        self.most_at_once = max(self.most_at_once, self.open_streams)
        try:
            if hold:
                gate = asyncio.Event()
                self._held.append(gate)
                if self.open_streams >= hold:  # all there at once: let every held stream go
                    for held in self._held:
                        held.set()
                    self._held.clear()
                await gate.wait()
            await self._stream(resp, chunks, pace)
        finally:
            self.open_streams -= 1
        await resp.write_eof()
        return resp

    @staticmethod
    async def _stream(resp: web.StreamResponse, chunks: int, pace: float) -> None:
        if pace <= 0:
            for start in range(0, chunks, FLAT_OUT_BATCH):
                now = time.monotonic_ns()
                batch = "".join(FRAME % now for _ in range(min(FLAT_OUT_BATCH, chunks - start)))
                await resp.write(batch.encode())
        else:
            began = time.monotonic()
            for i in range(chunks):
                delay = began + i / pace - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await resp.write((FRAME % time.monotonic_ns()).encode())
        await resp.write((LAST % (chunks, chunks + 1)).encode())
