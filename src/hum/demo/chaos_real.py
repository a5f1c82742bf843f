"""Chaos with real processes: the laptop (first home), the phone and, with three devices, the tablet,
each a `hum up`, faults dealt by signal, relay and CLI.

Each round sends a prompt from one of the devices, lets the bloom run a
moment, then deals one fault: SIGKILL and restart of the home mid-bloom,
SIGSTOP and SIGCONT of the home (no reset: only heartbeats can tell), a
partition in the relay a device reaches the laptop through (bytes held in
flight), SIGKILL and restart of the phone (or the tablet), an adoption on the
phone while its relay is held, with three devices an adoption on the phone and
the tablet at once, and forgetting the hum at its home then prompting the
same sid again (a new incarnation under the same sigil), and a damaged row in a
stopped device's store (its node fetches it back from a sibling). Every bloom
asks leave half-way; each round every open ask is answered from two devices at
once. The phone links to the laptop through a transit relay with squatters at it,
the tablet to the phone over iroh where installed (`chaos_real_links`). Nestlers on the
devices follow: after a loss they attach again from the last wane they saw
once the home is linked again. At the end the tones every nestler received are
counted against the home's final log, as the sim's chaos counts them, every
device's copy is compared with the home's (`diverged`), and every device's
HTTP history (`/api/chat/{sigil}/messages`, an HTTP client among the
nestlers) must hold every prompt of the home's log, every ask has one decision
(`decisions`) and every damaged row reads again (`unrepaired`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hum.daemon.home import Home
from hum.demo.chaos_check import Tally, count_streams, diverged_wanes, report, wrong_decisions
from hum.demo.chaos_deal import damage, unrepaired
from hum.demo.chaos_real_faults import answer_from_two, asking_env, held_elsewhere, open_asks
from hum.demo.chaos_real_links import Links
from hum.demo.chaos_real_watch import Watcher, messages, pump
from hum.demo.relay import LatencyRelay
from hum.demo.roam_real import HumdProcess, Nestler, free_port, pair_devices, run_cli
from hum.wire.tones import Tone, is_petal

FAULTS = ("kill_home", "stop_home", "partition", "kill_phone", "adopt", "forget_again", "damage")
FAULTS_3 = (*FAULTS, "kill_tablet", "adopt_two")
# Long enough for liveness to speak (missed heartbeats need 1.5 s) and a redial to come back.
FAULT_SECONDS = 2.0
# How long the end of a run may take to settle before a silent nestler counts as unsurfaced.
SETTLE_SECONDS = 60.0
# One way of the relay: a device a little way off.
ONE_WAY = 0.01
POLL = 0.05


class RealChaos:
    """Humd processes, a relay from each device to the laptop, and the watchers that follow the hum."""

    def __init__(self, workdir: Path, seed: int, devices: int = 2, events: list[str] | None = None) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)  # the faults: the same for a seed, whatever the timing
        self.luck = random.Random(f"{seed}/timed")  # choices that depend on timing (open asks, rows stored so far)
        self.links = Links(devices)
        asking = asking_env()
        self.laptop = HumdProcess(workdir / "laptop", free_port(), extra=self.links.laptop_args(), env=asking)
        self.humds = {"laptop": self.laptop, "phone": HumdProcess(workdir / "phone", free_port(), extra=self.links.phone_args(), env=asking)}
        if devices == 3:
            self.humds["tablet"] = HumdProcess(workdir / "tablet", free_port(), env=asking)  # its way to the phone: once the phone is up
        self.relays = {name: LatencyRelay(("127.0.0.1", self.laptop.port or 0), ONE_WAY) for name in self.humds if name != "laptop"}
        self.relays["phone"].target = self.links.transit_target()  # the phone meets the laptop at the transit relay
        self.damaged: list[tuple[Path, str, int]] = []  # (store, sigil, wane) of each row damaged
        self.answers = 0
        self.watchers: list[Watcher] = []
        self.readers: list[asyncio.Task[None]] = []
        self.events: list[str] = [] if events is None else events
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
        await self.links.start()
        await self.laptop.start()
        self.links.squat(self.laptop.info)
        for name, relay in self.relays.items():
            await relay.start()
            peer = self.links.phone_peer(self.laptop.info["humdId"], relay.port) if name == "phone" else None
            await pair_devices(self.laptop, self.humds[name].home, via=relay.port, name=name, peer=peer)
            if name == "tablet":
                self.humds[name].extra = self.links.tablet_args(self.phone.info, self.phone.port)
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
        self.readers.append(asyncio.create_task(pump(watcher)))
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

    async def kill_and_restart(self, name: str, away: float = 0.0, damage_from: HumdProcess | None = None) -> None:
        """SIGKILL, `away` seconds gone, then up again; its watchers' connections died with it and they
        connect again, following from their last wane as a client does. With `damage_from`, one
        stored row that device also holds is damaged meanwhile, and a reader on it reads from wane 0."""
        humd = self.humds[name]
        humd.kill()
        assert humd.proc is not None
        await humd.proc.wait()
        await asyncio.sleep(away)
        damaged = damage_from is not None and self.damage_store(name, damage_from)
        survivors = [w for w in self.watchers if w.nestler is not None and w.device == name]
        for w in survivors:
            w.retire()
        await self.restart(humd)
        await self.wait_linked()
        for w in survivors:
            await self.follow(name, w.last_wane)
        if damaged:  # someone reads the whole hum there: the damaged row is met, and fetched back
            await self.follow(name, 0)

    def damage_store(self, name: str, sibling: HumdProcess) -> bool:
        """One row of the hum in `name`'s store (stopped) stops reading: a wane `sibling` holds the same."""
        store = Home(self.humds[name].home).store_path
        wane = held_elsewhere(store, Home(sibling.home).store_path, self.sigil, self.luck)
        if wane is None or not damage(store, self.sigil, wane):
            self.events[-1] = f"damage {name}: no row held elsewhere yet"
            return False
        self.damaged.append((store, self.sigil, wane))
        self.events[-1] = f"damage {name} wane {wane}"
        return True

    async def answer_asks(self) -> None:
        """Every open ask at the home is answered from two devices at once, as two people would."""
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            _, log, _ = await asyncio.wait_for(self.read_log(self.home()), FAULT_SECONDS * 5)
            self.answers += await answer_from_two(self.humds, self.sigil, open_asks(log), self.luck)

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
            # --no-wait: the bloom stops to ask leave, answered after the fault
            await run_cli("prompt", "--sid", "chaos-real", f"again{self.again}", "--no-wait", "--home", str(home.home), "--json")
        elif kind in ("kill_phone", "kill_tablet"):
            await self.kill_and_restart(kind.removeprefix("kill_"))
        elif kind == "damage":  # a device that is not the home: its row is fetched back from a sibling
            await self.kill_and_restart(self.rng.choice(sorted(n for n, h in self.humds.items() if h is not home)), damage_from=home)

    def home(self) -> HumdProcess:
        """Whichever process the hum's home is now, as the devices' own lists say (the laptop's first)."""
        by_id = {h.info["humdId"]: h for h in self.humds.values()}
        for humd in self.humds.values():
            with contextlib.suppress(OSError):
                entry = next((h for h in humd.get("/hum/hums")["hums"] if h["sigil"] == self.sigil), {})
                if entry.get("home") in by_id:
                    return by_id[entry["home"]]
        return self.laptop

    async def read_log(self, humd: HumdProcess) -> tuple[int, list[Tone], bool]:
        """A humd's whole log of the hum and its incarnation, read by a fresh nestler from wane 0, and
        whether it read to the tip (a damaged row stops it with `cannot-read` until fetched back)."""
        reader = await Nestler.open(humd, "auditor")
        try:
            reader.client.send(Tone(chi="attach", sigil=self.sigil, since=0))
            _, hello = await reader.wait_for(lambda t: t.chi in ("hello", "error") and not is_petal(t))
            tip, whole = hello.get("wane") or 0, True
            if hello.chi == "hello" and tip:
                _, last = await reader.wait_for(lambda t: (is_petal(t) and t["wane"] == tip) or (t.chi == "error" and not is_petal(t)))
                whole = is_petal(last)
        finally:
            reader.close()
        return int(hello.get("born") or 0), [t for _, t in reader.seen if is_petal(t)], whole

    async def agreed(self) -> bool:
        """Every device names one home, holds its incarnation, and its copy is the home's up to its tip."""
        homes = set()
        for humd in self.humds.values():
            entry = next((h for h in humd.get("/hum/hums")["hums"] if h["sigil"] == self.sigil), {})
            homes.add(entry.get("home"))
        if len(homes) != 1:
            return False
        born, log, _ = await self.read_log(self.home())
        if not log or log[-1].chi not in ("finish", "error", "note"):
            return False  # the last bloom has not ended
        for humd in self.humds.values():
            theirs_born, theirs, whole = await self.read_log(humd)
            if not whole or theirs_born != born or theirs != log[: len(theirs)]:
                return False
        return True

    async def settle(self) -> Tally:
        for relay in self.relays.values():
            relay.hold(False)
        await self.wait_linked()
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline and not await self.agreed():
            await self.answer_asks()  # the last bloom's ask too, as a person would
            await asyncio.sleep(0.2)
        await self.follow_up()
        born, log, _ = await self.read_log(self.home())
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
        tally.decisions += wrong_decisions(log)
        tally.unrepaired += unrepaired(self.damaged)
        # what each silent watcher last heard, to read beside the seed
        self.silent = [{"device": w.device, "lastWane": w.last_wane, "tip": tip, "last": [dict(t) for t in w.all_tones()[-3:]]} for w in silent]
        for record in self.silent:  # how far that device's own copy got
            with contextlib.suppress(TimeoutError):
                record["deviceLog"] = len((await asyncio.wait_for(self.read_log(self.humds[record["device"]]), 5))[1])
        for humd in self.humds.values():
            theirs_born, theirs, whole = await self.read_log(humd)
            tally.diverged += diverged_wanes(theirs, log) + int(not whole) if theirs_born == born else max(len(theirs), 1)
            prompts = sum(1 for t in log if t.chi == "prompt")
            said = await asyncio.to_thread(messages, humd, self.sigil)
            tally.lost += max(prompts - sum(1 for m in said if m.get("role") == "user"), 0)
        return tally

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        for w in self.watchers:
            w.retire()
        for relay in self.relays.values():
            await relay.close()
        await self.links.close()
        for humd in self.humds.values():
            with contextlib.suppress(ProcessLookupError):
                await humd.stop()


async def run_rounds(rounds: int, seed: int, workdir: Path, devices: int, events: list[str], faults: Sequence[str]) -> dict[str, Any]:
    """The rounds and the settling; what the report says beside the counts. `events` grows as faults are dealt."""
    chaos = RealChaos(workdir, seed, devices, events)
    try:
        await chaos.start()
        for n in range(1, rounds + 1):
            await chaos.prompt(n)
            await asyncio.sleep(chaos.rng.uniform(0.1, 0.6))  # the fault lands mid-bloom
            if chaos.rng.random() < 0.3:
                await chaos.answer_asks()  # some asks are answered as the fault lands
            await chaos.fault(chaos.rng.choice(faults))
            await chaos.wait_linked()
            await chaos.follow_up()
            await chaos.answer_asks()
        tally = await chaos.settle()
        extra = {"silent": chaos.silent} if chaos.silent else {}
        return {"tally": tally, "links": chaos.links.transports(), "squats": chaos.links.squats, "answers": chaos.answers, **extra}
    finally:
        await chaos.close()


def run_real(rounds: int, *, seed: int = 0, devices: int = 2, faults: Sequence[str] = ()) -> dict[str, Any]:
    """`rounds` faults (of `faults`, or of every kind) dealt to real humd processes; the report `hum
    chaos --real --json` prints. A run that fails (or cannot finish) names its seed and the faults
    dealt: the seed replays the same faults, not the same timing."""
    events: list[str] = []
    kinds = faults or (FAULTS_3 if devices == 3 else FAULTS)
    with tempfile.TemporaryDirectory(prefix="hum-chaos-real-") as tmp:
        try:
            run = asyncio.run(run_rounds(rounds, seed, Path(tmp), devices, events, kinds))
        except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
            where = [f for f in traceback.extract_tb(exc.__traceback__) if "hum" in Path(f.filename).parts][-1]  # hum's line, not asyncio's
            run = {"tally": Tally(), "error": f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno} {where.line})"}
    tally: Tally = run.pop("tally")
    ok = tally.clean() and "error" not in run
    report_ = {"criteria": report(tally), "rounds": rounds, "devices": devices, "seed": seed, "faults": events, "ok": ok, **run}
    if not ok:
        report_["failures"] = [{"seed": seed, **tally.counts(), "faults": events, **({"error": run["error"]} if "error" in run else {})}]
    return report_
