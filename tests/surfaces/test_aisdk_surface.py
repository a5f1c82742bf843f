"""The AI SDK UI message stream over HTTP: part order, chat id mapping, resume."""

from __future__ import annotations

from surface_helpers import WAIT, assistant_texts, scripted_brood, sse_events

from hum.wire.tones import sigil


def ui_message(text: str, id_: str = "m1") -> dict:
    return {"id": id_, "role": "user", "parts": [{"type": "text", "text": text}]}


async def test_post_chat_streams_the_ui_parts_in_order(pair, served, http):
    laptop, _ = pair
    srv = await served(laptop)
    body = {"id": "chat-1", "messages": [ui_message("hello")], "trigger": "submit-message"}
    async with http.post(f"{srv.url}/api/chat", json=body) as r:
        assert r.headers["x-vercel-ai-ui-message-stream"] == "v1"
        parts = [e["data"] async for e in sse_events(r)]
    assert parts[-1] == "[DONE]"
    kinds = [p["type"] for p in parts[:-1]]
    assert kinds[:3] == ["start", "start-step", "text-start"]
    assert kinds[-3:] == ["text-end", "finish-step", "finish"]
    assert set(kinds[3:-3]) == {"text-delta"}
    sg = sigil(laptop.nest, "chat-1")
    assert "".join(p["delta"] for p in parts if isinstance(p, dict) and p["type"] == "text-delta") == assistant_texts(laptop, sg)[0]
    assert parts[-2]["messageMetadata"]["usage"]["outputTokens"] == 40
    # the same chat id continues the same hum; the hum's sigil works as a chat id too
    for chat_id in ("chat-1", sg):
        body = {"id": chat_id, "messages": [ui_message("hello"), ui_message("again", "m2")], "trigger": "submit-message"}
        async with http.post(f"{srv.url}/api/chat", json=body) as r:
            assert r.status == 200
            [e async for e in sse_events(r)]
    assert [t for role, t in laptop.hums[sg].transcript() if role == "user"] == ["hello", "again", "again"]


async def test_resume_replays_the_open_bloom_then_follows_it(sim, served, http):
    laptop = await sim.spawn("slow-laptop", brood=scripted_brood(40))
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    srv = await served(phone)
    async with http.get(f"{srv.url}/api/chat/never-seen/stream") as r:
        assert r.status == 204
    body = {"id": "walk", "messages": [ui_message("a long story")], "trigger": "submit-message"}
    async with http.post(f"{srv.url}/api/chat", json=body) as r:
        async for part in sse_events(r):
            if part["data"]["type"] == "text-delta":
                break  # the connection drops mid-bloom
    sg = sigil(phone.nest, "walk")
    async with http.get(f"{srv.url}/api/chat/walk/stream") as r:
        assert r.status == 200
        parts = [e["data"] async for e in sse_events(r)]
    assert [p["type"] for p in parts[:3]] == ["start", "start-step", "text-start"]
    assert parts[-2]["type"] == "finish" and parts[-1] == "[DONE]"
    assert "".join(p["delta"] for p in parts if isinstance(p, dict) and p["type"] == "text-delta") == assistant_texts(phone, sg)[0]
    async with http.get(f"{srv.url}/api/chat/walk/stream") as r:
        assert r.status == 204


async def test_resume_follows_a_bloom_homed_on_another_humd(sim, served, http):
    laptop = await sim.spawn("slow-laptop", brood=scripted_brood(40))
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="roam", text="on the laptop")
    await oc.wait_for(lambda t: t.chi == "chunk", timeout=WAIT)
    sg = sigil(laptop.nest, "roam")
    srv = await served(phone)
    async with http.get(f"{srv.url}/api/chat/{sg}/stream") as r:
        assert r.status == 200
        parts = [e["data"] async for e in sse_events(r)]
    assert "".join(p["delta"] for p in parts if isinstance(p, dict) and p["type"] == "text-delta") == assistant_texts(laptop, sg)[0]
