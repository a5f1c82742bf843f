"""Chaos in the sim: seeded random fault schedules against the roam story, every promise counted.

Each schedule runs the laptop (home) and the phone (replica) of the scenario
on the virtual clock, with their stores in SQLite files so a killed humd can
come back, and throws faults at them: process kills and restarts, partitions
and heals, latency spikes, reconnect storms, stalled taps and full-disk
episodes, while prompts keep coming from both devices. Then everything heals,
every nestler still there follows up from the last wane it saw, and the
promises are counted:

- `lost`: a petal someone saw that the home's final log does not hold, a gap
  inside a tap's stream, or a replica that does not end equal to the home;
- `duplicated`: a petal delivered twice to one tap;
- `out_of_order`: a petal delivered after a later one to one tap;
- `unsurfaced`: a nestler left neither caught up nor told why (silence).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hum.ensemble.trust.identity import Identity
from hum.errors import StoreError
from hum.node.humd import Humd
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim, SimNestler
from hum.store.sqlite import SqliteStore
from hum.wire.tones import Tone, is_petal

CRITERIA = ("lost", "duplicated", "out_of_order", "unsurfaced")

# What a schedule may do at each step, weighted: prompts keep the hum busy,
# faults come often enough that most schedules see several kinds.
STEP_KINDS = (
    ["prompt"] * 4
    + ["kill_home", "restart_phone", "partition", "heal", "latency_spike", "reconnect_storm", "stall_tap", "disk_full", "disk_back"]
    + ["follow"] * 2
    + ["adopt"]
)
# Virtual seconds between steps: from "while the last fault is in flight" to "after liveness spoke".
STEP_GAP = (0.02, 2.5)
# Virtual seconds the settling may take before a silent nestler counts as unsurfaced.
SETTLE_LIMIT = 180.0


@dataclass
class Tally:
    """The four counts of a run (or of many runs added up)."""

    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unsurfaced: int = 0

    def add(self, other: Tally) -> None:
        for name in CRITERIA:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def clean(self) -> bool:
        return all(getattr(self, name) == 0 for name in CRITERIA)


@dataclass
class Follower:
    """A nestler watching the hum; after a loss it follows up from the last wane it saw."""

    nestler: SimNestler
    since: int
    dead: bool = False  # its humd died under it: the connection is simply gone
    closed: bool = False

    @property
    def last_wane(self) -> int:
        """Where to follow up from: the last wane seen, or 0 after the hum moved (a branch may have been cut)."""
        tones = self.nestler.tones()
        if tones and tones[-1].get("qualifier") == "moved":
            return 0
        wanes = [t["wane"] for t in tones if is_petal(t)]
        return max(wanes, default=self.since)

    def lost_home(self) -> bool:
        """Its last tap ended with a terminal error (peer-loss, or a refusal)."""
        tones = self.nestler.tones()
        return bool(tones) and tones[-1].chi == "error" and not is_petal(tones[-1]) and tones[-1].get("code") != "store-error"


@dataclass
class World:
    """The two humds of a schedule and what was done to them."""

    sim: Sim
    laptop_identity: Identity
    phone_identity: Identity
    workdir: Path
    seed: int
    laptop: Humd | None = None
    phone: Humd | None = None
    stores: dict[str, SqliteStore] = field(default_factory=dict)
    followers: list[Follower] = field(default_factory=list)
    partitioned: bool = False
    full: bool = False
    events: list[str] = field(default_factory=list)

    async def spawn(self, name: str) -> Humd:
        store = self.stores[name] = SqliteStore(self.workdir / f"{self.seed}-{name}.db")
        identity = self.laptop_identity if name == "laptop" else self.phone_identity
        humd = await self.sim.spawn(name, identity=identity, store=store)
        setattr(self, name, humd)
        if name == "phone":
            humd.add_peer("mem://laptop")
        return humd

    async def kill(self, name: str) -> None:
        humd: Humd | None = getattr(self, name)
        if humd is None:
            return
        await self.sim.kill(humd)
        self.stores.pop(name).close()
        setattr(self, name, None)
        for f in self.followers:
            if f.nestler.humd is humd:
                f.dead = True
        self.full = self.full and name != "laptop"

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


async def run_schedule(seed: int, steps: int, workdir: Path) -> tuple[Tally, list[str]]:
    """One seeded schedule: its counts and what happened, step by step."""
    rng = random.Random(seed)
    sim = Sim(rtt=rng.choice([0.01, 0.06, 0.2]), tokens_per_second=rng.choice([25.0, 100.0]))
    world = World(sim, sim.identity("laptop"), sim.identity("phone"), workdir, seed)
    laptop = await world.spawn("laptop")
    phone = await world.spawn("phone")
    await asyncio.wait_for(phone.wait_peers(lambda p: laptop.id in p), 30)
    driver = sim.nestler(laptop, "driver")
    driver.send("prompt", sid=f"chaos-{seed}", text="q0")
    sg = (await driver.wait_for(lambda t: t.chi == "hello")).tone["sigil"]
    world.followers.append(Follower(driver, 0))
    while phone.ensemble.lookup(sg) is None:
        await asyncio.sleep(0.01)
    world.follow(phone, rng.randrange(0, 3), sg)
    stalled: list[Follower] = []
    prompts = 1
    for _ in range(steps):
        await asyncio.sleep(rng.uniform(*STEP_GAP))
        kind = rng.choice(STEP_KINDS)
        world.events.append(f"t={asyncio.get_running_loop().time():.2f} {kind}")
        laptop, phone = world.laptop, world.phone
        if kind == "prompt" and prompts < 6:
            prompts += 1
            at = phone if (rng.random() < 0.5 and phone is not None) else laptop
            if at is not None:
                sender = sim.nestler(at, f"p{prompts}")
                sender.send("prompt", sigil=sg, text=f"q{prompts}")
                world.followers.append(Follower(sender, at.hums[sg].tip if sg in at.hums else 0, closed=False))
        elif kind == "kill_home":
            if laptop is not None:
                await world.kill("laptop")
            else:
                await world.spawn("laptop")
        elif kind == "restart_phone":
            await world.kill("phone")
            await world.spawn("phone")
        elif kind == "partition" and not world.partitioned:
            sim.network.partition("mem://laptop", "mem://phone")
            world.partitioned = True
        elif kind == "heal" and world.partitioned:
            sim.network.heal("mem://laptop", "mem://phone")
            world.partitioned = False
        elif kind == "latency_spike":
            sim.network.set_latency("mem://laptop", "mem://phone", rng.choice([sim.rtt / 2, 0.4, 1.2]))
        elif kind == "reconnect_storm" and phone is not None:
            for _ in range(rng.randrange(2, 6)):
                f = world.follow(phone, rng.randrange(0, 4), sg)
                if rng.random() < 0.6:
                    f.nestler.close()
                    f.closed = True
        elif kind == "stall_tap" and phone is not None:
            stalled.append(world.follow(phone, 0, sg, start=False))
        elif kind == "disk_full" and laptop is not None and not world.full:
            world.stores["laptop"].hold_size()
            world.full = True
        elif kind == "disk_back" and world.full and "laptop" in world.stores:
            world.stores["laptop"].hold_size(False)
            world.full = False
        elif kind == "adopt" and phone is not None and sg in phone.hums and phone.hums[sg].tip:
            adopter = sim.nestler(phone, f"adopter{len(world.followers)}")
            adopter.send("adopt", sigil=sg, force=rng.random() < 0.3)
            world.followers.append(Follower(adopter, 0, closed=True))
        elif kind == "follow":
            for f in world.followers:
                if not f.dead and not f.closed and f.lost_home() and f.nestler.humd is world.phone:
                    world.follow(f.nestler.humd, f.last_wane, sg)
                    f.closed = True
        for f in list(stalled):
            if rng.random() < 0.3 and not f.dead:
                f.nestler.start()
                stalled.remove(f)
    tally = await settle(world, sg, stalled)
    return tally, world.events


async def settle(world: World, sg: str, stalled: list[Follower]) -> Tally:
    """Heal everything, let every nestler follow up, then count."""
    sim = world.sim
    if world.partitioned:
        sim.network.heal("mem://laptop", "mem://phone")
    sim.network.set_latency("mem://laptop", "mem://phone", sim.rtt / 2)
    if world.laptop is None:
        await world.spawn("laptop")
    if world.phone is None:
        await world.spawn("phone")
    if world.full:
        world.stores["laptop"].hold_size(False)
    for f in stalled:
        if not f.dead:
            f.nestler.start()
    laptop, phone = world.laptop, world.phone
    assert laptop is not None and phone is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_LIMIT
    await asyncio.wait_for(phone.wait_peers(lambda p: laptop.id in p), SETTLE_LIMIT)
    # after adoptions the two devices first agree on one home (the announcements take a link latency)
    while sg in phone.hums and phone.hums[sg].home != laptop.hums[sg].home and loop.time() < deadline:
        await asyncio.sleep(0.1)
    home_humd = laptop if laptop.hums[sg].home == laptop.id else phone
    home = home_humd.hums[sg]
    other = phone if home_humd is laptop else laptop
    # and the other has set aside any branch the home never had (it reconciles on its own)
    while sg in other.hums and other.hums[sg].petals != home.petals[: other.hums[sg].tip] and loop.time() < deadline:
        await asyncio.sleep(0.1)
    while (home.bloom_open or home.pending_prompts or home.durable_tip < home.tip) and loop.time() < deadline:
        await asyncio.sleep(0.25)
    # every nestler still there that was told of a loss follows up, as a client does
    for f in list(world.followers):
        if not f.dead and not f.closed and f.lost_home():
            world.follow(f.nestler.humd, f.last_wane, sg)
            f.closed = True
    tip = home.tip
    live = [f for f in world.followers if not f.dead and not f.closed]
    while loop.time() < deadline and not all(caught_up(f, tip) for f in live):
        await asyncio.sleep(0.25)
    tally = count(world, sg, home.petals, live, tip)
    for f in world.followers:
        if not f.closed and not f.dead:
            f.nestler.close()
    await sim.close()
    for store in world.stores.values():
        store.close()
    return tally


def caught_up(f: Follower, tip: int) -> bool:
    """At the tip, or told (with a terminal error) why not."""
    return f.last_wane >= tip or f.lost_home()


def count(world: World, sg: str, home_log: list[Any], live: list[Follower], tip: int) -> Tally:
    for store in world.stores.values():
        with contextlib.suppress(StoreError):
            store.flush()  # what the committer would commit on its next round (its retry may be seconds off)
    kept = [Tone(o) for store in world.stores.values() for o in store.orphans(sg)]
    tally = count_streams([f.nestler.tones(sigil=sg) for f in world.followers], [p.tone(p.sigil) for p in home_log], kept)
    tally.unsurfaced += sum(1 for f in live if not caught_up(f, tip))
    replicas = [h.hums.get(sg) for h in (world.laptop, world.phone) if h is not None and h.hums.get(sg) and h.hums[sg].home != h.id]
    for replica in replicas:
        if replica is None or replica.petals == home_log[: replica.tip]:
            continue
        tally.lost += sum(1 for a, b in zip(replica.petals, home_log, strict=False) if a != b) or 1
    return tally


def count_streams(streams: list[list[Tone]], home_log: list[Tone], kept: Sequence[Tone] = ()) -> Tally:
    """Lost, duplicated and out-of-order petals in what nestlers received (each stream one nestler's
    tones on one hum), against the home's final log (its petals as tones, in wane order). A petal
    kept in an orphaned branch (`kept`, with its `wane`) was set aside, not lost."""
    tally = Tally()
    orphaned = {(o["wane"], o.get("chi"), o.get("delta"), o.get("text")) for o in kept}
    for stream in streams:
        segments: list[list[Tone]] = []
        for tone in stream:
            if tone.chi == "hello":
                segments.append([])
            elif is_petal(tone):
                if not segments:
                    tally.lost += 1  # a petal before its hello: never supposed to happen
                    continue
                segments[-1].append(tone)
        for segment in segments:
            seen: set[int] = set()
            last = None
            for tone in segment:
                w = tone["wane"]
                if w in seen:
                    tally.duplicated += 1
                    continue
                if last is not None and w < last:
                    tally.out_of_order += 1
                elif last is not None and w > last + 1:
                    tally.lost += w - last - 1
                seen.add(w)
                last = w if last is None else max(last, w)
                if (w > len(home_log) or _differs(tone, home_log[w - 1])) and (w, tone.chi, tone.get("delta"), tone.get("text")) not in orphaned:
                    tally.lost += 1  # shown, then neither in the home's log nor kept aside: taken back
    return tally


def _differs(tone: Tone, petal: Tone) -> bool:
    return tone.chi != petal.chi or tone.get("delta") != petal.get("delta") or tone.get("text") != petal.get("text")


def run_many(schedules: int, *, seed: int = 0, steps: int = 12) -> dict[str, Any]:
    """`schedules` schedules from `seed` on; the report `hum chaos --json` prints."""
    total = Tally()
    failures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hum-chaos-") as tmp:
        for s in range(seed, seed + schedules):
            tally, events = run_virtual(run_schedule(s, steps, Path(tmp)))
            total.add(tally)
            if not tally.clean():
                failures.append({"seed": s, **{n: getattr(tally, n) for n in CRITERIA}, "events": events})
    return {
        "criteria": {n: {"ok": getattr(total, n) == 0, "value": getattr(total, n), "limit": 0} for n in CRITERIA},
        "schedules": schedules,
        "failures": failures[:10],
        "ok": total.clean(),
    }
