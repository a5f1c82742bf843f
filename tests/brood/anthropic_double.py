"""A local stand-in for the Anthropic Messages API, speaking its real SSE wire format.

It records what clients send and whether they hung up mid-stream, so tests can
assert that a cancel reached the upstream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

# Pace of streamed words: slow enough that a cancel lands mid-stream, fast
# enough that whole replies take well under a second.
WORD_DELAY_SECONDS = 0.01


def last_user_text(body: dict[str, Any]) -> str:
    """The newest user text in a Messages request, skipping Claude Code's injected reminders."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [
            block.get("text", "")
            for block in content or []
            if block.get("type") == "text"
            and not block.get("text", "").startswith("<system-reminder>")
        ]
        if texts:
            return texts[-1]
    return ""


def echo(body: dict[str, Any]) -> str:
    return f"you said: {last_user_text(body)}"


def _count(body: dict[str, Any]) -> int:
    """The double's token count: whitespace words of everything sent."""
    return len(json.dumps(body.get("messages") or []).split()) + len(
        str(body.get("system") or "").split()
    )


class AnthropicDouble:
    """An aiohttp server answering `/v1/messages` like the Messages API does."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        reply: Callable[[dict[str, Any]], str] = echo,
        word_delay: float = WORD_DELAY_SECONDS,
    ) -> None:
        self.api_key = api_key
        self.reply = reply
        self.word_delay = word_delay
        self.endless = False  # stream words until the client hangs up
        self.fail_mid_stream = False  # send an `error` event after the first word
        self.reject: str | None = None  # answer every request with a 400 carrying this message
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.disconnected = asyncio.Event()
        self.first_delta_sent = asyncio.Event()
        self.deltas_sent = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("HEAD", "/", self._head)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def message_requests(self) -> list[dict[str, Any]]:
        """Bodies of the streamed /v1/messages calls that carried a conversation."""
        return [r for r in self.requests if r.get("stream")]

    async def _head(self, request: web.Request) -> web.Response:
        self.paths.append(f"HEAD {request.path_qs}")
        return web.Response()

    async def _other(self, request: web.Request) -> web.Response:
        self.paths.append(f"{request.method} {request.path_qs}")
        return web.json_response(
            {"type": "error", "error": {"type": "not_found_error", "message": "not here"}},
            status=404,
        )

    async def _count_tokens(self, request: web.Request) -> web.Response:
        self.paths.append(f"POST {request.path_qs}")
        return web.json_response({"input_tokens": _count(await request.json())})

    def _authorised(self, request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return self.api_key in (request.headers.get("x-api-key"), bearer)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(f"POST {request.path_qs}")
        if not self._authorised(request):
            return web.json_response(
                {
                    "type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                },
                status=401,
            )
        body = await request.json()
        self.requests.append(body)
        if self.reject:
            return web.json_response(
                {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": self.reject},
                },
                status=400,
            )
        text = self.reply(body)
        words = text.split(" ")
        input_tokens = _count(body)
        message = {
            "id": f"msg_double_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "double"),
            "stop_reason": None,
            "stop_sequence": None,
        }
        if not body.get("stream"):
            return web.json_response(
                message
                | {
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": input_tokens, "output_tokens": len(words)},
                }
            )
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            await resp.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        try:
            await send(
                "message_start",
                {
                    "type": "message_start",
                    "message": message
                    | {"content": [], "usage": {"input_tokens": input_tokens, "output_tokens": 1}},
                },
            )
            await send(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            await send("ping", {"type": "ping"})
            sent = 0
            while sent < len(words) or self.endless:
                word = words[sent % len(words)]
                piece = word if sent == 0 else " " + word
                await send(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
                sent += 1
                self.deltas_sent += 1
                self.first_delta_sent.set()
                if self.fail_mid_stream:
                    await send(
                        "error",
                        {
                            "type": "error",
                            "error": {"type": "overloaded_error", "message": "Overloaded"},
                        },
                    )
                    return resp
                await asyncio.sleep(self.word_delay)
            await send("content_block_stop", {"type": "content_block_stop", "index": 0})
            await send(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": sent},
                },
            )
            await send("message_stop", {"type": "message_stop"})
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            # The client hung up: exactly what a cancel should look like from here.
            self.disconnected.set()
        return resp
