"""The Anthropic Messages door: `POST /v1/messages` and `/v1/messages/count_tokens`, for the `anthropic` SDKs and Claude Code.

A Messages request is read into the OpenAI form the `/v1` door already
understands (`anthropic_shapes`), so it finds its hum by the same rules
(`X-Hum-Sigil`, a session header such as Claude Code's
`X-Claude-Code-Session-Id`, a tool call id, else the transcript key) and makes
the same prompt (`openai.plan_prompt`). The bloom's petals go back as the
Messages API's events: `message_start`, `ping`, text and `tool_use` content
blocks (`text_delta`, `input_json_delta`), `message_delta` with the stop
reason and usage, `message_stop`; or as one message when not streaming.
Every error, the middlewares' included, is Anthropic-shaped.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hum.interfaces import NOTE
from hum.surfaces.answers import Answer, StopCutter
from hum.surfaces.anthropic_shapes import (
    anthropic_error,
    check_limits,
    check_messages,
    check_tools,
    estimate_tokens,
)
from hum.surfaces.http import (
    HUMD_KEY,
    MAX_BODY_KEY,
    Handler,
    HumTap,
    SurfaceError,
    finish_sse,
    open_sse,
    read_json,
    sse_data,
    write_or_gone,
)
from hum.surfaces.openai import SIGIL_HEADER, choose_hum, petal_error, plan_prompt
from hum.surfaces.openai_messages import ToolSieve, is_title_request, make_title
from hum.wire.tones import Tone

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hum.node.humd import Humd

log = logging.getLogger(__name__)

PATH = "/v1/messages"

# A bloom's finish reason as the Messages API's `stop_reason`.
_STOP = {"stop": "end_turn", "end_turn": "end_turn", "cancelled": "end_turn", "length": "max_tokens", "max_tokens": "max_tokens"}


def add_routes(app: web.Application) -> None:
    # Claude Code posts to `/v1/messages?beta=true`: the query string never matters.
    app.router.add_post(PATH, messages)
    app.router.add_post(f"{PATH}/count_tokens", count_tokens)


@web.middleware
async def anthropic_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure under `/v1/messages` (auth, body limit, a bad block, a lost home) in the Messages API's error shape."""
    if not request.path.startswith(PATH):
        return await handler(request)
    try:
        return await handler(request)
    except SurfaceError as exc:
        return anthropic_error(exc)
    except web.HTTPRequestEntityTooLarge:
        return anthropic_error(SurfaceError(413, f"request body is over the limit of {request.app[MAX_BODY_KEY]} bytes"))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return anthropic_error(SurfaceError(exc.status, exc.reason))
    except ConnectionError:
        raise
    except Exception:
        log.exception("anthropic request %s failed", request.path)
        return anthropic_error(SurfaceError(500, "internal error in the hum surface (logged by humd)"))


def check_model(humd: Humd, model: str) -> None:
    """A model name must be one of this humd's workers (Claude Code is started with `--model <worker>`)."""
    models = humd.brood.models()
    if model not in models:
        raise SurfaceError(404, f"model: {model[:80]!r} is not a worker of this humd; its workers are {', '.join(models)}")


async def count_tokens(request: web.Request) -> web.Response:
    body = await read_json(request)
    check_limits(body, counting=True)
    check_model(request.app[HUMD_KEY], str(body["model"]))
    return web.json_response({"input_tokens": estimate_tokens(check_messages(body), check_tools(body))})


async def messages(request: web.Request) -> web.StreamResponse:
    humd = request.app[HUMD_KEY]
    body = await read_json(request)
    stops = check_limits(body)
    chat = check_messages(body)
    tools = check_tools(body)
    model = str(body["model"])
    check_model(humd, model)
    stream = body.get("stream") is True
    if is_title_request(chat):
        log.info("answered a title request directly, outside any hum")
        reply = Answer("title", 0, model, ToolSieve(False), StopCutter([]))
        return await _answer(request, reply, _titled(make_title(chat)), stream)
    target = await choose_hum(humd, request, chat)
    text, fields, native = plan_prompt(humd, target, chat, tools, model)
    tap = HumTap(humd, "anthropic")
    try:
        req = tap.prompt(target, text, **fields)
        petals = tap.bloom(req)
        prompt = await anext(petals)
        reply = Answer(str(prompt["sigil"]), int(prompt["wane"]), model, ToolSieve(bool(tools) and not native), StopCutter(stops), tap)
        return await _answer(request, reply, petals, stream)
    finally:
        tap.close()


async def _titled(title: str) -> AsyncIterator[Tone]:
    yield Tone(chi="chunk", delta=title, chunkType="text_delta")
    yield Tone(chi="finish", finishReason="stop", usage={"input_tokens": 0, "output_tokens": 0})


def _tool_uses(reply: Answer) -> list[dict[str, Any]]:
    return [{"type": "tool_use", "id": cid, "name": name, "input": args} for cid, name, args in reply.tool_calls()]


def _stop(reply: Answer, uses: list[dict[str, Any]]) -> dict[str, Any]:
    if reply.cutter.hit is not None:
        return {"stop_reason": "stop_sequence", "stop_sequence": reply.cutter.hit}
    reason = "tool_use" if uses else _STOP.get(reply.finish_reason(), "end_turn")
    return {"stop_reason": reason, "stop_sequence": None}


def _message(reply: Answer, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"msg_{reply.sigil}_{reply.wane}", "type": "message", "role": "assistant", "model": reply.model, "content": content}


async def _answer(request: web.Request, reply: Answer, petals: AsyncIterator[Tone], stream: bool) -> web.StreamResponse:
    if stream:
        return await _stream(request, reply, petals)
    text = ""
    async for tone in petals:
        if tone.chi == "error":
            raise petal_error(tone)
        text += reply.text(tone)
    uses = _tool_uses(reply)
    content = ([{"type": "text", "text": text}] if text or not uses else []) + uses
    out = _message(reply, content) | _stop(reply, uses) | {"usage": reply.usage()}
    return web.json_response(out, headers={SIGIL_HEADER: reply.sigil})


def event(name: str, data: dict[str, Any]) -> bytes:
    return sse_data({"type": name, **data}, event=name)


class Events:
    """The Messages API's SSE events on one response, content block by content block; events due at once go in one write."""

    def __init__(self, resp: web.StreamResponse) -> None:
        self.resp = resp
        self.index = -1
        self.text_open = False

    async def send(self, *events: bytes) -> bool:
        return await write_or_gone(self.resp, b"".join(events))

    async def text(self, text: str) -> bool:
        if not text:
            return True
        delta = event("content_block_delta", {"index": self.index + (not self.text_open), "delta": {"type": "text_delta", "text": text}})
        if self.text_open:
            return await self.send(delta)
        self.index += 1
        self.text_open = True
        return await self.send(event("content_block_start", {"index": self.index, "content_block": {"type": "text", "text": ""}}), delta)

    def close_text(self) -> list[bytes]:
        if not self.text_open:
            return []
        self.text_open = False
        return [event("content_block_stop", {"index": self.index})]

    def tool_use(self, use: dict[str, Any]) -> list[bytes]:
        self.index += 1
        start = {"index": self.index, "content_block": {**use, "input": {}}}
        delta = {"index": self.index, "delta": {"type": "input_json_delta", "partial_json": json.dumps(use["input"])}}
        return [event("content_block_start", start), event("content_block_delta", delta), event("content_block_stop", {"index": self.index})]


async def _stream(request: web.Request, reply: Answer, petals: AsyncIterator[Tone]) -> web.StreamResponse:
    resp = await open_sse(request, {SIGIL_HEADER: reply.sigil})
    events = Events(resp)
    start = _message(reply, []) | {"stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}
    if not await events.send(event("message_start", {"message": start}), event("ping", {})):
        return resp
    async for tone in petals:
        if tone.chi == "chunk" and tone.get("chunkType") == NOTE:  # hum's word, not the answer's: an SSE comment clients skip
            if not await write_or_gone(resp, f": note: {' '.join(str(tone.get('delta', '')).split())}\n\n".encode()):
                return resp
            continue
        if tone.chi == "error":
            err = petal_error(tone)
            await events.send(event("error", {"error": {"type": "api_error", "message": err.message}}))
            await finish_sse(resp)
            return resp
        if not await events.text(reply.text(tone)):
            return resp  # the client left; the bloom goes on in the hum
    uses = _tool_uses(reply)
    ending = [*events.close_text(), *(e for use in uses for e in events.tool_use(use))]
    ending += [event("message_delta", {"delta": _stop(reply, uses), "usage": reply.usage()}), event("message_stop", {})]
    await events.send(*ending)
    await finish_sse(resp)
    return resp
