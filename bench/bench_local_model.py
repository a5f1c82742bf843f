"""Tokens/s of the local model through the brood, against llama-cpp-python called directly.

Run: .venv/bin/python bench/bench_local_model.py [--tokens 128] [--rounds 5] [--threads 2]

Both paths use the same loaded model, prompt, sampling and seed, and start
from an empty KV cache, so they decode the same tokens; the ratio is the cost
of the brood (thread hand-off, asyncio queue, pool bookkeeping). Target: >= 0.95.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from hum.brood.local import (
    DEFAULT_N_THREADS,
    DEFAULT_REPEAT_PENALTY,
    DEFAULT_SEED,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    LocalWorker,
    default_model_path,
    load_llama,
)
from hum.brood.pool import Brood
from hum.brood.worker import Done, Turn

PROMPT = "Write a long story about a lighthouse keeper who befriends a whale."

# Big enough for prompt + reply, small enough to allocate instantly.
BENCH_N_CTX = 1024


def direct(llm, max_tokens: int) -> tuple[int, float]:
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


async def through_brood(brood: Brood, llm, round_no: int) -> tuple[int, float]:
    """The same prompt as a hum's bloom: (output tokens from usage, seconds)."""
    llm.reset()
    start = time.perf_counter()
    async for event in brood.bloom(f"bench-{round_no}", [Turn("user", PROMPT)]):
        if isinstance(event, Done):
            return event.usage.output_tokens, time.perf_counter() - start
    raise RuntimeError("bloom ended without Done")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=DEFAULT_N_THREADS)
    args = parser.parse_args()

    llm = load_llama(default_model_path(), BENCH_N_CTX, args.threads, DEFAULT_SEED)
    brood = Brood(
        {"local": lambda: LocalWorker(llama=llm, max_tokens=args.tokens)}, "local", max_cells=1
    )
    # Warm both paths once (first decode pays for allocations and page faults).
    direct(llm, 8)
    await through_brood(brood, llm, -1)

    direct_rates, brood_rates = [], []
    for i in range(args.rounds):  # interleaved, so drift in machine load hits both alike
        n, s = direct(llm, args.tokens)
        direct_rates.append(n / s)
        n, s = await through_brood(brood, llm, i)
        brood_rates.append(n / s)
    await brood.close()

    d, b = statistics.median(direct_rates), statistics.median(brood_rates)
    print(
        f"model      {default_model_path().name}, {args.threads} threads, {args.tokens} tokens x {args.rounds} rounds"
    )
    print(f"{'path':<22}{'median tok/s':>14}{'all rounds':>40}")
    print(
        f"{'llama-cpp-python':<22}{d:>14.1f}{'  ' + ' '.join(f'{r:.1f}' for r in direct_rates):>40}"
    )
    print(
        f"{'hum brood (local)':<22}{b:>14.1f}{'  ' + ' '.join(f'{r:.1f}' for r in brood_rates):>40}"
    )
    print(f"ratio brood/direct     {b / d:>14.3f}   (target >= 0.95)")


if __name__ == "__main__":
    asyncio.run(main())
