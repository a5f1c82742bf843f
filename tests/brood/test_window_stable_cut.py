"""Trimming in stable steps: as a conversation grows past the window, the cut stays at the same
turn until the window overflows again, so consecutive turns share their prompt's start."""

from __future__ import annotations

from collections.abc import Sequence

from hum.brood.window import TRIM_ROOM_SHARE, TokenWindow, fit
from hum.interfaces import Turn

BUDGET = 400


class Words:
    """A stand-in tokenizer and chat template: one token per word, two per turn for the template."""

    def tokenize(self, text: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
        return [len(w) for w in text.decode().split()]

    def detokenize(self, tokens: list[int]) -> bytes:
        return " ".join("x" * t for t in tokens).encode()

    def render(self, turns: Sequence[Turn]) -> list[int]:
        out: list[int] = []
        for turn in turns:
            out += [0, *self.tokenize(turn.text.encode()), 0]
        return out


def window() -> TokenWindow:
    words = Words()
    return TokenWindow(words.render, words, BUDGET)


def turn_pair(i: int) -> list[Turn]:
    return [Turn("user", f"question {i} " + "word " * 18), Turn("assistant", f"answer {i} " + "word " * 8)]


def test_the_cut_stays_put_until_the_window_overflows_then_moves_to_leave_room():
    system = [Turn("system", "be brief")]
    history: list[Turn] = []
    cuts, prompts = [], []
    kept_from = 0
    for i in range(40):
        prompt = fit(window(), system + history + [Turn("user", f"question {i} " + "word " * 18)], kept_from)
        kept_from = prompt.dropped_turns
        cuts.append(prompt.dropped_turns)
        prompts.append(prompt.tokens)
        history += turn_pair(i)
    trimmed = [i for i, cut in enumerate(cuts) if cut]
    assert trimmed, "the conversation outgrew the window"
    moves = [trimmed[0]] + [i for i in trimmed[1:] if cuts[i] != cuts[i - 1]]
    # once trimming starts, most turns keep the cut: each move leaves a quarter of the window free
    assert len(moves) <= len(trimmed) // 3
    for i in moves:
        assert len(prompts[i]) <= BUDGET - BUDGET // TRIM_ROOM_SHARE
    # a turn that keeps the cut starts its prompt with the whole prompt of the turn before
    for i in trimmed[1:]:
        if i not in moves:
            before = prompts[i - 1]
            assert prompts[i][: len(before)] == before


def test_without_a_previous_cut_the_fewest_turns_that_leave_room_go():
    history: list[Turn] = []
    for i in range(30):
        history += turn_pair(i)
    question = Turn("user", "last " + "word " * 18)
    prompt = fit(window(), history + [question])
    assert len(prompt.tokens) <= BUDGET - BUDGET // TRIM_ROOM_SHARE
    # keeping one exchange more would not leave it free
    assert len(window().render_turns(history[prompt.dropped_turns - 2 :] + [question])) > BUDGET - BUDGET // TRIM_ROOM_SHARE
    # a previous cut that no longer fits is not kept
    assert fit(window(), history + [question], 2).dropped_turns == prompt.dropped_turns


def test_what_is_kept_starts_with_a_question():
    history: list[Turn] = []
    for i in range(30):
        history += turn_pair(i)
    prompt = fit(window(), history + [Turn("user", "last " + "word " * 18)])
    assert prompt.dropped_turns and prompt.dropped_turns % 2 == 0  # a user turn is first of what is kept
    assert len(prompt.tokens) <= BUDGET
