"""The hum outlives its home: adoption after a loss, the old home following, orphaned branches, one winner."""

from __future__ import annotations

import asyncio

from adoption_helpers import adopt, blooming, converged, in_sim, three_blooming

from hum.sim.harness import Sim, until
from hum.store.sqlite import SqliteStore


def test_the_phone_adopts_a_hum_whose_home_died_and_the_old_home_follows_when_it_returns(tmp_path):
    async def story() -> None:
        sim = Sim(rtt=0.06)
        laptop, phone, _, ai, sg = await blooming(sim, tmp_path)
        laptop_identity = laptop.identity
        await sim.kill(laptop)
        await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        held = phone.hums[sg].tip
        adopted = await adopt(ai, sg)
        assert (adopted.chi, adopted["home"], adopted["epoch"], adopted["wane"]) == ("adopted", phone.id, 1, held + 1)
        # the bloom that died with the laptop is closed in the log, then the phone's own brood answers
        closing = phone.hums[sg].petals[held]
        assert (closing.chi, closing.body["qualifier"]) == ("error", "home-lost")
        mark = len(ai.seen)
        ai.send("prompt", sigil=sg, text="and now, from the phone?")
        fin = (await ai.wait_for(lambda t: t.chi == "finish", after=mark)).tone
        assert fin["usage"]["input_tokens"] > 10  # the worker heard the whole transcript, not just this turn
        # the laptop comes back: it learns the hum moved and follows the phone
        back = await sim.spawn("laptop", identity=laptop_identity, store=SqliteStore(tmp_path / "laptop.db"))
        await sim.link(phone, back)
        await converged(back, phone, sg)
        assert back.hums[sg].home == phone.id and back.hums[sg].epoch == 1
        watcher = sim.nestler(back, "watcher")
        watcher.send("attach", sigil=sg, since=0)
        hello = (await watcher.wait_for(lambda t: t.chi == "hello")).tone
        assert (hello["home"], hello["epoch"]) == (phone.id, 1)
        await sim.close()

    in_sim(story)


def test_adopting_during_a_partition_keeps_the_old_homes_tail_as_an_orphaned_branch(tmp_path):
    async def story() -> None:
        sim = Sim(rtt=0.06)
        laptop, phone, oc, ai, sg = await blooming(sim, tmp_path)
        sim.network.partition(laptop.address, phone.address)
        await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        fork = phone.hums[sg].tip
        assert (await adopt(ai, sg))["epoch"] == 1
        ai.send("prompt", sigil=sg, text="carry on here")
        await ai.wait_for(lambda t: t.chi == "finish")
        # the laptop, cut off, kept blooming: everything after the fork is a branch the phone never had
        await oc.wait_for(lambda t: t.chi == "finish")
        branch = laptop.hums[sg].tip - fork
        assert branch > 0
        sim.network.heal(laptop.address, phone.address)
        await converged(laptop, phone, sg)
        kept = laptop.store.orphans(sg)
        assert len(kept) == branch and [o["wane"] for o in kept] == list(range(fork + 1, fork + branch + 1))
        notes = [p for p in phone.hums[sg].petals if p.chi == "note"]
        assert notes and notes[-1].body["orphaned"] == {"device": laptop.id, "count": branch, "first": fork + 1, "last": fork + branch, "epoch": 0}
        # the nestler on the laptop was told the hum moved, and starts over
        assert any(t.get("qualifier") == "moved" for t in oc.tones())
        await sim.close()

    in_sim(story)


def test_two_devices_adopting_at_once_agree_on_one_home_when_they_meet(tmp_path):
    async def story() -> None:
        sim = Sim(rtt=0.06)
        laptop, phone, _, ai, sg = await blooming(sim, tmp_path)
        tablet = await sim.spawn("tablet", store=SqliteStore(tmp_path / "tablet.db"))
        await sim.link(tablet, laptop)
        await sim.link(phone, tablet)
        tab = sim.nestler(tablet, "web")
        tab.send("attach", sigil=sg, since=0)
        await tab.wait_for(lambda t: t.chi == "chunk")
        await sim.kill(laptop)
        await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        await tab.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        sim.network.partition(phone.address, tablet.address)
        assert (await adopt(ai, sg))["epoch"] == 1
        assert (await adopt(tab, sg))["epoch"] == 1
        ai.send("prompt", sigil=sg, text="phone side")
        tab.send("prompt", sigil=sg, text="tablet side")
        await ai.wait_for(lambda t: t.chi == "finish")
        await tab.wait_for(lambda t: t.chi == "finish")
        sim.network.heal(phone.address, tablet.address)
        await converged(phone, tablet, sg)
        winner = max(phone.id, tablet.id)
        assert phone.hums[sg].home == tablet.hums[sg].home == winner
        loser = phone if phone.id != winner else tablet
        assert loser.store.orphans(sg)  # its side of the fork is kept, not merged
        await sim.close()

    in_sim(story)


def test_adopting_while_the_home_is_alive_is_refused_unless_forced(tmp_path):
    async def story() -> None:
        sim = Sim(rtt=0.06)
        laptop, phone, _, ai, sg = await blooming(sim, tmp_path)
        refused = await adopt(ai, sg)
        assert (refused.chi, refused["code"], refused["qualifier"]) == ("error", "route-error", "home-alive")
        assert phone.hums[sg].home == laptop.id
        forced = await adopt(ai, sg, force=True)
        assert (forced.chi, forced["epoch"]) == ("adopted", 1)
        await converged(laptop, phone, sg)
        assert laptop.hums[sg].home == phone.id
        await sim.close()

    in_sim(story)


def test_auto_adopt_takes_a_followed_hum_once_its_home_has_been_gone_long_enough(tmp_path):
    async def story() -> None:
        sim = Sim(rtt=0.06)
        laptop, phone, _, ai, sg = await blooming(sim, tmp_path)
        phone.router.config.auto_adopt = 5.0
        await sim.kill(laptop)
        lost = await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        while phone.hums[sg].home != phone.id:
            await asyncio.sleep(0.5)
        adopted_after = asyncio.get_running_loop().time() - lost.at
        assert 5.0 <= adopted_after <= 5.0 + 1.0 + 0.5  # the drone's tick, plus a poll
        assert phone.hums[sg].epoch == 1
        await sim.close()

    in_sim(story)


def test_a_conversation_minted_again_elsewhere_that_wins_sets_ours_aside_at_once_so_adopting_cannot_pass_it_off(tmp_path):
    """The tablet, cut off, adopted the hum, forgot it and started it again ("X"); the laptop, the
    old home, forgot it too and started it again later ("Y", a later incarnation, which wins). The
    tablet learns Y won and the laptop dies before the tablet compared anything: its own X is kept
    aside whole, not shown under Y's name, so adopting there is refused and the phone's Y goes on."""

    async def story() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=200)
        laptop, phone, oc, ai, sg = await blooming(sim, tmp_path)
        tablet = await sim.spawn("tablet", store=SqliteStore(tmp_path / "tablet.db"))
        await sim.link(tablet, laptop)
        await sim.link(tablet, phone)
        web = sim.nestler(tablet, "web")
        web.send("attach", sigil=sg, since=0)
        await oc.wait_for(lambda t: t.chi == "finish")
        await web.wait_for(lambda t: t.chi == "finish")
        for other in (laptop, phone):
            sim.network.partition(tablet.address, other.address)
        await web.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        assert (await adopt(web, sg))["epoch"] == 1
        again = sim.nestler(tablet, "again")
        again.send("forget", sigil=sg)
        await again.wait_for(lambda t: t.chi == "forgotten")
        again.send("prompt", sid="roam", text="tablet's own start")
        await again.wait_for(lambda t: t.chi == "finish")
        tablet_says = [p.tone(sg) for p in tablet.hums[sg].petals]
        mark = len(oc.seen)
        oc.send("forget", sigil=sg)
        await oc.wait_for(lambda t: t.chi == "forgotten", after=mark)
        oc.send("prompt", sid="roam", text="the laptop's own start")
        await oc.wait_for(lambda t: t.chi == "finish", after=mark)
        ai.send("attach", sigil=sg, since=0)
        await until(lambda: phone.hums[sg].petals == laptop.hums[sg].petals, "the phone follows the laptop's new start")
        laptop_born, laptop_says = laptop.hums[sg].born, [p.tone(sg) for p in laptop.hums[sg].petals]
        assert tablet.hums[sg].born < laptop_born
        sim.network.heal(tablet.address, laptop.address)
        while tablet.hums[sg].home != laptop.id:  # the laptop's listing reached the tablet: Y won
            await asyncio.sleep(0.005)
        mark = len(ai.seen)
        await sim.kill(laptop)  # before the tablet's attach reached it: nothing was compared
        hum = tablet.hums[sg]
        assert hum.born == laptop_born and [p.tone(sg) for p in hum.petals] == laptop_says[: hum.tip]  # none of X as Y
        refused = await adopt(web, sg)
        assert (refused.chi, refused.get("qualifier")) == ("error", "unknown-hum"), refused
        kept = [(o["wane"], o["chi"], o.get("text")) for o in tablet.store.orphans(sg)]
        assert kept == [(t["wane"], t.chi, t.get("text")) for t in tablet_says]
        sim.network.heal(tablet.address, phone.address)
        await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss", after=mark)
        adopted = await adopt(ai, sg)
        assert adopted.get("epoch") == 1, adopted
        await converged(tablet, phone, sg)
        assert [p.tone(sg) for p in phone.hums[sg].petals][: len(laptop_says)] == laptop_says
        await sim.close()

    in_sim(story)


def test_adopting_before_comparing_with_a_winner_that_died_makes_every_sibling_compare_from_where_ours_may_part(
    tmp_path,
):
    """The tablet adopted early (a short fork) while cut off; the phone adopted later, after the whole
    bloom, and won. The tablet hears it lost, but the phone dies before the tablet compared: when the
    tablet adopts again, the laptop, which followed the phone, compares from the tablet's early fork,
    so the laptop's copy ends equal to the tablet's log (the phone's tail kept aside), never silently different."""

    async def story() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=100)
        phone_id = sim.identity("phone")
        tablet_id = next(i for i in iter(lambda: sim.identity("tablet"), None) if i.humd_id < phone_id.humd_id)  # the phone wins a tie
        laptop, phone, tablet, oc, ai, web, sg = await three_blooming(sim, tmp_path, phone=phone_id, tablet=tablet_id)
        await web.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= 3)
        for other in (laptop, phone):
            sim.network.partition(tablet.address, other.address)
        await web.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        early = tablet.hums[sg].tip
        assert (await adopt(web, sg))["epoch"] == 1
        web.send("prompt", sigil=sg, text="tablet side")
        await web.wait_for(lambda t: t.chi == "finish")
        await ai.wait_for(lambda t: t.chi == "finish")
        laptop_identity = laptop.identity
        await sim.kill(laptop)
        await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        assert (await adopt(ai, sg))["epoch"] == 1
        assert early < phone.hums[sg].fork < tablet.hums[sg].tip  # the tablet's own petals part from the phone's early
        back = await sim.spawn("laptop", identity=laptop_identity, store=SqliteStore(tmp_path / "laptop.db"))
        await sim.link(phone, back)
        mark = len(ai.seen)
        ai.send("prompt", sigil=sg, text="phone side")
        await ai.wait_for(lambda t: t.chi == "finish", after=mark)
        await converged(back, phone, sg)  # the laptop followed the phone past its own tip
        mark = len(web.seen)
        sim.network.heal(tablet.address, phone.address)
        while tablet.hums[sg].home != phone.id:  # the phone's epoch 1 beats the tablet's
            await asyncio.sleep(0.005)
        await sim.kill(phone)  # before the tablet compared anything with it
        sim.network.heal(tablet.address, back.address)
        await sim.link(tablet, back)
        await web.wait_for(lambda t: t.get("qualifier") in ("moved", "peer-loss"), after=mark)
        adopted = await adopt(web, sg)
        assert adopted.get("epoch") == 2, adopted
        await converged(tablet, back, sg)
        assert back.hums[sg].home == tablet.id
        assert [o["wane"] for o in back.store.orphans(sg)][:1] == [early + 1]  # what only the phone had is kept aside
        await sim.close()

    in_sim(story)


def test_an_adoption_the_store_could_not_keep_is_told_to_no_sibling_so_a_restart_leaves_no_ghost_home(tmp_path):
    """The phone's disk is full when it adopts: it says the adoption is not stored, and its bloom there
    runs in memory. No sibling hears of its epoch (not at link-up, not when that bloom ends): when the
    phone restarts and its adoption is gone, the laptop is still home, not waiting for a home that is not."""

    async def story() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=200)
        laptop, phone, oc, ai, sg = await blooming(sim, tmp_path)
        await oc.wait_for(lambda t: t.chi == "finish")
        await ai.wait_for(lambda t: t.chi == "finish")
        phone_identity = phone.identity
        phone.store.hold_size()  # the phone's disk fills while it follows a long answer
        oc.send("prompt", sigil=sg, text="a long answer")
        await until(lambda: phone.hums[sg].tip > phone.hums[sg].durable_tip + 20, "the phone holds petals it cannot store")
        sim.network.partition(laptop.address, phone.address)
        await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        refused = await adopt(ai, sg)
        assert (refused.chi, refused.get("qualifier")) == ("error", "disk-full"), refused
        held = phone.hums[sg].tip
        ai.send("prompt", sigil=sg, text="phone side")
        await until(lambda: phone.hums[sg].tip > held and not phone.hums[sg].bloom_open, "the phone's bloom ends, in memory")
        sim.network.heal(laptop.address, phone.address)
        await sim.link(phone, laptop)
        await oc.wait_for(lambda t: t.chi == "finish" and t["wane"] > held)
        mark = len(oc.seen)
        oc.send("prompt", sigil=sg, text="laptop side")  # what the phone said at link-up has arrived by its end
        await oc.wait_for(lambda t: t.chi == "finish", after=mark)
        assert laptop.hums[sg].home == laptop.id and laptop.ensemble.lookup(sg).home == laptop.id
        await sim.kill(phone)
        back = await sim.spawn("phone", identity=phone_identity, store=SqliteStore(tmp_path / "phone.db"))
        await sim.link(back, laptop)
        sim.nestler(back, "vercel-ai").send("attach", sigil=sg, since=0)  # somebody reads it there: it follows the laptop
        await converged(back, laptop, sg)
        assert back.hums[sg].home == laptop.id and any(p.body.get("text") == "laptop side" for p in back.hums[sg].petals)
        await sim.close()

    in_sim(story)


def test_a_device_that_missed_an_epoch_compares_its_whole_log_with_a_home_adopted_from_it(tmp_path):
    """The phone adopts mid-bloom while cut off (epoch 1); the laptop, the old home, follows it and
    sets aside what it said after the phone's fork, but the tablet, cut off from the phone, never hears
    of epoch 1: it holds the laptop's epoch-0 petals past that fork, and adopts them (its own epoch 1).
    The laptop adopts next (epoch 2, from the phone's epoch 1). When the tablet meets it, its log parted
    from the laptop's where the phone's epoch began, far before either fork it knows: it compares all of
    it, and ends equal to the laptop's, its epoch-0 tail kept aside."""

    async def story() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=100)
        laptop, phone, tablet, oc, ai, web, sg = await three_blooming(sim, tmp_path)
        await ai.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= 3)
        sim.network.partition(phone.address, laptop.address)
        sim.network.partition(phone.address, tablet.address)
        await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        assert (await adopt(ai, sg))["epoch"] == 1
        phone_fork = phone.hums[sg].fork
        await web.wait_for(lambda t: t.chi == "finish")  # the tablet follows the laptop's epoch 0 to its end
        assert tablet.hums[sg].tip > phone_fork + 2
        sim.network.heal(phone.address, laptop.address)
        await until(lambda: laptop.hums[sg].home == phone.id, "the laptop follows the phone's epoch 1")
        sim.network.partition(tablet.address, laptop.address)
        await web.wait_for(lambda t: t.get("qualifier") in ("peer-loss", "moved"))
        assert (await adopt(web, sg))["epoch"] == 1  # the tablet knew only epoch 0: its own epoch 1
        await converged(laptop, phone, sg)
        sim.network.partition(phone.address, laptop.address)
        await until(lambda: not laptop.ensemble.is_linked(phone.id), "the laptop loses the phone")
        assert (await adopt(oc, sg))["epoch"] == 2
        sim.network.heal(tablet.address, laptop.address)
        await sim.link(tablet, laptop)
        await converged(tablet, laptop, sg)
        assert tablet.hums[sg].home == laptop.id and tablet.hums[sg].epoch == 2
        assert [o["wane"] for o in tablet.store.orphans(sg)][:1] == [phone_fork + 1]  # its epoch-0 tail, kept aside
        await sim.close()

    in_sim(story)


def test_a_device_follows_its_home_into_a_later_epoch_it_adopted_again_after_losing_the_hum(tmp_path):
    """The phone adopts (epoch 1), says more, and the tablet follows it. Cut off, the tablet misses the
    laptop taking the hum back before it had the phone's last petals (epoch 2: the phone sets those
    aside) and the phone adopting it again (epoch 3). The home the tablet knows is the same device, in
    a later epoch: it follows that epoch, sets aside what the phone no longer has, and catches up."""

    async def story() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=200)
        laptop, phone, tablet, oc, ai, web, sg = await three_blooming(sim, tmp_path)
        for n in (oc, ai, web):
            await n.wait_for(lambda t: t.chi == "finish")
        for other in (phone, tablet):
            sim.network.partition(laptop.address, other.address)
        await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        assert (await adopt(ai, sg))["epoch"] == 1
        mark = len(ai.seen)
        ai.send("prompt", sigil=sg, text="phone side")
        await ai.wait_for(lambda t: t.chi == "finish", after=mark)
        await until(lambda: tablet.hums[sg].petals == phone.hums[sg].petals, "the tablet follows the phone's epoch 1")
        for other in (laptop, phone):
            sim.network.partition(tablet.address, other.address)
        sim.network.heal(laptop.address, phone.address)
        await sim.link(phone, laptop)
        await until(lambda: laptop.hums[sg].home == phone.id, "the laptop hears of the phone's epoch 1")
        assert (await adopt(oc, sg, force=True))["epoch"] == 2  # before it had the phone's side
        await converged(phone, laptop, sg)
        assert phone.store.orphans(sg)  # the phone's side, set aside
        sim.network.partition(laptop.address, phone.address)
        await until(lambda: not phone.ensemble.is_linked(laptop.id), "the phone loses the laptop")
        assert (await adopt(ai, sg))["epoch"] == 3
        mark = len(ai.seen)
        ai.send("prompt", sigil=sg, text="and again, from the phone")
        await ai.wait_for(lambda t: t.chi == "finish", after=mark)
        sim.network.heal(tablet.address, phone.address)
        await sim.link(tablet, phone)
        sim.nestler(tablet, "reader").send("attach", sigil=sg, since=0)
        await converged(tablet, phone, sg)
        assert tablet.hums[sg].epoch == 3 and tablet.store.orphans(sg)
        await sim.close()

    in_sim(story)


def test_a_device_that_restarts_before_comparing_with_a_winner_still_compares_from_its_own_fork(tmp_path):
    """The phone and the tablet each adopt while cut off from each other, the phone first (an earlier
    fork); the tablet wins. The phone learns it, and dies before it compared anything. Back up, it
    compares from where its own epoch began, not from the tablet's fork: its own petal is kept aside."""

    async def story() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=100)
        phone_id = sim.identity("phone")
        tablet_id = next(i for i in iter(lambda: sim.identity("tablet"), None) if i.humd_id > phone_id.humd_id)  # the tablet wins a tie
        laptop, phone, tablet, oc, ai, web, sg = await three_blooming(sim, tmp_path, phone=phone_id, tablet=tablet_id)
        await ai.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= 3)
        for other in (laptop, tablet):
            sim.network.partition(phone.address, other.address)
        await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        assert (await adopt(ai, sg))["epoch"] == 1  # mid-bloom: its log ends with its own `home-lost`
        own = phone.hums[sg].petals[-1]
        await web.wait_for(lambda t: t.chi == "finish")
        sim.network.partition(tablet.address, laptop.address)
        await web.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        assert (await adopt(web, sg))["epoch"] == 1
        assert tablet.hums[sg].fork > own.wane
        sim.network.heal(phone.address, tablet.address)
        await until(lambda: phone.hums[sg].home == tablet.id, "the phone hears the tablet won")
        await sim.kill(phone)  # before its attach reached the tablet
        phone = await sim.spawn("phone", identity=phone_id, store=SqliteStore(tmp_path / "phone.db"))
        await sim.link(phone, tablet)
        sim.nestler(phone, "reader").send("attach", sigil=sg, since=0)
        await converged(phone, tablet, sg)
        kept = phone.store.orphans(sg)
        assert [(o["wane"], o["chi"], o.get("qualifier")) for o in kept] == [(own.wane, "error", "home-lost")]
        await sim.close()

    in_sim(story)


def test_a_forget_the_home_could_not_store_is_told_to_no_sibling_so_a_restart_takes_nothing_from_them(tmp_path):
    """The laptop's disk is full: its last answer is held in memory, and forgetting the hum there (then
    starting it again) cannot be stored. The phone hears nothing of it, so it keeps its copy; when the
    laptop restarts, the forget is gone, the hum is back, and the phone still follows it."""

    async def story() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=200)
        laptop, phone, oc, ai, sg = await blooming(sim, tmp_path)
        await oc.wait_for(lambda t: t.chi == "finish")
        await ai.wait_for(lambda t: t.chi == "finish")
        laptop_identity = laptop.identity
        laptop.store.hold_size()
        oc.send("prompt", sigil=sg, text="a long answer")
        await until(lambda: not laptop.hums[sg].bloom_open and laptop.hums[sg].durable_tip < laptop.hums[sg].tip, "an answer held in memory")
        await until(lambda: phone.hums[sg].tip == laptop.hums[sg].durable_tip, "the phone holds what the laptop stored")
        held = [p.tone(sg) for p in phone.hums[sg].petals]
        forgetter = sim.nestler(laptop, "forgetter")
        forgetter.send("forget", sigil=sg)
        said = (await forgetter.wait_for(lambda t: t.chi in ("forgotten", "error"))).tone
        assert (said.chi, said.get("qualifier")) == ("error", "disk-full")
        forgetter.send("prompt", sid="roam", text="a new start")
        await asyncio.sleep(1.0)  # (virtual) many round trips: what the laptop would tell the phone has arrived
        assert sg in phone.hums and [p.tone(sg) for p in phone.hums[sg].petals] == held
        await sim.kill(laptop)
        back = await sim.spawn("laptop", identity=laptop_identity, store=SqliteStore(tmp_path / "laptop.db"))
        await sim.link(phone, back)
        sim.nestler(phone, "reader").send("attach", sigil=sg, since=0)
        await converged(phone, back, sg)
        assert back.hums[sg].home == back.id and [p.tone(sg) for p in back.hums[sg].petals][: len(held)] == held
        await sim.close()

    in_sim(story)
