"""Answering a worker's ask over HTTP: the web chat's endpoint, from the phone, for a hum on the laptop."""

from __future__ import annotations

from surface_helpers import FAST_TPS, WAIT, asked_on_laptop


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
