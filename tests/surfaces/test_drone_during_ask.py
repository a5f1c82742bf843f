"""The drone and a bloom that waits for a person: waiting is not stalling."""

from surface_helpers import FAST_TPS, asking_brood


async def test_a_bloom_waiting_for_a_persons_answer_is_not_called_stalled(sim):
    laptop = await sim.spawn("laptop", brood=asking_brood(FAST_TPS))
    laptop.router.drone.stall_after = 0.5  # eager: a real stall would be said within a second or two
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="tidy", text="tidy up")
    await oc.wait_for(lambda t: t.chi == "permission-ask")
    try:
        verdict = (await oc.wait_for(lambda t: t.chi == "drone", timeout=3.0)).tone
    except (TimeoutError, AssertionError):
        verdict = None
    assert verdict is None  # nobody answered yet: the worker waits for a person, it is not stalled
