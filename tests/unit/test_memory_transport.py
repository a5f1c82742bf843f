"""The in-memory transport on virtual time: latency, FIFO, partitions, sudden death."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from hum.ensemble.transports.memory import MemoryConnection, MemoryNetwork
from hum.interfaces import Connection
from hum.sim.clock import run_virtual

T = TypeVar("T")
A, B = "mem://a", "mem://b"


def virtual(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return run_virtual(main())


async def pair(net: MemoryNetwork) -> tuple[MemoryConnection, Connection]:
    """`b` dials `a`; returns (b's end, a's end)."""
    accepted: asyncio.Queue[Connection] = asyncio.Queue()

    async def on_connection(conn: Connection) -> None:
        await accepted.put(conn)

    await net.transport(A).listen(on_connection)
    client = await net.transport(B).connect(A)
    server = await asyncio.wait_for(accepted.get(), 5)
    return client, server


async def read_timed(conn: Connection) -> tuple[float, bytes]:
    data = await asyncio.wait_for(conn.read(), 30)
    return asyncio.get_running_loop().time(), data


def test_virtual_clock_jumps_and_is_exact() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)  # an hour of virtual time
        return loop.time() - start

    assert virtual(main) == pytest.approx(3600)


def test_connect_takes_a_round_trip_and_delivers_after_the_one_way_latency() -> None:
    async def main() -> None:
        net = MemoryNetwork(one_way_latency=0.05)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        client, server = await pair(net)
        assert loop.time() - t0 == pytest.approx(0.1)  # SYN / SYN-ACK
        t1 = loop.time()
        client.write(b"hello")
        at, data = await read_timed(server)
        assert data == b"hello"
        assert at - t1 == pytest.approx(0.05)
        server.write(b"back")
        at2, data2 = await read_timed(client)
        assert data2 == b"back"
        assert at2 - at == pytest.approx(0.05)

    virtual(main)


def test_fifo_under_latency_even_when_latency_drops() -> None:
    async def main() -> None:
        net = MemoryNetwork(one_way_latency=0.2)
        client, server = await pair(net)
        client.write(b"1")
        net.set_latency(A, B, 0.01)  # a later, faster packet must not overtake
        client.write(b"2")
        await asyncio.sleep(0.05)
        client.write(b"3")
        got = [await asyncio.wait_for(server.read(), 5) for _ in range(3)]
        assert got == [b"1", b"2", b"3"]

    virtual(main)


def test_many_writes_arrive_in_order() -> None:
    async def main() -> None:
        net = MemoryNetwork(one_way_latency=0.03)
        client, server = await pair(net)
        for i in range(200):
            client.write(b"%d;" % i)
            if i % 7 == 0:
                await asyncio.sleep(0.001)
        got = b""
        while got.count(b";") < 200:
            got += await asyncio.wait_for(server.read(), 5)
        assert got == b"".join(b"%d;" % i for i in range(200))

    virtual(main)


def test_partition_holds_and_heal_delivers_in_order() -> None:
    async def main() -> None:
        net = MemoryNetwork(one_way_latency=0.02)
        client, server = await pair(net)
        loop = asyncio.get_running_loop()
        net.partition(A, B)
        assert net.is_partitioned(B, A)
        for chunk in (b"a", b"b", b"c"):
            client.write(chunk)
        server.write(b"z")
        # held in flight: ten virtual seconds and nothing arrives, either way
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(server.read(), 10)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.read(), 1)
        healed = loop.time()
        net.heal(A, B)
        got = [await asyncio.wait_for(server.read(), 5) for _ in range(3)]
        assert got == [b"a", b"b", b"c"]
        assert loop.time() == pytest.approx(healed)  # what was held arrives at once
        assert await asyncio.wait_for(client.read(), 5) == b"z"
        # and the link works normally again
        client.write(b"d")
        t = loop.time()
        at, data = await read_timed(server)
        assert data == b"d" and at - t == pytest.approx(0.02)

    virtual(main)


def test_partition_during_flight_holds_what_was_already_sent() -> None:
    async def main() -> None:
        net = MemoryNetwork(one_way_latency=0.5)
        client, server = await pair(net)
        client.write(b"in-flight")
        await asyncio.sleep(0.1)
        net.partition(A, B)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(server.read(), 3)
        client.write(b"later")
        net.heal(A, B)
        assert await asyncio.wait_for(server.read(), 5) == b"in-flight"
        assert await asyncio.wait_for(server.read(), 5) == b"later"

    virtual(main)


def test_partition_affects_only_that_pair() -> None:
    async def main() -> None:
        net = MemoryNetwork(one_way_latency=0.01)
        client, server = await pair(net)
        net.partition(A, "mem://c")
        client.write(b"x")
        assert await asyncio.wait_for(server.read(), 1) == b"x"

    virtual(main)


def test_kill_resets_the_peers_reads() -> None:
    async def main() -> None:
        net = MemoryNetwork(one_way_latency=0.02)
        client, server = await pair(net)
        client.write(b"before")
        await asyncio.sleep(0.001)
        net.kill(B)  # the dialling side dies
        assert await asyncio.wait_for(server.read(), 5) == b"before"  # sent before death
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(server.read(), 5)
        # the dead side writes nothing any more
        client.write(b"ghost")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(server.read(), 2)

    virtual(main)


def test_killed_listener_refuses_new_connections() -> None:
    async def main() -> None:
        net = MemoryNetwork(one_way_latency=0.02)
        client, server = await pair(net)
        net.kill(A)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(client.read(), 5)
        with pytest.raises(ConnectionRefusedError):
            await net.transport(B).connect(A)

    virtual(main)


def test_connect_to_nothing_is_refused() -> None:
    async def main() -> None:
        net = MemoryNetwork()
        with pytest.raises(ConnectionRefusedError):
            await net.transport(B).connect("mem://nowhere")

    virtual(main)


def test_close_is_an_orderly_eof_after_the_data() -> None:
    async def main() -> None:
        net = MemoryNetwork(one_way_latency=0.02)
        client, server = await pair(net)
        client.write(b"last words")
        client.close()
        assert await asyncio.wait_for(server.read(), 5) == b"last words"
        assert await asyncio.wait_for(server.read(), 5) == b""
        assert await client.read() == b""  # a closed end reads EOF

    virtual(main)


def test_transport_close_stops_listening() -> None:
    async def main() -> None:
        net = MemoryNetwork()
        transport = net.transport(A)

        async def on_connection(conn: Connection) -> None:
            return None

        assert await transport.listen(on_connection) == A
        await transport.close()
        with pytest.raises(ConnectionRefusedError):
            await net.transport(B).connect(A)

    virtual(main)
