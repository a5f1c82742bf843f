"""Humd: one device's hums, taps, ensemble links and brood, over any transport.

The sim and the real daemon both run this class; they differ only in the
transport (in-memory or TLS over TCP), where SQLite keeps the store (memory
or the home) and the clock (virtual or real).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from hum.brood.pool import Brood
from hum.brood.transcript import turns as transcript_turns
from hum.brood.worker import Delta, Done, WorkerError
from hum.core.drone import Drone, Verdict
from hum.core.hum import Hum, HumError
from hum.core.petal import Petal
from hum.core.tap import Tap
from hum.core.wane import WaneTracker
from hum.ensemble.ensemble import Ensemble, RouteError
from hum.ensemble.identity import HumdId, Identity, IdentityError, SiblingCheck
from hum.ensemble.link import Link, LinkDown, LinkUp, ToneIn
from hum.ensemble.transport import Connection, Transport
from hum.wire.framing import DEFAULT_MAX_LINE, BadTone
from hum.wire.tones import PROTO_VERSION, Tone, error_tone, is_past_dusk, sigil

log = logging.getLogger(__name__)

# Tones pulled from the log per wake-up: large enough to amortise a write,
# small enough that one busy hum cannot starve the others on a link.
PULL_BATCH = 256
# Redial a lost peer quickly at first, then back off to spare a sleeping phone.
REDIAL_FIRST = 0.2
REDIAL_MAX = 5.0
# How often the drone looks at blooms.
DRONE_TICK = 1.0
# On a link, a petal's own `from` (where a prompt entered) travels here,
# because the envelope `from` must name the link's sender.
PETAL_FROM = "petalFrom"


class Store(Protocol):
    """Where petals become durable before any tap sees them (SQLite; without one, at once)."""

    on_durable: Callable[[Hum, int], None]

    def save_hum(self, hum: Hum) -> None: ...

    def append(self, hum: Hum, petal: Petal) -> None: ...

    async def flush(self) -> None: ...

    def load(self, tracker: WaneTracker) -> list[Hum]: ...

    async def run(self) -> None:
        """Commit appended petals until cancelled, reporting them through `on_durable`."""


class TapOwner:
    """Whoever taps deliver to: a nestler session or a peer humd's link."""

    def __init__(self, humd: Humd, name: str) -> None:
        self.humd = humd
        self.name = name
        self.taps: dict[str, Tap] = {}
        self.replies: deque[Tone] = deque()
        self.wake = asyncio.Event()
        self.closed = False

    def reply(self, tone: Tone) -> None:
        self.replies.append(tone)
        self.wake.set()

    def owed(self) -> list[Tone]:
        """Everything this owner can be sent now, in order per hum."""
        out = list(self.replies)
        self.replies.clear()
        for sigil_, tap in list(self.taps.items()):
            hum = self.humd.hums.get(sigil_)
            if hum is None:
                continue
            # nobody sees a petal before it is stored: a crash never takes one back
            out.extend(tap.pull(hum, PULL_BATCH, hum.durable_tip))
            if tap.ended:
                self.taps.pop(sigil_, None)
                hum.detach(tap.tap_id)
        return out

    def has_more(self) -> bool:
        if self.replies:
            return True
        for sigil_, tap in self.taps.items():
            hum = self.humd.hums.get(sigil_)
            if hum is not None and tap.owes(hum, hum.durable_tip):
                return True
        return False

    async def next_tones(self) -> list[Tone]:
        """Wait until something is owed, then take it."""
        while True:
            tones = self.owed()
            if tones:
                if self.has_more():
                    self.wake.set()
                return tones
            self.wake.clear()
            if self.has_more():
                continue
            await self.wake.wait()


class NestlerSession(TapOwner):
    """One nestler connected to this humd: the local handshake and its hum tones."""

    def __init__(self, humd: Humd, name: str) -> None:
        super().__init__(humd, name)
        self.greeted = False
        self.bee = name

    def receive(self, item: Tone | BadTone) -> None:
        """Handle one tone (or framing verdict) from the nestler."""
        if isinstance(item, BadTone):
            self.reply(item.reply())
            return
        tone = item
        rid = tone.get("rid")
        if is_past_dusk(tone, self.humd.now_ms()):
            if rid is not None:
                self.reply(error_tone("bad-tone", "past-dusk", "the tone arrived after its dusk", rid=rid))
            return
        if not self.greeted and tone.chi != "hello":
            self.reply(error_tone("bad-tone", "no-hello", "say hello first", rid=rid))
            return
        handler = _NESTLER_HANDLERS.get(tone.chi)
        if handler is None:
            self.reply(error_tone("bad-tone", "wrong-direction", f"a nestler does not send {tone.chi!r}", rid=rid))
            return
        try:
            handler(self, tone)
        except RouteError as exc:
            exc.rid = rid
            self.reply(exc.tone(sigil=tone.get("sigil")))
        except BadRequest as exc:
            self.reply(error_tone("bad-tone", exc.qualifier, str(exc), rid=rid))

    def _hello(self, tone: Tone) -> None:
        self.greeted = True
        self.bee = str(tone.get("bee") or tone.get("from") or self.name)
        self.reply(
            Tone(
                chi="breath",
                rid=tone.get("rid"),
                humdId=self.humd.id,
                protoVersion=PROTO_VERSION,
                hums=self.humd.list_hums(),
            )
        )

    def _attach(self, tone: Tone) -> None:
        self.humd.attach(self, _need_str(tone, "sigil"), _since(tone), tone.get("rid"))

    def _detach(self, tone: Tone) -> None:
        self.humd.detach(self, _need_str(tone, "sigil"))

    def _prompt(self, tone: Tone) -> None:
        self.humd.prompt(self, tone)

    def _cancel(self, tone: Tone) -> None:
        self.humd.cancel(_need_str(tone, "sigil"), tone.get("rid"))

    def _hums(self, tone: Tone) -> None:
        self.reply(Tone(chi="hums", rid=tone.get("rid"), hums=self.humd.list_hums()))

    def _peers(self, tone: Tone) -> None:
        self.reply(Tone(chi="peers", rid=tone.get("rid"), peers=self.humd.peers()))
        if tone.get("watch") is True:
            # a fresh `peers` tone at every change, so a nestler can tell when a home is back
            self.humd.peer_watchers[self] = self.humd.peers()

    def close(self) -> None:
        self.humd.close_owner(self)


class BadRequest(ValueError):
    """A tone with a missing or ill-typed field."""

    def __init__(self, qualifier: str, message: str) -> None:
        super().__init__(message)
        self.qualifier = qualifier


def _need_str(tone: Tone, key: str) -> str:
    value = tone.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest("missing-field", f"{tone.chi} needs a string {key!r}")
    return value


def _since(tone: Tone) -> int:
    since = tone.get("since", 0)
    if since is None:
        return 0
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise BadRequest("bad-field", "`since` is a wane: a whole number >= 0")
    return since


_NESTLER_HANDLERS: dict[str, Callable[[NestlerSession, Tone], None]] = {
    "hello": NestlerSession._hello,
    "attach": NestlerSession._attach,
    "detach": NestlerSession._detach,
    "prompt": NestlerSession._prompt,
    "cancel": NestlerSession._cancel,
    "hums": NestlerSession._hums,
    "peers": NestlerSession._peers,
}


class PeerOwner(TapOwner):
    """A linked peer humd, as the owner of the taps it holds on hums homed here."""

    def __init__(self, humd: Humd, peer: str) -> None:
        super().__init__(humd, f"peer:{peer}")
        self.peer = peer


class _LinkRunner:
    """Drives one `Link` over one `Connection`: reader, heartbeat ticker, sender."""

    def __init__(self, humd: Humd, conn: Connection, dialled: str | None) -> None:
        self.humd = humd
        self.conn = conn
        self.dialled = dialled  # address we dialled, or None for an accepted link
        self.link = Link(humd.identity, humd.check, humd.loop_time(), tls_peer=conn.peer_humd_id, max_line=humd.max_line)
        self.owner: PeerOwner | None = None
        self.ticker_wake = asyncio.Event()  # deadlines changed (the link came up)
        self.up = asyncio.Event()  # the peer proved itself; hum tones may flow

    def flush(self) -> None:
        data = self.link.data_to_send()
        if data:
            self.conn.write(data)
            self.link.sent(self.humd.loop_time())

    async def run(self) -> str:
        """Run until the link ends; returns why."""
        self.flush()
        tasks = [
            asyncio.create_task(self._reader()),
            asyncio.create_task(self._ticker()),
            asyncio.create_task(self._sender()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reason = next(iter(done)).result()
        finally:
            for task in tasks:
                task.cancel()
            self.flush()
            self.conn.close()
            self.humd._link_ended(self)
        return reason

    async def _reader(self) -> str:
        while True:
            try:
                data = await self.conn.read()
            except (ConnectionError, OSError) as exc:
                down = self.link.closed_by_transport(f"connection lost: {exc}")
                self._handle([down] if down else [])
                return "reset"
            if not data:
                down = self.link.closed_by_transport("the peer closed the connection")
                self._handle([down] if down else [])
                return "eof"
            if self.link.peer:
                self.humd.drone.link_heard(self.link.peer, self.humd.loop_time())
            if self._handle(self.link.receive_data(data, self.humd.loop_time())):
                return "closed"

    def _handle(self, events: list[Any]) -> bool:
        ended = False
        for event in events:
            if isinstance(event, LinkUp):
                if not self.humd._link_up(self, event.peer):
                    self.link.goodbye()
                    ended = True
                    break
            elif isinstance(event, ToneIn):
                self.humd._link_tone(self, event.tone)
            elif isinstance(event, LinkDown):
                log.info("%s: link to %s down: %s (%s)", self.humd.name, self.link.peer, event.qualifier, event.message)
                ended = True
        self.flush()
        return ended

    async def _ticker(self) -> str:
        while True:
            delay = max(0.0, self.link.next_deadline() - self.humd.loop_time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ticker_wake.wait(), timeout=delay)
            self.ticker_wake.clear()
            if self._handle(self.link.tick(self.humd.loop_time())) or self.link.state == "closed":
                return "timeout"

    async def _sender(self) -> str:
        await self.up.wait()
        owner = self.owner
        assert owner is not None
        while True:
            tones = await owner.next_tones()
            for tone in tones:
                if self.link.state != "up":
                    return "closed"
                self.link.send(_to_link(tone, owner.peer))
            self.flush()
            await self.conn.drain()


def _to_link(tone: Tone, peer: str) -> Tone:
    out = Tone(tone)
    if "from" in out and out.chi in ("prompt", "chunk", "finish", "error") and "wane" in out:
        out[PETAL_FROM] = out.pop("from")
    out["to"] = peer
    return out


def _from_link(tone: Tone) -> Tone:
    out = Tone({k: v for k, v in tone.items() if k not in ("from", "to")})
    if PETAL_FROM in out:
        out["from"] = out.pop(PETAL_FROM)
    return out


class Humd:
    """One device's daemon core: hums it is home to or mirrors, taps, links, brood."""

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
    ) -> None:
        self.identity = identity
        self.check = check
        self.id: HumdId = identity.humd_id
        self.transport = transport
        self.brood = brood
        self.name = name
        self.nest = nest
        self.store = store
        if store is not None:
            store.on_durable = self.stored
        self.max_line = max_line
        self.tracker = WaneTracker()
        self.hums: dict[str, Hum] = {}
        self.ensemble = Ensemble(self.id)
        self.drone = Drone()
        self.address: str | None = None
        self._links: dict[str, _LinkRunner] = {}
        self._owners: dict[str, TapOwner] = {}
        self._replica_requested: set[str] = set()
        self._seeking: dict[str, dict[str, Any]] = {}  # sigil -> owners waiting, peers asked
        self._blooming: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dialling: dict[str, asyncio.Task[None]] = {}
        self._tap_ids = itertools.count(1)
        self._stopping = False
        self._peers_changed = asyncio.Event()
        self.peer_watchers: dict[TapOwner, list[str]] = {}  # nestler -> the peers it was last told
        # operator-signed revocations (HumdId -> signature hex), spread to every sibling
        self.revocations: dict[str, str] = {}
        self.on_revoked: Callable[[str, str | None], None] = lambda humd_id, signature: None

    async def wait_peers(self, predicate: Callable[[list[str]], bool]) -> list[str]:
        """Wait until `predicate(peers())` holds (tests and the CLI wait on this, never sleep)."""
        while not predicate(self.peers()):
            await self._peers_changed.wait()
        return self.peers()

    def _note_peers_changed(self) -> None:
        self._peers_changed.set()
        self._peers_changed = asyncio.Event()
        peers = self.peers()
        for watcher, told in list(self.peer_watchers.items()):
            if told != peers:
                self.peer_watchers[watcher] = peers
                watcher.reply(Tone(chi="peers", peers=peers))

    # -- clocks and tasks ---------------------------------------------------

    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def now_ms(self) -> float:
        """Wall-clock milliseconds: `dusk` is an absolute time, comparable across devices."""
        return time.time() * 1000.0

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- life cycle ---------------------------------------------------------

    async def start(self) -> str:
        """Take back the stored hums, then listen; returns the address peers dial."""
        if self.store is not None:
            for hum in self.store.load(self.tracker):
                self.adopt(hum)
        self.address = await self.transport.listen(self._accept)
        self._spawn(self._drone_loop())
        if self.store is not None:
            self._spawn(self.store.run())
        return self.address

    def add_peer(self, address: str) -> None:
        """Dial `address` and keep the link up (redial with backoff when it drops)."""
        if address not in self._dialling:
            self._dialling[address] = self._spawn(self._dial_forever(address))

    async def stop(self) -> None:
        """Clean shutdown: goodbye to peers, flush the store, stop every task."""
        self._stopping = True
        for runner in list(self._links.values()):
            runner.link.goodbye()
            runner.flush()
        if self.store is not None:
            await self.store.flush()
        await self.transport.close()
        await self._cancel_tasks()

    async def abort(self) -> None:
        """Process death: no goodbye, no flush; every task simply stops."""
        self._stopping = True
        await self._cancel_tasks()

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- links ----------------------------------------------------------------

    async def _accept(self, conn: Connection) -> None:
        if self._stopping:
            conn.close()
            return
        task = self._spawn(_LinkRunner(self, conn, None).run())
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _dial_forever(self, address: str) -> None:
        delay = REDIAL_FIRST
        while not self._stopping:
            try:
                conn = await self.transport.connect(address)
            except (ConnectionError, OSError) as exc:
                log.info("%s: cannot reach %s: %s", self.name, address, exc)
            else:
                runner = _LinkRunner(self, conn, address)
                reason = await runner.run()
                if runner.link.peer and reason != "closed":
                    delay = REDIAL_FIRST
                if runner.link.state == "closed" and not runner.owner and reason == "closed":
                    # refused (identity) or a duplicate of a live link: redial slowly
                    delay = REDIAL_MAX
            await asyncio.sleep(delay)
            delay = min(delay * 2, REDIAL_MAX)

    def _link_up(self, runner: _LinkRunner, peer: str) -> bool:
        """A link proved its peer; False if it duplicates a live link to that peer."""
        existing = self._links.get(peer)
        if existing is not None and existing is not runner:
            # Both sides dialled at once: keep the link dialled by the lower HumdId,
            # a rule both ends compute alike, so exactly one survives.
            keep_new = (runner.dialled is not None) == (self.id < peer)
            if not keep_new:
                return False
            existing.link.goodbye()
            existing.flush()
            existing.conn.close()
            self._drop_link(existing)
        self._links[peer] = runner
        self.ensemble.link_up(peer, self.loop_time())
        self._note_peers_changed()
        self.drone.link_heard(peer, self.loop_time())
        runner.owner = owner = PeerOwner(self, peer)
        self._owners[owner.name] = owner
        mine = [h.summary() for h in self.hums.values() if h.home == self.id]
        owner.reply(Tone(chi="hums", hums=mine))
        for hid, signature in self.revocations.items():
            owner.reply(Tone(chi="revoke", humdId=hid, signature=signature))
        runner.ticker_wake.set()
        runner.up.set()
        log.info("%s: linked with %s", self.name, peer[:8])
        return True

    def _link_ended(self, runner: _LinkRunner) -> None:
        if self._links.get(runner.link.peer or "") is runner:
            self._drop_link(runner)

    def _drop_link(self, runner: _LinkRunner) -> None:
        peer = runner.link.peer
        if peer is None or self._links.get(peer) is not runner:
            return
        del self._links[peer]
        self.ensemble.link_down(peer)
        self._note_peers_changed()
        if runner.owner is not None:
            self.close_owner(runner.owner)
        for sg in list(self._seeking):
            self._sought(peer, Tone(chi="error", sigil=sg))
        lost = {v.sigil: v for v in self.drone.link_lost(peer)}
        for hum in self.hums.values():
            if hum.home == peer:
                self._replica_requested.discard(hum.sigil)
                hum.attached = False
                self._surface(lost.get(hum.sigil) or Verdict(hum.sigil, "peer-loss", f"lost the link to home {peer[:8]}"))

    def _surface(self, verdict: Verdict) -> None:
        """Turn a drone verdict into a tone on every local tap of the hum."""
        hum = self.hums.get(verdict.sigil)
        if hum is None:
            return
        if verdict.kind == "peer-loss":
            tone = error_tone("route-error", "peer-loss", verdict.detail, sigil=hum.sigil, sid=hum.sid)
            terminal = True
        else:
            tone = Tone(chi="drone", sigil=hum.sigil, sid=hum.sid, verdict=verdict.kind, message=verdict.detail)
            terminal = False
        for tap in hum.taps.values():
            if tap.owner.startswith("peer:") or tap.ended:
                continue
            tap.notify(Tone(tone), hum.tip, terminal=terminal)
            self._wake(tap)

    async def _drone_loop(self) -> None:
        while True:
            await asyncio.sleep(DRONE_TICK)
            for verdict in self.drone.tick(self.loop_time(), self.id):
                self._surface(verdict)

    def peers(self) -> list[str]:
        return self.ensemble.peers()

    def revoke(self, humd_id: str, signature: bytes | None = None) -> HumdId:
        """Refuse `humd_id` from now on and cut its link; a signed revocation spreads to all siblings.

        Only the operator key can sign one, so a sibling cannot revoke its
        peers; an unsigned revocation stays on this device.
        """
        hid = HumdId.parse(humd_id)
        if signature is not None:
            self.identity.operator.verify_revocation(hid, signature)
        fresh = hid not in self.check.revoked or (signature is not None and hid not in self.revocations)
        self.check.revoke(hid)
        if signature is not None and hid not in self.revocations:
            self.revocations[hid] = signature.hex()
            for peer, runner in self._links.items():
                if runner.owner is not None and peer != hid:
                    runner.owner.reply(Tone(chi="revoke", humdId=hid, signature=signature.hex()))
        self.disconnect(hid)
        if fresh:
            self.on_revoked(hid, signature.hex() if signature is not None else None)
        return hid

    def _heard_revocation(self, peer: str, tone: Tone) -> None:
        try:
            hid = HumdId.parse(str(tone.get("humdId", "")))
            signature = bytes.fromhex(str(tone.get("signature", "")))
            if hid in self.revocations:
                return
            self.revoke(hid, signature)
        except (IdentityError, ValueError) as exc:
            log.warning("%s: ignored a revocation from %s: %s", self.name, peer[:8], exc)
            return
        log.warning("%s: %s revoked by the operator (heard from %s)", self.name, hid[:8], peer[:8])

    def disconnect(self, peer: str) -> None:
        """Cut the link to `peer` now (revocation): goodbye, then gone from `peers()`."""
        runner = self._links.get(peer)
        if runner is not None:
            runner.link.goodbye()
            runner.flush()
            runner.conn.close()
            self._drop_link(runner)

    def _send(self, peer: str, tone: Tone) -> None:
        """Queue `tone` to `peer` on its link; the ensemble refuses it if `peer` is not linked."""
        routed = Tone(tone, to=peer)
        self._owners[f"peer:{self.ensemble.route(routed)}"].reply(routed)

    def _link_tone(self, runner: _LinkRunner, raw: Tone) -> None:
        peer = runner.link.peer or ""
        tone = _from_link(raw)
        chi = tone.chi
        if raw.get("to") not in (None, self.id):
            log.warning("%s: dropped %s addressed to %s", self.name, chi, raw.get("to"))
            return
        if is_past_dusk(raw, self.now_ms()):
            if raw.get("rid") is not None and chi not in ("error", "hello"):
                self._send(peer, error_tone("bad-tone", "past-dusk", "the tone arrived after its dusk", rid=raw.get("rid"), sigil=raw.get("sigil")))
            return
        try:
            if chi == "hums":
                for entry in self.ensemble.learn(list(tone.get("hums") or []), via=peer):
                    log.debug("%s: learned hum %s on %s", self.name, entry, peer[:8])
            elif chi == "attach":
                self._peer_attach(peer, tone)
            elif chi == "detach":
                owner = self._owners.get(f"peer:{peer}")
                if owner is not None:
                    self._drop_tap(owner, str(tone.get("sigil")))
            elif chi == "prompt" and "wane" not in tone:
                self._home_prompt(tone, origin=peer)
            elif chi == "cancel":
                self.cancel(str(tone.get("sigil")), tone.get("rid"))
            elif chi == "hello":
                self._replica_granted(peer, tone)
            elif chi in ("prompt", "chunk", "finish", "error") and "wane" in tone:
                self._replica_petal(peer, tone)
            elif chi == "error":
                self._route_refused(peer, tone)
            elif chi == "revoke":
                self._heard_revocation(peer, tone)
            else:
                log.warning("%s: unexpected %s on link from %s", self.name, chi, peer[:8])
        except RouteError as exc:
            self._send(peer, exc.tone(sigil=tone.get("sigil")))

    # -- hums -------------------------------------------------------------------

    def list_hums(self) -> list[dict[str, Any]]:
        """Every hum this humd knows: its own, mirrored ones, and those its peers announced."""
        seen = {s: h.summary() for s, h in self.hums.items() if h.home == self.id or h.tip}
        for entry in self.ensemble.directory():
            seen.setdefault(entry["sigil"], entry)
        return [seen[s] for s in sorted(seen)]

    def mint(self, sid: str, nest: str | None = None) -> Hum:
        """Create a hum homed here and tell the ensemble."""
        nest = nest or self.nest
        sg = sigil(nest, sid)
        hum = self.hums.get(sg)
        if hum is not None:
            return hum
        hum = Hum(sg, sid, nest, self.id, self.tracker)
        self.hums[sg] = hum
        self.ensemble.record(hum.summary())
        if self.store is not None:
            self.store.save_hum(hum)
        for runner in self._links.values():
            if runner.owner is not None:
                runner.owner.reply(Tone(chi="hums", hums=[hum.summary()]))
        return hum

    def adopt(self, hum: Hum) -> None:
        """Take back a hum loaded from the store after a restart."""
        self.hums[hum.sigil] = hum
        self.ensemble.record(hum.summary())
        if hum.home == self.id and hum.bloom_open:
            # the worker died with the process: close the bloom so the log says so
            petal = hum.append("error", code="worker-error", qualifier="interrupted", message="humd restarted mid-bloom")
            self._appended(hum, petal)

    def _wake(self, tap: Tap) -> None:
        owner = self._owners.get(tap.owner)
        if owner is not None:
            owner.wake.set()

    def _wake_hum(self, hum: Hum) -> None:
        for tap in hum.taps.values():
            self._wake(tap)

    def _appended(self, hum: Hum, petal: Petal) -> None:
        """A petal joined the log (authored here or mirrored): store it, wake its taps."""
        self.drone.bloom_seen(hum.sigil, hum.home, self.loop_time(), open_=hum.bloom_open)
        if self.store is None:
            hum.mark_durable(petal.wane)
        else:
            self.store.append(hum, petal)
        self._wake_hum(hum)

    def stored(self, hum: Hum, wane: int) -> None:
        """The store made the log durable up to `wane`: peers may now have it."""
        hum.mark_durable(wane)
        self._wake_hum(hum)

    def _new_tap(self, hum: Hum, owner: TapOwner, since: int, *, granted: bool) -> Tap:
        self._drop_tap(owner, hum.sigil)
        tap = hum.attach(f"{owner.name}#{next(self._tap_ids)}", since, owner.name, granted=granted)
        owner.taps[hum.sigil] = tap
        self._owners[owner.name] = owner
        owner.wake.set()
        return tap

    def _drop_tap(self, owner: TapOwner, sg: str) -> None:
        tap = owner.taps.pop(sg, None)
        hum = self.hums.get(sg)
        if tap is None or hum is None:
            return
        hum.detach(tap.tap_id)
        if hum.home != self.id and not hum.taps and sg in self._replica_requested:
            # nobody here watches it any more: stop the home replicating to us
            self._replica_requested.discard(sg)
            with contextlib.suppress(RouteError):
                self._send(hum.home, Tone(chi="detach", sigil=sg))

    def close_owner(self, owner: TapOwner) -> None:
        owner.closed = True
        self.peer_watchers.pop(owner, None)
        for sg in list(owner.taps):
            self._drop_tap(owner, sg)
        self._owners.pop(owner.name, None)

    def open_nestler(self, name: str | None = None) -> NestlerSession:
        session = NestlerSession(self, name or f"nestler-{next(self._tap_ids)}")
        self._owners[session.name] = session
        return session

    # -- attach -----------------------------------------------------------------

    def attach(self, owner: TapOwner, sg: str, since: int, rid: Any = None) -> Tap | None:
        """Open `owner`'s tap on hum `sg` from `since`, wherever the hum lives.

        Returns None while the home is being sought (see `_seek`).
        """
        hum = self.hums.get(sg)
        if hum is not None and hum.home == self.id:
            return self._new_tap(hum, owner, since, granted=True)
        if hum is None and self.ensemble.lookup(sg) is None:
            self._seek(owner, sg, since, rid)
            return None
        home = hum.home if hum is not None else self.ensemble.home_of(sg, rid)
        if not self.ensemble.is_linked(home):
            raise RouteError("no-route", f"hum {sg} lives on {home[:8]}, which is not linked", rid)
        hum = self._replica(sg)
        granted = sg in self._replica_requested and hum.attached
        tap = self._new_tap(hum, owner, since, granted=False)
        if granted:
            tap.grant(hum.home_tip)
        elif sg not in self._replica_requested:
            self._replica_requested.add(sg)
            hum.attached = False
            self._send(home, Tone(chi="attach", sigil=sg, since=hum.tip, rid=rid))
        return tap

    def _seek(self, owner: TapOwner, sg: str, since: int, rid: Any) -> None:
        """A sigil not in the directory (yet): ask every linked peer; its home answers hello.

        Announcements travel one link latency behind a mint, and a sigil may be
        typed in from anywhere, so an unknown sigil is a question, not an error.
        """
        peers = self.peers()
        if not peers:
            raise RouteError("unknown-hum", f"no humd in the ensemble hosts hum {sg}", rid)
        waiting = self._seeking.get(sg)
        if waiting is None:
            self._seeking[sg] = waiting = {"owners": [], "asked": set(peers)}
            for peer in peers:
                self._send(peer, Tone(chi="attach", sigil=sg, since=0, rid=rid))
        waiting["owners"].append((owner, since, rid))

    def _sought(self, peer: str, tone: Tone) -> bool:
        """A peer answered our search for a sigil; True if the tone was about one."""
        sg = str(tone.get("sigil"))
        waiting = self._seeking.get(sg)
        if waiting is None:
            return False
        if tone.chi == "hello":
            del self._seeking[sg]
            self.ensemble.learn([{"sigil": sg, "sid": tone.get("sid"), "home": peer, "wane": tone.get("wane")}], via=peer)
            hum = self._replica(sg)
            hum.sid = str(tone.get("sid", ""))
            self._replica_requested.add(sg)
            for owner, since, _ in waiting["owners"]:
                if not owner.closed:
                    self._new_tap(hum, owner, since, granted=False)
            hum.attached = True
            if not hum.taps:  # everyone who asked has gone: stop the replication at once
                self._replica_requested.discard(sg)
                self._send(peer, Tone(chi="detach", sigil=sg))
                return True
            for tap in hum.grant_all(int(tone.get("wane", 0))):
                self._wake(tap)
            return True
        waiting["asked"].discard(peer)
        if not waiting["asked"]:
            del self._seeking[sg]
            for owner, _, rid in waiting["owners"]:
                owner.reply(RouteError("unknown-hum", f"no humd in the ensemble hosts hum {sg}", rid).tone(sigil=sg))
        return True

    def _replica(self, sg: str) -> Hum:
        hum = self.hums.get(sg)
        if hum is None:
            entry = self.ensemble.lookup(sg) or {}
            hum = Hum(sg, str(entry.get("sid", "")), str(entry.get("nest", "")), str(entry["home"]), self.tracker)
            self.hums[sg] = hum
            if self.store is not None:
                self.store.save_hum(hum)
        return hum

    def detach(self, owner: TapOwner, sg: str) -> None:
        waiting = self._seeking.get(sg)
        if waiting is not None:
            waiting["owners"] = [w for w in waiting["owners"] if w[0] is not owner]
        self._drop_tap(owner, sg)

    def _peer_attach(self, peer: str, tone: Tone) -> None:
        sg = str(tone.get("sigil"))
        hum = self.hums.get(sg)
        if hum is None or hum.home != self.id:
            raise RouteError("unknown-hum", f"hum {sg} is not homed on {self.id[:8]}", tone.get("rid"))
        owner = self._owners[f"peer:{peer}"]
        since = tone.get("since", 0)
        self._new_tap(hum, owner, since if isinstance(since, int) and since >= 0 else 0, granted=True)

    def _replica_granted(self, peer: str, tone: Tone) -> None:
        if self._sought(peer, tone):
            return
        hum = self.hums.get(str(tone.get("sigil")))
        if hum is None or hum.home != peer:
            return
        hum.sid = str(tone.get("sid", hum.sid))
        hum.attached = True
        for tap in hum.grant_all(int(tone.get("wane", 0))):
            self._wake(tap)

    def _replica_petal(self, peer: str, tone: Tone) -> None:
        hum = self.hums.get(str(tone.get("sigil")))
        if hum is None or hum.home != peer:
            log.warning("%s: petal for %s from %s, which is not its home", self.name, tone.get("sigil"), peer[:8])
            return
        try:
            petal = Petal.from_tone(tone)
            if hum.receive(petal):
                self._appended(hum, petal)
        except HumError as exc:
            # a gap: ask the home again from what we hold; wane dedups the overlap
            log.warning("%s: %s; re-attaching %s from %d", self.name, exc.message, hum.sigil, hum.tip)
            self._send(peer, Tone(chi="attach", sigil=hum.sigil, since=hum.tip))
        except (ValueError, KeyError) as exc:
            log.warning("%s: malformed petal from %s: %s", self.name, peer[:8], exc)

    def _route_refused(self, peer: str, tone: Tone) -> None:
        """The home refused our attach or prompt: tell the local taps waiting on it."""
        if self._sought(peer, tone):
            return
        hum = self.hums.get(str(tone.get("sigil")))
        if hum is None:
            return
        self._replica_requested.discard(hum.sigil)
        for tap in hum.taps.values():
            if not tap.granted and not tap.owner.startswith("peer:"):
                tap.notify(Tone(tone), hum.tip, terminal=True)
                self._wake(tap)

    # -- prompts and blooms ------------------------------------------------------------

    def prompt(self, owner: TapOwner, tone: Tone) -> None:
        """A nestler's prompt: mint or find the hum, attach the nestler, route to the home."""
        text = tone.get("text", tone.get("content"))
        if not isinstance(text, str):
            raise BadRequest("missing-field", "prompt needs a string `text` (or `content`)")
        sg = tone.get("sigil")
        if not isinstance(sg, str) or not sg:
            sid = tone.get("sid")
            if not isinstance(sid, str) or not sid:
                raise BadRequest("missing-field", "prompt needs a `sigil` or a `sid`")
            sg = sigil(str(tone.get("nest") or self.nest), sid)
            if sg not in self.hums and self.ensemble.lookup(sg) is None:
                self.mint(sid, str(tone.get("nest") or self.nest))
        hum = self.hums.get(sg)
        home = hum.home if hum is not None else self.ensemble.home_of(sg, tone.get("rid"))
        body = {k: v for k, v in tone.items() if k not in ("chi", "rid", "sid", "sigil", "to", "from", "dusk", "bee", "nest")}
        body["text"] = body.pop("content", text) if "text" not in body else text
        if home == self.id:
            assert hum is not None
            if sg not in owner.taps:
                self._new_tap(hum, owner, hum.tip, granted=True)
            self._home_prompt(Tone(chi="prompt", sigil=sg, **body), origin=getattr(owner, "bee", owner.name))
            return
        if not self.ensemble.is_linked(home):
            raise RouteError("no-route", f"hum {sg} lives on {home[:8]}, which is not linked", tone.get("rid"))
        if sg not in owner.taps:
            entry = self.ensemble.lookup(sg) or {}
            known = max(self.hums[sg].tip if sg in self.hums else 0, int(entry.get("wane") or 0))
            self.attach(owner, sg, known, tone.get("rid"))
        self._send(home, Tone(chi="prompt", sigil=sg, rid=tone.get("rid"), **body))

    def _home_prompt(self, tone: Tone, origin: str) -> None:
        sg = str(tone.get("sigil"))
        hum = self.hums.get(sg)
        if hum is None or hum.home != self.id:
            raise RouteError("unknown-hum", f"hum {sg} is not homed on {self.id[:8]}", tone.get("rid"))
        body = {k: v for k, v in tone.items() if k not in ("chi", "rid", "sid", "sigil", "wane", "to", "from", "dusk")}
        body["from"] = origin
        petal = hum.offer_prompt(**body)
        if petal is not None:
            self._appended(hum, petal)
            self._start_bloom(hum)

    def _start_bloom(self, hum: Hum) -> None:
        if hum.sigil not in self._blooming:
            task = self._spawn(self._bloom(hum))
            self._blooming[hum.sigil] = task
            task.add_done_callback(lambda _t, s=hum.sigil: self._blooming.pop(s, None))

    async def _bloom(self, hum: Hum) -> None:
        """Run blooms until the hum has no open bloom and no queued prompt."""
        while hum.bloom_open:
            blooms = hum.blooms()
            prompt = blooms[-1].prompt
            turns = transcript_turns(blooms)
            model = prompt.body.get("modelId")
            tools = prompt.body.get("tools")
            try:
                async for event in self.brood.bloom(
                    hum.sigil, turns, model=model if isinstance(model, str) else None, tools=tools if isinstance(tools, list) else None
                ):
                    if isinstance(event, Delta):
                        self._appended(hum, hum.append("chunk", chunkType=event.chunk_type, delta=event.text, blockIdx=event.block_idx))
                    elif isinstance(event, Done):
                        self._appended(hum, hum.append("finish", finishReason=event.finish_reason, usage=event.usage.as_wire()))
                        break
                else:
                    raise WorkerError("worker-crash", "the worker ended the bloom without finishing it")
            except WorkerError as exc:
                self._appended(hum, hum.append("error", code="worker-error", qualifier=exc.qualifier, message=exc.message))
            except Exception as exc:  # a worker bug must close the bloom, never hang it
                log.exception("%s: bloom of %s failed", self.name, hum.sigil)
                self._appended(hum, hum.append("error", code="worker-error", qualifier="worker-crash", message=str(exc)))
            nxt = hum.next_prompt()
            if nxt is not None:
                self._appended(hum, nxt)

    def cancel(self, sg: str, rid: Any = None) -> None:
        hum = self.hums.get(sg)
        home = hum.home if hum is not None else self.ensemble.home_of(sg, rid)
        if home == self.id:
            self._spawn(self.brood.cancel(sg))
        else:
            self._send(home, Tone(chi="cancel", sigil=sg, rid=rid))
