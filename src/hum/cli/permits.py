"""`hum approve` and `hum deny`: answer a worker's permission ask from any device."""

from __future__ import annotations

import argparse
from typing import Any

from hum.cli.common import CliError, console, home_of, print_json, thrum_path
from hum.cli.nestling import as_nestler, prompt_origin, shown_input
from hum.wire.tones import Tone, is_petal, rid


def cmd_approve(args: argparse.Namespace) -> int:
    return _answer(args, "allow")


def cmd_deny(args: argparse.Namespace) -> int:
    return _answer(args, "deny")


def _answer(args: argparse.Namespace, decision: str) -> int:
    from hum.surfaces.thrum import ThrumClient

    async def go() -> int:
        client, breath = await ThrumClient.connect(thrum_path(home_of(args)))
        try:
            me = str(breath.get("humdId") or "")
            ask = await _open_ask(client, args.sigil, args.permit_id)
            answer: dict[str, Any] = {"sigil": args.sigil, "permitId": args.permit_id, "decision": decision, "rid": rid()}
            if getattr(args, "message", None):
                answer["message"] = args.message
            client.send(Tone(chi="release-permit", **answer))
            permit = await _permit_for(client, args.sigil, args.permit_id, answer["rid"])
            by = prompt_origin(permit.get("from"), None, me)
            if permit.get("decision") != decision or permit.get("from") not in (me, "hum-cli"):
                raise CliError(f"already-decided: {by} answered first ({permit.get('decision')})")
            if args.json:
                print_json({"sigil": args.sigil, "permitId": args.permit_id, "decision": decision, "tool": ask.get("tool"), "wane": permit.get("wane")})
            else:
                verb = "allowed" if decision == "allow" else "denied"
                console.print(f"{verb}: {ask.get('tool')} {shown_input(ask.get('input'))} on hum {args.sigil}")
            return 0
        finally:
            client.close()

    return as_nestler(go())


async def _open_ask(client: Any, sigil: str, permit_id: str) -> Tone:
    """The hum's log up to its tip: the ask `permit_id`, still open; otherwise a one-line error."""
    client.send(Tone(chi="attach", sigil=sigil, since=0, rid=rid()))
    tip: int | None = None
    ask: Tone | None = None
    permit: Tone | None = None
    last = 0
    while tip is None or last < tip:
        tone = await client.receive()
        if tone.get("sigil") not in (None, sigil):
            continue
        if tone.chi == "error" and not is_petal(tone):
            raise CliError(f"{tone.get('qualifier')}: {tone.get('message')}")
        if tone.chi == "hello":
            tip = int(tone.get("wane") or 0)
            continue
        if not is_petal(tone):
            continue
        last = int(tone["wane"])
        if tone.get("permitId") == permit_id:
            if tone.chi == "permission-ask":
                ask = tone
            elif tone.chi == "permit":
                permit = tone
    if ask is None:
        raise CliError(f"unknown-permit: hum {sigil} never asked {permit_id} (hum attach {sigil} shows its asks)")
    if permit is not None:
        raise CliError(f"already-decided: {permit_id} was answered by {prompt_origin(permit.get('from'), None, None)} ({permit.get('decision')})")
    return ask


async def _permit_for(client: Any, sigil: str, permit_id: str, answer_rid: str) -> Tone:
    """The `permit` petal that closes the ask, or the refusal of our answer."""
    while True:
        tone = await client.receive()
        if tone.chi == "error" and tone.get("rid") == answer_rid:
            raise CliError(f"{tone.get('qualifier')}: {tone.get('message')}")
        if tone.chi == "error" and not is_petal(tone) and tone.get("sigil") == sigil:
            raise CliError(f"{tone.get('qualifier')}: {tone.get('message')}")
        if tone.chi == "permit" and tone.get("sigil") == sigil and tone.get("permitId") == permit_id:
            return tone
        if tone.chi in ("finish", "error") and tone.get("sigil") == sigil and is_petal(tone):
            raise CliError(f"unknown-permit: the bloom that asked {permit_id} ended before the answer arrived")
