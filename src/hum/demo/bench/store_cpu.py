"""The store side of the hot path alone, in this process: CPU µs per petal (thread time, so other
processes on a shared machine count less than in wall-clock rates).

    python -m hum.demo.bench.store_cpu [rounds]

- `home_commit`: a home's chunks appended and committed in batches as big as a flat-out bloom's.
- `replica_frames`: a replica's `petals` frames (the home's lines in the link's form) cut, received
  and stored, as `Replicas.mirror` does, one change a frame.
- `replay_lines`: the home's stored log (rows) read back as tap lines (`SqliteStore.lines`).
- `replica_replay_lines`: the replica's (blocks of chunks, rows of turns: store/blocks.py) read back
  the same way: what a fresh device's tap reads.

Prints one JSON object: each figure's min and median over the rounds.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from hum.core.hum import Hum
from hum.core.petal import Petal, mirrored_petal
from hum.core.wane import WaneTracker
from hum.ensemble.link.envelope import petal_link_form
from hum.store.sqlite import SqliteStore

PETALS = 100_000
# Petals a flat-out home commits at once (its committer runs once per wake; about 2,600 a commit
# were counted over a 100,000-petal bloom on 2 cores), and a link's frame (`BATCH_PETALS`).
COMMIT_PETALS = 2_600
FRAME_PETALS = 256
FRAMES_PER_COMMIT = 10
SIGIL, SID, HOME = "abcdefabcdef", "bench", "h" * 64


def _hum(store: SqliteStore) -> Hum:
    hum = Hum(SIGIL, SID, "local", HOME, WaneTracker(), archive=store)
    store.save_hum(hum)
    store.flush()
    return hum


def _settle(store: SqliteStore) -> None:
    for hum, wane in store.flush().durable:
        hum.mark_durable(wane)


def home_commit(workdir: Path) -> tuple[float, SqliteStore, list[Petal]]:
    store = SqliteStore(workdir / "home.db")
    hum = _hum(store)
    petals = [hum.append("prompt", {"text": "go"})] + [hum.append("chunk", {"delta": f"tok{i} "}) for i in range(PETALS)]
    started = time.thread_time()
    for start in range(0, len(petals), COMMIT_PETALS):
        for petal in petals[start : start + COMMIT_PETALS]:
            store.append(hum, petal)
        _settle(store)
    return (time.thread_time() - started) * 1e6 / len(petals), store, petals


def replica_frames(workdir: Path, petals: list[Petal]) -> tuple[float, SqliteStore]:
    items = [msgspec.Raw(petal_link_form(p.line(SID))[1].rstrip(b"\n")) for p in petals]
    store = SqliteStore(workdir / "replica.db")
    hum = _hum(store)
    started = time.thread_time()
    for k, start in enumerate(range(0, len(items), FRAME_PETALS)):
        run: list[tuple[Petal, bytes | None]] = []
        for item in items[start : start + FRAME_PETALS]:
            petal = mirrored_petal(SIGIL, item)
            if hum.receive(petal):
                run.append((petal, None))
        store.append_run(hum, run)
        if k % FRAMES_PER_COMMIT == FRAMES_PER_COMMIT - 1:
            _settle(store)
    _settle(store)
    return (time.thread_time() - started) * 1e6 / len(items), store


def replay_lines(store: SqliteStore, count: int) -> float:
    started = time.thread_time()
    got = len(store.lines(SIGIL, SID, 0, count))
    if got != count:
        raise RuntimeError(f"the store read back {got} of {count} petals")
    return (time.thread_time() - started) * 1e6 / count


def measure(rounds: int) -> dict[str, dict[str, float]]:
    figures: dict[str, list[float]] = {"home_commit": [], "replica_frames": [], "replay_lines": [], "replica_replay_lines": []}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="hum-store-cpu-") as workdir:
            us, store, petals = home_commit(Path(workdir))
            figures["home_commit"].append(us)
            us, replica = replica_frames(Path(workdir), petals)
            figures["replica_frames"].append(us)
            figures["replay_lines"].append(replay_lines(store, len(petals)))
            figures["replica_replay_lines"].append(replay_lines(replica, len(petals)))
            store.close()
            replica.close()
    return {k: {"min": round(min(v), 2), "median": round(statistics.median(v), 2)} for k, v in figures.items()}


if __name__ == "__main__":
    print(json.dumps({"cpu_us_per_petal": measure(int(sys.argv[1]) if len(sys.argv) > 1 else 5)}))
