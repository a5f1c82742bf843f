"""Permits: a worker asks before it uses a tool; any device of the ensemble answers; the first answer wins.

An ask is a `permission-ask` petal, so every tap on every device sees it, a
replay includes it and a late device sees the asks still open. An answer is
a `release-permit` tone sent to any humd; it is routed to the hum's home like
a prompt, and the home appends it as a `permit` petal naming who answered
and tells the worker. Later answers are refused (`already-decided`); an ask
nobody answers in time is denied, and the log says so.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hum.core.hum import Hum
from hum.errors import BadTone
from hum.interfaces import PermissionAsk
from hum.node.config import RouterConfig
from hum.node.effects import ReleasePermit
from hum.node.facts import Facts
from hum.node.inbound import Answer, Refusal
from hum.node.journal import Journal
from hum.node.outbox import Outbox
from hum.node.owners import Owner
from hum.wire.tones import Tone

# Answers forwarded to a home whose refusal (if any) must reach the nestler
# that sent them; older entries are forgotten (their answer came as a petal).
FORWARDED_MAX = 256


class Permits:
    """Open asks, and the answers to them from wherever they come."""

    def __init__(self, facts: Facts, outbox: Outbox, journal: Journal, config: RouterConfig) -> None:
        self.facts = facts
        self.outbox = outbox
        self.journal = journal
        self.config = config
        self.open_asks: dict[tuple[str, str], float] = {}  # (sigil, permitId) -> when asked
        self.forwarded: OrderedDict[tuple[str, Any], Owner] = OrderedDict()  # (home, rid) -> who answered there

    def asked(self, hum: Hum, ask: PermissionAsk) -> None:
        """The worker asks: a petal everyone sees, and an ask open until answered."""
        body = {"permitId": ask.permit_id, "tool": ask.tool, "input": ask.input, "question": ask.question}
        self.journal.append(hum, "permission-ask", body)
        self.open_asks[(hum.sigil, ask.permit_id)] = self.facts.clock.monotonic()

    def closed(self, sg: str) -> None:
        """The bloom closed (or the hum moved or went): its asks can no longer be answered."""
        for key in [k for k in self.open_asks if k[0] == sg]:
            del self.open_asks[key]

    def answer(self, owner: Owner, answer: Answer) -> None:
        """A nestler's answer: decided here if the hum is homed here, else routed to its home."""
        home = self.facts.home_of(answer.sigil, answer.rid)
        if home == self.facts.me:
            self._decide(self.facts.hums[answer.sigil], answer, origin=owner.bee, device=self.facts.me)
            return
        if not self.facts.ensemble.is_linked(home):
            raise self.facts.no_route(answer.sigil, home, answer.rid)
        if isinstance(answer.rid, str | int):  # a request id is data: only a plain one can be looked up
            self.forwarded[(home, answer.rid)] = owner
            while len(self.forwarded) > FORWARDED_MAX:
                self.forwarded.popitem(last=False)
        routed = Tone.make(
            "release-permit", sigil=answer.sigil, permitId=answer.permit_id, decision=answer.decision, message=answer.message, rid=answer.rid
        )
        self.outbox.send(home, routed)

    def peer_answer(self, peer: str, answer: Answer) -> None:
        hum = self.facts.homed_here(answer.sigil)
        if hum is None:
            raise self.facts.not_homed_here(answer.sigil, answer.rid)
        self._decide(hum, answer, origin=peer, device=peer)

    def forwarded_refusal(self, peer: str, refusal: Refusal) -> bool:
        """A home refused an answer we forwarded: the nestler that sent it hears why."""
        if not isinstance(refusal.rid, str | int):
            return False
        owner = self.forwarded.pop((peer, refusal.rid), None)
        if owner is None:
            return False
        self.outbox.reply(owner, Tone(refusal.tone))
        return True

    def _decide(self, hum: Hum, answer: Answer, *, origin: str, device: str) -> None:
        """The first answer to an open ask: a `permit` petal, and the worker is told; any later one is refused."""
        permit_id, key = answer.permit_id, (hum.sigil, answer.permit_id)
        if key not in self.open_asks:
            # only on this refusal's path: the whole log is read back to say which refusal it is
            if any(p.chi == "permit" and p.body.get("permitId") == permit_id for p in hum.petals):
                raise BadTone("already-decided", f"permit {permit_id} was already answered", answer.rid)
            raise BadTone("unknown-permit", f"hum {hum.sigil} has no open ask {permit_id}", answer.rid)
        del self.open_asks[key]
        # `device`: where the answer was given, so it reads right after the hum moves home
        body: dict[str, Any] = {"permitId": permit_id, "decision": answer.decision, "from": origin, "device": device}
        if answer.message:
            body["message"] = answer.message
        self.journal.append(hum, "permit", body)
        self.outbox.emit(ReleasePermit(hum.sigil, permit_id, answer.decision, answer.message))

    def expire(self) -> None:
        """Asks nobody answered in time are denied."""
        now, timeout = self.facts.clock.monotonic(), self.config.permit_timeout
        for (sg, permit_id), asked_at in list(self.open_asks.items()):
            if now - asked_at >= timeout:
                waited = f"{timeout / 60:g} minutes" if timeout >= 60 else f"{timeout:g} seconds"
                denial = Answer(sg, permit_id, "deny", f"nobody answered within {waited}")
                self._decide(self.facts.hums[sg], denial, origin=self.facts.me, device=self.facts.me)
