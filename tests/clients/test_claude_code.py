"""Claude Code itself (npm `@anthropic-ai/claude-code`) against hum: as a nestler through `/v1/messages`, and as an MCP client of `/mcp`."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from client_helpers import need_npm
from surface_helpers import WAIT, assistant_texts, scripted_brood

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


async def test_a_claude_code_session_is_one_hum_the_phone_follows_live(sim, served, tmp_path):
    laptop, phone = await sim.spawn("laptop"), await sim.spawn("phone")
    await sim.link(laptop, phone)
    srv = await served(laptop)
    session = str(uuid.uuid4())
    first = await claude(tmp_path, srv.url, "hello from claude", "--session-id", session)
    sg = sigil(laptop.nest, session)  # Claude Code's X-Claude-Code-Session-Id is the hum's sid
    assert list(laptop.hums) == [sg]
    assert first[-1]["result"] == assistant_texts(laptop, sg)[0]

    watcher = sim.nestler(phone, "hum attach")
    watcher.send("attach", sigil=sg, since=laptop.hums[sg].tip)
    second = await claude(tmp_path, srv.url, "and a second turn", "--resume", session)
    finish = (await watcher.wait_for(lambda t: t.chi == "finish", timeout=WAIT)).tone
    live = "".join(t["delta"] for t in watcher.tones("chunk", sg) if t["wane"] < finish["wane"])
    prompt = watcher.tones("prompt", sg)[-1]
    watcher.close()
    assert list(laptop.hums) == [sg]  # the second turn landed in the same hum
    assert "and a second turn" in prompt["text"]
    assert second[-1]["result"] == live == assistant_texts(laptop, sg)[1]


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
