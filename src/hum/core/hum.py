"""The hum engine: one conversation's petal log, blooms and taps, free of I/O."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from hum.core.bloom import Bloom, blooms
from hum.core.petal import Petal
from hum.core.tap import Tap
from hum.core.wane import WaneTracker
from hum.wire.tones import PETAL_CHIS, Tone


class HumError(Exception):
    """An operation the hum's state does not allow; `qualifier` says which rule."""

    def __init__(self, qualifier: str, message: str) -> None:
        super().__init__(message)
        self.qualifier = qualifier
        self.message = message


class Hum:
    """One conversation: its petal log in wane order, its open bloom, its taps.

    The same class serves the home (which authors petals with `append`) and
    every attached humd (which mirrors them with `receive`); a replica's log
    is always the home's log from wane 1 up to its tip.
    """

    def __init__(
        self,
        sigil: str,
        sid: str,
        nest: str,
        home: str,
        tracker: WaneTracker,
        petals: Iterable[Petal] = (),
    ) -> None:
        self.sigil = sigil
        self.sid = sid
        self.nest = nest
        self.home = home
        self.tracker = tracker
        self.petals: list[Petal] = []
        self.taps: dict[str, Tap] = {}
        self.pending_prompts: deque[dict[str, Any]] = deque()
        self.home_tip = 0  # the home's tip as last heard (equals tip at the home)
        self._bloom_open = False
        self.attached = False  # a replica: True once the home granted our attach
        for petal in petals:
            self.receive(petal)
        self.durable_tip = self.tip  # petals up to here are stored

    # -- the log ---------------------------------------------------------

    @property
    def tip(self) -> int:
        return len(self.petals)

    def since(self, wane: int, upto: int | None = None) -> list[Petal]:
        """Petals with `wane < w <= upto`, in wane order."""
        return self.petals[max(wane, 0) : self.tip if upto is None else upto]

    @property
    def bloom_open(self) -> bool:
        """True between a prompt petal and the finish or error that closes it."""
        return self._bloom_open

    def _add(self, petal: Petal) -> None:
        self.petals.append(petal)
        if petal.chi == "prompt":
            self._bloom_open = True
        elif petal.closes_bloom:
            self._bloom_open = False

    def append(self, chi: str, **body: Any) -> Petal:
        """Author the next petal (home only); enforces prompt-opens, finish-closes."""
        if chi == "prompt" and self.bloom_open:
            raise HumError("bloom-open", "a bloom is running; queue the prompt with offer_prompt")
        if chi in ("chunk", "finish") and not self.bloom_open:
            raise HumError("no-bloom", f"a {chi} needs an open bloom")
        if chi not in PETAL_CHIS:  # before the tick: a refused append must not burn a wane
            raise HumError("not-a-petal", f"{chi!r} is not a petal chi")
        wane = self.tracker.tick(self.sigil)
        if wane != self.tip + 1:
            raise HumError("wane-skew", f"tracker gave wane {wane} for a log at {self.tip}")
        petal = Petal(self.sigil, wane, chi, body)
        self._add(petal)
        self.home_tip = wane
        return petal

    def receive(self, petal: Petal) -> bool:
        """Mirror a petal from the home. False for one already held; `gap` if one is missing."""
        if petal.wane <= self.tip:
            return False
        if petal.wane != self.tip + 1:
            raise HumError("gap", f"petal {petal.wane} arrived with the log at {self.tip}")
        self.tracker.set(self.sigil, petal.wane)
        self._add(petal)
        self.home_tip = max(self.home_tip, petal.wane)
        return True

    def offer_prompt(self, **body: Any) -> Petal | None:
        """Append the prompt now, or queue it until the open bloom closes."""
        if self.bloom_open:
            self.pending_prompts.append(body)
            return None
        return self.append("prompt", **body)

    def next_prompt(self) -> Petal | None:
        """After a bloom closes: append the oldest queued prompt, if any."""
        if self.pending_prompts and not self.bloom_open:
            return self.append("prompt", **self.pending_prompts.popleft())
        return None

    def mark_durable(self, wane: int) -> None:
        self.durable_tip = max(self.durable_tip, min(wane, self.tip))

    # -- what the log means ---------------------------------------------

    def blooms(self) -> list[Bloom]:
        """The hum's turns, in order; the last may still be open."""
        return list(blooms(self.petals))

    def transcript(self) -> list[tuple[str, str]]:
        """(role, text) turns: each prompt (with its system text), then what its bloom said."""
        turns: list[tuple[str, str]] = []
        for bloom in blooms(self.petals):
            if bloom.prompt.body.get("system"):
                turns.append(("system", str(bloom.prompt.body["system"])))
            turns.append(("user", str(bloom.prompt.body.get("text", ""))))
            if bloom.text:
                turns.append(("assistant", bloom.text))
        return turns

    def usage(self) -> dict[str, int]:
        """Tokens over all finished blooms."""
        total = {"input_tokens": 0, "output_tokens": 0}
        for petal in self.petals:
            if petal.chi == "finish":
                for key in total:
                    total[key] += int(petal.body.get("usage", {}).get(key, 0))
        return total

    def summary(self) -> dict[str, Any]:
        """The hum as listed in `breath` and `hums`: sigil, sid, home, wane."""
        return {"sigil": self.sigil, "sid": self.sid, "home": self.home, "wane": self.home_tip, "nest": self.nest}

    def hello(self, wane: int) -> Tone:
        """The first tone of a granted tap."""
        return Tone(chi="hello", sigil=self.sigil, sid=self.sid, home=self.home, wane=wane)

    # -- taps -------------------------------------------------------------

    def attach(self, tap_id: str, since: int, owner: str, *, granted: bool) -> Tap:
        """Open a tap that will receive every petal after `since`, once, in order."""
        tap = Tap(tap_id, self.sigil, max(since, 0), owner)
        if granted:
            tap.grant(self.home_tip)
        self.taps[tap_id] = tap
        return tap

    def detach(self, tap_id: str) -> Tap | None:
        return self.taps.pop(tap_id, None)

    def grant_all(self, home_wane: int) -> list[Tap]:
        """The home granted this replica: every waiting tap may now say hello."""
        self.home_tip = max(self.home_tip, home_wane)
        waiting = [t for t in self.taps.values() if not t.granted]
        for tap in waiting:
            tap.grant(home_wane)
        return waiting
