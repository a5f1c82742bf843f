"""The OpenAI-compatible surface over HTTP: completions, hum selection, resume, bad input."""

from __future__ import annotations

import asyncio
import time

import pytest
from surface_helpers import FAST_TPS, WAIT, assistant_texts, sse_events

from hum.surfaces.http import DEFAULT_MAX_BODY
from hum.wire.tones import sigil


def chat(*turns: str) -> list[dict[str, str]]:
    roles = ["user", "assistant"]
    return [{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)]


async def test_models_lists_the_brood(pair, served, http):
    _, phone = pair
    srv = await served(phone)
    async with http.get(f"{srv.url}/v1/models") as r:
        body = await r.json()
    assert r.status == 200
    assert [m["id"] for m in body["data"]] == ["scripted"]


async def test_non_streaming_answer_is_the_hums_bloom(pair, served, http):
    laptop, _ = pair
    srv = await served(laptop)
    async with http.post(f"{srv.url}/v1/chat/completions", json={"model": "any-name", "messages": chat("hello")}) as r:
        body = await r.json()
    assert r.status == 200
    sg = r.headers["X-Hum-Sigil"]
    assert body["model"] == "any-name"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["content"] == assistant_texts(laptop, sg)[0]
    assert body["usage"]["completion_tokens"] == 40


async def test_streaming_with_usage_then_done(pair, served, http):
    laptop, _ = pair
    srv = await served(laptop)
    req = {"model": "m", "stream": True, "stream_options": {"include_usage": True}, "messages": chat("hi")}
    async with http.post(f"{srv.url}/v1/chat/completions", json=req) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        events = [e["data"] async for e in sse_events(r)]
    assert events[-1] == "[DONE]"
    usage_chunk, finish_chunk = events[-2], events[-3]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 40
    assert finish_chunk["choices"][0]["finish_reason"] == "stop"
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-2])
    assert text == assistant_texts(laptop, r.headers["X-Hum-Sigil"])[0]


async def test_earlier_messages_equal_to_a_transcript_continue_that_hum(pair, served, http):
    laptop, _ = pair
    srv = await served(laptop)
    async with http.post(f"{srv.url}/v1/chat/completions", json={"model": "m", "messages": chat("first")}) as r:
        first = await r.json()
        sg = r.headers["X-Hum-Sigil"]
    reply = first["choices"][0]["message"]["content"]
    async with http.post(f"{srv.url}/v1/chat/completions", json={"model": "m", "messages": chat("first", reply, "second")}) as r:
        assert r.headers["X-Hum-Sigil"] == sg
    async with http.post(f"{srv.url}/v1/chat/completions", json={"model": "m", "messages": chat("other")}) as r:
        assert r.headers["X-Hum-Sigil"] != sg
    assert [t for role, t in laptop.hums[sg].transcript() if role == "user"] == ["first", "second"]


async def test_session_header_maps_to_one_hum_and_title_request_adds_no_petal(pair, served, http):
    laptop, _ = pair
    srv = await served(laptop)
    headers = {"x-session-id": "ses_abc"}
    sys = {"role": "system", "content": "You are opencode."}
    async with http.post(f"{srv.url}/v1/chat/completions", headers=headers, json={"model": "m", "messages": [sys, *chat("fix the bug")]}) as r:
        assert r.status == 200
    sg = sigil(laptop.nest, "ses_abc")
    assert r.headers["X-Hum-Sigil"] == sg
    petals_before = laptop.hums[sg].tip
    title_req = {
        "model": "small",
        "messages": [
            {"role": "system", "content": "You are a title generator. You output ONLY a thread title. Nothing else."},
            {"role": "user", "content": "Generate a title for this conversation:\n"},
            {"role": "user", "content": "fix the bug in the parser please"},
        ],
    }
    async with http.post(f"{srv.url}/v1/chat/completions", headers=headers, json=title_req) as r:
        title = await r.json()
    assert title["choices"][0]["message"]["content"] == "fix the bug in the parser please"
    assert laptop.hums[sg].tip == petals_before
    assert len(laptop.hums) == 1
    # opencode resends the whole conversation, system included: the system prompt is recorded once
    reply = assistant_texts(laptop, sg)[0]
    async with http.post(f"{srv.url}/v1/chat/completions", headers=headers, json={"model": "m", "messages": [sys, *chat("fix the bug", reply, "thanks")]}) as r:
        assert r.status == 200
    assert [role for role, _ in laptop.hums[sg].transcript()] == ["system", "user", "assistant", "user", "assistant"]


async def test_sigil_header_continues_a_roamed_hum_from_the_phone(sim, pair, served, http):
    laptop, phone = pair
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="roam", text="on the laptop")
    await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    sg = sigil(laptop.nest, "roam")
    srv = await served(phone)
    req = {"model": "m", "messages": chat("from the phone")}
    async with http.post(f"{srv.url}/v1/chat/completions", headers={"X-Hum-Sigil": sg}, json=req) as r:
        body = await r.json()
    assert r.status == 200
    assert [t for role, t in laptop.hums[sg].transcript() if role == "user"] == ["on the laptop", "from the phone"]
    assert body["choices"][0]["message"]["content"] == assistant_texts(laptop, sg)[1]
    prompt = next(t for t in oc.tones("prompt") if t["text"] == "from the phone")
    assert prompt["from"] == phone.id


async def test_tool_call_and_result_are_petals(served, sim, http):
    def reply(prompt: str) -> str:
        if "Tool result" in prompt:
            return "It is sunny in Paris."
        return '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'

    from surface_helpers import scripted_brood

    humd = await sim.spawn("solo", brood=scripted_brood(500, reply))
    srv = await served(humd)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    messages = [{"role": "user", "content": "weather in Paris?"}]
    async with http.post(f"{srv.url}/v1/chat/completions", json={"model": "m", "messages": messages, "tools": tools}) as r:
        first = await r.json()
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    messages += [choice["message"], {"role": "tool", "tool_call_id": call["id"], "content": '{"sky": "sunny"}'}]
    async with http.post(f"{srv.url}/v1/chat/completions", json={"model": "m", "messages": messages, "tools": tools}) as r:
        second = await r.json()
    assert second["choices"][0]["message"]["content"] == "It is sunny in Paris."
    (hum,) = humd.hums.values()
    prompts = [p for p in hum.petals if p.chi == "prompt"]
    assert prompts[1].body["toolResults"] == [{"toolCallId": call["id"], "content": '{"sky": "sunny"}'}]
    assert "get_weather" in "".join(p.body.get("delta", "") for p in hum.petals if p.chi == "chunk")


async def test_events_resume_with_last_event_id_gets_exactly_the_missing_petals(sim, served, http):
    from surface_helpers import scripted_brood

    laptop = await sim.spawn("slow-laptop", brood=scripted_brood(40))
    phone = await sim.spawn("slow-phone")
    await sim.link(laptop, phone)
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="walk", text="tell me a story")
    sg = sigil(laptop.nest, "walk")
    await oc.wait_for(lambda t: t.chi == "chunk", timeout=WAIT)
    srv = await served(phone)
    seen: list[dict] = []
    async with http.get(f"{srv.url}/v1/hums/{sg}/events") as r:
        async for event in sse_events(r):
            if "id" in event:
                seen.append(event)
            if len(seen) == 5:
                break  # walk away mid-bloom
    async with http.get(f"{srv.url}/v1/hums/{sg}/events", headers={"Last-Event-ID": str(seen[-1]["id"])}) as r:
        async for event in sse_events(r):
            if "id" in event:
                seen.append(event)
                if event["data"]["chi"] == "finish":
                    break
    assert [e["id"] for e in seen] == list(range(1, laptop.hums[sg].tip + 1))
    text = "".join(e["data"].get("delta", "") for e in seen if e["data"]["chi"] == "chunk")
    assert text == assistant_texts(laptop, sg)[0]
    async with http.get(f"{srv.url}/v1/hums/{sg}/events?since=40") as r:
        event = await anext(e async for e in sse_events(r) if "id" in e)
    assert event["id"] == 41


async def test_peer_loss_reaches_the_events_stream(sim, served, http):
    from surface_helpers import scripted_brood

    laptop = await sim.spawn("doomed-laptop", brood=scripted_brood(20))
    phone = await sim.spawn("lone-phone")
    await sim.link(laptop, phone)
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="lost", text="long story")
    await oc.wait_for(lambda t: t.chi == "chunk", timeout=WAIT)
    srv = await served(phone)
    sg = sigil(laptop.nest, "lost")
    async with http.get(f"{srv.url}/v1/hums/{sg}/events") as r:
        stream = sse_events(r)
        await anext(e async for e in stream if "id" in e)
        await sim.kill(laptop)
        last = await asyncio.wait_for(anext(e async for e in stream if e["data"].get("chi") == "error"), WAIT)
    assert last["data"]["qualifier"] == "peer-loss"
    assert "id" not in last


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/v1/chat/completions", {"data": b"{not json"}, 400),
        ("post", "/v1/chat/completions", {"json": {"model": "m", "messages": []}}, 400),
        ("post", "/v1/chat/completions", {"json": {"model": "m", "messages": [{"role": "user", "content": "x"}]}, "headers": {"X-Hum-Sigil": "000000000000"}}, 404),
        ("get", "/v1/hums/000000000000/events", {}, 404),
        ("get", "/v1/hums/000000000000/events?since=-3", {}, 400),
        ("post", "/v1/chat/completions", {"data": b"{" + b" " * (DEFAULT_MAX_BODY + 10) + b"}"}, 413),
        ("post", "/api/chat", {"data": b"[1, 2"}, 400),
        ("get", "/no/such/route", {}, 404),
    ],
)
async def test_bad_input_gets_a_json_error_and_changes_no_hum(pair, served, http, method, path, kwargs, status):
    laptop, _ = pair
    srv = await served(laptop)
    async with http.post(f"{srv.url}/v1/chat/completions", json={"model": "m", "messages": chat("keep me")}) as r:
        assert r.status == 200
    before = {s: h.tip for s, h in laptop.hums.items()}
    async with getattr(http, method)(f"{srv.url}{path}", **kwargs) as r:
        body = await r.json()
    assert r.status == status
    assert set(body["error"]) >= {"message", "type", "code"}
    assert {s: h.tip for s, h in laptop.hums.items()} == before


async def test_off_loopback_needs_the_bearer_token(pair, http):
    from aiohttp.test_utils import TestClient, TestServer

    from hum.surfaces.app import make_app

    laptop, _ = pair
    with pytest.raises(ValueError):
        make_app(laptop, loopback_only=False)
    app = make_app(laptop, token="s3cret", loopback_only=False)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        r = await client.get("/v1/models")
        assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"
        r = await client.get("/v1/models", headers={"Authorization": "Bearer wrong"})
        assert r.status == 401
        r = await client.get("/v1/models", headers={"Authorization": "Bearer s3cret"})
        assert r.status == 200
        r = await client.get("/?token=s3cret", allow_redirects=False)
        assert r.status == 302 and "hum_token" in r.cookies
        r = await client.get("/api/hums")
        assert r.status == 200


async def test_loopback_app_refuses_a_foreign_host_name(pair, served, http):
    laptop, _ = pair
    srv = await served(laptop)
    async with http.get(f"{srv.url}/v1/models", headers={"Host": "evil.example:80"}) as r:
        assert r.status == 403


async def test_a_body_that_stalls_gets_a_408_and_changes_no_hum(pair, served, monkeypatch):
    from hum.surfaces import http as surface_http

    monkeypatch.setattr(surface_http, "HTTP_BODY_TIMEOUT", 0.3)
    laptop, _ = pair
    srv = await served(laptop)
    before = set(laptop.hums)
    host, port = srv.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    writer.write(head.encode() + b'{"model": "m", ')  # and then nothing more
    answer = await asyncio.wait_for(reader.read(4096), WAIT)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"body-timeout"' in answer
    assert set(laptop.hums) == before


async def test_a_streamed_chunk_carries_every_field_of_openais_chunk(pair, served, http):
    laptop, _ = pair
    srv = await served(laptop)
    req = {"model": "m-\u00e9", "stream": True, "messages": chat("hi")}
    async with http.post(f"{srv.url}/v1/chat/completions", json=req) as r:
        events = [e["data"] async for e in sse_events(r)]
    first, last = events[0], events[-2]
    assert set(first) == {"id", "object", "created", "model", "choices"}
    assert first["object"] == "chat.completion.chunk" and first["model"] == "m-\u00e9"
    assert first["id"] == f"chatcmpl-{r.headers['X-Hum-Sigil']}-{first['id'].rsplit('-', 1)[1]}"
    assert first["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None, "logprobs": None}]
    assert last["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]
    assert all(e["id"] == first["id"] and e["created"] == first["created"] for e in events[:-1])


async def test_a_streamed_answer_arrives_as_it_is_made_not_at_its_end(pair, served, http):
    """Events of petals already waiting share a write; none waits for petals yet to come."""
    laptop, _ = pair
    srv = await served(laptop)
    arrived: list[tuple[float, object]] = []
    async with http.post(f"{srv.url}/v1/chat/completions", json={"model": "m", "stream": True, "messages": chat("hi")}) as r:
        async for e in sse_events(r):
            arrived.append((time.monotonic(), e["data"]))
    contents = [at for at, data in arrived if isinstance(data, dict) and data["choices"] and data["choices"][0]["delta"].get("content")]
    done_at = arrived[-1][0]
    # 40 words at FAST_TPS take 0.2 s: the first is read long before the last
    assert len(contents) > 1
    assert done_at - contents[0] >= 0.5 * 40 / FAST_TPS
