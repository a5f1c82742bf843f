"""How the devices of `hum chaos --real` reach each other, and the strangers waiting at the transit relay.

The phone reaches the laptop through a transit relay (`hum relay`, a real
process) while squatters hold connections open there: some say nothing, some
send junk, some wait at the laptop's old link door (the one anyone can compute
from its certificate), meet whoever comes and hang up. The tablet reaches the
laptop over TCP, and the phone over iroh where iroh is installed (over TCP
where it is not). Each device's way to the laptop runs through its own
LatencyRelay, so a partition still holds its bytes in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from hum.demo.reach import LOOPBACK, Reach, free_udp_port
from hum.ensemble.transports import iroh, relay
from hum.wire.addresses import split_address

# Squatters of each kind. The relay's own caps are in the thousands; a handful
# of each kind shows the doors still work beside them without loading a shared 2-core machine.
SQUATTERS = 4
# Between a squatter's hang-up and its next connection: steady pressure, not a flood.
SQUAT_PAUSE = 0.2
# A door squatter waits this long at the door before it tries again.
SQUAT_WAIT = 1.0
# What a junk squatter sends: no `please relay` line the relay could parse.
JUNK_BYTES = 96


class Links:
    """The transit relay, the squatters at it, and the `hum up` flags that make each pair's link."""

    def __init__(self, devices: int) -> None:
        self.devices = devices
        self.transit = Reach("relay")
        self.iroh = devices == 3 and iroh.available()
        self.iroh_port = free_udp_port() if self.iroh else 0  # the phone's ticket stays the same across its restarts
        self.squatters: list[asyncio.Task[None]] = []
        self.stop = asyncio.Event()
        self.squats = 0  # connections the squatters opened over the run

    def transports(self) -> dict[str, str]:
        """Which transport each pair of devices links over, as the run's JSON says."""
        used = {"laptop-phone": "relay"}
        if self.devices == 3:
            used |= {"laptop-tablet": "tcp", "phone-tablet": "iroh" if self.iroh else "tcp"}
        return used

    async def start(self) -> None:
        await self.transit.start()

    def laptop_args(self) -> list[str]:
        return self.transit.laptop_args()

    def transit_target(self) -> tuple[str, int]:
        """Where the phone's LatencyRelay forwards to: the transit relay."""
        return split_address(self.transit.relay_address)

    def phone_peer(self, laptop_id: str, via: int) -> str:
        """The laptop as the phone dials it: at the transit relay, through the phone's LatencyRelay on port `via`."""
        return f"relay:{laptop_id}@{LOOPBACK}:{via}"

    def phone_args(self) -> list[str]:
        if not self.iroh:
            return []
        return ["--iroh", "--iroh-relay", iroh.NO_RELAYS, "--iroh-bind", f"{LOOPBACK}:{self.iroh_port}"]

    def tablet_args(self, phone: dict[str, Any], phone_port: int | None) -> list[str]:
        """The tablet dials the phone: at its iroh ticket, or at its TCP port."""
        if self.iroh:
            return ["--iroh", "--iroh-relay", iroh.NO_RELAYS, "--iroh-bind", f"{LOOPBACK}:0", "--peer", str(phone["iroh"])]
        return ["--peer", f"{LOOPBACK}:{phone_port}"]

    def squat(self, laptop: dict[str, Any]) -> None:
        """Strangers at the relay from now on: silent, junk, and at the laptop's computable old door."""
        door = relay.link_token(laptop["operator"], laptop["humdId"])
        for _ in range(SQUATTERS):
            self.squatters += [
                asyncio.ensure_future(self._hold(b"")),
                asyncio.ensure_future(self._hold(os.urandom(JUNK_BYTES) + b"\n")),
                asyncio.ensure_future(self._at_door(door)),
            ]

    async def _hold(self, junk: bytes) -> None:
        """A connection that sends `junk` (or nothing) and stays until the relay closes it; then another."""
        host, port = self.transit_target()
        while not self.stop.is_set():
            with contextlib.suppress(OSError, ConnectionError):
                reader, writer = await asyncio.open_connection(host, port)
                self.squats += 1
                writer.write(junk)
                with contextlib.suppress(OSError, ConnectionError):
                    await reader.read()  # until the relay hangs up (its unmatched timeout, or at once for junk)
                writer.close()
            await asyncio.sleep(SQUAT_PAUSE)

    async def _at_door(self, token: str) -> None:
        """Wait at a door, meet whoever comes (the laptop waits at its secret door, so only other squatters), hang up."""
        while not self.stop.is_set():
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                self.squats += 1
                sock = await relay.meet(self.transit.relay_address, token, SQUAT_WAIT)
                sock.close()
            await asyncio.sleep(SQUAT_PAUSE)

    async def close(self) -> None:
        self.stop.set()
        for task in self.squatters:
            task.cancel()
        await asyncio.gather(*self.squatters, return_exceptions=True)
        await self.transit.close()
