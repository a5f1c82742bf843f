"""The running humd: `hum up`, `hum status`, `hum peers`, `hum hums`, and `hum demo`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from hum.cli.common import (
    CliError,
    console,
    daemon_request,
    home_of,
    print_json,
)
from hum.daemon.home import HomeError


def cmd_up(args: argparse.Namespace) -> int:
    from hum.daemon.event_loop import run_on_chosen_loop
    from hum.daemon.run import DaemonOptions, serve
    from hum.errors import IdentityError, StoreError, WorkerError

    logging.getLogger().setLevel(logging.INFO if args.verbose else logging.WARNING)
    home = home_of(args)
    if args.init and not home.has_identity():
        try:
            identity = home.init_operator(args.name)
        except HomeError as exc:
            raise CliError(str(exc)) from exc
        if not args.json:
            console.print(f"first run: created an operator key and this device's identity in {home.path}")
            console.print(f"  ({identity.humd_id[:16]}...; to join another device's ensemble instead, use `hum join` with a fresh --home)")
    options = DaemonOptions(
        home=home.path,
        listen=None if args.listen == "none" else args.listen,
        http=None if args.http == "none" else args.http,
        ollama=args.ollama,
        thrum=Path(args.thrum) if args.thrum else None,
        peers=list(args.peer or []),
        worker=args.worker,
        auto_adopt=args.auto_adopt,
        retain_days=args.retain_days,
        iroh=args.iroh,
        iroh_relay=args.iroh_relay,
        iroh_bind=args.iroh_bind,
        relay=args.relay,
        notify=list(args.notify or []),
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        public_url=args.public_url,
    )

    def ready(info: dict[str, Any]) -> None:
        if args.json:
            print_json(info)
            sys.stdout.flush()
            return
        console.print(f"[bold green]humd up[/]  {info['name']}  {info['humdId']}")
        print_addresses(info, info['listen'] or 'not listening')
        console.print(f"  worker    {info['worker']} (models: {', '.join(info['models'])})")
        console.print("Ctrl-C stops it.")

    try:
        run_on_chosen_loop(serve(options, ready))
    except (HomeError, IdentityError, StoreError) as exc:
        raise CliError(str(exc)) from exc
    except WorkerError as exc:
        raise CliError(f"worker {args.worker}: {exc.message}") from exc
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot start: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")) from exc
    return 0


def print_addresses(info: dict[str, Any], ensemble: object) -> None:
    """Where a humd can be reached, as `hum up` and `hum status` both print it."""
    console.print(f"  ensemble  {ensemble}")
    for way in ("iroh", "relay"):
        if info.get(way):
            console.print(f"  {way:9} {info[way]}")
    console.print(f"  thrum     {info.get('thrum')}")
    for name, url in info.get("urls", {}).items():
        console.print(f"  {name:9} {url}")


def cmd_status(args: argparse.Namespace) -> int:
    home = home_of(args)
    status = daemon_request(home, "GET", "/hum/status")
    token_file = home.path / "token"
    status["token"] = token_file.read_text().strip() if token_file.exists() else None
    if args.json:
        print_json(status)
        return 0
    console.print(f"[bold]{status.get('name')}[/]  {status['humdId']}  (pid {status.get('pid')})")
    print_addresses(status, status.get('listen'))
    console.print(f"  peers     {len(status['peers'])}   hums {len(status['hums'])}")
    retention = status.get("retention") or {}
    if retention.get("days") is None:
        console.print("  retain    keep everything")
    else:
        days = retention["days"]
        console.print(f"  retain    forget hums untouched for {days:g} day{'' if days == 1 else 's'} ({retention.get('forgotten', 0)} forgotten since start)")
    if status.get("refusedConnections"):
        console.print(f"  refused   {status['refusedConnections']} ensemble connections at accept (too many not yet authenticated)")
    store = status.get("store", {"ok": True})
    if not store["ok"]:
        console.print(f"  [bold red]store     {store['fault']}: {store['message']} (retrying)[/]")
    for damaged in store.get("damaged", []):
        what = f"hum {damaged['sigil']}" if damaged.get("kind", "hum") == "hum" else damaged["sigil"]
        console.print(f"  [bold red]damaged   {what} is set aside: {damaged['reason']}[/]", highlight=False)
    if status["token"]:
        console.print(f"  token     {status['token']}")
    return 0


def device_label(humd_id: str, names: dict[str, str]) -> str:
    """A device as people know it: its name, with the short HumdId beside."""
    name = names.get(humd_id)
    return f"{name} ({humd_id[:8]})" if name else humd_id[:8]


def cmd_peers(args: argparse.Namespace) -> int:
    answer = daemon_request(home_of(args), "GET", "/hum/peers")
    peers, names = answer["peers"], answer.get("names", {})
    if args.json:
        print_json({"peers": peers, "names": names})
    elif not peers:
        console.print("no peers linked")
    else:
        for peer in peers:
            console.print(f"{device_label(peer, names)}  {peer}")
    return 0


def cmd_hums(args: argparse.Namespace) -> int:
    answer = daemon_request(home_of(args), "GET", "/hum/hums")
    hums, names = answer["hums"], answer.get("names", {})
    if args.json:
        print_json({"hums": hums})
    elif not hums:
        console.print("no hums yet")
    else:
        for hum in hums:
            unread = f"  [bold]{hum['unread']} unread[/]" if hum.get("unread") else ""
            console.print(f"{hum['sigil']}  wane {hum.get('wane')}  sid {hum.get('sid')}  home {device_label(str(hum.get('home')), names)}{unread}")
    return 0




def cmd_demo_roam(args: argparse.Namespace) -> int:
    if args.approvals and not args.real:
        raise CliError("--approvals runs between real processes: add --real")
    if args.notify and not args.real:
        raise CliError("--notify runs between real processes: add --real")
    if args.notify:
        from hum.demo.roam_notify import report as notify_report

        result, lines = notify_report(rtt=args.rtt / 1000.0)
    elif args.approvals:
        from hum.demo.roam_approvals import report as approvals_report

        result, lines = approvals_report(rtt=args.rtt / 1000.0)
    elif args.adopt:
        from hum.demo.adopt import real_report as adopt_real
        from hum.demo.adopt import sim_report as adopt_sim

        if args.real:
            result, lines = adopt_real()
        else:
            result, story = adopt_sim(rtt=args.rtt / 1000.0)
            lines = [f"\n[bold]{what}[/]" if who == "--" else f"{t:9.1f} ms  {who:7}  {what}" for t, who, what in story.lines]
    elif args.real:
        from hum.demo.roam_real import report as real_report

        result, lines = real_report(rtt=args.rtt / 1000.0, transport=args.transport)
    else:
        from hum.demo.roam import report

        result, timeline = report(rtt=args.rtt / 1000.0)
        lines = [f"\n[bold]{what}[/]" if who == "--" else f"{t:9.1f} ms  {who:7}  {what}" for t, who, what in timeline.lines]
    if args.json:
        print_json(result)
        return 0 if result["ok"] else 1
    story = "phone-laptop-roam with notifications" if args.notify else "phone-laptop-roam with approvals" if args.approvals else "phone-laptop-roam"
    if args.real and args.transport != "tcp":
        where = f"two real humd processes linked over {args.transport} only (loopback, no added latency)"
    else:
        where = f"two real humd processes, RTT {args.rtt:g} ms" if args.real else f"the sim, RTT {args.rtt:g} ms, virtual clock"
    console.print(f"[bold]{story}[/] in {where}")
    for line in lines:
        console.print(line)
    console.print()
    for name, c in result["criteria"].items():
        mark = "[green]ok  [/]" if c["ok"] else "[red]FAIL[/]"
        limit = f"  (limit {c['limit']})" if c["limit"] is not None else ""
        console.print(f"{mark} {name}: {json.dumps(c['value'])}{limit}")
    console.print("[bold green]all criteria hold[/]" if result["ok"] else "[bold red]some criteria fail[/]")
    return 0 if result["ok"] else 1


def cmd_relay(args: argparse.Namespace) -> int:
    """magic-wormhole-transit-relay as the relay, with caps and deadlines on unmatched connections."""
    import importlib.util

    from hum.wire.addresses import split_address

    try:
        host, port = split_address(args.listen)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if importlib.util.find_spec("wormhole_transit_relay") is None:
        raise CliError("the transit relay is not installed: pip install 'hum[relay]'")
    if args.unmatched_timeout <= 0 or args.max_unmatched < 1:
        raise CliError("--unmatched-timeout is a number of seconds above 0, --max-unmatched a whole number above 0")
    from hum.daemon.relay_host import serve_relay

    return serve_relay(host, port, unmatched_timeout=args.unmatched_timeout, max_unmatched=args.max_unmatched)


# -- the parser ---------------------------------------------------------------------------




def cmd_chaos(args: argparse.Namespace) -> int:
    """Seeded fault schedules (sim) or rounds (real processes), with every promise counted."""
    logging.disable(logging.ERROR)  # the faults are on purpose: their log lines would bury the counts
    if args.real:
        from hum.demo.chaos_real import run_real

        result = run_real(args.rounds, seed=args.seed, devices=args.devices)
    else:
        from hum.demo.chaos import run_many

        result = run_many(args.schedules, seed=args.seed, steps=args.steps, devices=args.devices)
    if args.json:
        print_json(result)
        return 0 if result["ok"] else 1
    runs = f"{args.rounds} rounds with {args.devices} real humd processes" if args.real else f"{args.schedules} sim schedules of {args.devices} devices from seed {args.seed}"
    console.print(f"[bold]chaos[/]: {runs}")
    if "links" in result:  # a real run: which transport each pair of devices linked over
        console.print("links: " + ", ".join(f"{pair} over {how}" for pair, how in result["links"].items()))
    for name, c in result["criteria"].items():
        mark = "[green]ok  [/]" if c["ok"] else "[red]FAIL[/]"
        console.print(f"{mark} {name}: {c['value']} (limit {c['limit']})")
    for failure in result.get("failures", []):
        console.print(f"[red]seed {failure['seed']}[/]: " + ", ".join(f"{k} {failure[k]}" for k in result["criteria"]))
        if "faults" in failure:  # a real run: its seed deals these faults again (not with the same timing)
            console.print(f"  faults: {', '.join(failure['faults'])}" + (f"; {failure['error']}" if "error" in failure else ""))
    return 0 if result["ok"] else 1
