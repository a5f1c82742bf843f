"""Replication in `petals` frames, in the sim: a long log reaches another device whole, once, in order."""

from __future__ import annotations

from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.core.hum import Hum
from hum.ensemble.link.envelope import BATCH_PETALS
from hum.node.humd import Humd
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim, SimNestler

# Several frames' worth of chunks, so a replay needs more than one `petals` frame.
WORDS = 3 * BATCH_PETALS + 17


def long_replies() -> Brood:
    reply = " ".join(["w"] * WORDS)
    return Brood({"scripted": lambda: ScriptedWorker(100_000, reply=lambda _: reply)}, "scripted")


async def linked_pair(sim: Sim) -> tuple[Humd, Humd, SimNestler]:
    """A laptop whose blooms are WORDS chunks long, a phone linked to it, a nestler on the laptop."""
    laptop = await sim.spawn("laptop", brood=long_replies())
    phone = await sim.spawn("phone")
    await sim.link(phone, laptop)
    return laptop, phone, sim.nestler(laptop, "cli")


async def read_all(sim: Sim, humd: Humd, name: str, sigil: str) -> SimNestler:
    """A nestler on `humd` attached to `sigil` from wane 0, once it has been sent the finish."""
    nestler = sim.nestler(humd, name)
    nestler.send("attach", sigil=sigil, since=0)
    await nestler.wait_for(lambda t: t.chi == "finish")
    return nestler


def seen(nestler: SimNestler, hum: Hum) -> list[tuple[int, str, object]]:
    """(wane, chi, delta) of every petal the nestler was sent."""
    tones = nestler.tones(sigil=hum.sigil)
    return [(t["wane"], t.chi, t.get("delta")) for t in tones if "wane" in t and t.chi != "hello"]


def the_log(hum: Hum) -> list[tuple[int, str, object]]:
    return [(p.wane, p.chi, p.body.get("delta")) for p in hum.petals]


def test_a_long_log_reaches_other_devices_in_frames_whole_once_and_in_order():
    async def story():
        sim = Sim(rtt=0.04)
        laptop, phone, cli = await linked_pair(sim)
        tablet = await sim.spawn("tablet")
        await sim.link(tablet, laptop)
        cli.send("prompt", sid="long", text="go")
        sigil = (await cli.wait_for(lambda t: t.chi == "hello")).tone["sigil"]
        live = await read_all(sim, phone, "live", sigil)  # follows the bloom as it is written
        late = await read_all(sim, phone, "late", sigil)  # the same log again, from the replica
        fresh = await read_all(sim, tablet, "fresh", sigil)  # new to the hum: all of it crosses now
        home = laptop.hums[sigil]
        assert home.tip == WORDS + 2
        assert seen(live, home) == seen(late, home) == seen(fresh, home) == the_log(home)
        assert phone.hums[sigil].petals == tablet.hums[sigil].petals == home.petals
        await sim.close()

    run_virtual(story())
