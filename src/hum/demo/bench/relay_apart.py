"""The trivial relay in a process of its own: what two process hops cost on this machine, with no hum in them.

The in-process relay (`baselines.fanout_relay`) and the upstream read directly
never leave the bench's process: a chunk reaches its client without waking
another process. hum cannot do that: the upstream wakes the humd, and each
tap's write wakes the reader (which, on a busy machine, often takes the CPU from
the humd before its next write). This relay pays the same two hops and nothing
else (no parsing beyond the SSE, no store), so beside it the bench shows what
hum itself adds. Run as `python -m hum.demo.bench.relay_apart SOCKET BASE_URL
TAPS CHUNKS PACE`: it serves `TAPS` clients on the Unix socket, relays one
stream to them all, then exits.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from hum.daemon.event_loop import run_on_chosen_loop
from hum.demo.bench import baselines
from hum.demo.bench.measure import STEP_TIMEOUT_SECONDS, TAP_READ_BYTES, Tap


async def serve(sock_path: Path, base_url: str, taps: int, chunks: int, pace: float) -> None:
    server, writers, connected = await baselines.relay_server(sock_path, taps)
    await asyncio.wait_for(connected.wait(), STEP_TIMEOUT_SECONDS)
    await baselines.relay(base_url, writers, chunks, pace)
    for w in writers:
        await w.drain()
    server.close()


async def fanout_relay_apart(base_url: str, taps: int, chunks: int, pace: float, sock_path: Path) -> list[float]:
    """Delays (ms) at `taps` clients (here) of the trivial relay running in a child process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hum.demo.bench.relay_apart", str(sock_path), base_url, str(taps), str(chunks), f"{pace:g}",
    )
    try:
        async with asyncio.timeout(STEP_TIMEOUT_SECONDS):
            while not sock_path.exists():
                if proc.returncode is not None:
                    raise RuntimeError(f"the relay process ended early ({proc.returncode})")
                await asyncio.sleep(0.01)  # polling for the socket file a child makes: no event to wait on
        clients = []
        for _ in range(taps):
            reader, writer = await asyncio.open_unix_connection(str(sock_path), limit=TAP_READ_BYTES)
            clients.append(Tap(reader, writer))
        await asyncio.gather(*(c.until(lambda t: t.get("chi") == "finish") for c in clients))
        for c in clients:
            c.close()
        await asyncio.wait_for(proc.wait(), STEP_TIMEOUT_SECONDS)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return [d for c in clients for d in c.delays_ms]


if __name__ == "__main__":
    path, url, n, count, rate = sys.argv[1:6]
    run_on_chosen_loop(serve(Path(path), url, int(n), int(count), float(rate)))
