"""Tokens/s of the local model through the brood, against llama-cpp-python called directly.

Both paths use the same loaded model, prompt, sampling and seed, and start
from an empty KV cache, so they decode the same tokens; the ratio is the cost
of the brood (thread hand-off, asyncio queue, pool bookkeeping).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from hum.brood.llama import default_model_path, load_llama
from hum.brood.local import (
    DEFAULT_N_THREADS,
    DEFAULT_REPEAT_PENALTY,
    DEFAULT_SEED,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    LocalWorker,
)
from hum.brood.pool import Brood
from hum.interfaces import Done, Turn

PROMPT = "Write a long story about a lighthouse keeper who befriends a whale."

# Big enough for prompt + reply, small enough to allocate instantly.
BENCH_N_CTX = 1024


def direct(llm: Any, max_tokens: int) -> tuple[int, float]:
    """llama-cpp-python's own streaming chat completion: (tokens, seconds)."""
    llm.reset()
    start = time.perf_counter()
    tokens = 0
    for chunk in llm.create_chat_completion(
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=max_tokens,
        temperature=DEFAULT_TEMPERATURE,
        top_p=DEFAULT_TOP_P,
        repeat_penalty=DEFAULT_REPEAT_PENALTY,
        stream=True,
    ):
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
    return tokens, time.perf_counter() - start


async def through_brood(brood: Brood, llm: Any, round_no: int) -> tuple[int, float]:
    """The same prompt as a hum's bloom: (output tokens, seconds)."""
    llm.reset()
    start = time.perf_counter()
    async for event in brood.bloom(f"bench-{round_no}", [Turn("user", PROMPT)]):
        if isinstance(event, Done):
            return event.usage.output_tokens, time.perf_counter() - start
    raise RuntimeError("bloom ended without Done")


async def measure(tokens: int, rounds: int) -> dict[str, float]:
    """Median tokens/s of both paths, rounds interleaved so drift in machine load hits both alike."""
    llm = load_llama(default_model_path(), BENCH_N_CTX, DEFAULT_N_THREADS, DEFAULT_SEED)
    brood = Brood({"local": lambda: LocalWorker(llama=llm, max_tokens=tokens)}, "local", max_cells=1)
    direct(llm, 8)  # the first decode pays for allocations and page faults
    await through_brood(brood, llm, -1)
    direct_rates, brood_rates = [], []
    for i in range(rounds):
        n, s = direct(llm, tokens)
        direct_rates.append(n / s)
        n, s = await through_brood(brood, llm, i)
        brood_rates.append(n / s)
    await brood.close()
    return {"direct_tokens_s": statistics.median(direct_rates), "brood_tokens_s": statistics.median(brood_rates)}
