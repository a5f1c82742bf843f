"""How the phone reaches the laptop in `hum demo roam --real`: TCP, iroh, or a transit relay.

`tcp` is today's story (the laptop's ensemble port, through the latency relay).
`iroh` and `relay` run with no TCP listener at all: iroh with direct addresses
only and no relays (offline), the transit relay started here as `hum relay`.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path
from typing import Any

from hum.daemon.home import Home
from hum.ensemble.transports import iroh, relay
from hum.ensemble.transports.tcp import SERVER_NAME
from hum.ensemble.trust.identity import Identity

TRANSPORTS = ("tcp", "iroh", "relay")
# `hum relay` is a Python start-up plus Twisted's: well under this.
RELAY_START_TIMEOUT = 30.0
# Polls for the relay's port are condition waits; this is their granularity.
POLL_INTERVAL = 0.02
LOOPBACK = "127.0.0.1"


def free_udp_port() -> int:
    """A UDP port free now: the laptop's iroh endpoint keeps it across a restart, as its ticket says."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


class Reach:
    """One way between the two devices: the `hum up` flags each side gets, and how a stranger dials in."""

    def __init__(self, transport: str) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport {transport!r} is not one of {', '.join(TRANSPORTS)}")
        self.transport = transport
        self.iroh_port = free_udp_port() if transport == "iroh" else 0
        self.relay_address = f"{LOOPBACK}:{free_tcp_port()}" if transport == "relay" else ""
        self.relay_process: asyncio.subprocess.Process | None = None

    @property
    def over_tcp(self) -> bool:
        return self.transport == "tcp"

    async def start(self) -> None:
        """Start the transit relay (relay only) and wait until it takes connections."""
        if self.transport != "relay":
            return
        self.relay_process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hum.cli", "relay", "--listen", self.relay_address,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        host, port = self.relay_address.split(":")
        deadline = time.monotonic() + RELAY_START_TIMEOUT
        while True:
            try:
                _, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                if time.monotonic() > deadline or self.relay_process.returncode is not None:
                    raise RuntimeError(f"hum relay did not start at {self.relay_address}") from None
                await asyncio.sleep(POLL_INTERVAL)
                continue
            writer.close()
            return

    def laptop_args(self) -> list[str]:
        if self.transport == "iroh":
            return ["--iroh", "--iroh-relay", iroh.NO_RELAYS, "--iroh-bind", f"{LOOPBACK}:{self.iroh_port}"]
        if self.transport == "relay":
            return ["--relay", self.relay_address]
        return []

    def phone_args(self) -> list[str]:
        if self.transport == "iroh":  # an endpoint to dial from, offline: no relays
            return ["--iroh", "--iroh-relay", iroh.NO_RELAYS, "--iroh-bind", f"{LOOPBACK}:0"]
        return []

    async def open_tls(
        self, laptop_info: dict[str, Any], context: Any, device: Identity | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TLS stream to the laptop the way a sibling would dial it, as `device` (with `context`)."""
        if self.transport == "tcp":
            host, _, port = str(laptop_info["listen"]).rpartition(":")
            return await asyncio.open_connection(host, int(port), ssl=context, server_hostname=host)
        if self.transport == "iroh":
            secret = iroh.device_secret(device) if device is not None else None
            endpoint = await iroh.bind(secret, iroh.NO_RELAYS, f"{LOOPBACK}:0")
            sock, _ = await iroh.open_stream(endpoint, laptop_info["iroh"])
        else:  # at the laptop's own link door, as if its secret leaked: the token is right, only TLS stands in the way
            key = Home(Path(laptop_info["thrum"]).parent).relay_key()  # the demo's humds keep their socket in their home
            token = relay.secret_link_token(key, laptop_info["humdId"]) if key else relay.link_token(laptop_info["operator"], laptop_info["humdId"])
            sock = await relay.meet(self.relay_address, token, relay.MEET_TIMEOUT)
        return await asyncio.open_connection(sock=sock, ssl=context, server_hostname=SERVER_NAME)

    async def close(self) -> None:
        if self.relay_process is not None and self.relay_process.returncode is None:
            self.relay_process.terminate()
            await self.relay_process.wait()
