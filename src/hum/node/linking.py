"""Links and liveness: peers coming and going, a lost home said out loud, revocations spread."""

from __future__ import annotations

import logging

from hum.core.drone import Verdict
from hum.core.hum import Hum
from hum.ensemble.certificates import HumdId
from hum.errors import IdentityError, RouteError
from hum.node.effects import CutLink, Effect, Revoked
from hum.node.owners import Owner, OwnerKind
from hum.node.replication import Replication
from hum.node.state import Replica
from hum.wire.tones import Tone

log = logging.getLogger(__name__)

# Hums announced per `hums` tone when a link comes up: a humd with thousands of
# hums sends several tones, each far below the 1 MiB line limit.
ANNOUNCE_BATCH = 500


class Linking(Replication):
    """The ensemble side of a humd: one link per peer, peer-loss on every tap that needs it, revocation."""

    def link_up(self, peer: HumdId, *, dialled: bool, name: str = "") -> tuple[Owner | None, list[Effect]]:
        """A link proved its peer; its owner, or None if it duplicates a live link to that peer."""
        existing = self.ensemble.owner(peer) if self.ensemble.is_linked(peer) else None
        followed: list[str] = []
        if existing is not None:
            # Dialled the same way as the live link (the peer dials two of our addresses, or
            # redials while we still hold its old link): the live link stays, so two dial loops
            # never take turns replacing each other. Both sides dialled at once: keep the link
            # dialled by the lower HumdId, a rule both ends compute alike, so exactly one survives.
            if existing.dialled == dialled or dialled != (self.me < peer):
                return None, self._done()
            self._emit(CutLink(existing))
            followed = self._link_replaced(existing)
        owner = Owner(OwnerKind.PEER, peer)
        owner.dialled = dialled
        self.ensemble.link_up(peer, self.clock.monotonic(), owner, name)
        self._peers_changed()
        self.drone.link_heard(peer, self.clock.monotonic())
        mine = [h.summary() for h in self.hums.values() if h.home == self.me]
        # numbered parts: after the last one the peer knows every hum homed here (what is missing was forgotten)
        starts = range(0, max(len(mine), 1), ANNOUNCE_BATCH)
        for part, start in enumerate(starts, 1):
            self._reply(owner, Tone(chi="hums", hums=mine[start : start + ANNOUNCE_BATCH], part=part, parts=len(starts)))
        for hid, signature in self.revocations.items():
            self._reply(owner, Tone(chi="revoke", humdId=hid, signature=signature))
        for sg in list(self.unverified):  # hums that moved to this peer: compare logs now it is back
            self._reconcile(self.hums[sg])
        self._follow_again(peer, followed)
        log.info("linked with %s", peer[:8])
        return owner, self._done()

    def _link_replaced(self, owner: Owner) -> list[str]:
        """A live link gives way to a new one to the same peer: not a loss, so no nestler hears
        `peer-loss`; the peer's taps on it go, and the hums we follow there are returned, to be
        asked for again on the new link."""
        self.ensemble.link_down(owner.name)
        owner.closed = True
        for tap in self.taps.of_owner(owner):
            self._drop_tap(owner, tap.sigil)
        return [
            sg for sg, hum in self.hums.items() if hum.home == owner.name and self.replicas.pop(sg, None) is not None
        ]

    def _follow_again(self, peer: str, followed: list[str]) -> None:
        """After a replaced link: re-ask `peer` for what we followed and what we were seeking there."""
        for sg in followed:
            if self.taps.watched(sg):
                self.replicas[sg] = Replica(requested=True)
                self._send(peer, Tone.make("attach", sigil=sg, since=self.hums[sg].tip))
        for sg, seek in self.seeks.items():
            if peer in seek.asked:
                self._send(peer, Tone.make("attach", sigil=sg, since=0))

    def link_heard(self, peer: str) -> None:
        """Bytes arrived from `peer`: its home is alive (the drone's stall rule reads this)."""
        self.drone.link_heard(peer, self.clock.monotonic())

    def link_down(self, owner: Owner) -> list[Effect]:
        """The link `owner` stood for ended (reset, EOF, missed heartbeats, goodbye)."""
        self._link_lost(owner)
        return self._done()

    def disconnect(self, peer: str) -> list[Effect]:
        """Cut the link to `peer` now (revocation): goodbye, then gone from `peers()`."""
        if self.ensemble.is_linked(peer):
            owner = self.ensemble.owner(peer)
            self._emit(CutLink(owner))
            self._link_lost(owner)
        return self._done()

    def _link_lost(self, owner: Owner) -> None:
        peer = owner.name
        if not self.ensemble.is_linked(peer) or self.ensemble.owner(peer) is not owner:
            return  # a link already replaced or never up: nothing of ours stood on it
        self.ensemble.link_down(peer)
        self._peers_changed()
        owner.closed = True
        for tap in self.taps.of_owner(owner):
            self._drop_tap(owner, tap.sigil)
        for sg in list(self.seeks):
            self._seek_refused(peer, sg)
        self.drone.link_lost(peer)  # the drone stays quiet about these hums from now on
        for hum in self.hums.values():
            if hum.home == peer:
                self.replicas.pop(hum.sigil, None)
                self._surface(Verdict(hum.sigil, "peer-loss", f"lost the link to home {self.device(peer)}"))

    def _peer_hums(self, peer: str, tone: Tone) -> None:
        hums = tone.get("hums")
        for sg in self.ensemble.learn([h for h in hums if isinstance(h, dict)] if isinstance(hums, list) else [], via=peer):
            self._touch(sg)
            if sg in self.hums and self.hums[sg].home != peer:
                self._home_moved(self.hums[sg])

    def tick(self) -> list[Effect]:
        """The drone looks at blooms; what it concludes reaches the hums' taps."""
        for verdict in self.drone.tick(self.clock.monotonic(), self.me):
            self._surface(verdict)
        self._expire_asks()
        self._auto_adopt()
        return self._done()

    def _auto_adopt(self) -> None:
        """Adopt hums whose home has been lost long enough (`Adopting`)."""

    def _home_moved(self, hum: Hum) -> None:
        """Another humd is home to `hum` now (`Adopting`)."""

    def _reconcile(self, hum: Hum) -> None:
        """Compare a moved hum's log with its new home's (`Adopting`)."""

    def _expire_asks(self) -> None:
        """Asks nobody answered in time are denied (`Permitting`)."""

    def _surface(self, verdict: Verdict) -> None:
        """A drone verdict as a tone on every local tap of the hum."""
        hum = self.hums.get(verdict.sigil)
        if hum is None:
            return
        if verdict.kind == "peer-loss":
            tone = RouteError("peer-loss", verdict.detail).tone(sigil=hum.sigil, sid=hum.sid)
        else:
            tone = Tone(chi="drone", sigil=hum.sigil, sid=hum.sid, verdict=verdict.kind, message=verdict.detail)
        watched = False
        for tap in self.taps.of_hum(hum.sigil):
            if tap.owner.is_peer or tap.ended:
                continue
            tap.notify(Tone(tone), hum.tip, terminal=verdict.kind == "peer-loss")
            self._wake(tap.owner)
            watched = True
        if verdict.kind == "peer-loss" and watched:
            self.lost_at[hum.sigil] = self.clock.monotonic()  # somebody here was following it

    def revoke(self, humd_id: str, signature: bytes | None = None) -> tuple[HumdId, list[Effect]]:
        """Refuse `humd_id` from now on and cut its link; a signed revocation spreads to all siblings.

        Only the operator key can sign one, so a sibling cannot revoke its
        peers; an unsigned revocation stays on this device.
        """
        hid = self._revoke(humd_id, signature)
        return hid, self._done()

    def _revoke(self, humd_id: str, signature: bytes | None) -> HumdId:
        hid = HumdId.parse(humd_id)
        if signature is not None:
            self.identity.operator.verify_revocation(hid, signature)
        fresh = hid not in self.check.revoked or (signature is not None and hid not in self.revocations)
        self.check.revoke(hid)
        if signature is not None and hid not in self.revocations:
            self.revocations[hid] = signature.hex()
            for peer in self.peers():
                if peer != hid:
                    self._send(peer, Tone(chi="revoke", humdId=hid, signature=signature.hex()))
        if self.ensemble.is_linked(hid):
            owner = self.ensemble.owner(hid)
            self._emit(CutLink(owner))
            self._link_lost(owner)
        if fresh:
            self._emit(Revoked(hid, signature.hex() if signature is not None else None))
        return hid

    def _heard_revocation(self, peer: str, tone: Tone) -> None:
        try:
            hid = HumdId.parse(str(tone.get("humdId", "")))
            signature = bytes.fromhex(str(tone.get("signature", "")))
            if hid in self.revocations:
                return
            self._revoke(hid, signature)
        except (IdentityError, ValueError) as exc:
            log.warning("ignored a revocation from %s: %s", peer[:8], exc)
            return
        log.warning("%s revoked by the operator (heard from %s)", hid[:8], peer[:8])
