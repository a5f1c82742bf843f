"""Chaos with real processes: the laptop (first home), the phone and, with three devices, the tablet,
each a `hum up`, faults dealt by signal, relay and CLI.

Each round sends a prompt from one of the devices, lets the bloom run a
moment, then deals one fault: SIGKILL and restart of the home mid-bloom,
SIGSTOP and SIGCONT of the home (no reset: only heartbeats can tell), a
partition in the relay a device reaches the laptop through (bytes held in
flight), SIGKILL and restart of the phone (or the tablet), an adoption on the
phone while its relay is held, with three devices an adoption on the phone and
the tablet at once, and forgetting the hum at its home then prompting the
same sid again (a new incarnation under the same sigil). Nestlers on the
devices follow: after a loss they attach again from the last wane they saw
once the home is linked again. At the end the tones every nestler received are
counted against the home's final log, as the sim's chaos counts them, every
device's copy is compared with the home's (`diverged`), and every device's
HTTP history (`/api/chat/{sigil}/messages`, an HTTP client among the
nestlers) must hold every prompt of the home's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hum.demo.chaos_check import Tally, count_streams, diverged_wanes, report
from hum.demo.relay import LatencyRelay
from hum.demo.roam_real import HumdProcess, Nestler, free_port, pair_devices, run_cli
from hum.wire.tones import Tone, is_petal

FAULTS = ("kill_home", "stop_home", "partition", "kill_phone", "adopt", "forget_again")
FAULTS_3 = (*FAULTS, "kill_tablet", "adopt_two")
# Long enough for liveness to speak (missed heartbeats need 1.5 s) and a redial to come back.
FAULT_SECONDS = 2.0
# How long the end of a run may take to settle before a silent nestler counts as unsurfaced.
SETTLE_SECONDS = 60.0
# One way of the relay: a device a little way off.
ONE_WAY = 0.01
POLL = 0.05


@dataclass
class Watcher:
    """A thrum nestler on a device that follows the hum; its tones across every humd it lived on."""

    nestler: Nestler | None
    since: int
    device: str
    tones: list[Tone] = field(default_factory=list)

    @property
    def last_wane(self) -> int:
        """Where to follow up from: the last wane seen, or 0 after the hum moved or was forgotten."""
        tones = self.all_tones()
        if tones and tones[-1].get("qualifier") in ("moved", "forgotten"):
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


def _messages(humd: HumdProcess, sg: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{humd.info['http']}/api/chat/{sg}/messages", timeout=10) as response:
        return list(json.loads(response.read())["messages"])


class RealChaos:
    """Humd processes, a relay from each device to the laptop, and the watchers that follow the hum."""

    def __init__(self, workdir: Path, seed: int, devices: int = 2) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.laptop = HumdProcess(workdir / "laptop", free_port())
        self.humds = {"laptop": self.laptop, "phone": HumdProcess(workdir / "phone", free_port())}
        if devices == 3:
            phone = self.humds["phone"]
            self.humds["tablet"] = HumdProcess(workdir / "tablet", free_port(), extra=["--peer", f"127.0.0.1:{phone.port}"])
        self.relays = {name: LatencyRelay(("127.0.0.1", self.laptop.port), ONE_WAY) for name in self.humds if name != "laptop"}
        self.watchers: list[Watcher] = []
        self.readers: list[asyncio.Task[None]] = []
        self.events: list[str] = []
        self.sigil = ""
        self.again = 0
        self.silent: list[dict[str, Any]] = []

    @property
    def phone(self) -> HumdProcess:
        return self.humds["phone"]

    async def start(self) -> None:
        code, _, err = await run_cli("operator", "init", "--home", str(self.laptop.home), "--name", "laptop")
        if code != 0:
            raise RuntimeError(f"hum operator init failed: {err.strip()}")
        await self.laptop.start()
        for name, relay in self.relays.items():
            await relay.start()
            await pair_devices(self.laptop, self.humds[name].home, via=relay.port, name=name)
            await self.humds[name].start()
        await self.wait_linked()
        driver = await Nestler.open(self.laptop, "driver")
        driver.client.send(Tone(chi="prompt", sid="chaos-real", text="q0"))
        _, hello = await driver.wait_for(lambda t: t.chi == "hello")
        self.sigil = hello["sigil"]
        driver.close()
        for name in self.relays:
            await self.follow(name, 0)

    async def follow(self, device: str, since: int) -> Watcher:
        nestler = await Nestler.open(self.humds[device], f"w{len(self.watchers)}")
        nestler.client.send(Tone(chi="attach", sigil=self.sigil, since=since))
        watcher = Watcher(nestler, since, device)
        self.watchers.append(watcher)
        self.readers.append(asyncio.create_task(_pump(watcher)))
        return watcher

    async def linked(self) -> bool:
        """Every device is linked with every other."""
        ids = {h.info["humdId"] for h in self.humds.values()}
        for humd in self.humds.values():
            try:
                peers = set((await asyncio.to_thread(humd.get, "/hum/peers"))["peers"])
            except OSError:
                return False
            if peers != ids - {humd.info["humdId"]}:
                return False
        return True

    async def wait_linked(self) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        while not await self.linked():
            if time.monotonic() > deadline:
                raise TimeoutError("the devices never linked with each other again")
            await asyncio.sleep(POLL)

    async def follow_up(self) -> None:
        """Watchers told of a loss attach again from their last wane, as `hum attach` does."""
        for w in list(self.watchers):
            if w.nestler is not None and w.lost_home():
                since = w.last_wane
                w.retire()
                await self.follow(w.device, since)

    async def prompt(self, n: int) -> None:
        at = self.humds[self.rng.choice(sorted(self.humds))]
        with contextlib.suppress(ConnectionError, OSError):
            sender = await Nestler.open(at, f"p{n}")
            sender.client.send(Tone(chi="prompt", sigil=self.sigil, text=f"q{n}"))
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(sender.wait_for(lambda t: t.chi in ("prompt", "queued", "error")), 5)
            sender.close()

    async def restart(self, humd: HumdProcess) -> None:
        humd.proc = None
        await humd.start()

    async def kill_and_restart(self, name: str, away: float = 0.0) -> None:
        """SIGKILL, `away` seconds gone, then up again; its watchers' connections died with it and they
        connect again, following from their last wane as a client does."""
        humd = self.humds[name]
        humd.kill()
        assert humd.proc is not None
        await humd.proc.wait()
        await asyncio.sleep(away)
        survivors = [w for w in self.watchers if w.nestler is not None and w.device == name]
        for w in survivors:
            w.retire()
        await self.restart(humd)
        await self.wait_linked()
        for w in survivors:
            await self.follow(name, w.last_wane)

    async def adopt_cut_off(self, names: list[str]) -> None:
        """The home goes quiet for these devices (held relays); each adopts the hum at once."""
        relays = [self.relays[n] for n in names]
        for relay in relays:
            relay.hold()
        await asyncio.sleep(FAULT_SECONDS)
        await asyncio.gather(*(run_cli("adopt", self.sigil, "--force", "--home", str(self.humds[n].home), "--json") for n in names))
        await asyncio.sleep(self.rng.uniform(0.1, 1.0))
        for relay in relays:
            relay.hold(False)

    async def fault(self, kind: str) -> None:
        self.events.append(kind)
        home = self.home()
        if kind == "kill_home":  # the home is away a while: the others must say so meanwhile
            await self.kill_and_restart(next(n for n, h in self.humds.items() if h is home), away=FAULT_SECONDS)
        elif kind == "stop_home":
            assert home.proc is not None
            home.proc.send_signal(signal.SIGSTOP)
            await asyncio.sleep(FAULT_SECONDS)
            home.proc.send_signal(signal.SIGCONT)
        elif kind == "partition":
            relay = self.relays[self.rng.choice(sorted(self.relays))]
            relay.hold()
            await asyncio.sleep(FAULT_SECONDS)
            relay.hold(False)
        elif kind == "adopt":
            await self.adopt_cut_off(["phone"])
        elif kind == "adopt_two":
            await self.adopt_cut_off(["phone", "tablet"])
        elif kind == "forget_again":
            self.again += 1
            await run_cli("forget", self.sigil, "--home", str(home.home), "--json")  # refused mid-bloom: the prompt goes on
            await run_cli("prompt", "--sid", "chaos-real", f"again{self.again}", "--home", str(home.home), "--json")
        elif kind in ("kill_phone", "kill_tablet"):
            await self.kill_and_restart(kind.removeprefix("kill_"))

    def home(self) -> HumdProcess:
        """Whichever process the hum's home is now, as the devices' own lists say (the laptop's first)."""
        by_id = {h.info["humdId"]: h for h in self.humds.values()}
        for humd in self.humds.values():
            with contextlib.suppress(OSError):
                entry = next((h for h in humd.get("/hum/hums")["hums"] if h["sigil"] == self.sigil), {})
                if entry.get("home") in by_id:
                    return by_id[entry["home"]]
        return self.laptop

    async def read_log(self, humd: HumdProcess) -> tuple[int, list[Tone]]:
        """A humd's whole log of the hum and its incarnation, read by a fresh nestler from wane 0."""
        reader = await Nestler.open(humd, "auditor")
        reader.client.send(Tone(chi="attach", sigil=self.sigil, since=0))
        _, hello = await reader.wait_for(lambda t: t.chi in ("hello", "error") and not is_petal(t))
        tip = hello.get("wane") or 0
        if hello.chi == "hello" and tip:
            await reader.wait_for(lambda t: is_petal(t) and t["wane"] == tip)
        reader.close()
        return int(hello.get("born") or 0), [t for _, t in reader.seen if is_petal(t)]

    async def agreed(self) -> bool:
        """Every device names one home, holds its incarnation, and its copy is the home's up to its tip."""
        homes = set()
        for humd in self.humds.values():
            entry = next((h for h in humd.get("/hum/hums")["hums"] if h["sigil"] == self.sigil), {})
            homes.add(entry.get("home"))
        if len(homes) != 1:
            return False
        born, log = await self.read_log(self.home())
        if not log or log[-1].chi not in ("finish", "error", "note"):
            return False  # the last bloom has not ended
        for humd in self.humds.values():
            theirs_born, theirs = await self.read_log(humd)
            if theirs_born != born or theirs != log[: len(theirs)]:
                return False
        return True

    async def settle(self) -> Tally:
        for relay in self.relays.values():
            relay.hold(False)
        await self.wait_linked()
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline and not await self.agreed():
            await asyncio.sleep(0.2)
        await self.follow_up()
        born, log = await self.read_log(self.home())
        tip = len(log)
        kept = [Tone(o) for humd in self.humds.values() for o in humd.get(f"/hum/hums/{self.sigil}/orphans")["orphans"]]
        while time.monotonic() < deadline and not all(w.nestler is None or w.last_wane >= tip or w.lost_home() for w in self.watchers):
            await asyncio.sleep(POLL)
        streams = [[t for t in w.all_tones() if t.get("sigil") == self.sigil] for w in self.watchers]
        # an incarnation other than the home's was forgotten there (forget_again): what was seen of it is not owed
        forgotten = {int(t.get("born") or 0) for s in streams for t in s if t.chi == "hello"} - {born}
        tally = count_streams(streams, log, kept, forgotten)
        silent = [w for w in self.watchers if w.nestler is not None and not (w.last_wane >= tip or w.lost_home())]
        tally.unsurfaced += len(silent)
        # what each silent watcher last heard, to read beside the seed
        self.silent = [{"device": w.device, "lastWane": w.last_wane, "tip": tip, "last": [dict(t) for t in w.all_tones()[-3:]]} for w in silent]
        for record in self.silent:  # how far that device's own copy got
            with contextlib.suppress(TimeoutError):
                record["deviceLog"] = len((await asyncio.wait_for(self.read_log(self.humds[record["device"]]), 5))[1])
        for humd in self.humds.values():
            theirs_born, theirs = await self.read_log(humd)
            tally.diverged += diverged_wanes(theirs, log) if theirs_born == born else max(len(theirs), 1)
            prompts = sum(1 for t in log if t.chi == "prompt")
            said = await asyncio.to_thread(_messages, humd, self.sigil)
            tally.lost += max(prompts - sum(1 for m in said if m.get("role") == "user"), 0)
        return tally

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        for w in self.watchers:
            w.retire()
        for relay in self.relays.values():
            await relay.close()
        for humd in self.humds.values():
            with contextlib.suppress(ProcessLookupError):
                await humd.stop()


async def run_rounds(rounds: int, seed: int, workdir: Path, devices: int = 2) -> tuple[Tally, list[str], list[dict[str, Any]]]:
    chaos = RealChaos(workdir, seed, devices)
    faults = FAULTS_3 if devices == 3 else FAULTS
    try:
        await chaos.start()
        for n in range(1, rounds + 1):
            await chaos.prompt(n)
            await asyncio.sleep(chaos.rng.uniform(0.1, 0.6))  # the fault lands mid-bloom
            await chaos.fault(chaos.rng.choice(faults))
            await chaos.wait_linked()
            await chaos.follow_up()
        tally = await chaos.settle()
        return tally, chaos.events, chaos.silent
    finally:
        await chaos.close()


def run_real(rounds: int, *, seed: int = 0, devices: int = 2) -> dict[str, Any]:
    """`rounds` faults dealt to real humd processes; the report `hum chaos --real --json` prints."""
    with tempfile.TemporaryDirectory(prefix="hum-chaos-real-") as tmp:
        tally, events, silent = asyncio.run(run_rounds(rounds, seed, Path(tmp), devices))
    report_ = {"criteria": report(tally), "rounds": rounds, "devices": devices, "seed": seed, "faults": events, "ok": tally.clean()}
    return {**report_, "silent": silent} if silent else report_
