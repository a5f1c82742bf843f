"""The phone's web chat in headless Chromium gets Claude Code's ask as a push, and its Allow makes the tool run on the laptop.

Real processes (two `hum up`), the real Claude Code CLI (against the Anthropic
double: no model is reachable here), a push service double that checks VAPID
and decrypts, and the page's own service worker showing the notification.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from client_helpers import JS_DIR, TEST_OUTPUT, need_npm

from hum.demo.push_service import PushService
from hum.demo.roam_real import HumdProcess, Nestler, free_port, pair_devices, run_cli
from hum.wire.tones import Tone

sys.path.insert(0, str(Path(__file__).parent.parent / "brood"))
sys.path.insert(0, str(Path(__file__).parent.parent / "daemon"))
from anthropic_double import AnthropicDouble  # noqa: E402 - the brood tests' double
from claude_helpers import claude_env, touch_what_was_asked  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# Chromium's start, Claude Code's start and one tool run.
STEP_TIMEOUT = 90.0


async def test_allow_from_the_lock_screen_runs_claudes_tool_on_the_laptop_once(tmp_path):
    base = need_npm("playwright-core")
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing; run `make test` (it installs it once)")
    double = AnthropicDouble(reply=touch_what_was_asked)
    await double.start()
    push = await PushService().start()
    work = tmp_path / "project"
    work.mkdir()
    env = claude_env(tmp_path, double, work)
    code, _, err = await run_cli("operator", "init", "--home", str(tmp_path / "laptop"), "--name", "laptop", "--json")
    assert code == 0, err
    laptop = HumdProcess(tmp_path / "laptop", free_port(), worker="claude-cli", env=env)
    phone = HumdProcess(tmp_path / "phone", free_port())
    browser = None
    nestlers: list[Nestler] = []
    try:
        await laptop.start()
        await pair_devices(laptop, phone.home)
        await phone.start()
        await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
        url = phone.info["http"]
        TEST_OUTPUT.mkdir(exist_ok=True)
        shutil.rmtree(tmp_path / "chromium", ignore_errors=True)
        browser = await asyncio.create_subprocess_exec(
            "node", str(JS_DIR / "webchat_push.mjs"),
            env={**os.environ, "HUM_NPM_DIR": str(base), "HUM_URL": url, "HUM_USER_DATA": str(tmp_path / "chromium"), "HUM_SHOTS": str(TEST_OUTPUT)},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )

        async def step() -> dict:
            assert browser is not None and browser.stdout is not None
            line = await asyncio.wait_for(browser.stdout.readline(), STEP_TIMEOUT)
            if not line:
                err = await browser.stderr.read() if browser.stderr else b""
                pytest.fail(f"webchat_push.mjs ended early:\n{err.decode()[-3000:]}")
            return json.loads(line)

        ready = await step()
        assert ready["controlled"] == f"{url}/sw.js"  # the worker controls the page, from the root scope
        assert ready["manifest"]["errors"] == [] and ready["manifest"]["data"]["name"] == "hum"
        assert ready["installabilityErrors"] == []
        # headless Chromium reaches no push service: its subscribe fails (AbortError) or never answers
        assert ready["subscribeSaid"].startswith(("not subscribed: AbortError", "not subscribed: TimeoutError")), ready["subscribeSaid"]
        assert "GET /hum/push/key" in ready["asked"]

        # the subscription a push service would have made for this browser
        push.vapid_key = phone.get("/hum/push/key")["publicKey"]
        sub = await asyncio.to_thread(_post_json, f"{url}/hum/push/subscriptions", push.subscription("phone"))
        assert sub["id"].startswith("sub-")

        oc = await Nestler.open(laptop, "opencode")
        nestlers.append(oc)
        oc.client.send(Tone(chi="prompt", sid="project", text="create approved.txt", rid="p1"))
        _, ask = await oc.wait_for(lambda t: t.chi == "permission-ask")
        await push.wait_for(lambda got: any(g["payload"]["kind"] == "ask" for g in got), STEP_TIMEOUT)
        (pushed,) = push.payloads("phone", "ask")
        assert (pushed["permitId"], pushed["sigil"]) == (ask["permitId"], ask["sigil"])
        assert not (work / "approved.txt").exists()

        browser.stdin.write((json.dumps({"deliver": pushed, "then": "allow"}) + "\n").encode())
        answered = await step()
        assert answered["deliveries"] <= 2  # see deliverUntilShown in webchat_push.mjs
        (shown,) = answered["shown"]
        assert shown["title"] == "create approved.txt needs you" and shown["tag"] == pushed["tag"]
        assert [a["action"] for a in shown["actions"]] == ["allow", "deny"] and shown["requireInteraction"]
        assert answered["allowed"]["status"] == 200 and answered["allowed"]["said"]["decision"] == "allow"
        assert answered["again"]["status"] == 409 and answered["again"]["said"]["error"]["code"] == "already-decided"
        _, permit = await oc.wait_for(lambda t: t.chi == "permit")
        assert (permit["decision"], permit["from"]) == ("allow", phone.info["humdId"])
        await oc.wait_for(lambda t: t.chi == "finish")
        assert (work / "approved.txt").exists()  # Claude Code ran the tool, on the laptop

        await push.wait_for(lambda got: push.payloads("phone", "withdraw"), STEP_TIMEOUT)
        (withdrawal,) = push.payloads("phone", "withdraw")
        browser.stdin.write((json.dumps({"deliver": withdrawal, "then": "none"}) + "\n").encode())
        assert (await step())["left"] == 0

        # nobody watched the bloom: its finish was pushed; the list shows it unread, and a tap opens the hum
        (finished,) = push.payloads("phone", "finish")
        assert finished["title"] == "create approved.txt is done" and "actions" not in finished
        browser.stdin.write((json.dumps({"deliver": finished, "then": "open"}) + "\n").encode())
        opened = await step()
        assert opened["url"] == f"{url}/#/hum/{ask['sigil']}" and opened["unread"].strip().endswith("new")
        assert push.refused == []
    finally:
        if browser is not None and browser.returncode is None:
            browser.stdin.close()
            try:
                await asyncio.wait_for(browser.wait(), 20)
            except TimeoutError:
                browser.kill()
        for n in nestlers:
            n.close()
        await laptop.stop()
        await phone.stop()
        await double.stop()
        await push.close()


def _post_json(url: str, body: dict) -> dict:
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
