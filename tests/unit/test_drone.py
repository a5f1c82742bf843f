"""The drone: stall verdicts only when the link is not the suspect; peer-loss for a lost home."""

from __future__ import annotations

import asyncio

from hum.core.drone import STALL_AFTER, Drone, Verdict
from hum.ensemble.link.protocol import LINK_TIMEOUT
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim

ME = "m" * 64
LAPTOP = "l" * 64
TABLET = "t" * 64


def test_local_open_bloom_quiet_past_stall_after_is_stalled_once() -> None:
    drone = Drone(stall_after=10.0)
    drone.bloom_seen("s1", ME, 0.0, open_=True)
    assert drone.tick(9.9, ME) == []
    [verdict] = drone.tick(10.0, ME)
    assert (verdict.sigil, verdict.kind) == ("s1", "stalled")
    assert drone.tick(11.0, ME) == []  # said once
    assert drone.tick(100.0, ME) == []


def test_a_new_petal_rearms_the_stall_verdict() -> None:
    drone = Drone(stall_after=10.0)
    drone.bloom_seen("s1", ME, 0.0, open_=True)
    assert len(drone.tick(10.0, ME)) == 1
    drone.bloom_seen("s1", ME, 12.0, open_=True)
    assert drone.tick(21.0, ME) == []
    assert [v.kind for v in drone.tick(22.0, ME)] == ["stalled"]


def test_closed_bloom_is_never_stalled() -> None:
    drone = Drone(stall_after=10.0)
    drone.bloom_seen("s1", ME, 0.0, open_=True)
    drone.bloom_seen("s1", ME, 1.0, open_=False)
    assert drone.tick(1000.0, ME) == []


def test_quiet_about_a_remote_hum_whose_home_link_went_silent() -> None:
    drone = Drone(stall_after=10.0)
    drone.link_heard(LAPTOP, 0.0)
    drone.bloom_seen("s1", LAPTOP, 0.0, open_=True)
    # the link was last heard when the last petal came: it is as suspect as the bloom
    for now in (10.0, 20.0, 60.0, 600.0):
        assert drone.tick(now, ME) == []
    # heard a little after the bloom went quiet: still not well after
    drone.link_heard(LAPTOP, 5.0)
    assert drone.tick(700.0, ME) == []


def test_quiet_about_a_remote_hum_whose_home_was_never_heard() -> None:
    drone = Drone(stall_after=10.0)
    drone.bloom_seen("s1", LAPTOP, 0.0, open_=True)
    assert drone.tick(100.0, ME) == []


def test_stalled_only_when_the_link_was_heard_well_after_the_bloom_went_quiet() -> None:
    drone = Drone(stall_after=10.0)
    drone.bloom_seen("s1", LAPTOP, 0.0, open_=True)
    drone.link_heard(LAPTOP, 9.9)
    assert drone.tick(15.0, ME) == []
    drone.link_heard(LAPTOP, 10.0)  # heartbeats still come, petals do not
    [verdict] = drone.tick(15.0, ME)
    assert verdict == Verdict("s1", "stalled", verdict.detail)
    assert drone.tick(16.0, ME) == []


def test_peer_loss_verdicts_for_the_lost_homes_hums_only() -> None:
    drone = Drone()
    drone.link_heard(LAPTOP, 0.0)
    drone.link_heard(TABLET, 0.0)
    drone.bloom_seen("lap-open", LAPTOP, 0.0, open_=True)
    drone.bloom_seen("lap-idle", LAPTOP, 0.0, open_=False)
    drone.bloom_seen("tab", TABLET, 0.0, open_=True)
    drone.bloom_seen("mine", ME, 0.0, open_=True)
    verdicts = drone.link_lost(LAPTOP)
    assert sorted((v.sigil, v.kind) for v in verdicts) == [
        ("lap-idle", "peer-loss"),
        ("lap-open", "peer-loss"),
    ]
    assert all(LAPTOP[:8] in v.detail for v in verdicts)


def test_after_peer_loss_no_stall_verdict_for_the_lost_homes_hums() -> None:
    drone = Drone(stall_after=10.0)
    drone.bloom_seen("s1", LAPTOP, 0.0, open_=True)
    drone.link_heard(LAPTOP, 20.0)
    drone.link_lost(LAPTOP)
    assert drone.tick(30.0, ME) == []
    assert drone.tick(300.0, ME) == []


def test_a_relinked_home_may_be_judged_again() -> None:
    drone = Drone(stall_after=10.0)
    drone.bloom_seen("s1", LAPTOP, 0.0, open_=True)
    drone.link_lost(LAPTOP)
    drone.link_heard(LAPTOP, 50.0)  # the link came back
    drone.bloom_seen("s1", LAPTOP, 51.0, open_=True)  # the bloom goes on, then stops
    drone.link_heard(LAPTOP, 70.0)
    assert [v.kind for v in drone.tick(70.0, ME)] == ["stalled"]


def test_stall_after_defaults() -> None:
    assert Drone().stall_after == STALL_AFTER == 10.0


def test_humd_surfaces_peer_loss_not_a_stall_when_the_home_dies_mid_bloom() -> None:
    """Stuck home (seed scenario): the phone's tap gets peer-loss, and no drone word before it."""

    async def main() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=5.0)  # a long bloom to die in the middle of
        laptop = await sim.spawn("laptop")
        phone = await sim.spawn("phone")
        await sim.link(phone, laptop)
        driver = sim.nestler(laptop, "oc")
        driver.send("prompt", sid="roam", text="tell me a long story")
        sg = (await driver.wait_for(lambda t: t.chi == "hello")).tone["sigil"]
        watcher = sim.nestler(phone, "phone")
        watcher.send("attach", sigil=sg, since=0)
        await watcher.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= 4)
        loop = asyncio.get_running_loop()
        await sim.kill(laptop)
        died = loop.time()
        loss = await watcher.wait_for(lambda t: t.chi == "error", timeout=10)
        assert loss.tone["qualifier"] == "peer-loss"
        assert loss.tone["sigil"] == sg and loss.tone["sid"] == "roam"
        assert loss.at - died <= LINK_TIMEOUT + 0.5
        await asyncio.sleep(30)  # long past the drone's stall_after
        tones = watcher.tones(sigil=sg)
        assert [t.chi for t in tones].count("drone") == 0
        assert tones[-1] is loss.tone  # nothing after the terminal peer-loss
        assert laptop.id not in phone.peers()
        watcher.close()
        driver.close()
        await sim.close()

    run_virtual(main())


def test_a_forgotten_hum_gets_no_verdict_when_its_home_is_lost():
    drone = Drone(stall_after=10.0)
    drone.bloom_seen("kept", LAPTOP, 0.0, open_=True)
    drone.bloom_seen("gone", LAPTOP, 0.0, open_=True)
    drone.forget("gone")
    assert [v.sigil for v in drone.link_lost(LAPTOP)] == ["kept"]
    assert drone.tick(100.0, ME) == []
