"""Reading a long prompt into a llama.cpp context in slices, saying how far it got at a steady pace."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from hum.interfaces import NOTE, Delta

# Tokens read per llama.cpp call during a long read. Between slices the read
# can stop (a cancel) and say how far it got. Measured here (SmolLM2-135M, one
# thread, a loaded 2-core machine): 64 tokens take about 0.45 s, and 1,536
# tokens read in slices of 64 took 14.3 s against 18.5 s in slices of 512, so
# slicing costs no speed; a bigger model reads a slice slower, and then says
# so after each slice.
READ_SLICE_TOKENS = 64

# How often a long read says how far it got: once a second is a line that
# visibly moves without flooding the hum's log (a 50 s read adds 50 notes).
PROGRESS_SECONDS = 1.0


def start_note(unread: int) -> Delta:
    """The first word of a long read: how much there is to read."""
    return Delta(f"hum: reading {unread:,} earlier tokens before answering", chunk_type=NOTE, progress=(0, unread))


def progress_note(read: int, unread: int) -> Delta:
    return Delta(f"hum: reading the conversation: {read:,} of {unread:,} tokens", chunk_type=NOTE, progress=(read, unread))


def end_note(unread: int, seconds: float) -> Delta:
    """The last word of a long read, which the line it moved ends on."""
    return Delta(f"hum: read {unread:,} earlier tokens in {seconds:.1f} s", chunk_type=NOTE, progress=(unread, unread))


class SlicedRead:
    """One long read: `tokens[held:end]` into the context of `llm`, a slice at a time."""

    def __init__(
        self,
        llm: Any,
        emit: Callable[[Delta], None],
        *,
        progress_seconds: float = PROGRESS_SECONDS,
        slice_tokens: int = READ_SLICE_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.llm = llm
        self.emit = emit
        self.progress_seconds = progress_seconds
        self.slice_tokens = slice_tokens
        self.clock = clock

    def run(self, tokens: list[int], held: int, stop: threading.Event) -> bool:
        """Read all but the last of `tokens` past the `held` ones the context already has (the
        model's own generate reads the last one, whose logits give the first word). False: stopped."""
        end = len(tokens) - 1
        unread = end - held
        began = last = self.clock()
        self.emit(start_note(unread))
        self.llm.n_tokens = held  # llama.cpp's eval drops the cache past this point first
        for start in range(held, end, self.slice_tokens):
            if stop.is_set():
                return False
            self.llm.eval(tokens[start : min(end, start + self.slice_tokens)])
            now = self.clock()
            if now - last >= self.progress_seconds and start + self.slice_tokens < end:
                last = now
                self.emit(progress_note(start + self.slice_tokens - held, unread))
        self.emit(end_note(unread, self.clock() - began))
        return True
