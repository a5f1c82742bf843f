"""`hum notify`: what this device pushes (per device, per hum, per subscription), quiet hours, and a test to every channel."""

from __future__ import annotations

import argparse
from typing import Any

from hum.cli.common import CliError, console, daemon_request, home_of, print_json

LEVEL_WORDS = {"none": "nothing", "asks": "asks only", "all": "asks and finishes"}
# A test goes to every channel, each with its own timeout (10 s): the request waits for all of them.
TEST_TIMEOUT = 60.0


def add_notify_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    notify = sub.add_parser("notify", help="what this device pushes, quiet hours, and a test")
    notify_sub = notify.add_subparsers(dest="action")
    notify.set_defaults(func=cmd_notify_show)
    show = notify_sub.add_parser("show", parents=[common, as_json], help="what is pushed now, and to where")
    show.set_defaults(func=cmd_notify_show)
    set_p = notify_sub.add_parser("set", parents=[common, as_json], help="push nothing, asks only, or asks and finishes")
    set_p.add_argument("level", choices=("none", "asks", "all", "default"), help="default: (with --hum) this device's choice")
    which = set_p.add_mutually_exclusive_group()
    which.add_argument("--hum", metavar="SIGIL", help="only for this hum")
    which.add_argument("--subscription", metavar="ID", help="only for this browser's subscription")
    set_p.set_defaults(func=cmd_notify_set)
    quiet = notify_sub.add_parser("quiet", parents=[common, as_json], help="quiet hours: only asks are pushed between START and END")
    quiet.add_argument("start", metavar="START", help="HH:MM, or off")
    quiet.add_argument("end", metavar="END", nargs="?", help="HH:MM")
    quiet.set_defaults(func=cmd_notify_quiet)
    homes = notify_sub.add_parser("homes", parents=[common, as_json], help="also tell when a followed hum's home is lost and back (off by default)")
    homes.add_argument("switch", choices=("on", "off"))
    homes.set_defaults(func=cmd_notify_homes)
    test = notify_sub.add_parser("test", parents=[common, as_json], help="send a test notification to every channel")
    test.set_defaults(func=cmd_notify_test)
    for p in (notify,):
        p.add_argument("--home", help=argparse.SUPPRESS)
        p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)


def _show(answer: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print_json(answer)
        return 0
    console.print(f"this device pushes: {LEVEL_WORDS[answer['level']]}")
    for sg, level in sorted(answer.get("hums", {}).items()):
        console.print(f"  hum {sg}: {LEVEL_WORDS[level]}")
    quiet = answer.get("quiet")
    console.print(f"quiet hours: {quiet['start']}-{quiet['end']} (only asks)" if quiet else "quiet hours: none")
    console.print(f"a hum's home lost and back: {'told' if answer.get('homes') else 'not told'}")
    subs = answer.get("subscriptions", [])
    console.print(f"browsers: {len(subs)}" + "".join(f"\n  {s['id']}  {LEVEL_WORDS[s['notify']]}  via {s['service']}" for s in subs))
    console.print(f"other channels (hum up --notify): {answer.get('channels', 0)}")
    return 0


def cmd_notify_show(args: argparse.Namespace) -> int:
    return _show(daemon_request(home_of(args), "GET", "/hum/push/choices"), args.json)


def cmd_notify_set(args: argparse.Namespace) -> int:
    if args.level == "default" and not args.hum:
        raise CliError("`default` means this device's choice: use it with --hum SIGIL")
    if args.hum:
        body: dict[str, Any] = {"hums": {args.hum: None if args.level == "default" else args.level}}
    elif args.subscription:
        body = {"subscription": {"id": args.subscription, "notify": args.level}}
    else:
        body = {"level": args.level}
    return _show(daemon_request(home_of(args), "POST", "/hum/push/choices", body), args.json)


def cmd_notify_quiet(args: argparse.Namespace) -> int:
    if args.start == "off":
        quiet = None
    elif args.end is None:
        raise CliError("quiet hours need a START and an END (HH:MM HH:MM), or `off`")
    else:
        quiet = {"start": args.start, "end": args.end}
    return _show(daemon_request(home_of(args), "POST", "/hum/push/choices", {"quiet": quiet}), args.json)


def cmd_notify_homes(args: argparse.Namespace) -> int:
    return _show(daemon_request(home_of(args), "POST", "/hum/push/choices", {"homes": args.switch == "on"}), args.json)


def cmd_notify_test(args: argparse.Namespace) -> int:
    results = daemon_request(home_of(args), "POST", "/hum/push/test", {}, timeout=TEST_TIMEOUT)["results"]
    if args.json:
        print_json({"results": results})
    elif not results:
        console.print("no channels: open the web chat and press Notify me, or start humd with --notify URL")
    for r in [] if args.json else results:
        console.print(f"{'sent  ' if r['ok'] else 'FAILED'}  {r['kind']:8}  {r['channel']}" + ("" if r["ok"] else f"  ({r['reason']})"))
    return 0 if all(r["ok"] for r in results) else 1
