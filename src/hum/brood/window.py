"""Fitting a transcript into a local model's context window, leaving room for the reply."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hum.brood.transcript import without_tools
from hum.interfaces import Turn

# A system prompt cut to fewer tokens than this says nothing useful (a head
# and a tail of a few words each): it is left out instead.
MIN_SYSTEM_TOKENS = 64

# Where a system prompt's middle was left out; the model reads it as a gap.
SYSTEM_CUT_MARK = "\n\n[...]\n\n"

# When old turns must go, enough of them go to leave this share of the
# window (a quarter) free, and the next turns keep that cut until it no longer
# fits: consecutive turns share the start of their prompt, and llama.cpp reads
# only what is new (its cached prefix). Leaving out the fewest turns that fit
# moved the cut by one turn on every turn, and each turn read the whole window
# again (862 tokens, 12.5 s on a 2-core laptop). A quarter gives room for a
# few turns between two cuts, and costs the model at most a quarter of the
# window of context.
TRIM_ROOM_SHARE = 4


@dataclass(frozen=True)
class Prompt:
    """A transcript rendered for the model: its tokens and what trimming left out."""

    tokens: list[int]
    dropped_turns: int = 0
    tools_dropped: bool = False
    system_cut: int = 0  # tokens left out of the middle of the system prompt
    system_dropped: bool = False
    clipped: bool = False  # the newest message alone overflowed: its start was cut

    @property
    def trimmed(self) -> bool:
        return bool(self.dropped_turns or self.tools_dropped or self.system_cut or self.system_dropped or self.clipped)


class TokenWindow:
    """What trimming needs of a model: its chat rendering, its tokenizer and the tokens a prompt may take."""

    def __init__(self, render: Callable[[Sequence[Turn]], list[int]], llm: Any, budget: int) -> None:
        self.render_turns = render
        self.llm = llm
        self.budget = budget

    def fits(self, tokens: list[int]) -> bool:
        return len(tokens) <= self.budget

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)  # type: ignore[no-any-return]

    def text(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", "ignore")  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Parts:
    """A transcript split as trimming sees it: system texts, earlier turns, the newest message."""

    systems: list[str]
    history: list[Turn]
    question: Turn

    def render(self, window: TokenWindow, system: Sequence[str], kept: Sequence[Turn], last: Turn | None = None) -> list[int]:
        return window.render_turns([Turn("system", s) for s in system if s] + list(kept) + [last or self.question])


def fit(window: TokenWindow, transcript: Sequence[Turn], kept_from: int = 0) -> Prompt:
    """The transcript's tokens, trimmed so that a reply still fits the window.

    The newest message (the question) is kept whole. What gives way, in
    order: the oldest turns, then the tool list of the system prompt, then
    the system prompt's middle (its head and tail stay), then the system
    prompt. Only a newest message bigger than the window on its own loses
    its start. `kept_from` is the number of old turns the conversation's
    previous prompt left out (its `dropped_turns`): the same turns go again
    while the rest fits, so this prompt starts as that one did (`_stable_cut`).
    """
    rest = [t for t in transcript if t.role != "system"]
    parts = Parts([t.text for t in transcript if t.role == "system"], rest[:-1], rest[-1] if rest else Turn("user", ""))
    found = _stable_cut(window, parts, parts.systems, kept_from)
    if found is not None:
        return Prompt(found[0], dropped_turns=found[1])
    bare = [without_tools(s) for s in parts.systems]
    tools_dropped = bare != parts.systems
    if tools_dropped:
        found = _stable_cut(window, parts, bare, kept_from)
        if found is not None:
            return Prompt(found[0], dropped_turns=found[1], tools_dropped=True)
    return _without_history(window, parts, bare, tools_dropped)


def _stable_cut(window: TokenWindow, parts: Parts, system: Sequence[str], kept_from: int) -> tuple[list[int], int] | None:
    """The prompt with the oldest turns left out, and how many, or None if no turn can stay.

    The cut of the previous prompt (`kept_from`) stays while the rest fits;
    else the cut moves far enough to leave `1/TRIM_ROOM_SHARE` of the window
    free for the turns to come (or, when no cut does, as far as fits). What
    is kept starts with a user turn: an answer without its question misleads.
    """
    history = parts.history
    tokens = parts.render(window, system, history)
    if window.fits(tokens):
        return tokens, 0
    if not window.fits(parts.render(window, system, [])):
        return None
    cuts = [k for k in range(1, len(history)) if history[k].role == "user"] + [len(history)]
    if kept_from in cuts:
        tokens = parts.render(window, system, history[kept_from:])
        if window.fits(tokens):
            return tokens, kept_from
    roomy = window.budget - window.budget // TRIM_ROOM_SHARE
    cut = _least(cuts, lambda c: len(parts.render(window, system, history[c:])) <= roomy)
    if cut is None:
        cut = _least(cuts, lambda c: window.fits(parts.render(window, system, history[c:])))
    assert cut is not None  # leaving every earlier turn out fits (checked above)
    return parts.render(window, system, history[cut:]), cut


def _least(cuts: list[int], ok: Callable[[int], bool]) -> int | None:
    """The least of `cuts` for which `ok` holds (it holds for every cut past one that it holds for)."""
    lo, hi = 0, len(cuts)
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(cuts[mid]):
            hi = mid
        else:
            lo = mid + 1
    return cuts[lo] if lo < len(cuts) else None


def _without_history(window: TokenWindow, parts: Parts, bare: list[str], tools_dropped: bool) -> Prompt:
    """Every earlier turn left out: the system prompt's middle cut as little as fits, else the
    system prompt left out, else the newest message's start clipped."""
    everything = len(parts.history)
    body = window.tokenize("\n\n".join(s for s in bare if s))

    def cut(keep: int) -> str:
        return window.text(body[: keep - keep // 2]) + SYSTEM_CUT_MARK + window.text(body[len(body) - keep // 2 :])

    lo, hi = MIN_SYSTEM_TOKENS, len(body) - 1  # the most system tokens that still fit
    if lo <= hi and window.fits(parts.render(window, [cut(lo)], [])):
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if window.fits(parts.render(window, [cut(mid)], [])):
                lo = mid
            else:
                hi = mid - 1
        return Prompt(parts.render(window, [cut(lo)], []), everything, tools_dropped, system_cut=len(body) - lo)
    system_dropped = bool(body)
    tokens = parts.render(window, [], [])
    if window.fits(tokens):
        return Prompt(tokens, everything, tools_dropped, system_dropped=system_dropped)
    # The newest message alone overflows the window: keep its end, the part being asked about.
    overflow = len(tokens) - window.budget
    kept = window.text(window.tokenize(parts.question.text)[overflow + 1 :])
    tokens = parts.render(window, [], [], Turn(parts.question.role, kept))[-window.budget :]
    return Prompt(tokens, everything, tools_dropped, system_dropped=system_dropped, clipped=True)


def trim_note(prompt: Prompt, n_ctx: int) -> str:
    """What a trimmed prompt left out, as the note a person reads before the answer."""
    left_out = []
    if prompt.dropped_turns:
        s = "" if prompt.dropped_turns == 1 else "s"
        left_out.append(f"{prompt.dropped_turns} earlier turn{s}")
    if prompt.tools_dropped:
        left_out.append("the tool descriptions")
    if prompt.system_cut:
        left_out.append(f"{prompt.system_cut:,} tokens from the middle of the system prompt")
    if prompt.system_dropped:
        left_out.append("the system prompt")
    if prompt.clipped:
        left_out.append("the start of the last message")
    listed = left_out[0] if len(left_out) == 1 else ", ".join(left_out[:-1]) + " and " + left_out[-1]
    return f"hum: left out {listed} to fit the local model's {n_ctx:,}-token window"
