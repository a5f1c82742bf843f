"""`hum adopt`, `hum forget` and `hum show`: take a hum over when its home is gone, remove one, read one with its orphaned branches."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hum.cli.common import (
    CliError,
    console,
    daemon_request,
    err_console,
    home_of,
    print_json,
    thrum_path,
)
from hum.cli.nestling import _refusal, as_nestler
from hum.wire.tones import Tone, is_petal, rid


def ask_humd(args: argparse.Namespace, request: Tone) -> Tone:
    """Send one request on the thrum socket and return its answer (the tone with its `rid`); a refusal raises."""
    from hum.surfaces.thrum import ThrumClient

    async def go() -> int:
        client, _ = await ThrumClient.connect(thrum_path(home_of(args)))
        client.send(request)
        while (tone := await client.receive()).get("rid") != request["rid"]:
            pass
        client.close()
        if tone.chi == "error":
            raise _refusal(tone)
        answers.append(tone)
        return 0

    answers: list[Tone] = []
    as_nestler(go())
    return answers[0]


def cmd_adopt(args: argparse.Namespace) -> int:
    tone = ask_humd(args, Tone.make("adopt", rid=rid(), sigil=args.sigil, force=True if args.force else None))
    if args.json:
        print_json(tone)
    else:
        console.print(f"hum {tone['sigil']} is homed on this device now (epoch {tone['epoch']}, from wane {tone['wane']})")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Forget a hum: everywhere when it lives here, else only this device's copy (it lives on at its home)."""
    tone = ask_humd(args, Tone(chi="forget", rid=rid(), sigil=args.sigil))
    if args.json:
        print_json(tone)
    elif tone["where"] == "everywhere":
        console.print(f"forgot hum {tone['sigil']} everywhere (it lived here)", markup=False)
    else:
        home = str(tone["home"])
        where = f"{tone['homeName']} ({home[:8]})" if tone.get("homeName") else home[:8]
        console.print(f"forgot this device's copy of hum {tone['sigil']}; it still lives on {where}", markup=False)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """The hum's whole log as this humd serves it, and with --orphans the branches kept aside.

    What cannot be read (a damaged petal, the home out of reach) is said, after everything that
    can: the petals before it, and the orphaned branches, which this device keeps whatever the home.
    """
    log: list[Tone] = []
    unreadable: dict[str, Any] | None = None
    try:
        unreadable = as_nestler(_read_log(args, log))
    except CliError as exc:
        if not args.orphans:
            raise
        unreadable = {"qualifier": "unreadable", "message": str(exc)}
    orphans: list[dict[str, Any]] = daemon_request(home_of(args), "GET", f"/hum/hums/{args.sigil}/orphans")["orphans"] if args.orphans else []
    if args.json:
        print_json({"sigil": args.sigil, "petals": log, **({"orphans": orphans} if args.orphans else {}), **({"unreadable": unreadable} if unreadable else {})})
    else:
        for tone in log:
            console.print(f"{tone['wane']:6}  {_line(tone)}", markup=False)
        if args.orphans:
            console.print(f"\n[bold]orphaned branches[/] ({len(orphans)} petals)" if orphans else "\nno orphaned branch")
            for o in orphans:
                console.print(f"epoch {o['epoch']}  {o['wane']:6}  {_line(Tone(o))}", markup=False)
    if unreadable:
        sys.stdout.flush()
        err_console.print(f"hum: {_unreadable_line(args.sigil, unreadable)}", markup=False)
        return 1
    return 0


async def _read_log(args: argparse.Namespace, log: list[Tone]) -> dict[str, Any] | None:
    """Read the hum's log into `log` up to its tip; what stopped it short (a `cannot-read`, a lost home), or None."""
    from hum.surfaces.thrum import ThrumClient

    client, _ = await ThrumClient.connect(thrum_path(home_of(args)))
    try:
        client.send(Tone(chi="attach", rid=rid(), sigil=args.sigil, since=0))
        hello = await client.receive()
        while hello.chi not in ("hello", "error") or hello.get("sigil") not in (None, args.sigil):
            hello = await client.receive()
        if hello.chi == "error":
            raise _refusal(hello)
        while len(log) < int(hello["wane"]):
            tone = await client.receive()
            if is_petal(tone):
                log.append(tone)
            elif tone.chi == "error" and tone.get("sigil") in (None, args.sigil):
                # the tap ended here: a damaged petal, or the home gone mid-read; the rest is not coming
                return {"qualifier": tone.get("qualifier"), "message": tone.get("message"), "from": len(log) + 1, "tip": hello["wane"]}
    finally:
        client.close()
    return None


def _unreadable_line(sigil: str, unreadable: dict[str, Any]) -> str:
    if "from" in unreadable:
        return (
            f"hum {sigil}: petals {unreadable['from']} to {unreadable['tip']} cannot be read here "
            f"({unreadable['qualifier']}: {unreadable['message']}); the ones before are shown"
        )
    return f"hum {sigil}: its log cannot be read here ({unreadable['message']}); its orphaned branches are shown"


def _line(tone: Tone) -> str:
    chi = tone.chi
    if chi == "prompt":
        return f"> {tone.get('text')}"
    if chi == "chunk":
        return str(tone.get("delta", ""))
    if chi in ("error", "finish"):
        return f"[{chi}] {tone.get('qualifier') or tone.get('finishReason') or ''}"
    return f"[{chi}] {tone.get('text') or tone.get('tool') or tone.get('decision') or ''}"
