"""Repairs: a stored petal that does not read (a damaged row) is fetched back from a sibling that holds it.

When a tap's read of the store ends at a petal that does not read (the tap
hears `store-error` `cannot-read`), this device asks every linked sibling for
that petal with its neighbours (`fetch`). A sibling holding the hum answers
`fetched` with the petals it holds around it; the answer is believed only when
the petals this device can read on either side of the stretch that does not
read are the sibling's too (the sibling holds the same log there; past them
its log may part from ours, a branch), and then the stretch is written again
(`RepairPetal`) and the hum reads on. When no sibling has it, the gap stays,
and is said once in the log (a later read that meets it asks again: a sibling
may have linked since).
"""

from __future__ import annotations

import logging
from typing import Any

from hum.core.petal import Petal
from hum.errors import BadTone, RouteError, StoreError
from hum.node.effects import RepairPetal
from hum.node.facts import Facts
from hum.node.inbound import HumRequest, PetalRun, Refusal
from hum.node.outbox import Outbox
from hum.node.replicas import Replicas
from hum.wire.tones import Tone

log = logging.getLogger(__name__)

# Petals sent around the one asked for, on each side: enough to show the sibling holds the same log there.
NEIGHBOURS = 1
# Petals sent after the one asked for: a damaged page loses a run of rows (a 4 KiB page holds a few
# dozen petals), and the asker writes back every one of them it cannot read in one answer.
RUN = 64
# Seconds an unanswered fetch is waited for (a link may drop with it in flight); the next read asks again.
FETCH_WAIT = 10.0


class Repairs:
    """Petals this device's store cannot read, asked of its siblings, and what they answer."""

    def __init__(self, facts: Facts, outbox: Outbox, replicas: Replicas) -> None:
        self.facts = facts
        self.outbox = outbox
        self.replicas = replicas
        self.again: set[str] = set()  # replicas whose home could not read its own log for us: attach again next tick
        self.asked: dict[str, tuple[int, set[str]]] = {}  # sigil -> (the wane asked for, siblings yet to answer)
        self.asked_at: dict[str, float] = {}  # sigil -> when it was asked
        self.reported: set[tuple[str, int]] = set()  # gaps no sibling could fill, said once
        self.aside_told = 0  # how many of the hums the store set aside were told to their taps

    def tick(self) -> None:
        """Ask the siblings for every petal found not to read since the last tick; replicas whose home
        could not read for them ask it again (it fetches its damaged row back meanwhile)."""
        now = self.facts.clock.monotonic()
        for sg in [sg for sg, at in self.asked_at.items() if now - at > FETCH_WAIT]:
            self.asked.pop(sg, None)  # nobody answered in time: a later read asks again
            del self.asked_at[sg]
        again, self.again = self.again, set()
        for sg in again:
            if sg in self.facts.hums:
                self.replicas.attach_again(self.facts.hums[sg])
        self._tell_set_aside()
        while self.facts.damaged:
            hum = self.facts.hums.get(self.facts.damaged.pop())
            wane = hum.unreadable if hum is not None else None
            if hum is None or wane is None or hum.sigil in self.asked or self.facts.set_aside(hum.sigil):
                continue  # (a gap no sibling filled is asked again at the next read that meets it: one may have linked since)
            peers = self.facts.ensemble.peers()
            self.asked[hum.sigil], self.asked_at[hum.sigil] = (wane, set(peers)), now
            for peer in peers:
                self.outbox.send(peer, Tone(chi="fetch", sigil=hum.sigil, wane=wane))
            if not peers:
                self._no_sibling(hum.sigil)

    def _tell_set_aside(self) -> None:
        """Hums the store set aside since the last tick (a damaged page): each local tap still open on
        one is told, once, and ends; no more petals of it will come (store/aside.py)."""
        aside = self.facts.aside_hums()
        for sg in aside[self.aside_told :]:
            hum = self.facts.hums.get(sg)
            for tap in self.facts.taps.of_hum(sg) if hum is not None else []:
                if not tap.owner.is_peer and not tap.ended:
                    tap.notify(self.facts.aside_error(sg).tone(sigil=sg, sid=hum.sid), hum.durable_tip, terminal=True)
                    self.outbox.wake(tap.owner)
        self.aside_told = len(aside)

    def peer_fetch(self, peer: str, request: HumRequest) -> None:
        """A sibling asks for a petal of ours, with its neighbours."""
        hum, wane = self.facts.hums.get(request.sigil), request.since
        if hum is None or not 1 <= wane <= hum.tip:
            raise RouteError("unknown-hum", f"this device holds no petal {wane} of hum {request.sigil}")
        petals = hum.since(max(wane - 1 - NEIGHBOURS, 0), min(wane + RUN, hum.tip))
        if all(p.wane != wane for p in petals):
            raise StoreError("cannot-read", f"petal {wane} of hum {hum.sigil} does not read here either")
        self.outbox.send(peer, Tone(chi="fetched", sigil=hum.sigil, wane=wane, petals=[p.tone(hum.sid) for p in petals]))

    def fetched(self, peer: str, run: PetalRun) -> None:
        """A sibling's answer: the rows we cannot read are written again when every petal of it we can read matches ours."""
        hum, asked = self.facts.hums.get(run.sigil), self.asked.get(run.sigil)
        if hum is None or asked is None or peer not in asked[1]:
            return
        wane = asked[0]
        try:
            petals = [Petal.from_tone(_petal(item, hum.sigil)) for item in run.items]
        except (BadTone, ValueError, KeyError, TypeError):
            petals = []
        theirs = {p.wane: p for p in petals}
        ours = {p.wane: p for p in hum.since(max(wane - 1 - NEIGHBOURS, 0), wane - 1)}
        ours.update({p.wane: p for p in _readable_after(hum, wane, max(theirs, default=wane))})
        # the stretch of ours that does not read, from `wane`; the petals on either side of it that we
        # read must be the sibling's (past them its log may part from ours: a branch, not our rows)
        end = wane
        while end + 1 in theirs and end + 1 not in ours and end + 1 <= hum.tip:
            end += 1
        around = [w for w in (wane - 1, end + 1) if w in ours and w in theirs]
        if wane not in theirs or not around or any(ours[w] != theirs[w] for w in around):
            self._refused_by(peer, hum.sigil)
            return
        del self.asked[hum.sigil]
        self.asked_at.pop(hum.sigil, None)
        hum.unreadable = None
        healed = [theirs[w] for w in range(wane, end + 1)]
        for petal in healed:
            self.outbox.emit(RepairPetal(hum, petal))
        log.warning(
            "store: petals %d to %d of hum %s did not read; fetched back from %s and stored again",
            wane, healed[-1].wane, hum.sigil, self.facts.device(peer),
        )

    def refused(self, peer: str, refusal: Refusal) -> bool:
        """A sibling does not have the petal we asked for, or our home cannot read its log for us; True if it was that."""
        hum = self.facts.hums.get(refusal.sigil) if refusal.sigil is not None else None
        if hum is not None and hum.home == peer and refusal.tone.get("qualifier") == "cannot-read" and refusal.sigil not in self.asked:
            self.again.add(hum.sigil)  # the home fetches its damaged row back: ask it again on the next tick
            return True
        if refusal.sigil is None or refusal.sigil not in self.asked or refusal.tone.get("chi") != "error":
            return False
        if refusal.tone.get("qualifier") not in ("unknown-hum", "cannot-read"):
            return False
        self._refused_by(peer, refusal.sigil)
        return True

    def _refused_by(self, peer: str, sg: str) -> None:
        wane, left = self.asked[sg]
        left.discard(peer)
        if not left:
            self._no_sibling(sg)

    def _no_sibling(self, sg: str) -> None:
        wane, _ = self.asked.pop(sg, (None, set()))
        self.asked_at.pop(sg, None)
        hum = self.facts.hums.get(sg)
        wane = wane if wane is not None else hum.unreadable if hum is not None else None
        if wane is not None and (sg, wane) not in self.reported:
            self.reported.add((sg, wane))
            log.error("store: petal %d of hum %s does not read and no linked sibling holds it; the log stops there", wane, sg)

    def drop(self, sg: str) -> None:
        self.asked.pop(sg, None)
        self.asked_at.pop(sg, None)
        self.again.discard(sg)
        self.facts.damaged.discard(sg)


def _petal(item: Any, sg: str) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("sigil") != sg or not isinstance(item.get("wane"), int):
        raise BadTone("bad-petal", "each of `petals` is a petal of the hum asked for")
    return item


def _readable_after(hum: Any, wane: int, upto: int) -> list[Petal]:
    """Our petals after `wane` up to `upto` that read, each read alone (a read stops at a damaged row)."""
    after = []
    for w in range(wane + 1, min(upto, hum.tip) + 1):
        after.extend(hum.since(w - 1, w))
    return after
