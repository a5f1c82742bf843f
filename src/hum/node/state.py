"""What one humd knows, and the router's ways of saying what must happen (effects, replies, sends)."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from hum.core.drone import Drone
from hum.core.hum import Hum, PetalArchive
from hum.core.petal import Petal
from hum.core.tap import Tap
from hum.core.wane import WaneTracker
from hum.ensemble.certificates import HumdId
from hum.ensemble.ensemble import Ensemble
from hum.ensemble.identity import Identity, SiblingCheck
from hum.errors import HumError, RouteError
from hum.interfaces import NOTE, Clock
from hum.node.effects import Effect, PeersChanged, Persist, SaveHum, Wake
from hum.node.owners import Owner
from hum.node.taps import TapBook
from hum.wire.tones import Tone

# Tones pulled per wake-up: large enough to amortise a write, small enough
# that one busy hum cannot starve the others on a link.
PULL_BATCH = 256
# A hum's last-touched time is stored again only once it moved this far (wall ms): retention
# counts whole days, so a minute of slack costs nothing and spares a row write per request.
TOUCH_STORE_STEP_MS = 60_000


@dataclass
class Replica:
    """This humd's mirror of a hum homed elsewhere: did we ask the home, did it grant."""

    requested: bool = False  # an attach went to the home and no detach since
    granted: bool = False  # the home said hello: its petals are flowing to us


@dataclass
class Seek:
    """A sigil asked of every peer because no directory entry names its home (yet)."""

    asked: set[str]
    waiting: list[tuple[Owner, int, Any]] = field(default_factory=list)  # (owner, since, rid)


def not_homed_here(hum: Hum | None, sg: Any, me: str, rid: Any) -> RouteError:
    """The refusal of a tone meant for a hum's home by a humd that is not (or no longer) its home."""
    if hum is None:
        return RouteError("unknown-hum", f"hum {sg} is not homed on {me[:8]}", rid)
    return RouteError("moved", f"hum {sg} is homed on {hum.home[:8]} (epoch {hum.epoch}), not {me[:8]}", rid)


class NodeState:
    """Each fact once: hums (the logs), taps, replicas, searches, peers (in the ensemble), revocations.

    Input methods of the router collect effects here and hand them over with
    `_done()`; a tone for an owner waits in its outbox until the shell pulls.
    """

    def __init__(
        self, identity: Identity, check: SiblingCheck, clock: Clock, *, nest: str = "local", archive: PetalArchive | None = None
    ) -> None:
        self.identity = identity
        self.check = check
        self.clock = clock
        self.archive = archive  # where hums read their stored petals (None: every petal stays in memory)
        self.me: HumdId = identity.humd_id
        self.nest = nest
        self.tracker = WaneTracker()
        self.hums: dict[str, Hum] = {}
        self.ensemble = Ensemble(self.me)  # linked peers (each with its owner) and the directory
        self.drone = Drone()
        self.taps = TapBook()
        self.replicas: dict[str, Replica] = {}
        self.seeks: dict[str, Seek] = {}
        self.revocations: dict[str, str] = {}  # operator-signed: HumdId -> signature hex
        self.fault: HumError | None = None  # the store cannot commit, and why
        self._fault_said: set[str] = set()  # hums whose taps were told of the fault
        self.open_asks: dict[tuple[str, str], float] = {}  # (sigil, permitId) -> when asked
        self.forwarded: OrderedDict[tuple[str, Any], Owner] = OrderedDict()  # (home, rid) -> who answered there
        self.peer_watchers: dict[Owner, list[str]] = {}
        # Hums that moved to another home: compare from this wane on the next attach (kept across
        # link losses and, derived from the stored epoch, restarts), and the epoch a cut branch had.
        self.unverified: dict[str, int] = {}
        # Opt-in (`hum up --auto-adopt SECONDS`): a hum whose home has been lost this long while
        # a nestler here followed it is adopted here. None: only on request.
        self.auto_adopt: float | None = None
        self.lost_at: dict[str, float] = {}  # sigil -> when its home's loss was told to a nestler here
        self.branch_epochs: dict[str, int] = {}  # nestler -> the peers it was last told
        self.recent: OrderedDict[str, None] = OrderedDict()  # every known sigil, least recently active first
        self.transcripts: dict[bytes, str] = {}  # transcript key -> the hum whose log it is
        self._indexed: dict[str, bytes] = {}  # sigil -> its key in `transcripts` (one entry a hum)
        # Retention (`hum up --retain-days N`): hums homed here that nobody prompted or attached for
        # this many days are forgotten everywhere. None keeps everything.
        self.retain_days: float | None = None
        self.touched: dict[str, int] = {}  # sigil -> wall ms of its last prompt or attach (hums homed here)
        self.retention_forgot = 0  # hums retention forgot since this humd started
        self.swept_at: float | None = None  # when retention last looked (monotonic)
        self.listings: dict[str, tuple[int, set[str]]] = {}  # peer -> (next part, sigils) of its link-up listing
        self._names = itertools.count(1)
        self._effects: list[Effect] = []
        self._woken: dict[Owner, None] = {}

    def _emit(self, effect: Effect) -> None:
        self._effects.append(effect)

    def _wake(self, owner: Owner) -> None:
        self._woken[owner] = None

    def _done(self) -> list[Effect]:
        out = self._effects + [Wake(o) for o in self._woken if not o.closed]
        self._effects, self._woken = [], {}
        return out

    def _reply(self, owner: Owner, tone: Tone) -> None:
        owner.outbox.append(tone)
        self._wake(owner)

    def _send(self, peer: str, tone: Tone) -> None:
        """Queue `tone` for `peer`; the ensemble refuses it (RouteError) if `peer` is not linked."""
        self._reply(self.ensemble.owner(self.ensemble.route(Tone(tone, to=peer))), tone)

    def device(self, humd_id: str) -> str:
        """A device as people know it in a message: its name with the short HumdId, or the short HumdId."""
        name = self.ensemble.names.get(humd_id)
        return f"{name} ({humd_id[:8]})" if name else humd_id[:8]

    def _no_route(self, sg: str, home: str, rid: Any) -> RouteError:
        return RouteError("no-route", f"hum {sg} lives on {self.device(home)}, which is not linked", rid)

    def _new_hum(self, sg: str, sid: str, nest: str, home: str) -> Hum:
        """A hum with no petals yet, reading its stored ones from this node's archive."""
        hum = self.hums[sg] = Hum(sg, sid, nest, home, self.tracker, archive=self.archive)
        return hum

    def _index_transcript(self, hum: Hum) -> None:
        """`hum` closed a bloom (or was loaded): find it by its transcript key from now on."""
        self._unindex_transcript(hum.sigil)
        if hum.transcript_key:
            self.transcripts[hum.transcript_key] = hum.sigil
            self._indexed[hum.sigil] = hum.transcript_key

    def _unindex_transcript(self, sg: str) -> None:
        """Hum `sg`'s old transcript key finds it no more (its key moved on, or it was forgotten)."""
        old = self._indexed.pop(sg, None)
        if old is not None and self.transcripts.get(old) == sg:
            del self.transcripts[old]

    def continuing(self, key: bytes) -> str | None:
        """The hum whose whole log, right now, is the transcript with key `key` (see `bloom.key_of_turns`)."""
        sg = self.transcripts.get(key)
        hum = self.hums.get(sg) if sg is not None else None
        if hum is None or hum.transcript_key != key or hum.bloom_open:
            return None
        return sg

    def _touch(self, sg: str) -> None:
        """Hum `sg` was just active (a petal, a mint, an announcement): it moves to the front."""
        self.recent[sg] = None
        self.recent.move_to_end(sg)

    def summary(self, sg: str) -> dict[str, Any] | None:
        """Hum `sg` as listed: this humd's own view when it holds the log, else its home's announcement."""
        hum = self.hums.get(sg)
        entry = self.ensemble.lookup(sg)
        if hum is not None and (hum.home == self.me or hum.tip):
            summary = hum.summary()
            if entry is not None and hum.home != self.me and int(entry.get("wane") or 0) > summary["wane"]:
                summary["wane"] = entry["wane"]  # a replica nobody follows now: the home's last word is newer
            return summary
        return entry

    def recent_hums(self, limit: int) -> list[dict[str, Any]]:
        """The `limit` most recently active hums, newest first."""
        out = []
        for sg in reversed(self.recent):
            entry = self.summary(sg)
            if entry is not None:
                out.append(entry)
                if len(out) == limit:
                    break
        return out

    def hums_page(self, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` hums in sigil order after `cursor`, and the cursor of the next page (None at the end)."""
        after = sorted(s for s in self.recent if cursor is None or s > cursor)
        page = [e for e in (self.summary(s) for s in after[:limit]) if e is not None]
        return page, (after[limit - 1] if len(after) > limit else None)

    def list_hums(self) -> list[dict[str, Any]]:
        """Every hum this humd knows: its own, mirrored ones, and those its peers announced (sigil order)."""
        return [e for e in (self.summary(s) for s in sorted(self.recent)) if e is not None]

    def hum_count(self) -> int:
        return len(self.recent)

    def peers(self) -> list[str]:
        return self.ensemble.peers()

    def _peers_reply(self, rid: Any = None) -> Tone:
        """A `peers` tone: who is linked now, and what their people call them."""
        peers = self.peers()
        return Tone.make("peers", rid=rid, peers=peers, names={p: self.ensemble.names.get(p, "") for p in peers})

    def _peers_changed(self) -> None:
        """A link came or went: the shell's waiters look again, and every watching nestler is told."""
        self._emit(PeersChanged())
        peers = self.peers()
        for watcher, told in list(self.peer_watchers.items()):
            if told != peers:
                self.peer_watchers[watcher] = peers
                self._reply(watcher, self._peers_reply())

    def _appended(self, hum: Hum, petal: Petal, dequeued: int | None = None) -> None:
        """A petal joined the log (authored here or mirrored): the store makes it durable first."""
        # a bloom waiting on a person's answer is not stalled: its clock stops at the ask; nor is one
        # hum said is waiting (a note: a long read of the transcript, a wait for a free cell)
        waiting = petal.chi == "permission-ask" or (petal.chi == "chunk" and petal.body.get("chunkType") == NOTE)
        self.drone.bloom_seen(hum.sigil, hum.home, self.clock.monotonic(), open_=hum.bloom_open and not waiting)
        self._touch(hum.sigil)
        transcript = None
        if petal.closes_bloom:
            transcript = hum.transcript_key
            self._index_transcript(hum)
        elif petal.chi == "prompt":
            self._mark_touched(hum)
        self._emit(Persist(hum, petal, dequeued, transcript))

    def _mark_touched(self, hum: Hum) -> None:
        """Somebody prompted or attached `hum`: if it is homed here, retention counts its days from now."""
        if hum.home != self.me:
            return
        now, last = int(self.clock.wall_ms()), self.touched.get(hum.sigil)
        self.touched[hum.sigil] = now
        if last is None or now - last >= TOUCH_STORE_STEP_MS:
            self._emit(SaveHum(hum, now))  # rides the next commit with the petals

    def _open_tap(self, hum: Hum, owner: Owner, since: int, *, granted: bool) -> Tap:
        self._drop_tap(owner, hum.sigil)
        tap = self.taps.open(owner, hum.sigil, since)
        self._mark_touched(hum)
        if granted:
            tap.grant(hum.home_tip)
        self._wake(owner)
        return tap

    def _drop_tap(self, owner: Owner, sg: str) -> None:
        if self.taps.drop(owner, sg) is None:
            return
        hum = self.hums.get(sg)
        replica = self.replicas.get(sg)
        if hum is not None and hum.home != self.me and replica and replica.requested and not self.taps.watched(sg):
            # nobody here watches it any more: stop the home replicating to us
            replica.requested = False
            if self.ensemble.is_linked(hum.home):
                self._send(hum.home, Tone(chi="detach", sigil=sg))

    # -- what an owner is owed ------------------------------------------------

    def pull(self, owner: Owner, limit: int = PULL_BATCH, *, lines: bool = False) -> list[Tone]:
        """Everything `owner` can be sent now (replies first, then each tap in wane order); with
        `lines`, each petal as its encoded line (`bytes`), for an owner that only writes bytes."""
        out: list[Tone] = []
        if owner.outbox:
            out.extend(owner.outbox)
            owner.outbox.clear()
        for tap in self.taps.of_owner(owner):
            hum = self.hums.get(tap.sigil)
            if hum is None:
                continue
            # nobody sees a petal before it is stored: a crash never takes one back
            out.extend(hum.read(tap, limit, hum.durable_tip, lines=lines))  # type: ignore[arg-type]
            if tap.ended:
                self.taps.drop(owner, tap.sigil)
        return out

    def owes(self, owner: Owner) -> bool:
        """True when `pull(owner)` would return something."""
        if owner.outbox:
            return True
        for tap in self.taps.of_owner(owner):
            hum = self.hums.get(tap.sigil)
            if hum is not None and hum.owes(tap, hum.durable_tip):
                return True
        return False
