"""Petal blocks against petal rows, the store side alone, in this process (thread CPU µs a petal):

    python -m hum.demo.bench.store_blocks [rounds]

- `frames_replica`: a replica's `petals` frames as `Replicas.mirror` applies them (`store_cpu`'s
  measure): each petal cut from its bytes and received by the hum, the frame stored as a block.
- `frames_blocks`: the floor under it: the same frames' bytes stored as one block each and
  nothing else (the lines joined, their CRC, one INSERT; committed every `FRAMES_PER_COMMIT`
  frames as above). The gap between the two is the Python `Petal` cut and received a petal.
- `replay_rows`: the home's rows read back as tap lines (`SqliteStore.lines`).
- `replay_blocks`: the blocks read back as tap lines (`store.blocks.block_lines`).
- `plain_read`: the bench's `sqlite_read` baseline (one SELECT of the rows, `json.loads` each) in
  CPU time, so `replay_*_x` is the plain read's µs a petal over the replay's, the ratio the
  `replay_fresh_device_petals_s` and `replay_home_petals_s` targets ask of (>= 1.0x and >= 1.5x).

Prints one JSON object: each figure's min and median over the rounds, and the ratios of the mins.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from hum.core.petal import Petal
from hum.demo.bench import baselines
from hum.demo.bench.store_cpu import (
    FRAME_PETALS,
    FRAMES_PER_COMMIT,
    SID,
    SIGIL,
    home_commit,
    replica_frames,
)
from hum.ensemble.link.envelope import petal_link_form
from hum.store.blocks import SCHEMA, block_lines, write_block


def frames_blocks(path: Path, petals: list[Petal]) -> tuple[float, sqlite3.Connection]:
    items = [petal_link_form(p.line(SID))[1] for p in petals]
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    started = time.thread_time()
    db.execute("BEGIN")
    for k, start in enumerate(range(0, len(items), FRAME_PETALS)):
        write_block(db, SIGIL, SID, start + 1, items[start : start + FRAME_PETALS])
        if k % FRAMES_PER_COMMIT == FRAMES_PER_COMMIT - 1:
            db.execute("COMMIT")
            db.execute("BEGIN")
    db.execute("COMMIT")
    return (time.thread_time() - started) * 1e6 / len(items), db


def replay(read: object, count: int) -> float:
    started = time.thread_time()
    got = len(read(SIGIL, SID, 0, count))  # type: ignore[operator]
    if got != count:
        raise RuntimeError(f"the store read back {got} of {count} petals")
    return (time.thread_time() - started) * 1e6 / count


def plain_read(path: Path) -> float:
    """`baselines.sqlite_read` in CPU µs a petal."""
    return 1e6 / baselines.sqlite_read(path, SIGIL, clock=time.thread_time)


def measure(rounds: int) -> dict[str, object]:
    names = ("frames_replica", "frames_blocks", "replay_rows", "replay_blocks", "plain_read")
    figures: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="hum-store-blocks-") as workdir:
            _, store, petals = home_commit(Path(workdir))
            figures["frames_replica"].append(replica_frames(Path(workdir), petals)[0])
            us, db = frames_blocks(Path(workdir) / "blocks.db", petals)
            figures["frames_blocks"].append(us)
            figures["replay_rows"].append(replay(store.lines, len(petals)))
            figures["replay_blocks"].append(replay(partial(block_lines, db), len(petals)))
            figures["plain_read"].append(plain_read(store.path))
            store.close()
            db.close()
    best = {k: min(v) for k, v in figures.items()}
    return {
        "cpu_us_per_petal": {k: {"min": round(min(v), 3), "median": round(statistics.median(v), 3)} for k, v in figures.items()},
        "replay_rows_x": round(best["plain_read"] / best["replay_rows"], 2),
        "replay_blocks_x": round(best["plain_read"] / best["replay_blocks"], 2),
        "frames_replica_over_blocks": round(best["frames_replica"] / best["frames_blocks"], 2),
    }


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 5)))
