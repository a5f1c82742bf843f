"""The Vercel AI SDK in Node (`ai`, `@ai-sdk/openai-compatible`) against hum's surfaces."""

from __future__ import annotations

import pytest
from client_helpers import run_node
from surface_helpers import FAST_TPS, WAIT, asked_on_laptop, assistant_texts, scripted_brood

from hum.store.sqlite import SqliteStore
from hum.wire.tones import sigil

# Node start-up plus three blooms; a hang fails here instead of stalling the suite.
NODE_TIMEOUT = 60.0


def hum_with_prompt(humd, text: str) -> str:
    return next(s for s, h in humd.hums.items() if h.transcript() and h.transcript()[0] == ("user", text))


async def test_stream_generate_and_chat_resume(sim, served):
    # a 40-word bloom takes one second: long enough to drop the chat mid-bloom
    laptop = await sim.spawn("laptop", brood=scripted_brood(40))
    srv = await served(laptop)
    out = await run_node("ai_sdk.mjs", {"HUM_URL": srv.url, "HUM_CASE": "basic"}, NODE_TIMEOUT)

    streamed = out["streamText"]
    assert streamed["text"] == assistant_texts(laptop, hum_with_prompt(laptop, "stream to me"))[0]
    assert streamed["usage"]["outputTokens"] == 40 and streamed["finishReason"] == "stop"
    assert out["generateText"]["text"] == assistant_texts(laptop, hum_with_prompt(laptop, "generate for me"))[0]

    chat = out["chat"]
    sg = sigil(laptop.nest, "phone-chat")
    assert chat["before"][:3] == ["start", "start-step", "text-start"]
    assert chat["resumedText"] == assistant_texts(laptop, sg)[0]
    assert chat["metadata"]["usage"]["outputTokens"] == 40
    assert chat["metadata"]["sigil"] == sg
    assert chat["afterFinish"] is True


@pytest.mark.slow
async def test_a_note_is_its_own_data_part_never_the_answer_text(local_laptop, served):
    # the default local model in a small window: the second turn leaves the first one out
    laptop = local_laptop
    srv = await served(laptop)
    # about 440 tokens: fits the window alone, not with its answer and a second question
    first = "Tell me about lighthouses. " + " ".join(["The keeper climbs the stairs every night."] * 45)
    out = await run_node("ai_sdk.mjs", {"HUM_URL": srv.url, "HUM_CASE": "note", "HUM_FIRST_TEXT": first}, NODE_TIMEOUT)
    sg = sigil(laptop.nest, "lighthouse")
    (note,) = [p.body["delta"] for p in laptop.hums[sg].petals if p.chi == "chunk" and p.body["chunkType"] == "note"]
    assert "2 earlier turns" in note

    answer = out["answer"]
    assert out["status"] == "ready"
    assert answer["types"] == ["step-start", "data-hum-note", "text"]
    assert answer["parts"][1]["data"] == {"text": note}
    assert answer["text"] == assistant_texts(laptop, sg)[1] and "Paris" in answer["text"]
    assert "left out" not in answer["text"]
    # the history the chat app reopens with says the same, and the SDK accepts it as UIMessages
    assert [m["role"] for m in out["history"]] == ["user", "assistant", "user", "assistant"]
    assert out["history"][3]["types"] == ["data-hum-note", "text"] and out["history"][3]["text"] == answer["text"]


async def test_a_chat_app_opens_a_hum_homed_elsewhere_after_its_home_restarted(sim, served, tmp_path):
    db = tmp_path / "laptop.db"  # on disk, so the laptop comes back with its hum
    laptop = await sim.spawn("laptop", brood=scripted_brood(40), store=SqliteStore(db))
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="roam", text="on the laptop")
    done = await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    sg = sigil(laptop.nest, "roam")
    oc.send("prompt", sigil=sg, text="and then?")
    await oc.wait_for(lambda t: t.chi == "chunk" and t["wane"] > done.tone["wane"] + 3, timeout=WAIT)
    await sim.kill(laptop)  # mid-bloom
    back = await sim.spawn("laptop", identity=laptop.identity, brood=scripted_brood(FAST_TPS), store=SqliteStore(db))
    await sim.link(back, phone)
    interrupted = [t for role, t in back.hums[sg].transcript() if role == "assistant"][1]

    srv = await served(phone)  # the chat app is on the phone, which has never seen this hum's petals
    out = await run_node("ai_sdk.mjs", {"HUM_URL": srv.url, "HUM_CASE": "history", "HUM_SIGIL": sg}, NODE_TIMEOUT)

    first = assistant_texts(back, sg)[0]
    opened = out["opened"]
    assert [(m["role"], m["text"]) for m in opened] == [
        ("user", "on the laptop"), ("assistant", first), ("user", "and then?"), ("assistant", interrupted)
    ]
    assert opened[3]["types"] == ["text", "data-hum-error"]
    assert opened[3]["parts"][1]["data"]["qualifier"] == "interrupted"

    # resuming says how the interrupted bloom ended, and keeps its text once
    resumed = out["resumed"]
    assert resumed["status"] == "error"
    assert resumed["errors"] == ["this answer was cut short: humd restarted mid-bloom"]
    assert [m["text"] for m in resumed["messages"]] == [m["text"] for m in opened]

    # the conversation goes on from the phone, on the laptop's brood
    follow = out["followUp"]
    assert follow["status"] == "ready"
    assert follow["messages"][-2]["text"] == "once more, from the phone"
    assert follow["messages"][-1]["text"] == assistant_texts(back, sg)[2]


async def test_a_mistyped_sigil_is_an_error_on_every_chat_route(sim, served):
    laptop = await sim.spawn("laptop")
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="real", text="a hum that exists")
    await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    sg = sigil(laptop.nest, "real")
    srv = await served(phone)  # asked on another device, so the peer is asked too
    typos = await run_node("ai_sdk.mjs", {"HUM_URL": srv.url, "HUM_CASE": "typo", "HUM_SIGIL": sg}, NODE_TIMEOUT)
    assert typos["history"]["status"] == 404 and typos["history"]["body"]["error"]["code"] == "unknown-hum"
    assert typos["post"]["status"] == 404 and "no hum with sigil" in typos["post"]["error"]
    assert typos["resume"]["status"] == 404
    assert list(laptop.hums) == [sg] and list(phone.hums) in ([], [sg])  # nothing minted


async def test_a_chat_app_on_the_phone_approves_with_add_tool_approval_response(sim, served):
    asked = await asked_on_laptop(sim, FAST_TPS)
    laptop, phone, oc, first = asked.laptop, asked.phone, asked.nestler, asked.ask
    oc.send("release-permit", sigil=first["sigil"], permitId=first["permitId"], decision="deny", message="not yet")
    await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    sg = first["sigil"]
    srv = await served(phone)
    out = await run_node("ai_sdk.mjs", {"HUM_URL": srv.url, "HUM_CASE": "approval", "HUM_SIGIL": sg}, NODE_TIMEOUT)

    # the history the chat opens with: the laptop's denied ask is a denied tool part
    denied = out["history"][1]["parts"][1]
    assert (denied["type"], denied["state"], denied["approval"]) == ("dynamic-tool", "output-denied", {"id": first["permitId"], "approved": False, "reason": "not yet"})
    # the phone's prompt: the stream stops at the ask, a tool part awaiting approval with exactly what would run
    asked = out["asked"]["parts"][-1]
    assert (asked["state"], asked["toolName"], asked["input"]) == ("approval-requested", "Bash", {"command": "touch approved.txt"})
    assert out["statusAtAsk"] == "ready"
    (second,) = [p for p in laptop.hums[sg].petals if p.chi == "permission-ask" and p.body["permitId"] != first["permitId"]]
    assert asked["approval"]["id"] == second.body["permitId"]
    # addToolApprovalResponse: the answer reached the laptop from the phone, and the bloom went on in the same message
    (permit,) = [p.body for p in laptop.hums[sg].petals if p.chi == "permit" and p.body["permitId"] == second.body["permitId"]]
    assert (permit["decision"], permit["from"]) == ("allow", phone.id)
    answered = out["answered"]
    assert answered["id"] == out["asked"]["id"] and out["count"] == 4  # no new message: the same answer went on
    assert answered["types"] == ["step-start", "text", "dynamic-tool", "step-start", "text"]
    assert answered["text"] == assistant_texts(laptop, sg)[1] and "(ran touch approved.txt)" in answered["text"]
    assert answered["parts"][2]["state"] == "output-available" and answered["parts"][2]["output"]["from"] == phone.id
    assert out["reopened"][3]["types"] == ["text", "dynamic-tool", "text"]
