"""Bad days with real processes: a full disk, a prompt with odd field names, kill -9 with prompts queued."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hum.demo.roam_real import HumdProcess, Nestler, free_port, pair_devices
from hum.wire.tones import Tone

HUM = [sys.executable, "-m", "hum.cli"]
# Room for the identity, the socket and a small store, and little else: easy to fill.
DISK_BYTES = 4 * 1024 * 1024
WAIT = 30.0


def hum(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUM, *args, "--home", str(home)], capture_output=True, text=True, timeout=WAIT)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem of its own (tmpfs, 4 MiB) that a test can fill to the last byte."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem refuses (ENOSPC)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


async def poll(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


def run(coro) -> None:
    asyncio.new_event_loop().run_until_complete(coro)


def test_a_full_disk_is_said_on_the_taps_and_delivery_resumes_by_itself_when_space_returns(small_disk):
    home = small_disk / "laptop"
    assert hum("operator", "init", "--name", "laptop", home=home).returncode == 0

    async def story() -> None:
        laptop = HumdProcess(home, free_port())
        await laptop.start()
        try:
            oc = await Nestler.open(laptop, "opencode")
            oc.client.send(Tone(chi="prompt", sid="disk", text="before"))
            _, first = await oc.wait_for(lambda t: t.chi == "finish")
            sg = first["sigil"]
            filler = fill(small_disk)
            mark = len(oc.seen)
            oc.client.send(Tone(chi="prompt", sigil=sg, text="while full"))
            _, fault = await oc.wait_for(lambda t: t.chi == "error" and "wane" not in t, after=mark)
            assert (fault["code"], fault["qualifier"], fault["sigil"]) == ("store-error", "disk-full", sg)
            status = json.loads(hum("status", "--json", home=home).stdout)
            assert status["store"]["ok"] is False and status["store"]["fault"] == "disk-full"
            # minting a new hum on a full disk keeps the connection and answers
            other = await Nestler.open(laptop, "other")
            other.client.send(Tone(chi="prompt", sid="minted-while-full", text="hello"))
            # the second bloom runs to its end in memory while nothing can be stored
            expected_tip = first["wane"] + 42  # prompt, 40 words, finish
            await poll(lambda: any(h["sigil"] == sg and h["wane"] == expected_tip for h in laptop.get("/hum/hums")["hums"]), "bloom never ended")
            filler.unlink()  # space returns; nothing else is appended
            _, second = await oc.wait_for(lambda t: t.chi == "finish" and t["wane"] == expected_tip, after=mark)
            assert oc.wanes(sg) == list(range(1, second["wane"] + 1))  # none lost, none twice, in order
            _, minted = await other.wait_for(lambda t: t.chi == "finish")
            assert minted["usage"]["output_tokens"] > 0
            await poll(lambda: laptop.get("/hum/status")["store"]["ok"], "store never recovered")
            oc.close()
            other.close()
        finally:
            await laptop.stop()

    run(story())


def test_prompt_fields_named_like_python_parameters_are_stored_and_never_take_the_link_down(tmp_path):
    """Sent from the phone into the laptop's hum, `self`, `hum`, `kwargs`, `body` are plain data."""
    laptop_home, phone_home = tmp_path / "laptop", tmp_path / "phone"
    assert hum("operator", "init", "--name", "laptop", home=laptop_home).returncode == 0

    async def story() -> None:
        laptop = HumdProcess(laptop_home, free_port())
        await laptop.start()
        phone = None
        try:
            await pair_devices(laptop, phone_home)
            phone = HumdProcess(phone_home, free_port())
            await phone.start()
            await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
            oc = await Nestler.open(laptop, "opencode")
            oc.client.send(Tone({"chi": "prompt", "sid": "odd", "text": "one", "self": 1, "hum": 2}))
            _, first = await oc.wait_for(lambda t: t.chi == "finish")
            sg = first["sigil"]
            ai = await Nestler.open(phone, "vercel-ai")
            ai.client.send(Tone({"chi": "prompt", "sigil": sg, "text": "two", "self": "x", "kwargs": {"a": 1}, "body": [1], "hum": None}))
            _, prompt = await ai.wait_for(lambda t: t.chi == "prompt" and t.get("text") == "two")
            assert (prompt["self"], prompt["kwargs"], prompt["body"], prompt["hum"]) == ("x", {"a": 1}, [1], None)
            assert prompt["from"] == phone.info["humdId"]
            await ai.wait_for(lambda t: t.chi == "finish" and t["wane"] > first["wane"])
            assert not [t for _, t in ai.seen + oc.seen if t.get("qualifier") == "peer-loss"]
            assert laptop.get("/hum/peers")["peers"] == [phone.info["humdId"]]
            ai.close()
            oc.close()
        finally:
            if phone is not None:
                await phone.stop()
            await laptop.stop()

    run(story())


def test_prompts_queued_behind_a_bloom_survive_kill_9(tmp_path):
    home = tmp_path / "laptop"
    assert hum("operator", "init", "--name", "laptop", home=home).returncode == 0
    queued_count = 8  # each runs a 0.8 s bloom after the restart

    async def story() -> None:
        laptop = HumdProcess(home, free_port())
        await laptop.start()
        cli = await Nestler.open(laptop, "cli")
        cli.client.send(Tone(chi="prompt", sid="queue", text="first"))
        _, hello = await cli.wait_for(lambda t: t.chi == "hello")
        sg = hello["sigil"]
        for i in range(queued_count):
            cli.client.send(Tone(chi="prompt", sigil=sg, text=f"queued {i}", reqId=f"q{i}"))
        # each queued prompt is acknowledged once it is stored
        for i in range(queued_count):
            await cli.wait_for(lambda t, i=i: t.chi == "queued" and t.get("reqId") == f"q{i}")
        laptop.kill()
        await laptop.proc.wait()
        cli.close()
        again = HumdProcess(home, free_port())
        await again.start()
        try:
            watcher = await Nestler.open(again, "watcher")
            watcher.client.send(Tone(chi="attach", sigil=sg, since=0))
            texts: list[str] = []
            while len(texts) < queued_count + 1:
                _, tone = await watcher.wait_for(lambda t: t.chi == "prompt", after=len(watcher.seen))
                texts.append(tone["text"])
            assert texts == ["first"] + [f"queued {i}" for i in range(queued_count)]
            watcher.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                await again.stop()

    run(story())


def test_a_local_client_may_not_pass_itself_off_as_another_device(tmp_path):
    home = tmp_path / "laptop"
    assert hum("operator", "init", "--name", "laptop", home=home).returncode == 0

    async def story() -> None:
        laptop = HumdProcess(home, free_port())
        await laptop.start()
        try:
            reader, writer = await asyncio.open_unix_connection(str(laptop.thrum))
            other = "ab" * 32
            writer.write(json.dumps({"chi": "hello", "rid": "h1", "from": f"humd_{other}"}).encode() + b"\n")
            writer.write(json.dumps({"chi": "hello", "rid": "h2", "from": "opencode"}).encode() + b"\n")
            refused, greeted = json.loads(await reader.readline()), json.loads(await reader.readline())
            assert (refused["code"], refused["qualifier"], refused["rid"]) == ("bad-tone", "bad-field", "h1")
            assert (greeted["chi"], greeted["rid"]) == ("breath", "h2")  # a name of its own is fine, on the same connection
            writer.close()
        finally:
            await laptop.stop()

    run(story())


def test_hum_adopt_on_a_full_disk_says_so_and_adopted_is_said_only_once_it_survives_kill_9(tmp_path, small_disk):
    laptop_home, phone_home = tmp_path / "laptop", small_disk / "phone"
    assert hum("operator", "init", "--name", "laptop", home=laptop_home).returncode == 0

    async def story() -> None:
        laptop = HumdProcess(laptop_home, free_port())
        await laptop.start()
        phone = None
        try:
            await pair_devices(laptop, phone_home)
            phone = HumdProcess(phone_home, free_port())
            await phone.start()
            await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
            out = await asyncio.to_thread(hum, "prompt", "--sid", "full", "hello", "--json", home=laptop_home)
            sg = json.loads(out.stdout.splitlines()[-1])["sigil"]
            reader = await Nestler.open(phone, "reader")
            reader.client.send(Tone(chi="attach", sigil=sg, since=0))
            _, hello = await reader.wait_for(lambda t: t.chi == "hello")
            await reader.wait_for(lambda t: t.get("wane") == hello["wane"] and t.chi != "hello")
            reader.close()
            await laptop.stop()

            filler = fill(small_disk)
            full = await asyncio.to_thread(hum, "adopt", sg, home=phone_home)
            assert full.returncode != 0 and "disk-full" in full.stderr and "not stored" in full.stderr, (full.stdout, full.stderr)
            filler.unlink()
            await poll(lambda: phone.get("/hum/status")["store"]["ok"], "the store never recovered")
            done = await asyncio.to_thread(hum, "adopt", sg, home=phone_home)
            assert done.returncode == 0 and "homed on this device now" in done.stdout, done.stderr
            phone.kill()
            await phone.proc.wait()
            phone = HumdProcess(phone_home, free_port())
            await phone.start()
            (held,) = [h for h in phone.get("/hum/hums")["hums"] if h["sigil"] == sg]
            assert (held["home"], held["epoch"]) == (phone.info["humdId"], 1)  # what it was told is what it kept
        finally:
            if phone is not None:
                with contextlib.suppress(ProcessLookupError):
                    await phone.stop()
            await laptop.stop()

    run(story())
