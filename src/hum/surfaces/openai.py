"""The OpenAI-compatible surface: `/v1/models`, `/v1/chat/completions`, and hum event replay.

A chat-completions request carries the whole conversation; a hum already
holds it. So the request's last user (or tool) turn becomes the prompt, and
the rest only says *which* hum it continues (see `choose_hum`).

Tools go natively to a worker that takes them (`Brood.native_tools`: the
OpenAI-compatible and Anthropic upstreams): the request's `tools` ride the
prompt petal, and the worker's calls come back as `chunkType:"tool_call"`
chunks (delta = JSON `{id, name, arguments}`). Every other worker (a local
model, a scripted one, a CLI) gets a text protocol the surface owns: the tool
list goes into the system prompt, the model answers
`<tool_call>{"name":..,"arguments":{..}}</tool_call>`, and the surface turns
that into `tool_calls`. Either way the call is a chunk petal of the hum, and
the client's `role:"tool"` answer a prompt petal (with `toolResults`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hum.brood.transcript import (
    tool_calls,
)
from hum.core.bloom import key_of_turns
from hum.interfaces import NOTE
from hum.surfaces.http import (
    FIRST_TONE_SECONDS,
    HUMD_KEY,
    KEEPALIVE_SECONDS,
    HeldEvents,
    HumTap,
    HumTarget,
    SurfaceError,
    error_body,
    finish_sse,
    known_hum,
    need_hum,
    new_sid,
    open_sse,
    read_json,
    sse_data,
    tone_error,
    write_or_gone,
)
from hum.surfaces.openai_messages import (
    ToolSieve,
    content_text,
    conversation,
    is_title_request,
    make_title,
    system_text,
    tool_names,
    tools_system,
    user_turn,
)
from hum.surfaces.openai_shapes import ChunkFrames, check_messages, check_tools
from hum.surfaces.permits import said_as_text
from hum.wire.tones import Tone, is_petal

if TYPE_CHECKING:
    from hum.core.hum import Hum
    from hum.node.humd import Humd


log = logging.getLogger(__name__)

# Tool call ids name their hum (`call_id`), so a tool result finds its way back to it.
_CALL_ID = re.compile(r"^call_([0-9a-f]{12})_\d+_\d+$")


# Headers naming the hum or the client's session.
SIGIL_HEADER = "X-Hum-Sigil"

# How long a stream's head waits for the first token to share its write (one socket write, and
# one wake-up of the client, fewer per request): a fast upstream's first token comes well within
# it, nobody notices a quarter second, and no client gives up on headers so soon.
HEAD_HOLD_SECONDS = 0.25
# (Claude Code names its session in its own header: one hum per Claude Code session.)
SESSION_HEADERS = ("x-session-id", "x-session-affinity", "x-claude-code-session-id")

_FINISH = {"stop": "stop", "end_turn": "stop", "cancelled": "stop", "length": "length", "max_tokens": "length", "tool_calls": "tool_calls", "tool_use": "tool_calls"}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/hums", hums)
    app.router.add_get("/v1/hums/{sigil}/events", hum_events)


async def models(request: web.Request) -> web.Response:
    humd = request.app[HUMD_KEY]
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "hum"} for m in humd.brood.models()]
    return web.json_response({"object": "list", "data": data})


async def hums(request: web.Request) -> web.Response:
    return web.json_response({"hums": request.app[HUMD_KEY].list_hums()})


# -- reading a request ---------------------------------------------------------------


def blooms_here(humd: Humd, sg: str) -> bool:
    """Whether hum `sg` blooms on this humd's brood: its home is here, or it is new (a prompt by sid mints it here)."""
    hum = humd.hum(sg)
    if hum is not None:
        return hum.home == humd.id
    return not humd.knows(sg)


def native_tools(humd: Humd, target: HumTarget, model: str) -> bool:
    """Whether the request's tools go to its worker natively.

    Only this humd's brood can be asked; a hum blooming elsewhere gets the
    text protocol, which every worker follows.
    """
    known = model if model in humd.brood.models() else None
    return blooms_here(humd, target.sigil) and humd.brood.native_tools(known)


def native_calls(hum: Hum | None) -> set[str]:
    """Ids (hum's and the worker's) of the native calls the hum's last bloom made: what a result now answers."""
    last = hum.last_bloom() if hum is not None else None
    return {cid for call, ours in tool_calls(last) for cid in (call.id, ours)} if last is not None else set()


def last_system(hum: Hum | None) -> str | None:
    if hum is None:
        return None
    return hum.last_system()


async def choose_hum(humd: Humd, request: web.Request, messages: list[dict[str, Any]]) -> HumTarget:
    """Which hum this request continues: header sigil, client session, tool call id, transcript, or a new one."""
    named = request.headers.get(SIGIL_HEADER)
    if named:
        await need_hum(humd, named)
        return HumTarget(named)
    for header in SESSION_HEADERS:
        session = request.headers.get(header)
        if session:
            return HumTarget.for_sid(humd, session)
    for msg in reversed(messages):
        for call in msg.get("tool_calls") or []:
            m = _CALL_ID.match(str(call.get("id", ""))) if isinstance(call, dict) else None
            if m and known_hum(humd, m.group(1)):
                return HumTarget(m.group(1))
    last_assistant = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    earlier = conversation(messages[: last_assistant + 1])
    key = key_of_turns(earlier) if earlier else None
    continued = humd.continuing(key) if key is not None else None
    if continued is not None:
        return HumTarget(continued)
    return HumTarget.for_sid(humd, new_sid("openai"))


# -- turning petals into a completion ------------------------------------------------


def _usage(finish: Tone | None) -> dict[str, Any]:
    usage = (finish or {}).get("usage") or {}
    prompt, completion = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if "cached_input_tokens" in usage:  # the prompt tokens the worker did not read again, as OpenAI says it
        out["prompt_tokens_details"] = {"cached_tokens": int(usage["cached_input_tokens"])}
    return out


def petal_error(tone: Tone) -> SurfaceError:
    if not is_petal(tone):
        return tone_error(tone)
    return SurfaceError(502, str(tone.get("message") or "the bloom failed"), code=str(tone.get("qualifier") or "worker-error"))


def plan_prompt(humd: Humd, target: HumTarget, messages: list[dict[str, Any]], tools: list[dict[str, Any]], model: str) -> tuple[str, dict[str, Any], bool]:
    """The prompt a chat request makes of hum `target`: its text, the prompt's other fields, and whether tools go natively.

    `messages` and `tools` are in OpenAI's form (the Anthropic door converts to it first).
    """
    names = tool_names(messages)
    last_assistant = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    tail = [m for m in messages[last_assistant + 1 :] if m["role"] in ("user", "tool")]
    native = bool(tools) and native_tools(humd, target, model)
    fields: dict[str, Any] = {}
    if native:
        # Results of native calls reach the worker as tool turns (from `toolResults`), so the
        # text keeps only the rest: what the user said, and results of text-protocol calls.
        answered = native_calls(humd.hum(target.sigil))
        text = user_turn([m for m in tail if m["role"] == "user" or str(m.get("tool_call_id")) not in answered], names)
        system = system_text(messages)
        fields["tools"] = tools
    else:
        text = user_turn(tail, names)
        system = "\n\n".join(s for s in (system_text(messages), tools_system(tools)) if s)
    if system and system != last_system(humd.hum(target.sigil)):
        fields["system"] = system
    if model in humd.brood.models():
        fields["modelId"] = model
    results = [{"toolCallId": m.get("tool_call_id"), "content": content_text(m.get("content"))} for m in tail if m["role"] == "tool"]
    if results:
        fields["toolResults"] = results
    return text, fields, native


async def chat_completions(request: web.Request) -> web.StreamResponse:
    humd = request.app[HUMD_KEY]
    body = await read_json(request)
    messages = check_messages(body)
    tools = check_tools(body)
    model = str(body.get("model") or "default")
    stream = bool(body.get("stream"))
    options = body.get("stream_options")
    include_usage = stream and isinstance(options, dict) and bool(options.get("include_usage"))
    if is_title_request(messages):
        log.info("answered a title request directly, outside any hum")
        return await _answer_directly(request, make_title(messages), model, stream, include_usage)

    target = await choose_hum(humd, request, messages)
    text, fields, native = plan_prompt(humd, target, messages, tools, model)

    tap = HumTap(humd, "openai")
    try:
        req = tap.prompt(target, text, **fields)
        petals = tap.bloom(req)
        prompt = await anext(petals)
        sg, wane = str(prompt["sigil"]), int(prompt["wane"])
        meta = {"id": f"chatcmpl-{sg}-{wane}", "created": int(time.time()), "model": model}
        sieve = ToolSieve(bool(tools) and not native)
        names = {**humd.ensemble.names, humd.id: humd.name}  # a device that answers an ask, by its name
        if not stream:
            return await _complete(petals, meta, sieve, sg, wane, names)
        return await _stream(request, tap, petals, ChunkFrames(meta, include_usage), sieve, sg, wane, names)
    finally:
        tap.close()


async def _complete(petals: Any, meta: dict[str, Any], sieve: ToolSieve, sg: str, wane: int, names: Mapping[str, str]) -> web.Response:
    text = ""
    finish: Tone | None = None
    async for tone in petals:
        if tone.chi == "chunk":
            if tone.get("chunkType") == "tool_call":
                sieve.native(str(tone.get("delta", "")))
            elif tone.get("chunkType", "text_delta") == "text_delta":
                text += sieve.feed(str(tone.get("delta", "")))
        elif tone.chi == "finish":
            finish = tone
        elif tone.chi == "error":
            raise petal_error(tone)
        else:
            text += said_as_text(tone, names) or ""  # an ask and its answer: this protocol has no message for them
    text += sieve.end()
    calls = sieve.tool_calls(sg, wane)
    reason = "tool_calls" if calls else _FINISH.get(str((finish or {}).get("finishReason")), "stop")
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    out = {**meta, "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": reason, "logprobs": None}], "usage": _usage(finish)}
    return web.json_response(out, headers={SIGIL_HEADER: sg})


async def _stream(
    request: web.Request, tap: HumTap, petals: Any, frames: ChunkFrames, sieve: ToolSieve, sg: str, wane: int, names: Mapping[str, str],
) -> web.StreamResponse:
    resp = await open_sse(request, {SIGIL_HEADER: sg}, with_first_write=True)
    events = HeldEvents(resp, tap)
    chunk = frames.chunk
    # The head and the role chunk wait a moment for the first token, to go out in its write.
    await tap.settle(HEAD_HOLD_SECONDS)
    if not await events.send(chunk({"role": "assistant", "content": ""})):
        return resp
    finish: Tone | None = None
    ending = ""
    async for tone in petals:
        out = ""
        if tone.chi == "chunk":
            if tone.get("chunkType") == "tool_call":
                sieve.native(str(tone.get("delta", "")))
            elif tone.get("chunkType") == NOTE:  # hum's word, not the answer's: an SSE comment clients skip
                if not await events.send(f": note: {' '.join(str(tone.get('delta', '')).split())}\n\n".encode()):
                    return resp
            elif tone.get("chunkType", "text_delta") == "text_delta":
                out = sieve.feed(str(tone.get("delta", "")))
        elif tone.chi == "finish":
            finish, ending = tone, sieve.end()
            continue  # its text goes out with the end, in one write
        elif tone.chi == "error":
            err = petal_error(tone)
            await events.finish(sse_data(error_body(err.status, err.message, err.code)))
            return resp
        else:
            out = said_as_text(tone, names) or ""  # an ask and its answer: this protocol has no message for them
        if not await events.send(chunk({"content": out}) if out else b""):
            return resp  # the client left; the bloom goes on in the hum
    calls = sieve.tool_calls(sg, wane)
    last = [chunk({"content": ending})] if ending else []
    if calls:
        last.append(chunk({"tool_calls": [{"index": i, **call} for i, call in enumerate(calls)]}))
    reason = "tool_calls" if calls else _FINISH.get(str((finish or {}).get("finishReason")), "stop")
    last.append(chunk({}, reason))
    if frames.include_usage:
        last.append(frames.usage(_usage(finish)))
    await events.finish(b"".join([*last, b"data: [DONE]\n\n"]))  # the end in one write
    return resp


async def _answer_directly(request: web.Request, text: str, model: str, stream: bool, include_usage: bool) -> web.StreamResponse:
    """A reply that is not part of any hum (a title): same wire shape, no petals."""
    meta = {"id": f"chatcmpl-title-{int(time.time() * 1000)}", "created": int(time.time()), "model": model}
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    if not stream:
        message = {"role": "assistant", "content": text}
        return web.json_response({**meta, "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}], "usage": usage})
    resp = await open_sse(request)
    extra = {"usage": None} if include_usage else {}
    for delta, reason in (({"role": "assistant", "content": text}, None), ({}, "stop")):
        await write_or_gone(resp, sse_data({**meta, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": reason}], **extra}))
    if include_usage:
        await write_or_gone(resp, sse_data({**meta, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
    await write_or_gone(resp, b"data: [DONE]\n\n")
    await finish_sse(resp)
    return resp


# -- resume: a hum's petals as SSE ---------------------------------------------------------


def _since(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("since") or "0"
    try:
        since = int(raw)
    except ValueError:
        raise SurfaceError(400, "`since` / Last-Event-ID is a wane: a whole number >= 0", code="bad-since") from None
    if since < 0:
        raise SurfaceError(400, "`since` / Last-Event-ID is a wane: a whole number >= 0", code="bad-since")
    return since


async def hum_events(request: web.Request) -> web.StreamResponse:
    """Every petal of the hum after `since` (or Last-Event-ID) with `id: <wane>`, then live ones."""
    humd = request.app[HUMD_KEY]
    sg = request.match_info["sigil"]
    since = _since(request)
    await need_hum(humd, sg)
    tap = HumTap(humd, "events")
    try:
        tap.attach(sg, since)
        first = await tap.next(FIRST_TONE_SECONDS)
        if first is None:
            raise SurfaceError(504, "the hum's home did not answer in time", code="timeout")
        if first.chi == "error" and not is_petal(first):
            raise tone_error(first)
        tap.push_back(first)
        resp = await open_sse(request, {SIGIL_HEADER: sg})
        # reconnect soon: a phone waking up wants its petals now
        if not await write_or_gone(resp, b"retry: 1000\n\n"):
            return resp
        while True:
            tone = await tap.next(KEEPALIVE_SECONDS)
            if tone is None:
                if not await write_or_gone(resp, b": keepalive\n\n"):
                    return resp
                continue
            wane = tone.get("wane") if is_petal(tone) else None
            if not await write_or_gone(resp, sse_data(dict(tone), id_=wane)):
                return resp
            if tone.chi == "error" and wane is None:
                break  # the tap ended (peer-loss or refusal); the client sees why
        await finish_sse(resp)
        return resp
    finally:
        tap.close()
