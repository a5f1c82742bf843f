"""Devices are named as their person named them, not in hex: `/v1` says who answered an ask (real processes)."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from humd_helpers import laptop_and_phone

from hum.demo.roam_real import Nestler, hum_command
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
    async with laptop_and_phone(tmp_path, laptop_env={"HUM_SCRIPTED_ASK": "touch named.txt"}) as (laptop, phone):
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
