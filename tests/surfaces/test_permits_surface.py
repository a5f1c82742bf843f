"""Answering a worker's ask over HTTP: the web chat's endpoint, from the phone, for a hum on the laptop."""

from __future__ import annotations

from surface_helpers import FAST_TPS, WAIT, asked_on_laptop, sse_events


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
    assert permit == {"permitId": permit_id, "decision": "deny", "from": phone.id, "message": "not now"}


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
