"""A local stand-in for the Anthropic Messages API, speaking its real SSE wire format.

It records what clients send and whether they hung up mid-stream, so tests can
assert that a cancel reached the upstream. A reply is text, or a list of
`ToolUse`s streamed as the API streams them (`tool_use` blocks whose input
arrives in `input_json_delta` pieces, then `stop_reason: "tool_use"`); like the
API, it refuses (400) `tool_use` and `tool_result` blocks that do not pair up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# Pace of streamed words: slow enough that a cancel lands mid-stream, fast
# enough that whole replies take well under a second.
WORD_DELAY_SECONDS = 0.01

# Characters of a tool input per `input_json_delta`: small, so every input
# arrives split across several events, as it does from the API.
INPUT_PIECE = 5


@dataclass
class ToolUse:
    """One tool call the double's model makes."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    content = message.get("content")
    return [b for b in content if b.get("type") == kind] if isinstance(content, list) else []


def pairing_problem(messages: list[dict[str, Any]]) -> str | None:
    """What the API says of tool_use blocks not answered by the next message's tool_result blocks."""
    for i, message in enumerate(messages):
        asked = [b["id"] for b in _blocks(message, "tool_use")] if message.get("role") == "assistant" else []
        following = messages[i + 1] if i + 1 < len(messages) else {}
        answered = [b.get("tool_use_id") for b in _blocks(following, "tool_result")]
        if asked and sorted(asked) != sorted(answered):
            return (
                f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(asked)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        if message.get("role") == "user" and _blocks(message, "tool_result"):
            before = messages[i - 1] if i > 0 else {}
            known = {b["id"] for b in _blocks(before, "tool_use")}
            stray = [b.get("tool_use_id") for b in _blocks(message, "tool_result") if b.get("tool_use_id") not in known]
            if stray:
                return (
                    f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{', '.join(map(str, stray))}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message."
                )
    return None


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
        reply: Callable[[dict[str, Any]], str | list[ToolUse]] = echo,
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
        self.tool_uses = 0
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
        problem = pairing_problem(body.get("messages") or [])
        if problem:
            return web.json_response(
                {"type": "error", "error": {"type": "invalid_request_error", "message": problem}},
                status=400,
            )
        reply = self.reply(body)
        input_tokens = _count(body)
        message = {
            "id": f"msg_double_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "double"),
            "stop_reason": None,
            "stop_sequence": None,
        }
        if not isinstance(reply, str):
            return await self._tool_uses(request, message, input_tokens, reply)
        text = reply
        words = text.split(" ")
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

    async def _tool_uses(
        self, request: web.Request, message: dict[str, Any], input_tokens: int, uses: list[ToolUse]
    ) -> web.StreamResponse:
        """A streamed reply that only calls tools, event by event as the API sends one."""
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            await resp.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        start = message | {"content": [], "usage": {"input_tokens": input_tokens, "output_tokens": 1}}
        await send("message_start", {"type": "message_start", "message": start})
        pieces = 0
        for index, use in enumerate(uses):
            self.tool_uses += 1
            block = {"type": "tool_use", "id": f"toolu_double{self.tool_uses}", "name": use.name, "input": {}}
            await send("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
            text = json.dumps(use.input)
            # The API opens every input with an empty piece.
            for piece in ["", *(text[at : at + INPUT_PIECE] for at in range(0, len(text), INPUT_PIECE))]:
                delta = {"type": "input_json_delta", "partial_json": piece}
                await send("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                pieces += 1
            await send("content_block_stop", {"type": "content_block_stop", "index": index})
        await send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": pieces},
            },
        )
        await send("message_stop", {"type": "message_stop"})
        await resp.write_eof()
        return resp
