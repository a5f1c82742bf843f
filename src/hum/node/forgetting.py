"""Forgetting: a hum removed at its home (and so on every device), or only this device's copy of it; retention.

At the home, `forget` removes the hum from memory and the store in one
commit, tells every tap on it why it ended (`route-error` `forgotten`) and
sends `forget` to every linked peer, which drops its replica and its
directory entry. The home keeps a tombstone, (sigil, born): a device that was
away learns it at the next link-up (the listing's `forgotten`) and drops its
copy of that incarnation; and a hum minted again under the same sigil is a new
incarnation (a later `born`), so a device still holding the old one drops it
when it hears of the new. A listing that leaves a hum out says only that the
peer is not (or no longer) its home: nothing held is dropped for it. Elsewhere, `forget`
drops only this device's replica; the hum lives on at its home and can be
attached again (from wane 0). Retention forgets, as the home does, hums
homed here that nobody prompted or attached for `retain_days` days.
"""

from __future__ import annotations

import logging

from hum.core.hum import Hum
from hum.errors import LogError, RouteError
from hum.node.adoption import Adoption
from hum.node.effects import Forget
from hum.node.facts import Facts
from hum.node.inbound import Announcement, HumRequest
from hum.node.journal import Journal
from hum.node.outbox import Outbox
from hum.node.owners import Owner
from hum.node.peers import Peers
from hum.node.permits import Permits
from hum.node.repairs import Repairs
from hum.node.replicas import Replicas
from hum.node.retention import Retention
from hum.wire.tones import Tone

log = logging.getLogger(__name__)

# A link-up listing in more parts than this is not believed: at 500 hums a part (ANNOUNCE_BATCH)
# it would name five million hums, far past what one humd holds.
LISTING_PARTS_MAX = 10_000


class Forgetting:
    """`forget` from a nestler or a home, the home's listing at link-up, and retention's verdicts."""

    def __init__(
        self,
        facts: Facts,
        outbox: Outbox,
        holders: tuple[Journal, Replicas, Peers, Permits, Adoption, Retention, Repairs],
    ) -> None:
        self.facts = facts
        self.outbox = outbox
        # every part that keeps something about a hum: each drops it when the hum goes
        self.journal, self.replicas, self.peers, self.permits, self.adoption, self.retention, self.repairs = holders
        self.listings: dict[str, tuple[int, set[str]]] = {}  # peer -> (next part, sigils) of its link-up listing

    # -- a nestler asks ---------------------------------------------------------

    def request(self, owner: Owner, request: HumRequest) -> None:
        sg, rid, me = request.sigil, request.rid, self.facts.me
        hum, entry = self.facts.hums.get(sg), self.facts.entry(sg)
        if hum is not None and hum.home == me:
            if hum.bloom_open or hum.pending_prompts:
                raise LogError("bloom-open", f"hum {sg} is blooming: cancel the bloom or let it finish, then forget it", rid)
            everywhere = f"hum {sg} was forgotten at its home, {self.facts.identity.name} ({me[:8]}): it is gone from every device"
            self.everywhere(hum, RouteError("forgotten", everywhere))
            where, home = "everywhere", me
        elif hum is not None or entry is not None:
            home = hum.home if hum is not None else entry.home  # type: ignore[union-attr]
            if hum is not None:
                copy = f"this device's copy of hum {sg} was forgotten; it still lives on {self.facts.device(home)}: attach again to follow it"
                self.drop(hum, RouteError("forgotten", copy))
            where = "this-device"
        else:
            raise RouteError("unknown-hum", f"this device knows no hum {sg}", rid)
        name = (self.facts.identity.name if home == me else self.facts.ensemble.names.get(home)) or None
        answer = Tone.make("forgotten", rid=rid, sigil=sg, where=where, home=home, homeName=name)
        if hum is not None:
            self.journal.answer_when_saved(hum, owner, answer)  # told done once the removal is stored
        else:
            self.outbox.reply(owner, answer)

    # -- the home forgets ---------------------------------------------------------

    def everywhere(self, hum: Hum, gone: RouteError) -> None:
        """The home removes `hum`: here at once, on every linked peer by `forget`, on the others at their next link-up."""
        self.facts.bury(hum.sigil, hum.born)
        self.drop(hum, gone, tombstone=int(self.facts.clock.wall_ms()))
        self.facts.unlist(hum.sigil)
        # told once stored: siblings drop their copies (and branches), which a restart must not take back
        self.journal.announce_when_saved(hum, Tone(chi="forget", sigil=hum.sigil, born=hum.born))

    def drop(self, hum: Hum, gone: RouteError, tombstone: int | None = None) -> None:
        """Remove what this device holds of `hum` (memory and store); every local tap on it hears `gone`, last."""
        sg = hum.sigil
        for tap in self.facts.taps.of_hum(sg):
            self.facts.taps.drop(tap.owner, sg)
            if not tap.owner.is_peer and not tap.ended:
                self.outbox.reply(tap.owner, gone.tone(sigil=sg, sid=hum.sid))
        self.replicas.forget(hum)
        for holder in (self.journal, self.peers, self.adoption, self.retention, self.repairs):
            holder.drop(sg)
        self.permits.closed(sg)
        self.facts.drop(sg)
        self.outbox.emit(Forget(hum, tombstone))

    # -- a home tells us ------------------------------------------------------------

    def heard(self, peer: str, request: HumRequest) -> None:
        """`peer` forgot a hum: if it is that hum's home, this device drops its copy and its directory entry."""
        home = self.facts.home_or_none(request.sigil)
        if home == peer and self._same(request.sigil, request.born):
            self._forgotten_at_home(request.sigil, peer)
        elif home is not None and home != peer:
            log.warning("ignored %s forgetting hum %s, which it is not home to", peer[:8], request.sigil)

    def heard_hums(self, peer: str, announcement: Announcement) -> None:
        """An announcement of hums homed at `peer`: a re-minted hum's old copy goes, a hum we knew
        elsewhere that moved there is followed, and a link-up listing's last part says which of
        the hums we knew there were forgotten."""
        self.reminted(peer, announcement)
        for sg in self.facts.ensemble.learn(announcement.hums, via=peer):
            self.facts.touch(sg)
        self.adoption.follow_announced(peer, announcement.hums)
        self.listing(peer, announcement)

    def reminted(self, peer: str, announcement: Announcement) -> None:
        """Before an announcement is learnt: a hum we hold from `peer` that it now names with a later
        `born` was forgotten there and minted again, so our copy of the old incarnation goes; one it
        names with an earlier `born` lost our incarnation there, so ours is compared with its whole log."""
        for entry in announcement.hums:
            sg, born = entry.get("sigil"), entry.get("born")
            hum = self.facts.hums.get(sg) if isinstance(sg, str) else None
            if hum is None or hum.home != peer or entry.get("home") != peer or not isinstance(born, int):
                continue
            if hum.born and born > hum.born:
                self._forgotten_at_home(hum.sigil, peer, unlist=False)
            elif hum.born and born and born < hum.born:
                # the home does not have the incarnation we hold (its mint never became durable there,
                # a restart took it back): ours is set aside, and the home's is read from its start
                self.adoption.incarnation_lost(hum, born)
                self.replicas.stop(sg)
                self.replicas.verify_from(sg, 0)
                self.replicas.reconcile(hum)

    def listing(self, peer: str, announcement: Announcement) -> None:
        """A link-up listing: every incarnation it says was forgotten there goes; at its last part,
        directory entries naming `peer` that it left out go too. A hum this device holds is never
        dropped because a listing left it out: the peer may only have stopped being its home."""
        for sg, born in announcement.forgotten:
            if self._same(sg, born) and self.facts.home_or_none(sg) == peer:
                self._forgotten_at_home(sg, peer)
        part, parts = announcement.part, announcement.parts
        if part is None or parts is None or not 1 <= part <= parts <= LISTING_PARTS_MAX:
            return  # a single announcement, or a humd from before listings were numbered
        if part == 1:
            self.listings[peer] = (1, set())
        expected, listed = self.listings.get(peer, (0, set()))
        if part != expected:
            self.listings.pop(peer, None)  # a part missed: decide nothing from this listing
            return
        listed.update(h["sigil"] for h in announcement.hums if h.get("home") == peer and isinstance(h.get("sigil"), str))
        if part < parts:
            self.listings[peer] = (part + 1, listed)
            return
        del self.listings[peer]
        stale = {e.sigil for e in self.facts.ensemble.directory() if e.home == peer} - listed
        for sg in sorted(stale - set(self.facts.hums)):
            self.facts.unlist(sg)

    def _same(self, sg: str, born: int) -> bool:
        """Does what this device knows of `sg` belong to incarnation `born` (or is either unknown)?"""
        hum, entry = self.facts.hums.get(sg), self.facts.entry(sg)
        mine = hum.born if hum is not None else entry.born if entry is not None else 0
        return not born or not mine or born == mine

    def _forgotten_at_home(self, sg: str, home: str, *, unlist: bool = True) -> None:
        hum = self.facts.hums.get(sg)
        if hum is not None:
            gone = f"hum {sg} was forgotten at its home, {self.facts.device(home)}: it is gone from every device"
            self.drop(hum, RouteError("forgotten", gone))
        if unlist:
            self.facts.unlist(sg)

    # -- retention --------------------------------------------------------------------

    def sweep(self) -> None:
        """Forget, everywhere, the hums retention says were left alone too long."""
        for hum in self.retention.due():
            days = self.retention.config.retain_days
            span = f"{days:g} day" + ("" if days == 1 else "s")
            self.everywhere(hum, RouteError("forgotten", f"hum {hum.sigil} was forgotten: nobody prompted or attached it for {span}"))
            self.retention.forgot += 1
            log.info("retention forgot hum %s (untouched for %s)", hum.sigil, span)

