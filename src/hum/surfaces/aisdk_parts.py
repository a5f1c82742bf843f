"""A hum's petals as AI SDK parts: live, as UI message stream parts (`stream_ui`); in its history,
as UIMessages (`ui_messages`). A person's ask is a tool part awaiting approval in both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from hum.interfaces import NOTE
from hum.surfaces.http import finish_sse, sse_data, write_or_gone
from hum.wire.tones import Tone

# The UI data part a `note` chunk becomes (`data-*` parts are the AI SDK's app-defined parts).
NOTE_PART = "data-hum-note"
# The data part that ends a bloom an error closed, in a hum's history.
ERROR_PART = "data-hum-error"
# The id every note of one long read shares, so the client keeps one part and updates it.
READING_PART_ID = "note-reading"

# Worker finish reasons -> the `finish` part's enum (the client rejects any other value).
_FINISH = {"stop": "stop", "end_turn": "stop", "length": "length", "max_tokens": "length", "cancelled": "interrupted", "tool_calls": "tool-calls", "tool_use": "tool-calls"}


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
                _put_part(answer["parts"], note_part(tone))
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


def error_text(tone: Tone) -> str:
    """What an `error` tone (a petal, or a lost home) tells the person reading the chat."""
    message = str(tone.get("message") or tone.get("qualifier") or "the bloom failed")
    if tone.get("qualifier") == "peer-loss":
        return f"lost the device that hosts this hum: {message}"
    if tone.get("qualifier") == "interrupted":
        return f"this answer was cut short: {message}"
    return message


def note_part(tone: Tone) -> dict[str, Any]:
    """A `note` chunk as a UI data part (`data-hum-note`); its id keeps two notes of one bloom apart.

    The notes of a long read (those with `progress`) share one id, `note-reading`:
    the AI SDK replaces a data part with the type and id of one it holds, so a
    chat shows one line that moves, then says how long the read took.
    """
    progress = tone.get("progress")
    if isinstance(progress, dict):
        data = {"text": str(tone.get("delta", "")), "read": progress.get("read"), "of": progress.get("of")}
        return {"type": NOTE_PART, "id": READING_PART_ID, "data": data}
    return {"type": NOTE_PART, "id": f"note-{tone['wane']}", "data": {"text": str(tone.get("delta", ""))}}


def _put_part(parts: list[dict[str, Any]], part: dict[str, Any]) -> None:
    """Add `part` to a message's parts as the AI SDK does: in place of a data part with its type and id."""
    for i, held in enumerate(parts):
        if held.get("type") == part["type"] and held.get("id") == part["id"]:
            parts[i] = part
            return
    parts.append(part)


def _usage(finish: Tone) -> dict[str, int]:
    usage = finish.get("usage") or {}
    inp, out = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    out_usage = {"inputTokens": inp, "outputTokens": out, "totalTokens": inp + out}
    if "cached_input_tokens" in usage:
        out_usage["cachedInputTokens"] = int(usage["cached_input_tokens"])
    return out_usage


class UiParts:
    """One response's UI message stream: parts written in order, each text or reasoning part opened and closed.

    Every write says whether the client is still there (False once it left).
    """

    def __init__(self, resp: web.StreamResponse) -> None:
        self.resp = resp
        self.open: list[tuple[str, str]] = []  # (kind, id); an id is its kind and the wane of the petal that opened it

    async def part(self, obj: dict[str, Any]) -> bool:
        return await write_or_gone(self.resp, sse_data(obj))

    async def close_parts(self) -> bool:
        while self.open:
            kind, part_id = self.open.pop()
            if not await self.part({"type": f"{kind}-end", "id": part_id}):
                return False
        return True

    async def chunk(self, tone: Tone) -> bool:
        """A chunk petal: a note part, or a delta of the text or reasoning part it continues (or opens)."""
        if tone.get("chunkType") == NOTE:
            # hum's own word (e.g. what the local model's window left out): its own part, never the answer's text
            return await self.part(note_part(tone))
        kind = "reasoning" if tone.get("chunkType") == "reasoning_delta" else "text" if tone.get("chunkType", "text_delta") == "text_delta" else None
        if kind is None:
            return True  # chunk kinds the UI stream has no part for
        if not self.open or self.open[-1][0] != kind:
            if not await self.close_parts():
                return False
            self.open.append((kind, f"{kind}-{tone['wane']}"))
            if not await self.part({"type": f"{kind}-start", "id": self.open[-1][1]}):
                return False
        return await self.part({"type": f"{kind}-delta", "id": self.open[-1][1], "delta": str(tone.get("delta", ""))})


async def stream_ui(resp: web.StreamResponse, prompt: Tone, petals: AsyncIterator[Tone], decided: frozenset[str] = frozenset()) -> None:
    """One bloom as UI message stream parts: start, step, text, finish (usage in messageMetadata), [DONE].

    An open ask ends the stream as a tool part awaiting approval (the SDK's
    `addToolApprovalResponse` answers it with the next request); an ask in
    `decided` is already answered further on in `petals`, which go on.
    """
    sg, wane = str(prompt["sigil"]), int(prompt["wane"])
    meta = {"sigil": sg, "promptWane": wane}
    ui = UiParts(resp)
    if not (await ui.part({"type": "start", "messageId": f"{sg}-{wane}", "messageMetadata": meta}) and await ui.part({"type": "start-step"})):
        return
    async for tone in petals:
        if tone.chi == "chunk":
            if not await ui.chunk(tone):
                return  # the client left; the bloom goes on, and GET .../stream resumes it
        elif tone.chi == "permission-ask":
            if not (await ui.close_parts() and await ui.part(ask_input_part(tone)) and await ui.part(ask_approval_part(tone))):
                return
            if str(tone.get("permitId")) not in decided:
                await ui.part({"type": "finish-step"}) and await ui.part({"type": "finish", "finishReason": "tool-calls", "messageMetadata": meta})
                break
        elif tone.chi == "permit":
            if not (await ui.close_parts() and await ui.part(permit_part(tone))):
                return
        elif tone.chi == "finish":
            reason = _FINISH.get(str(tone.get("finishReason")), "other")
            ok = await ui.close_parts() and await ui.part({"type": "finish-step"})
            ok = ok and await ui.part({"type": "finish", "finishReason": reason, "messageMetadata": {**meta, "usage": _usage(tone)}})
            break
        elif tone.chi == "error":
            await ui.close_parts()
            await ui.part({"type": "error", "errorText": error_text(tone)})
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
