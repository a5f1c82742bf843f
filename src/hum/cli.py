"""`hum`: the command line. Rich output for people, `--json` for scripts."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def _demo_roam(args: argparse.Namespace) -> int:
    if args.real:
        from hum.daemon.roam_real import report as real_report

        result, lines = real_report(json_only=args.json)
    else:
        from hum.sim.roam import report

        result, timeline = report(rtt=args.rtt / 1000.0)
        lines = [f"{t:9.1f} ms  {who:7}  {what}" for t, who, what in timeline.lines]
    if args.json:
        print(json.dumps(result))
        return 0 if result["ok"] else 1
    where = "two real humd processes on loopback" if args.real else f"the sim, RTT {args.rtt:g} ms, virtual clock"
    console.print(f"[bold]phone-laptop-roam[/] in {where}\n")
    for line in lines:
        console.print(line, highlight=False)
    console.print()
    for name, c in result["criteria"].items():
        mark = "[green]ok  [/]" if c["ok"] else "[red]FAIL[/]"
        limit = f"  (limit {c['limit']})" if c["limit"] is not None else ""
        console.print(f"{mark} {name}: {json.dumps(c['value'])}{limit}", highlight=False)
    console.print("[bold green]all criteria hold[/]" if result["ok"] else "[bold red]some criteria fail[/]")
    return 0 if result["ok"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hum", description="One conversation that follows you across your devices.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run a scenario end to end")
    demo_sub = demo.add_subparsers(dest="scenario", required=True)
    roam = demo_sub.add_parser("roam", help="the phone-laptop-roam story")
    roam.add_argument("--json", action="store_true", help="print one JSON report")
    roam.add_argument("--real", action="store_true", help="two real humd processes instead of the sim")
    roam.add_argument("--rtt", type=float, default=60.0, help="simulated round trip in ms (sim only)")
    roam.set_defaults(func=_demo_roam)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Refusals and lost links are logged as warnings; the demo shows them as results.
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        err_console.print(f"hum: {exc}", highlight=False, markup=False)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
