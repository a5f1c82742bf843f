"""The AI SDK UI message stream (`useChat` / `DefaultChatTransport`): `/api/chat` and its resume.

The chat `id` names the hum: an id that is a known sigil is that hum; any
other id is taken as the hum's sid (so the first POST mints the hum and every
later one finds it again). Only the last user message is prompted: the hum
already holds the conversation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hum.surfaces.http import (
    BLOOM_SILENCE_SECONDS,
    FIRST_TONE_SECONDS,
    HUMD_KEY,
    HumTap,
    HumTarget,
    SurfaceError,
    find_hum,
    finish_sse,
    known_hum,
    open_sse,
    read_json,
    sse_data,
    tone_error,
    write_or_gone,
)
from hum.wire.tones import Tone

if TYPE_CHECKING:
    from hum.node.humd import Humd

# The header the AI SDK client checks to know it is reading a UI message stream.
UI_STREAM_HEADERS = {"x-vercel-ai-ui-message-stream": "v1", "Connection": "keep-alive"}

# Worker finish reasons -> the `finish` part's enum (the client rejects any other value).
_FINISH = {"stop": "stop", "end_turn": "stop", "length": "length", "max_tokens": "length", "cancelled": "interrupted", "tool_calls": "tool-calls", "tool_use": "tool-calls"}


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/chat", post_chat)
    app.router.add_get("/api/chat/{id}/stream", resume_chat)


async def chat_target(humd: Humd, chat_id: str) -> HumTarget:
    """A chat id that is a known sigil is that hum; otherwise it is the hum's sid."""
    if await find_hum(humd, chat_id):
        return HumTarget(chat_id)
    return HumTarget.for_sid(humd, chat_id)


def message_text(message: Any) -> str:
    """A UIMessage's text parts (or a plain `content`, as older clients send)."""
    if not isinstance(message, dict):
        return ""
    parts = message.get("parts")
    if isinstance(parts, list):
        return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text")
    content = message.get("content")
    return content if isinstance(content, str) else ""


async def post_chat(request: web.Request) -> web.StreamResponse:
    humd = request.app[HUMD_KEY]
    body = await read_json(request)
    chat_id = body.get("id")
    messages = body.get("messages")
    if not isinstance(chat_id, str) or not chat_id or "/" in chat_id:
        raise SurfaceError(400, "`id` must be a non-empty chat id without '/'", code="bad-id")
    if not isinstance(messages, list) or not messages:
        raise SurfaceError(400, "`messages` must be a non-empty list of UI messages", code="bad-messages")
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise SurfaceError(400, "there is no user message to send", code="bad-messages")
    # `regenerate-message` asks again: a hum never rewrites its log, so the last
    # user turn is prompted once more and its new bloom is the regenerated answer.
    text = message_text(users[-1])
    target = await chat_target(humd, chat_id)
    tap = HumTap(humd, "aisdk")
    try:
        req = tap.prompt(target, text)
        petals = tap.bloom(req)
        prompt = await anext(petals)
        resp = await open_sse(request, {**UI_STREAM_HEADERS, "X-Hum-Sigil": str(prompt["sigil"])})
        await stream_ui(resp, prompt, petals)
        return resp
    finally:
        tap.close()


async def resume_chat(request: web.Request) -> web.StreamResponse:
    """Replay the open bloom from its start, then follow it live; 204 when nothing is blooming."""
    humd = request.app[HUMD_KEY]
    target = await chat_target(humd, request.match_info["id"])
    if not known_hum(humd, target.sigil):
        return web.Response(status=204)
    tap = HumTap(humd, "aisdk-resume")
    try:
        tap.attach(target.sigil, 0)
        bloom = await _open_bloom(tap)
        if bloom is None:
            return web.Response(status=204)
        prompt, replay = bloom
        resp = await open_sse(request, {**UI_STREAM_HEADERS, "X-Hum-Sigil": target.sigil})
        await stream_ui(resp, prompt, _replay_then_live(tap, replay))
        return resp
    finally:
        tap.close()


async def _open_bloom(tap: HumTap) -> tuple[Tone, list[Tone]] | None:
    """Read the hum up to its tip; the open bloom's prompt and the petals since, or None."""
    tip: int | None = None
    prompt: Tone | None = None
    since: list[Tone] = []
    seen = 0
    while tip is None or seen < tip:
        tone = await tap.next(FIRST_TONE_SECONDS)
        if tone is None:
            raise SurfaceError(504, "the hum's home did not answer in time", code="timeout")
        if tone.chi == "hello":
            tip = int(tone.get("wane") or 0)
            continue
        if tone.chi == "error" and "wane" not in tone:
            raise tone_error(tone)
        if "wane" not in tone:
            continue
        seen = int(tone["wane"])
        if tone.chi == "prompt":
            prompt, since = tone, []
        elif prompt is not None:
            since.append(tone)
    if prompt is None or any(t.chi in ("finish", "error") for t in since):
        return None
    return prompt, since


async def _replay_then_live(tap: HumTap, replay: list[Tone]) -> AsyncIterator[Tone]:
    for tone in replay:
        yield tone
    while True:
        tone = await tap.next(BLOOM_SILENCE_SECONDS)
        if tone is None:
            return
        if "wane" not in tone and tone.chi != "error":
            continue
        yield tone
        if tone.chi in ("finish", "error", "prompt"):
            return


def _usage(finish: Tone) -> dict[str, int]:
    usage = finish.get("usage") or {}
    inp, out = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    return {"inputTokens": inp, "outputTokens": out, "totalTokens": inp + out}


async def stream_ui(resp: web.StreamResponse, prompt: Tone, petals: AsyncIterator[Tone]) -> None:
    """One bloom as UI message stream parts: start, step, text, finish (usage in messageMetadata), [DONE]."""
    sg, wane = str(prompt["sigil"]), int(prompt["wane"])
    meta = {"sigil": sg, "promptWane": wane}
    text_id, reasoning_id = f"text-{wane}", f"reasoning-{wane}"
    open_parts: list[str] = []

    async def part(obj: dict[str, Any]) -> bool:
        return await write_or_gone(resp, sse_data(obj))

    async def close_parts() -> bool:
        while open_parts:
            kind = open_parts.pop()
            if not await part({"type": f"{kind}-end", "id": text_id if kind == "text" else reasoning_id}):
                return False
        return True

    if not (await part({"type": "start", "messageId": f"{sg}-{wane}", "messageMetadata": meta}) and await part({"type": "start-step"})):
        return
    async for tone in petals:
        if tone.chi == "chunk":
            kind = "reasoning" if tone.get("chunkType") == "reasoning_delta" else "text" if tone.get("chunkType", "text_delta") in ("text_delta", "note") else None
            if kind is None:
                continue  # chunk kinds the UI stream has no part for
            if kind not in open_parts:
                if not await close_parts():
                    return
                open_parts.append(kind)
                if not await part({"type": f"{kind}-start", "id": text_id if kind == "text" else reasoning_id}):
                    return
            if not await part({"type": f"{kind}-delta", "id": text_id if kind == "text" else reasoning_id, "delta": str(tone.get("delta", ""))}):
                return  # the client left; the bloom goes on, and GET .../stream resumes it
        elif tone.chi == "finish":
            reason = _FINISH.get(str(tone.get("finishReason")), "other")
            ok = await close_parts() and await part({"type": "finish-step"})
            ok = ok and await part({"type": "finish", "finishReason": reason, "messageMetadata": {**meta, "usage": _usage(tone)}})
            break
        elif tone.chi == "error":
            message = str(tone.get("message") or tone.get("qualifier") or "the bloom failed")
            if tone.get("qualifier") == "peer-loss":
                message = f"lost the device that hosts this hum: {message}"
            await close_parts()
            await part({"type": "error", "errorText": message})
            break
        elif tone.chi == "prompt":
            break
    await write_or_gone(resp, b"data: [DONE]\n\n")
    await finish_sse(resp)
