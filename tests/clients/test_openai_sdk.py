"""The Python `openai` SDK against hum's OpenAI-compatible surface."""

from __future__ import annotations

import json

import openai
import pytest
from surface_helpers import assistant_texts, scripted_brood


def client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused-on-loopback", timeout=20.0, max_retries=0)


async def test_streaming_with_usage_and_non_streaming(sim, served):
    laptop = await sim.spawn("laptop")
    srv = await served(laptop)
    api = client(srv.url)
    stream = await api.chat.completions.create(
        model="whatever-opencode-calls-it",
        messages=[{"role": "user", "content": "hello there"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, reasons, usage = "", [], None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            reasons.append(chunk.choices[0].finish_reason)
        if chunk.usage:
            usage = chunk.usage
    (sg,) = laptop.hums
    assert text == assistant_texts(laptop, sg)[0]
    assert reasons[-1] == "stop"
    assert usage is not None and usage.completion_tokens == 40 and usage.total_tokens == usage.prompt_tokens + 40

    # the SDK resends the conversation: its earlier messages equal the hum's transcript, so it continues it
    done = await api.chat.completions.create(
        model="scripted",
        messages=[{"role": "user", "content": "hello there"}, {"role": "assistant", "content": text}, {"role": "user", "content": "go on"}],
    )
    assert list(laptop.hums) == [sg]
    assert done.choices[0].message.content == assistant_texts(laptop, sg)[1]
    assert done.choices[0].finish_reason == "stop"
    assert done.usage.completion_tokens == 40


async def test_tools_round_trip(sim, served):
    def reply(prompt: str) -> str:
        if "Tool result" in prompt:
            return "It is 21 degrees in Lyon."
        return '<tool_call>{"name": "get_temperature", "arguments": {"city": "Lyon"}}</tool_call>'

    laptop = await sim.spawn("laptop", brood=scripted_brood(500, reply))
    srv = await served(laptop)
    api = client(srv.url)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_temperature",
                "description": "Current temperature in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    messages: list = [{"role": "user", "content": "How warm is it in Lyon?"}]
    stream = await api.chat.completions.create(model="m", messages=messages, tools=tools, stream=True)
    calls: dict[int, dict] = {}
    reason = None
    async for chunk in stream:
        choice = chunk.choices[0]
        for call in choice.delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": call.id, "name": "", "arguments": ""})
            entry["name"] += call.function.name or ""
            entry["arguments"] += call.function.arguments or ""
        assert not choice.delta.content  # a tool call is not shown as text
        reason = choice.finish_reason or reason
    assert reason == "tool_calls"
    call = calls[0]
    assert call["name"] == "get_temperature" and json.loads(call["arguments"]) == {"city": "Lyon"}

    messages += [
        {"role": "assistant", "content": None, "tool_calls": [{"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}]},
        {"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"celsius": 21})},
    ]
    answer = await api.chat.completions.create(model="m", messages=messages, tools=tools)
    assert answer.choices[0].message.content == "It is 21 degrees in Lyon."
    (hum,) = laptop.hums.values()
    prompts = [p.body for p in hum.petals if p.chi == "prompt"]
    assert prompts[1]["toolResults"] == [{"toolCallId": call["id"], "content": '{"celsius": 21}'}]


@pytest.mark.slow
async def test_a_note_is_an_sse_comment_never_the_answer(local_laptop, served):
    laptop = local_laptop
    srv = await served(laptop)
    rules = " ".join(f"Rule {i}: be kind and brief." for i in range(200))  # far more than the window
    messages = [{"role": "system", "content": rules}, {"role": "user", "content": "What is the capital of France?"}]
    async with client(srv.url).chat.completions.with_streaming_response.create(model="default", messages=messages, stream=True) as resp:
        lines = [line async for line in resp.iter_lines()]
    parsed = await client(srv.url).chat.completions.create(model="default", messages=messages)
    sg = next(iter(laptop.hums))
    notes = [p.body["delta"] for p in laptop.hums[sg].petals if p.chi == "chunk" and p.body["chunkType"] == "note"]
    assert notes and "middle of the system prompt" in notes[0]
    assert [line for line in lines if line.startswith(":")] == [f": note: {notes[0]}"]
    chunks = [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == assistant_texts(laptop, sg)[0] and "Paris" in text
    assert "left out" not in parsed.choices[0].message.content
