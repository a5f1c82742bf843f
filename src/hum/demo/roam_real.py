"""phone-laptop-roam with two real `hum up` processes on loopback (`hum demo roam --real`).

Everything goes through the public surfaces: the `hum` CLI for set-up and
pairing, the thrum socket for nestlers, SIGKILL for process death.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hum.demo.intruder import intrude_over_tls
from hum.demo.reach import Reach
from hum.demo.relay import LatencyRelay
from hum.scenario import DEFAULT_RTT, LATENCY_MARGIN, PEER_LOSS_LIMIT, WALK_AWAY_AT, Criterion
from hum.surfaces.thrum import ThrumClient
from hum.wire.tones import Tone, is_petal

# Starting a humd is a Python start-up plus key loading: well under this.
START_TIMEOUT = 30.0
# How long to wait for any single expected event between real processes.
STEP_TIMEOUT = 20.0
# Polls of a status endpoint are condition waits; this is their granularity.
POLL_INTERVAL = 0.02


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hum_command() -> list[str]:
    return [sys.executable, "-m", "hum.cli"]


@dataclass
class HumdProcess:
    """One `hum up` child process and what it printed about itself."""

    home: Path
    port: int | None  # the ensemble's TCP port; None: no TCP listener (iroh or relay only)
    worker: str = "scripted"
    extra: list[str] = field(default_factory=list)  # how it reaches its siblings (see demo/reach.py)
    env: dict[str, str] = field(default_factory=dict)  # on top of this process's environment
    proc: asyncio.subprocess.Process | None = None
    info: dict[str, Any] = field(default_factory=dict)
    said_from: int = 0  # where this run's stderr starts in `stderr_path`

    @property
    def stderr_path(self) -> Path:
        """Every run's stderr, appended: a file, never a pipe nobody reads (a full pipe would stop the
        humd at its next log line), and what is left to read when a run goes wrong."""
        return self.home.parent / f"{self.home.name}.stderr"

    def said(self) -> str:
        """What this run of the humd wrote to stderr so far."""
        with open(self.stderr_path, "rb") as f:
            f.seek(self.said_from)
            return f.read().decode(errors="replace")

    async def start(self) -> dict[str, Any]:
        self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.stderr_path, "ab") as stderr:
            self.said_from = stderr.tell()
            self.proc = await asyncio.create_subprocess_exec(
                *hum_command(), "up", "--home", str(self.home), "--listen", f"127.0.0.1:{self.port}" if self.port else "none",
                "--http", "127.0.0.1:0", "--thrum", str(self.home / "thrum.sock"), "--worker", self.worker, "--json", *self.extra,
                stdout=asyncio.subprocess.PIPE, stderr=stderr, env={**os.environ, **self.env},
            )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), START_TIMEOUT)
        if not line:
            await self.proc.wait()
            raise RuntimeError(f"hum up failed: {self.said().strip()}")
        self.info = json.loads(line)
        return self.info

    @property
    def thrum(self) -> Path:
        return Path(self.info["thrum"])

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.info["http"] + path, timeout=5) as response:
            return json.loads(response.read())

    async def wait_peers(self, predicate: Callable[[list[str]], bool]) -> list[str]:
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            peers = (await asyncio.to_thread(self.get, "/hum/peers"))["peers"]
            if predicate(peers):
                return peers
            if time.monotonic() > deadline:
                raise TimeoutError(f"peers of {self.home.name} stayed {peers}")
            await asyncio.sleep(POLL_INTERVAL)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Nestler:
    """A thrum-socket nestler that keeps every tone with its arrival time."""

    def __init__(self, client: ThrumClient) -> None:
        self.client = client
        self.seen: list[tuple[float, Tone]] = []

    @classmethod
    async def open(cls, humd: HumdProcess, bee: str) -> Nestler:
        client, _ = await ThrumClient.connect(humd.thrum, bee)
        return cls(client)

    async def wait_for(self, predicate: Callable[[Tone], bool], after: int = 0) -> tuple[float, Tone]:
        for at, tone in self.seen[after:]:
            if predicate(tone):
                return at, tone
        while True:
            tone = await asyncio.wait_for(self.client.receive(), STEP_TIMEOUT)
            at = time.monotonic()
            self.seen.append((at, tone))
            if predicate(tone):
                return at, tone

    def wanes(self, sigil: str) -> list[int]:
        return [t["wane"] for _, t in self.seen if t.get("sigil") == sigil and is_petal(t)]

    def text(self, sigil: str) -> str:
        return "".join(t.get("delta", "") for _, t in self.seen if t.get("sigil") == sigil and t.chi == "chunk")

    def close(self) -> None:
        self.client.close()


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*hum_command(), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), STEP_TIMEOUT)
    return proc.returncode or 0, out.decode(), err.decode()


async def new_operator(home: Path) -> None:
    """`hum operator init` for the laptop of a story; a failure ends the story with its reason."""
    code, _, err = await run_cli("operator", "init", "--home", str(home), "--name", "laptop", "--json")
    if code != 0:
        raise RuntimeError(f"hum operator init failed: {err.strip()}")


def story_log(lines: list[str]) -> Callable[[str, str], None]:
    """A story's log: each line says who did what, stamped with the milliseconds since the story began."""
    t0 = time.monotonic()

    def note(who: str, what: str) -> None:
        lines.append(f"{(time.monotonic() - t0) * 1000:9.1f} ms  {who:7}  {what}")

    return note


async def pair_devices(laptop: HumdProcess, phone_home: Path, via: int | None = None, name: str = "phone", peer: str | None = None) -> str:
    """`hum pair` on the laptop, `hum join` on the phone (through port `via`, if given, or at `peer`);
    returns the phone's HumdId.

    A laptop without a TCP listener is joined at the `peer` its offer names (iroh or relay).
    """
    pair = await asyncio.create_subprocess_exec(
        *hum_command(), "pair", "--home", str(laptop.home), "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert pair.stdout is not None
    offer = json.loads(await asyncio.wait_for(pair.stdout.readline(), STEP_TIMEOUT))
    peer = peer or (f"127.0.0.1:{via or laptop.port}" if laptop.port else offer["peer"])
    code, out, err = await run_cli("join", "--home", str(phone_home), "--code", offer["code"], "--peer", peer, "--name", name, "--json")
    if code != 0:
        raise RuntimeError(f"hum join failed: {err.strip()}")
    paired = json.loads(await asyncio.wait_for(pair.stdout.readline(), STEP_TIMEOUT))
    await pair.wait()
    return str(paired["paired"])


async def run_real(workdir: Path, lines: list[str], rtt: float = DEFAULT_RTT, transport: str = "tcp") -> dict[str, Criterion]:
    """The story between two real processes; the phone reaches the laptop through a link of `rtt`.

    Over iroh or a transit relay (`transport`) neither humd listens on TCP and
    no latency is added (`rtt` counts only for TCP).
    """
    note = story_log(lines)
    reach = Reach(transport)
    if not reach.over_tcp:
        rtt = 0.0

    out: dict[str, Criterion] = {}
    lhome, phome = workdir / "laptop", workdir / "phone"
    await new_operator(lhome)
    laptop = HumdProcess(lhome, free_port() if reach.over_tcp else None, extra=reach.laptop_args())
    phone = HumdProcess(phome, free_port() if reach.over_tcp else None, extra=reach.phone_args())
    nestlers: list[Nestler] = []
    relay = LatencyRelay(("127.0.0.1", laptop.port or 0), rtt / 2)
    try:
        await reach.start()
        await laptop.start()
        note("laptop", f"humd-L up at {laptop.info['listen'] or laptop.info.get(transport)}")
        if reach.over_tcp:
            await relay.start()
            note("both", f"the phone reaches the laptop through a {rtt * 1000:g} ms RTT link")
        else:
            note("both", f"no TCP listener: the phone reaches the laptop over {transport} only")
        phone_id = await pair_devices(laptop, phome, via=relay.port if reach.over_tcp else None)
        note("phone", f"paired by code: {phone_id[:12]}")
        await phone.start()
        await laptop.wait_peers(lambda p: p == [phone.info["humdId"]])
        await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
        note("both", "TLS link up, T1 siblings")
        peers_ok = [phone_id == phone.info["humdId"]]

        oc = await Nestler.open(laptop, "opencode")
        nestlers.append(oc)
        oc.client.send(Tone(chi="prompt", sid="real-roam", text="walk me through the roam story", rid="p1"))
        sg = (await oc.wait_for(lambda t: t.chi == "hello"))[1]["sigil"]
        await oc.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= WALK_AWAY_AT + 1)
        cursor = oc.wanes(sg)[-1]
        note("laptop", f"hum {sg} blooming; operator walks away after wane {cursor}")

        ai = await Nestler.open(phone, "vercel-ai")
        nestlers.append(ai)
        sent = time.monotonic()
        ai.client.send(Tone(chi="attach", sigil=sg, since=cursor, rid="a1"))
        at, hello = await ai.wait_for(lambda t: t.chi in ("hello", "error"))
        hello_ms = (at - sent) * 1000
        note("phone", f"hello after {hello_ms:.1f} ms")
        out["hello_within_rtt_plus_50ms"] = Criterion(
            hello.chi == "hello" and hello.get("sigil") == sg and hello_ms <= (rtt + LATENCY_MARGIN) * 1000,
            round(hello_ms, 3), (rtt + LATENCY_MARGIN) * 1000,
        )
        _, fin_p = await ai.wait_for(lambda t: t.chi == "finish")
        _, fin_l = await oc.wait_for(lambda t: t.chi == "finish")
        phone_wanes = ai.wanes(sg)
        out["no_petal_twice_none_missing"] = Criterion(
            phone_wanes == list(range(cursor + 1, fin_p["wane"] + 1)),
            {"first": phone_wanes[:1], "last": phone_wanes[-1:], "count": len(phone_wanes)},
        )
        laptop_rest = "".join(t.get("delta", "") for _, t in oc.seen if t.get("sigil") == sg and t.chi == "chunk" and t["wane"] > cursor)
        out["phone_text_equals_laptop_text"] = Criterion(ai.text(sg) == laptop_rest and bool(laptop_rest), len(laptop_rest))
        peers_ok.append(True)

        def wane_of(humd: HumdProcess) -> int:
            hums = humd.get("/hum/hums")["hums"]
            return next(int(h["wane"]) for h in hums if h["sigil"] == sg)

        phone_wane, laptop_wane = await asyncio.to_thread(wane_of, phone), await asyncio.to_thread(wane_of, laptop)
        # (the sim holds the attach in flight for a controlled latency; loopback cannot,
        # so here the check is that the phone's wane settles on the laptop's)
        out["wane_settles_equal_on_both"] = Criterion(
            hello["wane"] >= cursor and phone_wane == laptop_wane == fin_l["wane"],
            {"granted_at": hello["wane"], "phone": phone_wane, "laptop": laptop_wane},
        )

        mark = len(oc.seen)
        sent = time.monotonic()
        ai.client.send(Tone(chi="prompt", sigil=sg, text="and from the phone?", rid="p2"))
        at, prompt = await oc.wait_for(lambda t: t.chi == "prompt", after=mark)
        prompt_ms = (at - sent) * 1000
        note("laptop", f"prompt from humd-P after {prompt_ms:.1f} ms")
        out["prompt_within_rtt_plus_50ms"] = Criterion(prompt_ms <= (rtt + LATENCY_MARGIN) * 1000, round(prompt_ms, 3), (rtt + LATENCY_MARGIN) * 1000)
        out["prompt_from_is_humd_p"] = Criterion(prompt.get("from") == phone.info["humdId"], prompt.get("from"))
        _, f2l = await oc.wait_for(lambda t: t.chi == "finish", after=mark)
        _, f2p = await ai.wait_for(lambda t: t.chi == "finish" and t["wane"] == f2l["wane"])
        out["finish_on_both_taps_same_usage"] = Criterion(
            f2l["usage"] == f2p["usage"] and f2l["usage"]["output_tokens"] > 0, {"laptop": f2l["usage"], "phone": f2p["usage"]}
        )

        oc.client.send(Tone(chi="detach", sigil=sg))
        oc.close()
        note("laptop", "lid closed: opencode detached")
        mark = len(ai.seen)
        ai.client.send(Tone(chi="prompt", sigil=sg, text="still there?", rid="p3"))
        _, f3 = await ai.wait_for(lambda t: t.chi == "finish", after=mark)
        out["hum_lives_on_from_phone"] = Criterion(f3["usage"]["output_tokens"] > 0, {"wane": f3["wane"]})
        peers_ok.append(await laptop.wait_peers(lambda p: True) == [phone.info["humdId"]])
        peers_ok.append(await phone.wait_peers(lambda p: True) == [laptop.info["humdId"]])
        out["peers_listed_throughout_no_stale"] = Criterion(all(peers_ok), len(peers_ok))

        intruders = await intrude_over_tls(laptop.info, laptop.home, sg, reach, quiet_after=STEP_TIMEOUT)
        note("laptop", f"intruders refused: {intruders}")
        out["identity_mismatch_refused_no_tone_leaks"] = Criterion(
            intruders["foreign_operator"] == "tls-refused"
            and intruders["forged_humd_id"] == "identity-mismatch, then nothing"
            and await laptop.wait_peers(lambda p: True) == [phone.info["humdId"]],
            intruders,
        )

        # process death mid-bloom
        mark = len(ai.seen)
        ai.client.send(Tone(chi="prompt", sigil=sg, text="a long one, please", rid="p4"))
        await ai.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= f3["wane"] + 6, after=mark)
        killed = time.monotonic()
        laptop.kill()
        note("laptop", "humd-L SIGKILLed mid-bloom")
        at, lost = await ai.wait_for(lambda t: t.chi in ("error", "drone") and not is_petal(t), after=mark)
        loss_ms = (at - killed) * 1000
        note("phone", f"{lost.chi} {lost.get('qualifier')} after {loss_ms:.1f} ms")
        gone = await phone.wait_peers(lambda p: p == [])
        out["stuck_home_surfaces_peer_loss"] = Criterion(
            lost.chi == "error" and lost.get("qualifier") == "peer-loss" and loss_ms <= PEER_LOSS_LIMIT * 1000 and gone == [],
            {"ms": round(loss_ms, 3), "qualifier": lost.get("qualifier")}, PEER_LOSS_LIMIT * 1000,
        )
        seen_by_phone = {t["wane"]: (t.chi, t.get("delta"), t.get("text")) for _, t in ai.seen if t.get("sigil") == sg and is_petal(t)}
        phone_cursor = max(seen_by_phone)

        await laptop.start()
        note("laptop", "humd-L restarted from its SQLite store")
        await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
        ai2 = await Nestler.open(phone, "vercel-ai-again")
        nestlers.append(ai2)
        ai2.client.send(Tone(chi="attach", sigil=sg, since=phone_cursor, rid="a2"))
        _, closing = await ai2.wait_for(lambda t: t.chi == "error" and is_petal(t))
        resumed = ai2.wanes(sg)
        note("phone", f"re-attached from wane {phone_cursor}: got {resumed}")
        ai3 = await Nestler.open(phone, "vercel-ai-behind")
        nestlers.append(ai3)
        behind = phone_cursor - 5  # a nestler that had seen less resumes from its own cursor
        ai3.client.send(Tone(chi="attach", sigil=sg, since=behind, rid="a4"))
        await ai3.wait_for(lambda t: t.chi == "error" and t.get("wane") == closing["wane"])
        resumed_behind = ai3.wanes(sg)
        audit = await Nestler.open(laptop, "audit")
        nestlers.append(audit)
        audit.client.send(Tone(chi="attach", sigil=sg, since=0, rid="a3"))
        await audit.wait_for(lambda t: t.get("wane") == closing["wane"] and t.chi == "error")
        stored = {t["wane"]: (t.chi, t.get("delta"), t.get("text")) for _, t in audit.seen if is_petal(t)}
        out["sigkill_loses_no_seen_petal"] = Criterion(
            all(stored.get(w) == v for w, v in seen_by_phone.items()), {"seen_by_phone": len(seen_by_phone), "stored": len(stored)}
        )
        out["restart_resumes_exactly"] = Criterion(
            resumed == list(range(phone_cursor + 1, closing["wane"] + 1)) and closing.get("qualifier") == "interrupted"
            and resumed_behind == list(range(behind + 1, closing["wane"] + 1)),
            {"cursor": phone_cursor, "resumed": resumed, "behind_cursor": behind, "behind_resumed": len(resumed_behind), "closing": closing.get("qualifier")},
        )
    finally:
        for n in nestlers:
            n.close()
        await laptop.stop()
        await phone.stop()
        await relay.close()
        await reach.close()
    return out


Story = Callable[[Path, list[str], float], Awaitable[dict[str, Criterion]]]


def report(rtt: float = DEFAULT_RTT, transport: str = "tcp", story: Story | None = None, extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Run a real two-process story (the roam story unless told); the same report shape as the sim's."""
    lines: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="hum-roam-"))
    os.chmod(workdir, 0o700)
    try:
        criteria = asyncio.run(story(workdir, lines, rtt) if story is not None else run_real(workdir, lines, rtt, transport))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "mode": "real",
        **(extra or {}),
        "transport": transport,
        "rtt_ms": rtt * 1000 if transport == "tcp" else 0.0,
        "criteria": {k: c.as_json() for k, c in criteria.items()},
        "ok": all(c.ok for c in criteria.values()),
    }, lines
