"""A long read on the real local model: it says how far it got on thrum and on `/v1` (the real
`openai` SDK still parses the stream), and after trimming the next turn reads only what is new."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import anthropic
import httpx
import httpx2
import ollama
import openai
import pytest
from client_helpers import TEST_OUTPUT, StepScript, need_npm, over_http, run_node
from surface_helpers import WAIT, assistant_texts

from hum.brood.local import cells
from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.interfaces import NOTE
from hum.surfaces.ollama import serve_ollama
from hum.wire.tones import Tone, sigil

pytestmark = pytest.mark.slow

# A read this long is announced and followed (the default, 512, is 3 s on a laptop; here
# a shorter read keeps the test short on a loaded machine).
LONG_READ = 128
# A note after every slice of the read (the default paces them a second apart).
EVERY_SLICE = 0.0
# A real model's read on a busy 2-core machine: seconds per hundred tokens.
READ_WAIT = 120.0

# Short exchanges enough to overflow a 512-token window.
HISTORY_TURNS = 28

RULES = " ".join(f"Rule {i}: the keeper climbs the stairs at night." for i in range(30))  # ~350 tokens


def local_brood(n_ctx: int) -> Brood:
    """The real local model (as `hum up` runs it, one cell per hum), and a scripted worker for fast history."""
    local = cells(n_ctx=n_ctx, n_threads=1, max_tokens=16, long_read_tokens=LONG_READ, progress_seconds=EVERY_SLICE)
    scripted = partial(ScriptedWorker, tokens_per_second=2000, reply=lambda prompt: "Noted.")
    return Brood({"local": local, "scripted": scripted}, "local")


@pytest.fixture
async def reading_laptop(sim) -> AsyncIterator:
    brood = local_brood(1024)
    try:
        yield await sim.spawn("laptop", brood=brood)
    finally:
        await brood.close()


@pytest.fixture
async def trimming_laptop(sim) -> AsyncIterator:
    brood = local_brood(512)  # a window the conversation outgrows
    try:
        yield await sim.spawn("laptop", brood=brood)
    finally:
        await brood.close()


def recorder(http_module: Any) -> Any:
    """A transport of `http_module` (httpx, or httpx2 for the anthropic SDK) that passes each
    response on unchanged to the SDK and keeps its bytes as the wire carried them (`.kept`)."""

    class RecordedStream(http_module.AsyncByteStream):
        def __init__(self, inner: Any, kept: list[bytes]) -> None:
            self.inner = inner
            self.kept = kept

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for piece in self.inner:
                self.kept.append(piece)
                yield piece

        async def aclose(self) -> None:
            await self.inner.aclose()

    class Recorder(http_module.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = http_module.AsyncHTTPTransport()
            self.kept: list[bytes] = []

        async def handle_async_request(self, request: Any) -> Any:
            response = await self.inner.handle_async_request(request)
            stream = RecordedStream(response.stream, self.kept)
            return http_module.Response(response.status_code, headers=response.headers, stream=stream, extensions=response.extensions)

        async def aclose(self) -> None:
            await self.inner.aclose()

    return Recorder()


def client(url: str, transport: Any = None) -> openai.AsyncOpenAI:
    http = httpx.AsyncClient(transport=transport, timeout=READ_WAIT) if transport else None
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", timeout=READ_WAIT, max_retries=0, http_client=http)


def log_of(humd, sg: str) -> list[Tone]:
    """The hum's petals as the tones a nestler reads."""
    return [Tone.make(p.chi, sigil=sg, wane=p.wane, **p.body) for p in humd.hums[sg].petals]


def reading_notes(tones: list[Tone]) -> list[Tone]:
    return [t for t in tones if t.chi == "chunk" and t.get("chunkType") == NOTE and "progress" in t]


def first_text_wane(tones: list[Tone]) -> int:
    return min(int(t["wane"]) for t in tones if t.chi == "chunk" and t.get("chunkType", "text_delta") == "text_delta")


def assert_a_moving_read(notes: list[Tone]) -> None:
    """A first note, one per slice read, a last one saying it is done; the count only goes up."""
    progress = [(n["progress"]["read"], n["progress"]["of"]) for n in notes]
    assert len(progress) >= 4, progress
    assert progress[0][0] == 0 and progress[0][1] >= LONG_READ
    assert [r for r, _ in progress] == sorted({r for r, _ in progress})  # strictly more each time
    assert {of for _, of in progress} == {progress[0][1]} and progress[-1][0] == progress[-1][1]
    assert notes[0]["delta"].startswith("hum: reading ") and notes[-1]["delta"].startswith("hum: read ")
    assert "reading the conversation: 64 of " in notes[1]["delta"]


async def test_a_long_read_says_how_far_it_got_on_thrum_and_on_v1_before_the_first_word_and_once_to_mcp(reading_laptop, sim, served):
    laptop = reading_laptop
    # thrum: the nestler that prompts sees the read move, then the answer
    nest = sim.nestler(laptop, "cli")
    nest.send("prompt", sid="reading", text=RULES + " Which rule is about the stairs?")
    await nest.wait_for(lambda t: t.chi == "finish", timeout=READ_WAIT)
    tones = nest.tones(sigil=sigil(laptop.nest, "reading"))
    notes = reading_notes(tones)
    assert_a_moving_read(notes)
    assert max(int(n["wane"]) for n in notes) < first_text_wane(tones)
    srv = await served(laptop)
    async with over_http(srv.url) as mcp:  # an agent reading the hum gets the read's last word only
        read = await mcp.call_tool("read_hum", {"sigil": sigil(laptop.nest, "reading"), "since": 0})
    shown = read.content[0].text
    assert f"note: {notes[-1]['delta']}" in shown and "reading the conversation" not in shown

    # /v1: the same read as SSE comment lines, before the first word; the real SDK parses the rest
    wire = recorder(httpx)
    messages = [{"role": "system", "content": RULES}, {"role": "user", "content": "What is the capital of France?"}]
    stream = await client(srv.url, wire).chat.completions.create(model="local", messages=messages, stream=True)
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    sg = next(s for s in laptop.hums if s != sigil(laptop.nest, "reading"))
    assert text == assistant_texts(laptop, sg)[0] and text.strip()
    lines = b"".join(wire.kept).decode().split("\n")
    comments = [line for line in lines if line.startswith(":")]
    v1_notes = reading_notes(log_of(laptop, sg))
    assert_a_moving_read(v1_notes)
    assert comments == [f": note: {n['delta']}" for n in v1_notes]
    words = [i for i, line in enumerate(lines) if line.startswith("data: {") and '"content":"' in line and '"content":""' not in line]
    assert max(i for i, line in enumerate(lines) if line.startswith(":")) < min(words)


async def test_the_anthropic_and_ollama_doors_stay_valid_for_their_sdks_through_a_long_read(reading_laptop, served):
    laptop = reading_laptop
    srv = await served(laptop)
    wire = recorder(httpx2)
    http = httpx2.AsyncClient(transport=wire, timeout=READ_WAIT)
    claude = anthropic.AsyncAnthropic(base_url=srv.url, api_key="unused", timeout=READ_WAIT, max_retries=0, http_client=http)
    question = [{"role": "user", "content": "What is the capital of France?"}]
    async with claude.messages.stream(model="local", max_tokens=64, system=RULES, messages=question) as stream:
        text = "".join([chunk async for chunk in stream.text_stream])
    sg = stream.response.headers["x-hum-sigil"]
    assert text == assistant_texts(laptop, sg)[0] and text.strip()
    notes = reading_notes(log_of(laptop, sg))
    assert_a_moving_read(notes)
    lines = b"".join(wire.kept).decode().split("\n")
    assert [line for line in lines if line.startswith(":")] == [f": note: {n['delta']}" for n in notes]
    first_text = next(i for i, line in enumerate(lines) if '"text_delta"' in line)
    assert max(i for i, line in enumerate(lines) if line.startswith(":")) < first_text

    # Ollama's NDJSON has no place for a note: the read is silent there, and the answer parses
    door = await serve_ollama(laptop, "127.0.0.1", 0)
    try:
        parts = await ollama.AsyncClient(host=door.url, timeout=READ_WAIT).chat(
            model="local", messages=[{"role": "system", "content": RULES + " Be brief."}, *question], stream=True
        )
        said = "".join([part.message.content async for part in parts])
    finally:
        await door.close()
    ollama_sg = next(s for s in laptop.hums if s != sg)
    assert reading_notes(log_of(laptop, ollama_sg))  # the read happened, and said so on thrum
    assert said == assistant_texts(laptop, ollama_sg)[0] and "hum:" not in said


async def test_a_chat_app_shows_a_long_read_as_one_note_that_moves(reading_laptop, served):
    laptop = reading_laptop
    srv = await served(laptop)
    out = await run_node("ai_sdk.mjs", {"HUM_URL": srv.url, "HUM_CASE": "reading", "HUM_FIRST_TEXT": RULES}, READ_WAIT)
    sg = sigil(laptop.nest, "reading")
    notes = reading_notes(log_of(laptop, sg))
    assert_a_moving_read(notes)
    assert out["status"] == "ready" and out["error"] is None
    # the AI SDK got a part per note, all with one id...
    assert [p["data"]["text"] for p in out["seen"]] == [n["delta"] for n in notes]
    assert {p["id"] for p in out["seen"]} == {"note-reading"}
    # ...and kept one, in place, which ends saying how long the read took; the answer is apart
    answer = out["answer"]
    assert answer["types"] == ["step-start", "data-hum-note", "text"]
    assert answer["parts"][1]["data"] == {"text": notes[-1]["delta"], "read": notes[-1]["progress"]["read"], "of": notes[-1]["progress"]["of"]}
    assert answer["text"] == assistant_texts(laptop, sg)[0] and "hum:" not in answer["text"]
    # the history a chat app reopens with holds the same one part
    assert out["history"][1]["types"] == ["data-hum-note", "text"] and out["history"][1]["parts"][0] == answer["parts"][1]


async def test_the_web_chat_shows_a_long_read_as_one_line_that_moves(reading_laptop, sim, served, tmp_path):
    need_npm("playwright-core")
    laptop = reading_laptop
    nest = sim.nestler(laptop, "cli")
    nest.send("prompt", sid="reading", text="hello", modelId="scripted")  # a hum the page can open
    await nest.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    sg = sigil(laptop.nest, "reading")
    srv = await served(laptop)
    TEST_OUTPUT.mkdir(exist_ok=True)
    env = {"HUM_URL": srv.url, "HUM_SIGIL": sg, "HUM_SHOTS": str(TEST_OUTPUT), "HUM_USER_DATA": str(tmp_path / "chromium")}
    async with StepScript("webchat_reading.mjs", env) as js:
        assert (await js.step())["step"] == "ready"
        nest.send("prompt", sigil=sg, text=RULES + " Which rule is about the stairs?")  # the local model reads it
        await js.go()
        out = await js.step()
        await js.finish()
    notes = reading_notes(log_of(laptop, sg))
    assert_a_moving_read(notes)
    # the reader saw the line move through the read's notes, on one line that ends on how long it took
    assert out["seen"][0].startswith("hum: reading ") and len(out["seen"]) >= 3
    texts = iter(n["delta"] for n in notes)
    assert all(seen in texts for seen in out["seen"])  # in the order the notes came
    reading = [item for item in out["log"] if "reading" in item["cls"].split()]
    assert len(reading) == 1 and reading[0]["text"] == notes[-1]["delta"]
    answers = [item["text"] for item in out["log"] if "assistant" in item["cls"].split()]
    assert answers[-1] == assistant_texts(laptop, sg)[1] and "hum:" not in answers[-1]


async def test_after_trimming_the_next_turn_reads_only_what_is_new(trimming_laptop, sim, served):
    laptop = trimming_laptop
    nest = sim.nestler(laptop, "cli")
    # a quick history from the scripted worker, longer than the local model's window, in short
    # exchanges: each local turn adds more than one of them, so leaving out the fewest turns
    # that fit would move the cut on every turn
    for i in range(HISTORY_TURNS):
        nest.send("prompt", sid="trim", text=f"Note {i}: the keeper saw the waves.", modelId="scripted")
        await nest.wait_for(lambda t, i=i: t.chi == "finish" and len(nest.tones("finish")) > i, timeout=WAIT)
    sg = sigil(laptop.nest, "trim")
    srv = await served(laptop)
    api = client(srv.url)
    usages = []
    for question in ("What is the capital of France?", "And the capital of Italy?"):
        answer = await api.chat.completions.create(
            model="local", messages=[{"role": "user", "content": question}], extra_headers={"X-Hum-Sigil": sg}
        )
        assert answer.choices[0].message.content.strip()
        usages.append(answer.usage)
    first, second = usages
    log = log_of(laptop, sg)
    trims = [t["delta"] for t in log if t.chi == "chunk" and t.get("chunkType") == NOTE and "left out" in t["delta"]]
    # both local turns left the same old turns out: the cut did not move...
    assert len(trims) == 2 and trims[0] == trims[1]
    # ...so the second turn found the first one's prompt in the cache and read only the new turn
    assert second.prompt_tokens_details.cached_tokens >= first.prompt_tokens
    assert second.prompt_tokens - second.prompt_tokens_details.cached_tokens < LONG_READ
    finishes = [t["usage"] for t in log if t.chi == "finish"][-2:]
    assert finishes[1]["cached_input_tokens"] == second.prompt_tokens_details.cached_tokens
    # the first local turn read its whole window, and said so; the second had nothing long to read
    started = [t for t in reading_notes(log) if t["progress"]["read"] == 0]
    assert len(started) == 1 and started[0]["progress"]["of"] >= first.prompt_tokens - 1 - first.prompt_tokens_details.cached_tokens
