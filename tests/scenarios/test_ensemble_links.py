"""Ensemble links in the sim: one registry entry per peer, however links come and go."""

from __future__ import annotations

import asyncio

from hum.sim.clock import run_virtual
from hum.sim.harness import Sim
from hum.wire.tones import Tone


def test_siblings_dialling_each_other_at_once_keep_exactly_one_link():
    async def story():
        sim = Sim(rtt=0.08)
        a = await sim.spawn("a")
        b = await sim.spawn("b")
        a.add_peer(b.address)
        b.add_peer(a.address)
        await a.wait_peers(lambda p: p == [b.id])
        await b.wait_peers(lambda p: p == [a.id])
        await asyncio.sleep(10)  # virtual: many redial and heartbeat rounds; nothing may flap
        assert a.peers() == [b.id] and b.peers() == [a.id]
        assert a.live_links() == 1 and b.live_links() == 1
        # and the surviving link carries hums both ways
        n = sim.nestler(b, "n")
        n.send("prompt", sid="both-ways", text="hi")
        sigil = (await n.wait_for(lambda t: t.chi == "hello")).tone["sigil"]
        m = sim.nestler(a, "m")
        m.send("attach", sigil=sigil)
        assert (await m.wait_for(lambda t: t.chi == "finish")).tone["usage"]["output_tokens"] > 0
        await sim.close()

    run_virtual(story())


def test_flapping_link_never_lists_a_peer_twice_and_relinks():
    async def story():
        sim = Sim(rtt=0.05)
        a = await sim.spawn("a")
        b = await sim.spawn("b")
        await sim.link(a, b)
        for _ in range(5):
            sim.network.partition(a.address, b.address)
            await a.wait_peers(lambda p: p == [])
            await b.wait_peers(lambda p: p == [])
            sim.network.heal(a.address, b.address)
            await a.wait_peers(lambda p: p == [b.id])
            await b.wait_peers(lambda p: p == [a.id])
        assert a.live_links() == 1 and b.live_links() == 1
        await sim.close()

    run_virtual(story())


def test_a_restarted_sibling_is_listed_once_under_the_same_humd_id():
    async def story():
        sim = Sim(rtt=0.05)
        laptop = await sim.spawn("laptop")
        phone = await sim.spawn("phone")
        await sim.link(phone, laptop)
        identity = laptop.identity
        await sim.kill(laptop)
        await phone.wait_peers(lambda p: p == [])
        again = await sim.spawn("laptop", identity=identity)  # same address, same key
        await phone.wait_peers(lambda p: p == [again.id])  # the phone redials by itself
        await again.wait_peers(lambda p: p == [phone.id])
        assert again.id == identity.humd_id
        await sim.close()

    run_virtual(story())


def test_an_operator_signed_revocation_spreads_to_every_sibling_and_a_forged_one_does_not():
    async def story():
        sim = Sim(rtt=0.05)
        laptop = await sim.spawn("laptop")
        phone = await sim.spawn("phone")
        tablet = await sim.spawn("tablet")
        await sim.link(phone, laptop)
        await sim.link(tablet, laptop)
        await sim.link(phone, tablet)

        # a sibling cannot revoke another: a revocation not signed by the operator is ignored
        forged = phone.identity.device_key.sign(b"hum-revoke-v1|" + tablet.id.encode())
        laptop.link_tone(laptop.ensemble.owner(phone.id), Tone(chi="revoke", humdId=tablet.id, signature=forged.hex()))
        await asyncio.sleep(1)  # virtual: the tone has long arrived
        assert tablet.id in laptop.peers() and tablet.id not in laptop.check.revoked

        # the operator revokes the phone on the laptop; the tablet hears it from the laptop
        laptop.revoke(phone.id, sim.operator.sign_revocation(phone.id))
        await tablet.wait_peers(lambda p: p == [laptop.id])
        await phone.wait_peers(lambda p: p == [])
        assert phone.id in tablet.check.revoked and phone.id in tablet.router.siblings.revocations
        await asyncio.sleep(10)  # virtual: the phone keeps redialling; nobody lets it back
        assert laptop.peers() == [tablet.id] and tablet.peers() == [laptop.id] and phone.peers() == []
        await sim.close()

    run_virtual(story())


def test_a_sibling_lists_a_hum_with_its_petal_count_as_of_its_last_bloom():
    async def story():
        sim = Sim(rtt=0.06)
        laptop = await sim.spawn("laptop")
        phone = await sim.spawn("phone")
        await sim.link(phone, laptop)
        oc = sim.nestler(laptop, "opencode")
        oc.send("prompt", sid="count", text="hello")
        fin = (await oc.wait_for(lambda t: t.chi == "finish")).tone
        # the phone never attached, yet it lists the hum as it is now, not as it was at its mint
        while next(h for h in phone.list_hums() if h["sigil"] == fin["sigil"])["wane"] != fin["wane"]:
            await asyncio.sleep(0.01)
        assert fin["wane"] > 1
        await sim.close()

    run_virtual(story())
