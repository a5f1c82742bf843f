"""Forgetting: a hum removed at its home (and so on every device), or only this device's copy of it; retention.

At the home, `forget` removes the hum from memory and the store in one
commit, tells every tap on it why it ended (`route-error` `forgotten`) and
sends `forget` to every linked peer, which drops its replica and its
directory entry. A device that was away learns it at the next link-up: the
home's listing of the hums it is home to (sent in numbered parts) no longer
names the hum, so the device drops what it held of it. Elsewhere, `forget`
drops only this device's replica; the hum lives on at its home and can be
attached again (from wane 0). Retention forgets, as the home does, hums
homed here that nobody prompted or attached for `retain_days` days.
"""

from __future__ import annotations

import logging
from typing import Any

from hum.core.hum import Hum
from hum.errors import BadTone, LogError, RouteError
from hum.node.adoption import Adopting
from hum.node.effects import Effect, Forget, SaveHum
from hum.node.owners import Owner
from hum.wire.tones import Tone

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
# Retention looks at every hum homed here at most this often (seconds): it counts in days,
# and a sweep over thousands of hums each drone tick would be wasted work.
RETENTION_SWEEP_EVERY = 60.0
# A link-up listing in more parts than this is not believed: at 500 hums a part (ANNOUNCE_BATCH)
# it would name five million hums, far past what one humd holds.
LISTING_PARTS_MAX = 10_000


class Forgetting(Adopting):
    """`forget` from a nestler or a home, the home's listing at link-up, and retention."""

    # -- a nestler asks ---------------------------------------------------------

    def _forget_tone(self, owner: Owner, tone: Tone) -> None:
        sg, rid = tone.get("sigil"), tone.get("rid")
        if not isinstance(sg, str) or not sg:
            raise BadTone("missing-field", "forget needs the `sigil` of a hum")
        hum, entry = self.hums.get(sg), self.ensemble.lookup(sg)
        if hum is not None and hum.home == self.me:
            if hum.bloom_open or hum.pending_prompts:
                raise LogError(
                    "bloom-open",
                    f"hum {sg} is blooming: cancel the bloom or let it finish, then forget it",
                    rid,
                )
            gone = RouteError(
                "forgotten",
                f"hum {sg} was forgotten at its home, {self.identity.name} ({self.me[:8]}): it is gone from every device",
            )
            self._forget_everywhere(hum, gone)
            where, home = "everywhere", self.me
        elif hum is not None or entry is not None:
            home = hum.home if hum is not None else str((entry or {}).get("home"))
            if hum is not None:
                gone = RouteError(
                    "forgotten",
                    f"this device's copy of hum {sg} was forgotten; it still lives on {self.device(home)}: attach again to follow it",
                )
                self._drop_hum(hum, gone)
            where = "this-device"
        else:
            raise RouteError("unknown-hum", f"this device knows no hum {sg}", rid)
        name = (self.identity.name if home == self.me else self.ensemble.names.get(home)) or None
        self._reply(
            owner, Tone.make("forgotten", rid=rid, sigil=sg, where=where, home=home, homeName=name)
        )

    # -- the home forgets ---------------------------------------------------------

    def _forget_everywhere(self, hum: Hum, gone: RouteError) -> None:
        """The home removes `hum`: here at once, on every linked peer by `forget`, on the others at their next link-up."""
        self._drop_hum(hum, gone)
        self.ensemble.forget(hum.sigil)
        self.recent.pop(hum.sigil, None)
        for peer in self.peers():
            self._send(peer, Tone(chi="forget", sigil=hum.sigil))

    def _drop_hum(self, hum: Hum, gone: RouteError) -> None:
        """Remove what this device holds of `hum` (memory and store); every local tap on it hears `gone`, last."""
        sg = hum.sigil
        for tap in self.taps.of_hum(sg):
            self.taps.drop(tap.owner, sg)
            if not tap.owner.is_peer and not tap.ended:
                self._reply(tap.owner, gone.tone(sigil=sg, sid=hum.sid))
        replica = self.replicas.pop(sg, None)
        if (
            hum.home != self.me
            and replica is not None
            and replica.requested
            and self.ensemble.is_linked(hum.home)
        ):
            self._send(hum.home, Tone(chi="detach", sigil=sg))  # stop the home replicating to us
        del self.hums[sg]
        self._unindex_transcript(sg)
        for facts in (self.unverified, self.lost_at, self.branch_epochs, self.touched):
            facts.pop(sg, None)
        self._fault_said.discard(sg)
        self.tracker.reset(sg, 0)  # attached again, the replica starts from wane 0
        self.drone.forget(sg)
        self._emit(Forget(hum))

    # -- a home tells us ------------------------------------------------------------

    def _peer_forget(self, peer: str, tone: Tone) -> None:
        """`peer` forgot a hum: if it is that hum's home, this device drops its copy and its directory entry."""
        sg = tone.get("sigil")
        if not isinstance(sg, str) or not sg:
            raise BadTone("missing-field", "forget needs the `sigil` of a hum")
        if self._home_named(sg) == peer:
            self._forgotten_at_home(sg, peer)
        elif self._home_named(sg) is not None:
            log.warning("ignored %s forgetting hum %s, which it is not home to", peer[:8], sg)

    def _peer_hums(self, peer: str, tone: Tone) -> None:
        """An announcement; the parts of a link-up listing are gathered, and at the last one every hum
        this device knows at `peer` that the listing no longer names was forgotten there."""
        super()._peer_hums(peer, tone)
        part, parts, hums = tone.get("part"), tone.get("parts"), tone.get("hums")
        if not all(
            isinstance(n, int) and not isinstance(n, bool) for n in (part, parts)
        ) or not isinstance(hums, list):
            return  # a single announcement, or a humd from before listings were numbered
        if not 1 <= part <= parts <= LISTING_PARTS_MAX:
            return
        if part == 1:
            self.listings[peer] = (1, set())
        expected, listed = self.listings.get(peer, (0, set()))
        if part != expected:
            self.listings.pop(peer, None)  # a part missed: decide nothing from this listing
            return
        listed.update(
            h["sigil"]
            for h in hums
            if isinstance(h, dict) and h.get("home") == peer and isinstance(h.get("sigil"), str)
        )
        if part < parts:
            self.listings[peer] = (part + 1, listed)
            return
        del self.listings[peer]
        known = {e["sigil"] for e in self.ensemble.directory() if e.get("home") == peer}
        known.update(sg for sg, hum in self.hums.items() if hum.home == peer)
        for sg in sorted(known - listed):
            self._forgotten_at_home(sg, peer)

    def _home_named(self, sg: str) -> str | None:
        hum = self.hums.get(sg)
        if hum is not None:
            return hum.home
        entry = self.ensemble.lookup(sg)
        return str(entry["home"]) if entry is not None else None

    def _forgotten_at_home(self, sg: str, home: str) -> None:
        hum = self.hums.get(sg)
        if hum is not None:
            self._drop_hum(
                hum,
                RouteError(
                    "forgotten",
                    f"hum {sg} was forgotten at its home, {self.device(home)}: it is gone from every device",
                ),
            )
        self.ensemble.forget(sg)
        self.recent.pop(sg, None)

    # -- retention --------------------------------------------------------------------

    def tick(self) -> list[Effect]:
        """Retention looks first (its forgetting joins this tick's effects), then the drone."""
        self._sweep()
        return super().tick()

    def _sweep(self) -> None:
        """Forget, everywhere, hums homed here untouched for `retain_days` (none blooming, none followed)."""
        now = self.clock.monotonic()
        if self.retain_days is None or (
            self.swept_at is not None and now - self.swept_at < RETENTION_SWEEP_EVERY
        ):
            return
        self.swept_at = now
        wall, limit = int(self.clock.wall_ms()), self.retain_days * DAY_MS
        for hum in [h for h in self.hums.values() if h.home == self.me]:
            touched = self.touched.get(hum.sigil)
            if touched is None:
                # never touched since the store learned to say when: its days count from now
                self.touched[hum.sigil] = wall
                self._emit(SaveHum(hum, wall))
            elif wall - touched >= limit and not (
                hum.bloom_open or hum.pending_prompts or self.taps.watched(hum.sigil)
            ):
                days = f"{self.retain_days:g} day" + ("" if self.retain_days == 1 else "s")
                self._forget_everywhere(
                    hum,
                    RouteError(
                        "forgotten",
                        f"hum {hum.sigil} was forgotten: nobody prompted or attached it for {days}",
                    ),
                )
                self.retention_forgot += 1
                log.info("retention forgot hum %s (untouched for %s)", hum.sigil, days)

    def retention(self) -> dict[str, Any]:
        """The retention setting as `/hum/status` shows it: days (None: keep everything), and how many it forgot."""
        return {"days": self.retain_days, "forgotten": self.retention_forgot}
