"""Ensemble links over TCP with mutually authenticated TLS 1.3."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable

from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.siblings import SiblingCheck
from hum.ensemble.trust.tls import client_context, peer_identity, server_context
from hum.errors import IdentityError
from hum.interfaces import Connection, OnConnection, Transport
from hum.wire.addresses import split_address

log = logging.getLogger(__name__)

# One read's worth: a few dozen petals; bigger buys nothing for NDJSON.
READ_CHUNK = 64 * 1024
# A peer that cannot finish TCP + TLS in this long is not worth waiting for.
CONNECT_TIMEOUT = 10.0
# Over a stream that is not TCP to a host name (iroh, a relay) there is no host to
# name; peers are checked by HumdId (`peer_identity`), never by this name.
SERVER_NAME = "humd"
# From accept to a link that is up (TLS, then the link's own hello and proof),
# or to the end of a pairing exchange: a few round trips and one signature
# each way, which a phone on poor Wi-Fi does in well under a second. Ten
# seconds leaves room for that phone and cuts off whoever stalls on purpose.
ENSEMBLE_HANDSHAKE_TIMEOUT = 10.0
# Connections not yet proved to be a sibling (TLS under way, link handshake,
# pairing). asyncio gives each TLS connection a 256 KiB buffer, so 64 of them
# cost about 20 MB at most, while an ensemble has a handful of devices
# dialling at once. More are closed at accept, before any TLS state exists.
MAX_UNAUTHENTICATED = 64
# Of those, from one address: a single host on the Wi-Fi cannot take every
# slot, and a household behind one NAT address still has room to link.
MAX_UNAUTHENTICATED_PER_ADDRESS = 16
# Connections the kernel holds between accepts: asyncio's own default, ample
# for a handful of devices and for a burst the doorman then refuses.
ACCEPT_BACKLOG = 100
# Out of file descriptors (EMFILE) at accept: wait this long before the next
# accept, as asyncio's own servers do, instead of spinning on the error.
ACCEPT_RETRY_DELAY = 1.0

OnPairing = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class TlsConnection(Connection):
    """One TLS stream to a sibling whose HumdId TLS has proved."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        self.reader = reader
        self.writer = writer
        self.peer_humd_id = peer

    async def read(self) -> bytes:
        return await self.reader.read(READ_CHUNK)

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


class TlsTransport(Transport):
    """Listens and dials TCP with TLS 1.3; only T1 siblings get a `Connection`.

    Inbound connections are counted until they prove a sibling: at most
    MAX_UNAUTHENTICATED at once (MAX_UNAUTHENTICATED_PER_ADDRESS from one
    address), each given ENSEMBLE_HANDSHAKE_TIMEOUT from accept. Set `linked`
    (is this HumdId's link up?) to hold the link handshake to that deadline too.
    """

    def __init__(
        self,
        identity: Identity,
        check: SiblingCheck,
        listen: str | None,
        *,
        on_pairing: OnPairing | None = None,
    ) -> None:
        self.identity = identity
        self.check = check
        self.listen_address = listen
        self.on_pairing = on_pairing
        self._listeners: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self._client_context = client_context(identity, check)
        self.linked: Callable[[str], bool] | None = None
        self.refused_connections = 0  # closed at accept: too many unauthenticated at once
        self._unauthenticated: dict[str, int] = {}  # peer address -> connections not yet proved
        self._admitted: set[asyncio.Task[None]] = set()
        self._on_connection: OnConnection | None = None
        self._server_context = server_context(identity, check, pairing=on_pairing is not None)

    @property
    def unauthenticated(self) -> int:
        """Inbound connections that have not yet proved a sibling (or finished pairing)."""
        return sum(self._unauthenticated.values())

    async def listen(self, on_connection: OnConnection) -> str:
        if self.listen_address is None:
            return ""
        host, port = split_address(self.listen_address)
        self._on_connection = on_connection
        loop = asyncio.get_running_loop()
        # Plain TCP first, accepted here: TLS state (buffers, a handshake) is made only for
        # admitted connections, the same way on asyncio's loop and on uvloop.
        self._listeners = await _bind(host, port)
        for listener in self._listeners:
            self._accepting.append(loop.create_task(self._accept_forever(listener)))
        bound = self._listeners[0].getsockname()
        return f"{host}:{bound[1]}"

    async def _accept_forever(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(listener)
            except OSError as exc:  # out of descriptors: the ones open now close first
                log.warning("ensemble port: cannot accept: %s", exc)
                await asyncio.sleep(ACCEPT_RETRY_DELAY)
                continue
            # Petals go out as small writes: without TCP_NODELAY Nagle holds each behind the
            # last one's delayed ACK (the phone's hop was 32-35 ms at p99). asyncio's own
            # transports set it only on sockets made with proto IPPROTO_TCP, which these are not.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._admit(conn, str(peer[0]) if peer else "?")

    def _admit(self, conn: socket.socket, address: str) -> None:
        waiting = self._unauthenticated.get(address, 0)
        if self.unauthenticated >= MAX_UNAUTHENTICATED or waiting >= MAX_UNAUTHENTICATED_PER_ADDRESS:
            self.refused_connections += 1
            if self.refused_connections == 1 or self.refused_connections % 1000 == 0:
                log.warning("ensemble port: %d connections refused at accept (too many unauthenticated)", self.refused_connections)
            conn.close()
            return
        self._unauthenticated[address] = waiting + 1
        task = asyncio.get_running_loop().create_task(self._handshake(conn, address))
        self._admitted.add(task)
        task.add_done_callback(self._admitted.discard)

    def _proved(self, address: str) -> None:
        left = self._unauthenticated.get(address, 0) - 1
        if left > 0:
            self._unauthenticated[address] = left
        else:
            self._unauthenticated.pop(address, None)

    async def _handshake(self, conn: socket.socket, address: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ENSEMBLE_HANDSHAKE_TIMEOUT
        counted = True
        try:
            reader = asyncio.StreamReader()
            protocol = asyncio.StreamReaderProtocol(reader)
            try:
                tls, _ = await asyncio.wait_for(
                    loop.connect_accepted_socket(
                        lambda: protocol, conn, ssl=self._server_context, ssl_handshake_timeout=ENSEMBLE_HANDSHAKE_TIMEOUT
                    ),
                    ENSEMBLE_HANDSHAKE_TIMEOUT,
                )
            except (TimeoutError, ssl.SSLError, ConnectionError, OSError) as exc:
                log.info("ensemble port: no TLS from %s: %s", address, exc or type(exc).__name__)
                conn.close()  # a no-op if the loop's transport closed it already
                return
            writer = asyncio.StreamWriter(tls, protocol, reader, loop)
            ssl_object = tls.get_extra_info("ssl_object")
            if ssl_object is None or not ssl_object.getpeercert(binary_form=True):
                if self.on_pairing is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.on_pairing(reader, writer), max(0.0, deadline - loop.time()))
                writer.close()
                return
            try:
                peer = peer_identity(ssl_object, self.check)
            except IdentityError as exc:
                log.warning("refused a link from %s: %s", address, exc)
                tls.abort()
                return
            # TLS proved a sibling; its link handshake must still end by the deadline
            self._proved(address)
            counted = False
            if self.linked is not None:
                loop.call_at(deadline, self._link_deadline, tls, peer)
            assert self._on_connection is not None
            await self._on_connection(TlsConnection(reader, writer, peer))
        finally:
            if counted:
                self._proved(address)

    def _link_deadline(self, tls: asyncio.BaseTransport, peer: str) -> None:
        if self.linked is not None and not tls.is_closing() and not self.linked(peer):
            log.warning("ensemble port: %s did not finish the link handshake in %.0f s", peer[:8], ENSEMBLE_HANDSHAKE_TIMEOUT)
            tls.abort()  # type: ignore[attr-defined]

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, on_connection: OnConnection) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is None or not ssl_object.getpeercert(binary_form=True):
            if self.on_pairing is not None:
                await self.on_pairing(reader, writer)
            writer.close()
            return
        try:
            peer = peer_identity(ssl_object, self.check)
        except IdentityError as exc:
            log.warning("refused a link from %s: %s", writer.get_extra_info("peername"), exc)
            writer.transport.abort()
            return
        await on_connection(TlsConnection(reader, writer, peer))

    async def accept_socket(self, sock: socket.socket, on_connection: OnConnection) -> None:
        """Be the TLS server on a byte stream another transport opened (iroh, a transit relay).

        The same checks as a TCP listener: a sibling gets a link, a device without
        a certificate gets the pairing desk, anyone else is cut.
        """
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader, lambda r, w: self._accepted(r, w, on_connection))
        try:
            await loop.connect_accepted_socket(
                lambda: protocol, sock, ssl=self._server_context, ssl_handshake_timeout=CONNECT_TIMEOUT
            )
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            log.warning("refused a link over %s: %s", sock.getsockname() or "a stream", exc)
            sock.close()

    async def connect(self, address: str) -> TlsConnection:
        host, port = split_address(address)
        return await self._secure(address, asyncio.open_connection(host, port, ssl=self._client_context, server_hostname=host))

    async def connect_socket(self, sock: socket.socket, address: str) -> TlsConnection:
        """Be the TLS client on a byte stream another transport opened; `address` names it in errors."""
        return await self._secure(address, asyncio.open_connection(sock=sock, ssl=self._client_context, server_hostname=SERVER_NAME))

    async def _secure(self, address: str, opening: Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> TlsConnection:
        try:
            reader, writer = await asyncio.wait_for(opening, CONNECT_TIMEOUT)
        except (TimeoutError, ssl.SSLError) as exc:
            raise ConnectionError(f"no TLS link to {address}: {exc}") from exc
        try:
            peer = peer_identity(writer.get_extra_info("ssl_object"), self.check)
        except IdentityError as exc:
            writer.transport.abort()
            raise ConnectionError(f"{address} is not a sibling: {exc}") from exc
        return TlsConnection(reader, writer, peer)

    async def close(self) -> None:
        for task in self._accepting:
            task.cancel()
        self._accepting = []
        for listener in self._listeners:
            listener.close()
        self._listeners = []
        for task in list(self._admitted):
            task.cancel()


async def _bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for HOST:PORT, one per address it resolves to (as `loop.create_server` binds)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    listeners: list[socket.socket] = []
    try:
        for family, _, _, _, address in dict.fromkeys(infos):
            listener = socket.create_server(address, family=family, backlog=ACCEPT_BACKLOG)
            listener.setblocking(False)
            listeners.append(listener)
    except OSError:
        for listener in listeners:
            listener.close()
        raise
    return listeners
