"""The outbox: what the router's parts decided (effects), and what each owner is owed (replies, taps)."""

from __future__ import annotations

from hum.node.effects import Effect, Wake
from hum.node.facts import Facts
from hum.node.owners import Owner
from hum.wire.tones import Tone

# Tones pulled per wake-up: large enough to amortise a write, small enough
# that one busy hum cannot starve the others on a link.
PULL_BATCH = 256


class Outbox:
    """Effects collected during one input and handed over by `done`; replies wait in each owner's outbox.

    A tone for an owner is never written here: it waits (in the owner's
    outbox, or as a tap's cursor behind the log) until the shell pulls.
    """

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self._effects: list[Effect] = []
        self._woken: dict[Owner, None] = {}

    def emit(self, effect: Effect) -> None:
        self._effects.append(effect)

    def wake(self, owner: Owner) -> None:
        self._woken[owner] = None

    def done(self) -> list[Effect]:
        """Everything decided since the last call, owners to wake last."""
        out = self._effects + [Wake(o) for o in self._woken if not o.closed]
        self._effects, self._woken = [], {}
        return out

    def reply(self, owner: Owner, tone: Tone) -> None:
        owner.outbox.append(tone)
        self.wake(owner)

    def send(self, peer: str, tone: Tone) -> None:
        """Queue `tone` for `peer`; the ensemble refuses it (RouteError) if `peer` is not linked."""
        ensemble = self.facts.ensemble
        self.reply(ensemble.owner(ensemble.route(Tone(tone, to=peer))), tone)

    def send_to_all(self, tone: Tone, *, but: str | None = None) -> None:
        """Queue `tone` for every linked peer (but one)."""
        for peer in self.facts.ensemble.peers():
            if peer != but:
                self.send(peer, tone)

    def notify_watchers(self, sg: str, tone: Tone, *, terminal: bool = False) -> bool:
        """`tone` for every local nestler's tap on hum `sg`, after what it has read; True if any."""
        hum, told = self.facts.hums[sg], False
        for tap in self.facts.taps.of_hum(sg):
            if tap.owner.is_peer or tap.ended:
                continue
            tap.notify(Tone(tone), hum.tip, terminal=terminal)
            self.wake(tap.owner)
            told = True
        return told

    def wake_taps(self, sg: str) -> None:
        for tap in self.facts.taps.of_hum(sg):
            self.wake(tap.owner)

    # -- what an owner is owed ------------------------------------------------

    def pull(self, owner: Owner, limit: int = PULL_BATCH, *, lines: bool = False) -> list[Tone]:
        """Everything `owner` can be sent now (replies first, then each tap in wane order); with
        `lines`, each petal as its encoded line (`bytes`), for an owner that only writes bytes."""
        out: list[Tone] = []
        if owner.outbox:
            out.extend(owner.outbox)
            owner.outbox.clear()
        taps, hums = self.facts.taps, self.facts.hums
        for tap in taps.of_owner(owner):
            hum = hums.get(tap.sigil)
            if hum is None:
                continue
            # nobody sees a petal before it is stored: a crash never takes one back
            out.extend(hum.read(tap, limit, hum.durable_tip, lines=lines))  # type: ignore[arg-type]
            if tap.ended:
                taps.drop(owner, tap.sigil)
                if hum.unreadable is not None:
                    self.facts.damaged.add(hum.sigil)  # a damaged row: Repairs asks the siblings for it
        return out

    def owes(self, owner: Owner) -> bool:
        """True when `pull(owner)` would return something."""
        if owner.outbox:
            return True
        hums = self.facts.hums
        for tap in self.facts.taps.of_owner(owner):
            hum = hums.get(tap.sigil)
            if hum is not None and hum.owes(tap, hum.durable_tip):
                return True
        return False
