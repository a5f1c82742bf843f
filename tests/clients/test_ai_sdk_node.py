"""The Vercel AI SDK in Node (`ai`, `@ai-sdk/openai-compatible`) against hum's surfaces."""

from __future__ import annotations

from client_helpers import run_node
from surface_helpers import assistant_texts, scripted_brood

from hum.wire.tones import sigil

# Node start-up plus three blooms; a hang fails here instead of stalling the suite.
NODE_TIMEOUT = 60.0


def hum_with_prompt(humd, text: str) -> str:
    return next(s for s, h in humd.hums.items() if h.transcript() and h.transcript()[0] == ("user", text))


async def test_stream_generate_and_chat_resume(sim, served):
    # a 40-word bloom takes one second: long enough to drop the chat mid-bloom
    laptop = await sim.spawn("laptop", brood=scripted_brood(40))
    srv = await served(laptop)
    out = await run_node("ai_sdk.mjs", {"HUM_URL": srv.url}, NODE_TIMEOUT)

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
