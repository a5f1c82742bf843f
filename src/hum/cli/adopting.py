"""`hum adopt`, `hum forget` and `hum show`: take a hum over when its home is gone, remove one, read one with its orphaned branches."""

from __future__ import annotations

import argparse
from typing import Any

from hum.cli.common import console, daemon_request, home_of, print_json, thrum_path
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
    """The hum's whole log as this humd serves it, and with --orphans the branches kept aside."""
    from hum.surfaces.thrum import ThrumClient

    async def go() -> list[Tone]:
        client, _ = await ThrumClient.connect(thrum_path(home_of(args)))
        client.send(Tone(chi="attach", rid=rid(), sigil=args.sigil, since=0))
        hello = await client.receive()
        while hello.chi not in ("hello", "error"):
            hello = await client.receive()
        if hello.chi == "error":
            raise _refusal(hello)
        log: list[Tone] = []
        while len(log) < int(hello["wane"]):
            tone = await client.receive()
            if is_petal(tone):
                log.append(tone)
        client.close()
        return log

    log: list[Tone] = []

    async def collect() -> int:
        log.extend(await go())
        return 0

    as_nestler(collect())
    orphans: list[dict[str, Any]] = daemon_request(home_of(args), "GET", f"/hum/hums/{args.sigil}/orphans")["orphans"] if args.orphans else []
    if args.json:
        print_json({"sigil": args.sigil, "petals": log, **({"orphans": orphans} if args.orphans else {})})
        return 0
    for tone in log:
        console.print(f"{tone['wane']:6}  {_line(tone)}")
    if args.orphans:
        console.print(f"\n[bold]orphaned branches[/] ({len(orphans)} petals)" if orphans else "\nno orphaned branch")
        for o in orphans:
            console.print(f"epoch {o['epoch']}  {o['wane']:6}  {_line(Tone(o))}")
    return 0


def _line(tone: Tone) -> str:
    chi = tone.chi
    if chi == "prompt":
        return f"> {tone.get('text')}"
    if chi == "chunk":
        return str(tone.get("delta", ""))
    if chi in ("error", "finish"):
        return f"[{chi}] {tone.get('qualifier') or tone.get('finishReason') or ''}"
    return f"[{chi}] {tone.get('text') or tone.get('tool') or tone.get('decision') or ''}"
