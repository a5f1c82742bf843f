"""Replicas: taps on hums wherever they live; the attach to a home, its grant, and the petals that follow."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from hum.core.hum import Hum
from hum.core.petal import Petal, mirrored_petal
from hum.core.tap import Tap
from hum.errors import BadTone, LogError, RouteError
from hum.node.effects import SaveHum
from hum.node.facts import Facts
from hum.node.inbound import Granted, HumRequest, Refusal
from hum.node.journal import Journal
from hum.node.outbox import Outbox
from hum.node.owners import Owner
from hum.node.retention import Retention
from hum.wire.tones import Tone

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Diverged:
    """The home's log parts from this replica's after wane `keep`: what we hold past it is a branch.

    `rest` are the home's petals still to apply once the branch is set aside
    (the first of them is the one that did not fit).
    """

    hum: Hum
    keep: int
    rest: list[dict[str, Any]] = field(default_factory=list)


class Replicas:
    """Every tap's opening and closing, and the replica side of hums homed elsewhere."""

    def __init__(self, facts: Facts, outbox: Outbox, journal: Journal, retention: Retention) -> None:
        self.facts = facts
        self.outbox = outbox
        self.journal = journal
        self.retention = retention
        self.replicas: dict[str, Replica] = {}
        self.seeks: dict[str, Seek] = {}
        # Hums that moved to another home: compare from this wane on the next attach (kept across
        # link losses and, derived from the stored epoch, restarts).
        self.unverified: dict[str, int] = {}
        self.comparing: dict[str, int] = {}  # granted, streaming, not yet past our tip: where the comparison began
        # nestlers whose tap on a hum ended at its home's loss, with that tap (where it read to): an
        # adoption here opens their tap again, so a follower follows the hum to its new home
        self.stranded: dict[str, dict[Owner, Tap]] = {}

    # -- taps -----------------------------------------------------------------

    def open_tap(self, hum: Hum, owner: Owner, since: int, *, granted: bool) -> Tap:
        self.drop_tap(owner, hum.sigil)
        tap = self.facts.taps.open(owner, hum.sigil, since)
        self.retention.mark(hum)
        if granted:
            tap.grant(hum.home_tip)
            if not owner.is_peer and self.facts.set_aside(hum.sigil):  # served as far as it reads, then told why no more comes
                tap.notify(self.facts.aside_error(hum.sigil).tone(sigil=hum.sigil, sid=hum.sid), hum.durable_tip, terminal=True)
        self.outbox.wake(owner)
        return tap

    def drop_tap(self, owner: Owner, sg: str) -> None:
        if self.facts.taps.drop(owner, sg) is None:
            return
        hum, replica = self.facts.hums.get(sg), self.replicas.get(sg)
        if hum is not None and hum.home != self.facts.me and replica and replica.requested and not self.facts.taps.watched(sg):
            # nobody here watches it any more: stop the home replicating to us
            replica.requested = False
            if self.facts.ensemble.is_linked(hum.home):
                self.outbox.send(hum.home, Tone(chi="detach", sigil=sg))

    def close_owner(self, owner: Owner) -> None:
        """A nestler went away, or a link ended: its taps go, and its searches."""
        for tap in self.facts.taps.of_owner(owner):
            self.drop_tap(owner, tap.sigil)
        for seek in self.seeks.values():
            seek.waiting = [w for w in seek.waiting if w[0] is not owner]
        if not owner.is_peer:
            for waiting in self.stranded.values():
                waiting.pop(owner, None)

    # -- a nestler here attaches --------------------------------------------------

    def attach(self, owner: Owner, sg: str, since: int, rid: Any = None) -> None:
        """Open `owner`'s tap on hum `sg` from `since`, wherever the hum lives."""
        hum = self.facts.homed_here(sg)
        if hum is not None:
            self.open_tap(hum, owner, since, granted=True)
            return
        if sg not in self.facts.hums and self.facts.entry(sg) is None:
            self._seek(owner, sg, since, rid)
            return
        home = self.facts.home_of(sg, rid)
        if not self.facts.ensemble.is_linked(home):
            self._read_away(owner, sg, home, since, rid)
            return
        hum = self.replica_hum(sg)
        replica = self.replicas.setdefault(sg, Replica())
        tap = self.open_tap(hum, owner, since, granted=False)
        if replica.requested and replica.granted:
            tap.grant(hum.home_tip)
        elif not replica.requested:
            replica.requested, replica.granted = True, False
            since = self.unverified.get(sg, hum.tip)
            self.outbox.send(home, Tone.make("attach", sigil=sg, since=since, rid=rid))

    def _read_away(self, owner: Owner, sg: str, home: str, since: int, rid: Any) -> None:
        """The home is not linked: what this device holds is served (hello, its petals), then the tap
        hears `peer-loss` as after a loss, so a follower waits for the home or an adoption."""
        hum = self.facts.hums.get(sg)
        if hum is None or not hum.tip:
            raise self.facts.no_route(sg, home, rid)
        tap = self.open_tap(hum, owner, since, granted=False)
        tap.grant(hum.tip)
        held = f"hum {sg} lives on {self.facts.device(home)}, which is not linked: this device's copy was read up to wane {hum.tip}"
        tap.notify(RouteError("peer-loss", held).tone(sigil=sg, sid=hum.sid, held=hum.tip), hum.tip, terminal=True)
        self.strand(hum, [tap])

    def strand(self, hum: Hum, taps: list[Tap]) -> None:
        """These nestlers' taps on `hum` end at its home's loss, once they have read what this device
        holds (or as far as it reads: a damaged row ends one first; a stalled reader may not get there)."""
        waiting = self.stranded.setdefault(hum.sigil, {})
        for tap in taps:
            waiting[tap.owner] = tap

    def follow_here(self, hum: Hum, held: int) -> None:
        """`hum` was adopted here, holding `held` petals: every nestler left waiting at its old home's
        loss follows it, from what it was given (a new hello, then the rest and what this home appends)."""
        for owner, tap in self.stranded.pop(hum.sigil, {}).items():
            if not owner.closed and self.facts.taps.get(owner, hum.sigil) is None:
                self.open_tap(hum, owner, min(tap.cursor, held), granted=True)

    def detach(self, owner: Owner, request: HumRequest) -> None:
        seek = self.seeks.get(request.sigil)
        if seek is not None:
            seek.waiting = [w for w in seek.waiting if w[0] is not owner]
        self.drop_tap(owner, request.sigil)

    def replica_hum(self, sg: str) -> Hum:
        hum = self.facts.hums.get(sg)
        if hum is None:
            entry = self.facts.entry(sg)
            assert entry is not None
            hum = self.facts.new_hum(sg, entry.sid, entry.nest, entry.home)
            hum.born = entry.born
            self.outbox.emit(SaveHum(hum))
        return hum

    def _seek(self, owner: Owner, sg: str, since: int, rid: Any) -> None:
        """A sigil not in the directory (yet): ask every linked peer; its home answers hello.

        Announcements travel one link latency behind a mint, and a sigil may be
        typed in from anywhere, so an unknown sigil is a question, not an error.
        """
        peers = self.facts.ensemble.peers()
        if not peers:
            raise RouteError("unknown-hum", f"no humd in the ensemble hosts hum {sg}", rid)
        seek = self.seeks.get(sg)
        if seek is None:
            seek = self.seeks[sg] = Seek(set(peers))
            for peer in peers:
                self.outbox.send(peer, Tone.make("attach", sigil=sg, since=0, rid=rid))
        seek.waiting.append((owner, since, rid))

    def sought(self, peer: str, granted: Granted) -> bool:
        """A peer's hello answered our search for a sigil; True if it was one."""
        sg = granted.sigil
        seek = self.seeks.pop(sg, None)
        if seek is None:
            return False
        self.facts.ensemble.learn([{"sigil": sg, "sid": granted.sid, "home": peer, "wane": granted.wane, "born": granted.born, "epoch": granted.epoch}], via=peer)
        self.facts.touch(sg)
        hum = self.replica_hum(sg)
        hum.sid = granted.sid or ""
        replica = self.replicas.setdefault(sg, Replica())
        replica.requested = replica.granted = True
        for owner, since, _ in seek.waiting:
            if not owner.closed:
                self.open_tap(hum, owner, since, granted=False)
        if not self.facts.taps.watched(sg):  # everyone who asked has gone: stop the replication at once
            replica.requested = False
            self.outbox.send(peer, Tone(chi="detach", sigil=sg))
            return True
        self.grant_waiting(hum, granted.wane)
        return True

    def seek_refused(self, peer: str, sg: str) -> bool:
        """`peer` does not host `sg` (it said so, or its link went); the last no refuses the waiting taps."""
        seek = self.seeks.get(sg)
        if seek is None:
            return False
        seek.asked.discard(peer)
        if not seek.asked:
            del self.seeks[sg]
            for owner, _, rid in seek.waiting:
                self.outbox.reply(owner, RouteError("unknown-hum", f"no humd in the ensemble hosts hum {sg}", rid).tone(sigil=sg))
        return True

    def grant_waiting(self, hum: Hum, home_wane: int) -> None:
        """The home granted this replica: every waiting tap may now say hello."""
        hum.home_tip = max(hum.home_tip, home_wane)
        for tap in self.facts.taps.of_hum(hum.sigil):
            if not tap.granted:
                tap.grant(home_wane)
                self.outbox.wake(tap.owner)

    # -- the home's side ------------------------------------------------------------

    def peer_attach(self, peer: str, request: HumRequest) -> None:
        hum = self.facts.homed_here(request.sigil)
        if hum is None:
            raise self.facts.not_homed_here(request.sigil, request.rid)
        self.open_tap(hum, self.facts.ensemble.owner(peer), request.since, granted=True)

    def peer_detach(self, peer: str, sg: str) -> None:
        self.drop_tap(self.facts.ensemble.owner(peer), sg)

    # -- the replica's side -------------------------------------------------------------

    def mirrored(self, peer: str, sg: str, *, quiet: bool = False) -> Hum | None:
        """The replica a peer's petal or hello is for, or None when the peer is not that hum's home."""
        hum = self.facts.hums.get(sg)
        if hum is None or hum.home != peer:
            if not quiet:
                log.warning("petal for %s from %s, which is not its home", sg, peer[:8])
            return None
        return hum

    def granted(self, hum: Hum, granted: Granted) -> Diverged | None:
        """The home granted our attach; a branch when we hold more than the new home ever had."""
        hum.sid = granted.sid if granted.sid is not None else hum.sid
        self.replicas.setdefault(hum.sigil, Replica()).granted = True
        since = self.unverified.pop(hum.sigil, None)
        if since is not None and since < min(hum.tip, granted.wane):
            self.comparing[hum.sigil] = since  # until the home's stream passes our tip, a lost stream compares again
        if since is not None and granted.wane < hum.tip:
            return Diverged(hum, granted.wane)
        return None

    def mirror(self, peer: str, hum: Hum, items: list[dict[str, Any]], *, after_cut: bool = False) -> Diverged | None:
        """Append the home's petals to its replica, in order. Stops at a gap (the home is asked again
        from our tip) or where the logs part (`Diverged`: the router sets the branch aside, then goes on).
        What was appended is stored as one change, before anything that follows (a branch set aside)."""
        run: list[tuple[Petal, bytes | None]] = []
        try:
            return self._mirror(peer, hum, items, run, after_cut)
        finally:
            self.journal.appended_run(hum, run)

    def _mirror(self, peer: str, hum: Hum, items: list[Any], run: list[tuple[Petal, bytes | None]], after_cut: bool) -> Diverged | None:
        for i, item in enumerate(items):
            try:
                petal = mirrored_petal(hum.sigil, item)  # a frame's petal as the bytes it came in, when it can be
                if hum.receive(petal):
                    run.append((petal, hum.transcript_key if petal.closes_bloom else None))
                    self.comparing.pop(hum.sigil, None)
                elif hum.unreadable is not None:
                    self.facts.damaged.add(hum.sigil)  # our copy of it does not read: Repairs fetches it back
            except LogError as exc:
                if exc.qualifier == "diverged" and not (after_cut and i == 0):
                    return Diverged(hum, petal.wane - 1, items[i:])
                # a gap: ask the home again from what we hold; wane dedups the overlap
                log.warning("%s; re-attaching %s from %d", exc.message, hum.sigil, hum.tip)
                self.outbox.send(peer, Tone(chi="attach", sigil=hum.sigil, since=hum.tip))
                return None
            except BadTone as exc:
                self.outbox.send(peer, exc.tone(sigil=hum.sigil))
            except (ValueError, KeyError, TypeError) as exc:
                self.outbox.send(peer, BadTone("bad-petal", f"malformed petal: {exc}").tone(sigil=hum.sigil))
        return None

    def refused(self, refusal: Refusal) -> None:
        """The home refused our attach or prompt: the taps still waiting for its hello hear why, and end."""
        hum = self.facts.hums.get(refusal.sigil) if refusal.sigil is not None else None
        if hum is None:
            return
        self.replicas.pop(hum.sigil, None)
        for tap in self.facts.taps.of_hum(hum.sigil):
            if not tap.granted and not tap.owner.is_peer:
                tap.notify(Tone(refusal.tone), hum.tip, terminal=True)
                self.outbox.wake(tap.owner)

    # -- a hum's lifecycle ------------------------------------------------------------------

    def stop(self, sg: str) -> None:
        """We no longer mirror hum `sg` from a home (we are its home now, or it moved)."""
        self.replicas.pop(sg, None)

    def unverified_from(self, sg: str, otherwise: int) -> int:
        """Where our log of `sg` is yet to be compared with its home's (`otherwise` when nothing is owed)."""
        return min((w for w in (self.unverified.get(sg), self.comparing.get(sg)) if w is not None), default=otherwise)

    def verify_from(self, sg: str, wane: int) -> None:
        """The hum moved: compare our log with its new home's from `wane` on the next attach (or from an
        earlier wane still waiting to be compared: it moved more than once before we compared)."""
        self.unverified[sg] = min(wane, self.unverified_from(sg, wane))
        self.comparing.pop(sg, None)

    def reconcile(self, hum: Hum) -> None:
        """Attach to the new home from where our logs may part, comparing what we hold; the branch it
        never had is cut as it streams (`Diverged`) or at its hello (it holds less than we do)."""
        if hum.sigil in self.unverified and self.facts.ensemble.is_linked(hum.home) and not self.replicas.get(hum.sigil):
            self.replicas[hum.sigil] = Replica(requested=True)
            self.outbox.send(hum.home, Tone(chi="attach", sigil=hum.sigil, since=self.unverified[hum.sigil]))

    def attach_again(self, hum: Hum) -> None:
        """The home could not read its own log for our attach (a damaged row it fetches back): ask again,
        comparing from where we were to compare, or following on from our tip."""
        if not self.facts.ensemble.is_linked(hum.home) or hum.home == self.facts.me:
            return
        self.replicas.pop(hum.sigil, None)
        if hum.sigil in self.comparing:
            self.unverified[hum.sigil] = self.comparing.pop(hum.sigil)
        if hum.sigil in self.unverified:
            self.reconcile(hum)
        elif self.facts.taps.watched(hum.sigil):
            self.replicas[hum.sigil] = Replica(requested=True)
            self.outbox.send(hum.home, Tone(chi="attach", sigil=hum.sigil, since=hum.tip))

    def home_lost(self, peer: str) -> None:
        """The link to `peer` ended: its searches are answered no, and what it replicated to us stops."""
        for sg in list(self.seeks):
            self.seek_refused(peer, sg)
        for hum in self.facts.hums.values():
            if hum.home == peer:
                self.replicas.pop(hum.sigil, None)
                if hum.sigil in self.comparing:  # its stream ended before it passed our tip: compare again at relink
                    self.unverified[hum.sigil] = self.comparing.pop(hum.sigil)

    def link_replaced(self, owner: Owner) -> list[str]:
        """A link to a peer was replaced by a newer one: the peer's taps on the old one go; the
        replicas we followed at that peer are returned, to be asked for again on the new link."""
        for tap in self.facts.taps.of_owner(owner):
            self.facts.taps.drop(owner, tap.sigil)
        followed = [sg for sg, hum in self.facts.hums.items() if hum.home == owner.name and self.replicas.pop(sg, None) is not None]
        for sg in followed:
            if sg in self.comparing:  # its comparison was under way on the old link: made again on the new one
                self.unverified[sg] = self.comparing.pop(sg)
        return followed

    def follow_again(self, peer: str, followed: list[str]) -> None:
        """After a replaced link: ask `peer` again for what we followed and what we were seeking there."""
        for sg in followed:
            if sg in self.unverified:
                self.reconcile(self.facts.hums[sg])
            elif self.facts.taps.watched(sg):
                self.replicas[sg] = Replica(requested=True)
                self.outbox.send(peer, Tone(chi="attach", sigil=sg, since=self.facts.hums[sg].tip))
        for sg, seek in self.seeks.items():
            if peer in seek.asked:
                self.outbox.send(peer, Tone(chi="attach", sigil=sg, since=0))

    def forget(self, hum: Hum) -> None:
        """`hum` is dropped here: stop its home replicating to us, and forget what we kept about it."""
        replica = self.replicas.pop(hum.sigil, None)
        if hum.home != self.facts.me and replica is not None and replica.requested and self.facts.ensemble.is_linked(hum.home):
            self.outbox.send(hum.home, Tone(chi="detach", sigil=hum.sigil))
        self.unverified.pop(hum.sigil, None)
        self.comparing.pop(hum.sigil, None)
        self.stranded.pop(hum.sigil, None)
