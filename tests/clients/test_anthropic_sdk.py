"""The Python `anthropic` SDK against hum's Anthropic Messages door (`/v1/messages`)."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from surface_helpers import WAIT, assistant_texts, scripted_brood

TOOLS = [
    {
        "name": "get_temperature",
        "description": "Current temperature in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def client(url: str, **headers: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="unused-on-loopback", timeout=20.0, max_retries=0, default_headers=headers)


async def tapped(sim, humd, sg: str) -> tuple[str, dict]:
    """What a nestler attached to the hum from its start sees of its first bloom: the text and the finish's usage."""
    tap = sim.nestler(humd, "tap")
    tap.send("attach", sigil=sg, since=0)
    finish = (await tap.wait_for(lambda t: t.chi == "finish" and t.get("sigil") == sg, timeout=WAIT)).tone
    text = "".join(t.get("delta", "") for t in tap.tones("chunk", sg) if t["wane"] < finish["wane"])
    tap.close()
    return text, finish["usage"]


async def test_streamed_and_whole_answers_are_what_a_tap_sees(sim, served):
    laptop = await sim.spawn("laptop")
    srv = await served(laptop)
    api = client(srv.url)
    async with api.messages.stream(model="scripted", max_tokens=256, messages=[{"role": "user", "content": "hello there"}]) as stream:
        events = [event.type async for event in stream]
        final = await stream.get_final_message()
    (sg,) = laptop.hums
    text, usage = await tapped(sim, laptop, sg)
    raw = [e for e in events if e not in ("text", "input_json")]  # the SDK's own events beside the wire's
    assert raw[:2] == ["message_start", "content_block_start"]
    assert raw[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert final.content[0].text == text == assistant_texts(laptop, sg)[0]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (usage["input_tokens"], usage["output_tokens"]) == (usage["input_tokens"], 40)

    # the SDK resends the conversation: it continues the same hum (its transcript key)
    whole = await api.messages.create(
        model="scripted",
        max_tokens=256,
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hello there"}, {"role": "assistant", "content": text}, {"role": "user", "content": [{"type": "text", "text": "go on"}]}],
    )
    assert list(laptop.hums) == [sg]
    assert whole.content[0].text == assistant_texts(laptop, sg)[1]
    assert whole.stop_reason == "end_turn" and whole.usage.output_tokens == 40


async def test_the_wire_carries_the_real_event_sequence(sim, served):
    laptop = await sim.spawn("laptop")
    srv = await served(laptop)
    body = {"model": "scripted", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=srv.url) as http, http.stream("POST", "/v1/messages?beta=true", json=body, headers={"anthropic-version": "2023-06-01", "x-api-key": "ignored"}) as resp:
        lines = [line async for line in resp.aiter_lines()]
    names = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    deltas = names.count("content_block_delta")
    assert names == ["message_start", "ping", "content_block_start", *["content_block_delta"] * deltas, "content_block_stop", "message_delta", "message_stop"]
    assert deltas > 0 and resp.headers["x-hum-sigil"] in laptop.hums


async def test_a_tool_call_round_trip(sim, served):
    def reply(prompt: str) -> str:
        if "Tool result" in prompt:
            return "It is 21 degrees in Lyon."
        return '<tool_call>{"name": "get_temperature", "arguments": {"city": "Lyon"}}</tool_call>'

    laptop = await sim.spawn("laptop", brood=scripted_brood(500, reply))
    srv = await served(laptop)
    api = client(srv.url)
    messages: list = [{"role": "user", "content": "How warm is it in Lyon?"}]
    async with api.messages.stream(model="scripted", max_tokens=256, messages=messages, tools=TOOLS) as stream:
        kinds = [(e.type, getattr(getattr(e, "delta", None), "type", None)) async for e in stream]
        asked = await stream.get_final_message()
    assert asked.stop_reason == "tool_use"
    (use,) = asked.content
    assert use.type == "tool_use" and use.name == "get_temperature" and use.input == {"city": "Lyon"}
    assert ("content_block_delta", "input_json_delta") in kinds and ("content_block_delta", "text_delta") not in kinds

    messages += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": [{"type": "text", "text": '{"celsius": 21}'}]}]},
    ]
    answer = await api.messages.create(model="scripted", max_tokens=256, messages=messages, tools=TOOLS)
    assert answer.content[0].text == "It is 21 degrees in Lyon." and answer.stop_reason == "end_turn"
    assert len(laptop.hums) == 1  # the tool call's id named its hum


async def test_count_tokens_and_stop_sequences(sim, served):
    laptop = await sim.spawn("laptop", brood=scripted_brood(500, lambda prompt: "one two three STOP four five"))
    srv = await served(laptop)
    api = client(srv.url)
    counted = await api.messages.count_tokens(model="scripted", messages=[{"role": "user", "content": "x" * 400}])
    assert counted.input_tokens >= 100
    assert not laptop.hums  # counting prompts nothing
    cut = await api.messages.create(model="scripted", max_tokens=64, stop_sequences=["STOP"], messages=[{"role": "user", "content": "count"}])
    assert cut.content[0].text == "one two three " and cut.stop_reason == "stop_sequence" and cut.stop_sequence == "STOP"


async def test_a_session_header_and_a_sigil_header_pick_the_hum(sim, served):
    laptop = await sim.spawn("laptop")
    srv = await served(laptop)
    session = client(srv.url, **{"X-Claude-Code-Session-Id": "claude-session-1"})
    first = await session.messages.with_raw_response.create(model="scripted", max_tokens=64, messages=[{"role": "user", "content": "one"}])
    sg = first.headers["x-hum-sigil"]
    # a fresh conversation in the same session lands in the same hum
    await session.messages.create(model="scripted", max_tokens=64, messages=[{"role": "user", "content": "two"}])
    await client(srv.url, **{"X-Hum-Sigil": sg}).messages.create(model="scripted", max_tokens=64, messages=[{"role": "user", "content": "three"}])
    assert list(laptop.hums) == [sg]
    assert [t for r, t in laptop.hums[sg].transcript() if r == "user"] == ["one", "two", "three"]


BAD = [
    ({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "21"}]}]}, 400, "tool_use_id"),
    ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, 400, "messages.0.content.0.text"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "x", "input": {}}]}, {"role": "user", "content": "no result"}]}, 400, "toolu_1"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, 400, "messages.0.role"),
    ({"messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "x"}]}, 400, "tools.0.input_schema"),
    ({"messages": [{"role": "user", "content": "hi"}], "model": "claude-opus-4"}, 404, "claude-opus-4"),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "max_tokens"),
]


@pytest.mark.parametrize(("body", "status", "named"), BAD)
async def test_bad_input_is_an_anthropic_error_and_nothing_is_appended(sim, served, body, status, named):
    laptop = await sim.spawn("laptop")
    srv = await served(laptop)
    async with httpx.AsyncClient(base_url=srv.url) as http:
        resp = await http.post("/v1/messages?beta=true", json={"model": "scripted", "max_tokens": 64, **body})
    assert resp.status_code == status
    error = resp.json()
    assert error["type"] == "error" and named in error["error"]["message"]
    assert error["error"]["type"] == ("not_found_error" if status == 404 else "invalid_request_error")
    assert not laptop.hums


async def test_the_sdk_raises_its_own_errors(sim, served):
    laptop = await sim.spawn("laptop")
    srv = await served(laptop, max_body=4096)
    api = client(srv.url)
    with pytest.raises(anthropic.NotFoundError) as missing:
        await api.messages.create(model="gpt-4", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert missing.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.APIStatusError) as big:
        await api.messages.create(model="scripted", max_tokens=64, messages=[{"role": "user", "content": "x" * 10_000}])
    assert big.value.status_code == 413 and big.value.body["error"]["type"] == "request_too_large"
    assert not laptop.hums


async def test_off_loopback_the_api_key_is_the_token(sim):
    from aiohttp.test_utils import TestServer

    from hum.surfaces.app import make_app

    laptop = await sim.spawn("laptop")
    async with TestServer(make_app(laptop, token="s3cret", loopback_only=False), host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        keyed = anthropic.AsyncAnthropic(base_url=url, api_key="s3cret", max_retries=0)
        said = await keyed.messages.create(model="scripted", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
        assert said.content[0].text
        with pytest.raises(anthropic.AuthenticationError) as wrong:
            await anthropic.AsyncAnthropic(base_url=url, api_key="wrong", max_retries=0).messages.create(model="scripted", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
        assert wrong.value.body["error"]["type"] == "authentication_error"
    assert len(laptop.hums) == 1
