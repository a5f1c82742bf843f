"""A local stand-in for an OpenAI-compatible chat completions API, speaking its real SSE wire format.

Replies are text or tool calls. Tool calls stream as the OpenAI API streams
them: the first piece of each call carries its `index`, `id`, `type` and
`function.name` with empty arguments, later pieces only `index` and a slice of
`function.arguments`; the choice ends with `finish_reason: "tool_calls"`, and
a `choices: []` usage chunk follows when `stream_options.include_usage` asks.
Like the API, it refuses (400) a conversation whose tool messages do not pair
up with the assistant `tool_calls` before them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# Characters of a call's arguments per streamed piece: small, so every call's
# arguments arrive split across several chunks, as they do from the API.
ARGUMENT_PIECE = 5


@dataclass
class Call:
    """One tool call the double's model makes."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


Reply = str | list[Call]


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def echo(body: dict[str, Any]) -> Reply:
    return f"you said: {last_user_text(body)}"


def pairing_problem(messages: list[dict[str, Any]]) -> str | None:
    """What the API says of tool messages that do not answer the assistant calls right before them."""
    open_ids: list[str] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in open_ids:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response "
                    "to a preceeding message with 'tool_calls'."
                )
            open_ids.remove(message["tool_call_id"])
            continue
        if open_ids:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(open_ids)}"
            )
        if role == "assistant":
            open_ids = [str(c.get("id")) for c in message.get("tool_calls") or []]
    return None


class OpenAIDouble:
    """An aiohttp server answering `/v1/chat/completions` like the OpenAI API does."""

    def __init__(self, *, api_key: str = "test-key", reply: Callable[[dict[str, Any]], Reply] = echo) -> None:
        self.api_key = api_key
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.calls_made = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    @staticmethod
    def _error(status: int, message: str, type_: str, code: str | None = None) -> web.Response:
        return web.json_response({"error": {"message": message, "type": type_, "param": None, "code": code}}, status=status)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        body = await request.json()
        self.requests.append(body)
        problem = pairing_problem(body.get("messages") or [])
        if problem:
            return self._error(400, problem, "invalid_request_error")
        reply = self.reply(body)
        meta = {
            "id": f"chatcmpl-double-{len(self.requests)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "double"),
            "system_fingerprint": "fp_double",
        }
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include_usage else {}
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            await resp.write(f"data: {json.dumps({**meta, 'choices': [choice], **extra})}\n\n".encode())

        pieces = 0
        if isinstance(reply, str):
            await send({"role": "assistant", "content": "", "refusal": None})
            for i, word in enumerate(reply.split(" ")):
                await send({"content": word if i == 0 else " " + word})
                pieces += 1
            finish = "stop"
        else:
            for index, call in enumerate(reply):
                self.calls_made += 1
                head = {"index": index, "id": f"call_double{self.calls_made}", "type": "function", "function": {"name": call.name, "arguments": ""}}
                first = {"tool_calls": [head]}
                if index == 0:
                    first = {"role": "assistant", "content": None, **first, "refusal": None}
                await send(first)
                arguments = json.dumps(call.arguments)
                for at in range(0, len(arguments), ARGUMENT_PIECE):
                    await send({"tool_calls": [{"index": index, "function": {"arguments": arguments[at : at + ARGUMENT_PIECE]}}]})
                    pieces += 1
            finish = "tool_calls"
        await send({}, finish)
        if include_usage:
            prompt = len(json.dumps(body.get("messages") or []).split())
            usage = {"prompt_tokens": prompt, "completion_tokens": pieces, "total_tokens": prompt + pieces}
            await resp.write(f"data: {json.dumps({**meta, 'choices': [], 'usage': usage})}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
