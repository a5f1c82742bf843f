"""Devices: `hum operator init`, `hum pair`, `hum join`, `hum device revoke`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from hum.cli.common import (
    CliError,
    console,
    daemon_request,
    home_of,
    print_json,
)
from hum.cli.remote import cmd_pair_browser, revoke_browser
from hum.daemon.home import HomeError


def cmd_operator_init(args: argparse.Namespace) -> int:
    home = home_of(args)
    try:
        identity = home.init_operator(args.name)
    except HomeError as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        print_json({"humdId": identity.humd_id, "operator": identity.operator.fingerprint, "home": str(home.path)})
    else:
        console.print(f"operator key and device identity created in [bold]{home.path}[/]")
        console.print(f"  HumdId    {identity.humd_id}")
        console.print(f"  operator  {identity.operator.fingerprint}")
        console.print("next: [bold]hum up[/], then [bold]hum pair[/] to add another device")
    return 0




def cmd_pair(args: argparse.Namespace) -> int:
    if args.browser:
        return cmd_pair_browser(args)
    home = home_of(args)
    offer = daemon_request(home, "POST", "/hum/pair", {})
    if args.json:
        print_json(offer)
        sys.stdout.flush()
    else:
        console.print(f"pairing code: [bold]{offer['code']}[/]  (one use, expires in 5 minutes)")
        peer = str(offer.get("peer") or "")
        if peer.startswith(("iroh:", "relay:")):
            console.print(f"on the new device:  hum join --code {offer['code']} --peer {peer}")
        else:
            console.print(f"on the new device:  hum join --code {offer['code']} --peer {join_address(peer)}")
    result = daemon_request(home, "GET", "/hum/pair/wait", timeout=600)
    if args.json:
        print_json(result)
    else:
        console.print(f"[green]paired[/] {result['paired']}")
    return 0


def join_address(listen: str) -> str:
    """What a new device passes to `hum join --peer` for an ensemble port listening on `listen`."""
    from hum.wire.addresses import is_loopback, split_address

    try:
        host, port = split_address(listen)
    except ValueError:
        return "<this-device-address>:PORT"
    if is_loopback(host):
        # only a device on this very machine can reach it: say so rather than suggest another address
        return f"{listen}   (this humd listens on this machine only: for another device, restart it with hum up --listen 0.0.0.0:{port})"
    if host in ("0.0.0.0", "::"):
        return f"<this-device-address>:{port}"
    return listen


def cmd_join(args: argparse.Namespace) -> int:
    from hum.daemon.pairing import join
    from hum.errors import PairingError
    from hum.wire.addresses import transport_of

    home = home_of(args)
    try:
        home.ensure()
        transport_of(args.peer)
    except (HomeError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    if home.has_identity():
        raise CliError(f"{home.path} already holds an identity; join with a fresh --home")
    try:
        identity, relay_key = asyncio.run(join(args.code, args.peer, args.name))
    except PairingError as exc:
        raise CliError(f"pairing with {args.peer} failed ({exc.qualifier}): {exc.message or exc.qualifier}") from exc
    identity.save(home.path)
    if relay_key is not None:
        home.save_relay_key(relay_key)
    home.add_peer(args.peer)
    if args.json:
        print_json({"humdId": identity.humd_id, "operator": identity.operator.fingerprint, "peer": args.peer})
    else:
        console.print(f"[green]joined[/] as {identity.humd_id}; peer {args.peer} recorded. Start with [bold]hum up[/].")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from hum.ensemble.trust.certificates import HumdId, looks_like_humd_id
    from hum.errors import IdentityError

    home = home_of(args)
    try:
        hid = HumdId.parse(args.humd_id)
    except IdentityError as exc:
        if looks_like_humd_id(args.humd_id.removeprefix("humd_")):
            raise CliError(exc.message) from exc
        return revoke_browser(args)  # not a HumdId: the name of a browser
    try:
        home.runtime()
    except HomeError:
        home.ensure()
        home.revoke(hid)  # no daemon running: the list is read at the next start
    else:
        daemon_request(home, "POST", "/hum/devices/revoke", {"humdId": hid})
    if args.json:
        print_json({"revoked": hid})
    else:
        console.print(f"revoked {hid}")
    return 0


