"""Pairing over the network: the desk on the device holding the operator key, and `join`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from hum.ensemble.transports import iroh, relay
from hum.ensemble.transports.tcp import CONNECT_TIMEOUT, SERVER_NAME
from hum.ensemble.trust.certificates import HumdId
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import DeviceKey, OperatorKey
from hum.ensemble.trust.pairing import PairingGuest, PairingHost
from hum.ensemble.trust.pairing_code import EXPIRED_CODE, USED_CODE, PairingCode
from hum.ensemble.trust.tls import pairing_client_context
from hum.errors import PairingError
from hum.wire.addresses import IROH, TCP, split_address, transport_of

# Pairing messages are a few kilobytes (a certificate or two); anything larger is not ours.
MAX_PAIRING_LINE = 64 * 1024
# Each step is one round trip; a person typing is not in the loop any more.
STEP_TIMEOUT = 30.0
# Why a message was refused goes back to the guest, cut to one readable line.
_MAX_ERROR_ECHO = 200


@dataclass
class PairingTicket:
    """One code shown to the operator, and what became of it."""

    code: PairingCode
    done: asyncio.Future[HumdId] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class PairingDesk:
    """Hands out one-time codes and serves the pairing exchange for them (operator-key device only)."""

    def __init__(self, operator_key: OperatorKey | None, relay_key: bytes | None = None) -> None:
        self.operator_key = operator_key
        self.relay_key = relay_key  # handed to every device paired here (its relay doors)
        self.ticket: PairingTicket | None = None

    def open(self) -> PairingTicket:
        """A fresh code; any earlier unused code is withdrawn."""
        if self.operator_key is None:
            raise PairingError("no-operator-key", "this device does not hold the operator key; pair from the first device")
        if self.ticket is not None and not self.ticket.done.done():
            self.ticket.done.set_exception(PairingError("aborted", "a newer pairing code replaced this one"))
            self.ticket.done.exception()  # retrieved: nobody may be waiting on it
        self.ticket = PairingTicket(PairingCode.generate(time.time()))
        return self.ticket

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One guest's exchange, on a TLS connection that presented no certificate."""
        ticket = self.ticket
        if self.operator_key is None:
            message = "that device does not hold the operator key, so it cannot add devices; run `hum pair` on the first device (where `hum operator init` ran) and join that one"
            await _send(writer, _refusal("no-operator-key", message))
            return
        if ticket is None:
            await _send(writer, _refusal("no-pairing", "no pairing code is open on that device; run `hum pair` there to show one"))
            return
        if ticket.done.done():
            failure = ticket.done.exception()
            if failure is None:
                await _send(writer, _refusal("used-code", "this pairing code was already used to add a device; run `hum pair` again to add another"))
            elif isinstance(failure, PairingError) and failure.qualifier == "expired-code":
                await _send(writer, _refusal("expired-code", EXPIRED_CODE))
            else:
                await _send(writer, _refusal("used-code", USED_CODE))
            return
        host = PairingHost(self.operator_key, ticket.code, relay_key=self.relay_key)
        broke_off: PairingError | None = None
        try:
            while not host.finished:
                msg = await _receive(reader)
                if msg is None:
                    broke_off = PairingError("aborted", "the new device hung up mid-pairing")
                    break
                for reply in host.receive(msg, time.time()):
                    await _send(writer, reply)
        except TimeoutError:
            broke_off = PairingError("timeout", "the new device stopped answering")
        except ConnectionError:
            broke_off = PairingError("aborted", "the connection broke mid-pairing")
        except (ValueError, RecursionError) as exc:  # not a pairing message: say so before hanging up
            broke_off = PairingError("bad-message", str(exc) if isinstance(exc, ValueError) else "the message nests too deeply")
            with contextlib.suppress(ConnectionError):
                await _send(writer, {"chi": "pair-error", "qualifier": "bad-message", "message": broke_off.message[:_MAX_ERROR_ECHO]})
        if ticket.done.done():
            return
        failure = host.error or (broke_off if ticket.code.used else None)  # an unspent code stays open
        if host.done and host.issued is not None:
            ticket.done.set_result(host.issued.humd_id)
        elif failure is not None:
            ticket.done.set_exception(failure)
            ticket.done.exception()


async def _open(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TLS stream (no client certificate) to the device at `address`, over its transport."""
    scheme, _ = transport_of(address)
    if scheme == TCP:
        host, port = split_address(address)
        return await asyncio.open_connection(host, port, ssl=pairing_client_context(), server_hostname=host)
    if scheme == IROH:
        # a throwaway endpoint: this device has no key the ensemble knows yet
        target = iroh.endpoint_addr(address)
        endpoint = await iroh.bind(None, target.relay_url() or iroh.NO_RELAYS, None)
        sock, _ = await iroh.open_stream(endpoint, address)
    else:
        device, relay_address = relay.parse(address)
        sock = await relay.meet(relay_address, relay.pair_token(device), relay.MEET_TIMEOUT)
    return await asyncio.open_connection(sock=sock, ssl=pairing_client_context(), server_hostname=SERVER_NAME)


async def join(code: str, address: str, name: str) -> tuple[Identity, bytes | None]:
    """Run the guest side against `address`; returns this device's new identity and the relay door secret."""
    try:
        reader, writer = await asyncio.wait_for(_open(address), CONNECT_TIMEOUT)
    except ssl.SSLError as exc:  # something answered, but not hum's TLS: most often the HTTP port
        raise PairingError(
            "not-a-humd",
            f"{address} does not speak hum's pairing ({exc.reason or exc}); is that the HTTP port? "
            "pass the ensemble address `hum pair` printed (the `--listen` port, 7433 by default)",
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise PairingError("unreachable", f"cannot reach {address}: {exc}") from exc
    guest = PairingGuest(code, DeviceKey.generate(), name)
    try:
        await _send(writer, guest.start())
        while not guest.finished:
            msg = await _receive(reader)
            if msg is None:
                raise PairingError("aborted", f"{address} closed the connection mid-pairing")
            for reply in guest.receive(msg):
                await _send(writer, reply)
    except (TimeoutError, ConnectionError) as exc:
        raise PairingError("aborted", f"pairing with {address} broke off: {exc}") from exc
    finally:
        writer.close()
    return guest.result, guest.relay_key


def _refusal(qualifier: str, message: str) -> dict[str, Any]:
    return {"chi": "pair-error", "qualifier": qualifier, "message": message}


async def _send(writer: asyncio.StreamWriter, msg: dict[str, Any]) -> None:
    writer.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
    await writer.drain()


async def _receive(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    line = await asyncio.wait_for(reader.readline(), STEP_TIMEOUT)
    if not line:
        return None
    if len(line) > MAX_PAIRING_LINE:
        raise ValueError(f"a pairing message is at most {MAX_PAIRING_LINE} bytes")
    try:
        msg = json.loads(line)
    except ValueError as exc:
        raise ValueError("a pairing message is one JSON object per line") from exc
    if not isinstance(msg, dict):
        raise ValueError("a pairing message is a JSON object")
    return msg
