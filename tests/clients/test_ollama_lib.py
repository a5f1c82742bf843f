"""The Python `ollama` library against hum's Ollama door (its own listener, as `hum up --ollama` serves it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import ollama
import pytest
from surface_helpers import assistant_texts, scripted_brood

from hum.node.humd import Humd
from hum.surfaces.app import Served
from hum.surfaces.ollama import serve_ollama


@pytest.fixture
async def ollama_door() -> AsyncIterator[Callable[[Humd], Awaitable[Served]]]:
    doors: list[Served] = []

    async def start(humd: Humd, **kwargs: int) -> Served:
        door = await serve_ollama(humd, "127.0.0.1", 0, **kwargs)
        doors.append(door)
        return door

    yield start
    for door in doors:
        await door.close()


async def test_models_are_the_workers(sim, ollama_door):
    laptop = await sim.spawn("laptop")
    door = await ollama_door(laptop)
    api = ollama.AsyncClient(host=door.url)
    async with httpx.AsyncClient(base_url=door.url) as http:  # Ollama serves the OpenAI API too: so does this door
        assert [m["id"] for m in (await http.get("/v1/models")).json()["data"]] == ["scripted"]
    listed = await api.list()
    assert [m.model for m in listed.models] == ["scripted"]
    shown = await api.show("scripted:latest")
    assert "tools" in (shown.capabilities or [])
    with pytest.raises(ollama.ResponseError) as missing:
        await api.show("llama3")
    assert missing.value.status_code == 404 and "llama3" in missing.value.error


async def test_chat_streamed_then_whole_continues_one_hum(sim, ollama_door):
    laptop = await sim.spawn("laptop")
    api = ollama.AsyncClient(host=(await ollama_door(laptop)).url)
    parts = [part async for part in await api.chat(model="scripted", messages=[{"role": "user", "content": "hello there"}], stream=True)]
    (sg,) = laptop.hums
    text = "".join(p.message.content for p in parts)
    assert text == assistant_texts(laptop, sg)[0]
    assert [p.done for p in parts].count(True) == 1 and parts[-1].done and parts[-1].eval_count == 40
    assert parts[-1].done_reason == "stop"

    whole = await api.chat(
        model="scripted:latest",
        messages=[{"role": "user", "content": "hello there"}, {"role": "assistant", "content": text}, {"role": "user", "content": "go on"}],
        stream=False,
        options={"temperature": 0.2},
        keep_alive="5m",
    )
    assert list(laptop.hums) == [sg]
    assert whole.message.content == assistant_texts(laptop, sg)[1] and whole.done and whole.eval_count == 40


async def test_generate_is_a_hum_of_its_own_and_stop_is_honoured(sim, ollama_door):
    laptop = await sim.spawn("laptop", brood=scripted_brood(500, lambda prompt: "alpha beta END gamma"))
    api = ollama.AsyncClient(host=(await ollama_door(laptop)).url)
    said = await api.generate(model="scripted", prompt="say it", options={"stop": ["END"]}, stream=False)
    assert said.response == "alpha beta " and said.done
    pieces = [p.response async for p in await api.generate(model="scripted", prompt="again", stream=True)]
    assert "".join(pieces) == "alpha beta END gamma"
    assert len(laptop.hums) == 2
    loaded = await api.generate(model="scripted", prompt="")  # Ollama's "load the model": nothing to prompt
    assert loaded.done and loaded.done_reason == "load" and len(laptop.hums) == 2


async def test_bad_input_is_an_ollama_error_and_nothing_is_appended(sim, ollama_door):
    laptop = await sim.spawn("laptop")
    door = await ollama_door(laptop)
    api = ollama.AsyncClient(host=door.url)
    with pytest.raises(ollama.ResponseError) as missing:
        await api.chat(model="llama3", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.status_code == 404
    async with httpx.AsyncClient(base_url=door.url) as http:
        for body, named in (
            ({"model": "scripted", "messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
            ({"model": "scripted", "messages": [{"role": "tool", "content": "21"}]}, "messages[0].role"),
            ({"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "format": "yaml"}, "format"),
            ({"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "options": {"stop": 3}}, "options.stop"),
        ):
            resp = await http.post("/api/chat", json=body)
            assert resp.status_code == 400 and named in resp.json()["error"], body
        assert (await http.get("/api/version")).json()["version"]
        assert (await http.post("/api/chat", content=b"{not json")).status_code == 400
    assert not laptop.hums


async def test_an_oversized_body_is_413_in_ollama_shape(sim, ollama_door):
    laptop = await sim.spawn("laptop")
    api = ollama.AsyncClient(host=(await ollama_door(laptop, max_body=4096)).url)
    with pytest.raises(ollama.ResponseError) as big:
        await api.chat(model="scripted", messages=[{"role": "user", "content": "x" * 10_000}], stream=False)
    assert big.value.status_code == 413 and "4096" in big.value.error
    assert not laptop.hums


async def test_a_tool_call_round_trip(sim, ollama_door):
    def reply(prompt: str) -> str:
        if "Tool result" in prompt:
            return "It is 21 degrees in Lyon."
        return '<tool_call>{"name": "get_temperature", "arguments": {"city": "Lyon"}}</tool_call>'

    laptop = await sim.spawn("laptop", brood=scripted_brood(500, reply))
    api = ollama.AsyncClient(host=(await ollama_door(laptop)).url)
    tools = [{"type": "function", "function": {"name": "get_temperature", "description": "Current temperature", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    messages: list = [{"role": "user", "content": "How warm is it in Lyon?"}]
    asked = await api.chat(model="scripted", messages=messages, tools=tools, stream=False)
    (call,) = asked.message.tool_calls
    assert call.function.name == "get_temperature" and call.function.arguments == {"city": "Lyon"}
    assert not asked.message.content
    messages += [asked.message, {"role": "tool", "content": '{"celsius": 21}', "tool_name": "get_temperature"}]
    answer = await api.chat(model="scripted", messages=messages, tools=tools, stream=False)
    assert answer.message.content == "It is 21 degrees in Lyon."
    assert len(laptop.hums) == 1  # the resent conversation continued the hum
