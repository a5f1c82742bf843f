"""The sim: several humds in one process on an in-memory network, with synthetic nestlers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.ensemble.transports.memory import MemoryNetwork
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import DeviceKey, OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck
from hum.node.humd import Humd, LoopClock
from hum.node.session import NestlerSession
from hum.store.sqlite import SqliteStore
from hum.wire.framing import LineDecoder, encode
from hum.wire.tones import Tone, rid

# Waits in the sim are on virtual time: generous, yet a hang still fails fast.
DEFAULT_WAIT = 30.0


# The sim's wall clocks start here (2026-01-01 UTC), so a run reads the same wall times every time.
SIM_EPOCH_MS = 1_767_225_600_000.0


class SkippingClock(LoopClock):
    """The loop's (virtual) time, and a wall clock on it that can jump ahead as a laptop's does after a
    week asleep: how the sim tests what counts in days (retention) without living through them. Both are
    virtual, so a seeded run decides the same way every time (a mint's `born` is a wall time)."""

    def __init__(self) -> None:
        self.skipped_ms = 0.0

    def wall_ms(self) -> float:
        return SIM_EPOCH_MS + self.monotonic() * 1000.0 + self.skipped_ms

    def skip(self, seconds: float) -> None:
        self.skipped_ms += seconds * 1000.0


@dataclass
class Seen:
    """One tone a synthetic nestler received, with the (virtual) time it arrived."""

    at: float
    tone: Tone


@dataclass
class SimNestler:
    """A synthetic nestler attached to one humd; records every tone it receives.

    It speaks NDJSON bytes through the same session, line decoder and
    encoder as a thrum socket client; only the socket is left out.
    """

    humd: Humd
    session: NestlerSession
    seen: list[Seen] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None
    _decoder: LineDecoder = field(default_factory=LineDecoder)

    def start(self) -> SimNestler:
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            data = await self.session.next_bytes()
            now = asyncio.get_running_loop().time()
            self.seen.extend(Seen(now, t) for t in self._decoder.receive_data(data) if isinstance(t, Tone))
            self._arrived.set()
            self._arrived = asyncio.Event()

    def send(self, chi: str, **fields: Any) -> Tone:
        tone = Tone.make(chi, rid=fields.pop("rid", None) or rid(), **fields)
        self.session.feed(encode(tone))
        return tone

    def send_bytes(self, data: bytes) -> None:
        """Raw bytes, as a client on the thrum socket might write them (partial lines, junk)."""
        self.session.feed(data)

    async def wait_for(self, predicate: Callable[[Tone], bool], *, after: int = 0, timeout: float = DEFAULT_WAIT) -> Seen:
        """The first tone (from index `after`) matching `predicate`, waiting for it if need be."""

        async def scan() -> Seen:
            i = after
            while True:
                while i < len(self.seen):
                    if predicate(self.seen[i].tone):
                        return self.seen[i]
                    i += 1
                await self._arrived.wait()

        return await asyncio.wait_for(scan(), timeout)

    def tones(self, chi: str | None = None, sigil: str | None = None) -> list[Tone]:
        return [
            s.tone
            for s in self.seen
            if (chi is None or s.tone.chi == chi) and (sigil is None or s.tone.get("sigil") == sigil)
        ]

    def close(self) -> None:
        if self._reader:
            self._reader.cancel()
        self.session.close()


async def until(condition: Callable[[], bool], what: str, timeout: float = DEFAULT_WAIT) -> None:
    """Poll `condition` on the loop's (virtual) time until it holds, or fail naming `what`: for what has no event
    of its own, such as a link-up's announcements arriving."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.01)


class Sim:
    """Spawn humds of one operator on a `MemoryNetwork`; wire, attach, partition and kill them."""

    def __init__(self, rtt: float = 0.06, tokens_per_second: float = 20.0) -> None:
        self.network = MemoryNetwork(one_way_latency=rtt / 2)
        self.rtt = rtt
        self.operator = OperatorKey.generate()
        self.tokens_per_second = tokens_per_second
        self.humds: dict[str, Humd] = {}
        self.nestlers: list[SimNestler] = []

    def identity(self, name: str, seed: str | None = None) -> Identity:
        """A device of the sim's operator; with `seed`, its key (and so its HumdId, which breaks ties
        between adoptions) is the same in every run: a seeded chaos schedule replays exactly."""
        if seed is None:
            return Identity.mint(self.operator, name)
        key = Ed25519PrivateKey.from_private_bytes(random.Random(seed).randbytes(32))  # a sim's key, never a device's
        return Identity.mint(self.operator, name, DeviceKey(key))

    async def spawn(
        self,
        name: str,
        *,
        identity: Identity | None = None,
        brood: Brood | None = None,
        store: SqliteStore | None = None,
        clock: SkippingClock | None = None,
    ) -> Humd:
        """A humd on the network at `mem://<name>`; give it a file `store` to survive a kill and respawn."""
        identity = identity or self.identity(name)
        if brood is None:
            tps = self.tokens_per_second
            brood = Brood({"scripted": lambda: ScriptedWorker(tokens_per_second=tps)}, "scripted")
        humd = Humd(
            identity,
            SiblingCheck(identity.operator),
            self.network.transport(f"mem://{name}"),
            brood,
            name=name,
            # the daemon's store, in memory: the sim takes the same durable-before-delivery path
            store=store or SqliteStore(Path(":memory:")),
            clock=clock or SkippingClock(),
        )
        await humd.start()
        self.humds[name] = humd
        return humd

    async def link(self, a: Humd, b: Humd) -> None:
        """`a` adds `b` as a peer; returns once both list each other."""
        assert b.address is not None
        a.add_peer(b.address)
        await asyncio.wait_for(a.wait_peers(lambda p: b.id in p), DEFAULT_WAIT)
        await asyncio.wait_for(b.wait_peers(lambda p: a.id in p), DEFAULT_WAIT)

    def nestler(self, humd: Humd, name: str) -> SimNestler:
        nestler = SimNestler(humd, humd.open_nestler(name)).start()
        self.nestlers.append(nestler)
        nestler.send("hello", bee=name, protoVersion=1, chis=["prompt", "chunk", "finish", "error"])
        return nestler

    async def kill(self, humd: Humd) -> None:
        """Process death: connections reset, no goodbye, every task stops."""
        assert humd.address is not None
        self.network.kill(humd.address)
        await humd.abort()

    async def close(self) -> None:
        readers = [n._reader for n in self.nestlers if n._reader is not None]
        for nestler in self.nestlers:
            nestler.close()
        await asyncio.gather(*readers, return_exceptions=True)
        for humd in self.humds.values():
            await humd.abort()
