"""Ensemble links over TCP with mutually authenticated TLS 1.3."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable

from hum.ensemble.identity import Identity, SiblingCheck
from hum.ensemble.tls import client_context, peer_identity, server_context
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
    """Listens and dials TCP with TLS 1.3; only T1 siblings get a `Connection`."""

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
        self._server: asyncio.Server | None = None
        self._client_context = client_context(identity, check)
        self._server_context = server_context(identity, check, pairing=on_pairing is not None)

    async def listen(self, on_connection: OnConnection) -> str:
        if self.listen_address is None:
            return ""
        host, port = split_address(self.listen_address)

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._accepted(reader, writer, on_connection)

        self._server = await asyncio.start_server(accepted, host, port, ssl=self._server_context)
        bound = self._server.sockets[0].getsockname()
        return f"{host}:{bound[1]}"

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
        if self._server is not None:
            self._server.close()
            self._server = None
