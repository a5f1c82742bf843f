"""The web chat in headless Chromium on a phone-sized viewport, reading a hum that lives on another humd."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from client_helpers import JS_DIR, TEST_OUTPUT, need_npm
from surface_helpers import assistant_texts, scripted_brood

from hum.store.sqlite import SqliteStore
from hum.wire.tones import sigil

CHROMIUM = Path("/usr/bin/chromium")
# Chromium start-up, two blooms and a reconnect.
BROWSER_TIMEOUT = 90.0


async def test_phone_web_chat_follows_reloads_and_shows_peer_loss(sim, served, tmp_path):
    base = need_npm("playwright-core")
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing; run `make test` (it installs it once)")
    laptop_db = tmp_path / "laptop.db"  # on disk, so the laptop can come back with its hum
    laptop = await sim.spawn("laptop", brood=scripted_brood(15), store=SqliteStore(laptop_db))  # ~3 s per bloom: room to reload mid-way
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    oc = sim.nestler(laptop, "opencode")
    sg = sigil(laptop.nest, "walk")
    srv = await served(phone)
    TEST_OUTPUT.mkdir(exist_ok=True)
    shutil.rmtree(tmp_path / "chromium", ignore_errors=True)

    proc = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / "webchat.mjs"),
        env={
            **os.environ,
            "HUM_NPM_DIR": str(base),
            "HUM_URL": srv.url,
            "HUM_SIGIL": sg,
            "HUM_SHOTS": str(TEST_OUTPUT),
            "HUM_USER_DATA": str(tmp_path / "chromium"),
        },
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )

    async def step() -> dict:
        line = await proc.stdout.readline()
        if not line:
            err = await proc.stderr.read()
            pytest.fail(f"webchat.mjs ended early:\n{err.decode()[-3000:]}")
        return json.loads(line)

    async def go() -> None:
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()

    try:
        async with asyncio.timeout(BROWSER_TIMEOUT):
            assert (await step())["step"] == "ready"  # the browser is up: bloom now
            oc.send("prompt", sid="walk", text="tell me about the walk home")
            await oc.wait_for(lambda t: t.chi == "chunk", timeout=10)
            await go()
            finished = await step()
            assert finished["step"] == "finished"
            text = assistant_texts(laptop, sg)[0]
            assert 0 < len(finished["midText"]) < len(text)  # the reload really was mid-bloom
            assert finished["finalText"] == text  # nothing lost, nothing twice
            assert (finished["users"], finished["assistants"]) == (1, 1)

            oc.send("prompt", sigil=sg, text="and then?")
            await oc.wait_for(lambda t: t.chi == "chunk" and t["wane"] > 43, timeout=10)  # wane 43 is the new prompt
            await sim.kill(laptop)
            await go()
            lost = await step()
            assert lost["step"] == "lost"
            assert "Lost the device that hosts this hum" in lost["banner"]
            assert lost["assistants"] == 2  # the text so far stays on screen

            # the laptop comes back from its store; the page notices by itself
            back = await sim.spawn("laptop", identity=laptop.identity, brood=scripted_brood(15), store=SqliteStore(laptop_db))
            await sim.link(back, phone)
            await go()
            healed = await step()
            assert healed["step"] == "recovered"
            assert "interrupted" in healed["notice"]  # the home closed the bloom it lost
            assert healed["assistants"] == 2 and healed["status"] == "live"
            proc.stdin.close()
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, (await proc.stderr.read()).decode()[-3000:]
    assert (TEST_OUTPUT / "webchat-phone.png").stat().st_size > 10_000
