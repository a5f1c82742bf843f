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
from hum.errors import RouteError, WorkerError
from hum.node.effects import CancelBloom, Orphan, SaveHum
from hum.node.owners import Owner
from hum.node.permits import Permitting
from hum.node.state import Replica
from hum.wire.tones import Tone


class Adopting(Permitting):
    """Adoption, moves and orphaned branches."""

    def _adopt_tone(self, owner: Owner, tone: Tone) -> None:
        sg, rid = tone.get("sigil"), tone.get("rid")
        if not isinstance(sg, str) or not sg:
            raise RouteError("unknown-hum", "adopt needs the `sigil` of a hum", rid)
        hum = self.hums.get(sg)
        if hum is None or (hum.home != self.me and hum.tip == 0):
            raise RouteError("unknown-hum", f"this device holds no petal of hum {sg}: attach to it first", rid)
        if hum.home != self.me:
            if self.ensemble.is_linked(hum.home) and tone.get("force") is not True:
                raise RouteError("home-alive", f"hum {sg} lives on {self.device(hum.home)}, which is linked; adopt with force to take it anyway", rid)
            self._adopt(hum)
        self._reply(owner, Tone.make("adopted", rid=rid, sigil=sg, sid=hum.sid, home=self.me, epoch=hum.epoch, wane=hum.tip))

    def _adopt(self, hum: Hum) -> None:
        """This humd becomes the hum's home in the next epoch, from its replica's last stored wane."""
        old = hum.home
        known = self.ensemble.lookup(hum.sigil) or {}
        hum.epoch = max(hum.epoch, int(known.get("epoch") or 0)) + 1
        hum.home, hum.fork, hum.home_tip = self.me, hum.tip, hum.tip
        self.replicas.pop(hum.sigil, None)
        self.ensemble.record(hum.summary())
        self._emit(SaveHum(hum))
        if hum.bloom_open:
            # the bloom died with the old home: the log says so before anything new is said
            lost = WorkerError("home-lost", f"this bloom was running on {self.device(old)}; it ended when this device adopted the hum")
            self._appended(hum, hum.append("error", lost.body()))
        for tap in self.taps.of_hum(hum.sigil):  # taps still open carry on, now on the home's own log
            if tap.ended:
                continue
            if tap.cursor > hum.fork:
                # it waits for wanes the old home had and this device never got: they will not come
                moved = RouteError("moved", f"hum {hum.sigil} was adopted at wane {hum.fork}; attach again")
                tap.notify(moved.tone(sigil=hum.sigil, sid=hum.sid, home=self.me, epoch=hum.epoch), hum.tip, terminal=True)
            elif not tap.granted:
                tap.grant(hum.tip)
            self._wake(tap.owner)
        self._touch(hum.sigil)
        for peer in self.peers():
            self._send(peer, Tone(chi="hums", hums=[hum.summary()]))

    def _auto_adopt(self) -> None:
        now = self.clock.monotonic()
        for sg, lost in list(self.lost_at.items()):
            hum = self.hums.get(sg)
            if hum is None or hum.home == self.me or self.ensemble.is_linked(hum.home):
                del self.lost_at[sg]  # adopted already, or the home came back
            elif self.auto_adopt is not None and now - lost >= self.auto_adopt and hum.tip:
                del self.lost_at[sg]
                self._adopt(hum)

    def _home_moved(self, hum: Hum) -> None:
        """The directory says another humd is now home to `hum` (an adoption, or a winner over ours)."""
        entry = self.ensemble.lookup(hum.sigil) or {}
        home, epoch, fork = str(entry.get("home")), int(entry.get("epoch") or 0), int(entry.get("fork") or 0)
        if home == hum.home:
            return
        self.branch_epochs[hum.sigil], was_home = hum.epoch, hum.home == self.me
        hum.home, hum.epoch, hum.fork = home, epoch, fork
        self._emit(SaveHum(hum))
        if was_home:
            self._emit(CancelBloom(hum.sigil))
            self._asks_closed(hum)
            # prompts that waited here go on to the new home, in order; none is dropped
            for _seq, body in hum.pending_prompts:
                routed = Tone(body)
                routed.update(chi="prompt", sigil=hum.sigil)
                if self.ensemble.is_linked(home):
                    self._send(home, routed)
            hum.pending_prompts.clear()
        moved = RouteError("moved", f"hum {hum.sigil} moved to {self.device(home)} (epoch {epoch}); attach again")
        for tap in self.taps.of_hum(hum.sigil):
            if tap.owner.is_peer:
                self.taps.drop(tap.owner, hum.sigil)
            elif not tap.ended:
                # what it saw after the fork may be a branch the new home never had: it starts over
                tap.notify(moved.tone(sigil=hum.sigil, sid=hum.sid, home=home, epoch=epoch), hum.tip, terminal=True)
                self._wake(tap.owner)
        self.unverified[hum.sigil] = min(hum.tip, fork)
        self.replicas.pop(hum.sigil, None)
        self._reconcile(hum)

    def _reconcile(self, hum: Hum) -> None:
        """Attach to the new home from where our logs may part, comparing what we hold; the branch it
        never had is cut as it streams (`diverged`) or at its hello (it holds less than we do)."""
        if hum.sigil in self.unverified and self.ensemble.is_linked(hum.home) and not self.replicas.get(hum.sigil):
            self.replicas[hum.sigil] = Replica(requested=True)
            self._send(hum.home, Tone(chi="attach", sigil=hum.sigil, since=self.unverified[hum.sigil]))

    def _orphan_after(self, hum: Hum, keep: int) -> None:
        """Petals after wane `keep` are a branch the home does not have: set aside, reported to the home."""
        cut = hum.truncate(keep)
        if not cut:
            return
        epoch = self.branch_epochs.get(hum.sigil, max(hum.epoch - 1, 0))
        self._emit(Orphan(hum, keep, epoch))
        if self.ensemble.is_linked(hum.home):
            report = Tone(chi="orphaned", sigil=hum.sigil, first=keep + 1, last=keep + len(cut), count=len(cut), epoch=epoch)
            self._send(hum.home, report)

    def _heard_orphaned(self, peer: str, tone: Tone) -> None:
        """A device cut a branch of a hum homed here: the log says how many petals, of which wanes."""
        hum = self.hums.get(str(tone.get("sigil")))
        count, first, last = tone.get("count"), tone.get("first"), tone.get("last")
        if hum is None or hum.home != self.me or not all(isinstance(v, int) for v in (count, first, last)):
            return
        name = self.ensemble.names.get(peer) or peer[:8]
        text = f"{count} petals (wanes {first}-{last}) that {name} appended while it was cut off were kept aside as an orphaned branch"
        body = {"text": text, "orphaned": {"device": peer, "count": count, "first": first, "last": last, "epoch": tone.get("epoch")}}
        self._appended(hum, hum.append("note", body))
