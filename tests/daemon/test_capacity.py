"""Many blooms at once on a real `hum up`: they run side by side or wait in line, and none is turned away."""

from __future__ import annotations

import asyncio

import openai
from upstream_humds import openai_humd

from hum.demo.bench.upstream import ask, stamps
from hum.demo.roam_real import HumdProcess
from hum.surfaces.thrum import ThrumClient
from hum.wire.tones import Tone

# Generous for a loaded 2-core machine: every bloom here is a few chunks long.
DEADLINE_SECONDS = 60
CHUNKS = 5


async def bloom_on_thrum(laptop: HumdProcess, sid: str, text: str) -> list[Tone]:
    """One raw thrum nestler prompts a new hum and keeps every tone until its finish or error."""
    client, _ = await ThrumClient.connect(laptop.thrum, f"nestler-{sid}")
    client.send(Tone(chi="prompt", sid=sid, text=text, rid=sid))
    tones: list[Tone] = []
    try:
        while not tones or tones[-1].chi not in ("finish", "error"):
            tones.append(await client.receive())
    finally:
        client.close()
    return tones


async def test_twenty_openai_sdk_clients_at_once_all_get_their_answer(tmp_path, upstream):
    laptop = await openai_humd(tmp_path / "laptop")
    api = openai.AsyncOpenAI(base_url=laptop.info["http"] + "/v1", api_key="unused-on-loopback", max_retries=0)
    clients = 20

    async def one(i: int) -> tuple[str, str | None]:
        # the upstream answers nobody until all twenty streams are open at once
        stream = await api.chat.completions.create(
            model="default", stream=True,
            messages=[{"role": "user", "content": f"{ask(CHUNKS, hold=clients)} client={i}"}],
        )
        text, reason = "", None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                reason = chunk.choices[0].finish_reason or reason
        return text, reason

    try:
        answers = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(clients))), DEADLINE_SECONDS)
    finally:
        await api.close()
        await laptop.stop()
    assert [len(stamps(text)) for text, _ in answers] == [CHUNKS] * clients
    assert all(reason == "stop" and "brood-full" not in text for text, reason in answers)
    assert upstream.most_at_once == clients


async def test_eight_blooms_at_once_on_an_upstream_worker_run_side_by_side(tmp_path, upstream):
    laptop = await openai_humd(tmp_path / "laptop")
    try:
        runs = [bloom_on_thrum(laptop, f"side-{i}", ask(CHUNKS, hold=8)) for i in range(8)]
        results = await asyncio.wait_for(asyncio.gather(*runs), DEADLINE_SECONDS)
    finally:
        await laptop.stop()
    assert [tones[-1].chi for tones in results] == ["finish"] * 8
    assert upstream.most_at_once == 8


async def test_blooms_beyond_the_cells_wait_in_line_and_say_so(tmp_path, upstream, monkeypatch):
    monkeypatch.setenv("HUM_BROOD_MAX_UPSTREAM_CELLS", "2")
    laptop = await openai_humd(tmp_path / "laptop")
    try:
        # a fifth of a second each, so the later ones find both cells blooming
        runs = [bloom_on_thrum(laptop, f"line-{i}", ask(20, pace=100)) for i in range(8)]
        results = await asyncio.wait_for(asyncio.gather(*runs), DEADLINE_SECONDS)
    finally:
        await laptop.stop()
    assert [tones[-1].chi for tones in results] == ["finish"] * 8, [t for tones in results for t in tones if t.chi == "error"]
    notes = [
        t["delta"] for tones in results for t in tones if t.chi == "chunk" and t.get("chunkType") == "note"
    ]
    assert len(notes) >= 6 and all("waiting for a free cell" in n for n in notes)
    answers = [[t for t in tones if t.chi == "chunk" and t.get("chunkType") != "note"] for tones in results]
    assert all(len(a) == 20 for a in answers)
    assert upstream.most_at_once == 2
