"""The OpenAI-compatible worker against the real llama-cpp-python server on the same GGUF."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from brood_helpers import TEST_TIMEOUT_SECONDS, closed_port, collect, text_of

from hum.brood.openai_upstream import OpenAIWorker
from hum.brood.pool import Brood
from hum.errors import WorkerError
from hum.interfaces import Delta, Turn

pytestmark = pytest.mark.slow

QUESTION = [Turn("user", "What is the capital of France? Answer in one sentence.")]
LONG = [Turn("user", "Write a very long story about a lighthouse keeper and the sea.")]


@pytest.fixture
async def aiohttp_sse():
    """A minimal OpenAI-style SSE endpoint replaying fixed chunks (what llama_cpp.server lacks)."""
    runners = []

    async def start(chunks):
        seen = []

        async def handler(request):
            seen.append({**await request.json(), "client": request.transport.get_extra_info("peername")[1]})
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for chunk in chunks:
                await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            return resp

        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1", seen

    yield start
    for runner in runners:
        await runner.cleanup()


def worker_for(server, **kw) -> OpenAIWorker:
    return OpenAIWorker(server.base_url, "smollm2", api_key=kw.pop("api_key", server.api_key), **kw)


async def test_streams_a_real_answer_with_usage_from_the_usage_chunk(llama_server):
    worker = worker_for(llama_server, max_tokens=48, temperature=0)
    deltas, done = await asyncio.wait_for(collect(worker.bloom(QUESTION)), TEST_TIMEOUT_SECONDS)
    await worker.close()
    assert "Paris" in text_of(deltas)
    assert done.finish_reason in ("stop", "length")
    # llama-cpp-python's server sends no usage chunk; it streams one token per chunk.
    assert done.usage.output_tokens == len(deltas)
    assert 0 < done.usage.output_tokens <= 48


async def test_usage_comes_from_the_usage_chunk_when_the_server_sends_one(aiohttp_sse):
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 31, "completion_tokens": 2, "total_tokens": 33}},
    ]
    base_url, seen = await aiohttp_sse(chunks)
    worker = OpenAIWorker(base_url, "gpt-test", api_key="k")
    deltas, done = await asyncio.wait_for(collect(worker.bloom(QUESTION)), TEST_TIMEOUT_SECONDS)
    await worker.close()
    assert text_of(deltas) == "Hi there"
    assert (done.finish_reason, done.usage.input_tokens, done.usage.output_tokens) == (
        "stop",
        31,
        2,
    )
    assert seen[0]["stream_options"] == {"include_usage": True}
    assert seen[0]["model"] == "gpt-test"


async def test_wrong_key_is_upstream_auth(llama_server):
    worker = worker_for(llama_server, api_key="wrong")
    with pytest.raises(WorkerError) as err:
        await asyncio.wait_for(collect(worker.bloom(QUESTION)), TEST_TIMEOUT_SECONDS)
    await worker.close()
    assert err.value.qualifier == "upstream-auth"


async def test_unreachable_upstream_is_upstream_unreachable():
    worker = OpenAIWorker(f"http://127.0.0.1:{closed_port()}/v1", "m")
    with pytest.raises(WorkerError) as err:
        await asyncio.wait_for(collect(worker.bloom(QUESTION)), TEST_TIMEOUT_SECONDS)
    await worker.close()
    assert err.value.qualifier == "upstream-unreachable"


async def test_cancel_hangs_up_and_the_server_stops(llama_server):
    brood = Brood({"openai": lambda: worker_for(llama_server, max_tokens=600)}, "openai")
    stream = brood.bloom("s1", LONG)
    first = await asyncio.wait_for(anext(stream), TEST_TIMEOUT_SECONDS)
    assert isinstance(first, Delta)
    await brood.cancel("s1")
    rest, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    assert rest == []
    assert done.finish_reason == "cancelled"
    # The server itself logs that the client went away.
    saw = await asyncio.to_thread(llama_server.disconnects.acquire, timeout=TEST_TIMEOUT_SECONDS)
    assert saw, "llama_cpp.server never noticed the hang-up"
    await brood.close()


async def test_an_upstream_that_dies_mid_stream_is_an_upstream_error_not_a_hang():
    async def dying(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        chunk = {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}
        await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        request.transport.abort()  # the upstream process dies: no [DONE], no usage
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", dying)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    brood = Brood({"openai": lambda: OpenAIWorker(f"http://127.0.0.1:{port}/v1", "gpt-test")}, "openai")
    try:
        with pytest.raises(WorkerError) as err:
            await asyncio.wait_for(collect(brood.bloom("s1", QUESTION)), TEST_TIMEOUT_SECONDS)
        assert err.value.qualifier == "upstream-error"
    finally:
        await brood.close()
        await runner.cleanup()


async def test_new_hums_reuse_one_kept_alive_connection_to_the_upstream(aiohttp_sse):
    """Every stateless `/v1` request mints a hum and a cell; their first token must not wait for a new connection."""
    from hum.brood.config import build_brood

    url, seen = await aiohttp_sse([{"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}])
    brood = build_brood("openai", {"HUM_OPENAI_BASE_URL": url, "HUM_OPENAI_MODEL": "m"})
    try:
        for i in range(4):
            deltas, _ = await asyncio.wait_for(collect(brood.bloom(f"hum-{i}", QUESTION)), TEST_TIMEOUT_SECONDS)
            assert text_of(deltas) == "hi"
    finally:
        await brood.close()
    assert len(seen) == 4
    assert len({body["client"] for body in seen}) == 1  # one client port: one connection for all four hums


async def test_hums_past_the_cells_of_a_kind_each_answer_on_the_cell_let_go_for_them(aiohttp_sse):
    """With one cell, each new hum takes the room of the last one's idle cell (its worker, warm, handed on)."""
    from hum.brood.config import build_brood

    url, seen = await aiohttp_sse([{"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}])
    brood = build_brood("openai", {"HUM_OPENAI_BASE_URL": url, "HUM_OPENAI_MODEL": "m", "HUM_BROOD_MAX_UPSTREAM_CELLS": "1"})
    try:
        for i in range(5):
            deltas, done = await asyncio.wait_for(collect(brood.bloom(f"hum-{i}", [Turn("user", f"question {i}")])), TEST_TIMEOUT_SECONDS)
            assert (text_of(deltas), done.finish_reason) == ("hi", "stop")
            assert list(brood.live()) == [f"hum-{i}"]  # one cell at a time, the newest hum's
    finally:
        await brood.close()
    assert [body["messages"][-1]["content"] for body in seen] == [f"question {i}" for i in range(5)]
    assert len({body["client"] for body in seen}) == 1
