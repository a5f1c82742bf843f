"""Humd: the asyncio shell around the router. It owns tasks, links, the store's committer and the drone's ticks.

The sim and the real daemon both run this class; they differ only in the
transport (in-memory or TLS over TCP), where SQLite keeps the store (memory
or the home) and the clock (virtual or real). Every decision is the
router's; this class feeds it inputs and carries out its effects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from hum.brood.pool import Brood
from hum.core.hum import Hum
from hum.ensemble.certificates import HumdId
from hum.ensemble.ensemble import Ensemble
from hum.ensemble.identity import Identity, SiblingCheck
from hum.errors import HumError
from hum.interfaces import Clock, Connection, Store, Transport
from hum.node.blooms import run_blooms
from hum.node.effects import (
    CancelBloom,
    CutLink,
    Effect,
    Forget,
    Orphan,
    PeersChanged,
    Persist,
    QueuePrompt,
    ReleasePermit,
    Revoked,
    SaveHum,
    StartBloom,
    Wake,
)
from hum.node.links import LinkRunner, dial_forever
from hum.node.owners import Owner
from hum.node.router import Router
from hum.node.session import NestlerSession, Pusher
from hum.node.state import PULL_BATCH
from hum.wire.framing import DEFAULT_MAX_LINE, lines
from hum.wire.tones import Tone

log = logging.getLogger(__name__)

# How often the drone looks at blooms.
DRONE_TICK = 1.0


class LoopClock:
    """The event loop's clock for deadlines (virtual in the sim) and the wall clock for `dusk`."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall_ms(self) -> float:
        return time.time() * 1000.0


class Humd:
    """One device's daemon: the router's decisions, carried out with asyncio."""

    def __init__(
        self,
        identity: Identity,
        check: SiblingCheck,
        transport: Transport,
        brood: Brood,
        *,
        name: str = "humd",
        nest: str = "local",
        store: Store | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        clock: Clock | None = None,
    ) -> None:
        self.identity = identity
        self.check = check
        self.id: HumdId = identity.humd_id
        self.transport = transport
        self.brood = brood
        self.name = name
        self.nest = nest
        self.store = store
        self.max_line = max_line
        self.router = Router(identity, check, clock or LoopClock(), nest=nest, archive=store)
        if store is not None:
            store.on_durable = lambda hum, wane: self.apply(self.router.durable(hum, wane))
            store.on_queued = lambda hum, seq: self.apply(self.router.queued(hum, seq))
            store.on_fault = lambda fault: self.apply(self.router.store_fault(fault))
        self.address: str | None = None
        self.stopping = False
        self.on_revoked: Callable[[str, str | None], None] = lambda humd_id, signature: None
        self._wakes: dict[Owner, asyncio.Event] = {}
        self._pushers: dict[Owner, Pusher] = {}  # owners written to straight from the wake
        self._cuts: dict[Owner, Callable[[], None]] = {}  # how to cut each live link
        self._blooming: dict[str, asyncio.Task[None]] = {}
        self._dialling: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._peers_changed = asyncio.Event()

    # -- what the router knows, read through ------------------------------------

    @property
    def hums(self) -> dict[str, Hum]:
        return self.router.hums

    @property
    def ensemble(self) -> Ensemble:
        return self.router.ensemble

    def peers(self) -> list[str]:
        return self.router.peers()

    def live_links(self) -> int:
        """Links up right now (one per peer, however many dials crossed)."""
        return len(self._cuts)

    def list_hums(self) -> list[dict[str, Any]]:
        return self.router.list_hums()

    def bloom_open(self, sg: str) -> bool:
        """Whether hum `sg` has a bloom open, as this humd knows it (its own hums, and replicas it follows)."""
        hum = self.router.hums.get(sg)
        return bool(hum and hum.bloom_open)

    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    # -- carrying out effects ------------------------------------------------------

    def apply(self, effects: list[Effect]) -> None:
        """Carry out what the router decided, in order."""
        for effect in effects:
            if isinstance(effect, Wake):
                if self._push(effect.owner):
                    continue
                event = self._wakes.get(effect.owner)
                if event is not None:
                    event.set()
            elif isinstance(effect, Persist):
                if self.store is None:
                    self.apply(self.router.durable(effect.hum, effect.petal.wane))
                else:
                    self.store.append(effect.hum, effect.petal, effect.transcript)
                    if effect.dequeued is not None:
                        self.store.dequeue_prompt(effect.hum, effect.dequeued)
            elif isinstance(effect, QueuePrompt):
                if self.store is None:
                    self.apply(self.router.queued(effect.hum, effect.seq))
                else:
                    self.store.queue_prompt(effect.hum, effect.seq, effect.body)
            elif isinstance(effect, Orphan):
                if self.store is not None:
                    self.store.orphan(effect.hum, effect.keep, effect.epoch)
            elif isinstance(effect, SaveHum):
                if self.store is not None:
                    self.store.save_hum(effect.hum, effect.touched)
            elif isinstance(effect, Forget):
                if self.store is not None:
                    self.store.forget(effect.hum)
            elif isinstance(effect, StartBloom):
                if effect.sigil not in self._blooming:
                    task = self._blooming[effect.sigil] = self._spawn(run_blooms(self, effect.sigil))
                    task.add_done_callback(lambda _t, s=effect.sigil: self._blooming.pop(s, None))
            elif isinstance(effect, CancelBloom):
                self._spawn(self.brood.cancel(effect.sigil))
            elif isinstance(effect, ReleasePermit):
                self._spawn(self.brood.release(effect.sigil, effect.permit_id, effect.decision, effect.message))
            elif isinstance(effect, CutLink):
                cut = self._cuts.pop(effect.owner, None)
                if cut is not None:
                    cut()
                self._wakes.pop(effect.owner, None)
            elif isinstance(effect, PeersChanged):
                self._peers_changed.set()
                self._peers_changed = asyncio.Event()
            elif isinstance(effect, Revoked):
                self.on_revoked(effect.humd_id, effect.signature)

    async def next_tones(self, owner: Owner, *, lines: bool = False) -> list[Tone]:
        """Wait until `owner` is owed something, then take it (petals as lines with `lines`: `Router.pull`)."""
        event = self._wakes.setdefault(owner, asyncio.Event())
        while True:
            tones = self.router.pull(owner, lines=lines)
            if tones:
                if self.router.owes(owner):
                    event.set()
                return tones
            event.clear()
            if self.router.owes(owner):
                continue
            await event.wait()

    def push_to(self, owner: Owner, pusher: Pusher) -> None:
        """Write what `owner` is owed straight from the wake, while its transport takes bytes at once.

        A fan-out then costs one write per tap, not a task switch per tap as
        well; a tap whose transport is backed up is left to its own task (which
        waits for it to drain), so a slow reader never makes this humd buffer more.
        """
        self._pushers[owner] = pusher

    def _push(self, owner: Owner) -> bool:
        """Push to `owner` now if it takes pushes; True when nothing is left for its task."""
        pusher = self._pushers.get(owner)
        if pusher is None or not pusher.ready():
            return False
        owed = self.router.pull(owner, lines=True)
        if owed:
            pusher.write(owed[0] if len(owed) == 1 and isinstance(owed[0], bytes) else lines(owed))
        # a pull short of its batch took everything owed: no need to ask again
        return len(owed) < PULL_BATCH or not self.router.owes(owner)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> str:
        """Take back the stored hums, then listen; returns the address peers dial."""
        if self.store is not None:
            self.apply(self.router.load(self.store.load(self.router.tracker)))
            self.router.touched.update(self.store.touched())
        self.address = await self.transport.listen(self._accept)
        self._spawn(self._drone_loop())
        if self.store is not None:
            self._spawn(self.store.run())
        return self.address

    async def stop(self) -> None:
        """Clean shutdown: goodbye to peers, flush the store, stop every task."""
        self.stopping = True
        for cut in list(self._cuts.values()):
            cut()
        if self.store is not None:
            try:
                self.store.flush()
            except HumError as fault:  # kept nothing back that anyone was shown; said, not raised
                log.error("%s: last commit at shutdown failed: %s", self.name, fault.message)
        await self.transport.close()
        await self._cancel_tasks()

    async def abort(self) -> None:
        """Process death: no goodbye, no flush; every task simply stops."""
        self.stopping = True
        await self._cancel_tasks()

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drone_loop(self) -> None:
        while True:
            await asyncio.sleep(DRONE_TICK)
            self.apply(self.router.tick())

    # -- nestlers ---------------------------------------------------------------------

    def open_nestler(self, name: str | None = None) -> NestlerSession:
        owner = self.router.open_nestler(name)
        self._wakes[owner] = asyncio.Event()
        return NestlerSession(self, owner, self.max_line)

    def close_owner(self, owner: Owner) -> None:
        self._pushers.pop(owner, None)
        self.apply(self.router.close_owner(owner))
        self._wakes.pop(owner, None)

    def mint(self, sid: str, nest: str | None = None) -> Hum:
        """Create a hum homed here and tell the ensemble."""
        hum, effects = self.router.mint(sid, nest)
        self.apply(effects)
        return hum

    def forget(self, sg: str) -> Tone:
        """Forget hum `sg` as a nestler's `forget` would: the `forgotten` answer, or the `error` refusing it."""
        owner = self.router.open_nestler("forget")
        for tone in (Tone(chi="hello", bee="hum-forget"), Tone(chi="forget", sigil=sg, rid="forget")):
            self.apply(self.router.nestler_tone(owner, tone))
        answer = next(t for t in self.router.pull(owner) if t.get("rid") == "forget")
        self.apply(self.router.close_owner(owner))
        return answer

    # -- links --------------------------------------------------------------------------

    def add_peer(self, address: str) -> None:
        """Dial `address` and keep the link up (redial with backoff when it drops)."""
        if address not in self._dialling:
            self._dialling[address] = self._spawn(dial_forever(self, address))

    async def wait_peers(self, predicate: Callable[[list[str]], bool]) -> list[str]:
        """Wait until `predicate(peers())` holds (tests and the CLI wait on this, never sleep)."""
        while not predicate(self.peers()):
            await self._peers_changed.wait()
        return self.peers()

    async def _accept(self, conn: Connection) -> None:
        if self.stopping:
            conn.close()
            return
        task = self._spawn(LinkRunner(self, conn, None).run())
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def link_up(self, peer: HumdId, *, dialled: bool, cut: Callable[[], None], name: str = "") -> Owner | None:
        """A link proved its peer; its owner, or None when it duplicates a live link."""
        owner, effects = self.router.link_up(peer, dialled=dialled, name=name)
        if owner is not None:
            self._cuts[owner] = cut
            self._wakes[owner] = asyncio.Event()
            log.info("%s: linked with %s", self.name, peer[:8])
        self.apply(effects)
        return owner

    def link_tone(self, owner: Owner, tone: Tone) -> None:
        try:
            self.apply(self.router.link_tone(owner, tone))
        except Exception:  # a peer's tone must never take the link down, even through a bug here
            log.exception("%s: a %s tone from %s failed", self.name, tone.get("chi"), owner.name[:8])

    def link_ended(self, owner: Owner | None) -> None:
        """A link's connection ended; if it was still the live link to its peer, the peer is lost."""
        if owner is not None and self._cuts.pop(owner, None) is not None:
            self._wakes.pop(owner, None)
            self.apply(self.router.link_down(owner))

    def revoke(self, humd_id: str, signature: bytes | None = None) -> HumdId:
        """Refuse `humd_id` from now on and cut its link; a signed revocation spreads to all siblings."""
        hid, effects = self.router.revoke(humd_id, signature)
        self.apply(effects)
        return hid

    def disconnect(self, peer: str) -> None:
        """Cut the link to `peer` now: goodbye, then gone from `peers()`."""
        self.apply(self.router.disconnect(peer))
