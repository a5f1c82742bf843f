"""The Anthropic Messages worker against a local double speaking the real SSE format."""

from __future__ import annotations

import asyncio

import pytest
from anthropic_double import AnthropicDouble
from brood_helpers import TEST_TIMEOUT_SECONDS, closed_port, collect, text_of

from hum.brood.anthropic_upstream import AnthropicWorker
from hum.brood.pool import Brood
from hum.errors import WorkerError
from hum.interfaces import Delta, Turn

TRANSCRIPT = [
    Turn("system", "be brief"),
    Turn("user", "first question"),
    Turn("assistant", "first answer"),
    Turn("user", "tell me about hums"),
]


def worker_for(double: AnthropicDouble, **kw) -> AnthropicWorker:
    return AnthropicWorker(
        "claude-test", api_key=kw.pop("api_key", "test-key"), base_url=double.base_url, **kw
    )


async def test_streams_the_reply_with_usage_from_message_delta(anthropic_double):
    worker = worker_for(anthropic_double)
    deltas, done = await asyncio.wait_for(collect(worker.bloom(TRANSCRIPT)), TEST_TIMEOUT_SECONDS)
    await worker.close()
    assert text_of(deltas) == "you said: tell me about hums"
    assert len(deltas) == 6
    assert done.finish_reason == "stop"
    assert done.usage.output_tokens == 6
    assert done.usage.input_tokens > 0
    sent = anthropic_double.requests[0]
    assert sent["system"] == "be brief"
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["model"] == "claude-test" and sent["stream"] is True


async def test_wrong_key_is_upstream_auth(anthropic_double):
    worker = worker_for(anthropic_double, api_key="wrong")
    with pytest.raises(WorkerError) as err:
        await collect(worker.bloom(TRANSCRIPT))
    await worker.close()
    assert err.value.qualifier == "upstream-auth"
    assert "invalid x-api-key" in err.value.message


async def test_unreachable_upstream_is_upstream_unreachable():
    worker = AnthropicWorker("m", api_key="k", base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(WorkerError) as err:
        await asyncio.wait_for(collect(worker.bloom(TRANSCRIPT)), TEST_TIMEOUT_SECONDS)
    await worker.close()
    assert err.value.qualifier == "upstream-unreachable"


async def test_an_error_event_mid_stream_is_upstream_error(anthropic_double):
    anthropic_double.fail_mid_stream = True
    worker = worker_for(anthropic_double)
    with pytest.raises(WorkerError) as err:
        await collect(worker.bloom(TRANSCRIPT))
    await worker.close()
    assert err.value.qualifier == "upstream-error"
    assert "Overloaded" in err.value.message


async def test_cancel_hangs_up_on_the_upstream_and_stops_the_chunks(anthropic_double):
    anthropic_double.endless = True
    brood = Brood({"anthropic": lambda: worker_for(anthropic_double)}, "anthropic")
    stream = brood.bloom("s1", TRANSCRIPT)
    first = await asyncio.wait_for(anext(stream), TEST_TIMEOUT_SECONDS)
    assert isinstance(first, Delta)
    await brood.cancel("s1")
    rest, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    assert done.finish_reason == "cancelled"
    # The upstream saw the hang-up...
    await asyncio.wait_for(anthropic_double.disconnected.wait(), TEST_TIMEOUT_SECONDS)
    # ...and nothing it sent after the cancel reached the hum.
    assert rest == []
    assert anthropic_double.deltas_sent < 1000
    await brood.close()
