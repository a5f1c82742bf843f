"""opencode (npm `opencode-ai`) driving a hum through the OpenAI surface, headless."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import pytest
from client_helpers import need_npm

from hum.wire.tones import sigil

# opencode boots a whole agent runtime (about 10 s here); one run, bounded.
OPENCODE_TIMEOUT = 90.0


def opencode_env(home: str, base_url: str) -> dict[str, str]:
    config = {
        "provider": {
            "hum": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "hum",
                "options": {"baseURL": base_url},
                "models": {"scripted": {"name": "scripted"}},
            }
        },
        "model": "hum/scripted",
        "small_model": "hum/scripted",
        "autoupdate": False,
        "share": "disabled",
    }
    return {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "OPENCODE_CONFIG_CONTENT": json.dumps(config),
        # offline: no models.dev fetch, no self-update, no share, no plugin or LSP downloads
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_SHARE": "1",
        "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
        "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    }


async def test_opencode_run_makes_a_hum_a_second_humd_can_attach(sim, served, tmp_path, caplog):
    base = need_npm("opencode-ai")
    laptop = await sim.spawn("laptop")
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    srv = await served(laptop)
    caplog.set_level(logging.INFO, logger="hum.surfaces.openai")
    proc = await asyncio.create_subprocess_exec(
        str(base / "node_modules" / ".bin" / "opencode"),
        "run",
        "-m",
        "hum/scripted",
        "explain the parser",
        env=opencode_env(str(tmp_path), f"{srv.url}/v1"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), OPENCODE_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"opencode run did not finish in {OPENCODE_TIMEOUT:g}s")
    assert proc.returncode == 0, err.decode()[-3000:]

    # one hum, named by opencode's session id; the title request left no petal in it
    (sg,) = laptop.hums
    hum = laptop.hums[sg]
    assert hum.sid.startswith("ses_") and sg == sigil(laptop.nest, hum.sid)
    users = [t for role, t in hum.transcript() if role == "user"]
    assert len(users) == 1 and "explain the parser" in users[0]  # opencode quotes the run prompt
    reply = next(t for role, t in hum.transcript() if role == "assistant")
    assert reply in out.decode()
    assert "answered a title request directly" in caplog.text

    # visible in the hum list and attachable from the second humd, with the same text
    assert sg in [h["sigil"] for h in phone.list_hums()]
    watcher = sim.nestler(phone, "phone-web")
    watcher.send("attach", sigil=sg, since=0)
    await watcher.wait_for(lambda t: t.chi == "finish", timeout=20)
    assert watcher.tones("hello")[0]["sigil"] == sg
    assert "".join(t.get("delta", "") for t in watcher.tones("chunk")) == reply
