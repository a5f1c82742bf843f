"""Permits: a worker asks before it uses a tool; any device of the ensemble answers; the first answer wins.

An ask is a `permission-ask` petal, so every tap on every device sees it, a
replay includes it and a late device sees the asks still open. An answer is
a `release-permit` tone sent to any humd; it is routed to the hum's home like
a prompt, and the home appends it as a `permit` petal naming who answered
and tells the worker. Later answers are refused (`already-decided`); an ask
nobody answers in time is denied, and the log says so.
"""

from __future__ import annotations

from typing import Any

from hum.core.hum import Hum
from hum.errors import BadTone
from hum.interfaces import PermissionAsk
from hum.node.effects import ReleasePermit
from hum.node.linking import Linking
from hum.node.owners import Owner
from hum.node.state import not_homed_here
from hum.wire.tones import Tone

# An ask unanswered this long is denied: long enough to find the phone in a
# pocket, short enough that an agent is not left hanging for a day.
PERMIT_TIMEOUT = 600.0
DECISIONS = ("allow", "deny")
# Answers forwarded to a home whose refusal (if any) must reach the nestler
# that sent them; older entries are forgotten (their answer came as a petal).
FORWARDED_MAX = 256


class Permitting(Linking):
    """Open asks, and the answers to them from wherever they come."""

    permit_timeout = PERMIT_TIMEOUT

    def _asked(self, hum: Hum, ask: PermissionAsk) -> None:
        """The worker asks: a petal everyone sees, and an ask open until answered."""
        body = {"permitId": ask.permit_id, "tool": ask.tool, "input": ask.input, "question": ask.question}
        self._appended(hum, hum.append("permission-ask", body))
        self.open_asks[(hum.sigil, ask.permit_id)] = self.clock.monotonic()

    def _asks_closed(self, hum: Hum) -> None:
        """The bloom closed: its asks can no longer be answered."""
        for key in [k for k in self.open_asks if k[0] == hum.sigil]:
            del self.open_asks[key]

    def _release_tone(self, owner: Owner, tone: Tone) -> None:
        """A nestler's answer: decided here if the hum is homed here, else routed to its home."""
        sg, permit_id, decision, message = _answer(tone)
        rid = tone.get("rid")
        hum = self.hums.get(sg)
        home = hum.home if hum is not None else self.ensemble.home_of(sg, rid)
        if home == self.me:
            assert hum is not None
            self._decide(hum, permit_id, decision, message, origin=owner.bee, device=self.me, rid=rid)
            return
        if not self.ensemble.is_linked(home):
            raise self._no_route(sg, home, rid)
        if isinstance(rid, str | int):  # a request id is data: only a plain one can be looked up
            self.forwarded[(home, rid)] = owner
            while len(self.forwarded) > FORWARDED_MAX:
                self.forwarded.popitem(last=False)
        self._send(home, Tone.make("release-permit", sigil=sg, permitId=permit_id, decision=decision, message=message, rid=rid))

    def _peer_release(self, peer: str, tone: Tone) -> None:
        sg, permit_id, decision, message = _answer(tone)
        hum = self.hums.get(sg)
        if hum is None or hum.home != self.me:
            raise not_homed_here(hum, sg, self.me, tone.get("rid"))
        self._decide(hum, permit_id, decision, message, origin=peer, device=peer, rid=tone.get("rid"))

    def _forwarded_refusal(self, peer: str, tone: Tone) -> bool:
        """A home refused an answer we forwarded: the nestler that sent it hears why."""
        rid = tone.get("rid")
        if not isinstance(rid, str | int):
            return False
        owner = self.forwarded.pop((peer, rid), None)
        if owner is None:
            return False
        self._reply(owner, Tone(tone))
        return True

    def _decide(self, hum: Hum, permit_id: str, decision: str, message: str | None, *, origin: str, device: str, rid: Any) -> None:
        """The first answer to an open ask: a `permit` petal, and the worker is told; any later one is refused."""
        key = (hum.sigil, permit_id)
        if key not in self.open_asks:
            # only on this refusal's path: the whole log is read back to say which refusal it is
            answered = any(p.chi == "permit" and p.body.get("permitId") == permit_id for p in hum.petals)
            if answered:
                raise BadTone("already-decided", f"permit {permit_id} was already answered", rid)
            raise BadTone("unknown-permit", f"hum {hum.sigil} has no open ask {permit_id}", rid)
        del self.open_asks[key]
        # `device`: where the answer was given, so it reads right after the hum moves home
        body: dict[str, Any] = {"permitId": permit_id, "decision": decision, "from": origin, "device": device}
        if message:
            body["message"] = message
        self._appended(hum, hum.append("permit", body))
        self._emit(ReleasePermit(hum.sigil, permit_id, decision, message))

    def _expire_asks(self) -> None:
        now = self.clock.monotonic()
        for (sg, permit_id), asked_at in list(self.open_asks.items()):
            if now - asked_at >= self.permit_timeout:
                waited = f"{self.permit_timeout / 60:g} minutes" if self.permit_timeout >= 60 else f"{self.permit_timeout:g} seconds"
                self._decide(self.hums[sg], permit_id, "deny", f"nobody answered within {waited}", origin=self.me, device=self.me, rid=None)


def _answer(tone: Tone) -> tuple[str, str, str, str | None]:
    """The fields of a `release-permit`, checked: sigil, permitId, decision, message."""
    sg, permit_id, decision, message = tone.get("sigil"), tone.get("permitId"), tone.get("decision"), tone.get("message")
    if not isinstance(sg, str) or not sg or not isinstance(permit_id, str) or not permit_id:
        raise BadTone("missing-field", "release-permit needs a string `sigil` and `permitId`")
    if decision not in DECISIONS:
        raise BadTone("bad-field", "`decision` is `allow` or `deny`")
    if message is not None and not isinstance(message, str):
        raise BadTone("bad-field", "`message` is text")
    return sg, permit_id, decision, message
