"""A project registered on the laptop, started from the phone: by `hum prompt --project`, on the thrum socket, and
from the web chat's New button in Chromium. Claude Code (the real CLI, against a local double of Anthropic's API)
runs in the project's directory on the laptop, and asks; the phone answers."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from claude_helpers import AnthropicDouble, claude_env, touch_what_was_asked
from client_helpers import TEST_OUTPUT, need_chromium, run_node

from hum.demo.roam_real import HumdProcess, Nestler, free_port, hum_command, pair_devices
from hum.wire.tones import Tone

pytestmark = pytest.mark.slow

# A CLI command between real processes: a Python start-up and one round trip (a bloom of the real CLI for `prompt`).
CLI_TIMEOUT = 90.0
# Chromium start-up, the New sheet, one bloom with an ask.
BROWSER_TIMEOUT = 120.0


async def cli(*args: str, home: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*hum_command(), *args, "--home", str(home), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    return proc.returncode or 0, out.decode(), err.decode()


async def until_listed(home: Path, name: str) -> dict:
    """`hum project list --json` on a device, until it lists `name` (a link-up's `projects` tone has no event of its own)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLI_TIMEOUT
    while True:
        code, out, err = await cli("project", "list", "--json", home=home)
        assert code == 0, err
        found = [p for p in json.loads(out)["projects"] if p["name"] == name]
        if found:
            return found[0]
        assert loop.time() < deadline, f"{name} never listed on {home.name}"
        await asyncio.sleep(0.2)


def one_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("hum: "), (code, err)
    return lines[0]


async def test_a_hum_started_from_the_phone_runs_claude_code_in_the_laptops_project(tmp_path):
    need_chromium()
    double = AnthropicDouble(reply=touch_what_was_asked)
    await double.start()
    api, elsewhere = tmp_path / "api", tmp_path / "elsewhere"
    api.mkdir()
    elsewhere.mkdir()
    assert (await cli("operator", "init", "--name", "laptop", home=tmp_path / "laptop"))[0] == 0
    # claude-cli is configured on the laptop, but its default worker and directory are elsewhere: the project decides
    laptop = HumdProcess(tmp_path / "laptop", free_port(), worker="scripted", env=claude_env(tmp_path, double, elsewhere))
    phone = HumdProcess(tmp_path / "phone", free_port())
    nestlers: list[Nestler] = []
    try:
        await laptop.start()
        await pair_devices(laptop, phone.home)
        await phone.start()
        code, out, err = await cli("project", "add", str(api), "--name", "api", "--worker", "claude-cli", "--json", home=laptop.home)
        assert code == 0, err
        assert json.loads(out) | {"dir": None} == {"name": "api", "worker": "claude-cli", "permissionMode": None, "device": laptop.info["humdId"], "deviceName": "laptop", "here": True, "linked": True, "dir": None}
        listed = await until_listed(phone.home, "api")
        assert (listed["device"], listed["deviceName"], listed["worker"], listed["here"]) == (laptop.info["humdId"], "laptop", "claude-cli", False)
        assert "dir" not in listed and str(api) not in json.dumps(listed)  # the directory stays on the laptop

        await _prompt_from_the_phone_cli(laptop, phone, api, elsewhere)
        nestlers.append(await _refusals(laptop, phone))
        out = await run_node("project_new.mjs", {"HUM_URL": phone.info["http"], "HUM_SHOTS": str(TEST_OUTPUT), "HUM_USER_DATA": str(tmp_path / "chromium")}, BROWSER_TIMEOUT)
        assert out["projects"] == [["A new hum", "on this device"], ["api", "claude-cli on laptop"]]
        assert out["asked"].startswith("Bash") and "touch made-on-the-web.txt" in out["asked"]
        assert out["placeholder"] == "Start a hum in api…"
        assert out["decision"] == "Allowed by this device" and out["answer"].startswith("tool ran")
        assert (api / "made-on-the-web.txt").exists() and not (elsewhere / "made-on-the-web.txt").exists()
        assert (out["home"], out["project"]) == (laptop.info["humdId"], "api")  # listed under its project, on the laptop
    finally:
        for n in nestlers:
            n.close()
        for p in (phone, laptop):
            await p.stop()
        await double.stop()


async def _prompt_from_the_phone_cli(laptop: HumdProcess, phone: HumdProcess, api: Path, elsewhere: Path) -> None:
    """`hum prompt --project api` on the phone: the hum lives on the laptop, Claude Code asks, `hum approve` on the phone."""
    prompt = await asyncio.create_subprocess_exec(
        *hum_command(), "prompt", "--project", "api", "create made-by-phone.txt", "--json", "--home", str(phone.home),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert prompt.stdout is not None
    shown: list[dict] = []
    while not shown or shown[-1].get("chi") != "permission-ask":
        line = await asyncio.wait_for(prompt.stdout.readline(), CLI_TIMEOUT)
        assert line, (await prompt.stderr.read()).decode()
        shown.append(json.loads(line))
    ask = shown[-1]
    assert ask["input"]["command"] == "touch made-by-phone.txt" and not (api / "made-by-phone.txt").exists()
    code, out, err = await cli("approve", ask["sigil"], ask["permitId"], home=phone.home)
    assert code == 0, err
    rest, err = await asyncio.wait_for(prompt.communicate(), CLI_TIMEOUT)
    assert prompt.returncode == 0, err.decode()
    last = json.loads(rest.decode().strip().splitlines()[-1])
    assert last["chi"] == "finish" and last["sigil"] == ask["sigil"]
    assert (api / "made-by-phone.txt").exists() and not (elsewhere / "made-by-phone.txt").exists()  # Claude Code ran in the project
    (hum,) = [h for h in laptop.get("/hum/hums")["hums"] if h["sigil"] == ask["sigil"]]
    assert hum["home"] == laptop.info["humdId"] and hum["nest"] == "claude-cli"


async def _refusals(laptop: HumdProcess, phone: HumdProcess) -> Nestler:
    """Unknown and directory-like names: one line naming them (CLI), a route-error (thrum socket); nothing starts."""
    before = len(laptop.get("/hum/hums")["hums"])
    assert "'nope'" in one_line(*(await cli("prompt", "--project", "nope", "hello", home=phone.home))[::2])
    assert "never a path" in one_line(*(await cli("prompt", "--project", "../etc", "hello", home=phone.home))[::2])
    raw = await Nestler.open(phone, "raw")
    raw.client.send(Tone(chi="prompt", project="../../etc/passwd", text="hello", rid="bad"))
    _, refused = await raw.wait_for(lambda t: t.chi == "error")
    assert (refused["code"], refused["qualifier"], refused["rid"]) == ("route-error", "unknown-project", "bad")
    assert len(laptop.get("/hum/hums")["hums"]) == before and not phone.get("/hum/hums")["hums"][before:]
    return raw
