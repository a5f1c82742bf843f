"""`hum`: the command line. Rich output for people, `--json` for scripts."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hum.cli.adopting import cmd_adopt, cmd_forget, cmd_show
from hum.cli.bench import cmd_bench
from hum.cli.cancelling import cmd_cancel
from hum.cli.common import CliError, err_console
from hum.cli.daemon import (
    cmd_chaos,
    cmd_demo_roam,
    cmd_hums,
    cmd_peers,
    cmd_relay,
    cmd_status,
    cmd_up,
)
from hum.cli.devices import cmd_join, cmd_operator_init, cmd_pair, cmd_revoke
from hum.cli.mcp import cmd_mcp
from hum.cli.nestling import cmd_attach, cmd_prompt
from hum.cli.notifying import add_notify_parser
from hum.cli.permits import cmd_approve, cmd_deny
from hum.cli.remote import add_parsers as add_project_parsers
from hum.cli.remote import cmd_device_list
from hum.cli.store import cmd_store_check, cmd_store_repair


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
    up.add_argument("--ollama", metavar="HOST:PORT", help="also serve the Ollama API here, e.g. 127.0.0.1:11434 (off by default)")
    up.add_argument("--thrum", help="thrum socket path (default $HUM_THRUM_SOCK, $XDG_RUNTIME_DIR/hum/thrum.sock, or run/thrum.sock in the home)")
    up.add_argument("--peer", action="append", metavar="ADDRESS", help="a sibling to link with: HOST:PORT, iroh:<ticket> or relay:<HumdId>@HOST:PORT (repeatable)")
    up.add_argument("--iroh", action="store_true", help="also link over iroh (QUIC, hole punching, relay fallback), keyed by this device's key")
    up.add_argument("--iroh-relay", default="default", metavar="URL", help="with --iroh: n0's public relays (default), your own relay URL, or none (direct addresses only)")
    up.add_argument("--iroh-bind", metavar="HOST:PORT", help="with --iroh: the endpoint's UDP address (default: every interface, any port)")
    up.add_argument("--relay", metavar="HOST:PORT", help="also wait for siblings at this transit relay (see `hum relay`)")
    up.add_argument("--worker", default="local", help="default worker: local, openai, anthropic, claude-cli or scripted")
    up.add_argument("--auto-adopt", type=float, default=None, metavar="SECONDS", help="adopt a hum followed here when its home has been lost this long (off by default)")
    up.add_argument("--retain-days", type=float, default=None, metavar="DAYS", help="forget hums homed here that nobody prompted or attached for DAYS days (default: $HUM_RETAIN_DAYS, else keep everything)")
    up.add_argument("--notify", action="append", metavar="URL", help="also send notifications to this apprise URL (ntfy://, pover://, tgram://, mailto://...; repeatable)")
    up.add_argument("--tls-cert", metavar="FILE", help="serve the HTTP surfaces as HTTPS with this certificate (e.g. from `tailscale cert`): phones push only to secure origins")
    up.add_argument("--tls-key", metavar="FILE", help="the private key of --tls-cert")
    up.add_argument("--public-url", metavar="URL", help="how your phone reaches these surfaces, for links in --notify messages (default: the --http address)")
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
    which.add_argument("--project", help="start a new hum in this project, on the device that owns it (see `hum project list`)")
    prompt.add_argument("text")
    prompt.add_argument("--model", help="a worker kind of the home's brood (see `hum status`)")
    prompt.add_argument("--no-wait", action="store_true", help="print the sigil and return at once")
    prompt.set_defaults(func=cmd_prompt)

    attach = sub.add_parser("attach", parents=[common, as_json], help="stream a hum live")
    attach.add_argument("sigil")
    attach.add_argument("--since", type=int, default=0, help="wane already seen (default 0: the whole hum)")
    attach.add_argument("--until-finish", action="store_true", help="return when the bloom open now (or else the next one) ends; replayed ones do not count")
    attach.add_argument("--no-follow", action="store_true", help="exit (status 2) when the hum's home is lost, instead of going on when it is back")
    attach.set_defaults(func=cmd_attach)

    cancel = sub.add_parser("cancel", parents=[common, as_json], help="stop the answer a hum is giving now (from any device)")
    cancel.add_argument("sigil", metavar="SIGIL")
    cancel.set_defaults(func=cmd_cancel)

    for name, func, text in (("approve", cmd_approve, "let a worker use the tool it asks for"), ("deny", cmd_deny, "refuse a worker the tool it asks for")):
        answer = sub.add_parser(name, parents=[common, as_json], help=text)
        answer.add_argument("sigil")
        answer.add_argument("permit_id", metavar="PERMIT_ID", help="the ask's id, as `hum attach` shows it")
        if name == "deny":
            answer.add_argument("--message", help="why: the worker's model is told")
        answer.set_defaults(func=func)

    add_notify_parser(sub, common, as_json)

    pair = sub.add_parser("pair", parents=[common, as_json], help="show a one-time code to add a device")
    pair.add_argument("--browser", action="store_true", help="enrol a browser instead: a QR code of a one-time link to the web chat")
    pair.add_argument("--address", metavar="HOST[:PORT]", help="with --browser: the address the phone reaches this device at (a LAN or Tailscale name)")
    pair.set_defaults(func=cmd_pair)
    join_p = sub.add_parser("join", parents=[common, as_json], help="join this device using a pairing code")
    join_p.add_argument("--code", required=True)
    join_p.add_argument("--peer", required=True, metavar="ADDRESS", help="the `peer` that `hum pair` showed: HOST:PORT, iroh:<ticket> or relay:<HumdId>@HOST:PORT")
    join_p.add_argument("--name", default="phone", help="this device's name (default: phone)")
    join_p.set_defaults(func=cmd_join)

    device = sub.add_parser("device", help="manage paired devices")
    dev_sub = device.add_subparsers(dest="action", required=True)
    revoke = dev_sub.add_parser("revoke", parents=[common, as_json], help="revoke a device: a humd by its HumdId, a browser by its name")
    revoke.add_argument("humd_id", metavar="HUMDID|NAME")
    revoke.set_defaults(func=cmd_revoke)
    dev_list = dev_sub.add_parser("list", parents=[common, as_json], help="this device, its siblings and its enrolled browsers, with when each was last seen")
    dev_list.set_defaults(func=cmd_device_list)
    add_project_parsers(sub, common, as_json)

    adopt = sub.add_parser("adopt", parents=[common, as_json], help="make this device the home of a hum whose home is gone")
    adopt.add_argument("sigil", metavar="SIGIL")
    adopt.add_argument("--force", action="store_true", help="adopt even though the home is linked (it will follow)")
    adopt.set_defaults(func=cmd_adopt)
    forget = sub.add_parser("forget", parents=[common, as_json], help="remove a hum: everywhere if it lives here, else this device's copy")
    forget.add_argument("sigil", metavar="SIGIL")
    forget.set_defaults(func=cmd_forget)
    show = sub.add_parser("show", parents=[common, as_json], help="a hum's whole log, as this device serves it")
    show.add_argument("sigil", metavar="SIGIL")
    show.add_argument("--orphans", action="store_true", help="also the branches kept aside after an adoption")
    show.set_defaults(func=cmd_show)
    mcp = sub.add_parser("mcp", parents=[common], help="MCP over stdio (for clients that spawn their servers): the running humd's tools and hums")
    mcp.set_defaults(func=cmd_mcp)
    store = sub.add_parser("store", help="this device's hum store: check it, repair it")
    store_sub = store.add_subparsers(dest="action", required=True)
    store_check = store_sub.add_parser("check", parents=[common, as_json], help="SQLite's integrity check plus hum's own (gaps, unreadable petals, hums rows)")
    store_check.set_defaults(func=cmd_store_check)
    store_repair = store_sub.add_parser("repair", parents=[common, as_json], help="rebuild the store from every row that still reads (humd stopped; the old file is kept)")
    store_repair.set_defaults(func=cmd_store_repair)
    relay = sub.add_parser("relay", help="host a transit relay for devices that cannot reach each other")
    relay.add_argument("--listen", default="0.0.0.0:4001", metavar="HOST:PORT", help="where the relay listens (default 0.0.0.0:4001)")
    relay.add_argument("--unmatched-timeout", type=float, default=60.0, metavar="SECONDS", help="close a connection nobody met within this long (default 60)")
    relay.add_argument("--max-unmatched", type=int, default=1000, metavar="N", help="connections waiting unmatched at once; past it new ones are closed (default 1000)")
    relay.set_defaults(func=cmd_relay)

    demo = sub.add_parser("demo", help="run a scenario end to end")
    demo_sub = demo.add_subparsers(dest="scenario", required=True)
    roam = demo_sub.add_parser("roam", parents=[as_json], help="the phone-laptop-roam story")
    roam.add_argument("--real", action="store_true", help="two real humd processes instead of the sim")
    roam.add_argument("--adopt", action="store_true", help="the story past its end: the laptop dies for good, the phone adopts the hum")
    roam.add_argument("--transport", choices=("tcp", "iroh", "relay"), default="tcp", help="with --real: how the phone reaches the laptop (iroh: direct addresses only; relay: a transit relay the demo starts)")
    roam.add_argument("--approvals", action="store_true", help="with --real: the laptop's worker asks before it runs a command, the phone answers")
    roam.add_argument("--notify", action="store_true", help="with --real: the laptop's worker asks, the phone gets a push and answers from it")
    roam.add_argument("--rtt", type=float, default=60.0, help="round trip between the devices in ms (a delaying relay with --real)")
    roam.set_defaults(func=cmd_demo_roam)

    chaos = sub.add_parser("chaos", parents=[as_json], help="random fault schedules; counts lost, duplicated, out-of-order, unsurfaced and diverged petals, wrong decisions, unrepaired rows")
    chaos.add_argument("--schedules", type=int, default=100, help="how many seeded sim schedules (default 100)")
    chaos.add_argument("--steps", type=int, default=12, help="faults and prompts per sim schedule (default 12)")
    chaos.add_argument("--seed", type=int, default=0, help="the first schedule's seed; a failure prints its own")
    chaos.add_argument("--real", action="store_true", help="real humd processes instead of the sim")
    chaos.add_argument("--devices", type=int, choices=(2, 3), default=2, help="devices in the ensemble: laptop and phone, or with a tablet (default 2)")
    chaos.add_argument("--rounds", type=int, default=20, help="faults dealt to the real processes (with --real)")
    chaos.set_defaults(func=cmd_chaos)
    bench = sub.add_parser("bench", parents=[as_json], help="measure the hot path against its baselines (real humds on loopback)")
    bench.add_argument("--quick", action="store_true", help="fewer samples: done within a minute on 2 cores")
    bench.add_argument("--profile", metavar="FILE", help="first, sample the home humd with py-spy over a flat-out bloom and fan-out; raw stacks to FILE")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Refusals and lost links are logged as warnings; commands report what matters.
    logging.basicConfig(level=logging.ERROR, format="humd: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        sys.stdout.flush()  # whatever was said before stays on its own line, above the error
        err_console.print(f"hum: {exc}", markup=False)
        return 2
    except KeyboardInterrupt:
        return 130


