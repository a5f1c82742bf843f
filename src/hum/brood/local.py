"""The default worker: a small model embedded in humd, run on the CPU by llama.cpp."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ctypes
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hum.brood.llama import (
    PromptCache,
    chat_format,
    default_model_path,
    load_llama,
)
from hum.brood.reading import PROGRESS_SECONDS, SlicedRead
from hum.brood.window import Prompt, TokenWindow, fit, trim_note
from hum.errors import WorkerError
from hum.interfaces import NOTE, Delta, Done, Turn, Usage, Worker, WorkerEvent

if TYPE_CHECKING:
    from llama_cpp import Llama


# Context window we allocate. SmolLM2 was trained on 8192, but on a 2-core
# laptop a 4096-token prompt already takes seconds to read; and the KV cache
# grows with it in every warm cell.
DEFAULT_N_CTX = 4096

# Leave one core to the event loop and everything else: llama.cpp's threads
# spin-wait, and on a 2-core machine two of them slowed a bloom ~100x as soon
# as another process wanted a core (seen here: 112 s instead of 1 s).
DEFAULT_N_THREADS = max(1, (os.cpu_count() or 1) - 1)

# Cap on one reply, so a model that never emits its stop token still finishes.
DEFAULT_MAX_TOKENS = 512

# Room kept free for the reply when trimming a long transcript: a quarter of
# the window, so a trimmed hum still gets a real answer, not a single word.
REPLY_SHARE = 4

# SmolLM2-Instruct's recommended sampling: low temperature keeps a 135M model coherent.
DEFAULT_TEMPERATURE = 0.2
DEFAULT_TOP_P = 0.9
# Without a repeat penalty the 135M model falls into loops ("Serena, Serena, ..."
# to max_tokens, seen here); 1.1 ended them on every prompt tried, answers unchanged.
DEFAULT_REPEAT_PENALTY = 1.1

# A read of the transcript at least this long is read in slices, with a note
# first and one about every second on how far it got (`reading.SlicedRead`):
# on a 2-core laptop the model reads about 180 tokens a second (2,900 took
# 16.6 s), so this is about 3 s of silence a person would otherwise wonder about.
LONG_READ_TOKENS = 512

# Fixed seed: the same transcript gives the same answer, which tests and the bench rely on.
DEFAULT_SEED = 42


def cells(**options: Any) -> Callable[[str], LocalWorker]:
    """A brood factory: a LocalWorker per hum (the brood passes its sigil), all sharing one PromptCache."""
    cache = PromptCache()

    def cell(hum: str) -> LocalWorker:
        return LocalWorker(hum=hum, prompt_cache=cache, **options)

    return cell


class LocalWorker(Worker):
    """Runs the transcript through an embedded llama.cpp model, one token at a time."""

    kind = "local"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int = DEFAULT_N_THREADS,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = DEFAULT_TEMPERATURE,
        top_p: float = DEFAULT_TOP_P,
        seed: int = DEFAULT_SEED,
        llama: Llama | None = None,
        hum: str | None = None,
        prompt_cache: PromptCache | None = None,
        long_read_tokens: int = LONG_READ_TOKENS,
        progress_seconds: float = PROGRESS_SECONDS,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        # A model handed in (shared by tests and the bench) brings its own window.
        self.n_ctx = llama.n_ctx() if llama is not None else n_ctx
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.llm: Llama | None = llama
        self._owns_llm = llama is None
        # Where this hum's state is kept past this cell (None: nowhere, e.g. a bench run).
        self.hum = hum
        self.prompt_cache = prompt_cache if hum is not None else None
        self.long_read_tokens = long_read_tokens
        self.progress_seconds = progress_seconds
        # llama.cpp contexts are not thread-safe: every call runs on this one thread.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hum-local")
        # One stop flag per bloom, so a late clean-up of an old bloom cannot stop a new one.
        self._stop = threading.Event()
        self._broken = False
        self._format: Callable[[list[dict[str, str]]], str] | None = None
        self._stop_tokens: frozenset[int] = frozenset()
        # Old turns the last prompt left out: the next prompt leaves the same out while it fits, so
        # it starts as the last one did and the cached prefix is reused (`window.fit`).
        # None until the first bloom, which asks the prompt cache (a closing cell may still be saving).
        self._kept_from: int | None = None

    async def warm(self) -> None:
        if self.llm is None:
            path = self.model_path or default_model_path()
            loop = asyncio.get_running_loop()
            self.llm = await loop.run_in_executor(
                self._thread, load_llama, path, self.n_ctx, self.n_threads, self.seed
            )
        if self._format is None:
            self._format, self._stop_tokens = chat_format(self.llm)

    def healthy(self) -> bool:
        return not self._broken

    # -- rendering and trimming (runs on the model thread: tokenising is CPU work)

    def _render(self, turns: Sequence[Turn]) -> list[int]:
        assert self.llm is not None and self._format is not None
        text = self._format([{"role": t.role, "content": t.text} for t in turns])
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def prompt(self, transcript: Sequence[Turn]) -> Prompt:
        """The transcript's tokens, trimmed so that a reply still fits the window (`window.fit`)."""
        assert self.llm is not None
        if self._kept_from is None:
            self._kept_from = self.prompt_cache.kept_from(self.hum) if self.prompt_cache and self.hum else 0
        return fit(TokenWindow(self._render, self.llm, self.n_ctx - self._reply_room()), transcript, self._kept_from)

    def _reply_room(self) -> int:
        return min(self.max_tokens, self.n_ctx // REPLY_SHARE)

    # -- the prompt cache (runs on the model thread)

    def _warm_prefix(self, tokens: list[int]) -> int:
        """How many leading `tokens` the context already holds, after loading the hum's saved state if it holds more."""
        from llama_cpp import Llama

        assert self.llm is not None
        held = Llama.longest_token_prefix(self.llm.input_ids[: self.llm.n_tokens].tolist(), tokens)
        saved = self.prompt_cache.take(self.hum) if self.prompt_cache and self.hum else None
        if saved is not None:
            kept = Llama.longest_token_prefix(saved.input_ids[: saved.n_tokens].tolist(), tokens)
            if kept > held:
                try:
                    self.llm.load_state(saved)
                except RuntimeError:  # a state this context refuses: read it all, from a clean context
                    self.llm.reset()
                    return 0
                return kept
        return held

    def _keep_state(self) -> None:
        """Save the context (its tokens and KV cache) for this hum's next cell.

        `Llama.save_state` also copies the whole logits buffer (100 MB for
        this model) that the next bloom recomputes anyway: only the KV cache
        is copied here, with a one-row stand-in for the logits.
        """
        if self.prompt_cache is None or self.hum is None:
            return
        if self.llm is None or self._broken:  # a failed decode leaves nothing worth keeping
            self.prompt_cache.put(self.hum, None)
            return
        import llama_cpp
        import numpy as np

        llm = self.llm
        size = llama_cpp.llama_state_get_size(llm.ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(llm.ctx, buffer, size)
        state = llama_cpp.LlamaState(
            input_ids=llm.input_ids.copy(),
            scores=np.zeros((1, llm.n_vocab()), dtype=np.single),
            n_tokens=llm.n_tokens,
            llama_state=ctypes.string_at(buffer, written),
            llama_state_size=written,
            seed=self.seed,
        )
        self.prompt_cache.put(self.hum, state, self._kept_from or 0)

    # -- generation

    def _generate(
        self,
        transcript: Sequence[Turn],
        stop: threading.Event,
        emit: Callable[[WorkerEvent | BaseException], None],
    ) -> None:
        """The blocking decode loop; hands every event to `emit`, checks the stop flag per token."""
        assert self.llm is not None
        try:
            prompt = self.prompt(transcript)
            self._kept_from = prompt.dropped_turns
            if prompt.trimmed:
                emit(Delta(trim_note(prompt, self.n_ctx), chunk_type=NOTE))
            # the last token is always read again: its logits give the first word
            held = min(self._warm_prefix(prompt.tokens), len(prompt.tokens) - 1)
            finish, produced = "cancelled", 0
            if len(prompt.tokens) - 1 - held < self.long_read_tokens or SlicedRead(
                self.llm, emit, progress_seconds=self.progress_seconds
            ).run(prompt.tokens, held, stop):
                finish, produced = self._decode(prompt.tokens, stop, emit)
            if not self._owns_llm:
                self._keep_state()  # the next hum on this shared model overwrites the context
            emit(Done(finish, Usage(len(prompt.tokens), produced, cached_input_tokens=held)))
        except WorkerError as exc:
            emit(exc)
        except Exception as exc:  # a failed decode leaves the context in an unknown state
            self._broken = True
            emit(WorkerError("worker-crash", f"local model failed mid-bloom: {exc!r}"))

    def _decode(
        self, tokens: list[int], stop: threading.Event, emit: Callable[[WorkerEvent | BaseException], None]
    ) -> tuple[str, int]:
        """The answer, a token at a time: why it ended and how many tokens it took."""
        assert self.llm is not None
        limit = min(self.max_tokens, self.n_ctx - len(tokens))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        produced = 0
        finish = "length"
        for token in self.llm.generate(
            tokens,
            temp=self.temperature,
            top_p=self.top_p,
            repeat_penalty=DEFAULT_REPEAT_PENALTY,
            reset=True,  # reuses the KV cache for the prefix shared with the last bloom (or just read)
        ):
            if stop.is_set():
                finish = "cancelled"
                break
            if token in self._stop_tokens:
                finish = "stop"
                break
            produced += 1
            text = decoder.decode(self.llm.detokenize([token]))
            if text:
                emit(Delta(text))
            if produced >= limit:
                break
        tail = decoder.decode(b"", final=True)
        if tail and finish != "cancelled":
            emit(Delta(tail))
        return finish, produced

    async def bloom(
        self, transcript: Sequence[Turn], *, model: str | None = None
    ) -> AsyncIterator[WorkerEvent]:
        await self.warm()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[WorkerEvent | BaseException] = asyncio.Queue()
        self._stop = stop = threading.Event()

        def emit(item: WorkerEvent | BaseException) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        job = loop.run_in_executor(self._thread, self._generate, list(transcript), stop, emit)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Done):
                    return
        finally:
            # Whatever ended the stream (Done, error, a consumer walking away),
            # the decode loop must stop before the next bloom can use the model.
            stop.set()
            with contextlib.suppress(Exception):
                await job

    async def cancel(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        self._stop.set()
        if self.llm is not None and self._owns_llm and self.prompt_cache is not None and self.hum is not None:
            # said before the first await, so a new cell of this hum waits for the state
            self.prompt_cache.will_put(self.hum)
            try:
                await asyncio.get_running_loop().run_in_executor(self._thread, self._keep_state)
            except Exception:
                self.prompt_cache.put(self.hum, None)
        llm, self.llm = self.llm, None
        if llm is not None and self._owns_llm:
            loop = asyncio.get_running_loop()
            with contextlib.suppress(Exception):
                await loop.run_in_executor(self._thread, llm.close)
        self._thread.shutdown(wait=False)

