"""`anthropic_ttft_added_ms`: the Anthropic door's added time to first token, beside `/v1`'s, against the same fake upstream.

One humd (its worker the OpenAI-compatible one, pointed at the fake
upstream) is asked by both doors, and the upstream straight, taking turns, one
request at a time: a new, stateless conversation each (each mints a hum). A
door's added time is its p99 first-token time less the upstream's own.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from hum.demo.bench import hotpath, ttft
from hum.demo.bench.measure import Metric, percentile
from hum.demo.bench.upstream import ask

# p99s of a few hundred samples on 2 shared cores move by about this much between runs.
NOISE_MS = 1.0


async def first_token_ms(session: aiohttp.ClientSession, base_url: str, model: str, text: str) -> float:
    """Milliseconds from sending one streamed Messages request to its first `text_delta`."""
    body = {"model": model, "max_tokens": 1024, "stream": True, "messages": [{"role": "user", "content": text}]}
    started = time.perf_counter()
    first = None
    async with session.post(f"{base_url}/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{base_url}/v1/messages answered {resp.status}: {(await resp.text())[:200]}")
        async for line in resp.content:
            if first is None and line.startswith(b"data: {") and b"text_delta" in line:
                delta = json.loads(line[6:]).get("delta") or {}
                if delta.get("text"):
                    first = (time.perf_counter() - started) * 1000
    if first is None:
        raise RuntimeError(f"{base_url}/v1/messages streamed no text")
    return first


DOORS = ("anthropic", "openai", "direct")


async def one_sample(session: aiohttp.ClientSession, door: str, hum_url: str, model: str, direct_url: str, text: str) -> float:
    if door == "anthropic":
        return await first_token_ms(session, hum_url, model, text)
    if door == "openai":
        return await ttft.first_token_ms(session, f"{hum_url}/v1", text)
    return await ttft.first_token_ms(session, direct_url, text)


async def samples(hum_url: str, model: str, direct_url: str, count: int) -> dict[str, list[float]]:
    """`count` first-token times of each door and of the upstream, after a warm-up; who goes first
    changes every round, since the request after another one's finds the machine a little warmer."""
    times: dict[str, list[float]] = {door: [] for door in DOORS}
    async with aiohttp.ClientSession() as session:
        for i in range(ttft.WARM_UP_REQUESTS + count):
            order = DOORS[i % 3 :] + DOORS[: i % 3]
            took = {door: await one_sample(session, door, hum_url, model, direct_url, f"{ask(2)} n={door}-{i}") for door in order}
            if i >= ttft.WARM_UP_REQUESTS:
                for door, value in took.items():
                    times[door].append(value)
    return times


async def measure(workdir: Path, direct_url: str, count: int, out: dict[str, Any]) -> None:
    """Time both doors of one humd beside the upstream; the samples go in `out["anthropic_ttft"]`."""
    humd = await hotpath.start_humd(workdir / "doors")
    try:
        model = humd.info["worker"]  # the OpenAI-compatible worker, in front of the fake upstream
        out["anthropic_ttft"] = await samples(humd.info["http"], model, direct_url, count)
    finally:
        await humd.stop()


def metric(raw: dict[str, Any]) -> Metric:
    times = raw["anthropic_ttft"]
    direct = percentile(times["direct"], 0.99)
    added = percentile(times["anthropic"], 0.99) - direct
    v1_added = percentile(times["openai"], 0.99) - direct
    return Metric(added, v1_added, f"<= /v1's added p99 (+{NOISE_MS:g} ms of noise)", added <= v1_added + NOISE_MS, "ms (p99 added)")
