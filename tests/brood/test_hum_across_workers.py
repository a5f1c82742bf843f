"""One hum, two workers: the transcript is the hum's, so the next worker hears the whole story."""

from __future__ import annotations

from anthropic_double import AnthropicDouble

from hum.brood.anthropic_upstream import AnthropicWorker
from hum.brood.local import LocalWorker
from hum.brood.pool import Brood
from hum.ensemble.transports.memory import MemoryNetwork
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck
from hum.node.humd import Humd
from hum.sim.harness import SimNestler


async def test_a_hum_started_on_the_local_model_continues_on_an_upstream(anthropic_double: AnthropicDouble, model_path):
    identity = Identity.mint(OperatorKey.generate(), "laptop")
    brood = Brood(
        {
            "local": lambda: LocalWorker(model_path, n_threads=1, max_tokens=24),
            "anthropic": lambda: AnthropicWorker(
                "claude-test", api_key=anthropic_double.api_key, base_url=anthropic_double.base_url
            ),
        },
        "local",
    )
    humd = Humd(identity, SiblingCheck(identity.operator), MemoryNetwork().transport("mem://l"), brood)
    await humd.start()
    nestler = SimNestler(humd, humd.open_nestler("cli")).start()
    try:
        nestler.send("hello", bee="cli")
        nestler.send("prompt", sid="travel", text="Name one colour of the sky.")
        first = (await nestler.wait_for(lambda t: t.chi == "finish", timeout=120)).tone
        assert first["usage"]["output_tokens"] > 0
        sigil = first["sigil"]
        local_reply = "".join(t["delta"] for t in nestler.tones("chunk", sigil))
        assert local_reply.strip()

        nestler.send("prompt", sigil=sigil, text="Say it again, louder.", modelId="anthropic")
        second = (await nestler.wait_for(lambda t: t.chi == "finish" and t["wane"] > first["wane"], timeout=60)).tone
        assert second["usage"]["output_tokens"] > 0

        sent = anthropic_double.message_requests()[-1]["messages"]
        texts = [
            (m["role"], m["content"] if isinstance(m["content"], str) else "".join(b.get("text", "") for b in m["content"]))
            for m in sent
        ]
        assert texts == [
            ("user", "Name one colour of the sky."),
            ("assistant", local_reply),
            ("user", "Say it again, louder."),
        ]
        # and the hum's own log tells the story in order, with the upstream's words at the end
        assert [p.chi for p in humd.hums[sigil].petals if p.chi != "chunk"] == ["prompt", "finish", "prompt", "finish"]
    finally:
        nestler.close()
        await humd.stop()
        await brood.close()
