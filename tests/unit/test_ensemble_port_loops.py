"""The ensemble port (`TlsTransport`) on both event loops hum runs on: uvloop and asyncio's own.

Real TCP on 127.0.0.1 and real TLS 1.3. Each test runs the same story on
each loop, the way `hum up` chooses it (`HUM_LOOP`).
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from hum.daemon.event_loop import loop_factory, loop_name, run_on_chosen_loop
from hum.ensemble.transports import tcp
from hum.ensemble.transports.tcp import TlsTransport
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.siblings import SiblingCheck
from hum.ensemble.trust.tls import pairing_client_context

# Only a guard against a hung test; every wait below ends on an event, never on time.
GUARD = 10.0

LOOPS = ["uvloop", "asyncio"]


def listening(identity: Identity, *, on_pairing=None) -> TlsTransport:
    return TlsTransport(identity, SiblingCheck(identity.operator), "127.0.0.1:0", on_pairing=on_pairing)


@pytest.mark.parametrize("loop", LOOPS)
def test_the_chosen_loop_is_the_one_that_runs(loop: str) -> None:
    async def which() -> str:
        return loop_name(asyncio.get_running_loop())

    assert run_on_chosen_loop(which(), loop) == loop


def test_an_unknown_loop_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="HUM_LOOP='tokio'"):
        loop_factory("tokio")


@pytest.mark.parametrize("loop", LOOPS)
def test_siblings_link_and_a_stranger_is_cut(loop: str, laptop: Identity, phone: Identity, foreign: Identity) -> None:
    async def story() -> None:
        linked: asyncio.Queue = asyncio.Queue()

        async def on_connection(conn) -> None:
            await linked.put(conn.peer_humd_id)
            conn.write(await conn.read())  # an echo: bytes flow both ways over the link
            await conn.drain()

        server = listening(laptop)
        address = await server.listen(on_connection)
        try:
            conn = await TlsTransport(phone, SiblingCheck(phone.operator), None).connect(address)
            conn.write(b"petal")
            assert await asyncio.wait_for(conn.read(), GUARD) == b"petal"
            assert await asyncio.wait_for(linked.get(), GUARD) == str(phone.humd_id)
            conn.close()
            with pytest.raises(ConnectionError):
                await TlsTransport(foreign, SiblingCheck(foreign.operator), None).connect(address)
            assert linked.empty()
        finally:
            await server.close()

    run_on_chosen_loop(story(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_device_without_a_certificate_reaches_the_pairing_desk(loop: str, laptop: Identity) -> None:
    async def story() -> None:
        async def desk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"code? " + await reader.readline())
            await writer.drain()

        server = listening(laptop, on_pairing=desk)
        host, port = (await server.listen(lambda conn: asyncio.sleep(0))).split(":")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port), ssl=pairing_client_context()), GUARD)
            writer.write(b"123-456\n")
            assert await asyncio.wait_for(reader.read(), GUARD) == b"code? 123-456\n"
            writer.close()
        finally:
            await server.close()

    run_on_chosen_loop(story(), loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_connections_past_the_limit_are_refused_at_accept(loop: str, laptop: Identity, monkeypatch) -> None:
    monkeypatch.setattr(tcp, "MAX_UNAUTHENTICATED_PER_ADDRESS", 2)

    async def story() -> None:
        server = listening(laptop)
        host, port = (await server.listen(lambda conn: asyncio.sleep(0))).split(":")
        running = asyncio.get_running_loop()
        silent = []  # never say a word of TLS
        try:
            for _ in range(5):
                s = socket.socket()
                s.setblocking(False)
                await running.sock_connect(s, (host, int(port)))
                silent.append(s)
            # accepted in order: the first two wait for TLS, the other three are closed at once
            for s in silent[2:]:
                assert await asyncio.wait_for(running.sock_recv(s, 1), GUARD) == b""
            assert server.refused_connections == 3
            assert server.unauthenticated == 2
        finally:
            for s in silent:
                s.close()
            await server.close()

    run_on_chosen_loop(story(), loop)


def nagle_off(conn) -> bool:
    """Whether the TCP socket under a link sends each small write at once (TCP_NODELAY)."""
    sock = conn.writer.get_extra_info("socket")
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


@pytest.mark.parametrize("loop", LOOPS)
def test_both_ends_of_a_link_send_each_petal_at_once(loop: str, laptop: Identity, phone: Identity) -> None:
    """Petals are small writes: with Nagle on, each waits behind the last one's delayed ACK (the
    phone saw its petals 32-35 ms late at p99 when the accepting end left it on)."""

    async def story() -> None:
        accepted: asyncio.Queue = asyncio.Queue()

        async def on_connection(conn) -> None:
            await accepted.put(nagle_off(conn))

        server = listening(laptop)
        address = await server.listen(on_connection)
        try:
            conn = await TlsTransport(phone, SiblingCheck(phone.operator), None).connect(address)
            assert nagle_off(conn)
            assert await asyncio.wait_for(accepted.get(), GUARD)
            conn.close()
        finally:
            await server.close()

    run_on_chosen_loop(story(), loop)
