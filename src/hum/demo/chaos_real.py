"""Chaos with real processes: the laptop (home) and the phone as two `hum up`, faults dealt by signal and relay.

Each round sends a prompt from one of the devices, lets the bloom run a
moment, then deals one fault: SIGKILL and restart of the home mid-bloom,
SIGSTOP and SIGCONT of the home (no reset: only heartbeats can tell), a
partition in the relay the phone reaches the laptop through (bytes held in
flight), or SIGKILL and restart of the phone. Nestlers on the phone follow:
after a loss they attach again from the last wane they saw once the home is
linked again. At the end the tones every nestler received are counted
against the home's final log, as the sim's chaos counts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hum.demo.chaos import CRITERIA, Tally, count_streams
from hum.demo.relay import LatencyRelay
from hum.demo.roam_real import HumdProcess, Nestler, free_port, pair_devices, run_cli
from hum.wire.tones import Tone, is_petal

FAULTS = ("kill_home", "stop_home", "partition", "kill_phone", "adopt")
# Long enough for liveness to speak (missed heartbeats need 1.5 s) and a redial to come back.
FAULT_SECONDS = 2.0
# How long the end of a run may take to settle before a silent nestler counts as unsurfaced.
SETTLE_SECONDS = 60.0
# One way of the relay: a phone a little way off.
ONE_WAY = 0.01
POLL = 0.05


@dataclass
class Watcher:
    """A thrum nestler on the phone that follows the hum; its tones across every humd it lived on."""

    nestler: Nestler | None
    since: int
    tones: list[Tone] = field(default_factory=list)

    @property
    def last_wane(self) -> int:
        """Where to follow up from: the last wane seen, or 0 after the hum moved (a branch may have been cut)."""
        tones = self.all_tones()
        if tones and tones[-1].get("qualifier") == "moved":
            return 0
        return max((t["wane"] for t in tones if is_petal(t)), default=self.since)

    def all_tones(self) -> list[Tone]:
        return self.tones + ([t for _, t in self.nestler.seen] if self.nestler is not None else [])

    def lost_home(self) -> bool:
        tones = self.all_tones()
        return bool(tones) and tones[-1].chi == "error" and not is_petal(tones[-1]) and tones[-1].get("code") != "store-error"

    def retire(self) -> None:
        """Its connection is gone (its humd died, or it follows up on a fresh one)."""
        if self.nestler is not None:
            self.tones = self.all_tones()
            self.nestler.close()
            self.nestler = None


async def _pump(watcher: Watcher) -> None:
    """Keep reading a watcher's tones until its connection ends."""
    assert watcher.nestler is not None
    with contextlib.suppress(ConnectionError, OSError, TimeoutError, asyncio.CancelledError):
        while True:
            await watcher.nestler.wait_for(lambda t: False, after=len(watcher.nestler.seen))


class RealChaos:
    """Two humd processes, a relay between them, and the watchers that follow the hum."""

    def __init__(self, workdir: Path, seed: int) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.laptop = HumdProcess(workdir / "laptop", free_port())
        self.phone = HumdProcess(workdir / "phone", free_port())
        self.relay = LatencyRelay(("127.0.0.1", self.laptop.port), ONE_WAY)
        self.watchers: list[Watcher] = []
        self.readers: list[asyncio.Task[None]] = []
        self.events: list[str] = []
        self.sigil = ""

    async def start(self) -> None:
        code, _, err = await run_cli("operator", "init", "--home", str(self.laptop.home), "--name", "laptop")
        if code != 0:
            raise RuntimeError(f"hum operator init failed: {err.strip()}")
        await self.laptop.start()
        await self.relay.start()
        await pair_devices(self.laptop, self.phone.home, via=self.relay.port)
        await self.phone.start()
        await self.phone.wait_peers(lambda p: p == [self.laptop.info["humdId"]])
        driver = await Nestler.open(self.laptop, "driver")
        driver.client.send(Tone(chi="prompt", sid="chaos-real", text="q0"))
        _, hello = await driver.wait_for(lambda t: t.chi == "hello")
        self.sigil = hello["sigil"]
        driver.close()
        await self.follow(0)

    async def follow(self, since: int) -> Watcher:
        nestler = await Nestler.open(self.phone, f"w{len(self.watchers)}")
        nestler.client.send(Tone(chi="attach", sigil=self.sigil, since=since))
        watcher = Watcher(nestler, since)
        self.watchers.append(watcher)
        self.readers.append(asyncio.create_task(_pump(watcher)))
        return watcher

    async def linked(self) -> bool:
        try:
            peers = (await asyncio.to_thread(self.phone.get, "/hum/peers"))["peers"]
        except OSError:
            return False
        return peers == [self.laptop.info["humdId"]]

    async def wait_linked(self) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        while not await self.linked():
            if time.monotonic() > deadline:
                raise TimeoutError("the phone never linked with the laptop again")
            await asyncio.sleep(POLL)

    async def follow_up(self) -> None:
        """Watchers told of a loss attach again from their last wane, as `hum attach` does."""
        for w in list(self.watchers):
            if w.nestler is not None and w.lost_home():
                since = w.last_wane
                w.retire()
                await self.follow(since)

    async def prompt(self, n: int) -> None:
        at = self.laptop if self.rng.random() < 0.5 else self.phone
        with contextlib.suppress(ConnectionError, OSError):
            sender = await Nestler.open(at, f"p{n}")
            sender.client.send(Tone(chi="prompt", sigil=self.sigil, text=f"q{n}"))
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(sender.wait_for(lambda t: t.chi in ("prompt", "queued", "error")), 5)
            sender.close()

    async def restart(self, humd: HumdProcess) -> None:
        humd.proc = None
        await humd.start()

    async def fault(self, kind: str) -> None:
        self.events.append(kind)
        if kind == "kill_home":
            self.laptop.kill()
            assert self.laptop.proc is not None
            await self.laptop.proc.wait()
            await asyncio.sleep(FAULT_SECONDS)  # the home is away: the phone must say so meanwhile
            await self.restart(self.laptop)
        elif kind == "stop_home":
            assert self.laptop.proc is not None
            self.laptop.proc.send_signal(signal.SIGSTOP)
            await asyncio.sleep(FAULT_SECONDS)
            self.laptop.proc.send_signal(signal.SIGCONT)
        elif kind == "partition":
            self.relay.hold()
            await asyncio.sleep(FAULT_SECONDS)
            self.relay.hold(False)
        elif kind == "adopt":
            # the home goes quiet (held relay), the phone takes the hum over, the laptop carries on alone
            self.relay.hold()
            await asyncio.sleep(FAULT_SECONDS)
            await run_cli("adopt", self.sigil, "--home", str(self.phone.home), "--json")
            await asyncio.sleep(self.rng.uniform(0.1, 1.0))
            self.relay.hold(False)
        elif kind == "kill_phone":
            self.phone.kill()
            assert self.phone.proc is not None
            await self.phone.proc.wait()
            survivors = [w for w in self.watchers if w.nestler is not None]
            for w in survivors:
                w.retire()
            await self.restart(self.phone)
            await self.wait_linked()
            for w in survivors:
                await self.follow(w.last_wane)

    def home(self) -> HumdProcess:
        """Whichever process the hum's home is now (the phone, once it adopted and won)."""
        entry = next((h for h in self.laptop.get("/hum/hums")["hums"] if h["sigil"] == self.sigil), {})
        return self.phone if entry.get("home") == self.phone.info["humdId"] else self.laptop

    async def home_log(self, humd: HumdProcess | None = None) -> list[Tone]:
        """A humd's whole log of the hum (the home's by default), read by a fresh nestler from wane 0."""
        reader = await Nestler.open(humd or self.home(), "auditor")
        reader.client.send(Tone(chi="attach", sigil=self.sigil, since=0))
        _, hello = await reader.wait_for(lambda t: t.chi == "hello")
        tip = hello["wane"]
        if tip:
            await reader.wait_for(lambda t: is_petal(t) and t["wane"] == tip)
        reader.close()
        return [t for _, t in reader.seen if is_petal(t)]

    async def settle(self) -> Tally:
        self.relay.hold(False)
        await self.wait_linked()
        deadline = time.monotonic() + SETTLE_SECONDS
        # the last bloom ends (a queued prompt is appended in the same commit as the close before it)
        while time.monotonic() < deadline and (await self.home_log())[-1].chi not in ("finish", "error"):
            await asyncio.sleep(0.2)
        # both devices agree on the home, and the other's log is the home's (a cut branch kept aside)
        while time.monotonic() < deadline:
            home = self.home()
            other = self.phone if home is self.laptop else self.laptop
            log, theirs = await self.home_log(home), await self.home_log(other)
            if theirs == log[: len(theirs)] and self.phone.get("/hum/hums")["hums"] and self.home() is home:
                break
            await asyncio.sleep(0.2)
        await self.follow_up()
        log = await self.home_log()
        tip = len(log)
        kept = [Tone(o) for humd in (self.laptop, self.phone) for o in humd.get(f"/hum/hums/{self.sigil}/orphans")["orphans"]]
        while time.monotonic() < deadline and not all(w.nestler is None or w.last_wane >= tip or w.lost_home() for w in self.watchers):
            await asyncio.sleep(POLL)
        tally = count_streams([[t for t in w.all_tones() if t.get("sigil") == self.sigil] for w in self.watchers], log, kept)
        tally.unsurfaced += sum(1 for w in self.watchers if w.nestler is not None and not (w.last_wane >= tip or w.lost_home()))
        return tally

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        for w in self.watchers:
            w.retire()
        await self.relay.close()
        for humd in (self.phone, self.laptop):
            with contextlib.suppress(ProcessLookupError):
                await humd.stop()


async def run_rounds(rounds: int, seed: int, workdir: Path) -> tuple[Tally, list[str]]:
    chaos = RealChaos(workdir, seed)
    try:
        await chaos.start()
        for n in range(1, rounds + 1):
            await chaos.prompt(n)
            await asyncio.sleep(chaos.rng.uniform(0.1, 0.6))  # the fault lands mid-bloom
            await chaos.fault(chaos.rng.choice(FAULTS))
            await chaos.wait_linked()
            await chaos.follow_up()
        return await chaos.settle(), chaos.events
    finally:
        await chaos.close()


def run_real(rounds: int, *, seed: int = 0) -> dict[str, Any]:
    """`rounds` faults dealt to two real humd processes; the report `hum chaos --real --json` prints."""
    with tempfile.TemporaryDirectory(prefix="hum-chaos-real-") as tmp:
        tally, events = asyncio.run(run_rounds(rounds, seed, Path(tmp)))
    return {
        "criteria": {n: {"ok": getattr(tally, n) == 0, "value": getattr(tally, n), "limit": 0} for n in CRITERIA},
        "rounds": rounds,
        "faults": events,
        "ok": tally.clean(),
    }
