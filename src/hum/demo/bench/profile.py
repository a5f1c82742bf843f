"""Where a humd's time goes while the bench drives it: py-spy samples, summed by function."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

# Samples per second: enough for a few thousand samples over the hot path,
# few enough that py-spy's own reading of the process does not slow it much.
SAMPLE_RATE = int(os.environ.get("HUM_PYSPY_RATE", "200"))  # 1,000 for a profile of one short bloom

# Functions listed in the summary, by share of samples.
TOP = 12


@contextlib.asynccontextmanager
async def recording(pid: int, output: Path) -> AsyncIterator[None]:
    """py-spy samples process `pid` (not paused: `--nonblocking`) while the block runs, into `output`."""
    binary = Path(sys.executable).parent / "py-spy"
    if not binary.exists():
        raise RuntimeError("py-spy is not installed; `make bench` installs it")
    proc = await asyncio.create_subprocess_exec(
        str(binary), "record", "--pid", str(pid), "--format", "raw", "--rate", str(SAMPLE_RATE),
        "--nonblocking", "--output", str(output),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        await proc.wait()


def summary(raw: Path) -> dict[str, object]:
    """Share of samples per function where it was running (`self_percent`), and per task or
    callback the event loop was running at the time (`task_percent`: which activity the time is for)."""
    own: Counter[str] = Counter()
    tasks: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        samples += n
        own[frames[-1]] += n
        entries = [i for i, f in enumerate(frames) if f.startswith(LOOP_CALLBACK)]
        task = frames[entries[-1] + 1] if entries and entries[-1] + 1 < len(frames) else "the event loop itself"
        tasks[task] += n

    def share(counter: Counter[str]) -> dict[str, float]:
        return {f: round(100 * n / samples, 1) for f, n in counter.most_common(TOP)} if samples else {}

    return {"samples": samples, "self_percent": share(own), "task_percent": share(tasks)}


# The frame through which asyncio runs every task step and callback.
LOOP_CALLBACK = "Handle._run ("


def _short(frame: str) -> str:
    """`fn (path/to/module.py:12)` as `fn (module.py)`: lines differ between samples of one function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.rstrip(')')).name.split(':')[0]})" if where else name
