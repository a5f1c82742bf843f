"""Replication: attaching to hums wherever they live, seeking unknown sigils, mirroring a home's petals."""

from __future__ import annotations

import logging
from typing import Any

from hum.core.hum import Hum
from hum.core.petal import Petal, mirrored_petal
from hum.ensemble.link import BATCH_PETALS
from hum.errors import BadTone, LogError, RouteError
from hum.node.effects import SaveHum
from hum.node.owners import Owner
from hum.node.state import NodeState, Replica, Seek, not_homed_here
from hum.wire.tones import Tone

log = logging.getLogger(__name__)


class Replication(NodeState):
    """Taps on hums homed elsewhere: the replica's attach, the home's grant, the petals that follow."""

    def _attach(self, owner: Owner, sg: str, since: int, rid: Any = None) -> None:
        """Open `owner`'s tap on hum `sg` from `since`, wherever the hum lives."""
        hum = self.hums.get(sg)
        if hum is not None and hum.home == self.me:
            self._open_tap(hum, owner, since, granted=True)
            return
        if hum is None and self.ensemble.lookup(sg) is None:
            self._seek(owner, sg, since, rid)
            return
        home = hum.home if hum is not None else self.ensemble.home_of(sg, rid)
        if not self.ensemble.is_linked(home):
            raise self._no_route(sg, home, rid)
        hum = self._replica_hum(sg)
        replica = self.replicas.setdefault(sg, Replica())
        tap = self._open_tap(hum, owner, since, granted=False)
        if replica.requested and replica.granted:
            tap.grant(hum.home_tip)
        elif not replica.requested:
            replica.requested, replica.granted = True, False
            since = self.unverified.get(sg, hum.tip)
            self._send(home, Tone.make("attach", sigil=sg, since=since, rid=rid))

    def _seek(self, owner: Owner, sg: str, since: int, rid: Any) -> None:
        """A sigil not in the directory (yet): ask every linked peer; its home answers hello.

        Announcements travel one link latency behind a mint, and a sigil may be
        typed in from anywhere, so an unknown sigil is a question, not an error.
        """
        peers = self.peers()
        if not peers:
            raise RouteError("unknown-hum", f"no humd in the ensemble hosts hum {sg}", rid)
        seek = self.seeks.get(sg)
        if seek is None:
            seek = self.seeks[sg] = Seek(set(peers))
            for peer in peers:
                self._send(peer, Tone.make("attach", sigil=sg, since=0, rid=rid))
        seek.waiting.append((owner, since, rid))

    def _sought(self, peer: str, tone: Tone) -> bool:
        """A peer answered our search for a sigil; True if the tone was about one."""
        sg = str(tone.get("sigil"))
        seek = self.seeks.get(sg)
        if seek is None:
            return False
        if tone.chi == "hello":
            del self.seeks[sg]
            self.ensemble.learn([{"sigil": sg, "sid": tone.get("sid"), "home": peer, "wane": tone.get("wane")}], via=peer)
            self._touch(sg)
            hum = self._replica_hum(sg)
            hum.sid = str(tone.get("sid", ""))
            replica = self.replicas.setdefault(sg, Replica())
            replica.requested = replica.granted = True
            for owner, since, _ in seek.waiting:
                if not owner.closed:
                    self._open_tap(hum, owner, since, granted=False)
            if not self.taps.watched(sg):  # everyone who asked has gone: stop the replication at once
                replica.requested = False
                self._send(peer, Tone(chi="detach", sigil=sg))
                return True
            self._grant_waiting(hum, int(tone.get("wane", 0)))
            return True
        self._seek_refused(peer, sg)
        return True

    def _orphan_after(self, hum: Hum, keep: int) -> None:
        """Petals after `keep` are a branch the home never had (`Adopting`)."""

    def _forwarded_refusal(self, peer: str, tone: Tone) -> bool:
        """A refusal of a tone forwarded for one nestler; True if it was one (`Permitting`)."""
        return False

    def _seek_refused(self, peer: str, sg: str) -> None:
        """`peer` does not host `sg` (it said so, or its link went); the last no refuses the waiting taps."""
        seek = self.seeks.get(sg)
        if seek is None:
            return
        seek.asked.discard(peer)
        if not seek.asked:
            del self.seeks[sg]
            for owner, _, rid in seek.waiting:
                self._reply(owner, RouteError("unknown-hum", f"no humd in the ensemble hosts hum {sg}", rid).tone(sigil=sg))

    def _grant_waiting(self, hum: Hum, home_wane: int) -> None:
        """The home granted this replica: every waiting tap may now say hello."""
        hum.home_tip = max(hum.home_tip, home_wane)
        for tap in self.taps.of_hum(hum.sigil):
            if not tap.granted:
                tap.grant(home_wane)
                self._wake(tap.owner)

    def _replica_hum(self, sg: str) -> Hum:
        hum = self.hums.get(sg)
        if hum is None:
            entry = self.ensemble.lookup(sg) or {}
            hum = self._new_hum(sg, str(entry.get("sid", "")), str(entry.get("nest", "")), str(entry["home"]))
            self._emit(SaveHum(hum))
        return hum

    def _detach(self, owner: Owner, sg: str) -> None:
        seek = self.seeks.get(sg)
        if seek is not None:
            seek.waiting = [w for w in seek.waiting if w[0] is not owner]
        self._drop_tap(owner, sg)

    def _peer_attach(self, peer: str, tone: Tone) -> None:
        sg = tone.get("sigil")
        hum = self.hums.get(sg) if isinstance(sg, str) else None
        if hum is None or hum.home != self.me:
            raise not_homed_here(hum, sg, self.me, tone.get("rid"))
        since = tone.get("since", 0)
        ok = isinstance(since, int) and not isinstance(since, bool) and since >= 0
        self._open_tap(hum, self.ensemble.owner(peer), since if ok else 0, granted=True)

    def _peer_detach(self, peer: str, tone: Tone) -> None:
        sg = tone.get("sigil")
        if isinstance(sg, str):
            self._drop_tap(self.ensemble.owner(peer), sg)

    def _replica_granted(self, peer: str, tone: Tone) -> None:
        if self._sought(peer, tone):
            return
        hum = self.hums.get(str(tone.get("sigil")))
        if hum is None or hum.home != peer:
            return
        hum.sid = str(tone.get("sid", hum.sid))
        replica = self.replicas.setdefault(hum.sigil, Replica())
        replica.granted = True
        wane = tone.get("wane", 0)
        wane = wane if isinstance(wane, int) and not isinstance(wane, bool) else 0
        if self.unverified.pop(hum.sigil, None) is not None and wane < hum.tip:
            self._orphan_after(hum, wane)  # we hold more than the new home ever had: a branch
        self._grant_waiting(hum, wane)

    def _replica_petal(self, peer: str, tone: Tone) -> None:
        hum = self._mirrored(peer, tone)
        if hum is not None:
            self._mirror(peer, hum, tone)

    def _replica_petals(self, peer: str, tone: Tone) -> None:
        """A `petals` frame: petals of one hum from its home, applied in order as one batch.

        Every petal of a frame is appended before the store's committer runs
        again, so the whole frame lands in one transaction. A bad petal is
        answered `bad-petal` like a single one, and the link stays up.
        """
        items = tone.get("petals")
        if not isinstance(items, list) or not items:
            raise BadTone("bad-petal", "`petals` is a non-empty list of petals")
        if len(items) > BATCH_PETALS:
            raise BadTone("bad-petal", f"a `petals` frame carries at most {BATCH_PETALS} petals")
        hum = self._mirrored(peer, tone)
        if hum is None:
            return
        for item in items:
            try:
                if not self._mirror(peer, hum, mirrored_petal(hum.sigil, item)):  # bytes kept as they came
                    break  # a gap: the home was asked again from our tip; the rest would not fit either
            except BadTone as exc:
                self._send(peer, exc.tone(sigil=hum.sigil))

    def _mirrored(self, peer: str, tone: Tone) -> Hum | None:
        """The replica a peer's petal is for, or None (logged) when the peer is not that hum's home."""
        hum = self.hums.get(str(tone.get("sigil")))
        if hum is None or hum.home != peer:
            log.warning("petal for %s from %s, which is not its home", tone.get("sigil"), peer[:8])
            return None
        return hum

    def _mirror(self, peer: str, hum: Hum, tone: dict[str, Any] | Petal) -> bool:
        """Append one of the home's petals to its replica; False at a gap (the home is asked again)."""
        try:
            petal = tone if isinstance(tone, Petal) else Petal.from_tone(tone)
            try:
                took = hum.receive(petal)
            except LogError as exc:
                if exc.qualifier != "diverged":
                    raise
                self._orphan_after(hum, petal.wane - 1)  # the home's log parts from ours here
                took = hum.receive(petal)
            if took:
                self._appended(hum, petal)
        except LogError as exc:
            # a gap: ask the home again from what we hold; wane dedups the overlap
            log.warning("%s; re-attaching %s from %d", exc.message, hum.sigil, hum.tip)
            self._send(peer, Tone(chi="attach", sigil=hum.sigil, since=hum.tip))
            return False
        except (ValueError, KeyError, TypeError) as exc:
            raise BadTone("bad-petal", f"malformed petal: {exc}") from exc
        return True

    def _route_refused(self, peer: str, tone: Tone) -> None:
        """The home refused our attach, prompt or answer: tell whoever waits on it."""
        if self._sought(peer, tone) or self._forwarded_refusal(peer, tone):
            return
        hum = self.hums.get(str(tone.get("sigil")))
        if hum is None:
            return
        self.replicas.pop(hum.sigil, None)
        for tap in self.taps.of_hum(hum.sigil):
            if not tap.granted and not tap.owner.is_peer:
                tap.notify(Tone(tone), hum.tip, terminal=True)
                self._wake(tap.owner)
