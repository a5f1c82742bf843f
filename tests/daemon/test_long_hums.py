"""Long conversations with a real humd: the log read back from SQLite, and a client's transcript found after a restart."""

from __future__ import annotations

import aiohttp
from upstream_humds import openai_humd

from hum.demo.bench.measure import Tap, rss_kb
from hum.demo.bench.upstream import ask
from hum.demo.roam_real import HumdProcess, free_port

# Far more petals than a hum keeps in memory (`TAIL_PETALS`), so replaying
# from wane 0 reads most of them from the store; and enough that a humd holding
# them all in memory (about 400 B each) would grow by tens of MB.
LONG_BLOOM = 100_000
# What the humd may grow by over the whole long bloom: its tail, SQLite's page
# cache (2 MB by default) and the allocator's slack, not the conversation.
RSS_GROWTH_ALLOWED_MB = 15


async def complete(session: aiohttp.ClientSession, base: str, messages: list[dict[str, str]]) -> tuple[str, str]:
    """One non-streamed completion: (the hum it went to, the answer)."""
    async with session.post(f"{base}/v1/chat/completions", json={"model": "bench", "messages": messages}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return resp.headers["X-Hum-Sigil"], body["choices"][0]["message"]["content"]


async def test_a_stateless_client_continues_its_hum_by_transcript_after_a_restart(tmp_path, upstream):
    humd = await openai_humd(tmp_path / "laptop")
    async with aiohttp.ClientSession() as session:
        first = [{"role": "user", "content": ask(3)}]
        sg, answer = await complete(session, humd.info["http"], first)
        await humd.stop()
        humd = HumdProcess(humd.home, free_port(), worker="openai")
        await humd.start()
        try:
            follow_up = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": ask(2)}]
            again, _ = await complete(session, humd.info["http"], follow_up)
            other, _ = await complete(session, humd.info["http"], [{"role": "user", "content": ask(1)}])
        finally:
            await humd.stop()
    assert again == sg  # the same conversation, found by its transcript, not a new hum
    assert other != sg


async def test_a_long_hum_replays_whole_and_in_order_before_and_after_a_restart(tmp_path, upstream):
    humd = await openai_humd(tmp_path / "laptop")
    try:
        prompter = await Tap.open(humd.thrum, "prompter")
        prompter.send({"chi": "prompt", "sid": "warm-up", "text": ask(10), "rid": "w"})
        await prompter.until(lambda t: t.get("chi") == "finish")  # the worker and its session are made
        before = rss_kb(humd.info["pid"])
        prompter.send({"chi": "prompt", "sid": "long", "text": ask(LONG_BLOOM), "rid": "p"})
        hello = await prompter.until(lambda t: t.get("chi") == "hello")
        _, _, finish = await prompter.count_until_finish()
        grown_mb = (rss_kb(humd.info["pid"]) - before) / 1024
        prompter.close()
        wanes = await replay(humd, hello["sigil"], finish["wane"])
        assert wanes == list(range(1, finish["wane"] + 1))
        await humd.stop()
        humd = HumdProcess(humd.home, free_port(), worker="openai")
        await humd.start()
        assert await replay(humd, hello["sigil"], finish["wane"]) == wanes
    finally:
        await humd.stop()
    assert finish["wane"] >= LONG_BLOOM + 2
    assert grown_mb <= RSS_GROWTH_ALLOWED_MB, f"humd grew {grown_mb:.1f} MB over a {LONG_BLOOM}-petal bloom"


async def replay(humd: HumdProcess, sigil: str, last: int) -> list[int]:
    """Attach from wane 0 and collect every petal's wane up to `last`."""
    tap = await Tap.open(humd.thrum, "replay")
    tap.send({"chi": "attach", "sigil": sigil, "since": 0, "rid": "r"})
    await tap.until(lambda t: t.get("chi") != "hello" and t.get("wane") == last, keep=True)
    tap.close()
    return [t["wane"] for t in tap.tones if "wane" in t and t["chi"] != "hello"]
