"""The web chat on the phone carries a hum on when its home is gone: "Continue on this device"."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from client_helpers import JS_DIR, TEST_OUTPUT, need_npm
from surface_helpers import scripted_brood

from hum.wire.tones import sigil

# Chromium start-up, the banner, one bloom on the phone.
BROWSER_TIMEOUT = 60.0


async def test_continue_on_this_device_adopts_the_hum_and_the_phone_answers(sim, served):
    base = need_npm("playwright-core")
    laptop = await sim.spawn("laptop", brood=scripted_brood(40))
    phone = await sim.spawn("phone", brood=scripted_brood(40))
    await sim.link(phone, laptop)
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="walk", text="tell me about the walk home")
    sg = sigil(laptop.nest, "walk")
    first = await oc.wait_for(lambda t: t.chi == "finish")
    watcher = sim.nestler(phone, "watcher")  # the phone holds the hum's petals
    watcher.send("attach", sigil=sg, since=0)
    await watcher.wait_for(lambda t: t.get("wane") == first.tone["wane"] and t.chi == "finish")
    await sim.kill(laptop)
    await watcher.wait_for(lambda t: t.get("qualifier") == "peer-loss")
    srv = await served(phone)
    TEST_OUTPUT.mkdir(exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        "node", str(JS_DIR / "webchat_adopt.mjs"),
        env={**os.environ, "HUM_NPM_DIR": str(base), "HUM_URL": srv.url, "HUM_SIGIL": sg, "HUM_SHOTS": str(TEST_OUTPUT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), BROWSER_TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
    if proc.returncode != 0:
        pytest.fail(f"webchat_adopt.mjs failed:\n{err.decode()[-3000:]}")
    seen = json.loads(out.decode().strip().splitlines()[-1])
    assert "Continue on this device" in seen["banner"]
    hum = phone.hums[sg]
    assert (hum.home, hum.epoch) == (phone.id, 1)
    prompts = [p for p in hum.petals if p.chi == "prompt"]
    assert prompts[-1].body["text"] == "carry on here" and hum.petals[-1].chi == "finish"
    assert seen["answers"] == 2 and seen["last"]
    # each prompt says where it was typed, before the move and after it
    first_origin, second_origin = seen["origins"]
    assert "from opencode on" in first_origin and laptop.id[:8] in first_origin  # the laptop, not "this device"
    assert "on this device" in second_origin
