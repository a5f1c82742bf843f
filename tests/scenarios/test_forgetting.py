"""Retention in the sim, on its virtual clock: a hum nobody touched for days goes from its home and from a phone that was away."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hum.node.retention import RETENTION_SWEEP_EVERY
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim, SkippingClock, until
from hum.store.sqlite import SqliteStore

DAY = 86_400.0


def test_retention_forgets_an_untouched_hum_everywhere_even_on_a_device_that_was_away(
    tmp_path: Path,
):
    async def story() -> None:
        sim, clock = Sim(tokens_per_second=1000), SkippingClock()
        laptop = await sim.spawn("laptop", clock=clock)
        laptop.router.config.retain_days = 3
        phone_identity = sim.identity("phone")
        phone = await sim.spawn(
            "phone", identity=phone_identity, store=SqliteStore(tmp_path / "phone.db")
        )
        await sim.link(phone, laptop)
        oc = sim.nestler(laptop, "opencode")
        oc.send("prompt", sid="old", text="hi")
        finish = (await oc.wait_for(lambda t: t.chi == "finish")).tone
        sg = finish["sigil"]
        ai = sim.nestler(phone, "ai")
        ai.send("attach", sigil=sg, since=0)
        await ai.wait_for(lambda t: t.chi == "finish")
        for nestler in (oc, ai):  # nobody follows it any more
            nestler.close()
        await sim.kill(phone)

        clock.skip(2 * DAY)
        await asyncio.sleep(RETENTION_SWEEP_EVERY + 2)
        assert sg in laptop.hums  # two days untouched: kept
        clock.skip(1.5 * DAY)
        await asyncio.sleep(RETENTION_SWEEP_EVERY + 2)
        assert sg not in laptop.hums and laptop.router.retention.status() == {"days": 3, "forgotten": 1}

        back = await sim.spawn(
            "phone", identity=phone_identity, store=SqliteStore(tmp_path / "phone.db")
        )
        assert any(h["sigil"] == sg for h in back.list_hums())  # its store still held the replica
        await sim.link(back, laptop)
        await until(
            lambda: all(h["sigil"] != sg for h in back.list_hums()),
            "the phone kept a hum forgotten while it was away",
        )
        probe = sim.nestler(back, "probe")
        probe.send("prompt", sigil=sg, text="still there?")
        refused = (await probe.wait_for(lambda t: t.chi == "error")).tone
        assert refused["qualifier"] == "unknown-hum"
        await sim.close()

    run_virtual(story())
