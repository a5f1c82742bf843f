"""Chaos in the sim: seeded random fault schedules against the roam story, every promise counted.

Each schedule runs the laptop (the first home), the phone and, with
`devices=3`, the tablet on the virtual clock, with their stores in SQLite files
so a killed humd can come back, and throws faults at them: process kills and
restarts, partitions and heals between any two devices, latency spikes,
reconnect storms, stalled taps, full-disk episodes, adoptions (on one device,
on two at once, and across epochs another device missed), and forgetting the
hum at its home and minting it again under the same sid while a device may be
away, while prompts keep coming from every device. Then everything heals,
every nestler still there follows up from the last wane it saw, and the
promises are counted (`chaos_check`): lost, duplicated, out of order, unsurfaced, diverged, decisions, unrepaired.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.demo.chaos_check import Tally, count_streams, diverged_wanes, report, wrong_decisions
from hum.demo.chaos_deal import answer_asks, damage, held_elsewhere, unserved
from hum.ensemble.trust.identity import Identity
from hum.errors import StoreError
from hum.node.humd import Humd
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim, SimNestler
from hum.store.sqlite import SqliteStore
from hum.wire.tones import Tone, is_petal

NAMES = ("laptop", "phone", "tablet")
# What a schedule may do at each step, weighted: prompts keep the hum busy,
# faults come often enough that most schedules see several kinds.
STEP_KINDS = (
    ["prompt"] * 4
    + ["kill_home", "restart", "partition", "heal", "latency_spike", "reconnect_storm", "stall_tap", "disk_full", "disk_back"]
    + ["follow"] * 2
    + ["adopt", "adopt_two", "forget_again", "damage"]
    + ["answer"] * 2
)
# Virtual seconds between steps: from "while the last fault is in flight" to "after liveness spoke".
STEP_GAP = (0.02, 2.5)
# Virtual seconds the settling may take before a silent nestler counts as unsurfaced.
SETTLE_LIMIT = 180.0
# Prompts per schedule: enough for several blooms between faults, few enough to stay quick.
PROMPTS = 6


@dataclass
class Follower:
    """A nestler watching the hum; after a loss it follows up from the last wane it saw."""

    nestler: SimNestler
    since: int
    dead: bool = False  # its humd died under it: the connection is simply gone
    closed: bool = False

    @property
    def last_wane(self) -> int:
        """Where to follow up from: the last wane seen, or 0 after the hum moved or was forgotten
        (a branch may have been cut; a new incarnation starts at wane 1)."""
        tones = self.nestler.tones()
        if tones and tones[-1].get("qualifier") in ("moved", "forgotten"):
            return 0
        wanes = [t["wane"] for t in tones if is_petal(t)]
        return max(wanes, default=self.since)

    def lost_home(self) -> bool:
        """Its last tap ended with a terminal error (peer-loss, or a refusal)."""
        tones = self.nestler.tones()
        told = bool(tones) and tones[-1].chi == "error" and not is_petal(tones[-1])
        return told and (tones[-1].get("code") != "store-error" or tones[-1].get("qualifier") == "cannot-read")


@dataclass
class World:
    """The humds of a schedule and what was done to them."""

    sim: Sim
    names: tuple[str, ...]
    identities: dict[str, Identity]
    workdir: Path
    seed: int
    humds: dict[str, Humd | None] = field(default_factory=dict)
    stores: dict[str, SqliteStore] = field(default_factory=dict)
    followers: list[Follower] = field(default_factory=list)
    partitioned: set[frozenset[str]] = field(default_factory=set)
    full: set[str] = field(default_factory=set)
    events: list[str] = field(default_factory=list)
    asks: bool = False  # every bloom stops half-way to ask leave to run a tool
    answerers: list[SimNestler] = field(default_factory=list)
    damaged: list[tuple[str, Path, str, int]] = field(default_factory=list)  # (device, store, sigil, wane): one a schedule

    def live(self) -> list[Humd]:
        return [h for h in (self.humds.get(n) for n in self.names) if h is not None]

    async def spawn(self, name: str) -> Humd:
        store = self.stores[name] = SqliteStore(self.workdir / f"{self.seed}-{name}.db")
        tps, ask = self.sim.tokens_per_second, "ls" if self.asks else None
        brood = Brood({"scripted": lambda: ScriptedWorker(tokens_per_second=tps, ask=ask)}, "scripted")
        humd = await self.sim.spawn(name, identity=self.identities[name], store=store, brood=brood)
        self.humds[name] = humd
        for other in self.names[: self.names.index(name)]:  # each device dials those before it
            humd.add_peer(f"mem://{other}")
        return humd

    async def kill(self, name: str) -> None:
        humd = self.humds.get(name)
        if humd is None:
            return
        await self.sim.kill(humd)
        self.stores.pop(name).close()
        self.humds[name] = None
        for f in self.followers:
            if f.nestler.humd is humd:
                f.dead = True
        self.full.discard(name)

    def follow(self, humd: Humd, since: int, sg: str, *, start: bool = True) -> Follower:
        session = humd.open_nestler(f"n{len(self.followers)}")
        nestler = SimNestler(humd, session)
        self.sim.nestlers.append(nestler)
        if start:
            nestler.start()
        nestler.send("hello", bee=session.name)
        nestler.send("attach", sigil=sg, since=since)
        follower = Follower(nestler, since)
        self.followers.append(follower)
        return follower

    def home_name(self, sg: str) -> str | None:
        """A live device that holds the hum as its home (the first, by name), if any."""
        return next((n for n in self.names if (h := self.humds.get(n)) is not None and sg in h.hums and h.hums[sg].home == h.id), None)

    def holders(self, sg: str, *, replicas: bool) -> list[Humd]:
        return [h for h in self.live() if sg in h.hums and h.hums[sg].tip and (h.hums[sg].home != h.id) == replicas]


class Schedule:
    """One seeded schedule's steps, dealt to its `World`."""

    def __init__(self, world: World, rng: random.Random, sg: str, sid: str) -> None:
        self.world, self.rng, self.sg, self.sid = world, rng, sg, sid
        self.stalled: list[Follower] = []
        self.prompts = itertools.count(1)
        self.asked = 1

    def say(self, *what: str) -> None:
        """Name what the step was dealt to, in the schedule's event list."""
        self.world.events[-1] += " " + " ".join(what)

    async def step(self, kind: str) -> None:
        world, rng, sg = self.world, self.rng, self.sg
        sim, live = world.sim, world.live()
        pairs = [frozenset(p) for p in itertools.combinations(world.names, 2)]
        if kind == "prompt" and self.asked < PROMPTS and live:
            self.asked += 1
            at = rng.choice(live)
            self.say(at.name)
            sender = sim.nestler(at, f"p{self.asked}")
            sender.send("prompt", sigil=sg, text=f"q{self.asked}")
            world.followers.append(Follower(sender, at.hums[sg].tip if sg in at.hums else 0))
        elif kind == "kill_home":
            home = world.home_name(sg) or world.names[0]
            self.say(home)
            await (world.kill(home) if world.humds.get(home) is not None else world.spawn(home))
        elif kind == "restart":
            name = rng.choice(world.names)
            self.say(name)
            await world.kill(name)
            await world.spawn(name)
        elif kind == "partition" and (free := [p for p in pairs if p not in world.partitioned]):
            pair = rng.choice(free)
            self.say(*sorted(pair))
            sim.network.partition(*(f"mem://{n}" for n in pair))
            world.partitioned.add(pair)
        elif kind == "heal" and world.partitioned:
            pair = rng.choice(sorted(world.partitioned, key=sorted))
            self.say(*sorted(pair))
            sim.network.heal(*(f"mem://{n}" for n in pair))
            world.partitioned.discard(pair)
        elif kind == "latency_spike":
            a, b = sorted(rng.choice(pairs))
            sim.network.set_latency(f"mem://{a}", f"mem://{b}", rng.choice([sim.rtt / 2, 0.4, 1.2]))
        elif kind == "reconnect_storm" and live:
            at = rng.choice(live)
            for _ in range(rng.randrange(2, 6)):
                f = world.follow(at, rng.randrange(0, 4), sg)
                if rng.random() < 0.6:
                    f.nestler.close()
                    f.closed = True
        elif kind == "stall_tap" and live:
            self.stalled.append(world.follow(rng.choice(live), 0, sg, start=False))
        elif kind == "disk_full" and (room := [n for n in world.stores if n not in world.full]):
            name = rng.choice(room)
            self.say(name)
            world.stores[name].hold_size()
            world.full.add(name)
        elif kind == "disk_back" and world.full:
            name = rng.choice(sorted(world.full))
            world.stores[name].hold_size(False)
            world.full.discard(name)
        elif kind in ("adopt", "adopt_two") and (replicas := world.holders(sg, replicas=True)):
            for at in rng.sample(replicas, min(len(replicas), 2 if kind == "adopt_two" else 1)):
                self.say(at.name)
                adopter = sim.nestler(at, f"adopter{len(world.followers)}")
                adopter.send("adopt", sigil=sg, force=rng.random() < 0.3)
                world.followers.append(Follower(adopter, 0, closed=True))
        elif kind == "forget_again" and (home := world.home_name(sg)) is not None:
            at = world.humds[home]
            assert at is not None
            self.say(home)
            forgetter = sim.nestler(at, f"forgetter{len(world.followers)}")
            forgetter.send("forget", sigil=sg)  # refused while a bloom is open: then the prompt goes on
            forgetter.send("prompt", sid=self.sid, text=f"again{next(self.prompts)}")
            world.followers.append(Follower(forgetter, 0))
        elif kind == "damage" and not world.damaged and (stored := [n for n in world.stores if n not in world.full]):
            name = rng.choice(stored)
            at = world.humds.get(name)
            siblings = [h for h in live if h is not at and sg in h.hums]
            if at is not None and sg in at.hums:
                wane = held_elsewhere(at.hums[sg], [h.hums[sg] for h in siblings], rng)
                if wane is not None:  # one damaged row a schedule, of a petal a sibling holds the same
                    self.say(name, f"wane {wane}")
                    world.damaged += [(name, world.stores[name].path, sg, wane)] if damage(world.stores[name].path, sg, wane) else []
        elif kind == "answer" and (home := world.home_name(sg)) is not None:
            answer_asks(world.humds[home], live, sg, rng, world.answerers, sim.nestler)  # type: ignore[arg-type]
        elif kind == "follow":
            for f in world.followers:
                if not f.dead and not f.closed and f.lost_home() and f.nestler.humd in live:
                    world.follow(f.nestler.humd, f.last_wane, sg)
                    f.closed = True
        for f in list(self.stalled):
            if rng.random() < 0.3 and not f.dead:
                f.nestler.start()
                self.stalled.remove(f)


async def run_schedule(seed: int, steps: int, workdir: Path, devices: int = 2) -> tuple[Tally, list[str]]:
    """One seeded schedule: its counts and what happened, step by step."""
    rng = random.Random(seed)
    sim = Sim(rtt=rng.choice([0.01, 0.06, 0.2]), tokens_per_second=rng.choice([25.0, 100.0]))
    names = NAMES[:devices]
    world = World(sim, names, {n: sim.identity(n, seed=f"chaos-{seed}-{n}") for n in names}, workdir, seed, asks=rng.random() < 0.5)
    for name in names:
        await world.spawn(name)
    laptop = world.humds["laptop"]
    assert laptop is not None
    for humd in world.live()[1:]:
        await asyncio.wait_for(humd.wait_peers(lambda p: laptop.id in p), 30)
    sid = f"chaos-{seed}"
    driver = sim.nestler(laptop, "driver")
    driver.send("prompt", sid=sid, text="q0")
    sg = (await driver.wait_for(lambda t: t.chi == "hello")).tone["sigil"]
    world.followers.append(Follower(driver, 0))
    for humd in world.live()[1:]:
        while humd.ensemble.lookup(sg) is None:
            await asyncio.sleep(0.01)
        world.follow(humd, rng.randrange(0, 3), sg)
    schedule = Schedule(world, rng, sg, sid)
    for _ in range(steps):
        await asyncio.sleep(rng.uniform(*STEP_GAP))
        kind = rng.choice(STEP_KINDS)
        world.events.append(f"t={asyncio.get_running_loop().time():.2f} {kind}")
        await schedule.step(kind)
    tally = await settle(world, sg, schedule.stalled)
    return tally, world.events


async def settle(world: World, sg: str, stalled: list[Follower]) -> Tally:
    """Heal everything, let every nestler follow up, then count."""
    sim = world.sim
    for pair in world.partitioned:
        sim.network.heal(*(f"mem://{n}" for n in pair))
    for a, b in itertools.combinations(world.names, 2):
        sim.network.set_latency(f"mem://{a}", f"mem://{b}", sim.rtt / 2)
    for name in world.names:
        if world.humds.get(name) is None:
            await world.spawn(name)
        if name in world.full:
            world.stores[name].hold_size(False)
    for f in stalled:
        if not f.dead:
            f.nestler.start()
    humds, loop = world.live(), asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_LIMIT
    for humd in humds:
        others = {h.id for h in humds if h is not humd}
        await asyncio.wait_for(humd.wait_peers(lambda p, others=others: others <= set(p)), SETTLE_LIMIT)
    for humd in humds:  # an auditor reads each device's whole copy (a damaged row is met, and fetched back)
        world.follow(humd, 0, sg)
    # every device agrees on one home and its incarnation, and each copy is the home's up to its tip
    home_humd = None
    while loop.time() < deadline:
        home_humd = _agreed_home(world, sg)
        if home_humd is not None:
            answer_asks(home_humd, humds, sg, random.Random(world.seed), world.answerers, sim.nestler)  # the last bloom's ask
            home = home_humd.hums[sg]
            if not (home.bloom_open or home.pending_prompts or home.durable_tip < home.tip):
                break
        elif loop.time() > deadline - SETTLE_LIMIT / 2:
            follow_up(world, sg)  # still no agreement: an auditor told `moved` reads again, as a client would
        await asyncio.sleep(0.25)
    follow_up(world, sg)
    tip = home_humd.hums[sg].tip if home_humd is not None else 0
    live = [f for f in world.followers if not f.dead and not f.closed]
    while loop.time() < deadline and not all(caught_up(f, tip) for f in live):
        await asyncio.sleep(0.25)
    # a prompt still in flight at the heal may open one more bloom: its ask is answered too, as a person would
    while home_humd is not None and home_humd.hums[sg].bloom_open and loop.time() < deadline:
        answer_asks(home_humd, humds, sg, random.Random(world.seed), world.answerers, sim.nestler)
        await asyncio.sleep(0.25)
    tally = count(world, sg, home_humd, live, tip)
    world.events.append(f"settled: home {home_humd.name if home_humd else None}, epoch {home_humd.hums[sg].epoch if home_humd else None}, {tip} petals")
    for f in world.followers:
        if not f.closed and not f.dead:
            f.nestler.close()
    await sim.close()
    for store in world.stores.values():
        store.close()
    return tally


def follow_up(world: World, sg: str) -> None:
    """Every nestler still there that was told of a loss (or of a row that did not read) follows up, as a client does."""
    for f in list(world.followers):
        if not f.dead and not f.closed and f.lost_home():
            world.follow(f.nestler.humd, f.last_wane, sg)
            f.closed = True


def _agreed_home(world: World, sg: str) -> Humd | None:
    """The hum's home once every device agrees on it, and every copy is the home's up to its tip."""
    name = world.home_name(sg)
    home = world.humds.get(name) if name is not None else None
    if home is None:
        return None
    log, born = home.hums[sg].petals, home.hums[sg].born
    for humd in world.live():
        entry, hum = humd.ensemble.lookup(sg), humd.hums.get(sg)
        if humd is not home and (entry is None or entry.home != home.id):
            return None
        if hum is not None and humd is not home and (hum.born != born or hum.petals != log[: hum.tip]):
            return None
    return home


def caught_up(f: Follower, tip: int) -> bool:
    """At the tip, or told (with a terminal error) why not."""
    return f.last_wane >= tip or f.lost_home()


def count(world: World, sg: str, home_humd: Humd | None, live: list[Follower], tip: int) -> Tally:
    for store in world.stores.values():
        with contextlib.suppress(StoreError):
            store.flush()  # what the committer would commit on its next round (its retry may be seconds off)
    kept = [Tone(o) for store in world.stores.values() for o in store.orphans(sg)]
    home_log = [p.tone(p.sigil) for p in home_humd.hums[sg].petals] if home_humd is not None else []
    forgotten = {born for h in world.live() for s, born in h.router.facts.tombstones if s == sg}
    tally = count_streams([f.nestler.tones(sigil=sg) for f in world.followers], home_log, kept, forgotten)
    tally.unsurfaced += sum(1 for f in live if not caught_up(f, tip))
    tally.decisions += wrong_decisions(home_log)
    tally.unrepaired += unserved(world.damaged, world.humds)  # a damaged row its device cannot serve at the end
    born = home_humd.hums[sg].born if home_humd is not None else None
    for humd in world.live():
        hum = humd.hums.get(sg)
        if hum is None or humd is home_humd:
            continue
        if hum.born != born:
            tally.diverged += max(hum.tip, 1)  # a copy of an incarnation the home does not have
        else:
            tally.diverged += diverged_wanes([p.tone(p.sigil) for p in hum.petals], home_log)
    return tally


def run_many(schedules: int, *, seed: int = 0, steps: int = 12, devices: int = 2) -> dict[str, Any]:
    """`schedules` schedules from `seed` on; the report `hum chaos --json` prints."""
    total = Tally()
    failures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hum-chaos-") as tmp:
        for s in range(seed, seed + schedules):
            tally, events = run_virtual(run_schedule(s, steps, Path(tmp), devices))
            total.add(tally)
            if not tally.clean():
                failures.append({"seed": s, **tally.counts(), "events": events})
    return {
        "criteria": report(total),
        "schedules": schedules,
        "devices": devices,
        "failures": failures[:10],
        "failedSeeds": [f["seed"] for f in failures],
        "ok": total.clean(),
    }
