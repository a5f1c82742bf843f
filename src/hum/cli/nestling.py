"""`hum prompt` and `hum attach`: the CLI as a nestler on the thrum socket."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from rich.markup import escape

from hum.cli.cancelling import CtrlC, interrupted
from hum.cli.common import (
    CliError,
    console,
    device_names,
    err_console,
    home_of,
    print_json,
    thrum_path,
)
from hum.wire.tones import Tone, is_petal, rid

T = TypeVar("T")

# A nestler's own name in a prompt's `from` is cut to this many characters: a UI label, not a log.
FROM_NAME_CHARS = 24


def _device(humd_id: str, me: str | None, names: dict[str, str] | None = None) -> str:
    """A device as its person named it, with its short id (`phone (1f522154)`); unnamed, `device 1f522154`."""
    from hum.ensemble.trust.certificates import HumdId

    if humd_id == me:
        return "this device"
    name = (names or {}).get(humd_id)
    return f"{name} ({HumdId(humd_id).short})" if name else f"device {HumdId(humd_id).short}"


def prompt_origin(origin: Any, home: str | None, me: str | None, names: dict[str, str] | None = None) -> str:
    """Where a prompt was typed, short: a HumdId (routed from another humd) or a nestler's name on the home."""
    from hum.ensemble.trust.certificates import HumdId
    from hum.errors import IdentityError

    text = str(origin or "?")
    try:
        return _device(HumdId.parse(text), me, names)
    except IdentityError:
        name = text[:FROM_NAME_CHARS]
        return f"{name} on {_device(home, me, names)}" if home else name


def shown_input(tool_input: Any) -> str:
    """A tool's input exactly as the worker would use it: its JSON."""
    return json.dumps(tool_input, ensure_ascii=False)


def answer_hint(sigil: str, permit_id: str) -> str:
    """The commands that answer one ask, as `hum attach` prints them."""
    return f"hum approve {sigil} {permit_id}   or   hum deny {sigil} {permit_id} --message WHY"


def show_note(tone: Tone) -> None:
    """A note on stderr, dim. The notes of a long read (`progress`) share one line on a terminal,
    which moves until the read is done; a log or a pipe keeps every line."""
    text = str(tone.get("delta", ""))
    progress = tone.get("progress")
    if isinstance(progress, dict) and err_console.is_terminal:
        done = progress.get("read") == progress.get("of")
        err_console.file.write("\r\x1b[2K")  # back to the line's start, and clear it
        err_console.print(text, style="dim", markup=False, highlight=False, end="\n" if done else "")
        err_console.file.flush()
        return
    err_console.print(text, style="dim", markup=False, highlight=False)


class HumView:
    """Prints one hum's tones: for people (each prompt with where it came from), or as JSON lines."""

    def __init__(self, as_json: bool, me: str | None, names: dict[str, str] | None = None) -> None:
        self.as_json = as_json
        self.me = me  # this humd's HumdId, from the breath
        self.names = names or {}  # HumdId -> the name its person gave it, as this humd knows them
        self.home: str | None = None  # the hum's home, from its hello
        self.asking: set[str] = set()  # permit ids of asks shown and not yet answered

    def show(self, tone: Tone) -> None:
        chi = tone.chi
        if chi == "hello":
            self.home = str(tone.get("home") or "") or None
        if chi in ("finish", "error") and is_petal(tone):
            self.asking.clear()  # a closed bloom's asks can no longer be answered
        if self.as_json:
            print_json(tone)
            sys.stdout.flush()
            return
        if chi == "prompt":
            where = prompt_origin(tone.get("from"), self.home, self.me, self.names)
            console.print(f"\n[bold cyan]> {escape(str(tone.get('text')))}[/]  [dim](from {escape(where)})[/]")
        elif chi == "chunk" and tone.get("chunkType", "text_delta") == "text_delta":
            console.out(tone.get("delta", ""), end="", highlight=False)
        elif chi == "chunk" and tone.get("chunkType") == "note":
            # hum's word to the reader (a long read, a wait for a cell): apart from the answer, on stderr
            sys.stdout.flush()
            show_note(tone)
        elif chi == "finish":
            usage = tone.get("usage", {})
            console.print(f"\n[dim]-- {tone.get('finishReason')}, {usage.get('input_tokens')} in / {usage.get('output_tokens')} out, wane {tone.get('wane')}[/]")
        elif chi == "error" and is_petal(tone):
            console.print(f"\n[red]error[/] {tone.get('qualifier')}: {escape(str(tone.get('message')))}")
        elif chi == "permission-ask":
            self.asking.add(str(tone.get("permitId")))
            console.print(f"\n[bold yellow]? {escape(str(tone.get('question')))}[/]")
            console.print(f"  {escape(str(tone.get('tool')))} {escape(shown_input(tone.get('input')))}")
            console.print(f"  [dim]answer from any device:[/] {escape(answer_hint(str(tone.get('sigil')), str(tone.get('permitId'))))}")
        elif chi == "permit":
            self.asking.discard(str(tone.get("permitId")))
            verb = "allowed" if tone.get("decision") == "allow" else "denied"
            why = f": {tone.get('message')}" if tone.get("message") else ""
            where = prompt_origin(tone.get("from"), self.home, self.me, self.names)
            console.print(f"[yellow]{verb}[/] [dim](by {escape(where)}){escape(why)}[/]")
        elif chi == "drone" and not self.asking:  # a bloom waiting for a person is not stalled
            console.print(f"\n[yellow]drone[/] {tone.get('verdict')}: {escape(str(tone.get('message')))}")

    def end_line(self) -> None:
        """Close a line of streamed text before something else is said (on stderr, say)."""
        if not self.as_json:
            console.print()
            sys.stdout.flush()


def _refusal(tone: Tone) -> Exception:
    from hum.errors import RouteError

    return RouteError(str(tone.get("qualifier")), str(tone.get("message")))


def _closes_bloom(tone: Tone) -> bool:
    return tone.chi in ("finish", "error") and is_petal(tone)


def as_nestler(session: Coroutine[Any, Any, T]) -> T:
    """Run a thrum-socket session; a refusal or a lost daemon becomes a one-line error."""
    from hum.errors import RouteError

    try:
        return asyncio.run(session)
    except RouteError as exc:
        raise CliError(f"{exc.qualifier}: {exc.message}") from exc
    except ConnectionError as exc:
        raise CliError(str(exc)) from exc


def cmd_prompt(args: argparse.Namespace) -> int:
    from hum.surfaces.thrum import ThrumClient

    async def go() -> int:
        client, breath = await ThrumClient.connect(thrum_path(home_of(args)))
        view = HumView(args.json, breath.get("humdId"))
        # reqId rides in the prompt petal's body, so we can tell our own petal apart
        fields: dict[str, Any] = {"text": args.text, "rid": rid(), "reqId": rid()}
        if args.sigil:
            fields["sigil"] = args.sigil
        elif args.project:
            fields["project"] = args.project  # the hum starts on the device that owns the project
        else:
            fields["sid"] = args.sid
        if args.model:
            fields["modelId"] = args.model
        client.send(Tone(chi="prompt", **fields))
        hello = await client.receive()
        while hello.chi not in ("hello", "error"):
            hello = await client.receive()
        if hello.chi == "error":
            raise _refusal(hello)
        sigil = str(hello["sigil"])
        if args.no_wait:
            print_json({"sigil": sigil}) if args.json else console.print(sigil)
            return 0
        # our own prompt petal (not shown: it was just typed) marks where our bloom starts;
        # the first petal closing a bloom after it is ours
        ours = False
        with CtrlC() as ctrl_c:
            while True:
                tone = await ctrl_c.receive(client)
                if tone is None:  # Ctrl-C: leave the answer running, and say how to stop it
                    return await interrupted(ctrl_c, client, sigil)
                if tone.get("sigil") not in (None, sigil):
                    continue
                if tone.chi == "error" and not is_petal(tone):
                    view.show(tone) if args.json else view.end_line()
                    raise _refusal(tone)
                if not ours:
                    ours = tone.chi == "prompt" and tone.get("reqId") == fields["reqId"]
                    continue
                view.show(tone)
                if _closes_bloom(tone):
                    break
        if not args.json:
            console.print(f"sigil {sigil}")
        client.close()
        return 0 if tone.chi == "finish" else 1

    return as_nestler(go())


class Attachment:
    """`hum attach`: one tap, followed through the loss of the hum's home.

    At a peer-loss the tap has ended; this humd tells us (a `peers` watch) when
    the set of linked peers changes, and once the home is among them again we
    attach anew from the last wane shown, so nothing is shown twice or missed.
    """

    def __init__(self, client: Any, view: HumView, sigil: str, since: int, *, follow: bool, until_finish: bool) -> None:
        self.client = client
        self.view = view
        self.sigil = sigil
        self.last_wane = since  # the last petal shown: where a re-attach starts
        self.follow = follow
        self.until_finish = until_finish
        self.granted_at: int | None = None  # the home's tip at the first hello: petals up to it are replay
        self.linked: list[str] | None = None  # this humd's peers, as last told
        self.lost = False  # the home is gone; waiting for it

    def attach(self) -> None:
        self.client.send(Tone(chi="attach", sigil=self.sigil, since=self.last_wane, rid=rid()))

    async def run(self) -> int:
        if self.follow:
            self.client.send(Tone(chi="peers", rid=rid(), watch=True))
        # a running `hum attach` is somebody watching: finishes are not pushed meanwhile (issue 20)
        self.client.send(Tone(chi="watch", sigil=self.sigil, watching=True))
        self.attach()
        while True:
            tone = await self.client.receive()
            if tone.chi == "peers":
                self.linked = [str(p) for p in tone.get("peers") or []]
                self._maybe_back()
                continue
            if tone.get("sigil") not in (None, self.sigil) or tone.chi in ("breath", "hums"):
                continue
            if tone.chi == "error" and not is_petal(tone):
                self._not_a_petal(tone)
                continue
            if tone.chi == "hello" and self.granted_at is None:
                self.granted_at = int(tone.get("wane") or 0)
                if self.last_wane >= self.granted_at > 0:
                    self.client.send(Tone(chi="seen", sigil=self.sigil, wane=self.granted_at))  # seen already, up to the tip
            elif tone.chi == "hello" and self.lost:
                self._followed(tone)
                continue
            self.view.show(tone)
            if is_petal(tone):
                self.last_wane = max(self.last_wane, int(tone["wane"]))
                if _closes_bloom(tone) or tone.chi == "permission-ask" or self.last_wane == self.granted_at:
                    self.client.send(Tone(chi="seen", sigil=self.sigil, wane=self.last_wane))  # read up to here
                if self.until_finish and _closes_bloom(tone) and tone["wane"] > (self.granted_at or 0):
                    return 0 if tone.chi == "finish" else 1

    def _not_a_petal(self, tone: Tone) -> None:
        """A refusal, or the home lost: follow it through, or end with a one-line error."""
        qualifier = tone.get("qualifier")
        if self.view.as_json:
            self.view.show(tone)
        again = self.follow and self.granted_at is not None and qualifier in ("peer-loss", "no-route", "moved")
        if not again:
            self.view.end_line()
            raise _refusal(tone)
        if qualifier == "moved":  # adopted elsewhere: attach again, this humd routes to its new home
            self.view.end_line()
            err_console.print(f"hum: {tone.get('message')}; following it there from wane {self.last_wane}", markup=False)
            self.attach()
            return
        if not self.lost:
            self.lost = True
            self.view.end_line()
            home = f" on {_device(self.view.home, self.view.me, self.view.names)}" if self.view.home else ""
            err_console.print(
                f"hum: lost hum {self.sigil}{home} ({tone.get('message')}); waiting for it to come back, then going on from wane {self.last_wane}",
                markup=False,
            )
        self._maybe_back()

    def _followed(self, hello: Tone) -> None:
        """The hum, lost with its home, was adopted (here or elsewhere): this tap follows it there."""
        self.lost = False
        self.view.home = str(hello.get("home") or "") or None
        where = _device(self.view.home, self.view.me) if self.view.home else "another device"
        err_console.print(f"hum: hum {self.sigil} now lives on {where}; going on from wane {self.last_wane}", markup=False)

    def _maybe_back(self) -> None:
        home = self.view.home
        if not self.lost or self.linked is None or (home is not None and home not in self.linked):
            return
        self.lost = False
        err_console.print(f"hum: {_device(home, self.view.me, self.view.names) if home else 'a peer'} is back; going on from wane {self.last_wane}", markup=False)
        self.attach()


def cmd_attach(args: argparse.Namespace) -> int:
    from hum.surfaces.thrum import ThrumClient

    async def go() -> int:
        client, breath = await ThrumClient.connect(thrum_path(home_of(args)))
        view = HumView(args.json, breath.get("humdId"), device_names(home_of(args)))
        return await Attachment(client, view, args.sigil, args.since, follow=not args.no_follow, until_finish=args.until_finish).run()

    return as_nestler(go())


