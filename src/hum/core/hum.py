"""The hum engine: one conversation's petal log, blooms and taps, free of I/O."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from hum.core.bloom import Bloom, blooms
from hum.core.petal import Petal
from hum.core.tap import Tap
from hum.core.wane import WaneTracker
from hum.errors import LogError
from hum.wire.tones import PETAL_CHIS, Tone


class Hum:
    """One conversation: its petal log in wane order, its open bloom, its queued prompts.

    The same class serves the home (which authors petals with `append`) and
    every attached humd (which mirrors them with `receive`); a replica's log
    is always the home's log from wane 1 up to its tip. Taps are cursors the
    hum reads its log for (`read`); who holds them is the node's business.
    """

    def __init__(
        self,
        sigil: str,
        sid: str,
        nest: str,
        home: str,
        tracker: WaneTracker,
        petals: Iterable[Petal] = (),
        queued: Iterable[tuple[int, dict[str, Any]]] = (),
    ) -> None:
        self.sigil = sigil
        self.sid = sid
        self.nest = nest
        self.home = home
        self.tracker = tracker
        self.petals: list[Petal] = []
        # prompts waiting for the open bloom to close, by queue number, oldest first
        self.pending_prompts: deque[tuple[int, dict[str, Any]]] = deque(sorted(queued, key=lambda q: q[0]))
        self.queue_seq = max((q[0] for q in self.pending_prompts), default=0)
        self.home_tip = 0  # the home's tip as last heard (equals tip at the home)
        # The home is the pair (home, epoch): adopting a hum takes the next epoch,
        # and `fork` is the wane its log had when that epoch began.
        self.epoch = 0
        self.fork = 0
        self._bloom_open = False
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

    def append(self, chi: str, body: Mapping[str, Any]) -> Petal:
        """Author the next petal (home only); enforces prompt-opens, finish-closes.

        `body` is data: its keys are never taken as Python names, so a tone
        may carry any field (`self`, `kwargs`...) and is stored as sent.
        """
        if chi == "prompt" and self.bloom_open:
            raise LogError("bloom-open", "a bloom is running; queue the prompt with offer_prompt")
        if chi in ("chunk", "finish", "permission-ask", "permit") and not self.bloom_open:
            raise LogError("no-bloom", f"a {chi} needs an open bloom")
        if chi not in PETAL_CHIS:  # before the tick: a refused append must not burn a wane
            raise LogError("not-a-petal", f"{chi!r} is not a petal chi")
        wane = self.tracker.tick(self.sigil)
        if wane != self.tip + 1:
            raise LogError("wane-skew", f"tracker gave wane {wane} for a log at {self.tip}")
        petal = Petal(self.sigil, wane, chi, dict(body))
        self._add(petal)
        self.home_tip = wane
        return petal

    def receive(self, petal: Petal) -> bool:
        """Mirror a petal from the home. False for one already held; `gap` if one is missing;
        `diverged` if the home's petal at a wane held here is another (a branch the home never had)."""
        if petal.wane <= self.tip:
            if self.petals[petal.wane - 1] != petal:
                raise LogError("diverged", f"petal {petal.wane} differs from the home's")
            return False
        if petal.wane != self.tip + 1:
            raise LogError("gap", f"petal {petal.wane} arrived with the log at {self.tip}")
        self.tracker.set(self.sigil, petal.wane)
        self._add(petal)
        self.home_tip = max(self.home_tip, petal.wane)
        return True

    def offer_prompt(self, body: Mapping[str, Any]) -> Petal | None:
        """Append the prompt now, or queue it until the open bloom closes (it is then `pending_prompts[-1]`)."""
        if self.bloom_open:
            self.queue_seq += 1
            self.pending_prompts.append((self.queue_seq, dict(body)))
            return None
        return self.append("prompt", body)

    def next_prompt(self) -> tuple[int, Petal] | None:
        """After a bloom closes: append the oldest queued prompt; its queue number and petal."""
        if self.pending_prompts and not self.bloom_open:
            seq, body = self.pending_prompts.popleft()
            return seq, self.append("prompt", body)
        return None

    def truncate(self, keep: int) -> list[Petal]:
        """Cut the log back to its first `keep` petals (a branch the home does not have); returns the cut."""
        cut, self.petals = self.petals[keep:], self.petals[:keep]
        self._bloom_open = self._open_after_replay()
        self.tracker.reset(self.sigil, self.tip)
        self.home_tip = min(self.home_tip, self.tip)
        self.durable_tip = min(self.durable_tip, self.tip)
        return cut

    def _open_after_replay(self) -> bool:
        open_ = False
        for petal in self.petals:
            if petal.chi == "prompt":
                open_ = True
            elif petal.closes_bloom:
                open_ = False
        return open_

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
        return {"sigil": self.sigil, "sid": self.sid, "home": self.home, "wane": self.home_tip, "nest": self.nest, "epoch": self.epoch, "fork": self.fork}

    def hello(self, wane: int) -> Tone:
        """The first tone of a granted tap."""
        return Tone(chi="hello", sigil=self.sigil, sid=self.sid, home=self.home, wane=wane, epoch=self.epoch)

    # -- taps -------------------------------------------------------------

    def read(self, tap: Tap, limit: int, upto: int | None = None, *, lines: bool = False) -> list[Tone | bytes]:
        """Up to `limit` tones owed to `tap` now, in order (petals up to `upto`); advances its cursor.
        With `lines`, each petal comes as its encoded NDJSON line (a reader that writes bytes)."""
        out: list[Tone | bytes] = []
        if tap.ended:
            return out
        if tap.notices and not tap.granted:
            # refused or lost before the grant: the notice is all there is to say
            out.append(tap.notices.popleft()[1])
            tap.ended = True
            return out
        if not tap.granted:
            return out
        if not tap.hello_sent:
            out.append(self.hello(tap.granted_wane or 0))
            tap.hello_sent = True
        tip = self.tip if upto is None else min(upto, self.tip)
        while len(out) < limit:
            notice_at = tap.notices[0][0] if tap.notices else None
            if notice_at is not None and notice_at <= tap.cursor:
                _, tone, terminal = tap.notices.popleft()
                out.append(tone)
                if terminal:
                    tap.ended = True
                    break
                continue
            stop = tip if notice_at is None else min(tip, notice_at)
            if tap.cursor >= stop:
                break
            for petal in self.since(tap.cursor, min(stop, tap.cursor + limit - len(out))):
                out.append(petal.line(self.sid) if lines else petal.tone(self.sid))
                tap.cursor = petal.wane
        return out

    def owes(self, tap: Tap, upto: int | None = None) -> bool:
        """True when `read(tap, ...)` would return something."""
        if tap.ended:
            return False
        if tap.notices and (not tap.granted or tap.notices[0][0] <= tap.cursor):
            return True
        if not tap.granted:
            return False
        tip = self.tip if upto is None else min(upto, self.tip)
        return not tap.hello_sent or tap.cursor < tip
