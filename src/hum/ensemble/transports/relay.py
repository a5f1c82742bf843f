"""Ensemble links through a transit relay (magic-wormhole-transit-relay): both sides dial out.

For devices without iroh and networks that block UDP. Each side sends
`please relay <token> for side <side>\\n`; the relay answers `ok\\n` once a
connection with the same token (and another side) arrives, then carries bytes.
The relay authenticates no one, so hum's TLS 1.3 with the device certificates
runs on top, exactly as over TCP, and the relay sees only ciphertext.

A humd started with `--relay HOST:PORT` keeps two connections waiting there:
its link door (token from the relay door secret every device of the operator
gets at pairing, and its own HumdId: a stranger cannot compute it, so cannot
squat it) and its pairing door (from its HumdId alone: a
device that is still pairing knows no operator yet). A sibling dials
`relay:<HumdId>@HOST:PORT`; the waiting side is always the TLS server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import socket

from hum.ensemble.transports.tcp import TlsTransport
from hum.interfaces import Connection, OnConnection, Transport
from hum.wire.addresses import RELAY, split_address, transport_of

log = logging.getLogger(__name__)

# Labels that keep the two doors' tokens apart from each other and from any other use.
LINK_LABEL = b"hum relay link v1"
PAIR_LABEL = b"hum relay pair v1"
SECRET_LINK_LABEL = b"hum relay link v2"
# The relay's answer when the other side has arrived.
OK_LINE = b"ok\n"
# A dialled sibling that is up is already waiting at its door: the match is
# immediate, so this only bounds waiting for one that is not there.
MEET_TIMEOUT = 10.0
# Reaching the relay itself (TCP): a dead relay is a lost transport, not a hang.
RELAY_CONNECT_TIMEOUT = 10.0
# A door whose relay went away is re-opened quickly at first, then less often.
REWAIT_FIRST = 0.2
REWAIT_MAX = 5.0


def link_token(operator_fingerprint: str, humd_id: str) -> str:
    """The legacy link door of `humd_id`: 64 hex. Anyone who opened one TLS connection to the
    ensemble port can compute it (both inputs are in the certificate), so it can be squatted;
    used only by a device that holds no relay door secret (paired before there was one)."""
    return hashlib.sha256(LINK_LABEL + b"|" + operator_fingerprint.encode() + b"|" + humd_id.encode()).hexdigest()


def secret_link_token(relay_key: bytes, humd_id: str) -> str:
    """The link door of `humd_id` derived from the relay door secret only the operator's devices hold: 64 hex."""
    return hmac.new(relay_key, SECRET_LINK_LABEL + b"|" + humd_id.encode(), hashlib.sha256).hexdigest()


def pair_token(humd_id: str) -> str:
    """The pairing door of `humd_id`: 64 hex."""
    return hashlib.sha256(PAIR_LABEL + b"|" + humd_id.encode()).hexdigest()


async def meet(relay: str, token: str, timeout: float | None) -> socket.socket:
    """Wait at `relay` (HOST:PORT) under `token` for the other side; returns the joined byte stream."""
    host, port = split_address(relay)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConnectionError(f"cannot find the relay {relay}: {exc}") from exc
    family, kind, proto, _, where = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, where), RELAY_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        sock.close()
        raise ConnectionError(f"cannot reach the relay at {relay}: {exc}") from exc
    try:
        side = secrets.token_hex(8)
        await loop.sock_sendall(sock, f"please relay {token} for side {side}\n".encode())
        answer = b""
        # byte by byte: what follows `ok\n` is TLS, and belongs to the TLS layer
        while not answer.endswith(b"\n") and len(answer) < len(OK_LINE):
            byte = await asyncio.wait_for(loop.sock_recv(sock, 1), timeout)
            if not byte:
                break
            answer += byte
    except (OSError, TimeoutError) as exc:
        sock.close()
        raise ConnectionError(f"nobody met us at the relay {relay}: {exc or 'timed out'}") from exc
    if answer != OK_LINE:
        sock.close()
        raise ConnectionError(f"the relay at {relay} closed the rendezvous ({answer!r})")
    return sock


def parse(address: str) -> tuple[str, str]:
    """`relay:<HumdId>@HOST:PORT` into (HumdId, HOST:PORT)."""
    _, rest = transport_of(address)
    device, at, relay = rest.rpartition("@")
    if not at:
        raise ConnectionError(f"{address}: name the device to meet, relay:<HumdId>@HOST:PORT")
    return device, relay


class RelayTransport(Transport):
    """Waits at a transit relay for siblings (if `relay` is set) and meets them there; TLS (`secure`) on top."""

    def __init__(self, secure: TlsTransport, relay: str | None, relay_key: bytes | None = None) -> None:
        self.secure = secure
        self.relay = relay
        self.relay_key = relay_key  # the operator's devices' door secret (None: the legacy door)
        self._doors: list[asyncio.Task[None]] = []

    @property
    def address(self) -> str:
        """`relay:<HumdId>@HOST:PORT`: what a sibling (or a device pairing) dials to meet this humd."""
        return f"{RELAY}:{self.secure.identity.humd_id}@{self.relay}" if self.relay else ""

    async def listen(self, on_connection: OnConnection) -> str:
        if not self.relay:
            return ""
        me = self.secure.identity
        for token in (self._link_door(me.humd_id), pair_token(me.humd_id)):
            self._doors.append(asyncio.create_task(self._door(self.relay, token, on_connection)))
        return self.address

    async def _door(self, relay: str, token: str, on_connection: OnConnection) -> None:
        """Keep one connection waiting under `token`; each one met becomes a TLS server stream."""
        delay = REWAIT_FIRST
        while True:
            try:
                sock = await meet(relay, token, None)
            except ConnectionError as exc:
                log.info("relay door: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, REWAIT_MAX)
                continue
            delay = REWAIT_FIRST
            task = asyncio.create_task(self.secure.accept_socket(sock, on_connection))
            self._doors.append(task)
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._doors.remove(task)

    async def connect(self, address: str) -> Connection:
        device, relay = parse(address)
        sock = await meet(relay, self._link_door(device), MEET_TIMEOUT)
        conn = await self.secure.connect_socket(sock, address)
        if conn.peer_humd_id != device:
            conn.close()
            raise ConnectionError(f"{address}: the relay joined us to another sibling ({conn.peer_humd_id})")
        return conn

    def _link_door(self, humd_id: str) -> str:
        if self.relay_key is not None:
            return secret_link_token(self.relay_key, humd_id)
        return link_token(self.secure.identity.operator.fingerprint, humd_id)

    async def close(self) -> None:
        for task in self._doors:
            task.cancel()
        self._doors.clear()
