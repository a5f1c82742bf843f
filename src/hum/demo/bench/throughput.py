"""`/v1` requests/s with many clients at once, through hum, through the LiteLLM proxy and straight from the upstream.

Every request is stateless and new (an AI SDK app's are), so through hum
each one mints a hum, as in real use: the same clients also fill a humd with
hums minted at runtime for the first-token figures that follow.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from hum.demo.bench.upstream import ask

# Clients at once, each with its next request as soon as its last answer ended.
CLIENTS = 20

# Chunks of every answer: a short reply, so the figure is the path's cost per request.
ANSWER_CHUNKS = 50


async def answer(session: aiohttp.ClientSession, base_url: str, text: str, key: str | None) -> None:
    """One streamed completion, read to its end."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": text}]}
    async with session.post(f"{base_url}/chat/completions", json=body, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{base_url} answered {resp.status}: {(await resp.text())[:200]}")
        async for _ in resp.content.iter_any():
            pass


async def per_second(base_url: str, key: str | None, seconds: float, tag: str, *, at_least: int = 0) -> tuple[float, int]:
    """(answers/s over the first `seconds`, answers made) with `CLIENTS` clients at once; with
    `at_least`, the clients go on (untimed) until that many answers were made in all."""
    made = 0
    timed = 0
    started = time.perf_counter()
    deadline = started + seconds
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(i: int) -> None:
            nonlocal made, timed
            n = 0
            while time.perf_counter() < deadline or made < at_least:
                await answer(session, base_url, f"{ask(ANSWER_CHUNKS)} n={tag}-{i}-{n}", key)
                n += 1
                made += 1
                if time.perf_counter() <= deadline:
                    timed += 1

        await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return timed / seconds, made
