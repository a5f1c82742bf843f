"""The router driven by hand: one router per device, the store's part played at once, links pumped in memory.

Shared by the router's unit tests (no event loop, no sockets, no sleeps).
"""

from __future__ import annotations

from typing import Any

from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck
from hum.interfaces import Delta, Done, Usage
from hum.node.effects import Effect, Forget, Persist, PersistRun, QueuePrompt, SaveHum
from hum.node.owners import Owner
from hum.node.router import Router
from hum.wire.tones import Tone


class FakeClock:
    """Time stands still unless a test moves it."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def wall_ms(self) -> float:
        return 1_700_000_000_000.0 + self.now * 1000


class Node:
    """One router, with the store's part played at once: every Persist (and PersistRun) becomes durable."""

    def __init__(self, operator: OperatorKey, name: str) -> None:
        identity = Identity.mint(operator, name)
        self.router = Router(identity, SiblingCheck(identity.operator), FakeClock())
        self.id = identity.humd_id
        self.effects: list[Effect] = []
        self.links: dict[str, Owner] = {}
        self.stored = True  # the store commits at once; False: hum rows wait (a full disk)

    def settle(self, effects: list[Effect]) -> list[Effect]:
        """Carry out the store's effects (durable at once); keep the rest for the test to read."""
        out = []
        for effect in effects:
            if isinstance(effect, Persist):
                out += self.settle(self.router.durable(effect.hum, effect.petal.wane))
            elif isinstance(effect, PersistRun):
                out += self.settle(self.router.durable(effect.hum, effect.run[-1][0].wane))
            elif isinstance(effect, QueuePrompt):
                out += self.settle(self.router.queued(effect.hum, effect.seq))
            elif isinstance(effect, SaveHum | Forget) and self.stored:
                out.append(effect)
                out += self.settle(self.router.saved(effect.hum))
            else:
                out.append(effect)
        self.effects += out
        return out

    def nestler(self, bee: str = "cli") -> Owner:
        owner = self.router.open_nestler(bee)
        self.settle(self.router.nestler_tone(owner, Tone(chi="hello", bee=bee)))
        assert self.router.pull(owner)[0].chi == "breath"
        return owner

    def say(self, owner: Owner, chi: str, **fields: Any) -> list[Effect]:
        return self.settle(self.router.nestler_tone(owner, Tone.make(chi, **fields)))

    def bloom(self, sg: str, *words: str) -> None:
        for word in words:
            self.settle(self.router.worker_event(sg, Delta(word)))
        self.settle(self.router.worker_event(sg, Done("stop", Usage(3, len(words)))))


def link(a: Node, b: Node) -> None:
    """`a` dialled `b`; both ends saw the proof."""
    owner_a, fx_a = a.router.link_up(b.id, dialled=True)
    owner_b, fx_b = b.router.link_up(a.id, dialled=False)
    assert owner_a is not None and owner_b is not None
    a.links[b.id], b.links[a.id] = owner_a, owner_b
    a.settle(fx_a)
    b.settle(fx_b)


def pump(*nodes: Node) -> int:
    """Carry every tone owed on every link to the other end, until the ensemble is quiet."""
    moved = total = 1
    by_id = {n.id: n for n in nodes}
    while moved:
        moved = 0
        for node in nodes:
            for peer, owner in node.links.items():
                other = by_id[peer]
                for tone in node.router.pull(owner):
                    other.settle(other.router.link_tone(other.links[node.id], tone))
                    moved += 1
        total += moved
    return total



def wanes(tones: list[Tone]) -> list[int]:
    return [t["wane"] for t in tones if "wane" in t and t.chi != "hello"]


def follow(device: Node, home: Node, sg: str) -> Owner:
    """A nestler on `device` attached to `sg` from wane 0, replicated and read."""
    ai = device.nestler("ai")
    device.say(ai, "attach", sigil=sg, since=0)
    pump(home, device)
    device.router.pull(ai)
    return ai
