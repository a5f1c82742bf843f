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
from hum.ensemble.ensemble import Ensemble
from hum.ensemble.trust.certificates import HumdId
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.siblings import SiblingCheck
from hum.errors import BadTone, HumError, StoreError, WorkerError
from hum.interfaces import Clock, Commit, Connection, Delta, Done, PermissionAsk, Store, Transport
from hum.node import effects as fx
from hum.node.attention import Attention
from hum.node.bloom_runner import run_blooms
from hum.node.blooms import BloomRequest
from hum.node.config import RouterConfig
from hum.node.delivery import Delivery, Pusher
from hum.node.link_runner import LinkBook, LinkRunner, dial_forever
from hum.node.owners import Owner
from hum.node.projects import Project, ProjectBook
from hum.node.router import Router
from hum.node.session import NestlerSession
from hum.store.instant import InstantStore
from hum.wire.framing import DEFAULT_MAX_LINE
from hum.wire.tones import Tone

log = logging.getLogger(__name__)

# How often the drone looks at blooms.
DRONE_TICK = 1.0
# After a failed commit (disk full, I/O error) try again this soon, then back
# off: a full disk is often freed within seconds, and retrying costs one
# rolled-back transaction.
RETRY_FIRST = 0.05
RETRY_MAX = 5.0


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
        config: RouterConfig | None = None,
    ) -> None:
        self.identity = identity
        self.check = check
        self.transport = transport
        self.brood = brood
        self.name = name
        self.max_line = max_line
        config = config or RouterConfig(nest=nest)
        self.router = Router(identity, check, clock or LoopClock(), config=config, archive=store)
        self.store: Store = store if store is not None else InstantStore()
        self.address: str | None = None
        self.stopping = False
        self.on_revoked: Callable[[str, str | None], None] = lambda humd_id, signature: None
        self.delivery = Delivery(self.router.outbox)
        self.links = LinkBook()
        self._blooming: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._peers_changed = asyncio.Event()

    # -- what the router knows, read through ------------------------------------

    @property
    def id(self) -> HumdId:
        return self.router.facts.me

    @property
    def hums(self) -> dict[str, Hum]:
        return self.router.hums

    @property
    def ensemble(self) -> Ensemble:
        return self.router.ensemble

    @property
    def nest(self) -> str:
        """The nest kind a prompt with no `nest` mints its hum in."""
        return self.router.config.nest

    def peers(self) -> list[str]:
        return self.router.peers()

    # What surfaces may read of the hums (they never reach into the router).

    def hum(self, sg: str) -> Hum | None:
        """Hum `sg` as this device holds it (its home's log, or a replica), or None."""
        return self.router.hums.get(sg)

    def knows(self, sg: str) -> bool:
        """True when this humd knows hum `sg`: its own, a mirror, or announced by a peer."""
        return sg in self.router.hums or self.router.ensemble.lookup(sg) is not None

    def device_names(self) -> dict[str, str]:
        """HumdId -> the name its person gave it, for every device this humd has heard of."""
        return dict(self.router.ensemble.names)

    def continuing(self, key: bytes) -> str | None:
        """The hum whose whole log is the transcript with key `key` (a stateless client's conversation)."""
        return self.router.continuing(key)

    @property
    def attention(self) -> Attention:
        """Who watches which hum, and how far each has been read (the notifier and the push surface read it)."""
        return self.router.attention

    @property
    def projects(self) -> ProjectBook:
        """The ensemble's projects as this device knows them (read it; change this device's with `set_projects`)."""
        return self.router.projects

    def project_listing(self) -> list[dict[str, Any]]:
        """Every project of the ensemble known here, with where it lives and whether that device is linked."""
        names = {**self.router.ensemble.names, self.id: self.name}
        return self.router.projects.listing(self.router.ensemble.is_linked, names)

    def set_projects(self, projects: list[Project]) -> None:
        """This device's projects (from its home): every linked sibling hears them."""
        self.apply(self.router.set_projects(projects))

    def health(self) -> dict[str, Any]:
        """Retention and the store, as `/hum/status` shows them."""
        fault = self.router.fault
        store: dict[str, Any] = {"ok": True} if fault is None else {"ok": False, "fault": fault.qualifier, "message": fault.message}
        store["damaged"] = [d.as_status() for d in self.store.damaged]  # hums set aside at start: their rows do not read
        return {"retention": self.router.retention.status(), "store": store}

    def live_links(self) -> int:
        """Links up right now (one per peer, however many dials crossed)."""
        return self.links.live()

    def list_hums(self) -> list[dict[str, Any]]:
        return self.router.list_hums()

    def recent_hums(self, limit: int) -> list[dict[str, Any]]:
        """The `limit` most recently active hums, newest first (what a breath lists)."""
        return self.router.facts.recent_hums(limit)

    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    # -- carrying out effects ------------------------------------------------------

    def apply(self, effects: list[fx.Effect]) -> None:
        """Carry out what the router decided, in order."""
        for effect in effects:
            _CARRY_OUT[type(effect)](self, effect)

    def _start_bloom(self, effect: fx.StartBloom) -> None:
        if effect.sigil not in self._blooming:
            task = self._blooming[effect.sigil] = self._spawn(run_blooms(self, effect.sigil))
            task.add_done_callback(lambda _t, s=effect.sigil: self._blooming.pop(s, None))

    def _cut_link(self, effect: fx.CutLink) -> None:
        self.links.cut(effect.owner)
        self.delivery.close(effect.owner)

    def _peers_moved(self, _effect: fx.PeersChanged) -> None:
        self._peers_changed.set()
        self._peers_changed = asyncio.Event()

    def _committed(self, commit: Commit) -> None:
        """The store made these durable: taps may read them, and waiting prompts are told their place."""
        for hum, wane in commit.durable:
            self.apply(self.router.durable(hum, wane))
        for hum, seq in commit.queued:
            self.apply(self.router.queued(hum, seq))
        for hum in commit.saved:
            self.apply(self.router.saved(hum))

    async def next_tones(self, owner: Owner, *, lines: bool = False) -> list[Tone]:
        """Wait until `owner` is owed something, then take it (petals as lines with `lines`)."""
        return await self.delivery.next_tones(owner, lines=lines)

    def push_to(self, owner: Owner, pusher: Pusher) -> None:
        """Write what `owner` is owed straight from the wake, while its transport takes bytes at once."""
        self.delivery.push_to(owner, pusher)

    def nestler_tone(self, owner: Owner, item: Tone | BadTone) -> None:
        self.apply(self.router.nestler_tone(owner, item))

    def bloom_request(self, sg: str) -> BloomRequest | None:
        return self.router.bloom_request(sg)

    def worker_event(self, sg: str, *events: Delta | Done | PermissionAsk | WorkerError) -> None:
        self.apply(self.router.worker_event(sg, *events))

    def link_heard(self, peer: str) -> None:
        self.router.link_heard(peer)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> str:
        """Take back the stored hums, then listen; returns the address peers dial."""
        self.apply(self.router.load(self.store.load(self.router.facts.tracker), self.store.tombstones()))
        self.router.load_touched(self.store.touched())
        self.address = await self.transport.listen(self._accept)
        self._spawn(self._drone_loop())
        self._spawn(self._committer())
        return self.address

    async def stop(self) -> None:
        """Clean shutdown: goodbye to peers, flush the store, stop every task."""
        self.stopping = True
        self.links.cut_all()
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

    async def _committer(self) -> None:
        """Commit what is pending as soon as the last commit returned; retry a failed one with backoff."""
        delay, fault = RETRY_FIRST, None
        while True:
            await self.store.wait_pending()
            await asyncio.sleep(0)  # let the appends of this moment join the batch
            try:
                commit = self.store.flush()
            except StoreError as exc:
                if fault is None or fault.qualifier != exc.qualifier:
                    log.error("store: commit failed, retrying: %s", exc.message)
                fault = exc
                self.apply(self.router.store_fault(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_FIRST
            if fault is not None:
                log.warning("store: commits work again")
                fault = None
                self.apply(self.router.store_fault(None))
            self._committed(commit)

    # -- nestlers ---------------------------------------------------------------------

    def open_nestler(self, name: str | None = None, bee: str | None = None) -> NestlerSession:
        owner = self.router.open_nestler(name, bee)  # `bee`: greeted already, as an in-process surface is
        self.delivery.open(owner)
        return NestlerSession(self, owner, self.max_line)

    def close_owner(self, owner: Owner) -> None:
        self.delivery.close(owner)
        self.apply(self.router.close_owner(owner))

    def mint(self, sid: str, nest: str | None = None) -> Hum:
        """Create a hum homed here and tell the ensemble."""
        hum, effects = self.router.mint(sid, nest)
        self.apply(effects)
        return hum

    async def forget(self, sg: str) -> Tone:
        """Forget hum `sg` as a nestler's `forget` would: the `forgotten` answer (once the removal is
        stored), or the `error` refusing it (a store that cannot write says so at once)."""
        session = self.open_nestler("forget")
        try:
            for tone in (Tone(chi="hello", bee="hum-forget"), Tone(chi="forget", sigil=sg, rid="forget")):
                session.receive(tone)
            while True:
                answer = next((t for t in await session.next_tones() if t.get("rid") == "forget"), None)
                if answer is not None:
                    return answer
        finally:
            session.close()

    # -- links --------------------------------------------------------------------------

    def add_peer(self, address: str) -> None:
        """Dial `address` and keep the link up (redial with backoff when it drops)."""
        self.links.dial(address, lambda: self._spawn(dial_forever(self, address)))

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
            self.links.up(owner, cut)
            self.delivery.open(owner)
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
        if owner is not None and self.links.ended(owner):
            self.delivery.close(owner)
            self.apply(self.router.link_down(owner))

    def revoke(self, humd_id: str, signature: bytes | None = None) -> HumdId:
        """Refuse `humd_id` from now on and cut its link; a signed revocation spreads to all siblings."""
        hid, effects = self.router.revoke(humd_id, signature)
        self.apply(effects)
        return hid

    def disconnect(self, peer: str) -> None:
        """Cut the link to `peer` now: goodbye, then gone from `peers()`."""
        self.apply(self.router.disconnect(peer))


def _persist(humd: Humd, effect: fx.Persist) -> None:
    humd.store.append(effect.hum, effect.petal, effect.transcript)
    if effect.dequeued is not None:
        humd.store.dequeue_prompt(effect.hum, effect.dequeued)


# How each effect is carried out: one entry a kind, so a new effect is one line here.
_CARRY_OUT: dict[type, Callable[[Humd, Any], None]] = {
    fx.Wake: lambda humd, e: humd.delivery.wake(e.owner),
    fx.Persist: _persist,
    fx.PersistRun: lambda humd, e: humd.store.append_run(e.hum, e.run),
    fx.QueuePrompt: lambda humd, e: humd.store.queue_prompt(e.hum, e.seq, e.body),
    fx.Orphan: lambda humd, e: humd.store.orphan(e.hum, e.keep, e.epoch, e.born),
    fx.SaveHum: lambda humd, e: humd.store.save_hum(e.hum, e.touched),
    fx.Forget: lambda humd, e: humd.store.forget(e.hum, e.tombstone),
    fx.RepairPetal: lambda humd, e: humd.store.repair(e.hum, e.petal),
    fx.StartBloom: Humd._start_bloom,
    fx.CancelBloom: lambda humd, e: humd._spawn(humd.brood.cancel(e.sigil)),
    fx.ReleasePermit: lambda humd, e: humd._spawn(humd.brood.release(e.sigil, e.permit_id, e.decision, e.message)),
    fx.CutLink: Humd._cut_link,
    fx.PeersChanged: Humd._peers_moved,
    fx.Revoked: lambda humd, e: humd.on_revoked(e.humd_id, e.signature),
}
