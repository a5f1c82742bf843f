"""The phone as a remote (issue 21): `hum pair --browser`, `hum device list`, `hum project add|list|remove`."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hum.cli.common import CliError, console, daemon_request, err_console, home_of, print_json
from hum.daemon.home import HomeError


def cmd_pair_browser(args: argparse.Namespace) -> int:
    """A one-time link for a browser, as a QR code and as text; the first browser to open it is enrolled."""
    import segno

    home = home_of(args)
    offer = daemon_request(home, "POST", "/hum/pair/browser", {"address": args.address} if args.address else {})
    if args.json:
        print_json({"url": offer["url"], "code": offer["code"], "expires": offer["expires"]})
        return 0
    qr = segno.make(offer["url"], error="m")
    qr.terminal(out=sys.stdout, compact=True)
    console.print(f"open on the phone (one browser, within 5 minutes):  [bold]{offer['url']}[/]")
    console.print("the phone must reach this address (same Wi-Fi, or Tailscale: `hum pair --browser --address <tailscale name>`)")
    if offer.get("loopback"):
        err_console.print("warning: this humd serves HTTP on this machine only, so a phone cannot open that link; start it with `hum up --http 0.0.0.0:7434`")
    if offer.get("plain"):
        err_console.print(
            "warning: this address is plain http:// off this device: anyone on that network can read the chat and the browser's cookie; "
            "use it on a network you trust, or serve humd behind TLS (see README, \"Your phone\")"
        )
    return 0


def _seen(ms: Any) -> str:
    if not ms:
        return "not linked"
    ago = max(0.0, time.time() - ms / 1000)
    if ago < 60:
        return "now"
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def cmd_device_list(args: argparse.Namespace) -> int:
    listing = daemon_request(home_of(args), "GET", "/hum/devices")
    if args.json:
        print_json(listing)
        return 0
    for device in listing["devices"]:
        this = "  (this device)" if device.get("this") else ""
        console.print(f"{device['name']:<24} {device['kind']:<8} {device['id'][:16]:<16}  last seen {_seen(device.get('lastSeen'))}{this}", markup=False)
    return 0


def revoke_browser(args: argparse.Namespace) -> int:
    """`hum device revoke NAME` for a browser: its cookie gets 401 from now on (with no humd running, from its next start)."""
    if _running(args):
        answer = daemon_request(home_of(args), "POST", "/hum/browsers/revoke", {"name": args.humd_id})
    else:
        from hum.surfaces.browsers import BROWSERS_FILE, BrowserBook

        try:
            browser = BrowserBook(home_of(args).path / BROWSERS_FILE).revoke(args.humd_id)
        except KeyError:
            raise CliError(f"no device named {args.humd_id[:80]!r} (see `hum device list`)") from None
        answer = {"revoked": browser.name, "id": browser.id, "kind": "browser"}
    if args.json:
        print_json(answer)
    else:
        console.print(f"revoked {answer['revoked']} (a browser): its next request is refused", markup=False)
    return 0


# -- projects ------------------------------------------------------------------------------


def _running(args: argparse.Namespace) -> bool:
    try:
        home_of(args).runtime()
    except HomeError:
        return False
    return True


def _offline_projects(args: argparse.Namespace, change: Any) -> dict[str, Any]:
    """No humd running: edit the home's registry directly (read at the next start)."""
    from hum.daemon.projects import ProjectError, load_projects, save_projects

    home = home_of(args)
    try:
        home.ensure()
        projects = change(load_projects(home.path))
    except ProjectError as exc:
        raise CliError(str(exc)) from exc
    save_projects(home.path, projects)
    return {"projects": [{"name": p.name, "worker": p.worker, "permissionMode": p.permission_mode, "dir": p.directory, "here": True, "linked": True} for p in projects]}


def cmd_project_add(args: argparse.Namespace) -> int:
    body = {"dir": str(Path(args.dir).expanduser().resolve()), "name": args.name, "worker": args.worker, "permissionMode": args.permission_mode, "allow": args.allow}
    if _running(args):
        listing = daemon_request(home_of(args), "POST", "/hum/projects", body)
    else:
        from hum.daemon.projects import add_project, new_project

        listing = _offline_projects(args, lambda projects: add_project(projects, new_project(body)))
    name = args.name or Path(body["dir"]).name
    added = next(p for p in listing["projects"] if p.get("here") and p["name"] == name)
    if args.json:
        print_json(added)
    else:
        console.print(f"project {added['name']} ({added['worker']}) in {added['dir']}; start a hum in it from any device: hum prompt --project {added['name']} \"…\"", markup=False)
    return 0


def cmd_project_remove(args: argparse.Namespace) -> int:
    if _running(args):
        daemon_request(home_of(args), "DELETE", f"/hum/projects/{quote(args.name, safe='')}")
    else:
        from hum.daemon.projects import remove_project

        _offline_projects(args, lambda projects: remove_project(projects, args.name))
    if args.json:
        print_json({"removed": args.name})
    else:
        console.print(f"removed project {args.name} (its hums stay)", markup=False)
    return 0


def cmd_project_list(args: argparse.Namespace) -> int:
    listing = daemon_request(home_of(args), "GET", "/hum/projects") if _running(args) else _offline_projects(args, lambda p: p)
    if args.json:
        print_json(listing)
        return 0
    if not listing["projects"]:
        console.print("no projects yet: hum project add DIR [--name NAME]")
    for p in listing["projects"]:
        where = "this device" if p.get("here") else f"{p.get('deviceName') or p['device'][:8]}{'' if p.get('linked') else ' (not linked)'}"
        console.print(f"{p['name']:<20} {p['worker']:<11} {where:<24} {p.get('dir') or ''}", markup=False)
    return 0


def add_parsers(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """`hum project ...` (called by `build_parser`)."""
    project = sub.add_parser("project", help="projects: directories a hum can be started in from any device")
    proj_sub = project.add_subparsers(dest="action", required=True)
    add = proj_sub.add_parser("add", parents=[common, as_json], help="register a directory of this device as a project")
    add.add_argument("dir", metavar="DIR")
    add.add_argument("--name", help="its name on every device (default: the directory's name)")
    add.add_argument("--worker", choices=("claude-cli", "openai", "anthropic", "local", "scripted"), help="the worker its hums run on (default claude-cli)")
    add.add_argument("--permission-mode", help="claude's --permission-mode for its hums (acceptEdits, plan, ...)")
    add.add_argument("--allow", help="tools its hums use without asking, comma-separated (e.g. Read,Bash(git status))")
    add.set_defaults(func=cmd_project_add)
    listing = proj_sub.add_parser("list", parents=[common, as_json], help="every project of the ensemble and where it lives")
    listing.set_defaults(func=cmd_project_list)
    remove = proj_sub.add_parser("remove", parents=[common, as_json], help="unregister a project of this device (its hums stay)")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(func=cmd_project_remove)
