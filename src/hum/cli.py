"""`hum`: the command line. Rich output for people, `--json` for scripts."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from hum.daemon.home import Home, HomeError, default_home

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# A status query to a local daemon answers at once; longer means it is wedged.
STATUS_TIMEOUT = 5.0


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def _home(args: argparse.Namespace) -> Home:
    return Home(Path(args.home) if args.home else default_home())


def _print_json(data: Any) -> None:
    print(json.dumps(data))


# -- talking to the running daemon -------------------------------------------------


def _daemon_request(home: Home, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = STATUS_TIMEOUT) -> dict[str, Any]:
    try:
        info = home.runtime()
    except HomeError as exc:
        raise CliError(str(exc)) from exc
    base = info.get("http")
    if not base:
        raise CliError("the running humd serves no HTTP (started with --http none)")
    headers = {"Content-Type": "application/json"}
    token_file = home.path / "token"
    if token_file.exists():
        headers["Authorization"] = f"Bearer {token_file.read_text().strip()}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise CliError(f"humd said: {message}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise CliError(f"cannot reach the humd of {home.path} at {base}: {getattr(exc, 'reason', exc)}") from exc


def _thrum_path(home: Home) -> Path:
    try:
        return Path(home.runtime()["thrum"])
    except HomeError as exc:
        raise CliError(str(exc)) from exc


# -- commands --------------------------------------------------------------------------


def cmd_operator_init(args: argparse.Namespace) -> int:
    home = _home(args)
    try:
        identity = home.init_operator(args.name)
    except HomeError as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        _print_json({"humdId": identity.humd_id, "operator": identity.operator.fingerprint, "home": str(home.path)})
    else:
        console.print(f"operator key and device identity created in [bold]{home.path}[/]")
        console.print(f"  HumdId    {identity.humd_id}")
        console.print(f"  operator  {identity.operator.fingerprint}")
        console.print("next: [bold]hum up[/], then [bold]hum pair[/] to add another device")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from hum.brood.worker import WorkerError
    from hum.daemon.run import DaemonOptions, serve
    from hum.ensemble.identity import IdentityError
    from hum.store.sqlite import StoreError

    logging.getLogger().setLevel(logging.INFO if args.verbose else logging.WARNING)
    home = _home(args)
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
        thrum=Path(args.thrum) if args.thrum else None,
        peers=list(args.peer or []),
        worker=args.worker,
    )

    def ready(info: dict[str, Any]) -> None:
        if args.json:
            _print_json(info)
            sys.stdout.flush()
            return
        console.print(f"[bold green]humd up[/]  {info['name']}  {info['humdId']}")
        console.print(f"  ensemble  {info['listen'] or 'not listening'}")
        console.print(f"  thrum     {info['thrum']}")
        for name, url in info.get("urls", {}).items():
            console.print(f"  {name:9} {url}")
        console.print(f"  worker    {info['worker']} (models: {', '.join(info['models'])})")
        console.print("Ctrl-C stops it.")

    try:
        asyncio.run(serve(options, ready))
    except (HomeError, IdentityError, StoreError) as exc:
        raise CliError(str(exc)) from exc
    except WorkerError as exc:
        raise CliError(f"worker {args.worker}: {exc.message}") from exc
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot start: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")) from exc
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    home = _home(args)
    status = _daemon_request(home, "GET", "/hum/status")
    token_file = home.path / "token"
    status["token"] = token_file.read_text().strip() if token_file.exists() else None
    if args.json:
        _print_json(status)
        return 0
    console.print(f"[bold]{status.get('name')}[/]  {status['humdId']}  (pid {status.get('pid')})")
    console.print(f"  ensemble  {status.get('listen')}")
    console.print(f"  thrum     {status.get('thrum')}")
    for name, url in status.get("urls", {}).items():
        console.print(f"  {name:9} {url}")
    console.print(f"  peers     {len(status['peers'])}   hums {len(status['hums'])}")
    if status.get("refusedConnections"):
        console.print(f"  refused   {status['refusedConnections']} ensemble connections at accept (too many not yet authenticated)")
    if status["token"]:
        console.print(f"  token     {status['token']}")
    return 0


def cmd_peers(args: argparse.Namespace) -> int:
    peers = _daemon_request(_home(args), "GET", "/hum/peers")["peers"]
    if args.json:
        _print_json({"peers": peers})
    elif not peers:
        console.print("no peers linked")
    else:
        for peer in peers:
            console.print(peer)
    return 0


def cmd_hums(args: argparse.Namespace) -> int:
    hums = _daemon_request(_home(args), "GET", "/hum/hums")["hums"]
    if args.json:
        _print_json({"hums": hums})
    elif not hums:
        console.print("no hums yet")
    else:
        for hum in hums:
            console.print(f"{hum['sigil']}  wane {hum.get('wane')}  sid {hum.get('sid')}  home {str(hum.get('home'))[:8]}")
    return 0


async def _stream(client: Any, sigil: str | None, *, until_finish: bool, as_json: bool) -> dict[str, Any] | None:
    """Print a hum's tones until its bloom finishes (or forever); returns the last finish."""
    from hum.ensemble.ensemble import RouteError

    while True:
        tone = await client.receive()
        if sigil is not None and tone.get("sigil") not in (None, sigil):
            continue
        if as_json:
            _print_json(tone)
            sys.stdout.flush()
        chi = tone.chi
        if chi == "error" and "wane" not in tone:
            if not as_json:
                console.print()
            raise RouteError(str(tone.get("qualifier")), str(tone.get("message")))
        if as_json:
            if chi in ("finish", "error") and until_finish:
                return tone
            continue
        if chi == "prompt":
            console.print(f"\n[bold cyan]> {tone.get('text')}[/]  [dim]({str(tone.get('from'))[:12]})[/]")
        elif chi == "chunk" and tone.get("chunkType", "text_delta") == "text_delta":
            console.out(tone.get("delta", ""), end="", highlight=False)
        elif chi == "finish":
            usage = tone.get("usage", {})
            console.print(f"\n[dim]-- {tone.get('finishReason')}, {usage.get('input_tokens')} in / {usage.get('output_tokens')} out, wane {tone.get('wane')}[/]")
            if until_finish:
                return tone
        elif chi == "error":
            console.print(f"\n[red]error[/] {tone.get('qualifier')}: {tone.get('message')}")
            if until_finish:
                return tone
        elif chi == "drone":
            console.print(f"\n[yellow]drone[/] {tone.get('verdict')}: {tone.get('message')}")


def _as_nestler(session: Coroutine[Any, Any, int]) -> int:
    """Run a thrum-socket session; a refusal or a lost daemon becomes a one-line error."""
    from hum.ensemble.ensemble import RouteError

    try:
        return asyncio.run(session)
    except RouteError as exc:
        raise CliError(f"{exc.qualifier}: {exc.message}") from exc
    except ConnectionError as exc:
        raise CliError(str(exc)) from exc


def cmd_prompt(args: argparse.Namespace) -> int:
    from hum.ensemble.ensemble import RouteError
    from hum.surfaces.thrum import ThrumClient
    from hum.wire.tones import Tone, rid

    async def go() -> int:
        client, _ = await ThrumClient.connect(_thrum_path(_home(args)))
        # reqId rides in the prompt petal's body, so we can tell our own petal apart
        fields: dict[str, Any] = {"text": args.text, "rid": rid(), "reqId": rid()}
        if args.sigil:
            fields["sigil"] = args.sigil
        else:
            fields["sid"] = args.sid
        if args.model:
            fields["modelId"] = args.model
        client.send(Tone(chi="prompt", **fields))
        hello = await client.receive()
        while hello.chi not in ("hello", "error"):
            hello = await client.receive()
        if hello.chi == "error":
            raise RouteError(str(hello.get("qualifier")), str(hello.get("message")))
        sigil = str(hello["sigil"])
        if args.no_wait:
            _print_json({"sigil": sigil}) if args.json else console.print(sigil)
            return 0
        # our own prompt petal marks where our bloom starts
        while True:
            tone = await client.receive()
            if tone.chi == "prompt" and tone.get("reqId") == fields["reqId"]:
                break
        finish = await _stream(client, sigil, until_finish=True, as_json=args.json)
        if not args.json:
            console.print(f"sigil {sigil}")
        client.close()
        return 0 if finish is not None and finish.chi == "finish" else 1

    return _as_nestler(go())


def cmd_attach(args: argparse.Namespace) -> int:
    from hum.surfaces.thrum import ThrumClient
    from hum.wire.tones import Tone, rid

    async def go() -> int:
        client, _ = await ThrumClient.connect(_thrum_path(_home(args)))
        client.send(Tone(chi="attach", sigil=args.sigil, since=args.since, rid=rid()))
        finish = await _stream(client, args.sigil, until_finish=args.until_finish, as_json=args.json)
        return 0 if finish is None or finish.chi == "finish" else 1

    return _as_nestler(go())


def cmd_pair(args: argparse.Namespace) -> int:
    home = _home(args)
    offer = _daemon_request(home, "POST", "/hum/pair", {})
    if args.json:
        _print_json(offer)
        sys.stdout.flush()
    else:
        console.print(f"pairing code: [bold]{offer['code']}[/]  (one use, expires in 5 minutes)")
        console.print(f"on the new device:  hum join --code {offer['code']} --peer <this-device-address>:{str(offer.get('listen', '')).rpartition(':')[2]}")
    result = _daemon_request(home, "GET", "/hum/pair/wait", timeout=600)
    if args.json:
        _print_json(result)
    else:
        console.print(f"[green]paired[/] {result['paired']}")
    return 0


def cmd_join(args: argparse.Namespace) -> int:
    from hum.daemon.pairing import join
    from hum.ensemble.pairing import PairingError
    from hum.ensemble.tcp import split_address

    home = _home(args)
    try:
        home.ensure()
        split_address(args.peer)
    except (HomeError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    if home.has_identity():
        raise CliError(f"{home.path} already holds an identity; join with a fresh --home")
    try:
        identity = asyncio.run(join(args.code, args.peer, args.name))
    except PairingError as exc:
        raise CliError(f"pairing failed ({exc.qualifier}): {exc}") from exc
    identity.save(home.path)
    home.add_peer(args.peer)
    if args.json:
        _print_json({"humdId": identity.humd_id, "operator": identity.operator.fingerprint, "peer": args.peer})
    else:
        console.print(f"[green]joined[/] as {identity.humd_id}; peer {args.peer} recorded. Start with [bold]hum up[/].")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from hum.ensemble.identity import HumdId, IdentityError

    home = _home(args)
    try:
        hid = HumdId.parse(args.humd_id)
    except IdentityError as exc:
        raise CliError(exc.message) from exc
    try:
        home.runtime()
    except HomeError:
        home.ensure()
        home.revoke(hid)  # no daemon running: the list is read at the next start
    else:
        _daemon_request(home, "POST", "/hum/devices/revoke", {"humdId": hid})
    if args.json:
        _print_json({"revoked": hid})
    else:
        console.print(f"revoked {hid}")
    return 0


def cmd_demo_roam(args: argparse.Namespace) -> int:
    if args.real:
        from hum.daemon.roam_real import report as real_report

        result, lines = real_report(rtt=args.rtt / 1000.0)
    else:
        from hum.sim.roam import report

        result, timeline = report(rtt=args.rtt / 1000.0)
        lines = [f"\n[bold]{what}[/]" if who == "--" else f"{t:9.1f} ms  {who:7}  {what}" for t, who, what in timeline.lines]
    if args.json:
        _print_json(result)
        return 0 if result["ok"] else 1
    where = f"two real humd processes, RTT {args.rtt:g} ms" if args.real else f"the sim, RTT {args.rtt:g} ms, virtual clock"
    console.print(f"[bold]phone-laptop-roam[/] in {where}")
    for line in lines:
        console.print(line)
    console.print()
    for name, c in result["criteria"].items():
        mark = "[green]ok  [/]" if c["ok"] else "[red]FAIL[/]"
        limit = f"  (limit {c['limit']})" if c["limit"] is not None else ""
        console.print(f"{mark} {name}: {json.dumps(c['value'])}{limit}")
    console.print("[bold green]all criteria hold[/]" if result["ok"] else "[bold red]some criteria fail[/]")
    return 0 if result["ok"] else 1


# -- the parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="this humd's home directory (default: $HUM_HOME or the user data dir)")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="machine-readable output")

    parser = argparse.ArgumentParser(prog="hum", description="One conversation that follows you across your devices.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    operator = sub.add_parser("operator", help="the operator key (first device only)")
    op_sub = operator.add_subparsers(dest="action", required=True)
    init = op_sub.add_parser("init", parents=[common, as_json], help="create the operator key and this device's identity")
    init.add_argument("--name", default="laptop", help="this device's name (default: laptop)")
    init.set_defaults(func=cmd_operator_init)

    up = sub.add_parser("up", parents=[common, as_json], help="run humd in the foreground")
    up.add_argument("--listen", default="0.0.0.0:7433", help="ensemble address HOST:PORT, or none (default 0.0.0.0:7433)")
    up.add_argument("--http", default="127.0.0.1:7434", help="HTTP surfaces HOST:PORT, or none (default 127.0.0.1:7434)")
    up.add_argument("--thrum", help="thrum socket path (default $HUM_THRUM_SOCK, $XDG_RUNTIME_DIR/hum/thrum.sock, or run/thrum.sock in the home)")
    up.add_argument("--peer", action="append", metavar="HOST:PORT", help="a sibling to link with (repeatable)")
    up.add_argument("--worker", default="local", help="default worker: local, openai, anthropic, claude-cli or scripted")
    up.add_argument("--init", action="store_true", help="first device: create the operator key and identity if the home has none")
    up.add_argument("--name", default="laptop", help="with --init: this device's name (default: laptop)")
    up.add_argument("-v", "--verbose", action="store_true", help="log links and blooms")
    up.set_defaults(func=cmd_up)

    for name, func, text in (("status", cmd_status, "the running humd"), ("peers", cmd_peers, "linked siblings"), ("hums", cmd_hums, "hums this humd knows")):
        p = sub.add_parser(name, parents=[common, as_json], help=text)
        p.set_defaults(func=func)

    prompt = sub.add_parser("prompt", parents=[common, as_json], help="send a prompt and stream the answer")
    which = prompt.add_mutually_exclusive_group(required=True)
    which.add_argument("--sigil", help="an existing hum")
    which.add_argument("--sid", help="a session id: the hum is minted on first use")
    prompt.add_argument("text")
    prompt.add_argument("--model", help="a worker kind of the home's brood (see `hum status`)")
    prompt.add_argument("--no-wait", action="store_true", help="print the sigil and return at once")
    prompt.set_defaults(func=cmd_prompt)

    attach = sub.add_parser("attach", parents=[common, as_json], help="stream a hum live")
    attach.add_argument("sigil")
    attach.add_argument("--since", type=int, default=0, help="wane already seen (default 0: the whole hum)")
    attach.add_argument("--until-finish", action="store_true", help="return after the next finish")
    attach.set_defaults(func=cmd_attach)

    pair = sub.add_parser("pair", parents=[common, as_json], help="show a one-time code to add a device")
    pair.set_defaults(func=cmd_pair)
    join_p = sub.add_parser("join", parents=[common, as_json], help="join this device using a pairing code")
    join_p.add_argument("--code", required=True)
    join_p.add_argument("--peer", required=True, metavar="HOST:PORT", help="ensemble address of the device showing the code")
    join_p.add_argument("--name", default="phone", help="this device's name (default: phone)")
    join_p.set_defaults(func=cmd_join)

    device = sub.add_parser("device", help="manage paired devices")
    dev_sub = device.add_subparsers(dest="action", required=True)
    revoke = dev_sub.add_parser("revoke", parents=[common, as_json], help="revoke a device")
    revoke.add_argument("humd_id", metavar="HUMDID")
    revoke.set_defaults(func=cmd_revoke)

    demo = sub.add_parser("demo", help="run a scenario end to end")
    demo_sub = demo.add_subparsers(dest="scenario", required=True)
    roam = demo_sub.add_parser("roam", parents=[as_json], help="the phone-laptop-roam story")
    roam.add_argument("--real", action="store_true", help="two real humd processes instead of the sim")
    roam.add_argument("--rtt", type=float, default=60.0, help="round trip between the devices in ms (a delaying relay with --real)")
    roam.set_defaults(func=cmd_demo_roam)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Refusals and lost links are logged as warnings; commands report what matters.
    logging.basicConfig(level=logging.ERROR, format="humd: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        err_console.print(f"hum: {exc}", markup=False)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
