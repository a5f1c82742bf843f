"""Whatever a nestler sends, it gets an answer, the humd keeps running, and no hum is damaged."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hum.sim.clock import run_virtual
from hum.sim.harness import Sim
from hum.wire.tones import CHIS, Tone

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
fields = st.dictionaries(
    st.sampled_from(["sigil", "sid", "text", "content", "since", "rid", "modelId", "system", "nest", "bee", "from", "to", "wane", "dusk"]),
    json_values,
    max_size=6,
)
tones = st.builds(lambda chi, f: Tone({**f, "chi": chi}), st.sampled_from(sorted(CHIS)), fields)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(tones, min_size=1, max_size=12))
def test_random_tones_never_crash_the_humd_nor_touch_an_existing_hum(sequence):
    async def story():
        sim = Sim(tokens_per_second=1000)
        humd = await sim.spawn("laptop")
        owner = sim.nestler(humd, "owner")
        owner.send("prompt", sid="precious", text="keep me")
        fin = (await owner.wait_for(lambda t: t.chi == "finish")).tone
        before = [(p.wane, p.chi, dict(p.body)) for p in humd.hums[fin["sigil"]].petals]

        fuzzer = sim.nestler(humd, "fuzzer")
        for tone in sequence:
            fuzzer.session.receive(tone)  # must not raise
        await asyncio.sleep(2)  # virtual: let any bloom the fuzzer started run out

        after = [(p.wane, p.chi, dict(p.body)) for p in humd.hums[fin["sigil"]].petals]
        assert after == before
        # each tone the humd refused was answered on the same session
        answered = [s.tone for s in fuzzer.seen if s.tone.chi == "error" and s.tone.get("code") in ("bad-tone", "route-error")]
        assert all("qualifier" in t and "message" in t for t in answered)
        # and the humd still serves: a fresh nestler can prompt
        probe = sim.nestler(humd, "probe")
        probe.send("prompt", sid="after-fuzz", text="still alive?")
        assert (await probe.wait_for(lambda t: t.chi in ("finish", "error"))).tone.chi == "finish"
        await sim.close()

    run_virtual(story())
