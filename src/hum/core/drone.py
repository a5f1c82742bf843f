"""The drone: watches blooms and links, and says when something is wrong."""

from __future__ import annotations

from dataclasses import dataclass

# A worker that produced nothing for this long is worth a word to the watcher;
# local models stream several tokens a second, upstreams rarely pause longer.
STALL_AFTER = 10.0


@dataclass(frozen=True)
class Verdict:
    """What the drone concluded about one hum: `peer-loss` or `stalled`."""

    sigil: str
    kind: str
    detail: str


class Drone:
    """Sentinel over blooms and links; stays quiet about a hum whose home is unheard.

    A silent bloom on a remote hum is first a question about the link: the
    drone leaves that to liveness, which surfaces `peer-loss`. Only after the
    loss is surfaced, or while the home's link is healthy, may it speak.
    """

    def __init__(self, stall_after: float = STALL_AFTER) -> None:
        self.stall_after = stall_after
        self._last_petal: dict[str, float] = {}  # open blooms only
        self._home: dict[str, str] = {}
        self._link_heard: dict[str, float] = {}
        self._lost: set[str] = set()
        self._stall_said: set[str] = set()

    def bloom_seen(self, sigil: str, home: str, now: float, *, open_: bool) -> None:
        self._home[sigil] = home
        if open_:
            self._last_petal[sigil] = now
            self._stall_said.discard(sigil)
        else:
            self._last_petal.pop(sigil, None)

    def forget(self, sigil: str) -> None:
        """The hum is gone from this device: nothing more to watch, or to remember of it."""
        self._home.pop(sigil, None)
        self._last_petal.pop(sigil, None)
        self._stall_said.discard(sigil)

    def link_heard(self, peer: str, now: float) -> None:
        self._link_heard[peer] = now
        self._lost.discard(peer)

    def link_lost(self, peer: str) -> list[Verdict]:
        """The link to `peer` is gone: every hum homed there gets a peer-loss verdict."""
        self._lost.add(peer)
        self._link_heard.pop(peer, None)
        verdicts = []
        for sigil, home in self._home.items():
            if home == peer:
                verdicts.append(Verdict(sigil, "peer-loss", f"lost the link to home {peer[:8]}"))
                self._last_petal.pop(sigil, None)
        return verdicts

    def tick(self, now: float, me: str) -> list[Verdict]:
        """Stall verdicts for blooms quiet past `stall_after` whose home is heard."""
        verdicts = []
        for sigil, last in list(self._last_petal.items()):
            if now - last < self.stall_after or sigil in self._stall_said:
                continue
            home = self._home[sigil]
            if home != me:
                if home in self._lost:
                    continue
                heard = self._link_heard.get(home)
                if heard is None or heard - last < self.stall_after:
                    # only a link heard well after the bloom went quiet clears the
                    # link of suspicion; until then liveness speaks first
                    continue
            self._stall_said.add(sigil)
            verdicts.append(Verdict(sigil, "stalled", f"no petal for {now - last:.1f}s"))
        return verdicts
