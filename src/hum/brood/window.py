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

# Old turns are left out in blocks of about a quarter of the window, at cut
# points fixed by the turns before them: the cut stays at the same turn until
# the conversation has grown by a block, so consecutive turns share the start
# of their prompt and llama.cpp reads only what is new (its cached prefix).
# Leaving out the fewest turns that fit moved the cut by one turn on every
# turn, and each turn read the whole window again (862 tokens, 12.5 s on a
# 2-core laptop). A quarter: a cut gives room for a few turns before the
# next one, and costs the model at most a quarter of the window of context.
TRIM_BLOCK_SHARE = 4


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


def fit(window: TokenWindow, transcript: Sequence[Turn]) -> Prompt:
    """The transcript's tokens, trimmed so that a reply still fits the window.

    The newest message (the question) is kept whole. What gives way, in
    order: the oldest turns (in blocks, so the cut stays put from turn to
    turn: `block_cuts`), then the tool list of the system prompt, then
    the system prompt's middle (its head and tail stay), then the system
    prompt. Only a newest message bigger than the window on its own loses
    its start.
    """
    rest = [t for t in transcript if t.role != "system"]
    parts = Parts([t.text for t in transcript if t.role == "system"], rest[:-1], rest[-1] if rest else Turn("user", ""))
    found = _stable_cut(window, parts, parts.systems)
    if found is not None:
        return Prompt(found[0], dropped_turns=found[1])
    bare = [without_tools(s) for s in parts.systems]
    tools_dropped = bare != parts.systems
    if tools_dropped:
        found = _stable_cut(window, parts, bare)
        if found is not None:
            return Prompt(found[0], dropped_turns=found[1], tools_dropped=True)
    return _without_history(window, parts, bare, tools_dropped)


def _stable_cut(window: TokenWindow, parts: Parts, system: Sequence[str]) -> tuple[list[int], int] | None:
    """The prompt with the fewest blocks of oldest turns left out (`block_cuts`), or None if no turn can stay."""
    history = parts.history
    tokens = parts.render(window, system, history)
    if window.fits(tokens):
        return tokens, 0
    if not window.fits(parts.render(window, system, [])):
        return None
    cuts = block_cuts(window, history)
    lo, hi = 0, len(cuts) - 1  # dropping `cuts[hi]` turns fits; find the least cut that does
    while lo < hi:
        mid = (lo + hi) // 2
        if window.fits(parts.render(window, system, history[cuts[mid] :])):
            hi = mid
        else:
            lo = mid + 1
    return parts.render(window, system, history[cuts[lo] :]), cuts[lo]


def block_cuts(window: TokenWindow, history: Sequence[Turn]) -> list[int]:
    """Where the kept history may start: the first user turn past each `TRIM_BLOCK_SHARE`th of the
    window's tokens, counted from the oldest turn, and at last nothing kept.

    Each point depends only on the turns before it, so a longer conversation
    has the same points: the cut moves only when the window overflows again,
    by a block at least. What is kept starts with a user turn: an answer
    without its question misleads.
    """
    block = max(1, window.budget // TRIM_BLOCK_SHARE)
    cuts: list[int] = []
    before, mark = 0, block
    for k, turn in enumerate(history):
        if k and turn.role == "user" and before >= mark:
            cuts.append(k)
            mark = (before // block + 1) * block
        before += len(window.tokenize(turn.text))
    return cuts + [len(history)]


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
