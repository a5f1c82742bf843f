"""Native tool calls end to end: the Python `openai` SDK -> hum's OpenAI surface -> the
OpenAI-compatible worker -> a double of the OpenAI API (tests/brood/openai_double.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from surface_helpers import WAIT, scripted_brood

sys.path.insert(0, str(Path(__file__).parent.parent / "brood"))

from openai_double import Call, OpenAIDouble  # noqa: E402

from hum.brood.openai_upstream import OpenAIWorker  # noqa: E402
from hum.brood.pool import Brood  # noqa: E402
from hum.brood.transcript import TOOL_OPEN, call_id  # noqa: E402

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_temperature",
            "description": "Current temperature in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def temperature_or_answer(body: dict[str, Any]) -> str | list[Call]:
    """The upstream model: calls the tool, then answers from the tool message."""
    results = [m for m in body["messages"] if m["role"] == "tool"]
    if results:
        return f"It is {json.loads(results[-1]['content'])['celsius']} degrees in Lyon."
    return [Call("get_temperature", {"city": "Lyon"})]


@pytest.fixture
async def upstream() -> AsyncIterator[OpenAIDouble]:
    double = OpenAIDouble(reply=temperature_or_answer)
    await double.start()
    yield double
    await double.stop()


def openai_brood(double: OpenAIDouble) -> Brood:
    return Brood({"openai": lambda: OpenAIWorker(double.base_url, "gpt-test", api_key=double.api_key)}, "openai")


def client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused-on-loopback", timeout=WAIT, max_retries=0)


async def test_native_tool_call_and_result_round_trip(sim, served, upstream):
    laptop = await sim.spawn("laptop", brood=openai_brood(upstream))
    srv = await served(laptop)
    api = client(srv.url)
    messages: list[Any] = [{"role": "user", "content": "How warm is it in Lyon?"}]

    stream = await api.chat.completions.create(model="default", messages=messages, tools=TOOLS, stream=True)
    calls: dict[int, dict[str, str]] = {}
    reason = None
    async for chunk in stream:
        choice = chunk.choices[0]
        for call in choice.delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": call.id or "", "name": "", "arguments": ""})
            entry["name"] += call.function.name or ""
            entry["arguments"] += call.function.arguments or ""
        assert not choice.delta.content
        reason = choice.finish_reason or reason
    assert reason == "tool_calls"
    (call,) = calls.values()
    assert call["name"] == "get_temperature" and json.loads(call["arguments"]) == {"city": "Lyon"}

    # The upstream got the tools natively, and no text protocol in any message.
    (first,) = upstream.requests
    assert first["tools"] == TOOLS
    assert all(TOOL_OPEN not in (m.get("content") or "") for m in first["messages"])
    (sg,) = laptop.hums
    hum = laptop.hums[sg]
    asked = next(p for p in hum.petals if p.chi == "prompt")
    assert asked.body["tools"] == TOOLS and "system" not in asked.body
    # The client knows the call by an id naming the hum; the upstream's own id stays in the petal.
    assert call["id"] == call_id(sg, asked.wane, 0)
    (tool_chunk,) = [p for p in hum.petals if p.chi == "chunk" and p.body["chunkType"] == "tool_call"]
    assert json.loads(tool_chunk.body["delta"]) == {"id": "call_double1", "name": "get_temperature", "arguments": '{"city": "Lyon"}'}

    messages += [
        {"role": "assistant", "content": None, "tool_calls": [{"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}]},
        {"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"celsius": 21})},
    ]
    answer = await api.chat.completions.create(model="default", messages=messages, tools=TOOLS)
    assert answer.choices[0].message.content == "It is 21 degrees in Lyon."
    assert answer.choices[0].finish_reason == "stop"
    assert list(laptop.hums) == [sg]  # the call id led the result back to its hum

    # The upstream saw its own call answered by a proper tool message (its double checks the pairing too).
    second = upstream.requests[1]["messages"]
    assert second == [
        {"role": "user", "content": "How warm is it in Lyon?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_double1", "type": "function", "function": {"name": "get_temperature", "arguments": '{"city": "Lyon"}'}}]},
        {"role": "tool", "tool_call_id": "call_double1", "content": '{"celsius": 21}'},
    ]
    prompts = [p.body for p in hum.petals if p.chi == "prompt"]
    assert prompts[1]["toolResults"] == [{"toolCallId": call["id"], "content": '{"celsius": 21}'}]
    assert prompts[1]["text"] == ""  # the result is a tool turn, not user text


async def test_a_hum_blooming_elsewhere_gets_the_text_protocol(sim, served, upstream):
    """The phone's brood takes tools natively, but the hum blooms on the laptop's scripted worker."""

    def reply(prompt: str) -> str:
        return '<tool_call>{"name": "get_temperature", "arguments": {"city": "Lyon"}}</tool_call>'

    laptop = await sim.spawn("laptop", brood=scripted_brood(500, reply))
    phone = await sim.spawn("phone", brood=openai_brood(upstream))
    await sim.link(laptop, phone)
    hello = await client((await served(laptop)).url).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    sg = hello.headers["X-Hum-Sigil"]

    api = openai.AsyncOpenAI(
        base_url=f"{(await served(phone)).url}/v1", api_key="unused", timeout=WAIT, max_retries=0, default_headers={"X-Hum-Sigil": sg}
    )
    done = await api.chat.completions.create(model="default", messages=[{"role": "user", "content": "How warm?"}], tools=TOOLS)
    assert done.choices[0].finish_reason == "tool_calls"
    assert done.choices[0].message.tool_calls[0].function.name == "get_temperature"
    prompt = [p for p in laptop.hums[sg].petals if p.chi == "prompt"][-1]
    assert "tools" not in prompt.body and TOOL_OPEN in prompt.body["system"]
    assert upstream.requests == []
