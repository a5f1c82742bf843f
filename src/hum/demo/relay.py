"""A TCP relay that adds a fixed one-way delay: a slow Wi-Fi link between two real processes on one machine.

The bytes it carries are the real TLS stream, untouched; only their arrival
is delayed, in order, each way. (This machine's kernel has no netem.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

# One read's worth; TLS records are at most 16 KiB anyway.
READ_CHUNK = 64 * 1024


class LatencyRelay:
    """Listens on loopback and forwards every connection to `target`, each direction delayed by `one_way` seconds."""

    def __init__(self, target: tuple[str, int], one_way: float) -> None:
        self.target = target
        self.one_way = one_way
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.port = 0

    def hold(self, held: bool = True) -> None:
        """A dead Wi-Fi: bytes stay in flight (no reset, no FIN) until `hold(False)`."""
        if held:
            self._flowing.clear()
        else:
            self._flowing.set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        pumps = [
            asyncio.create_task(self._pump(client_r, server_w)),
            asyncio.create_task(self._pump(server_r, client_w)),
        ]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
            self._tasks.discard(task)
        for writer in (client_w, server_w):
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy bytes, each chunk released `one_way` after it was read, in order."""
        loop = asyncio.get_running_loop()
        in_flight: deque[tuple[float, bytes]] = deque()
        arrived = asyncio.Event()
        done = False

        async def deliver() -> None:
            while not done or in_flight:
                if not in_flight:
                    arrived.clear()
                    await arrived.wait()
                    continue
                due, data = in_flight[0]
                await asyncio.sleep(max(0.0, due - loop.time()))
                await self._flowing.wait()
                in_flight.popleft()
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    break
                in_flight.append((loop.time() + self.one_way, data))
                arrived.set()
        except (ConnectionError, OSError):
            pass
        finally:
            done = True
            arrived.set()
            with contextlib.suppress(ConnectionError, OSError):
                await sender
            with contextlib.suppress(OSError, RuntimeError):
                writer.write_eof()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
