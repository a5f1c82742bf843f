"""The sim harness of the adoption and repair scenarios: the roam story's start on two or three devices
with their stores in files (to survive a kill), adopting, and waiting for two devices to agree."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hum.node.humd import Humd
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim, SimNestler
from hum.store.sqlite import SqliteStore
from hum.wire.tones import Tone

WAIT = 30.0


def in_sim(story) -> None:
    run_virtual(story())


async def blooming(sim: Sim, tmp: Path) -> tuple[Humd, Humd, SimNestler, SimNestler, str]:
    """The roam story's start: the laptop's hum blooming, the phone attached to it."""
    laptop = await sim.spawn("laptop", store=SqliteStore(tmp / "laptop.db"))
    phone = await sim.spawn("phone", store=SqliteStore(tmp / "phone.db"))
    await sim.link(phone, laptop)
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="roam", text="walk me through it")
    sg = (await oc.wait_for(lambda t: t.chi == "hello")).tone["sigil"]
    while phone.ensemble.lookup(sg) is None:
        await asyncio.sleep(0.01)
    ai = sim.nestler(phone, "vercel-ai")
    ai.send("attach", sigil=sg, since=0)
    await ai.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= 5)
    return laptop, phone, oc, ai, sg


async def three_blooming(sim: Sim, tmp: Path, **identities) -> tuple[Humd, Humd, Humd, SimNestler, SimNestler, SimNestler, str]:
    """The laptop's hum blooming, the phone and the tablet each attached to it, every pair linked."""
    laptop = await sim.spawn("laptop", store=SqliteStore(tmp / "laptop.db"))
    phone = await sim.spawn("phone", identity=identities.get("phone"), store=SqliteStore(tmp / "phone.db"))
    tablet = await sim.spawn("tablet", identity=identities.get("tablet"), store=SqliteStore(tmp / "tablet.db"))
    for a, b in ((phone, laptop), (tablet, laptop), (tablet, phone)):
        await sim.link(a, b)
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="roam", text="walk me through it")
    sg = (await oc.wait_for(lambda t: t.chi == "hello")).tone["sigil"]
    while not (phone.ensemble.lookup(sg) and tablet.ensemble.lookup(sg)):
        await asyncio.sleep(0.01)
    ai, web = sim.nestler(phone, "vercel-ai"), sim.nestler(tablet, "web")
    for n in (ai, web):
        n.send("attach", sigil=sg, since=0)
    return laptop, phone, tablet, oc, ai, web, sg


async def adopt(nestler: SimNestler, sg: str, **fields) -> Tone:
    mark = len(nestler.seen)
    nestler.send("adopt", sigil=sg, **fields)
    return (await nestler.wait_for(lambda t: t.chi in ("adopted", "error") and "wane" not in t or t.chi == "adopted", after=mark)).tone


async def converged(a: Humd, b: Humd, sg: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not (sg in a.hums and sg in b.hums and a.hums[sg].petals == b.hums[sg].petals and a.hums[sg].home == b.hums[sg].home):
        assert loop.time() < deadline, "the two devices never agreed on the hum"
        await asyncio.sleep(0.1)
