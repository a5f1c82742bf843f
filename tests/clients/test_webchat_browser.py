"""The web chat in headless Chromium on a phone-sized viewport, reading a hum that lives on another humd."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from client_helpers import TEST_OUTPUT, StepScript, need_npm, run_node
from surface_helpers import asked_on_laptop, assistant_texts, scripted_brood

from hum.brood.scripted import default_reply
from hum.store.sqlite import SqliteStore
from hum.wire.tones import sigil

CHROMIUM = Path("/usr/bin/chromium")
# Chromium start-up, two blooms, the laptop away for a while and a reconnect.
BROWSER_TIMEOUT = 90.0
# Words per answer and their pace: 4 s per bloom, room to reload mid-way, and enough text
# that the conversation is taller than a phone's screen; the follow-up the page sends gets
# twice as long, room to scroll back and jump down mid-way on a busy machine.
REPLY_WORDS = 160
FOLLOW_UP = "and then?"
REPLY_TPS = 40
# A first prompt of this many lines: a conversation much taller than the screen from the start.
PROMPT_LINES = 25
# How long the laptop stays away: longer than a first timed retry (2 s) would wait, as a walk would be.
HOME_AWAY_SECONDS = 2.5
# The page must be live again this soon after the laptop is linked again.
LIVE_AGAIN_WITHIN = 2.0


def long_reply(prompt: str) -> str:
    return default_reply(prompt, 2 * REPLY_WORDS if prompt == FOLLOW_UP else REPLY_WORDS)


async def test_phone_web_chat_follows_reloads_and_shows_peer_loss(sim, served, tmp_path):
    need_npm("playwright-core")
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing; run `make test` (it installs it once)")
    laptop_db = tmp_path / "laptop.db"  # on disk, so the laptop can come back with its hum
    laptop = await sim.spawn("laptop", brood=scripted_brood(REPLY_TPS, long_reply), store=SqliteStore(laptop_db))
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    oc = sim.nestler(laptop, "opencode")
    sg = sigil(laptop.nest, "walk")
    srv = await served(phone)
    TEST_OUTPUT.mkdir(exist_ok=True)
    shutil.rmtree(tmp_path / "chromium", ignore_errors=True)

    env = {"HUM_URL": srv.url, "HUM_SIGIL": sg, "HUM_FOLLOW_UP": FOLLOW_UP, "HUM_SHOTS": str(TEST_OUTPUT), "HUM_USER_DATA": str(tmp_path / "chromium")}
    async with StepScript("webchat.mjs", env) as js, asyncio.timeout(BROWSER_TIMEOUT):
        assert (await js.step())["step"] == "ready"  # the browser is up: bloom now
        walk = "tell me about the walk home\n" + "\n".join(f"step {n}" for n in range(1, PROMPT_LINES))
        oc.send("prompt", sid="walk", text=walk)
        await oc.wait_for(lambda t: t.chi == "chunk", timeout=10)
        await js.go()
        finished = await js.step()
        assert finished["step"] == "finished"
        text = assistant_texts(laptop, sg)[0]
        assert 0 < len(finished["midText"]) < len(text)  # the reload really was mid-bloom
        assert finished["finalText"] == text  # nothing lost, nothing twice
        assert (finished["users"], finished["assistants"]) == (1, 1)
        assert finished["overflows"] and finished["atBottom"]  # opened at the newest line of a long hum

        first_finish = await oc.wait_for(lambda t: t.chi == "finish")
        await js.go()  # the page sends the follow-up
        sent = await js.step()
        assert sent["step"] == "sent"
        assert sent["followed"]  # the view follows the answer being written
        assert sent["stayedUp"]  # ...but not while the reader scrolls back
        assert sent["jumped"]  # "↓ new" takes them to the newest text
        assert sent["origins"] == [f"from opencode on laptop ({laptop.id[:8]})", "from this device"]  # devices by name
        asked = await oc.wait_for(lambda t: t.chi == "prompt" and t["wane"] > first_finish.tone["wane"])
        assert asked.tone["text"] == FOLLOW_UP and asked.tone["from"] == phone.id
        assert laptop.hums[sg].bloom_open  # still answering
        await sim.kill(laptop)
        await js.go()
        lost = await js.step()
        assert lost["step"] == "lost"
        assert "Lost the device that hosts this hum" in lost["banner"]
        assert lost["assistants"] == 2  # the text so far stays on screen

        # the laptop stays away a while, then comes back from its store; the page notices by itself
        await asyncio.sleep(HOME_AWAY_SECONDS)  # the scenario's time passing, not a wait for anything
        back = await sim.spawn("laptop", identity=laptop.identity, brood=scripted_brood(REPLY_TPS, long_reply), store=SqliteStore(laptop_db))
        await sim.link(back, phone)
        relinked_at = time.time()
        await js.go()
        healed = await js.step()
        assert healed["step"] == "recovered"
        assert healed["liveAt"] / 1000 - relinked_at < LIVE_AGAIN_WITHIN
        assert "interrupted" in healed["notice"]  # the home closed the bloom it lost
        assert healed["assistants"] == 2 and healed["status"] == "live"
        await js.finish()
    assert (TEST_OUTPUT / "webchat-phone.png").stat().st_size > 10_000


async def test_the_phone_web_chat_allows_what_the_laptop_worker_asks(sim, served, tmp_path):
    need_npm("playwright-core")
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing; run `make test` (it installs it once)")
    asked = await asked_on_laptop(sim, REPLY_TPS)
    laptop, phone, ask = asked.laptop, asked.phone, asked.ask
    srv = await served(phone)
    TEST_OUTPUT.mkdir(exist_ok=True)
    out = await run_node("webchat_approve.mjs", {"HUM_URL": srv.url, "HUM_SIGIL": ask["sigil"], "HUM_SHOTS": str(TEST_OUTPUT), "HUM_USER_DATA": str(tmp_path / "chromium")}, BROWSER_TIMEOUT)

    assert out["shown"]["question"] == "May I run `touch approved.txt`?"
    assert '"command": "touch approved.txt"' in out["shown"]["input"] and out["shown"]["input"].startswith("Bash")
    assert out["shown"]["buttons"] == ["Allow", "Deny"]
    assert out["after"]["decision"] == "Allowed by this device" and out["after"]["buttonsLeft"] == 0
    (permit,) = [p for p in laptop.hums[ask["sigil"]].petals if p.chi == "permit"]
    assert (permit.body["decision"], permit.body["from"]) == ("allow", phone.id)
    before, after = out["after"]["answers"]  # the answer goes on below the ask
    assert before + " " + after == assistant_texts(laptop, ask["sigil"])[0]
    assert after.startswith("(ran touch approved.txt)")  # the worker was told
