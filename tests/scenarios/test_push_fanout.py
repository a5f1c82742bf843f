"""Fan-out straight from the wake: each tap's pending lines in one write, and a backed-up tap left to its task."""

from __future__ import annotations

import asyncio

from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim
from hum.wire.framing import LineDecoder
from hum.wire.tones import Tone

WORDS = 500


class Socket:
    """A nestler's transport as the humd writes to it: every write kept; `ready` as the test says."""

    def __init__(self, ready: bool = True) -> None:
        self.writes: list[bytes] = []
        self.is_ready = ready
        self.wrote = asyncio.Event()

    def ready(self) -> bool:
        return self.is_ready

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.wrote.set()

    def tones(self) -> list[Tone]:
        return [t for t in LineDecoder().receive_data(b"".join(self.writes)) if isinstance(t, Tone)]


def test_taps_are_written_from_the_wake_and_with_their_tasks_get_every_petal_once_in_order():
    async def story():
        sim = Sim()
        reply = " ".join(["w"] * WORDS)
        brood = Brood(
            {"scripted": lambda: ScriptedWorker(100_000, reply=lambda _: reply)}, "scripted"
        )
        humd = await sim.spawn("laptop", brood=brood)
        sockets = [Socket() for _ in range(3)]
        sessions = [humd.open_nestler(f"n{i}") for i in range(3)]

        async def pump(session, socket) -> None:  # what the thrum socket's task does
            while True:
                socket.write(await session.next_bytes())

        for session, socket in zip(sessions, sockets, strict=True):
            session.push_to(socket)
            session.receive(Tone(chi="hello", bee="n"))
        pumps = [asyncio.create_task(pump(*pair)) for pair in zip(sessions, sockets, strict=True)]
        sessions[0].receive(Tone(chi="prompt", sid="fan", text="go"))
        while not any(t.chi == "hello" for t in sockets[0].tones()):
            sockets[0].wrote.clear()
            await sockets[0].wrote.wait()
        sigil = next(t for t in sockets[0].tones() if t.chi == "hello")["sigil"]
        sessions[1].receive(Tone(chi="attach", sigil=sigil, since=0))  # during the bloom
        while not any(t.chi == "finish" for t in sockets[0].tones()):
            sockets[0].wrote.clear()
            await sockets[0].wrote.wait()
        sessions[2].receive(Tone(chi="attach", sigil=sigil, since=0))  # after it: a replay
        for socket in sockets:
            while not any(t.chi == "finish" for t in socket.tones()):
                socket.wrote.clear()
                await socket.wrote.wait()
        for socket in sockets:
            assert all(data.endswith(b"\n") for data in socket.writes if data)  # whole lines only
            wanes = [t["wane"] for t in socket.tones() if "wane" in t and t.chi != "hello"]
            assert wanes == list(range(1, WORDS + 3))  # once each, in order, across both ways
        for task in pumps:
            task.cancel()
        await sim.close()

    run_virtual(story())


def test_a_backed_up_tap_is_left_to_its_own_task_and_loses_nothing():
    async def story():
        sim = Sim(tokens_per_second=1000)
        humd = await sim.spawn("laptop")
        socket = Socket(ready=False)
        session = humd.open_nestler("slow")
        session.push_to(socket)
        session.receive(Tone(chi="hello", bee="slow"))
        session.receive(Tone(chi="prompt", sid="slow", text="go"))
        decoder, seen = LineDecoder(), []
        while not seen or seen[-1].chi != "finish":
            seen += [
                t for t in decoder.receive_data(await session.next_bytes()) if isinstance(t, Tone)
            ]
        assert socket.writes == []  # never written to while it could not take bytes
        wanes = [t["wane"] for t in seen if "wane" in t and t.chi != "hello"]
        assert wanes == list(range(1, len(wanes) + 1)) and len(wanes) > 2
        await sim.close()

    run_virtual(story())
