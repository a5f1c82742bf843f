"""`hum adopt` and `hum show`: take a hum over when its home is gone, and read a hum with its orphaned branches."""

from __future__ import annotations

import argparse
from typing import Any

from hum.cli.common import console, daemon_request, home_of, print_json, thrum_path
from hum.cli.nestling import _refusal, as_nestler
from hum.wire.tones import Tone, is_petal, rid


def cmd_adopt(args: argparse.Namespace) -> int:
    from hum.surfaces.thrum import ThrumClient

    async def go() -> int:
        client, _ = await ThrumClient.connect(thrum_path(home_of(args)))
        ask = rid()
        client.send(Tone.make("adopt", rid=ask, sigil=args.sigil, force=True if args.force else None))
        while True:
            tone = await client.receive()
            if tone.get("rid") == ask:
                break
        client.close()
        if tone.chi == "error":
            raise _refusal(tone)
        if args.json:
            print_json(tone)
        else:
            console.print(f"hum {tone['sigil']} is homed on this device now (epoch {tone['epoch']}, from wane {tone['wane']})")
        return 0

    return as_nestler(go())


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
