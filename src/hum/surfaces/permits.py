"""Answering a worker's permission ask over HTTP (the web chat's buttons, the AI SDK's approval responses).

An answer is a `release-permit` tone from a per-request nestler, routed to the
hum's home like any other; the request ends when the home has stored the
`permit` petal (ours, or an earlier one, which is a 409) or refused the answer.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hum.ensemble.trust.certificates import looks_like_humd_id
from hum.surfaces.http import FIRST_TONE_SECONDS, HumTap, SurfaceError, tone_error
from hum.wire.tones import Tone, is_petal

if TYPE_CHECKING:
    from hum.node.humd import Humd

DECISIONS = ("allow", "deny")
# A reason typed on a phone is a sentence; anything longer is a paste gone wrong.
MAX_MESSAGE_CHARS = 2000
# The refusals of an answer, as the HTTP status that says the same.
_REFUSAL_STATUS = {"already-decided": 409, "unknown-permit": 404, "bad-field": 400, "missing-field": 400}


def check_answer(decision: Any, message: Any) -> tuple[str, str | None]:
    """A decision and an optional reason from a request body, or a 400."""
    if decision not in DECISIONS:
        raise SurfaceError(400, "`decision` is `allow` or `deny`", code="bad-decision")
    if message is not None and (not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS):
        raise SurfaceError(400, f"`message` is text of at most {MAX_MESSAGE_CHARS} characters", code="bad-message")
    return decision, message or None


async def answer_ask(humd: Humd, sg: str, permit_id: str, decision: str, message: str | None, *, since: int = 0, kind: str = "web") -> Tone:
    """Answer ask `permit_id` of hum `sg` (its petal at a wane above `since`); returns the `permit` petal our answer made.

    An earlier answer is a 409 `already-decided` (`settle_ask` gives the permit it made instead).
    """
    permit, ours = await settle_ask(humd, sg, permit_id, decision, message, since=since, kind=kind)
    if not ours:
        raise _decided(permit)
    return permit


async def settle_ask(humd: Humd, sg: str, permit_id: str, decision: str, message: str | None, *, since: int, kind: str) -> tuple[Tone, bool]:
    """Answer the ask unless it is answered already: its `permit` petal, and whether our answer made it."""
    tap = HumTap(humd, kind)
    try:
        tap.attach(sg, since)
        tip = None
        asked = False
        while tip is None or since < tip:
            tone = await _next(tap)
            if tone.chi == "hello":
                tip = int(tone.get("wane") or 0)
            elif is_petal(tone):
                since = max(since, int(tone["wane"]))
                if tone.get("permitId") == permit_id:
                    asked = asked or tone.chi == "permission-ask"
                    if tone.chi == "permit":
                        return tone, False
        if not asked:
            raise SurfaceError(404, f"hum {sg} has no ask {permit_id} after wane {since}", code="unknown-permit")
        rid = secrets.token_hex(8)
        tap.session.receive(Tone.make("release-permit", sigil=sg, permitId=permit_id, decision=decision, message=message, rid=rid))
        ours = True
        while True:
            tone = await _next(tap)
            if tone.chi == "error" and tone.get("rid") == rid:
                qualifier = str(tone.get("qualifier") or "")
                if qualifier != "already-decided":
                    raise SurfaceError(_REFUSAL_STATUS.get(qualifier, 502), str(tone.get("message") or qualifier), code=qualifier or None)
                ours = False  # another answer got there first: its permit petal is on its way
            if tone.chi == "permit" and tone.get("permitId") == permit_id:
                return tone, ours
            if tone.chi in ("finish", "error") and is_petal(tone):
                raise SurfaceError(404, f"the bloom that asked {permit_id} ended before the answer arrived", code="unknown-permit")
    finally:
        tap.close()


async def _next(tap: HumTap) -> Tone:
    tone = await tap.next(FIRST_TONE_SECONDS)
    if tone is None:
        raise SurfaceError(504, "the hum's home did not answer in time", code="timeout")
    if tone.chi == "error" and not is_petal(tone) and tone.get("rid") is None:
        raise tone_error(tone)  # the hum cannot be reached (a refusal of our answer carries its rid)
    return tone


def _decided(permit: Tone) -> SurfaceError:
    who = permit.get("from")
    return SurfaceError(409, f"already answered ({permit.get('decision')}) by {who}", code="already-decided")


def said_as_text(tone: Tone, names: Mapping[str, str] | None = None) -> str | None:
    """An ask or its answer as plain text, for surfaces whose protocol has no such message (OpenAI's);
    a device that answered is named as its person named it (`names`: HumdId -> name), with its short id."""
    sg, permit_id = tone.get("sigil"), tone.get("permitId")
    if tone.chi == "permission-ask":
        what = json.dumps(tone.get("input"), ensure_ascii=False)
        return (
            f"\n\n[hum] {tone.get('question')}\n{tone.get('tool')} {what}\n"
            f"Answer from any device: `hum approve {sg} {permit_id}` or `hum deny {sg} {permit_id} --message WHY`"
            " (or the Allow / Deny buttons of the web chat).\n\n"
        )
    if tone.chi == "permit":
        verb = "allowed" if tone.get("decision") == "allow" else "denied"
        why = f": {tone.get('message')}" if tone.get("message") else ""
        by = str(tone.get("from"))
        if looks_like_humd_id(by):
            hid = by.removeprefix("humd_")
            name = (names or {}).get(hid)
            by = f"{name} ({hid[:8]})" if name else f"device {hid[:8]}"
        return f"[hum] {verb} by {by}{why}\n\n"
    return None
