"""What durability costs: petals/s and delivery delay through a Humd, with and without SQLite.

Petals reach taps only once committed (so a SIGKILL takes back nothing anyone
saw). This runs the same bloom both ways, alternating rounds, and prints the
ratio side by side. Not part of the test suite: `make bench`.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.ensemble.identity import Identity, OperatorKey, SiblingCheck
from hum.ensemble.memory import MemoryNetwork
from hum.humd import Humd
from hum.store.sqlite import SqliteStore
from hum.wire.tones import Tone

WORDS = 20_000  # petals per bloom
ROUNDS = 3
PACED_TPS = 100.0  # a fast real model: what delivery delay looks like at a realistic pace
PACED_WORDS = 200


class TimedHumd(Humd):
    """Notes when each petal was appended, so delivery delay is measured from there."""

    born: dict[int, float]

    def _appended(self, hum, petal):  # type: ignore[no-untyped-def]
        self.born[petal.wane] = time.perf_counter()
        super()._appended(hum, petal)


async def one_bloom(store_dir: Path | None, words: int, tps: float) -> tuple[float, list[float]]:
    identity = Identity.mint(OperatorKey.generate(), "bench")
    reply = lambda prompt: " ".join(["petal"] * words)  # noqa: E731
    brood = Brood({"scripted": lambda: ScriptedWorker(tokens_per_second=tps, reply=reply)}, "scripted")
    store = SqliteStore(store_dir / "hums.db") if store_dir else None
    humd = TimedHumd(identity, SiblingCheck(identity.operator), MemoryNetwork().transport("mem://b"), brood, store=store)
    humd.born = {}
    committer = asyncio.create_task(store.run()) if store else None
    await humd.start()
    session = humd.open_nestler("bench")
    session.receive(Tone(chi="hello", bee="bench"))
    started = time.perf_counter()
    session.receive(Tone(chi="prompt", sid="bench", text="go"))
    delays: list[float] = []
    done = False
    while not done:
        for tone in await session.next_tones():
            if tone.chi == "chunk":
                delays.append(time.perf_counter() - humd.born[tone["wane"]])
            done = done or tone.chi == "finish"
    elapsed = time.perf_counter() - started
    if committer:
        committer.cancel()
    await humd.stop()
    if store:
        store.close()
    return words / elapsed, delays


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        plain, stored = [], []
        for i in range(ROUNDS):
            d = Path(tmp) / str(i)
            d.mkdir()
            plain.append((await one_bloom(None, WORDS, 1e9))[0])
            stored.append((await one_bloom(d, WORDS, 1e9))[0])
        d = Path(tmp) / "paced"
        d.mkdir()
        _, delay_plain = await one_bloom(None, PACED_WORDS, PACED_TPS)
        _, delay_stored = await one_bloom(d, PACED_WORDS, PACED_TPS)
    p, s = statistics.median(plain), statistics.median(stored)
    print(f"flat out, {WORDS} petals, median of {ROUNDS} rounds")
    print(f"  no store        {p:10.0f} petals/s")
    print(f"  SQLite (WAL)    {s:10.0f} petals/s   ratio {s / p:.2f}")
    print(f"at {PACED_TPS:g} tokens/s, delay from a petal's append to its tap (median / p95)")
    for name, delays in (("no store", delay_plain), ("SQLite (WAL)", delay_stored)):
        q = statistics.quantiles(delays, n=20)
        print(f"  {name:14}  {statistics.median(delays) * 1000:6.2f} ms / {q[18] * 1000:6.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
