"""Adoption: a device holding a replica of a hum becomes its home when the home is gone, with no split brain.

A hum's home is the pair (HumdId, epoch). Adopting takes the next epoch,
continues from the replica's last stored wane and tells the ensemble; a
directory entry moves only to a higher (epoch, HumdId), so when two homes
meet exactly one wins. A humd that learns its hum moved becomes a replica of
the new home and catches up from the fork, comparing what it holds: petals
the new home never had are an orphaned branch, kept in the store (never
served, never merged) and reported to the new home, which says so in a
`note` petal.
"""

from __future__ import annotations

from hum.core.hum import Hum
from hum.ensemble.ensemble import DirectoryEntry
from hum.errors import RouteError, WorkerError
from hum.node.config import RouterConfig
from hum.node.effects import CancelBloom, Orphan, SaveHum
from hum.node.facts import Facts
from hum.node.inbound import BranchReport, Granted, HumRequest, PetalRun
from hum.node.journal import Journal
from hum.node.outbox import Outbox
from hum.node.owners import Owner
from hum.node.peers import Peers
from hum.node.permits import Permits
from hum.node.replicas import Replicas
from hum.wire.tones import Tone


class Adoption:
    """Adopting a hum here, learning that one moved elsewhere, and the orphaned branches either leaves."""

    def __init__(
        self, facts: Facts, outbox: Outbox, journal: Journal, replicas: Replicas, peers: Peers, permits: Permits, config: RouterConfig
    ) -> None:
        self.facts = facts
        self.outbox = outbox
        self.journal = journal
        self.replicas = replicas
        self.peers = peers
        self.permits = permits
        self.config = config
        self.branch_epochs: dict[str, int] = {}  # sigil -> the epoch of the home a cut branch was written under

    def adopt_request(self, owner: Owner, request: HumRequest) -> None:
        sg, rid = request.sigil, request.rid
        hum = self.facts.hums.get(sg)
        if hum is None or (hum.home != self.facts.me and hum.tip == 0):
            raise RouteError("unknown-hum", f"this device holds no petal of hum {sg}: attach to it first", rid)
        if hum.home != self.facts.me:
            if self.facts.ensemble.is_linked(hum.home) and not request.force:
                alive = f"hum {sg} lives on {self.facts.device(hum.home)}, which is linked; adopt with force to take it anyway"
                raise RouteError("home-alive", alive, rid)
            self.adopt(hum)
        else:
            self.outbox.emit(SaveHum(hum))  # adopted before (maybe not stored yet): the answer waits for a commit
        answer = Tone.make("adopted", rid=rid, sigil=sg, sid=hum.sid, home=self.facts.me, epoch=hum.epoch, wane=hum.tip)
        self.journal.answer_when_saved(hum, owner, answer)  # told done only once the new epoch is stored

    def adopt(self, hum: Hum) -> None:
        """This humd becomes the hum's home in the next epoch, from its replica's last stored wane."""
        old, known, held = hum.home, self.facts.entry(hum.sigil), hum.tip
        hum.prior = (hum.epoch, old)  # the epoch our log is of: a sibling that followed it compares from our fork
        hum.epoch = max(hum.epoch, known.epoch if known is not None else 0) + 1
        # The fork siblings compare from: our tip, or where our log was still to be compared with the
        # last home's (it died first), since past there ours may be a branch theirs does not share.
        hum.home, hum.fork, hum.home_tip = self.facts.me, min(held, self.replicas.unverified_from(hum.sigil, held)), held
        self.replicas.stop(hum.sigil)
        self.facts.announce(hum)
        self.outbox.emit(SaveHum(hum))
        if hum.bloom_open:
            # the bloom died with the old home: the log says so before anything new is said
            ended = f"this bloom was running on {self.facts.device(old)}; it ended when this device adopted the hum"
            self.journal.append(hum, "error", WorkerError("home-lost", ended).body())
        for tap in self.facts.taps.of_hum(hum.sigil):  # taps still open carry on, now on the home's own log
            if tap.ended:
                continue
            if tap.cursor > held:
                # it waits for wanes the old home had and this device never got: they will not come
                moved = RouteError("moved", f"hum {hum.sigil} was adopted at wane {held}; attach again")
                tap.notify(moved.tone(sigil=hum.sigil, sid=hum.sid, home=self.facts.me, epoch=hum.epoch), hum.tip, terminal=True)
            elif not tap.granted:
                tap.grant(hum.tip)
            self.outbox.wake(tap.owner)
        self.replicas.follow_here(hum, held)  # nestlers left waiting at the old home's loss follow it here
        self.facts.touch(hum.sigil)
        self.journal.announce_when_saved(hum, Tone(chi="hums", hums=[hum.summary()]))  # the new epoch, once stored

    def auto_adopt(self) -> None:
        """Adopt hums followed here whose home has been lost for `auto_adopt` seconds (off unless set)."""
        now, after = self.facts.clock.monotonic(), self.config.auto_adopt
        for sg, lost in list(self.peers.lost_at.items()):
            hum = self.facts.hums.get(sg)
            if hum is None or hum.home == self.facts.me or self.facts.ensemble.is_linked(hum.home):
                del self.peers.lost_at[sg]  # adopted already, or the home came back
            elif after is not None and now - lost >= after and hum.tip:
                del self.peers.lost_at[sg]
                self.adopt(hum)

    def follow_announced(self, peer: str, announced: list[dict]) -> None:
        """Every hum held here that the directory now says is homed at `peer`, and we held elsewhere or in an
        earlier epoch, moves there (whether the entry changed now or earlier, while our copy named another home)."""
        for item in announced:
            hum = self.facts.hums.get(item.get("sigil")) if isinstance(item.get("sigil"), str) else None
            entry = self.facts.entry(hum.sigil) if hum is not None else None
            if hum is not None and entry is not None and entry.home == peer and _moved(hum, entry):
                self.home_moved(hum)

    def home_moved(self, hum: Hum) -> None:
        """The directory says another home has `hum` now (an adoption, or a winner over ours), or ours has it
        in a later epoch (it lost the hum and adopted it again: its log may have been cut meanwhile)."""
        entry = self.facts.entry(hum.sigil)
        if entry is None or not _moved(hum, entry):
            return
        self.branch_epochs[hum.sigil], was_home = hum.epoch, hum.home == self.facts.me
        # Compare from the earliest fork not reconciled here: where this device's own epoch began, or
        # the new epoch's fork if earlier. The new home's log before its fork may be another branch
        # than ours (it adopted from an older epoch's log), and epochs missed here have unknown forks.
        compare = min(hum.fork, entry.fork)
        if entry.prior is not None and entry.prior not in ((hum.epoch, hum.home), hum.prior):
            # adopted from an epoch we did not follow (missed here, or another home of ours at that
            # epoch): where its log parted from ours is unknown, so all of ours is compared
            compare = 0
        other_incarnation = bool(entry.born and hum.born and entry.born != hum.born)  # minted again elsewhere, and won
        if other_incarnation:
            compare = 0
        # our fork: where our log may part from this home's (or an earlier comparison still owed), stored,
        # so a restart before the comparison still compares from there (router.load)
        hum.fork = min(compare, self.replicas.unverified_from(hum.sigil, entry.fork))
        hum.home, hum.epoch, hum.prior = entry.home, entry.epoch, entry.prior
        if not other_incarnation:
            hum.born = entry.born or hum.born  # (another incarnation's born is taken below, once ours is set aside)
        self.outbox.emit(SaveHum(hum))
        if was_home:
            self._hand_over(hum)
        if other_incarnation:
            self.incarnation_lost(hum, entry.born)
        moved = RouteError("moved", f"hum {hum.sigil} moved to {self.facts.device(entry.home)} (epoch {entry.epoch}); attach again")
        for tap in self.facts.taps.of_hum(hum.sigil):
            if tap.owner.is_peer:
                self.facts.taps.drop(tap.owner, hum.sigil)
            elif not tap.ended:
                # what it saw after the fork may be a branch the new home never had: it starts over
                tap.notify(moved.tone(sigil=hum.sigil, sid=hum.sid, home=entry.home, epoch=entry.epoch), hum.tip, terminal=True)
                self.outbox.wake(tap.owner)
        self.replicas.verify_from(hum.sigil, min(hum.tip, compare))
        self.replicas.stop(hum.sigil)
        self.replicas.reconcile(hum)

    def _hand_over(self, hum: Hum) -> None:
        """We were home and lost it: the bloom stops here, and prompts that waited go on to the new home, in order."""
        self.outbox.emit(CancelBloom(hum.sigil))
        self.permits.closed(hum.sigil)
        for _seq, body in hum.pending_prompts:
            routed = Tone(body)
            routed.update(chi="prompt", sigil=hum.sigil)
            if self.facts.ensemble.is_linked(hum.home):
                self.outbox.send(hum.home, routed)
        hum.pending_prompts.clear()

    # -- a replica meets its home's log: where they part, our branch is set aside first --------

    def granted(self, peer: str, granted: Granted) -> None:
        """A home's hello: a search answered, or our replica's attach granted (a branch cut first)."""
        if self.replicas.sought(peer, granted):
            return
        hum = self.replicas.mirrored(peer, granted.sigil, quiet=True)
        if hum is None:
            return
        diverged = self.replicas.granted(hum, granted)
        if diverged is not None:
            self.orphan_after(hum, diverged.keep)  # we hold more than the new home ever had
        self.replicas.grant_waiting(hum, granted.wane)

    def mirror(self, peer: str, run: PetalRun) -> None:
        """The home's petals for a replica, in order (`Replicas.mirror`); where the logs part, the branch goes first."""
        hum = self.replicas.mirrored(peer, run.sigil)
        diverged = self.replicas.mirror(peer, hum, run.items) if hum is not None else None
        while diverged is not None:
            self.orphan_after(diverged.hum, diverged.keep)
            diverged = self.replicas.mirror(peer, diverged.hum, diverged.rest, after_cut=True)

    def incarnation_lost(self, hum: Hum, born: int) -> None:
        """The hum's home holds another incarnation of it (`born`) than ours: none of our log is of that
        one, so all of it is set aside as an orphaned branch at once, before our copy takes its `born`.
        Compared later instead, a device that adopts before the comparison would serve our petals
        under the other incarnation's name (and its siblings would keep theirs)."""
        self.branch_epochs.setdefault(hum.sigil, hum.epoch)
        self.orphan_after(hum, 0)
        hum.born = born
        self.outbox.emit(SaveHum(hum))

    def orphan_after(self, hum: Hum, keep: int) -> None:
        """Petals after wane `keep` are a branch the home does not have: set aside, reported to the home."""
        cut = hum.truncate(keep)
        if not cut:
            return
        for tap in self.facts.taps.of_hum(hum.sigil):  # what was said after the branch is said after the cut
            tap.cut_back(keep)
        epoch = self.branch_epochs.get(hum.sigil, max(hum.epoch - 1, 0))
        self.outbox.emit(Orphan(hum, keep, epoch, hum.born))
        if self.facts.ensemble.is_linked(hum.home):
            report = Tone(chi="orphaned", sigil=hum.sigil, first=keep + 1, last=keep + len(cut), count=len(cut), epoch=epoch)
            self.outbox.send(hum.home, report)

    def heard_branch(self, peer: str, report: BranchReport) -> None:
        """A device cut a branch of a hum homed here: the log says how many petals, of which wanes."""
        hum = self.facts.homed_here(report.sigil)
        if hum is None:
            return
        name = self.facts.ensemble.names.get(peer) or peer[:8]
        text = (
            f"{report.count} petals (wanes {report.first}-{report.last}) that {name} appended "
            "while it was cut off were kept aside as an orphaned branch"
        )
        orphaned = {"device": peer, "count": report.count, "first": report.first, "last": report.last, "epoch": report.epoch}
        self.journal.append(hum, "note", {"text": text, "orphaned": orphaned})

    def drop(self, sg: str) -> None:
        self.branch_epochs.pop(sg, None)


def _moved(hum: Hum, entry: DirectoryEntry) -> bool:
    """Does the directory name another home for `hum` than our copy follows, or a later epoch of it?"""
    return entry.home != hum.home or entry.epoch > hum.epoch
