"""The web chat at a phone's size with its humd SIGKILLed: the last-seen petals stay, read-only under a banner
(even across a reload), and the page is live again within 2 s of the humd's return."""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import pytest
from client_helpers import TEST_OUTPUT, StepScript, need_chromium
from humd_helpers import HUM, HumUp, free_port, init_home

pytestmark = pytest.mark.slow

# Chromium start-up, a reload while the humd is gone, its restart.
BROWSER_TIMEOUT = 90.0
# The page must be live again this soon after the humd is back.
LIVE_AGAIN_WITHIN = 2.0


async def test_the_phone_keeps_the_last_seen_petals_while_its_humd_is_gone(tmp_path):
    need_chromium()
    TEST_OUTPUT.mkdir(exist_ok=True)
    home = init_home(tmp_path / "laptop")
    port = free_port()  # the page reconnects to the same address
    humd = HumUp(home, "--http", f"127.0.0.1:{port}")
    try:
        made = await asyncio.create_subprocess_exec(*HUM, "prompt", "--sid", "walk", "tell me about the walk", "--json", "--home", str(home), stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(made.communicate(), BROWSER_TIMEOUT)
        sigil = json.loads(out.decode().splitlines()[-1])["sigil"]
        shutil.rmtree(tmp_path / "chromium", ignore_errors=True)
        env = {"HUM_URL": humd.http, "HUM_SIGIL": sigil, "HUM_SHOTS": str(TEST_OUTPUT), "HUM_USER_DATA": str(tmp_path / "chromium")}
        async with StepScript("webchat_offline.mjs", env) as js, asyncio.timeout(BROWSER_TIMEOUT):
            read = await js.step()
            assert read["step"] == "read" and read["text"]
            humd.proc.kill()  # SIGKILL: no goodbye
            humd.proc.wait()
            await js.go()
            offline = await js.step()
            assert offline["step"] == "offline" and offline["kept"] == offline["reloaded"] == read["text"]
            assert "Cannot reach hum on laptop" in offline["banner"] and offline["status"] == "offline" and offline["sendBlocked"]

            humd = HumUp(home, "--http", f"127.0.0.1:{port}")
            back_at = time.time()
            await js.go()
            live = await js.step()
            assert live["step"] == "live" and live["text"] == read["text"] and live["answers"] == 1  # nothing twice
            assert live["liveAt"] / 1000 - back_at < LIVE_AGAIN_WITHIN
            await js.finish()
    finally:
        humd.stop()
