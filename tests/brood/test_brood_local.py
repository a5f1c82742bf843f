"""The embedded local model (SmolLM2-135M via llama-cpp-python): answers, usage, trim, cancel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from brood_helpers import TEST_TIMEOUT_SECONDS, collect, text_of
from llama_cpp import LlamaState

from hum.brood.llama import PromptCache, load_llama
from hum.brood.local import LocalWorker, cells
from hum.brood.pool import IDLE_EVICT_SECONDS, Brood
from hum.brood.reading import READ_SLICE_TOKENS
from hum.brood.scripted import ScriptedWorker
from hum.errors import WorkerError
from hum.interfaces import NOTE, Delta, Turn
from hum.surfaces.openai_messages import tools_system

pytestmark = pytest.mark.slow

# Small window so a "too long" transcript is cheap to build and to read.
TEST_N_CTX = 512

# One thread: llama.cpp's two threads spin on each other and slow down 100x when
# another process (a parallel test run) takes a core; one thread degrades gracefully.
TEST_THREADS = 1

QUESTION = [Turn("user", "What is the capital of France?")]
LONG = [Turn("user", "Write a very long story about a lighthouse keeper and the sea.")]


@pytest.fixture(scope="module")
def llm(model_path: Path):
    """One loaded model for the whole module; each test's worker borrows it."""
    model = load_llama(model_path, n_ctx=TEST_N_CTX, n_threads=TEST_THREADS, seed=42)
    yield model
    model.close()


def brood_on(llm, **kw) -> Brood:
    return Brood({"local": lambda: LocalWorker(llama=llm, **kw)}, "local")


async def test_answers_with_real_token_counts(llm):
    brood = brood_on(llm, max_tokens=48)
    deltas, done = await asyncio.wait_for(
        collect(brood.bloom("s1", QUESTION)), TEST_TIMEOUT_SECONDS
    )
    await brood.close()
    text = text_of(deltas)
    assert "Paris" in text
    assert done.finish_reason == "stop"
    # The prompt is the chat template around the question, counted by the model's tokenizer.
    question_tokens = len(llm.tokenize(QUESTION[0].text.encode(), add_bos=False))
    assert done.usage.input_tokens > question_tokens + 5
    # Output tokens are the ones decoded; re-tokenising the text gives (nearly) the same count.
    assert abs(done.usage.output_tokens - len(llm.tokenize(text.encode(), add_bos=False))) <= 2


async def test_a_hum_keeps_its_warm_cell_and_follows_up(llm):
    brood = brood_on(llm, max_tokens=48)
    first, _ = await collect(brood.bloom("s1", QUESTION))
    cell = await brood.cell("s1")
    follow_up = QUESTION + [
        Turn("assistant", text_of(first)),
        Turn("user", "And the capital of Italy?"),
    ]
    second, done = await asyncio.wait_for(
        collect(brood.bloom("s1", follow_up)), TEST_TIMEOUT_SECONDS
    )
    assert await brood.cell("s1") is cell
    assert "Rome" in text_of(second)
    assert done.finish_reason == "stop"
    await brood.close()


async def test_a_hum_started_elsewhere_continues_on_the_local_model(llm):
    brood = Brood(
        {"local": lambda: LocalWorker(llama=llm, max_tokens=32), "scripted": ScriptedWorker},
        "local",
    )
    scripted = [Turn("user", "say something"), Turn("assistant", "the hum keeps humming")]
    deltas, done = await collect(
        brood.bloom("s1", scripted + [Turn("user", "What is the capital of France?")])
    )
    # The scripted turns are part of the prompt the model read.
    scripted_tokens = sum(len(llm.tokenize(t.text.encode(), add_bos=False)) for t in scripted)
    assert text_of(deltas).strip()
    assert done.usage.input_tokens > scripted_tokens + 10
    await brood.close()


async def test_cancel_stops_decoding_at_once(llm):
    brood = brood_on(llm, max_tokens=400)
    stream = brood.bloom("s1", LONG)
    first = await asyncio.wait_for(anext(stream), TEST_TIMEOUT_SECONDS)
    assert isinstance(first, Delta)
    await brood.cancel("s1")
    rest, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    assert rest == []
    assert done.finish_reason == "cancelled"
    # The decode loop stopped within a token or two of the cancel...
    assert done.usage.output_tokens <= 3
    # ...and the model's context holds only the prompt and those tokens: nothing decoded after.
    assert llm.n_tokens <= done.usage.input_tokens + done.usage.output_tokens + 1
    await brood.close()


async def test_a_transcript_longer_than_the_window_is_trimmed_with_a_note(llm):
    filler = " ".join(["the lighthouse keeper counted waves"] * 20)
    old = []
    for i in range(8):
        old += [Turn("user", f"{i}: {filler}"), Turn("assistant", f"ok {i}")]
    transcript = [
        Turn("system", "You are brief."),
        *old,
        Turn("user", "What is the capital of France?"),
    ]
    brood = brood_on(llm, max_tokens=32)
    deltas, done = await asyncio.wait_for(
        collect(brood.bloom("s1", transcript)), TEST_TIMEOUT_SECONDS
    )
    await brood.close()
    notes = [d for d in deltas if d.chunk_type == NOTE]
    assert len(notes) == 1 and deltas[0] is notes[0]
    assert "earlier turns" in notes[0].text and "512-token window" in notes[0].text
    assert "paris" in text_of(deltas).lower()
    assert done.usage.input_tokens + 32 <= TEST_N_CTX


async def test_a_system_prompt_too_big_gives_way_before_the_question(llm):
    # a coding agent's system prompt: instructions, then the text protocol's tool list
    rules = " ".join(f"Rule {i}: keep the code tidy and explain each change." for i in range(60))
    tools = tools_system([{"type": "function", "function": {"name": f"tool_{i}", "description": "does a thing " * 20}} for i in range(10)])
    system = f"You are a careful assistant. {rules}\n\nAnswer in English.\n\n{tools}"
    earlier = [Turn("user", "Hello there"), Turn("assistant", "Hi! How can I help?")]
    transcript = [Turn("system", system), *earlier, Turn("user", "What is the capital of France?")]
    worker = LocalWorker(llama=llm, max_tokens=32)
    await worker.warm()
    prompt = worker.prompt(transcript)
    read = llm.detokenize(prompt.tokens).decode()
    assert "What is the capital of France?" in read  # the question is whole
    assert "tool_0" not in read and "Hello there" not in read
    assert read.count("You are a careful assistant.") == 1 and "Answer in English." in read  # head and tail kept
    assert prompt.dropped_turns == 2 and prompt.tools_dropped and prompt.system_cut > 0
    brood = brood_on(llm, max_tokens=32)
    deltas, _ = await asyncio.wait_for(collect(brood.bloom("s1", transcript)), TEST_TIMEOUT_SECONDS)
    await brood.close()
    assert deltas[0].chunk_type == NOTE
    assert deltas[0].text == (
        f"hum: left out 2 earlier turns, the tool descriptions and {prompt.system_cut:,} tokens"
        " from the middle of the system prompt to fit the local model's 512-token window"
    )
    assert "paris" in text_of(deltas).lower()


async def test_one_message_bigger_than_the_window_keeps_its_end(llm):
    huge = " ".join(["blah"] * 1500) + " What is the capital of France?"
    brood = brood_on(llm, max_tokens=24)
    deltas, done = await asyncio.wait_for(
        collect(brood.bloom("s1", [Turn("system", "You are brief."), Turn("user", huge)])), TEST_TIMEOUT_SECONDS
    )
    await brood.close()
    assert deltas[0].text.endswith("left out the system prompt and the start of the last message to fit the local model's 512-token window")
    assert done.finish_reason in ("stop", "length")
    assert done.usage.input_tokens <= TEST_N_CTX


async def test_a_missing_model_file_is_model_missing(tmp_path):
    brood = Brood({"local": lambda: LocalWorker(tmp_path / "nope.gguf")}, "local")
    with pytest.raises(WorkerError) as err:
        await collect(brood.bloom("s1", QUESTION))
    assert err.value.qualifier == "model-missing"
    assert "nope.gguf" in err.value.message


async def test_a_corrupt_model_file_is_model_load(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    brood = Brood({"local": lambda: LocalWorker(bad)}, "local")
    with pytest.raises(WorkerError) as err:
        await asyncio.wait_for(collect(brood.bloom("s1", QUESTION)), TEST_TIMEOUT_SECONDS)
    assert err.value.qualifier == "model-load"


async def test_a_decode_failure_is_worker_crash_and_the_cell_is_replaced(llm, monkeypatch):
    made = []

    def factory():
        made.append(LocalWorker(llama=llm, max_tokens=16))
        return made[-1]

    brood = Brood({"local": factory}, "local")

    def broken_generate(*args, **kwargs):
        raise RuntimeError("llama_decode returned -1")
        yield  # pragma: no cover - makes this a generator like the real one

    monkeypatch.setattr(llm, "generate", broken_generate)
    with pytest.raises(WorkerError) as err:
        await collect(brood.bloom("s1", QUESTION))
    assert err.value.qualifier == "worker-crash" and "llama_decode" in err.value.message
    monkeypatch.undo()
    _, done = await asyncio.wait_for(collect(brood.bloom("s1", QUESTION)), TEST_TIMEOUT_SECONDS)
    assert done.finish_reason in ("stop", "length")
    assert len(made) == 2
    await brood.close()


def reading_notes(deltas: list[Delta]) -> list[str]:
    """The notes that began a long read (each read then says how far it got, and when it is done)."""
    return [d.text for d in deltas if d.chunk_type == NOTE and d.progress is not None and d.progress[0] == 0]


# A read this long gets a note in these tests (the 512-token window cannot hold the default's 512).
TEST_LONG_READ = 128

STORY = [Turn("user", "Tell me about lighthouses. " + " ".join(["The keeper climbs the stairs every night."] * 20))]


async def test_a_hum_picks_up_its_saved_prompt_after_its_cell_was_evicted(model_path):
    now = [0.0]
    brood = Brood(
        {"local": cells(model_path=model_path, n_ctx=TEST_N_CTX, n_threads=TEST_THREADS, max_tokens=16, long_read_tokens=TEST_LONG_READ)},
        "local",
        clock=lambda: now[0],
        reap=False,
    )
    first, _ = await asyncio.wait_for(collect(brood.bloom("s1", STORY)), TEST_TIMEOUT_SECONDS)
    (note,) = reading_notes(first)
    assert note.startswith("hum: reading ") and note.endswith(" earlier tokens before answering")
    assert int(note.split()[2]) > len(STORY[0].text.split())  # the whole story is read

    now[0] += IDLE_EVICT_SECONDS  # a long pause: the cell gives its model back
    assert brood.evict_idle() == ["s1"]
    follow_up = STORY + [Turn("assistant", text_of(first)), Turn("user", "What is the capital of France?")]
    second, done = await asyncio.wait_for(collect(brood.bloom("s1", follow_up)), TEST_TIMEOUT_SECONDS)
    await brood.close()
    assert reading_notes(second) == []  # a new cell, yet only the new turn is read
    assert "paris" in text_of(second).lower()
    assert done.finish_reason in ("stop", "length")


async def test_hums_sharing_one_model_each_keep_their_prompt(llm):
    llm.reset()  # whatever an earlier test left in the shared model's context, it holds nothing now
    cache = PromptCache()
    brood = Brood({"local": lambda hum: LocalWorker(llama=llm, hum=hum, prompt_cache=cache, max_tokens=16, long_read_tokens=TEST_LONG_READ)}, "local")
    other = [Turn("user", "Tell me about the sea. " + " ".join(["The waves roll in from far away."] * 20))]
    a1, _ = await asyncio.wait_for(collect(brood.bloom("a", STORY)), TEST_TIMEOUT_SECONDS)
    b1, _ = await asyncio.wait_for(collect(brood.bloom("b", other)), TEST_TIMEOUT_SECONDS)
    assert len(reading_notes(a1)) == len(reading_notes(b1)) == 1
    follow_up = STORY + [Turn("assistant", text_of(a1)), Turn("user", "What is the capital of France?")]
    a2, _ = await asyncio.wait_for(collect(brood.bloom("a", follow_up)), TEST_TIMEOUT_SECONDS)
    await brood.close()
    assert reading_notes(a2) == []  # hum b used the model in between; hum a's prompt came back from the cache
    assert "paris" in text_of(a2).lower()
    assert 0 < cache.size() <= cache.capacity_bytes and len(cache) == 2


async def test_a_saved_prompt_the_model_refuses_is_read_again_not_a_crash(llm):
    cache = PromptCache()
    brood = Brood({"local": lambda hum: LocalWorker(llama=llm, hum=hum, prompt_cache=cache, max_tokens=16, long_read_tokens=TEST_LONG_READ)}, "local")
    worker = await brood.cell("a")
    tokens = worker.prompt(STORY).tokens
    ids = np.zeros(TEST_N_CTX, dtype=np.intc)
    ids[: len(tokens)] = tokens
    garbage = b"not a llama.cpp state"
    llm.reset()  # whatever an earlier test left in the shared model's context, it holds nothing now
    cache.put("a", LlamaState(input_ids=ids, scores=np.zeros((1, llm.n_vocab()), dtype=np.single), n_tokens=len(tokens), llama_state=garbage, llama_state_size=len(garbage), seed=42))
    deltas, done = await asyncio.wait_for(collect(brood.bloom("a", STORY)), TEST_TIMEOUT_SECONDS)
    await brood.close()
    assert len(reading_notes(deltas)) == 1 and text_of(deltas).strip()
    assert done.finish_reason in ("stop", "length")


async def test_a_cancel_during_a_long_read_stops_it_at_the_next_slice(llm):
    llm.reset()  # whatever an earlier test left in the shared model's context, it holds nothing now
    brood = brood_on(llm, max_tokens=16, long_read_tokens=TEST_LONG_READ, progress_seconds=0.0)
    # most of the window: several slices to read
    story = [Turn("user", "Tell me about lighthouses. " + " ".join(["The keeper climbs the stairs every night."] * 45))]
    stream = brood.bloom("s1", story)
    started = await asyncio.wait_for(anext(stream), TEST_TIMEOUT_SECONDS)
    unread = started.progress[1]
    assert started.progress == (0, unread) and unread > 5 * READ_SLICE_TOKENS
    moved = await asyncio.wait_for(anext(stream), TEST_TIMEOUT_SECONDS)  # a slice is read
    assert moved.progress == (READ_SLICE_TOKENS, unread)
    await brood.cancel("s1")
    rest, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    await brood.close()
    assert done.finish_reason == "cancelled" and done.usage.output_tokens == 0
    assert not [d for d in rest if d.chunk_type != NOTE]  # no word of an answer
    # the model stopped reading at a slice: the rest of the story was never read
    assert llm.n_tokens < unread


async def test_after_its_cell_was_evicted_a_trimmed_hum_keeps_its_cut_and_reads_only_the_new_turn(model_path):
    now = [0.0]
    brood = Brood(
        {"local": cells(model_path=model_path, n_ctx=TEST_N_CTX, n_threads=TEST_THREADS, max_tokens=16, long_read_tokens=TEST_LONG_READ)},
        "local",
        clock=lambda: now[0],
        reap=False,
    )
    history = []
    for i in range(28):  # short exchanges, far more than the window holds
        history += [Turn("user", f"Note {i}: the keeper saw the waves."), Turn("assistant", "Noted.")]
    first_turn = history + [Turn("user", "What is the capital of France?")]
    first, done = await asyncio.wait_for(collect(brood.bloom("s1", first_turn)), TEST_TIMEOUT_SECONDS)
    trims = [d.text for d in first if d.chunk_type == NOTE and "left out" in d.text]

    now[0] += IDLE_EVICT_SECONDS  # a long pause: the cell gives its model back
    assert brood.evict_idle() == ["s1"]
    second_turn = first_turn + [Turn("assistant", text_of(first)), Turn("user", "And the capital of Italy?")]
    second, again = await asyncio.wait_for(collect(brood.bloom("s1", second_turn)), TEST_TIMEOUT_SECONDS)
    await brood.close()
    assert trims and [d.text for d in second if d.chunk_type == NOTE and "left out" in d.text] == trims
    assert reading_notes(second) == []
    assert again.usage.cached_input_tokens >= done.usage.input_tokens  # the first turn's whole prompt
