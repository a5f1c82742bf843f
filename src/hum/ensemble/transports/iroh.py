"""Ensemble links over iroh: QUIC between endpoints named by the device key.

iroh finds a path between two devices on different networks (direct
addresses, hole punching, a relay as the fallback). hum's own TLS 1.3 with the
device certificates still runs on top, so the link protocol is the same as over
TCP and no iroh relay ever sees a petal; the endpoint key is the device key, so
the HumdId TLS proves must also be the one iroh connected to.

The bindings are optional (`hum[iroh]`): wheels exist for a few platforms only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import logging
import socket
from typing import Any

from cryptography.hazmat.primitives import serialization

from hum.ensemble.transports.tcp import TlsTransport
from hum.ensemble.trust.identity import Identity
from hum.interfaces import Connection, OnConnection, Transport
from hum.wire.addresses import IROH, transport_of

try:
    import iroh
except ImportError:  # no wheel for this platform
    iroh = None

log = logging.getLogger(__name__)

# The version whose generated bindings `speed_up_bindings` patches.
IROH_VERSION = "1.2.0"
# One application protocol on the endpoint: hum's link (TLS inside).
ALPN = b"hum/link/1"
# Binding a QUIC socket takes milliseconds; longer means something is wrong.
BIND_TIMEOUT = 10.0
# iroh gives up on a dead address only after 30 s; a redial is cheaper than that wait.
CONNECT_TIMEOUT = 10.0
# Endpoint.close() waits about 3 s after an abandoned connect; a stopping humd does not.
CLOSE_TIMEOUT = 5.0
# Bytes moved per hop between the QUIC stream and the local socket TLS runs on.
PUMP_CHUNK = 64 * 1024
# `--iroh-relay` values that are not URLs.
DEFAULT_RELAYS = "default"  # n0's public relays
NO_RELAYS = "none"  # direct addresses only (and what offline tests use)


def available() -> bool:
    """Whether this platform has the iroh bindings installed."""
    return iroh is not None


def speed_up_bindings(module: Any) -> bool:
    """Copy bytes into the bindings' buffers with one memmove instead of a Python loop.

    The generated `_UniffiRustBufferBuilder.write` copies byte by byte (iroh-ffi
    issue #229): 9.5 MiB/s. One `ctypes.memmove` gives hundreds of MiB/s. Only
    the pinned version is patched; returns whether it was.
    """
    ffi = getattr(module, "iroh_ffi", None)
    builder = getattr(ffi, "_UniffiRustBufferBuilder", None)
    if builder is None or getattr(builder, "hum_patched", False):
        return bool(builder is not None)
    from importlib.metadata import version

    if version("iroh") != IROH_VERSION:
        log.warning("iroh %s is not %s: its bindings are left as they are", version("iroh"), IROH_VERSION)
        return False

    def write(self: Any, value: Any) -> None:
        data = bytes(value)
        with self._reserve(len(data)):
            if data:
                start = ctypes.cast(self.rbuf.data, ctypes.c_void_p).value
                ctypes.memmove(start + self.rbuf.len, data, len(data))

    builder.write = write
    builder.hum_patched = True
    return True


def device_secret(identity: Identity) -> bytes:
    """The device's raw 32-byte Ed25519 private key: the iroh endpoint key."""
    private = serialization.load_pem_private_key(identity.device_key.private_pem(), None)
    return private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def humd_id_of_endpoint(endpoint_id: Any) -> str:
    """The HumdId of an iroh endpoint id: sha256 of the same raw public key."""
    return hashlib.sha256(endpoint_id.to_bytes()).hexdigest()


def _require() -> Any:
    if iroh is None:
        raise ConnectionError("iroh is not installed on this device (no wheel for this platform?)")
    speed_up_bindings(iroh)
    return iroh


async def bind(secret: bytes | None, relay: str, bind_address: str | None) -> Any:
    """An endpoint (key `secret`, or a fresh one) with hum's ALPN; `relay` is default, none or a URL."""
    lib = _require()
    if relay == NO_RELAYS:
        preset, mode = lib.preset_minimal(), lib.RelayMode.disabled()
    elif relay == DEFAULT_RELAYS:  # (and n0's address discovery with them)
        preset, mode = lib.preset_n0(), None
    else:
        preset, mode = lib.preset_minimal(), lib.RelayMode.custom_from_urls([relay])
    options: dict[str, Any] = {"preset": preset, "alpns": [ALPN]}
    if mode is not None:
        options["relay_mode"] = mode
    if secret is not None:
        options["secret_key"] = secret
    if bind_address:
        options["bind_addr"] = bind_address
    try:
        return await asyncio.wait_for(lib.Endpoint.bind(lib.EndpointOptions(**options)), BIND_TIMEOUT)
    except (TimeoutError, lib.IrohError) as exc:
        raise ConnectionError(f"no iroh endpoint on {bind_address or 'any address'}: {exc or 'timed out'}") from exc


def check_relay(relay: str) -> None:
    """ValueError unless `relay` is default, none or an http(s) URL."""
    if relay not in (DEFAULT_RELAYS, NO_RELAYS) and not relay.startswith(("https://", "http://")):
        raise ValueError(f"--iroh-relay {relay[:80]!r} is not default, none or an http(s) URL")


def endpoint_addr(address: str) -> Any:
    """The `EndpointAddr` in `iroh:<ticket>` (or a bare node id, which needs discovery)."""
    lib = _require()
    _, rest = transport_of(address)
    try:
        return lib.EndpointTicket.from_string(rest).endpoint_addr()
    except lib.IrohError:
        pass
    try:
        return lib.EndpointAddr(lib.EndpointId.from_string(rest), None, [])
    except lib.IrohError as exc:
        raise ConnectionError(f"{address[:80]} is neither an iroh ticket nor a node id") from exc


async def open_stream(endpoint: Any, address: str) -> tuple[socket.socket, Any]:
    """Connect to `address` and open the link's stream; returns a local socket carrying it, and the remote id."""
    target = endpoint_addr(address)
    try:
        conn = await asyncio.wait_for(endpoint.connect(target, ALPN), CONNECT_TIMEOUT)
        stream = await asyncio.wait_for(conn.open_bi(), CONNECT_TIMEOUT)
    except (TimeoutError, iroh.IrohError) as exc:
        raise ConnectionError(f"no iroh connection to {address[:40]}...: {exc}") from exc
    return _bridge(conn, stream, endpoint), conn.remote_id()


async def accept_stream(incoming: Any) -> tuple[socket.socket, Any]:
    """Accept one incoming connection's link stream; returns the local socket and the remote id."""
    try:
        accepting = await asyncio.wait_for(incoming.accept(), CONNECT_TIMEOUT)
        conn = await asyncio.wait_for(accepting.connect(), CONNECT_TIMEOUT)
        stream = await asyncio.wait_for(conn.accept_bi(), CONNECT_TIMEOUT)
    except (TimeoutError, iroh.IrohError) as exc:
        raise ConnectionError(f"an incoming iroh connection failed: {exc}") from exc
    return _bridge(conn, stream, None), conn.remote_id()


_pumps: set[asyncio.Task[None]] = set()


def _bridge(conn: Any, stream: Any, endpoint: Any) -> socket.socket:
    """A socket pair whose far end is pumped to and from the QUIC stream, for asyncio's TLS.

    asyncio runs TLS over sockets; the pair is in this process only. The pump
    holds the `endpoint` too: a dialler's throwaway endpoint freed by the
    garbage collector would take the connection with it.
    """
    near, far = socket.socketpair()
    far.setblocking(False)
    task = asyncio.get_running_loop().create_task(_pump(conn, stream, far, endpoint))
    _pumps.add(task)
    task.add_done_callback(_pumps.discard)
    return near


async def _pump(conn: Any, stream: Any, far: socket.socket, endpoint: Any) -> None:
    loop = asyncio.get_running_loop()
    recv, send = stream.recv(), stream.send()

    async def inbound() -> None:
        while True:
            data = await recv.read(PUMP_CHUNK)
            if not data:
                return
            await loop.sock_sendall(far, data)

    async def outbound() -> None:
        while True:
            data = await loop.sock_recv(far, PUMP_CHUNK)
            if not data:
                with contextlib.suppress(Exception):
                    await send.finish()
                return
            await send.write_all(data)

    tasks = [asyncio.ensure_future(inbound()), asyncio.ensure_future(outbound())]
    try:
        # Either direction ending ends the link: a peer that vanished is a lost link.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        far.close()
        with contextlib.suppress(Exception):
            conn.close(0, b"link ended")
        del endpoint  # (held until here on purpose)


class IrohTransport(Transport):
    """Listens and dials on an iroh endpoint keyed by the device key; TLS (`secure`) on top."""

    def __init__(
        self, secure: TlsTransport, relay: str = DEFAULT_RELAYS, bind_address: str | None = None, *, accept: bool = True
    ) -> None:
        self.secure = secure
        self.accept = accept  # False: dial `iroh:` peers only, take no connections
        self.relay = relay
        self.bind_address = bind_address
        self.endpoint: Any = None
        self._accepting: asyncio.Task[None] | None = None

    @property
    def ticket(self) -> str:
        """`iroh:<ticket>`: the endpoint id with its direct addresses and relay."""
        if self.endpoint is None:
            return ""
        return f"{IROH}:{iroh.EndpointTicket.from_addr(self.endpoint.addr())}"

    async def _endpoint(self) -> Any:
        if self.endpoint is None:
            self.endpoint = await bind(device_secret(self.secure.identity), self.relay, self.bind_address)
        return self.endpoint

    async def listen(self, on_connection: OnConnection) -> str:
        if not self.accept:
            return ""
        endpoint = await self._endpoint()
        self._accepting = asyncio.create_task(self._accept_loop(endpoint, on_connection))
        return self.ticket

    async def _accept_loop(self, endpoint: Any, on_connection: OnConnection) -> None:
        while True:
            incoming = await endpoint.accept_next()
            if incoming is None:  # the endpoint closed
                return
            task = asyncio.create_task(self._accept_one(incoming, on_connection))
            _pumps.add(task)  # type: ignore[arg-type]
            task.add_done_callback(_pumps.discard)  # type: ignore[arg-type]

    async def _accept_one(self, incoming: Any, on_connection: OnConnection) -> None:
        try:
            sock, remote = await accept_stream(incoming)
        except ConnectionError as exc:
            log.info("%s", exc)
            return
        expected = humd_id_of_endpoint(remote)

        async def checked(conn: Connection) -> None:
            if conn.peer_humd_id != expected:
                log.warning("refused an iroh link: TLS proved %s, iroh connected %s", conn.peer_humd_id, expected)
                conn.close()
                return
            await on_connection(conn)

        await self.secure.accept_socket(sock, checked)

    async def connect(self, address: str) -> Connection:
        endpoint = await self._endpoint()
        sock, remote = await open_stream(endpoint, address)
        conn = await self.secure.connect_socket(sock, address[:40])
        if conn.peer_humd_id != humd_id_of_endpoint(remote):
            conn.close()
            raise ConnectionError(f"{address[:40]}...: TLS proved another device than the iroh node id")
        return conn

    async def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            self._accepting = None
        if self.endpoint is not None:
            endpoint, self.endpoint = self.endpoint, None
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(endpoint.close(), CLOSE_TIMEOUT)
