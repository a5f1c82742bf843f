"""A stored petal that does not read is fetched back from a sibling, in the sim (real SQLite files)."""

from __future__ import annotations

import asyncio

from adoption_helpers import adopt, blooming, in_sim

from hum.demo.chaos_deal import damage
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim, until
from hum.store.sqlite import SqliteStore
from hum.wire.tones import is_petal

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


def test_a_nestler_whose_read_stopped_at_a_damaged_row_follows_an_adoption_from_where_it_stopped(tmp_path):
    """The phone's copy has a row that does not read and the laptop, its home, is gone: a nestler on
    the phone reads up to that row and is told so. When the phone adopts the hum, that nestler follows
    it from where its read stopped (told again that the row does not read), never from the tip as if
    it had read everything; once the laptop is back the row is fetched and the rest reads."""

    async def story() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=200)
        laptop, phone, oc, ai, sg = await blooming(sim, tmp_path)
        await oc.wait_for(lambda t: t.chi == "finish")
        await ai.wait_for(lambda t: t.chi == "finish")
        tip, laptop_identity, phone_identity = phone.hums[sg].tip, laptop.identity, phone.identity
        await sim.kill(laptop)
        await sim.kill(phone)
        assert damage(tmp_path / "phone.db", sg, tip - 3)
        phone = await sim.spawn("phone", identity=phone_identity, store=SqliteStore(tmp_path / "phone.db"))
        reader = sim.nestler(phone, "reader")
        reader.send("attach", sigil=sg, since=0)
        await reader.wait_for(lambda t: t.get("qualifier") == "cannot-read")
        assert max(t["wane"] for t in reader.tones() if is_petal(t)) == tip - 4
        mark = len(reader.seen)
        assert (await adopt(sim.nestler(phone, "adopter"), sg))["epoch"] == 1
        hello = (await reader.wait_for(lambda t: t.chi == "hello", after=mark)).tone
        told = (await reader.wait_for(lambda t: t.chi == "error", after=mark)).tone
        assert hello["wane"] >= tip and told["qualifier"] == "cannot-read" and f"petal {tip - 3} " in told["message"]
        back = await sim.spawn("laptop", identity=laptop_identity, store=SqliteStore(tmp_path / "laptop.db"))
        await sim.link(phone, back)
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:  # a read that meets the row asks the laptop for it; once written again, the rest reads
            again = sim.nestler(phone, "again")
            again.send("attach", sigil=sg, since=tip - 4)
            last = (await again.wait_for(lambda t: t.chi == "error" or (is_petal(t) and t["wane"] == tip))).tone
            if last.chi != "error":
                break
            assert asyncio.get_running_loop().time() < deadline, "the damaged row was never fetched back"
            await asyncio.sleep(0.5)
        await sim.close()

    in_sim(story)
