"""The AI SDK UI message stream (`useChat` / `DefaultChatTransport`): `/api/chat`, its resume and history.

The chat `id` names the hum: an id that is a known sigil is that hum; an id
shaped like a sigil that names no hum is a typo (404); any other id is taken as
the hum's sid (so the first POST mints the hum and every later one finds it
again). Only the last user message is prompted: the hum already holds the
conversation, and `GET /api/chat/{id}/messages` gives it back as UI messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hum.interfaces import NOTE
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
    looks_like_sigil,
    open_sse,
    read_json,
    sse_data,
    tone_error,
    write_or_gone,
)
from hum.surfaces.permits import check_answer, settle_ask
from hum.wire.tones import Tone, is_petal

if TYPE_CHECKING:
    from hum.node.humd import Humd

# The header the AI SDK client checks to know it is reading a UI message stream.
UI_STREAM_HEADERS = {"x-vercel-ai-ui-message-stream": "v1", "Connection": "keep-alive"}

# The UI data part a `note` chunk becomes (`data-*` parts are the AI SDK's app-defined parts).
NOTE_PART = "data-hum-note"
# The data part that ends a bloom an error closed, in a hum's history.
ERROR_PART = "data-hum-error"

# Worker finish reasons -> the `finish` part's enum (the client rejects any other value).
_FINISH = {"stop": "stop", "end_turn": "stop", "length": "length", "max_tokens": "length", "cancelled": "interrupted", "tool_calls": "tool-calls", "tool_use": "tool-calls"}


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
        last = _last_bloom(await read_log(tap))
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
        log = await read_log(tap)
    finally:
        tap.close()
    return web.json_response({"messages": ui_messages(log)}, headers={"X-Hum-Sigil": target.sigil})


async def read_log(tap: HumTap) -> list[Tone]:
    """The petals of the attached hum (attached from 0), up to the tip its `hello` names."""
    tip: int | None = None
    petals: list[Tone] = []
    while tip is None or len(petals) < tip:
        tone = await tap.next(FIRST_TONE_SECONDS)
        if tone is None:
            raise SurfaceError(504, "the hum's home did not answer in time", code="timeout")
        if tone.chi == "hello":
            tip = int(tone.get("wane") or 0)
        elif tone.chi == "error" and not is_petal(tone):
            raise tone_error(tone)
        elif is_petal(tone):
            petals.append(tone)
    return petals


def _last_bloom(log: list[Tone]) -> list[Tone] | None:
    """The last bloom's petals (its prompt first), or None for a hum without one."""
    starts = [i for i, tone in enumerate(log) if tone.chi == "prompt"]
    return log[starts[-1] :] if starts else None


def ui_messages(log: list[Tone]) -> list[dict[str, Any]]:
    """A hum's petals as AI SDK UIMessages: each prompt a user message, each closed bloom an assistant one.

    The assistant message has the id and metadata its stream had; notes are
    `data-hum-note` parts, and a bloom closed by an error ends with a
    `data-hum-error` part. A bloom still running is left to resume.
    """
    messages: list[dict[str, Any]] = []
    answer: dict[str, Any] | None = None
    for tone in log:
        sg, wane = str(tone["sigil"]), int(tone["wane"])
        if tone.chi == "prompt":
            messages.append({"id": f"{sg}-{wane}-prompt", "role": "user", "parts": [{"type": "text", "text": str(tone.get("text", ""))}]})
            answer = {"id": f"{sg}-{wane}", "role": "assistant", "parts": [], "metadata": {"sigil": sg, "promptWane": wane}}
        elif answer is None:
            continue
        elif tone.chi == "chunk":
            kind = str(tone.get("chunkType", "text_delta"))
            if kind == NOTE:
                answer["parts"].append(note_part(tone))
            elif kind in ("text_delta", "reasoning_delta"):
                part_type = "text" if kind == "text_delta" else "reasoning"
                parts = answer["parts"]
                if parts and parts[-1]["type"] == part_type:
                    parts[-1]["text"] += str(tone.get("delta", ""))
                else:
                    parts.append({"type": part_type, "text": str(tone.get("delta", ""))})
        elif tone.chi == "permission-ask":
            answer["parts"].append(ask_ui_part(tone))
        elif tone.chi == "permit":
            call = ask_call_id(str(tone.get("permitId")))
            answer["parts"] = [answered_ui_part(p, tone) if p.get("toolCallId") == call else p for p in answer["parts"]]
        elif tone.chi in ("finish", "error"):
            if tone.chi == "finish":
                answer["metadata"]["usage"] = _usage(tone)
            else:
                error = {"qualifier": tone.get("qualifier"), "message": error_text(tone)}
                answer["parts"].append({"type": ERROR_PART, "id": f"error-{wane}", "data": error})
            messages.append(answer)
            answer = None
    return messages


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


def error_text(tone: Tone) -> str:
    """What an `error` tone (a petal, or a lost home) tells the person reading the chat."""
    message = str(tone.get("message") or tone.get("qualifier") or "the bloom failed")
    if tone.get("qualifier") == "peer-loss":
        return f"lost the device that hosts this hum: {message}"
    if tone.get("qualifier") == "interrupted":
        return f"this answer was cut short: {message}"
    return message


def note_part(tone: Tone) -> dict[str, Any]:
    """A `note` chunk as a UI data part (`data-hum-note`); its id keeps two notes of one bloom apart."""
    return {"type": NOTE_PART, "id": f"note-{tone['wane']}", "data": {"text": str(tone.get("delta", ""))}}


def _usage(finish: Tone) -> dict[str, int]:
    usage = finish.get("usage") or {}
    inp, out = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    return {"inputTokens": inp, "outputTokens": out, "totalTokens": inp + out}


async def stream_ui(resp: web.StreamResponse, prompt: Tone, petals: AsyncIterator[Tone], decided: frozenset[str] = frozenset()) -> None:
    """One bloom as UI message stream parts: start, step, text, finish (usage in messageMetadata), [DONE].

    An open ask ends the stream as a tool part awaiting approval (the SDK's
    `addToolApprovalResponse` answers it with the next request); an ask in
    `decided` is already answered further on in `petals`, which go on.
    """
    sg, wane = str(prompt["sigil"]), int(prompt["wane"])
    meta = {"sigil": sg, "promptWane": wane}
    open_parts: list[tuple[str, str]] = []  # (kind, id); an id is its kind and the wane of the petal that opened it

    async def part(obj: dict[str, Any]) -> bool:
        return await write_or_gone(resp, sse_data(obj))

    async def close_parts() -> bool:
        while open_parts:
            kind, part_id = open_parts.pop()
            if not await part({"type": f"{kind}-end", "id": part_id}):
                return False
        return True

    if not (await part({"type": "start", "messageId": f"{sg}-{wane}", "messageMetadata": meta}) and await part({"type": "start-step"})):
        return
    async for tone in petals:
        if tone.chi == "chunk" and tone.get("chunkType") == NOTE:
            # hum's own word (e.g. what the local model's window left out): its own part, never the answer's text
            if not await part(note_part(tone)):
                return
        elif tone.chi == "chunk":
            kind = "reasoning" if tone.get("chunkType") == "reasoning_delta" else "text" if tone.get("chunkType", "text_delta") == "text_delta" else None
            if kind is None:
                continue  # chunk kinds the UI stream has no part for
            if not open_parts or open_parts[-1][0] != kind:
                if not await close_parts():
                    return
                open_parts.append((kind, f"{kind}-{tone['wane']}"))
                if not await part({"type": f"{kind}-start", "id": open_parts[-1][1]}):
                    return
            if not await part({"type": f"{kind}-delta", "id": open_parts[-1][1], "delta": str(tone.get("delta", ""))}):
                return  # the client left; the bloom goes on, and GET .../stream resumes it
        elif tone.chi == "permission-ask":
            if not (await close_parts() and await part(ask_input_part(tone)) and await part(ask_approval_part(tone))):
                return
            if str(tone.get("permitId")) not in decided:
                await part({"type": "finish-step"}) and await part({"type": "finish", "finishReason": "tool-calls", "messageMetadata": meta})
                break
        elif tone.chi == "permit":
            if not (await close_parts() and await part(permit_part(tone))):
                return
        elif tone.chi == "finish":
            reason = _FINISH.get(str(tone.get("finishReason")), "other")
            ok = await close_parts() and await part({"type": "finish-step"})
            ok = ok and await part({"type": "finish", "finishReason": reason, "messageMetadata": {**meta, "usage": _usage(tone)}})
            break
        elif tone.chi == "error":
            await close_parts()
            await part({"type": "error", "errorText": error_text(tone)})
            break
        elif tone.chi == "prompt":
            break
    await write_or_gone(resp, b"data: [DONE]\n\n")
    await finish_sse(resp)


# -- asks as tool parts awaiting approval ------------------------------------------------


def ask_call_id(permit_id: str) -> str:
    """The tool call an ask stands for: the worker runs it itself (`providerExecuted`) once approved."""
    return f"permit-{permit_id}"


def ask_input_part(ask: Tone) -> dict[str, Any]:
    return {
        "type": "tool-input-available", "toolCallId": ask_call_id(str(ask["permitId"])), "toolName": str(ask.get("tool")),
        "input": ask.get("input"), "dynamic": True, "providerExecuted": True, "title": str(ask.get("question") or ""),
    }


def ask_approval_part(ask: Tone) -> dict[str, Any]:
    return {"type": "tool-approval-request", "approvalId": str(ask["permitId"]), "toolCallId": ask_call_id(str(ask["permitId"]))}


def permit_part(permit: Tone) -> dict[str, Any]:
    """The answer, wherever it came from: the tool part's output (allowed) or its denial."""
    call = ask_call_id(str(permit["permitId"]))
    if permit.get("decision") != "allow":
        return {"type": "tool-output-denied", "toolCallId": call}
    return {"type": "tool-output-available", "toolCallId": call, "output": _decision(permit), "dynamic": True, "providerExecuted": True}


def _decision(permit: Tone) -> dict[str, Any]:
    return {"decision": permit.get("decision"), "from": permit.get("from"), **({"message": permit["message"]} if permit.get("message") else {})}


def ask_ui_part(ask: Tone) -> dict[str, Any]:
    """An ask in a hum's history, awaiting approval until its permit petal says otherwise (`answered_ui_part`)."""
    return {
        "type": "dynamic-tool", "toolName": str(ask.get("tool")), "toolCallId": ask_call_id(str(ask["permitId"])),
        "title": str(ask.get("question") or ""), "state": "approval-requested", "input": ask.get("input"),
        "providerExecuted": True, "approval": {"id": str(ask["permitId"])},
    }


def answered_ui_part(asked: dict[str, Any], permit: Tone) -> dict[str, Any]:
    approved = permit.get("decision") == "allow"
    approval = {"id": asked["approval"]["id"], "approved": approved, **({"reason": permit["message"]} if permit.get("message") else {})}
    if approved:
        return {**asked, "state": "output-available", "output": _decision(permit), "approval": approval}
    return {**asked, "state": "output-denied", "approval": approval}
