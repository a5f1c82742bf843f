"""Claude Code itself (npm `@anthropic-ai/claude-code`) against hum: as a nestler through `/v1/messages`, and as an MCP client of `/mcp`."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_devices import Device, free_port, pairing_code
from client_helpers import need_npm
from surface_helpers import WAIT, scripted_brood

from hum.daemon.home import Home
from hum.wire.tones import sigil

pytestmark = pytest.mark.slow

# Claude Code boots its agent runtime in a second or two here; one run, bounded.
CLAUDE_TIMEOUT = 90.0


def claude_env(tmp: Path, base_url: str) -> dict[str, str]:
    """Offline: a scratch HOME and config dir, hum as its API, nothing else to call."""
    home = tmp / "claude-home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "unused-on-loopback",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


async def claude(tmp: Path, base_url: str, *args: str) -> list[dict[str, Any]]:
    """One `claude -p` run in stream-json; its messages (the last is the `result`)."""
    binary = need_npm("@anthropic-ai/claude-code") / "node_modules" / ".bin" / "claude"
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        str(binary), "-p", *args, "--output-format", "stream-json", "--verbose", "--model", "scripted",
        cwd=work, env=claude_env(tmp, base_url), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CLAUDE_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"claude did not finish in {CLAUDE_TIMEOUT:g}s")
    messages = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and messages and messages[-1]["type"] == "result", err.decode()[-2000:]
    assert not messages[-1]["is_error"], messages[-1]
    return messages


@pytest.fixture
def devices(tmp_path) -> Iterator[tuple[Device, Device]]:
    """A laptop and a phone paired and linked, each a real `hum up` (the scripted worker)."""
    laptop, phone = Device(tmp_path / "laptop"), Device(tmp_path / "phone")
    try:
        laptop_port = free_port()
        laptop.up("--init", "--listen", f"127.0.0.1:{laptop_port}", "--http", "127.0.0.1:0", "--worker", "scripted")
        pair = laptop.start("pair")
        joined = phone.run("join", "--code", pairing_code(pair), "--peer", f"127.0.0.1:{laptop_port}")
        assert joined.returncode == 0 and pair.wait() == 0, joined.stderr
        phone.up("--listen", f"127.0.0.1:{free_port()}", "--http", "127.0.0.1:0", "--worker", "scripted")
        phone.wait_peers(lambda peers: peers == [laptop.humd_id])
        yield laptop, phone
    finally:
        phone.stop_all()
        laptop.stop_all()


async def test_a_claude_code_session_is_one_hum_that_hum_attach_follows_on_the_phone(devices, tmp_path):
    laptop, phone = devices
    url = Home(laptop.home).runtime()["http"]
    session = str(uuid.uuid4())
    first = await claude(tmp_path, url, "hello from claude", "--session-id", session)
    hums = json.loads(laptop.run("hums", "--json").stdout)["hums"]
    assert [(h["sid"], h["wane"]) for h in hums] == [(session, 42)]  # Claude Code's session id is the hum's sid
    sg = hums[0]["sigil"]
    assert sg == sigil("local", session)

    attach = phone.start("attach", sg, "--until-finish", "--json")
    attach.wait_json(lambda tone: tone.get("chi") == "finish")  # the first turn, replayed: attached now
    second = await claude(tmp_path, url, "and a second turn", "--resume", session)
    assert attach.wait() == 0
    live = [tone for tone in attach.json_lines() if tone.get("wane", 0) > 42]
    assert [h["sigil"] for h in json.loads(laptop.run("hums", "--json").stdout)["hums"]] == [sg]  # the same hum
    assert "and a second turn" in live[0]["text"] and live[-1]["chi"] == "finish"
    assert second[-1]["result"] == "".join(t["delta"] for t in live if t["chi"] == "chunk")
    assert first[-1]["result"] != second[-1]["result"]


async def test_claude_code_calls_list_hums_over_mcp(sim, served, tmp_path):
    def reply(prompt: str) -> str:  # the model side asks for the tool, then reports
        if "Tool result" in prompt:
            return "I listed your hums."
        return '<tool_call>{"name": "mcp__hum__list_hums", "arguments": {}}</tool_call>'

    laptop = await sim.spawn("laptop", brood=scripted_brood(500, reply))
    nestler = sim.nestler(laptop, "opencode")
    nestler.send("prompt", sid="trip", text="plan the trip")
    trip = (await nestler.wait_for(lambda t: t.chi == "finish", timeout=WAIT)).tone["sigil"]
    nestler.close()
    srv = await served(laptop)
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"hum": {"type": "http", "url": f"{srv.url}/mcp"}}}))
    run = await claude(tmp_path, srv.url, "list my hums", "--mcp-config", str(config), "--strict-mcp-config", "--allowedTools", "mcp__hum__list_hums")
    results = [
        block
        for message in run
        if message["type"] == "user"
        for block in message["message"]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    assert len(results) == 1 and not results[0].get("is_error")
    assert trip in json.dumps(results[0]["content"])
    assert run[-1]["result"] == "I listed your hums."
