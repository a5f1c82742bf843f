"""A deterministic worker for the sim and tests: a known reply at a known pace."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from hum.brood.asks import AskDesk
from hum.interfaces import Delta, Done, Turn, Usage, Worker, WorkerEvent

# A reply long enough that "walk away mid-bloom" has a middle to walk away in.
_WORDS = ["the", "hum", "keeps", "humming", "while", "you", "move", "between", "devices", "and", "every", "petal", "arrives", "once", "in", "wane", "order", "so", "the", "story", "reads", "the", "same", "on", "the", "phone", "as", "it", "did", "on", "the", "laptop"]


# Below this interval between tokens, waiting on a timer costs more than the token.
FAST_PACE = 0.001


def default_reply(prompt: str, length: int = 40) -> str:
    """A reply that depends only on the prompt, so two runs compare equal."""
    seed = sum(prompt.encode())
    return " ".join(_WORDS[(seed + i) % len(_WORDS)] for i in range(length))


def count_tokens(text: str) -> int:
    """Whitespace tokens: the scripted worker's own, honest, token count."""
    return len(text.split())


def ask_question(command: str) -> str:
    return f"May I run `{command}`?"


class ScriptedWorker(Worker):
    """Streams `reply(prompt)` one word per token at `tokens_per_second`.

    Told to `ask` (a shell command), each bloom stops half-way to ask leave to
    run it as a `Bash` tool, and goes on once answered: the rest of the reply
    says what it was told (it never runs anything itself).
    """

    kind = "scripted"

    def __init__(
        self,
        tokens_per_second: float = 50.0,
        reply: Callable[[str], str] = default_reply,
        ask: str | None = None,
    ) -> None:
        self.tokens_per_second = tokens_per_second
        self.reply = reply
        self.ask = ask
        self.blooms = 0
        self._cancelled = asyncio.Event()
        self._desk = AskDesk()

    async def bloom(
        self, transcript: Sequence[Turn], *, model: str | None = None
    ) -> AsyncIterator[WorkerEvent]:
        self.blooms += 1
        self._cancelled = cancelled = asyncio.Event()
        prompt = next((t.text for t in reversed(transcript) if t.role == "user"), "")
        words = self.reply(prompt).split()
        input_tokens = sum(count_tokens(t.text) for t in transcript)
        interval = 1.0 / self.tokens_per_second
        sent = 0
        ask_at = len(words) // 2 if self.ask else -1
        i = 0
        while i < len(words):
            if i == ask_at:
                assert self.ask is not None
                ask = self._desk.ask("Bash", {"command": self.ask}, ask_question(self.ask))
                yield ask
                answer = await self._desk.answer_to(ask.permit_id)
                if cancelled.is_set():
                    yield Done("cancelled", Usage(input_tokens, sent))
                    return
                told = f"ran {self.ask}" if answer.allowed else f"did not run {self.ask}: {answer.message or 'denied'}"
                words[i:i] = f"({told})".split()
            word = words[i]
            if interval >= FAST_PACE:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(cancelled.wait(), timeout=interval)
            else:
                await asyncio.sleep(0)  # flat out: still yield, but spare a timer per token
            if cancelled.is_set():
                yield Done("cancelled", Usage(input_tokens, sent))
                return
            yield Delta(word if i == 0 else " " + word)
            sent += 1
            i += 1
        yield Done("stop", Usage(input_tokens, sent))

    async def release(self, permit_id: str, decision: str, message: str | None) -> None:
        self._desk.release(permit_id, decision, message)

    async def cancel(self) -> None:
        self._cancelled.set()
        self._desk.withdraw_all("the bloom was cancelled")
