"""The hum engine: one conversation's petal log, blooms and taps, free of I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hum.core.bloom import EMPTY_TRANSCRIPT, TEXT_DELTA, Bloom, blooms, extend_key, text_digest
from hum.core.petal import Petal
from hum.core.tap import Tap
from hum.core.wane import WaneTracker
from hum.errors import LogError, StoreError
from hum.wire.tones import PETAL_CHIS, Tone

# How many petals a hum keeps in memory behind its tip once they are stored:
# a tap a little behind the live edge, and the worker's recent chunks, are read
# without touching the store; everything older is read from it on demand, so
# memory does not grow with the length of a conversation.
TAIL_PETALS = 512


# `Hum.last_system` before it is known: a restarted hum reads its log once to learn it.
_UNREAD = object()


class PetalArchive(Protocol):
    """Where a hum reads the stored part of its log (the store)."""

    def petals(self, sigil: str, after: int, upto: int) -> list[Petal]:
        """Stored petals of `sigil` with `after < wane <= upto`, in wane order."""

    def lines(self, sigil: str, sid: str, after: int, upto: int) -> list[bytes]:
        """The same petals as their tap lines (for `sid`): what a reader that writes bytes is sent."""


@dataclass(frozen=True)
class Stored:
    """What the store knows of a hum's log without reading it: where it ends and where its last bloom is."""

    tip: int
    last_prompt: int  # wane of the last prompt petal, 0 if none
    bloom_open: bool  # the last prompt has no finish or error after it
    transcript_key: bytes  # the key over every closed bloom (`bloom.extend_key`)


class Hum:
    """One conversation: its petal log in wane order, its open bloom, its queued prompts.

    The same class serves the home (which authors petals with `append`) and
    every attached humd (which mirrors them with `receive`); a replica's log
    is always the home's log from wane 1 up to its tip. Taps are cursors the
    hum reads its log for (`read`); who holds them is the node's business.

    With an `archive`, only the petals not yet stored (or stored by the last
    commit, which every tap reads next) and the `TAIL_PETALS` before them are
    held in memory; the rest are read from the archive when someone reads that
    far back.
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
        *,
        archive: PetalArchive | None = None,
        stored: Stored | None = None,
    ) -> None:
        self.sigil = sigil
        self.sid = sid
        self.nest = nest
        self.home = home
        self.tracker = tracker
        self.archive = archive
        self._tail: list[Petal] = []  # petals after wane `_tail_start`, up to the tip
        self._tail_start = 0
        # prompts waiting for the open bloom to close, by queue number, oldest first (a few at
        # most: a list, since an empty deque costs ten times an empty list in every idle hum)
        self.pending_prompts: list[tuple[int, dict[str, Any]]] = sorted(queued, key=lambda q: q[0])
        self.queue_seq = max((q[0] for q in self.pending_prompts), default=0)
        self.home_tip = 0  # the home's tip as last heard (equals tip at the home)
        # The home is the pair (home, epoch): adopting a hum takes the next epoch,
        # and `fork` is the wane its log had when that epoch began.
        self.epoch = 0
        self.fork = 0
        self.prior: tuple[int, str] | None = None  # the (epoch, home) this epoch was adopted from
        # which incarnation of the sigil this is: its home's wall ms at the mint (0: unknown, from
        # before incarnations); a hum forgotten and minted again under the same sigil is another hum
        self.born = 0
        self.unreadable: int | None = None  # a stored petal found not to read (a damaged row), until repaired
        self._bloom_open = False
        self.last_prompt = 0  # wane of the newest prompt petal
        self.transcript_key = EMPTY_TRANSCRIPT  # over every closed bloom
        self._prompt_digest = b""  # the open bloom's prompt text, digested
        self._answer: Any = None  # the open bloom's text so far, hashed as it comes (a hashlib object)
        # the newest prompt's system text; a restarted hum learns it from its log when first asked
        self._system: str | None | object = _UNREAD if stored is not None else None
        if stored is not None:
            self._tail_start = stored.tip
            self.tracker.set(sigil, stored.tip)
            self.last_prompt, self.transcript_key = stored.last_prompt, stored.transcript_key
            if stored.bloom_open:
                self._bloom_open = True
                self._replay_open_bloom()
        for petal in petals:
            self.receive(petal)
        self.durable_tip = self.tip  # petals up to here are stored

    # -- the log ---------------------------------------------------------

    @property
    def tip(self) -> int:
        return self._tail_start + len(self._tail)

    def since(self, wane: int, upto: int | None = None) -> list[Petal]:
        """Petals with `wane < w <= upto`, in wane order (the stored part read from the archive)."""
        upto = self.tip if upto is None else min(upto, self.tip)
        wane = max(wane, 0)
        if wane >= upto:
            return []
        if wane >= self._tail_start:
            return self._tail[wane - self._tail_start : upto - self._tail_start]
        assert self.archive is not None  # without one the tail starts at 0
        stored = self.archive.petals(self.sigil, wane, min(upto, self._tail_start))
        if len(stored) < min(upto, self._tail_start) - wane:  # the store could not read them all: no gap served
            return stored
        return stored + self._tail[: max(0, upto - self._tail_start)]

    @property
    def petals(self) -> list[Petal]:
        """The whole log (read from the archive as far as it is stored): for tests and tools, not the hot path."""
        return self.since(0)

    def petal(self, wane: int) -> Petal:
        """The petal at `wane` (1 <= wane <= tip)."""
        return self.since(wane - 1, wane)[0]

    @property
    def bloom_open(self) -> bool:
        """True between a prompt petal and the finish or error that closes it."""
        return self._bloom_open

    def _add(self, petal: Petal) -> None:
        self._tail.append(petal)
        self._follow(petal)

    def _follow(self, petal: Petal) -> None:
        """Keep the bloom state and the transcript key up with one more petal."""
        if petal.chi == "prompt":
            if "system" in petal.body:
                self._system = str(petal.body["system"])
            self._bloom_open = True
            self.last_prompt = petal.wane
            self._prompt_digest = text_digest(str(petal.body.get("text", "")))
            self._answer = hashlib.sha256()
        elif not self._bloom_open:
            return
        elif petal.chi == "chunk":
            kind, delta = petal.chunk_text()  # a mirrored chunk's body stays bytes
            if kind == TEXT_DELTA and self._answer is not None:
                self._answer.update(str(delta).encode("utf-8", "surrogatepass"))
        elif petal.closes_bloom:
            self._bloom_open = False
            answer = self._answer.digest() if self._answer is not None else text_digest("")
            self.transcript_key = extend_key(self.transcript_key, self._prompt_digest, answer)
            self._answer = None

    def _replay_open_bloom(self) -> None:
        """After a restart mid-bloom: the open bloom's prompt and text so far, read back."""
        assert self.archive is not None
        for petal in self.archive.petals(self.sigil, self.last_prompt - 1, self._tail_start):
            self._follow(petal)

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
        tip = self._tail_start + len(self._tail)  # `tip`, once: a replica receives petal after petal
        if petal.wane <= tip:
            held = self.since(petal.wane - 1, petal.wane)
            if not held:  # our stored copy does not read (a damaged row): noted, to be fetched back
                self.unreadable = petal.wane
            elif held[0] != petal:
                raise LogError("diverged", f"petal {petal.wane} differs from the home's")
            return False
        if petal.wane != tip + 1:
            raise LogError("gap", f"petal {petal.wane} arrived with the log at {tip}")
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
            seq, body = self.pending_prompts.pop(0)
            return seq, self.append("prompt", body)
        return None

    def truncate(self, keep: int) -> list[Petal]:
        """Cut the log back to its first `keep` petals (a branch the home does not have); returns the cut."""
        cut = self.since(keep)
        kept = self.since(
            0, keep
        )  # a rare event (adoption): the bloom state is read again from the start
        if keep >= self._tail_start:
            del self._tail[keep - self._tail_start :]
        else:
            self._tail, self._tail_start = [], keep
        self._bloom_open, self.last_prompt, self.transcript_key, self._system = False, 0, EMPTY_TRANSCRIPT, None
        for petal in kept:
            self._follow(petal)
        self.tracker.reset(self.sigil, self.tip)
        self.home_tip = min(self.home_tip, self.tip)
        self.durable_tip = min(self.durable_tip, self.tip)
        return cut

    def mark_durable(self, wane: int) -> None:
        """Petals up to `wane` are stored: with an archive, the tail lets go of older ones.

        Only petals stored before this commit may go: the ones it just made
        durable are what every tap reads next, from memory.
        """
        seen_by_taps = self.durable_tip
        self.durable_tip = max(self.durable_tip, min(wane, self.tip))
        if self.archive is not None and len(self._tail) > 2 * TAIL_PETALS:  # trimmed in steps, not per petal
            drop = min(seen_by_taps, self.tip - TAIL_PETALS) - self._tail_start
            if drop > 0:
                del self._tail[:drop]
                self._tail_start += drop

    # -- what the log means ---------------------------------------------

    def blooms(self) -> list[Bloom]:
        """The hum's turns, in order; the last may still be open (reads the whole log)."""
        return list(blooms(self.petals))

    def last_system(self) -> str | None:
        """The system text of the newest prompt that had one: kept as prompts come, read from the log once after a restart."""
        if self._system is _UNREAD:
            self._system = next((str(b.prompt.body["system"]) for b in reversed(self.blooms()) if "system" in b.prompt.body), None)
        return self._system  # type: ignore[return-value]

    def last_bloom(self) -> Bloom | None:
        """The newest bloom, open or closed (reads only that bloom)."""
        found = list(blooms(self.since(self.last_prompt - 1))) if self.last_prompt else []
        return found[0] if found else None

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
        summary = {"sigil": self.sigil, "sid": self.sid, "home": self.home, "wane": self.home_tip, "nest": self.nest, "epoch": self.epoch, "fork": self.fork, "born": self.born}
        if self.prior is not None:
            summary["prior"] = {"epoch": self.prior[0], "home": self.prior[1]}
        return summary

    def hello(self, wane: int) -> Tone:
        """The first tone of a granted tap."""
        return Tone(chi="hello", sigil=self.sigil, sid=self.sid, home=self.home, wane=wane, epoch=self.epoch, born=self.born)

    # -- taps -------------------------------------------------------------

    def read(self, tap: Tap, limit: int, upto: int | None = None, *, lines: bool = False) -> list[Tone | bytes]:
        """Up to `limit` tones owed to `tap` now, in order (petals up to `upto`); advances its cursor.
        With `lines`, each petal comes as its encoded NDJSON line (a reader that writes bytes)."""
        if lines and tap.hello_sent and not tap.notices and not tap.ended and tap.cursor >= self._tail_start:
            # a fan-out's common case, once per tap per petal: a byte reader with nothing to be
            # told, its next petals in the tail (what the loop below does, without its checks)
            start, tip = tap.cursor - self._tail_start, self.tip if upto is None else min(upto, self.tip)
            batch = self._tail[start : min(tip, tap.cursor + limit) - self._tail_start]
            if batch:
                tap.cursor = batch[-1].wane
            sid = self.sid
            return [petal.line(sid) for petal in batch]
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
            end = min(stop, tap.cursor + limit - len(out))
            if lines and tap.cursor < self._tail_start:
                # a byte reader far behind: its lines come straight from the store, never parsed here
                assert self.archive is not None
                stored = self.archive.lines(self.sigil, self.sid, tap.cursor, min(end, self._tail_start))
                out.extend(stored)
                tap.cursor += len(stored)
                if stored:
                    continue
                batch: list[Petal] = []
            else:
                batch = self.since(tap.cursor, end)
            if not batch:  # the store cannot read that far (a damaged row): said, and the tap ends there
                self.unreadable = tap.cursor + 1
                out.append(StoreError("cannot-read", f"petal {tap.cursor + 1} of hum {self.sigil} does not read").tone(sigil=self.sigil))
                tap.ended = True
                break
            for petal in batch:
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
