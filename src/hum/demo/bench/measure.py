"""What every bench measure shares: a metric line, percentiles, a process's RSS, thrum taps that time chunks."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hum.demo.bench.upstream import stamps

# A thrum line can be a whole breath; the tap reads whatever size the humd sends.
TAP_READ_BYTES = 1 << 20

# Longest wait for any one step (a bloom to finish, a replay to arrive) before
# the bench says which step hung instead of hanging itself.
STEP_TIMEOUT_SECONDS = 120.0


@dataclass
class Metric:
    """One line of the table: a value beside its baseline, against its target."""

    value: float
    baseline: float | None
    target: str
    ok: bool
    unit: str

    def as_json(self) -> dict[str, Any]:
        ratio = self.value / self.baseline if self.baseline else None
        return {
            "value": round(self.value, 3),
            "baseline": None if self.baseline is None else round(self.baseline, 3),
            "ratio": None if ratio is None else round(ratio, 3),
            "target": self.target,
            "ok": self.ok,
            "unit": self.unit,
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) by nearest rank: p99 of 1,000 samples is the 990th smallest."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def rss_kb(pid: int) -> int:
    """Resident memory of process `pid`, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


# A text chunk whose delta is only stamps (the fake upstream's), as hum and the relays write it:
# read with three searches instead of a JSON parse, so that a thousand taps in this one process
# keep up with the humd (the relays' clients are read the same way).
_CHUNK = re.compile(rb'"chi":\s*"chunk"')
_WANE = re.compile(rb'"wane":\s*(\d+)')
_STAMPS = re.compile(rb'"delta":\s*"([0-9 ]*)"')


def _stamped_chunk(line: bytes) -> dict[str, Any] | None:
    """The few fields a timed chunk's line carries (chi, wane, delta); None for any other line."""
    if not _CHUNK.search(line) or (b'"chunkType"' in line and b'"chunkType":"text_delta"' not in line):
        return None
    wane, delta = _WANE.search(line), _STAMPS.search(line)
    if wane is None or delta is None:
        return None
    return {"chi": "chunk", "wane": int(wane[1]), "delta": delta[1].decode()}


def preemptions(pid: int) -> int:
    """Times any thread of process `pid` was taken off its CPU while it could still run (involuntary
    context switches): a humd writing to a tap whose reader then takes its CPU counts one."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("nonvoluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


class Tap:
    """A raw thrum nestler: sends tones, and keeps each chunk's delay since its upstream stamp."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bee: str = "bench") -> None:
        self.reader = reader
        self.writer = writer
        self.bee = bee
        self.delays_ms: list[float] = []
        self.arrivals: dict[int, int] = {}  # wane -> arrival (monotonic ns)
        self.tones: list[dict[str, Any]] = []
        self._buffer = b""
        self._pending: deque[tuple[int, bytes]] = deque()

    @classmethod
    async def open(cls, thrum: Path, bee: str = "bench") -> Tap:
        reader, writer = await asyncio.open_unix_connection(str(thrum), limit=TAP_READ_BYTES)
        tap = cls(reader, writer, bee)
        tap.send({"chi": "hello", "rid": "h", "bee": bee})
        await tap.until(lambda t: t.get("chi") == "breath")
        return tap

    def send(self, tone: dict[str, Any]) -> None:
        self.writer.write(json.dumps(tone).encode() + b"\n")

    async def until(self, done: Any, keep: bool = False) -> dict[str, Any]:
        """Read tones until `done(tone)`; chunks are timed on arrival (kept too when `keep`)."""
        try:
            return await asyncio.wait_for(self._until(done, keep), STEP_TIMEOUT_SECONDS)
        except TimeoutError:
            raise TimeoutError(f"{self.bee}: the tone waited for did not come within {STEP_TIMEOUT_SECONDS:g}s") from None

    async def _until(self, done: Any, keep: bool) -> dict[str, Any]:
        while True:
            if not self._pending:
                await self._read_lines()
            now, line = self._pending.popleft()
            tone = None if keep else _stamped_chunk(line)
            if tone is None:
                tone = json.loads(line)
            if tone.get("chi") == "chunk" and tone.get("chunkType", "text_delta") == "text_delta":
                for stamp in stamps(tone.get("delta", "")):
                    self.delays_ms.append((now - stamp) / 1e6)
                self.arrivals[tone["wane"]] = now
            if keep:
                self.tones.append(tone)
            if done(tone):
                return tone

    async def _read_lines(self) -> None:
        """Whole lines read so far, each with the moment it arrived, in `_pending`."""
        while b"\n" not in self._buffer:
            data = await self.reader.read(TAP_READ_BYTES)
            if not data:
                raise ConnectionError("the humd closed the thrum socket")
            self._buffer += data
        now = time.monotonic_ns()
        *lines, self._buffer = self._buffer.split(b"\n")
        self._pending.extend((now, line) for line in lines)

    async def count_until_finish(self, wane: int | None = None) -> tuple[int, float, dict[str, Any]]:
        """Lines until a `finish` tone (the one at `wane`, if given), timed without parsing every line,
        so a replay is not timed by its reader: (lines, seconds, the finish tone)."""
        try:
            return await asyncio.wait_for(self._count(wane), STEP_TIMEOUT_SECONDS)
        except TimeoutError:
            raise TimeoutError(f"{self.bee}: no finish (wane {wane}) within {STEP_TIMEOUT_SECONDS:g}s") from None

    async def _count(self, wane: int | None) -> tuple[int, float, dict[str, Any]]:
        lines, started = 0, time.perf_counter()
        whole = [line for _, line in self._pending]  # read already, not yet looked at
        self._pending.clear()
        while True:
            lines += len(whole)
            for line in whole:
                if b'"chi":"finish"' in line:
                    tone = json.loads(line)
                    if wane is None or tone.get("wane") == wane:
                        self._pending.extend((time.monotonic_ns(), rest) for rest in whole[whole.index(line) + 1 :])
                        return lines, time.perf_counter() - started, tone
            data = await self.reader.read(TAP_READ_BYTES)
            if not data:
                raise ConnectionError("the humd closed the thrum socket")
            *whole, self._buffer = (self._buffer + data).split(b"\n")

    def close(self) -> None:
        self.writer.close()
