"""Devices are named as their person named them, not in hex: `/v1` says who answered an ask (real processes)."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from hum.demo.roam_real import HumdProcess, Nestler, free_port, hum_command, pair_devices
from hum.wire.tones import Tone

# One prompt, one ask answered from the phone: a few seconds; a hang fails here.
STEP = 30.0


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*hum_command(), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), STEP)
    return proc.returncode or 0, out.decode(), err.decode()


def chat(base: str, text: str) -> str:
    body = json.dumps({"model": "scripted", "messages": [{"role": "user", "content": text}]}).encode()
    request = urllib.request.Request(base + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=STEP) as response:
        return str(json.loads(response.read())["choices"][0]["message"]["content"])


async def test_v1_says_the_phone_by_name_when_it_answered_the_ask(tmp_path):
    code, _, err = await cli("operator", "init", "--home", str(tmp_path / "laptop"), "--name", "laptop")
    assert code == 0, err
    laptop = HumdProcess(tmp_path / "laptop", free_port(), env={"HUM_SCRIPTED_ASK": "touch named.txt"})
    phone = HumdProcess(tmp_path / "phone", free_port())
    try:
        await laptop.start()
        await pair_devices(laptop, phone.home)
        await phone.start()
        await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
        watcher = await Nestler.open(laptop, "watcher")
        answer = asyncio.ensure_future(asyncio.to_thread(chat, laptop.info["http"], "make a file"))
        while not (hums := (await asyncio.to_thread(laptop.get, "/hum/hums"))["hums"]):
            await asyncio.sleep(0.05)  # a poll of a condition: the /v1 request has minted its hum
        sigil = hums[0]["sigil"]
        watcher.client.send(Tone(chi="attach", sigil=sigil, since=0))
        _, ask = await asyncio.wait_for(watcher.wait_for(lambda t: t.chi == "permission-ask"), STEP)
        code, _, err = await cli("approve", sigil, ask["permitId"], "--home", str(phone.home))
        assert code == 0, err
        text = await asyncio.wait_for(answer, STEP)
        assert f"[hum] allowed by phone ({phone.info['humdId'][:8]})" in text, text
        watcher.close()
    finally:
        await phone.stop()
        await laptop.stop()
