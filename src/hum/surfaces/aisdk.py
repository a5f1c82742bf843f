"""The AI SDK UI message stream (`useChat` / `DefaultChatTransport`): `/api/chat`, its resume and history.

The chat `id` names the hum: an id that is a known sigil is that hum; an id
shaped like a sigil that names no hum is a typo (404); any other id is taken as
the hum's sid (so the first POST mints the hum and every later one finds it
again). Only the last user message is prompted: the hum already holds the
conversation, and `GET /api/chat/{id}/messages` gives it back as UI messages.
The parts themselves, live and in a hum's history, are made in `aisdk_parts.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hum.surfaces.aisdk_parts import stream_ui, ui_messages
from hum.surfaces.http import (
    BLOOM_SILENCE_SECONDS,
    HUMD_KEY,
    HumTap,
    HumTarget,
    SurfaceError,
    find_hum,
    known_hum,
    looks_like_sigil,
    open_sse,
    read_json,
)
from hum.surfaces.hum_log import read_log
from hum.surfaces.permits import check_answer, settle_ask
from hum.wire.tones import Tone, is_petal

if TYPE_CHECKING:
    from hum.node.humd import Humd

# The header the AI SDK client checks to know it is reading a UI message stream.
UI_STREAM_HEADERS = {"x-vercel-ai-ui-message-stream": "v1", "Connection": "keep-alive"}


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/chat", post_chat)
    app.router.add_get("/api/chat/{id}/stream", resume_chat)
    app.router.add_get("/api/chat/{id}/messages", chat_messages)


async def chat_target(humd: Humd, chat_id: str) -> HumTarget:
    """A chat id that is a known sigil is that hum; otherwise it is the hum's sid.

    An id shaped like a sigil that names no hum anywhere in the ensemble (and
    no hum by that sid) is a mistyped or stale sigil: 404, not a new hum.
    """
    if await find_hum(humd, chat_id):
        return HumTarget(chat_id)
    target = HumTarget.for_sid(humd, chat_id)
    if looks_like_sigil(chat_id) and not known_hum(humd, target.sigil):
        raise SurfaceError(404, f"no hum with sigil {chat_id!r} is known in this ensemble", code="unknown-hum")
    return target


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
    responses = approval_responses(messages[-1])
    if responses:
        return await continue_after_approval(request, chat_id, messages[-1], responses)
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


def approval_responses(message: Any) -> list[tuple[str, bool, str | None]]:
    """(approval id, approved, reason) of each tool part `addToolApprovalResponse` answered in an assistant message."""
    if not isinstance(message, dict) or message.get("role") != "assistant" or not isinstance(message.get("parts"), list):
        return []
    out = []
    for p in message["parts"]:
        approval = p.get("approval") if isinstance(p, dict) and p.get("state") == "approval-responded" else None
        if isinstance(approval, dict) and isinstance(approval.get("id"), str) and isinstance(approval.get("approved"), bool):
            reason = approval.get("reason")
            out.append((approval["id"], approval["approved"], reason if isinstance(reason, str) and reason else None))
    return out


async def continue_after_approval(
    request: web.Request, chat_id: str, message: dict[str, Any], responses: list[tuple[str, bool, str | None]]
) -> web.StreamResponse:
    """The chat answered the hum's asks: each answer goes to the home, then the bloom's stream goes on from the first."""
    humd = request.app[HUMD_KEY]
    target = await chat_target(humd, chat_id)
    meta = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    prompt_wane = meta.get("promptWane") if isinstance(meta.get("promptWane"), int) else 0
    permits = []
    for permit_id, approved, reason in responses:
        decision, reason = check_answer("allow" if approved else "deny", reason)
        # an answer from another device that got there first is no error here: its permit petal is streamed
        permit, _ = await settle_ask(humd, target.sigil, permit_id, decision, reason, since=prompt_wane, kind="aisdk")
        permits.append(int(permit["wane"]))
    tap = HumTap(humd, "aisdk-approval")
    try:
        tap.attach(target.sigil, min(permits) - 1)
        resp = await open_sse(request, {**UI_STREAM_HEADERS, "X-Hum-Sigil": target.sigil})
        await stream_ui(resp, Tone(sigil=target.sigil, wane=prompt_wane), _replay_then_live(tap, []))
        return resp
    finally:
        tap.close()


async def resume_chat(request: web.Request) -> web.StreamResponse:
    """Replay the hum's last bloom and follow it live while it runs; 204 when it finished and nothing runs.

    A last bloom closed by an error petal (a home restarted mid-bloom, a
    worker that failed) is replayed too, so the chat says how it ended.
    """
    humd = request.app[HUMD_KEY]
    target = await chat_target(humd, request.match_info["id"])
    if target.sid is not None and not known_hum(humd, target.sigil):
        return web.Response(status=204)  # a chat id no prompt has used yet
    tap = HumTap(humd, "aisdk-resume")
    try:
        tap.attach(target.sigil, 0)
        last = _last_bloom((await read_log(tap))[0])
        if last is None or last[-1].chi == "finish":
            return web.Response(status=204)
        prompt, *replay = last
        decided = frozenset(str(t.get("permitId")) for t in replay if t.chi == "permit")
        resp = await open_sse(request, {**UI_STREAM_HEADERS, "X-Hum-Sigil": target.sigil})
        await stream_ui(resp, prompt, _replay_then_live(tap, replay), decided)
        return resp
    finally:
        tap.close()


async def chat_messages(request: web.Request) -> web.Response:
    """The hum as `{"messages": UIMessage[]}`, for `useChat({ messages })`; a running bloom's answer comes by resume."""
    humd = request.app[HUMD_KEY]
    chat_id = request.match_info["id"]
    target = await chat_target(humd, chat_id)
    if not await find_hum(humd, target.sigil):
        raise SurfaceError(404, f"no hum for chat id {chat_id!r} is known in this ensemble", code="unknown-hum")
    tap = HumTap(humd, "aisdk-history")
    try:
        tap.attach(target.sigil, 0)
        log, _ = await read_log(tap)
    finally:
        tap.close()
    return web.json_response({"messages": ui_messages(log)}, headers={"X-Hum-Sigil": target.sigil})


def _last_bloom(log: list[Tone]) -> list[Tone] | None:
    """The last bloom's petals (its prompt first), or None for a hum without one."""
    starts = [i for i, tone in enumerate(log) if tone.chi == "prompt"]
    return log[starts[-1] :] if starts else None


async def _replay_then_live(tap: HumTap, replay: list[Tone]) -> AsyncIterator[Tone]:
    for tone in replay:
        yield tone
    while True:
        tone = await tap.next(BLOOM_SILENCE_SECONDS)
        if tone is None:
            return
        if not is_petal(tone) and tone.chi != "error":
            continue
        yield tone
        if tone.chi in ("finish", "error", "prompt"):
            return
