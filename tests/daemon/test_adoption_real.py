"""Adoption between real humd processes: after SIGKILL, during a partition, and refused while the home lives."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from hum.demo.relay import LatencyRelay
from hum.demo.roam_real import HumdProcess, Nestler, free_port, pair_devices
from hum.wire.tones import Tone, is_petal

HUM = [sys.executable, "-m", "hum.cli"]
WAIT = 30.0


def hum(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """A blocking CLI run: from a story, only through `asyncio.to_thread`. The relays live on the
    story's loop; blocked for longer than a link's timeout (1.5 s), they drop every link."""
    return subprocess.run([*HUM, *args, "--home", str(home)], capture_output=True, text=True, timeout=WAIT)


def test_the_adoption_story_with_real_processes_passes_every_criterion():
    out = subprocess.run([*HUM, "demo", "roam", "--adopt", "--real", "--json"], capture_output=True, text=True, timeout=120)
    report = json.loads(out.stdout)
    assert report["ok"] and out.returncode == 0, report


async def two_devices(tmp: Path, relay_one_way: float | None = None) -> tuple[HumdProcess, HumdProcess, LatencyRelay | None]:
    assert (await asyncio.to_thread(hum, "operator", "init", "--name", "laptop", home=tmp / "laptop")).returncode == 0
    laptop = HumdProcess(tmp / "laptop", free_port())
    await laptop.start()
    relay = None
    if relay_one_way is not None:
        relay = LatencyRelay(("127.0.0.1", laptop.port), relay_one_way)
        await relay.start()
    await pair_devices(laptop, tmp / "phone", via=relay.port if relay else None)
    phone = HumdProcess(tmp / "phone", free_port())
    await phone.start()
    await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
    return laptop, phone, relay


async def whole_log(humd: HumdProcess, sg: str) -> list[Tone]:
    reader = await Nestler.open(humd, "auditor")
    reader.client.send(Tone(chi="attach", sigil=sg, since=0))
    _, hello = await reader.wait_for(lambda t: t.chi in ("hello", "error"))
    assert hello.chi == "hello", f"{humd.home.name} refused the attach: {hello}"  # an answer, not a 20 s wait
    if hello["wane"]:
        await reader.wait_for(lambda t: is_petal(t) and t["wane"] == hello["wane"])
    reader.close()
    return [t for _, t in reader.seen if is_petal(t)]


def test_adopting_while_the_home_is_linked_is_refused_unless_forced(tmp_path):
    async def story() -> None:
        laptop, phone, _ = await two_devices(tmp_path)
        try:
            out = await asyncio.to_thread(hum, "prompt", "--sid", "alive", "hello", "--json", home=laptop.home)
            sg = json.loads(out.stdout.splitlines()[-1])["sigil"]
            await whole_log(phone, sg)  # the phone holds a replica
            refused = await asyncio.to_thread(hum, "adopt", sg, home=phone.home)
            assert refused.returncode == 2 and "home-alive" in refused.stderr and "laptop" in refused.stderr
            forced = json.loads((await asyncio.to_thread(hum, "adopt", sg, "--force", "--json", home=phone.home)).stdout)
            assert (forced["home"], forced["epoch"]) == (phone.info["humdId"], 1)
            deadline = time.monotonic() + WAIT
            while next(h for h in laptop.get("/hum/hums")["hums"] if h["sigil"] == sg)["home"] != phone.info["humdId"]:
                assert time.monotonic() < deadline, "the laptop never learned that the hum moved"
                await asyncio.sleep(0.05)
        finally:
            await phone.stop()
            await laptop.stop()

    asyncio.new_event_loop().run_until_complete(story())


def test_adopting_during_a_partition_keeps_the_old_homes_tail_aside_and_both_converge(tmp_path):
    async def story() -> None:
        laptop, phone, relay = await two_devices(tmp_path, relay_one_way=0.005)
        assert relay is not None
        try:
            oc = await Nestler.open(laptop, "opencode")
            oc.client.send(Tone(chi="prompt", sid="split", text="first"))
            _, fin = await oc.wait_for(lambda t: t.chi == "finish")
            sg = fin["sigil"]
            ai = await Nestler.open(phone, "vercel-ai")
            ai.client.send(Tone(chi="attach", sigil=sg, since=0))
            await ai.wait_for(lambda t: is_petal(t) and t["wane"] == fin["wane"])
            relay.hold()  # the Wi-Fi dies: no reset, only silence
            await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
            adopted = json.loads((await asyncio.to_thread(hum, "adopt", sg, "--json", home=phone.home)).stdout)
            assert adopted["epoch"] == 1
            oc.client.send(Tone(chi="prompt", sigil=sg, text="on the laptop, cut off"))
            _, branch_end = await oc.wait_for(lambda t: t.chi == "finish" and t["wane"] > fin["wane"])
            relay.hold(False)
            deadline = time.monotonic() + WAIT
            while True:
                laptop_log, phone_log = await whole_log(laptop, sg), await whole_log(phone, sg)
                kept = laptop.get(f"/hum/hums/{sg}/orphans")["orphans"]
                if laptop_log == phone_log and any(t.chi == "note" for t in phone_log):
                    break
                assert time.monotonic() < deadline, (len(laptop_log), len(phone_log), len(kept))
                await asyncio.sleep(0.1)
            branch = branch_end["wane"] - fin["wane"]
            assert [o["wane"] for o in kept] == list(range(fin["wane"] + 1, branch_end["wane"] + 1))
            (note,) = [t for t in phone_log if t.chi == "note"]
            assert note["orphaned"]["count"] == branch and note["orphaned"]["device"] == laptop.info["humdId"]
            shown = json.loads((await asyncio.to_thread(hum, "show", sg, "--orphans", "--json", home=laptop.home)).stdout)
            assert len(shown["orphans"]) == branch and len(shown["petals"]) == len(phone_log)
            oc.close()
            ai.close()
            # the new home goes away: the laptop still shows the log it holds and the branch it keeps
            await phone.stop()
            await laptop.wait_peers(lambda p: p == [])
            away = await asyncio.to_thread(hum, "show", sg, "--orphans", "--json", home=laptop.home)
            shown = json.loads(away.stdout)
            assert away.returncode == 0 and len(shown["orphans"]) == branch, away.stderr
            assert len(shown["petals"]) == len(phone_log), away.stderr
        finally:
            await relay.close()
            await phone.stop()
            await laptop.stop()

    asyncio.new_event_loop().run_until_complete(story())


def test_two_devices_adopting_at_once_settle_on_one_home_when_they_meet(tmp_path):
    """Laptop, phone and tablet: the laptop dies, phone and tablet are cut off from each other, both adopt."""

    async def story() -> None:
        laptop, phone, relay = await two_devices(tmp_path, relay_one_way=0.005)
        assert relay is not None
        tablet = HumdProcess(tmp_path / "tablet", free_port())
        try:
            await pair_devices(laptop, tablet.home)
            await tablet.start()
            await tablet.wait_peers(lambda p: p == [laptop.info["humdId"]])
            # the phone reaches the tablet through the relay, which can be held to cut them apart
            tablet_relay = LatencyRelay(("127.0.0.1", tablet.port), 0.005)
            await tablet_relay.start()
            out = await asyncio.to_thread(hum, "prompt", "--sid", "both", "hello", "--json", home=laptop.home)
            sg = json.loads(out.stdout.splitlines()[-1])["sigil"]
            await whole_log(phone, sg)
            await whole_log(tablet, sg)
            await phone.stop()
            phone.proc = None
            phone_relayed = HumdProcess(phone.home, phone.port, extra=["--peer", f"127.0.0.1:{tablet_relay.port}"])
            await phone_relayed.start()
            await phone_relayed.wait_peers(lambda p: sorted(p) == sorted([laptop.info["humdId"], tablet.info["humdId"]]))
            laptop.kill()
            await laptop.proc.wait()
            tablet_relay.hold()
            relay.hold()
            await asyncio.sleep(0)
            for device in (phone_relayed, tablet):
                deadline = time.monotonic() + WAIT
                while (await asyncio.to_thread(hum, "adopt", sg, "--json", home=device.home)).returncode != 0:
                    assert time.monotonic() < deadline, "adoption kept being refused"
                    await asyncio.sleep(0.2)
            for device in (phone_relayed, tablet):
                assert (await asyncio.to_thread(hum, "prompt", "--sigil", sg, f"on {device.home.name}", "--json", home=device.home)).returncode == 0
            tablet_relay.hold(False)  # they meet
            winner = max(phone_relayed.info["humdId"], tablet.info["humdId"])
            loser = phone_relayed if phone_relayed.info["humdId"] != winner else tablet
            deadline = time.monotonic() + WAIT
            while True:
                homes = {d.home.name: next(h for h in d.get("/hum/hums")["hums"] if h["sigil"] == sg)["home"] for d in (phone_relayed, tablet)}
                logs = [await whole_log(d, sg) for d in (phone_relayed, tablet)]
                if set(homes.values()) == {winner} and logs[0] == logs[1]:
                    break
                assert time.monotonic() < deadline, homes
                await asyncio.sleep(0.2)
            assert loser.get(f"/hum/hums/{sg}/orphans")["orphans"]  # its side of the fork is kept, not merged
            await tablet_relay.close()
            await phone_relayed.stop()
        finally:
            await relay.close()
            await tablet.stop()
            await phone.stop()
            await laptop.stop()

    asyncio.new_event_loop().run_until_complete(story())
