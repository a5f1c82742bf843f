"""The thrum socket with real Unix sockets: many nestlers, and a slow one delays only itself."""

from __future__ import annotations

import asyncio

from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.ensemble.transports.memory import MemoryNetwork
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck
from hum.node.humd import Humd
from hum.surfaces.thrum import ThrumClient, ThrumServer
from hum.wire.tones import Tone

# Enough words that the hum's petals are megabytes on the wire: far more than
# the socket and transport buffers hold, so a nestler that does not read
# really backs up (1 MB still fitted in them here).
LONG_REPLY_WORDS = 30_000
# For the fan-out test a shorter hum does: it only counts.
SHORT_REPLY_WORDS = 5_000


async def start_humd(tmp_path, words: int = LONG_REPLY_WORDS) -> tuple[Humd, ThrumServer]:
    operator = OperatorKey.generate()
    identity = Identity.mint(operator, "laptop")
    long_reply = lambda prompt: " ".join(["petal"] * words)  # noqa: E731
    brood = Brood({"scripted": lambda: ScriptedWorker(tokens_per_second=1e9, reply=long_reply)}, "scripted")
    humd = Humd(identity, SiblingCheck(identity.operator), MemoryNetwork().transport("mem://laptop"), brood, name="laptop")
    await humd.start()
    server = ThrumServer(humd, tmp_path / "thrum.sock")
    await server.start()
    return humd, server


async def test_a_nestler_that_stops_reading_does_not_hold_back_the_others(tmp_path):
    humd, server = await start_humd(tmp_path)
    try:
        stalled, _ = await ThrumClient.connect(server.path, "stalled")
        reader, _ = await ThrumClient.connect(server.path, "reader")
        reader.send(Tone(chi="prompt", sid="flood", text="go"))
        hello = await asyncio.wait_for(reader.receive(), 10)
        stalled.send(Tone(chi="attach", sigil=hello["sigil"]))  # ...and never reads again

        async def read_to_finish() -> Tone:
            while True:
                tone = await reader.receive()
                if tone.chi == "finish":
                    return tone

        finish = await asyncio.wait_for(read_to_finish(), 60)
        assert finish["wane"] == LONG_REPLY_WORDS + 2  # prompt + chunks + finish
        # the stalled nestler's tap only lags: its cursor is behind, nothing was dropped
        hum = humd.hums[hello["sigil"]]
        lagging = [t for t in humd.router.facts.taps.of_hum(hum.sigil) if t.owner.bee != "reader"]
        assert lagging and all(t.cursor < hum.tip for t in lagging)
        # once it reads, it gets everything, in order
        wanes = []
        while not wanes or wanes[-1] < hum.tip:
            tone = await asyncio.wait_for(stalled.receive(), 30)
            if "wane" in tone and tone.chi != "hello":
                wanes.append(tone["wane"])
        assert wanes == list(range(1, hum.tip + 1))
        stalled.close()
        reader.close()
    finally:
        await server.close()
        await humd.stop()


async def test_many_nestlers_each_get_the_whole_hum(tmp_path):
    humd, server = await start_humd(tmp_path, SHORT_REPLY_WORDS)
    try:
        first, breath = await ThrumClient.connect(server.path, "first")
        assert breath.chi == "breath" and breath["humdId"] == humd.id
        first.send(Tone(chi="prompt", sid="shared", text="go"))
        sigil = (await first.receive())["sigil"]
        others = [(await ThrumClient.connect(server.path, f"n{i}"))[0] for i in range(8)]
        for client in others:
            client.send(Tone(chi="attach", sigil=sigil, since=0))

        async def count(client: ThrumClient) -> int:
            n = 0
            while True:
                tone = await client.receive()
                if tone.chi in ("prompt", "chunk", "finish"):
                    n += 1
                if tone.chi == "finish":
                    return n

        counts = await asyncio.wait_for(asyncio.gather(*(count(c) for c in others)), 60)
        assert counts == [SHORT_REPLY_WORDS + 2] * 8
        for client in [first, *others]:
            client.close()
    finally:
        await server.close()
        await humd.stop()
