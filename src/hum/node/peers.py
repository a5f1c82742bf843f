"""Peers: one link per sibling, a lost home said out loud on every tap that needs it, revocations spread."""

from __future__ import annotations

import logging

from hum.core.drone import Drone, Verdict
from hum.ensemble.trust.certificates import HumdId
from hum.ensemble.trust.siblings import SiblingCheck
from hum.errors import IdentityError, RouteError
from hum.node.effects import CutLink, PeersChanged, Revoked
from hum.node.facts import Facts
from hum.node.inbound import Revocation
from hum.node.outbox import Outbox
from hum.node.owners import Owner, OwnerKind
from hum.node.replicas import Replicas
from hum.wire.tones import Tone

log = logging.getLogger(__name__)

# Hums announced per `hums` tone when a link comes up: a humd with thousands of
# hums sends several tones, each far below the 1 MiB line limit.
ANNOUNCE_BATCH = 500


class Peers:
    """Links coming and going, who watches the peer list, liveness verdicts, and revocations."""

    def __init__(self, facts: Facts, outbox: Outbox, replicas: Replicas, drone: Drone, check: SiblingCheck) -> None:
        self.facts = facts
        self.outbox = outbox
        self.replicas = replicas
        self.drone = drone
        self.check = check
        self.revocations: dict[str, str] = {}  # operator-signed: HumdId -> signature hex
        self.watchers: dict[Owner, list[str]] = {}  # nestler -> the peers it was last told
        self.lost_at: dict[str, float] = {}  # sigil -> when its home's loss was told to a nestler here

    def peers(self) -> list[str]:
        return self.facts.ensemble.peers()

    # -- links ------------------------------------------------------------------

    def link_up(self, peer: HumdId, *, dialled: bool, name: str) -> Owner | None:
        """A link proved its peer; its owner, or None if it duplicates a live link to that peer."""
        ensemble = self.facts.ensemble
        followed: list[str] = []
        if ensemble.is_linked(peer):
            existing = ensemble.owner(peer)
            # Dialled the same way as the live link (the peer dials two of our addresses, or redials
            # while we still hold its old link): the live link stays, so two dial loops never take
            # turns replacing each other. Dialled both ways at once: keep the link dialled by the
            # lower HumdId, a rule both ends compute alike, so exactly one survives.
            if existing.dialled == dialled or dialled != (self.facts.me < peer):
                return None
            self.outbox.emit(CutLink(existing))
            followed = self._replaced(existing)
        owner = Owner(OwnerKind.PEER, peer)
        owner.dialled = dialled
        ensemble.link_up(peer, self.facts.clock.monotonic(), owner, name)
        self._changed()
        self.drone.link_heard(peer, self.facts.clock.monotonic())
        self._introduce(owner)
        self.replicas.follow_again(peer, followed)
        log.info("linked with %s", peer[:8])
        return owner

    def _replaced(self, owner: Owner) -> list[str]:
        """The live link gives way to a new one to the same peer: not a loss, so no nestler hears
        `peer-loss`; the hums followed there are returned, to be asked for again on the new link."""
        self.facts.ensemble.link_down(owner.name)
        owner.closed = True
        return self.replicas.link_replaced(owner)

    def _introduce(self, owner: Owner) -> None:
        """What a peer hears first: every hum homed here and every one forgotten here (numbered parts),
        and every operator-signed revocation."""
        waiting = self.facts.awaiting_store  # an adoption (or a mint after a forget) not stored yet is listed once it is
        mine = [h.summary() for h in self.facts.hums.values() if h.home == self.facts.me and h.sigil not in waiting]
        gone = [{"sigil": sg, "born": born} for sg, born in self.facts.tombstones]
        starts = range(0, max(len(mine), len(gone), 1), ANNOUNCE_BATCH)
        for part, start in enumerate(starts, 1):
            listing = Tone(chi="hums", hums=mine[start : start + ANNOUNCE_BATCH], part=part, parts=len(starts))
            if gone[start : start + ANNOUNCE_BATCH]:
                listing["forgotten"] = gone[start : start + ANNOUNCE_BATCH]
            self.outbox.reply(owner, listing)
        for hid, signature in self.revocations.items():
            self.outbox.reply(owner, Tone(chi="revoke", humdId=hid, signature=signature))

    def heard(self, peer: str) -> None:
        """Bytes arrived from `peer`: its home is alive (the drone's stall rule reads this)."""
        self.drone.link_heard(peer, self.facts.clock.monotonic())

    def cut(self, owner: Owner) -> None:
        """Say goodbye on `owner`'s link and count the peer lost (a duplicate replaced, a revocation)."""
        self.outbox.emit(CutLink(owner))
        self.lost(owner)

    def lost(self, owner: Owner) -> None:
        """The link `owner` stood for ended; if it was the live link, the peer is gone and its hums' taps hear it."""
        peer, ensemble = owner.name, self.facts.ensemble
        if not ensemble.is_linked(peer) or ensemble.owner(peer) is not owner:
            return  # a link already replaced or never up: nothing of ours stood on it
        ensemble.link_down(peer)
        self._changed()
        owner.closed = True
        self.replicas.close_owner(owner)
        self.replicas.home_lost(peer)
        self.drone.link_lost(peer)  # the drone stays quiet about these hums from now on
        for hum in self.facts.hums.values():
            if hum.home == peer:
                self.surface(Verdict(hum.sigil, "peer-loss", f"lost the link to home {self.facts.device(peer)}"))

    def surface(self, verdict: Verdict) -> None:
        """A drone verdict as a tone on every local tap of the hum."""
        hum = self.facts.hums.get(verdict.sigil)
        if hum is None:
            return
        if verdict.kind == "peer-loss":
            tone = RouteError("peer-loss", verdict.detail).tone(sigil=hum.sigil, sid=hum.sid)
            self.replicas.strand(hum, [t for t in self.facts.taps.of_hum(hum.sigil) if not t.owner.is_peer and not t.ended])
        else:
            tone = Tone(chi="drone", sigil=hum.sigil, sid=hum.sid, verdict=verdict.kind, message=verdict.detail)
        watched = self.outbox.notify_watchers(hum.sigil, tone, terminal=verdict.kind == "peer-loss")
        if verdict.kind == "peer-loss" and watched:
            self.lost_at[hum.sigil] = self.facts.clock.monotonic()  # somebody here was following it

    def tick(self) -> None:
        """The drone looks at blooms; what it concludes reaches the hums' taps."""
        for verdict in self.drone.tick(self.facts.clock.monotonic(), self.facts.me):
            self.surface(verdict)

    # -- who watches the list ----------------------------------------------------------

    def reply(self, rid: object = None) -> Tone:
        """A `peers` tone: who is linked now, and what their people call them."""
        peers = self.peers()
        return Tone.make("peers", rid=rid, peers=peers, names={p: self.facts.ensemble.names.get(p, "") for p in peers})

    def watch(self, owner: Owner) -> None:
        """A fresh `peers` tone at every change, so a nestler can tell when a home is back."""
        self.watchers[owner] = self.peers()

    def _changed(self) -> None:
        """A link came or went: the shell's waiters look again, and every watching nestler is told."""
        self.outbox.emit(PeersChanged())
        peers = self.peers()
        for watcher, told in list(self.watchers.items()):
            if told != peers:
                self.watchers[watcher] = peers
                self.outbox.reply(watcher, self.reply())

    # -- revocation ------------------------------------------------------------------------

    def revoke(self, humd_id: str, signature: bytes | None) -> HumdId:
        """Refuse `humd_id` from now on and cut its link; a signed revocation spreads to all siblings.

        Only the operator key can sign one, so a sibling cannot revoke its
        peers; an unsigned revocation stays on this device.
        """
        hid = HumdId.parse(humd_id)
        if signature is not None:
            self.facts.identity.operator.verify_revocation(hid, signature)
        fresh = hid not in self.check.revoked or (signature is not None and hid not in self.revocations)
        self.check.revoke(hid)
        if signature is not None and hid not in self.revocations:
            self.revocations[hid] = signature.hex()
            self.outbox.send_to_all(Tone(chi="revoke", humdId=hid, signature=signature.hex()), but=hid)
        if self.facts.ensemble.is_linked(hid):
            self.cut(self.facts.ensemble.owner(hid))
        if fresh:
            self.outbox.emit(Revoked(hid, signature.hex() if signature is not None else None))
        return hid

    def heard_revocation(self, peer: str, revocation: Revocation) -> None:
        try:
            hid = HumdId.parse(revocation.humd_id)
            signature = bytes.fromhex(revocation.signature)
            if hid in self.revocations:
                return
            self.revoke(hid, signature)
        except (IdentityError, ValueError) as exc:
            log.warning("ignored a revocation from %s: %s", peer[:8], exc)
            return
        log.warning("%s revoked by the operator (heard from %s)", hid[:8], peer[:8])

    def close_owner(self, owner: Owner) -> None:
        self.watchers.pop(owner, None)

    def drop(self, sg: str) -> None:
        self.lost_at.pop(sg, None)
