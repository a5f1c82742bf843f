"""The router: every protocol decision of one humd, as inputs in and effects out, with no I/O.

Its inputs are a nestler's tone, a peer's tone, a link coming up or going down, a petal made
durable, a worker's event and a clock tick; each returns the `Effect`s the shell must carry out.
Tones for an owner wait in the router (its outbox, its taps' cursors) until the shell pulls them,
so the router never blocks and never writes. The clock is passed in. The router only parses each
tone once (`inbound`) and hands it to the part that owns the decision; the parts are built here,
each with its collaborators, and none calls a part built after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hum.core.drone import Drone
from hum.core.hum import Hum, PetalArchive
from hum.ensemble.ensemble import Ensemble
from hum.ensemble.link.envelope import BATCH_PETALS
from hum.ensemble.trust.certificates import HumdId, looks_like_humd_id
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.siblings import SiblingCheck
from hum.errors import BadTone, HumError, LogError, RouteError, StoreError, WorkerError
from hum.interfaces import Clock, Delta, Done, PermissionAsk
from hum.node import inbound
from hum.node.adoption import Adoption
from hum.node.attention import Attention
from hum.node.blooms import BloomRequest, Blooms
from hum.node.config import RouterConfig
from hum.node.effects import Effect
from hum.node.facts import Facts
from hum.node.forgetting import Forgetting
from hum.node.inbound import Fields
from hum.node.journal import Journal
from hum.node.outbox import PULL_BATCH, Outbox
from hum.node.owners import Owner, OwnerKind
from hum.node.peers import Peers
from hum.node.permits import Permits
from hum.node.projects import Project, ProjectBook
from hum.node.repairs import Repairs
from hum.node.replicas import Replicas
from hum.node.retention import Retention
from hum.wire.tones import PROTO_VERSION, Tone, is_past_dusk

# A breath lists this many of the most recently active hums (PROTOCOL.md: at
# most 20), so it stays a few KB however many hums a humd knows.
BREATH_HUMS = 20


class Router:
    """One humd's hums, taps, replicas and peers, and every decision about them (in its parts)."""

    def __init__(
        self,
        identity: Identity,
        check: SiblingCheck,
        clock: Clock,
        *,
        config: RouterConfig | None = None,
        archive: PetalArchive | None = None,
    ) -> None:
        self.config = config or RouterConfig()
        self.facts = facts = Facts(identity, clock, nest=self.config.nest, archive=archive)
        self.outbox = outbox = Outbox(facts)
        drone = Drone()
        self.retention = Retention(facts, outbox, self.config)
        self.journal = Journal(facts, outbox, drone, self.retention)
        self.replicas = Replicas(facts, outbox, self.journal, self.retention)
        self.siblings = Peers(facts, outbox, self.replicas, drone, check)
        self.permits = Permits(facts, outbox, self.journal, self.config)
        self.projects = ProjectBook(facts.me)  # the ensemble's projects: where a project prompt goes
        self.blooms = Blooms(facts, outbox, self.journal, self.replicas, self.permits, self.projects)
        self.adoption = Adoption(facts, outbox, self.journal, self.replicas, self.siblings, self.permits, self.config)
        self.repairs = Repairs(facts, outbox, self.replicas)
        holders = (self.journal, self.replicas, self.siblings, self.permits, self.adoption, self.retention, self.repairs)
        self.forgetting = Forgetting(facts, outbox, holders)
        self.attention = Attention(facts.me, outbox.send, facts.ensemble.peers, facts.home_or_none)  # watchers, read marks
        self._nestler_tones = self._nestler_table()
        self._link_tones = self._link_table()

    # -- facts, read through ---------------------------------------------------

    @property
    def hums(self) -> dict[str, Hum]:
        return self.facts.hums

    @property
    def ensemble(self) -> Ensemble:
        return self.facts.ensemble

    @property
    def drone(self) -> Drone:
        """The sentinel over blooms and links (its `stall_after` may be set, as tests do)."""
        return self.journal.drone

    @property
    def fault(self) -> HumError | None:
        return self.journal.fault

    def peers(self) -> list[str]:
        return self.facts.ensemble.peers()

    def list_hums(self) -> list[dict[str, Any]]:
        return self.facts.list_hums()

    def continuing(self, key: bytes) -> str | None:
        """The hum whose whole log, right now, is the transcript with key `key` (see `bloom.key_of_turns`)."""
        return self.facts.continuing(key)

    def pull(self, owner: Owner, limit: int = PULL_BATCH, *, lines: bool = False) -> list[Tone]:
        return self.outbox.pull(owner, limit, lines=lines)

    def owes(self, owner: Owner) -> bool:
        return self.outbox.owes(owner)

    # -- nestlers -----------------------------------------------------------

    def open_nestler(self, name: str | None = None, bee: str | None = None) -> Owner:
        return Owner(OwnerKind.NESTLER, name or self.facts.nestler_name(), bee)

    def nestler_tone(self, owner: Owner, item: Tone | BadTone) -> list[Effect]:
        """One tone (or framing verdict) from a nestler."""
        if isinstance(item, BadTone):
            self.outbox.reply(owner, item.tone())
            return self.outbox.done()
        tone, rid = item, item.get("rid")
        try:
            if is_past_dusk(tone, self.facts.clock.wall_ms()):
                if rid is not None:
                    raise BadTone("past-dusk", "the tone arrived after its dusk")
            elif not owner.greeted and tone.chi != "hello":
                raise BadTone("no-hello", "say hello first")
            else:
                entry = self._nestler_tones.get(tone.chi)
                if entry is None:
                    raise BadTone("wrong-direction", f"a nestler does not send {tone.chi!r}")
                read, handle = entry
                handle(owner, read(Fields(tone)))
        except (RouteError, LogError, BadTone, StoreError) as exc:  # StoreError: a hum set aside (store/aside.py)
            exc.rid = rid
            self.outbox.reply(owner, exc.tone(sigil=None if isinstance(exc, BadTone) else tone.get("sigil")))
        return self.outbox.done()

    def _hello(self, owner: Owner, hello: inbound.Hello) -> None:
        if hello.claimed and looks_like_humd_id(hello.claimed) and HumdId.parse(hello.claimed) != self.facts.me:
            # a local client may name itself, never another device: prompts would carry its id
            raise BadTone("bad-field", "`from` may name this humd or the client itself, not another humd")
        owner.greeted = True
        owner.bee = hello.bee or owner.name
        hums = self.facts.recent_hums(BREATH_HUMS)
        breath = Tone(chi="breath", rid=hello.rid, humdId=self.facts.me, protoVersion=PROTO_VERSION, humCount=len(self.facts.recent), hums=hums)
        self.outbox.reply(owner, breath)

    def _hums_page(self, owner: Owner, page: inbound.HumsPage) -> None:
        hums, nxt = self.facts.hums_page(page.cursor, page.limit)
        self.outbox.reply(owner, Tone(chi="hums", rid=page.rid, hums=hums, next=nxt))

    def _peers_request(self, owner: Owner, request: inbound.PeersRequest) -> None:
        self.outbox.reply(owner, self.siblings.reply(request.rid))
        if request.watch:
            self.siblings.watch(owner)

    def close_owner(self, owner: Owner) -> list[Effect]:
        """A nestler went away (or a link's owner is retired): its taps go, the hums live on."""
        owner.closed = True
        self.attention.gone(owner)  # a nestler that went away watches nothing
        self.siblings.close_owner(owner)
        self.replicas.close_owner(owner)
        return self.outbox.done()

    # -- hums, blooms and the store -------------------------------------------------

    def load(self, hums: list[Hum], forgotten: tuple[tuple[str, int], ...] | list[tuple[str, int]] = ()) -> list[Effect]:
        """Hums read from the store after a restart (an adopted replica compares past its fork on attach), and tombstones."""
        self.facts.bury_all(forgotten)
        for hum in hums:
            self.facts.hums[hum.sigil] = hum
            self.facts.announce(hum)
            self.facts.touch(hum.sigil)
            self.facts.transcripts.index(hum)
            if hum.home == self.facts.me:
                self.blooms.restarted(hum)
            elif hum.epoch > 0:
                self.replicas.verify_from(hum.sigil, min(hum.tip, hum.fork))
        return self.outbox.done()

    def load_touched(self, touched: dict[str, int]) -> None:
        """When each hum homed here was last touched, as the store kept it."""
        self.retention.touched.update(touched)

    def load_revocations(self, signed: dict[str, str]) -> None:
        """Operator-signed revocations kept in the home (HumdId -> signature hex): told to every peer that links."""
        self.siblings.revocations.update(signed)

    def set_projects(self, projects: list[Project]) -> list[Effect]:
        """This device's projects changed (`hum project add/remove`, or read at start): every linked sibling hears."""
        self.outbox.send_to_all(self.projects.set_mine(projects))
        return self.outbox.done()

    def mint(self, sid: str, nest: str | None = None) -> tuple[Hum, list[Effect]]:
        """Create a hum homed here (or find it) and tell the ensemble."""
        return self.blooms.mint(sid, nest or self.config.nest), self.outbox.done()

    def durable(self, hum: Hum, wane: int) -> list[Effect]:
        self.journal.durable(hum, wane)
        return self.outbox.done()

    def saved(self, hum: Hum) -> list[Effect]:
        """The store committed `hum`'s row (or its removal): answers that waited for it go out."""
        self.journal.saved(hum)
        return self.outbox.done()

    def queued(self, hum: Hum, seq: int) -> list[Effect]:
        self.journal.queued(hum, seq)
        return self.outbox.done()

    def store_fault(self, fault: HumError | None) -> list[Effect]:
        self.journal.store_fault(fault)
        return self.outbox.done()

    def bloom_request(self, sg: str) -> BloomRequest | None:
        return self.blooms.request(sg)

    def worker_event(self, sg: str, *events: Delta | Done | PermissionAsk | WorkerError) -> list[Effect]:
        """What one read of the worker brought (one event or several): decided together."""
        self.blooms.worker_events(sg, events)
        return self.outbox.done()

    def tick(self) -> list[Effect]:
        """The clock moved: retention, the drone's verdicts, asks that waited too long, auto-adoption, repairs, in that order."""
        self.forgetting.sweep()
        self.siblings.tick()
        self.permits.expire()
        self.adoption.auto_adopt()
        self.repairs.tick()
        return self.outbox.done()

    # -- links ----------------------------------------------------------------

    def link_up(self, peer: HumdId, *, dialled: bool, name: str = "") -> tuple[Owner | None, list[Effect]]:
        """A link proved its peer; its owner, or None if it duplicates a live link to that peer."""
        owner = self.siblings.link_up(peer, dialled=dialled, name=name)
        if owner is not None:
            self.outbox.reply(owner, self.projects.announcement())  # this device's projects, after its hums
            self.attention.link_up(peer)  # and what is watched and read here
            for sg in list(self.replicas.unverified):  # hums that moved to this peer: compare logs now it is back
                self.replicas.reconcile(self.facts.hums[sg])
        return owner, self.outbox.done()

    def link_heard(self, peer: str) -> None:
        """Bytes arrived from `peer`: its home is alive (the drone's stall rule reads this)."""
        self.siblings.heard(peer)

    def link_down(self, owner: Owner) -> list[Effect]:
        """The link `owner` stood for ended (reset, EOF, missed heartbeats, goodbye)."""
        self.siblings.lost(owner)
        self._unwatched(owner.name)
        return self.outbox.done()

    def disconnect(self, peer: str) -> list[Effect]:
        """Cut the link to `peer` now (revocation): goodbye, then gone from `peers()`."""
        if self.facts.ensemble.is_linked(peer):
            self.siblings.cut(self.facts.ensemble.owner(peer))
        self._unwatched(peer)
        return self.outbox.done()

    def revoke(self, humd_id: str, signature: bytes | None = None) -> tuple[HumdId, list[Effect]]:
        """Refuse `humd_id` from now on and cut its link; a signed revocation spreads to all siblings."""
        hid = self.siblings.revoke(humd_id, signature)
        self._unwatched(hid)
        return hid, self.outbox.done()

    def _unwatched(self, peer: str) -> None:
        """A peer no longer linked watches nothing (what it said it watched no longer counts)."""
        if not self.facts.ensemble.is_linked(peer):
            self.attention.link_down(peer)

    def link_tone(self, owner: Owner, tone: Tone) -> list[Effect]:
        """A tone from a linked peer, out of its envelope (`ToneIn.content`)."""
        peer, rid = owner.name, tone.get("rid")
        if owner.closed:
            return self.outbox.done()
        if is_past_dusk(tone, self.facts.clock.wall_ms()):
            if rid is not None and tone.chi not in ("error", "hello"):
                self.outbox.send(peer, BadTone("past-dusk", "the tone arrived after its dusk", rid).tone(sigil=tone.get("sigil")))
            return self.outbox.done()
        entry = self._link_tones.get(inbound.link_key(tone))
        try:
            if entry is None:
                raise BadTone("wrong-direction", f"a humd does not send {tone.chi!r} on a link", rid)
            read, handle = entry
            record = read(Fields(tone))
            if record is not None:
                handle(peer, record)
        except HumError as exc:
            # answered on the link, which stays up; an error is never answered (no ping-pong)
            if tone.chi != "error":
                exc.rid = rid
                self.outbox.send(peer, exc.tone(sigil=tone.get("sigil") if isinstance(tone.get("sigil"), str) else None))
        return self.outbox.done()

    def _refused(self, peer: str, refusal: inbound.Refusal) -> None:
        """A home refused our search, forwarded answer, attach or prompt: whoever waits on it hears why."""
        if refusal.sigil is not None and (self.replicas.seek_refused(peer, refusal.sigil) or self.repairs.refused(peer, refusal)):
            return
        if not self.permits.forwarded_refusal(peer, refusal):
            self.replicas.refused(refusal)

    # -- what each tone means, by who sent it -------------------------------------------

    def _nestler_table(self) -> dict[str, tuple[Callable[[Fields], Any], Callable[[Owner, Any], None]]]:
        return {
            "hello": (inbound.read_hello, self._hello),
            "attach": (inbound.read_hum_request, lambda owner, r: self.replicas.attach(owner, r.sigil, r.since, r.rid)),
            "detach": (inbound.read_hum_request, self.replicas.detach),
            "prompt": (inbound.read_prompt, self.blooms.prompt),
            "cancel": (inbound.read_hum_request, lambda _owner, r: self.blooms.cancel(r)),
            "hums": (inbound.read_hums_page, self._hums_page),
            "peers": (inbound.read_peers, self._peers_request),
            "release-permit": (inbound.read_answer, self.permits.answer),
            "adopt": (inbound.read_adopt, self.adoption.adopt_request),
            "forget": (inbound.read_hum_request, self.forgetting.request),
            "watch": (lambda f: f.tone, self.attention.watch_tone),
            "seen": (lambda f: f.tone, self.attention.seen_tone),
        }

    def _link_table(self) -> dict[str, tuple[Callable[[Fields], Any], Callable[[str, Any], None]]]:
        return {
            "hums": (inbound.read_announcement, self.forgetting.heard_hums),
            "attach": (inbound.read_peer_hum, self.replicas.peer_attach),
            "detach": (inbound.read_peer_hum, lambda peer, r: self.replicas.peer_detach(peer, r.sigil)),
            "prompt": (inbound.read_peer_prompt, self.blooms.peer_prompt),
            "cancel": (inbound.read_hum_request, lambda _peer, r: self.blooms.cancel(r)),
            "hello": (inbound.read_granted, self.adoption.granted),
            "petal": (lambda f: inbound.read_petal_run(f, BATCH_PETALS), self.adoption.mirror),
            "petals": (lambda f: inbound.read_petal_run(f, BATCH_PETALS), self.adoption.mirror),
            "error": (inbound.read_refusal, self._refused),
            "revoke": (inbound.read_revocation, self.siblings.heard_revocation),
            "queued": (lambda f: f.tone, self.blooms.heard_queued),
            "release-permit": (inbound.read_answer, self.permits.peer_answer),
            "orphaned": (inbound.read_branch_report, self.adoption.heard_branch),
            "forget": (inbound.read_peer_forget, self.forgetting.heard),
            "fetch": (inbound.read_fetch, self.repairs.peer_fetch),
            "fetched": (inbound.read_fetched, self.repairs.fetched),
            "projects": (lambda f: f.tone, self.projects.heard),
            "watching": (lambda f: f.tone, self.attention.heard_watching),
            "seen": (lambda f: f.tone, self.attention.heard_seen),
            "seen-marks": (lambda f: f.tone, self.attention.heard_marks),
        }
