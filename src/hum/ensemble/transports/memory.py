"""The in-memory transport: humds in one process, with latency, partitions and sudden death."""

from __future__ import annotations

import asyncio
from collections import deque

from hum.interfaces import Connection, OnConnection, Transport


class _Direction:
    """Bytes flowing one way between two ends, FIFO, each after the one-way latency."""

    def __init__(self, network: MemoryNetwork, src: str, dst: str, sink: MemoryConnection) -> None:
        self.network, self.src, self.dst, self.sink = network, src, dst, sink
        self._queue: deque[tuple[float, bytes | None]] = deque()  # None = reset
        self._last_due = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def push(self, data: bytes | None) -> None:
        loop = asyncio.get_running_loop()
        due = max(loop.time() + self.network.latency(self.src, self.dst), self._last_due)
        self._last_due = due
        self._queue.append((due, data))
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None or not self._queue:
            return
        if self.network.is_partitioned(self.src, self.dst):
            return  # held in flight until heal()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(self._queue[0][0], self._deliver)

    def _deliver(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        while self._queue and self._queue[0][0] <= loop.time():
            if self.network.is_partitioned(self.src, self.dst):
                return
            _, data = self._queue.popleft()
            self.sink._feed(data)
        self._schedule()

    def heal(self) -> None:
        loop = asyncio.get_running_loop()
        if self._queue:
            # what was held arrives now, still in order
            self._queue = deque((max(due, loop.time()), d) for due, d in self._queue)
        self._schedule()


class MemoryConnection(Connection):
    """One end of an in-memory connection."""

    def __init__(self, local: str, remote: str) -> None:
        self.local, self.remote = local, remote
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._out: _Direction | None = None
        self._reset = False
        self._closed = False

    def _feed(self, data: bytes | None) -> None:
        if self._closed:
            return
        if data is None:
            self._reset = True
        self._inbox.put_nowait(data)

    async def read(self) -> bytes:
        if self._closed:
            return b""
        data = await self._inbox.get()
        if data is None:
            if self._reset:
                raise ConnectionResetError(f"connection to {self.remote} reset")
            return b""
        return data

    def write(self, data: bytes) -> None:
        if not self._closed and self._out is not None and data:
            self._out.push(data)

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        if not self._closed and self._out is not None:
            self._out.push(b"")  # orderly end: the peer reads EOF after the data
        self._closed = True

    def abort(self) -> None:
        """Process death: the kernel resets the connection; nothing more is sent."""
        if not self._closed and self._out is not None:
            self._out.push(None)
        self._closed = True


class MemoryNetwork:
    """Addresses, listeners and the links between them, with fault injection."""

    def __init__(self, one_way_latency: float = 0.0) -> None:
        self.default_latency = one_way_latency
        self._latency: dict[frozenset[str], float] = {}
        self._partitions: set[frozenset[str]] = set()
        self._listeners: dict[str, OnConnection] = {}
        self._directions: list[_Direction] = []
        self._ends: dict[str, list[MemoryConnection]] = {}

    def latency(self, a: str, b: str) -> float:
        return self._latency.get(frozenset((a, b)), self.default_latency)

    def set_latency(self, a: str, b: str, one_way: float) -> None:
        self._latency[frozenset((a, b))] = one_way

    def is_partitioned(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self._partitions

    def partition(self, a: str, b: str) -> None:
        """Bytes between a and b are held in flight, as on a dead Wi-Fi."""
        self._partitions.add(frozenset((a, b)))

    def heal(self, a: str, b: str) -> None:
        self._partitions.discard(frozenset((a, b)))
        for direction in self._directions:
            if frozenset((direction.src, direction.dst)) == frozenset((a, b)):
                direction.heal()

    def kill(self, address: str) -> None:
        """Process death at `address`: its listener vanishes and its connections reset."""
        self._listeners.pop(address, None)
        for end in self._ends.pop(address, []):
            end.abort()

    def transport(self, address: str) -> MemoryTransport:
        return MemoryTransport(self, address)

    async def _connect(self, src: str, dst: str) -> MemoryConnection:
        on_connection = self._listeners.get(dst)
        if on_connection is None:
            raise ConnectionRefusedError(f"nothing listens at {dst}")
        client, server = MemoryConnection(src, dst), MemoryConnection(dst, src)
        client._out = _Direction(self, src, dst, server)
        server._out = _Direction(self, dst, src, client)
        self._directions += [client._out, server._out]
        self._ends.setdefault(src, []).append(client)
        self._ends.setdefault(dst, []).append(server)
        await asyncio.sleep(self.latency(src, dst) * 2)  # the SYN / SYN-ACK round trip
        if dst not in self._listeners:
            raise ConnectionRefusedError(f"nothing listens at {dst}")
        asyncio.get_running_loop().create_task(on_connection(server))
        return client


class MemoryTransport(Transport):
    """One humd's attachment to a `MemoryNetwork`."""

    def __init__(self, network: MemoryNetwork, address: str) -> None:
        self.network = network
        self.address = address

    async def listen(self, on_connection: OnConnection) -> str:
        self.network._listeners[self.address] = on_connection
        return self.address

    async def connect(self, address: str) -> MemoryConnection:
        return await self.network._connect(self.address, address)

    async def close(self) -> None:
        self.network._listeners.pop(self.address, None)
