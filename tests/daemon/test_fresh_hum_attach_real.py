"""A sibling attaching to a hum minted elsewhere a moment ago always gets an answer (real processes).

The laptop mints with `hum prompt --sid ...`; as soon as the CLI returns, the phone, linked through a
relay that adds 5 ms each way, attaches from wane 0. It must say `hello` and stream the whole log,
every round; and no link that stayed up may ever be reported lost.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from hum.daemon.home import Home
from hum.demo.relay import LatencyRelay
from hum.demo.roam_real import HumdProcess, Nestler, free_port, hum_command, pair_devices
from hum.wire.tones import Tone, is_petal

ROUNDS = 8
# Prompts streamed to a follower while the phone dials the laptop at two addresses: long enough for
# the second dial loop to come back several times (it redials at 0.2, 0.4, 0.8, 1.6 s...).
FOLLOWED_ROUNDS = 6
# One attach between two processes on loopback answers in milliseconds; a loaded CI box is slower.
ANSWER_WITHIN = 15.0


async def cli(*args: str, home: Path) -> tuple[int, str, str]:
    """A `hum` command run without blocking this loop (the relay lives on it)."""
    proc = await asyncio.create_subprocess_exec(
        *hum_command(), *args, "--home", str(home), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def high_humd_id(home: Path) -> bool:
    """A new operator home whose device's HumdId sorts high (a new device almost surely sorts below)."""
    return Home(home).init_operator("laptop").humd_id >= "e"


async def attach_from_zero(humd: HumdProcess, sg: str) -> tuple[Tone | None, list[Tone]]:
    """Attach from 0: the first answer (hello or error, None when nothing came), and every tone seen."""
    reader = await Nestler.open(humd, "auditor")
    reader.client.send(Tone(chi="attach", sigil=sg, since=0, rid="a"))
    try:
        _, first = await asyncio.wait_for(reader.wait_for(lambda t: t.chi in ("hello", "error") and t.get("sigil") == sg), ANSWER_WITHIN)
        if first.chi == "hello" and first["wane"]:
            await asyncio.wait_for(reader.wait_for(lambda t: is_petal(t) and t["wane"] == first["wane"]), ANSWER_WITHIN)
    except TimeoutError:
        first = None
    finally:
        reader.close()
    return first, [t for _, t in reader.seen]


def test_a_hum_minted_on_the_laptop_is_answered_on_the_phone_at_once_every_round(tmp_path):
    async def story() -> None:
        code, _, err = await cli("operator", "init", "--name", "laptop", home=tmp_path / "laptop")
        assert code == 0, err
        laptop = HumdProcess(tmp_path / "laptop", free_port())
        await laptop.start()
        relay = LatencyRelay(("127.0.0.1", laptop.port), 0.005)
        await relay.start()
        phone = HumdProcess(tmp_path / "phone", free_port())
        try:
            await pair_devices(laptop, phone.home, via=relay.port)
            await phone.start()
            await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
            watcher = await Nestler.open(phone, "watcher")
            watcher.client.send(Tone(chi="peers", rid="w", watch=True))
            for n in range(ROUNDS):
                code, out, err = await cli("prompt", "--sid", f"round-{n}", "hello", "--json", home=laptop.home)
                assert code == 0, err
                sg = json.loads(out.splitlines()[-1])["sigil"]
                started = time.monotonic()
                first, seen = await attach_from_zero(phone, sg)
                assert first is not None, f"round {n}: no answer at all in {ANSWER_WITHIN} s to an attach of {sg}: {seen}"
                assert first.chi == "hello", f"round {n}: refused: {first}"
                got = [t["wane"] for t in seen if is_petal(t) and t.get("sigil") == sg]
                assert got == list(range(1, first["wane"] + 1)), (n, got)
                assert time.monotonic() - started < ANSWER_WITHIN
            # the link stayed up the whole time: the phone's peers never changed
            told = [t["peers"] for _, t in watcher.seen if t.chi == "peers"]
            assert all(p == [laptop.info["humdId"]] for p in told), told
            watcher.close()
        finally:
            await relay.close()
            await phone.stop()
            await laptop.stop()

    asyncio.new_event_loop().run_until_complete(story())


def test_a_phone_dialling_the_laptop_at_two_addresses_keeps_one_link_and_loses_nothing(tmp_path):
    """Its home names the laptop through the relay, `--peer` names it directly: two dial loops, one peer.

    The phone (the dialler) gets the lower HumdId, the order in which a second link used to replace
    the first, and the first the second, for as long as both dial loops ran.
    """

    async def story() -> None:
        laptop_home = next(h for n in range(200) if (h := tmp_path / f"laptop-{n}") and high_humd_id(h))
        laptop = HumdProcess(laptop_home, free_port())
        await laptop.start()
        relay = LatencyRelay(("127.0.0.1", laptop.port), 0.005)
        await relay.start()
        phone = HumdProcess(tmp_path / "phone", free_port(), extra=["--peer", f"127.0.0.1:{laptop.port}"])
        try:
            for n in range(20):
                phone.home = tmp_path / f"phone-{n}"
                if await pair_devices(laptop, phone.home, via=relay.port) < laptop.info["humdId"]:
                    break
            await phone.start()
            await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
            code, out, err = await cli("prompt", "--sid", "followed", "first", "--json", home=laptop.home)
            assert code == 0, err
            sg = json.loads(out.splitlines()[-1])["sigil"]
            follower = await Nestler.open(phone, "follower")
            follower.client.send(Tone(chi="peers", rid="w", watch=True))
            follower.client.send(Tone(chi="attach", sigil=sg, since=0))
            _, hello = await asyncio.wait_for(follower.wait_for(lambda t: t.chi in ("hello", "error")), ANSWER_WITHIN)
            assert hello.chi == "hello", hello
            for n in range(FOLLOWED_ROUNDS):
                code, out, err = await cli("prompt", "--sigil", sg, f"turn {n}", "--json", home=laptop.home)
                assert code == 0, err
                tip = json.loads(out.splitlines()[-1])["wane"]
                caught_up = follower.wait_for(lambda t, tip=tip: (t.get("wane") == tip and is_petal(t)) or t.chi == "error")
                _, last = await asyncio.wait_for(caught_up, ANSWER_WITHIN)
                assert last.chi != "error", f"turn {n}: {last}"
            follower.client.send(Tone(chi="peers", rid="end"))
            await asyncio.wait_for(follower.wait_for(lambda t: t.get("rid") == "end"), ANSWER_WITHIN)
            seen = [t for _, t in follower.seen]
            assert not [t for t in seen if t.chi == "error"], [t for t in seen if t.chi == "error"]
            told = [t["peers"] for t in seen if t.chi == "peers"]
            assert all(p == [laptop.info["humdId"]] for p in told), f"the link to the laptop went and came back: {told}"
            wanes = [t["wane"] for t in seen if is_petal(t)]
            assert wanes == list(range(1, wanes[-1] + 1))
            follower.close()
        finally:
            await relay.close()
            await phone.stop()
            await laptop.stop()

    asyncio.new_event_loop().run_until_complete(story())
