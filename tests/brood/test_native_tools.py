"""Native tool calls: the OpenAI and Anthropic workers against doubles of their APIs, the
transcript built from a hum's petals, and the brood choosing native or text tools."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from anthropic_double import AnthropicDouble, ToolUse
from brood_helpers import TEST_TIMEOUT_SECONDS, collect, text_of
from openai_double import Call, OpenAIDouble

from hum.brood.anthropic_upstream import AnthropicWorker
from hum.brood.openai_upstream import OpenAIWorker
from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.brood.transcript import NO_RESULT, call_id, plain, turns
from hum.core.hum import Hum
from hum.core.wane import WaneTracker
from hum.errors import WorkerError
from hum.interfaces import Delta, Done, ToolCall, Turn, Usage, Worker, WorkerEvent

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time"}}
QUESTION = [Turn("system", "Be brief."), Turn("user", "Weather in Paris and Lyon?")]


def calls_of(deltas: list[Delta]) -> list[dict[str, Any]]:
    return [json.loads(d.text) for d in deltas if d.chunk_type == "tool_call"]


@pytest.fixture
async def openai_double() -> AsyncIterator[OpenAIDouble]:
    double = OpenAIDouble()
    await double.start()
    yield double
    await double.stop()


def weather_or_answer(body: dict[str, Any]) -> str | list[Call]:
    """Calls the tool until a tool message is in the conversation, then answers from it."""
    results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    if results:
        return "It is " + " and ".join(json.loads(r)["sky"] for r in results)
    return [Call("get_weather", {"city": "Paris"}), Call("get_weather", {"city": "Lyon"})]


# -- OpenAI-compatible ---------------------------------------------------------------


async def test_openai_streamed_tool_calls_become_one_delta_each(openai_double):
    openai_double.reply = weather_or_answer
    worker = OpenAIWorker(openai_double.base_url, "gpt-test", api_key="test-key")
    deltas, done = await asyncio.wait_for(collect(worker.bloom(QUESTION, tools=[WEATHER])), TEST_TIMEOUT_SECONDS)
    await worker.close()

    (sent,) = openai_double.requests
    assert sent["tools"] == [WEATHER]
    assert calls_of(deltas) == [
        {"id": "call_double1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "call_double2", "name": "get_weather", "arguments": '{"city": "Lyon"}'},
    ]
    assert [d.block_idx for d in deltas] == [1, 2]  # the text's block is 0
    assert text_of(deltas) == ""
    # the usage chunk after the finish_reason still counts
    assert done.finish_reason == "tool_calls"
    assert done.usage.output_tokens > 2 and done.usage.input_tokens > 0


async def test_openai_without_tools_sends_no_tools_field(openai_double):
    worker = OpenAIWorker(openai_double.base_url, "gpt-test", api_key="test-key")
    deltas, done = await asyncio.wait_for(collect(worker.bloom(QUESTION)), TEST_TIMEOUT_SECONDS)
    await worker.close()
    assert "tools" not in openai_double.requests[0]
    assert text_of(deltas) == "you said: Weather in Paris and Lyon?"
    assert done.finish_reason == "stop"


async def test_openai_tool_turns_become_assistant_tool_calls_and_tool_messages(openai_double):
    openai_double.reply = weather_or_answer
    calls = (ToolCall("call_a", "get_weather", '{"city": "Paris"}'), ToolCall("call_b", "get_weather", '{"city": "Lyon"}'))
    transcript = [
        *QUESTION,
        Turn("assistant", "", tool_calls=calls),
        Turn("tool", '{"sky": "sunny"}', tool_call_id="call_a"),
        Turn("tool", '{"sky": "grey"}', tool_call_id="call_b"),
    ]
    worker = OpenAIWorker(openai_double.base_url, "gpt-test", api_key="test-key")
    deltas, done = await asyncio.wait_for(collect(worker.bloom(transcript, tools=[WEATHER])), TEST_TIMEOUT_SECONDS)
    await worker.close()

    assert text_of(deltas) == "It is sunny and grey"
    assert done.finish_reason == "stop"
    assert openai_double.requests[0]["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": '{"sky": "sunny"}'},
        {"role": "tool", "tool_call_id": "call_b", "content": '{"sky": "grey"}'},
    ]


async def test_the_openai_double_refuses_an_unanswered_call_as_the_api_does(openai_double):
    """The pairing the transcript guarantees is one the API enforces (here: its double)."""
    transcript = [*QUESTION, Turn("assistant", "", tool_calls=(ToolCall("call_a", "get_weather", "{}"),)), Turn("user", "never mind")]
    worker = OpenAIWorker(openai_double.base_url, "gpt-test", api_key="test-key")
    with pytest.raises(WorkerError) as err:
        await asyncio.wait_for(collect(worker.bloom(transcript)), TEST_TIMEOUT_SECONDS)
    await worker.close()
    assert err.value.qualifier == "upstream-error" and "call_a" in err.value.message


# -- Anthropic -----------------------------------------------------------------------


async def test_anthropic_tool_use_blocks_become_one_delta_each(anthropic_double: AnthropicDouble):
    anthropic_double.reply = lambda body: [ToolUse("get_weather", {"city": "Paris"}), ToolUse("get_time")]
    worker = AnthropicWorker("claude-test", api_key="test-key", base_url=anthropic_double.base_url)
    deltas, done = await asyncio.wait_for(collect(worker.bloom(QUESTION, tools=[WEATHER, CLOCK])), TEST_TIMEOUT_SECONDS)
    await worker.close()

    (sent,) = anthropic_double.message_requests()
    assert sent["tools"] == [
        {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"], "description": "Current weather in a city"},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert calls_of(deltas) == [
        {"id": "toolu_double1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "toolu_double2", "name": "get_time", "arguments": "{}"},
    ]
    assert [d.block_idx for d in deltas] == [0, 1]
    assert done.finish_reason == "tool_calls"
    assert done.usage.output_tokens > 2


async def test_anthropic_tool_turns_become_tool_use_and_tool_result_blocks(anthropic_double: AnthropicDouble):
    transcript = [
        *QUESTION,
        Turn("assistant", "Let me look.", tool_calls=(ToolCall("toolu_a", "get_weather", '{"city": "Paris"}'),)),
        Turn("tool", '{"sky": "sunny"}', tool_call_id="toolu_a"),
        Turn("user", "and be quick"),
    ]
    worker = AnthropicWorker("claude-test", api_key="test-key", base_url=anthropic_double.base_url)
    deltas, done = await asyncio.wait_for(collect(worker.bloom(transcript, tools=[WEATHER])), TEST_TIMEOUT_SECONDS)
    await worker.close()

    assert text_of(deltas) == "you said: and be quick"
    assert done.finish_reason == "stop"
    (sent,) = anthropic_double.message_requests()
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [
        {"role": "user", "content": "Weather in Paris and Lyon?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": '{"sky": "sunny"}'},
                {"type": "text", "text": "and be quick"},
            ],
        },
    ]


# -- the transcript, from a hum's petals ----------------------------------------------


def new_hum() -> Hum:
    return Hum("s", "sid", "test", "h", WaneTracker())


def tool_hum(*, answered: bool = True) -> Hum:
    """A hum whose second bloom made two native calls, and whose third prompt answered one by
    the id hum gave it to the client, the other by the worker's own id (or went on without)."""
    hum = new_hum()
    hum.append("prompt", dict(text="hi", system="Be brief."))
    hum.append("chunk", dict(chunkType="text_delta", delta="hello", blockIdx=0))
    hum.append("finish", dict(finishReason="stop", usage={}))
    asked = hum.append("prompt", dict(text="weather?", tools=[WEATHER]))
    hum.append("chunk", dict(chunkType="text_delta", delta="Looking.", blockIdx=0))
    for i, city in enumerate(("Paris", "Lyon")):
        call = ToolCall(f"call_up{i}", "get_weather", json.dumps({"city": city}))
        hum.append("chunk", dict(chunkType="tool_call", delta=call.delta(i + 1).text, blockIdx=i + 1))
    hum.append("finish", dict(finishReason="tool_calls", usage={}))
    results = [
        {"toolCallId": call_id(hum.sigil, asked.wane, 0), "content": "sunny"},
        {"toolCallId": "call_up1", "content": "grey"},
    ]
    if answered:
        hum.append("prompt", dict(text="", toolResults=results))
    else:
        hum.append("prompt", dict(text="forget it"))
    return hum


def test_text_only_blooms_give_exactly_the_hums_transcript():
    hum = new_hum()
    hum.append("prompt", dict(text="one", system="sys"))
    hum.append("chunk", dict(chunkType="text_delta", delta="first", blockIdx=0))
    hum.append("chunk", dict(chunkType="note", delta="(a note)", blockIdx=0))
    hum.append("finish", dict(finishReason="stop", usage={}))
    hum.append("prompt", dict(text="two"))
    hum.append("error", dict(code="worker-error", qualifier="worker-crash", message="boom"))
    hum.append("prompt", dict(text=""))
    assert turns(hum.blooms()) == [Turn(role, text) for role, text in hum.transcript()]  # type: ignore[arg-type]
    assert plain(turns(hum.blooms())) == turns(hum.blooms())


def test_native_calls_and_their_results_become_tool_turns():
    hum = tool_hum()
    calls = (ToolCall("call_up0", "get_weather", '{"city": "Paris"}'), ToolCall("call_up1", "get_weather", '{"city": "Lyon"}'))
    assert turns(hum.blooms()) == [
        Turn("system", "Be brief."),
        Turn("user", "hi"),
        Turn("assistant", "hello"),
        Turn("user", "weather?"),
        Turn("assistant", "Looking.", tool_calls=calls),
        # both answered, each by whichever id the client knew; the empty text adds no user turn
        Turn("tool", "sunny", tool_call_id="call_up0"),
        Turn("tool", "grey", tool_call_id="call_up1"),
    ]


def test_a_call_the_conversation_went_on_from_is_told_so():
    hum = tool_hum(answered=False)
    assert turns(hum.blooms())[-3:] == [
        Turn("tool", NO_RESULT, tool_call_id="call_up0"),
        Turn("tool", NO_RESULT, tool_call_id="call_up1"),
        Turn("user", "forget it"),
    ]


def test_workers_without_native_tools_read_calls_and_results_as_text():
    flat = plain(turns(tool_hum().blooms()))
    assert [t.role for t in flat] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert all(not t.tool_calls and t.tool_call_id is None for t in flat)
    assert flat[4].text == (
        'Looking.<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Lyon"}}</tool_call>'
    )
    assert flat[5].text == "Tool result for get_weather (call_up0):\nsunny\n\nTool result for get_weather (call_up1):\ngrey"


# -- the brood: native or not ---------------------------------------------------------


class Recording(Worker):
    """A worker without native tools that records what each bloom was given."""

    kind = "recording"

    def __init__(self) -> None:
        self.seen: list[tuple[list[Turn], Any]] = []

    async def bloom(self, transcript: Sequence[Turn], *, model=None, **kw: Any) -> AsyncIterator[WorkerEvent]:
        self.seen.append((list(transcript), kw))
        yield Done("stop", Usage(0, 0))

    async def cancel(self) -> None:
        pass


class NativeRecording(Recording):
    """The same, of a kind that takes tools natively."""

    native_tools = True


async def test_brood_gives_tools_to_native_workers_and_text_to_the_others():
    workers = {"native": NativeRecording(), "text": Recording()}
    brood = Brood({name: (lambda w=w: w) for name, w in workers.items()}, "text", reap=False)
    transcript = turns(tool_hum().blooms())
    try:
        assert brood.native_tools("native") and not brood.native_tools(None) and not brood.native_tools("text")
        await collect(brood.bloom("s1", transcript, model="native", tools=[WEATHER]))
        await collect(brood.bloom("s2", transcript, tools=[WEATHER]))
    finally:
        await brood.close()
    assert workers["native"].seen == [(transcript, {"tools": [WEATHER]})]
    assert workers["text"].seen == [(plain(transcript), {})]


async def test_brood_knows_each_kind_before_any_bloom(openai_double):
    brood = Brood(
        {
            "openai": lambda: OpenAIWorker(openai_double.base_url, "gpt-test", api_key="test-key"),
            "anthropic": lambda: AnthropicWorker("claude-test", api_key="k"),
            "scripted": lambda: ScriptedWorker(),
        },
        "scripted",
        reap=False,
    )
    try:
        assert brood.native_tools("openai") and brood.native_tools("anthropic")
        assert not brood.native_tools() and not brood.native_tools("default")
        assert brood.live() == {}  # learning a kind holds no cell
    finally:
        await brood.close()
    assert openai_double.requests == []  # nor calls anyone
