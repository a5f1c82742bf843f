"""What hum's MCP tools do, on one humd, as a nestler like any other: list, read, prompt, start, answer, adopt, forget.

Each tool takes its arguments as a dict (checked here: a bad one is a
`BadArgument` naming the field) and returns `(text, structured)`; a failure of
the hum itself (unknown hum, unreachable home, an answered ask) is a
`SurfaceError`, which the server reports as a tool error. Everything goes
through `HumTap` (the humd's session seam), so a prompt is routed to the hum's
home and its `from` is this device.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hum.interfaces import NOTE
from hum.surfaces.http import (
    FIRST_TONE_SECONDS,
    HumTap,
    HumTarget,
    SurfaceError,
    need_hum,
    new_sid,
    tone_error,
)
from hum.surfaces.hum_log import read_log
from hum.surfaces.openai import petal_error
from hum.surfaces.permits import DECISIONS, MAX_MESSAGE_CHARS, answer_ask, said_as_text
from hum.wire.tones import Tone

if TYPE_CHECKING:
    from hum.node.humd import Humd

# A page of `list_hums`: enough for a screen, small enough for a model's context.
LIST_DEFAULT, LIST_MAX = 50, 200
# `read_hum` returns at most this many petals a call (a long hum is read in pages by `since`).
READ_DEFAULT, READ_MAX = 200, 1000
# A prompt's text: what a person or an agent types, not a file dump.
MAX_TEXT_CHARS = 100_000


class BadArgument(Exception):
    """A tool argument that is missing or malformed; the MCP error names it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@dataclass
class Reader:
    """One MCP client's view: the wane it has read of each hum (what `unread` in `list_hums` is measured from)."""

    seen: dict[str, int] = field(default_factory=dict)

    def saw(self, sg: str, wane: int) -> None:
        self.seen[sg] = max(self.seen.get(sg, 0), wane)


def _str(args: dict[str, Any], name: str, *, required: bool = True, limit: int = 200) -> str | None:
    value = args.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadArgument(name, f"must be a non-empty string of at most {limit} characters")
    return value


def _int(args: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadArgument(name, f"must be a whole number from {low} to {high}")
    return value


def _bool(args: dict[str, Any], name: str, default: bool) -> bool:
    value = args.get(name, default)
    if not isinstance(value, bool):
        raise BadArgument(name, "must be true or false")
    return value


def list_hums(humd: Humd, reader: Reader, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    limit = _int(args, "limit", LIST_DEFAULT, 1, LIST_MAX)
    cursor = _str(args, "cursor", required=False)
    names = {hid: name for hid, name in humd.device_names().items() if name} | {humd.id: humd.name}
    entries = [e for e in humd.list_hums() if cursor is None or e["sigil"] > cursor]
    page = entries[:limit]
    hums = [
        {
            "sigil": e["sigil"],
            "sid": e.get("sid"),
            "home": e.get("home"),
            "device": names.get(str(e.get("home")), ""),
            "here": e.get("home") == humd.id,
            "wane": int(e.get("wane") or 0),
            "unread": int(e.get("wane") or 0) > reader.seen.get(e["sigil"], 0),
            "blooming": bool((hum := humd.hum(e["sigil"])) and hum.bloom_open),
        }
        for e in page
    ]
    nxt = page[-1]["sigil"] if len(entries) > limit else None
    lines = [f"{h['sigil']}  {h['sid']}  on {h['device'] or str(h['home'])[:16]}  wane {h['wane']}" + ("  blooming" if h["blooming"] else "") + ("  unread" if h["unread"] else "") for h in hums]
    return "\n".join(lines) or "no hums", {"hums": hums, "next": nxt}


def petal_line(tone: Tone) -> str:
    """One petal as a line of text for a model to read."""
    chi, wane = tone.chi, tone.get("wane")
    if chi == "prompt":
        return f"[{wane}] prompt from {tone.get('from')}: {tone.get('text', '')}"
    if chi == "chunk" and tone.get("chunkType") == NOTE:
        # hum's word, on a line of its own; of a long read's notes only the last, which says it is done
        progress = tone.get("progress")
        if isinstance(progress, dict) and progress.get("read") != progress.get("of"):
            return ""
        return f"\n[{wane}] note: {tone.get('delta', '')}\n"
    if chi == "chunk":
        return str(tone.get("delta", ""))
    if chi in ("permission-ask", "permit"):
        return f"[{wane}] {(said_as_text(tone) or '').strip()}"
    if chi == "finish":
        return f"\n[{wane}] finish ({tone.get('finishReason')})"
    return f"\n[{wane}] {chi}: {tone.get('message') or tone.get('qualifier') or ''}"


async def read_petals(humd: Humd, sg: str, since: int, limit: int) -> tuple[list[Tone], int]:
    """Up to `limit` petals of hum `sg` after `since`, and the tip its home named."""
    await need_hum(humd, sg)
    tap = HumTap(humd, "mcp-read")
    try:
        tap.attach(sg, since)
        return await read_log(tap, since, limit)
    finally:
        tap.close()


async def read_hum(humd: Humd, reader: Reader, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    sg = str(_str(args, "sigil"))
    since = _int(args, "since", 0, 0, 2**53)
    limit = _int(args, "limit", READ_DEFAULT, 1, READ_MAX)
    petals, tip = await read_petals(humd, sg, since, limit)
    last = int(petals[-1]["wane"]) if petals else since
    reader.saw(sg, last)
    text = "".join(("\n" if p.chi != "chunk" else "") + petal_line(p) for p in petals).strip()
    return text or f"nothing after wane {since}", {"sigil": sg, "wane": last, "tip": tip, "more": last < tip, "petals": [dict(p) for p in petals]}


def _target(humd: Humd, args: dict[str, Any]) -> HumTarget:
    sg, sid = _str(args, "sigil", required=False), _str(args, "sid", required=False)
    if (sg is None) == (sid is None):
        raise BadArgument("sigil", "give exactly one of `sigil` (an existing hum) or `sid` (a session id: the hum is made on first use)")
    return HumTarget(sg) if sg is not None else HumTarget.for_sid(humd, sid or "")


async def prompt_hum(humd: Humd, reader: Reader, args: dict[str, Any], target: HumTarget | None = None) -> tuple[str, dict[str, Any]]:
    target = target or _target(humd, args)
    text = str(_str(args, "text", limit=MAX_TEXT_CHARS))
    wait = _bool(args, "wait", True)
    model = _str(args, "model", required=False)
    if target.sid is None:
        await need_hum(humd, target.sigil)
    tap = HumTap(humd, "mcp")
    try:
        petals = tap.bloom(tap.prompt(target, text, **({"modelId": model} if model else {})))
        prompt = await anext(petals)
        sg, wane = str(prompt["sigil"]), int(prompt["wane"])
        if not wait:
            return f"prompted {sg} at wane {wane}", {"sigil": sg, "wane": wane, "answer": None, "finishReason": None}
        answer, end = "", prompt
        async for tone in petals:
            end = tone
            if tone.chi == "chunk" and tone.get("chunkType", "text_delta") == "text_delta":
                answer += str(tone.get("delta", ""))
            elif tone.chi in ("permission-ask", "permit"):
                answer += said_as_text(tone) or ""
            elif tone.chi == "error":
                raise petal_error(tone)
        last = int(end.get("wane") or wane)
        reader.saw(sg, last)
        return answer, {"sigil": sg, "wane": last, "answer": answer, "finishReason": end.get("finishReason")}
    finally:
        tap.close()


async def start_hum(humd: Humd, reader: Reader, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A new hum homed here (a fresh sid, or the one given), prompted with `text`."""
    sid = _str(args, "sid", required=False) or new_sid("mcp")
    return await prompt_hum(humd, reader, args, HumTarget.for_sid(humd, sid))


async def answer_permit(humd: Humd, reader: Reader, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    sg, permit_id = str(_str(args, "sigil")), str(_str(args, "permitId"))
    decision = args.get("decision")
    if decision not in DECISIONS:
        raise BadArgument("decision", "must be `allow` or `deny`")
    message = _str(args, "message", required=False, limit=MAX_MESSAGE_CHARS)
    permit = await answer_ask(humd, sg, permit_id, str(decision), message, kind="mcp")
    return f"{decision} {permit_id} of {sg} (permit at wane {permit['wane']})", {"sigil": sg, "permitId": permit_id, "decision": decision, "wane": permit["wane"]}


async def adopt_hum(humd: Humd, reader: Reader, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    sg = str(_str(args, "sigil"))
    force = _bool(args, "force", False)
    tap = HumTap(humd, "mcp-adopt")
    try:
        rid = secrets.token_hex(8)
        tap.session.receive(Tone.make("adopt", sigil=sg, force=force or None, rid=rid))
        while True:
            tone = await tap.next(FIRST_TONE_SECONDS)
            if tone is None:
                raise SurfaceError(504, "the humd did not answer the adoption in time", code="timeout")
            if tone.get("rid") != rid:
                continue
            if tone.chi != "adopted":
                raise tone_error(tone)
            answer = {k: tone.get(k) for k in ("sigil", "sid", "home", "epoch", "wane")}
            return f"{sg} is homed here now (epoch {tone.get('epoch')}, from wane {tone.get('wane')})", answer
    finally:
        tap.close()


async def forget_hum(humd: Humd, reader: Reader, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    sg = str(_str(args, "sigil"))
    answer = await humd.forget(sg)
    if answer.chi != "forgotten":
        raise tone_error(answer)
    return f"forgot {sg}", {k: v for k, v in answer.items() if k not in ("chi", "rid")}
