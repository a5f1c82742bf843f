"""A phone's browser joins by QR code, off loopback (a network namespace): enrolled as a device of its own,
the link spent by that first use, a hum prompted from the page, and the browser revoked alone."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import segno
from client_helpers import TEST_OUTPUT, StepScript, need_chromium
from humd_helpers import HUM, START_TIMEOUT, free_port, init_home, one_line_error
from netns_helpers import OFF_LOOPBACK, OffLoopback

# Two Chromium start-ups, an enrolment, one bloom, a revocation.
BROWSER_TIMEOUT = 90.0
# A CLI command inside the namespace: a Python start-up and one request.
CLI_TIMEOUT = 60.0

pytestmark = pytest.mark.slow


class NamespacedHumd:
    """`hum up` inside the namespace: HTTP on every address there (loopback for the CLI, OFF_LOOPBACK for the phones)."""

    def __init__(self, ns: OffLoopback, home: Path) -> None:
        self.ns, self.home, self.http_port = ns, home, free_port()
        args = [*ns.prefix, *HUM, "up", "--home", str(home), "--listen", f"127.0.0.1:{free_port()}", "--http", f"0.0.0.0:{self.http_port}",
                "--thrum", str(home / "thrum.sock"), "--worker", "scripted", "--json"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HUM_SCRIPTED_TPS": "200"})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            pytest.fail(f"hum up failed: {self.proc.communicate(timeout=START_TIMEOUT)[1]}")
        self.info = json.loads(line)

    def hum(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.ns.run(*HUM, *args, "--home", self.home, timeout=CLI_TIMEOUT)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


async def test_a_browser_joins_by_qr_code_and_is_revoked_alone(tmp_path):
    need_chromium()
    TEST_OUTPUT.mkdir(exist_ok=True)
    home = init_home(tmp_path / "laptop")
    with OffLoopback() as ns:
        humd = NamespacedHumd(ns, home)
        try:
            shown = humd.hum("pair", "--browser", "--address", OFF_LOOPBACK)
            assert shown.returncode == 0, shown.stderr
            assert f"http://{OFF_LOOPBACK}:{humd.http_port}/join/" in shown.stdout and "▀" in shown.stdout  # the QR, and the link as text
            assert "plain http://" in shown.stderr  # said once: this address is off loopback and unencrypted
            offer = humd.hum("pair", "--browser", "--json", "--address", OFF_LOOPBACK)
            assert offer.returncode == 0, offer.stderr
            link = json.loads(offer.stdout.splitlines()[0])
            assert set(link) == {"url", "code", "expires"} and link["url"].endswith(link["code"])
            svg = tmp_path / "qr.svg"
            segno.make(link["url"], error="m").save(str(svg), scale=4, border=2)
            await _phone_story(ns, humd, link["url"], svg, tmp_path)
        finally:
            humd.stop()


async def _phone_story(ns: OffLoopback, humd: NamespacedHumd, url: str, svg: Path, tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "chromium", ignore_errors=True)
    env = {"HUM_URL": url, "HUM_BASE": f"http://{OFF_LOOPBACK}:{humd.http_port}", "HUM_SHOTS": str(TEST_OUTPUT),
           "HUM_USER_DATA": str(tmp_path / "chromium"), "HUM_QR_SVG": str(svg)}
    async with StepScript("qr_enrol.mjs", env, tuple(ns.prefix)) as js, asyncio.timeout(BROWSER_TIMEOUT):
        enrolled = await js.step()
        assert enrolled["step"] == "enrolled" and enrolled["url"].endswith("/#/enrolled")
        assert enrolled["me"].startswith("This browser: Pixel 8 browser")
        assert enrolled["cookies"] == [{"name": "hum_browser", "httpOnly": True, "sameSite": "Strict", "secure": False}]
        assert enrolled["humsStatus"] == 200  # the cookie opens the surfaces the web chat uses
        devices = json.loads(humd.hum("device", "list", "--json").stdout)["devices"]
        (phone,) = [d for d in devices if d["kind"] == "browser"]
        assert phone["name"] == "Pixel 8 browser" and phone["lastSeen"] > 0
        assert [d["kind"] for d in devices if d.get("this")] == ["humd"]

        spent = await js.step()
        assert spent["step"] == "spent" and spent["status"] == 410 and "used already" in spent["text"]
        assert spent["cookies"] == 0 and spent["humsStatus"] == 401

        prompted = await js.step()
        assert prompted["step"] == "prompted" and prompted["hash"].startswith("#/hum/") and prompted["answer"]
        assert prompted["origin"] == "from Pixel 8 browser on this device"  # the prompt names the browser it was typed in

        revoked = humd.hum("device", "revoke", "Pixel 8 browser")
        assert revoked.returncode == 0, revoked.stderr
        await js.go()
        removed = await js.step()
        assert removed["step"] == "revoked" and "This browser (Pixel 8 browser) was removed from hum" in removed["text"]
        assert "hum pair --browser" in removed["text"] and not removed["composer"]
        devices = json.loads(humd.hum("device", "list", "--json").stdout)["devices"]
        assert [d["kind"] for d in devices] == ["humd"]
        # an unknown name is one clear line, and nothing changes
        assert "no device named 'Pixel 8 browser'" in one_line_error(humd.hum("device", "revoke", "Pixel 8 browser"))
        await js.finish()


def test_without_a_running_humd_pair_browser_says_so_in_one_line(tmp_path):
    home = init_home(tmp_path / "laptop")
    done = subprocess.run([*HUM, "pair", "--browser", "--home", str(home)], capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert "no humd" in one_line_error(done).lower() or "not running" in one_line_error(done).lower()
