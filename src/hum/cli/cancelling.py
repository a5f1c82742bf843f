"""Stopping an answer from the CLI: `hum cancel SIGIL`, and Ctrl-C on `hum prompt` (detach, then cancel)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from hum.cli.common import CliError, console, err_console, home_of, print_json, thrum_path
from hum.wire.tones import Tone, is_petal, rid

# After a first Ctrl-C on `hum prompt`, a second one this soon cancels the bloom: long enough to
# press again on purpose, short enough that the first press still feels like leaving at once.
CANCEL_WINDOW = 3.0
# How long a cancelled bloom may take to close its log: the brood gives a worker 5 s
# (CANCEL_GRACE_SECONDS) to end its stream, plus a routed cancel's round trip to the home.
CLOSE_WITHIN = 15.0
# An attach `since` past any tip: its hello tells the home's tip without replaying anything.
PAST_ANY_TIP = 2**62


def closes_bloom(tone: Tone) -> bool:
    return tone.chi in ("finish", "error") and is_petal(tone)


class CtrlC:
    """Counts Ctrl-C presses on the running loop instead of raising KeyboardInterrupt."""

    def __init__(self) -> None:
        self.pressed = asyncio.Event()
        self.presses = 0

    def __enter__(self) -> CtrlC:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._press)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)

    def _press(self) -> None:
        self.presses += 1
        self.pressed.set()

    async def receive(self, client: Any, timeout: float | None = None) -> Tone | None:
        """The client's next tone, or None when Ctrl-C is pressed (or `timeout` passes) first."""
        self.pressed.clear()
        receiving = asyncio.ensure_future(client.receive())
        pressing = asyncio.ensure_future(self.pressed.wait())
        done, _ = await asyncio.wait({receiving, pressing}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in (receiving, pressing):
            if task not in done:
                task.cancel()
        return receiving.result() if receiving in done else None


async def wait_closed(client: Any, sigil: str, within: float = CLOSE_WITHIN) -> Tone:
    """The petal that closes the hum's open bloom, as the tap already open on `client` delivers it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise CliError(f"hum {sigil}: the bloom did not end within {within:g} s of the cancel")
        tone = await asyncio.wait_for(client.receive(), left)
        if tone.get("sigil") != sigil:
            continue
        if tone.chi == "error" and not is_petal(tone):
            raise CliError(f"{tone.get('qualifier')}: {tone.get('message')}")
        if closes_bloom(tone):
            return tone


async def interrupted(ctrl_c: CtrlC, client: Any, sigil: str) -> int:
    """The first Ctrl-C on `hum prompt`: detach, and say how to cancel; a second one within the window cancels."""
    console.print()
    err_console.print(
        f"hum: detached; hum {sigil} goes on answering. Ctrl-C again within {CANCEL_WINDOW:g} s cancels it"
        f" (later: hum cancel {sigil}); hum attach {sigil} follows it again.",
        markup=False,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CANCEL_WINDOW
    while (left := deadline - loop.time()) > 0:
        tone = await ctrl_c.receive(client, timeout=left)
        if tone is None and ctrl_c.presses >= 2:
            client.send(Tone(chi="cancel", sigil=sigil, rid=rid()))
            closed = await wait_closed(client, sigil)
            err_console.print(f"hum: cancelled hum {sigil} at wane {closed.get('wane')}", markup=False)
            return 130
        if tone is not None and tone.get("sigil") == sigil and closes_bloom(tone):
            break  # it ended by itself meanwhile: nothing left to cancel
    client.send(Tone(chi="detach", sigil=sigil))
    return 130


async def cancel(client: Any, sigil: str) -> dict[str, Any]:
    """Cancel hum `sigil`'s open bloom and wait until its log says so; what happened, as `--json` prints it."""
    client.send(Tone(chi="attach", sigil=sigil, since=PAST_ANY_TIP, rid=rid()))
    hello = await _hello(client, sigil)
    tip = int(hello.get("wane") or 0)
    client.send(Tone(chi="detach", sigil=sigil))
    client.send(Tone(chi="attach", sigil=sigil, since=max(tip - 1, 0), rid=rid()))
    await _hello(client, sigil)
    last = None
    while tip and (last is None or last.get("wane") != tip):
        tone = await client.receive()
        last = tone if tone.get("sigil") == sigil and is_petal(tone) else last
    if last is None or closes_bloom(last):
        return {"sigil": sigil, "cancelled": False, "wane": tip, "reason": "not-blooming"}
    client.send(Tone(chi="cancel", sigil=sigil, rid=rid()))
    closed = await wait_closed(client, sigil)
    cancelled = closed.get("finishReason") == "cancelled" or closed.get("qualifier") == "cancelled"
    return {"sigil": sigil, "cancelled": cancelled, "wane": closed.get("wane"), "reason": closed.get("finishReason") or closed.get("qualifier")}


async def _hello(client: Any, sigil: str) -> Tone:
    while True:
        tone = await client.receive()
        if tone.get("sigil") == sigil and tone.chi == "hello":
            return tone
        if tone.get("sigil") == sigil and tone.chi == "error" and not is_petal(tone):
            raise CliError(f"{tone.get('qualifier')}: {tone.get('message')}")


def cmd_cancel(args: argparse.Namespace) -> int:
    from hum.surfaces.thrum import ThrumClient

    async def go() -> int:
        try:
            client, _ = await ThrumClient.connect(thrum_path(home_of(args)), "hum-cancel")
        except ConnectionError as exc:
            raise CliError(str(exc)) from exc
        try:
            result = await asyncio.wait_for(cancel(client, args.sigil), 2 * CLOSE_WITHIN)
        except TimeoutError as exc:
            raise CliError(f"hum {args.sigil}: no answer from the humd within {2 * CLOSE_WITHIN:g} s") from exc
        finally:
            client.close()
        if args.json:
            print_json(result)
        elif result["reason"] == "not-blooming":
            console.print(f"hum {args.sigil} is not answering anything (wane {result['wane']}): nothing to cancel")
        elif result["cancelled"]:
            console.print(f"cancelled hum {args.sigil}: its answer ends at wane {result['wane']}")
        else:
            console.print(f"hum {args.sigil} finished ({result['reason']}) before the cancel reached it, at wane {result['wane']}")
        return 0

    return asyncio.run(go())
