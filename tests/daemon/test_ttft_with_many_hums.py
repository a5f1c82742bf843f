"""`/v1` answers as fast with thousands of hums as with none: time to first token p99 at most 1.5x."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
from upstream_humds import openai_humd

from hum.demo.bench.measure import percentile
from hum.demo.bench.ttft import fill, first_token_ms
from hum.demo.bench.upstream import ask
from hum.surfaces.thrum import ThrumClient

# As many hums as a test's time allows (the bench shows 10,000): filling and
# loading them takes a few seconds; the old cost grew linearly, so 2,000 already
# multiplied the p99 several times over.
MANY = 2_000
# Enough requests for the p99 to be the 5th slowest, not one scheduling hiccup.
SAMPLES = 500
WARM_UP = 20
ALLOWED_RATIO = 1.5


# A p99 of 500 samples is the 5th slowest: on 2 shared cores a few scheduling
# hiccups in one humd's window can move it by 2x. A cost that grows with the
# number of hums moves every window; so the test measures up to this many
# windows and passes when one of them holds the ratio.
WINDOWS = 3


async def test_time_to_first_token_p99_with_thousands_of_hums_stays_within_1_5x(tmp_path, upstream):
    empty = await openai_humd(tmp_path / "empty", start=False)
    full = await openai_humd(tmp_path / "full", start=False)
    fill(full.home, MANY)
    await asyncio.gather(empty.start(), full.start())
    seen: list[tuple[float, float]] = []
    try:
        async with aiohttp.ClientSession() as session:
            for window in range(WINDOWS):
                times: dict[str, list[float]] = {"empty": [], "full": []}
                # interleaved, so whatever else loads the machine hits both humds alike
                pairs = itertools.islice(itertools.cycle([("empty", empty), ("full", full)]), 2 * (WARM_UP + SAMPLES))
                for i, (name, humd) in enumerate(pairs):
                    took = await first_token_ms(session, humd.info["http"] + "/v1", f"{ask(2)} request={window}-{i}")
                    if i >= 2 * WARM_UP:
                        times[name].append(took)
                seen.append((percentile(times["empty"], 0.99), percentile(times["full"], 0.99)))
                if seen[-1][1] <= ALLOWED_RATIO * seen[-1][0]:
                    break
        counter, breath = await ThrumClient.connect(full.thrum, "count")
        counter.close()
    finally:
        await asyncio.gather(empty.stop(), full.stop())
    assert breath["humCount"] >= MANY
    empty_p99, full_p99 = seen[-1]
    windows = ", ".join(f"{f:.2f} vs {e:.2f}" for e, f in seen)
    assert full_p99 <= ALLOWED_RATIO * empty_p99, f"p99 with {MANY} hums vs none, per window (ms): {windows}"
