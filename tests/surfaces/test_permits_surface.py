"""Answering a worker's ask over HTTP: the web chat's endpoint, from the phone, for a hum on the laptop."""

from __future__ import annotations

import asyncio

from surface_helpers import FAST_TPS, WAIT, asked_on_laptop, sse_events

# The HTTP surface's bloom silence limit in the test that outlasts it (the real one is 330 s).
SHORT_SILENCE = 0.3


async def test_the_phone_answers_once_and_every_bad_answer_is_a_clear_json_error(sim, served, http):
    asked = await asked_on_laptop(sim, FAST_TPS)
    laptop, phone, oc, ask = asked.laptop, asked.phone, asked.nestler, asked.ask
    sg, permit_id = ask["sigil"], ask["permitId"]
    srv = await served(phone)
    url = f"{srv.url}/api/hums/{sg}/permits"

    for body, status, code in (
        ({"decision": "maybe"}, 400, "bad-decision"),
        ({"decision": "allow", "message": 7}, 400, "bad-message"),
        ({"decision": "allow", "wane": 0}, 400, "bad-wane"),
    ):
        async with http.post(f"{url}/{permit_id}", json=body) as r:
            assert (r.status, (await r.json())["error"]["code"]) == (status, code)
    async with http.post(f"{url}/no-such-ask", json={"decision": "allow"}) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (404, "unknown-permit")
    async with http.post(f"{srv.url}/api/hums/0123456789ab/permits/{permit_id}", json={"decision": "allow"}) as r:
        assert r.status == 404
    assert not any(p.chi == "permit" for p in laptop.hums[sg].petals)  # nothing was decided by a bad answer

    async with http.post(f"{url}/{permit_id}", json={"decision": "deny", "message": "not now", "wane": ask["wane"]}) as r:
        assert r.status == 200
        decided = await r.json()
    assert (decided["decision"], decided["from"]) == ("deny", phone.id)
    async with http.post(f"{url}/{permit_id}", json={"decision": "allow"}) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (409, "already-decided")
    await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    (permit,) = [p.body for p in laptop.hums[sg].petals if p.chi == "permit"]
    assert permit == {"permitId": permit_id, "decision": "deny", "from": phone.id, "device": phone.id, "message": "not now"}


async def test_an_openai_client_reads_the_ask_as_text_with_the_command_that_answers_it(sim, served, http):
    asked = await asked_on_laptop(sim, FAST_TPS)
    srv = await served(asked.laptop)
    sg, permit_id = asked.ask["sigil"], asked.ask["permitId"]
    asked.nestler.send("release-permit", sigil=sg, permitId=permit_id, decision="allow")
    await asked.nestler.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    body = {"model": "default", "stream": True, "messages": [{"role": "user", "content": "and the rest?"}]}
    text = ""
    async with http.post(f"{srv.url}/v1/chat/completions", json=body, headers={"x-session-id": "tidy"}) as r:
        async for event in sse_events(r):
            if event["data"] == "[DONE]":
                break
            text += "".join(c["delta"].get("content") or "" for c in event["data"]["choices"])
            if "hum approve" in text and "[hum] allowed" not in text:
                second = [p for p in asked.laptop.hums[sg].petals if p.chi == "permission-ask"][-1].body["permitId"]
                if second != permit_id:
                    async with http.post(f"{srv.url}/api/hums/{sg}/permits/{second}", json={"decision": "allow"}) as answered:
                        assert answered.status == 200
    second = [p for p in asked.laptop.hums[sg].petals if p.chi == "permission-ask"][-1].body["permitId"]
    assert f"`hum approve {sg} {second}` or `hum deny {sg} {second} --message WHY`" in text
    assert 'Bash {"command": "touch approved.txt"}' in text
    assert "[hum] allowed by hum-web" in text and "(ran touch approved.txt)" in text


async def test_the_ai_sdk_stream_stops_at_an_open_ask_and_goes_on_in_the_same_message_after_the_answer(sim, served, http):
    asked = await asked_on_laptop(sim, FAST_TPS)
    srv = await served(asked.phone)
    sg, first = asked.ask["sigil"], asked.ask["permitId"]
    # a chat app opened on the phone mid-bloom resumes it: the replay stops at the open ask
    async with http.get(f"{srv.url}/api/chat/{sg}/stream") as r:
        parts = [e["data"] async for e in sse_events(r)]
    kinds = [p["type"] for p in parts[:-1]]
    assert kinds[-4:] == ["tool-input-available", "tool-approval-request", "finish-step", "finish"]
    tool, approval, finish = parts[-5], parts[-4], parts[-2]
    assert (tool["toolName"], tool["input"], tool["providerExecuted"]) == ("Bash", {"command": "touch approved.txt"}, True)
    assert approval == {"type": "tool-approval-request", "approvalId": first, "toolCallId": tool["toolCallId"]}
    assert finish["finishReason"] == "tool-calls"

    def answered(approval_id: str, approved: bool, reason: str | None = None) -> dict:
        part = {"type": "dynamic-tool", "toolName": "Bash", "toolCallId": tool["toolCallId"], "state": "approval-responded",
                "input": tool["input"], "approval": {"id": approval_id, "approved": approved, **({"reason": reason} if reason else {})}}
        message = {"id": parts[0]["messageId"], "role": "assistant", "metadata": parts[0]["messageMetadata"], "parts": [part]}
        return {"id": sg, "trigger": "submit-message", "messageId": message["id"], "messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "tidy up the project"}]}, message]}

    async with http.post(f"{srv.url}/api/chat", json=answered("no-such-ask", True)) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (404, "unknown-permit")
    async with http.post(f"{srv.url}/api/chat", json=answered(first, False, "not now")) as r:
        assert r.status == 200
        more = [e["data"] async for e in sse_events(r)]
    assert more[0] == {"type": "start", "messageId": parts[0]["messageId"], "messageMetadata": parts[0]["messageMetadata"]}
    assert {"type": "tool-output-denied", "toolCallId": tool["toolCallId"]} in more
    text = "".join(p["delta"] for p in more if isinstance(p, dict) and p["type"] == "text-delta")
    assert text.startswith(" (did not run touch approved.txt: not now)") and more[-2]["type"] == "finish"
    # the same answer again: already decided, so the chat just reads how it went
    async with http.post(f"{srv.url}/api/chat", json=answered(first, True)) as r:
        again = [e["data"] async for e in sse_events(r)]
    assert {"type": "tool-output-denied", "toolCallId": tool["toolCallId"]} in again
    (permit,) = [p.body for p in asked.laptop.hums[sg].petals if p.chi == "permit"]
    assert (permit["decision"], permit["from"], permit["message"]) == ("deny", asked.phone.id, "not now")


async def test_an_openai_stream_waits_for_a_person_longer_than_its_silence_limit(sim, served, http, monkeypatch):
    import hum.surfaces.http as surface_http

    monkeypatch.setattr(surface_http, "BLOOM_SILENCE_SECONDS", SHORT_SILENCE)
    asked = await asked_on_laptop(sim, FAST_TPS)
    sg = asked.ask["sigil"]
    asked.nestler.send("release-permit", sigil=sg, permitId=asked.ask["permitId"], decision="allow")
    await asked.nestler.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    srv = await served(asked.laptop)
    body = {"model": "default", "stream": True, "messages": [{"role": "user", "content": "go on"}]}
    async with http.post(f"{srv.url}/v1/chat/completions", json=body, headers={"x-session-id": "tidy"}) as r:
        events = sse_events(r)
        text = ""
        while "hum approve" not in text:
            text += "".join(c["delta"].get("content") or "" for c in (await anext(events))["data"]["choices"])
        waiting = asyncio.ensure_future(anext(events))
        done, _ = await asyncio.wait({waiting}, timeout=SHORT_SILENCE * 4)
        assert not done  # four silence limits later the stream still waits for the answer
        second = [p for p in asked.laptop.hums[sg].petals if p.chi == "permission-ask"][-1].body["permitId"]
        async with http.post(f"{srv.url}/api/hums/{sg}/permits/{second}", json={"decision": "allow"}) as answered:
            assert answered.status == 200
        rest = [await waiting] + [e async for e in events]
    assert rest[-1]["data"] == "[DONE]" and rest[-2]["data"]["choices"][0]["finish_reason"] == "stop"
