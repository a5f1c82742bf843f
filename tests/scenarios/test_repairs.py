"""A stored petal that does not read is fetched back from a sibling, in the sim (real SQLite files)."""

from __future__ import annotations

import asyncio

from hum.demo.chaos_deal import damage
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim, until
from hum.store.sqlite import SqliteStore

WAIT = 60.0


def test_a_damaged_row_is_fetched_back_from_a_sibling_whose_log_parts_from_ours_just_after_it(tmp_path):
    """The phone adopted while cut off and went on; the laptop went on too, so their logs part after
    wane n. One of the phone's rows before n stops reading. When they meet, the laptop follows the
    phone (the later epoch), and the phone fetches that row back from the laptop: the laptop holds
    the same petals on both sides of it, even though its petals part from the phone's further on."""

    async def story() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=200)
        laptop = await sim.spawn("laptop", store=SqliteStore(tmp_path / "laptop.db"))
        phone_identity = sim.identity("phone")
        phone = await sim.spawn("phone", identity=phone_identity, store=SqliteStore(tmp_path / "phone.db"))
        await sim.link(phone, laptop)
        oc = sim.nestler(laptop, "opencode")
        oc.send("prompt", sid="roam", text="walk me through it")
        sg = (await oc.wait_for(lambda t: t.chi == "hello")).tone["sigil"]
        await oc.wait_for(lambda t: t.chi == "finish")
        while phone.ensemble.lookup(sg) is None:
            await asyncio.sleep(0.01)
        ai = sim.nestler(phone, "vercel-ai")
        ai.send("attach", sigil=sg, since=0)
        await ai.wait_for(lambda t: t.chi == "finish")
        n = laptop.hums[sg].tip
        sim.network.partition(laptop.address, phone.address)
        await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        ai.send("adopt", sigil=sg)
        await ai.wait_for(lambda t: t.chi == "adopted")
        ai.send("prompt", sigil=sg, text="phone side")
        oc.send("prompt", sigil=sg, text="laptop side")
        mark = len(ai.seen)
        await ai.wait_for(lambda t: t.chi == "finish", after=mark)
        await oc.wait_for(lambda t: t.chi == "finish" and t["wane"] > n)
        theirs = [p.tone(sg) for p in laptop.hums[sg].petals]
        await sim.kill(phone)
        assert damage(tmp_path / "phone.db", sg, n - 1)  # the petal before the last one both logs share
        phone = await sim.spawn("phone", identity=phone_identity, store=SqliteStore(tmp_path / "phone.db"))
        sim.network.heal(laptop.address, phone.address)
        await sim.link(phone, laptop)
        await until(lambda: laptop.hums[sg].home == phone.id and laptop.hums[sg].petals == phone.hums[sg].petals, "the laptop follows the phone", WAIT)
        mine = [p.tone(sg) for p in phone.hums[sg].petals]
        assert mine[:n] == theirs[:n] and mine[n]["text"] == "phone side"  # the row read again, as the laptop held it
        kept = laptop.store.orphans(sg)
        assert kept[0]["wane"] == n + 1 and kept[0]["text"] == "laptop side"  # the laptop's side of the fork, kept aside
        await sim.close()

    run_virtual(story())
