"""opencode (npm `opencode-ai`) driving a hum through the OpenAI surface, headless."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import pytest
from client_helpers import need_npm

from hum.brood.config import build_brood
from hum.brood.pool import IDLE_EVICT_SECONDS
from hum.wire.tones import sigil

# opencode boots a whole agent runtime (about 10 s here); one run, bounded.
OPENCODE_TIMEOUT = 90.0


def opencode_env(home: str, base_url: str, model: str = "scripted") -> dict[str, str]:
    config = {
        "provider": {
            "hum": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "hum",
                "options": {"baseURL": base_url},
                "models": {model: {"name": model}},
            }
        },
        "model": f"hum/{model}",
        "small_model": f"hum/{model}",
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


async def opencode_run(base_url: str, home, prompt: str, model: str = "scripted", *flags: str) -> str:
    """`opencode run -m hum/<model> [flags] <prompt>` against `base_url`; its stdout, or a failed test."""
    base = need_npm("opencode-ai")
    proc = await asyncio.create_subprocess_exec(
        str(base / "node_modules" / ".bin" / "opencode"),
        "run",
        "-m",
        f"hum/{model}",
        *flags,
        prompt,
        env=opencode_env(str(home), base_url, model),
        cwd=home,
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
    return out.decode()


async def test_opencode_run_makes_a_hum_a_second_humd_can_attach(sim, served, tmp_path, caplog):
    laptop = await sim.spawn("laptop")
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    srv = await served(laptop)
    caplog.set_level(logging.INFO, logger="hum.surfaces.openai")
    out = await opencode_run(f"{srv.url}/v1", tmp_path, "explain the parser")

    # one hum, named by opencode's session id; the title request left no petal in it
    (sg,) = laptop.hums
    hum = laptop.hums[sg]
    assert hum.sid.startswith("ses_") and sg == sigil(laptop.nest, hum.sid)
    users = [t for role, t in hum.transcript() if role == "user"]
    assert len(users) == 1 and "explain the parser" in users[0]  # opencode quotes the run prompt
    reply = next(t for role, t in hum.transcript() if role == "assistant")
    assert reply in out
    assert "answered a title request directly" in caplog.text

    # visible in the hum list and attachable from the second humd, with the same text
    assert sg in [h["sigil"] for h in phone.list_hums()]
    watcher = sim.nestler(phone, "phone-web")
    watcher.send("attach", sigil=sg, since=0)
    await watcher.wait_for(lambda t: t.chi == "finish", timeout=20)
    assert watcher.tones("hello")[0]["sigil"] == sg
    assert "".join(t.get("delta", "") for t in watcher.tones("chunk")) == reply


def notes_of(humd, sg: str, wane: int = 0) -> list[str]:
    return [p.body["delta"] for p in humd.hums[sg].petals[wane:] if p.chi == "chunk" and p.body["chunkType"] == "note"]


@pytest.mark.slow
async def test_opencode_on_the_default_local_model_answers_and_comes_back_warm(sim, served, tmp_path):
    # what `hum up` runs by default: the embedded SmolLM2 in its 4096-token window,
    # while opencode's system prompt and tool list alone are about 7,500 tokens
    brood = build_brood("local", {})
    try:
        laptop = await sim.spawn("laptop", brood=brood)
        srv = await served(laptop)
        out = await opencode_run(f"{srv.url}/v1", tmp_path, "What is the capital of France?", "default")
        assert "Paris" in out
        (sg,) = laptop.hums
        trimmed, reading, *progress = notes_of(laptop, sg)
        assert progress and progress[-1].startswith("hum: read ")  # the read said how far it got, then that it was done
        assert "the tool descriptions" in trimmed
        assert "earlier turn" not in trimmed and "system prompt" not in trimmed  # the question and the system prompt were kept
        assert reading.startswith("hum: reading ")  # opencode's instructions take seconds to read: said before the wait
        assert "hum:" not in out  # notes are hum's word, not the answer's

        # a long pause: the hum's cell gives its model back; the session goes on warm all the same
        assert brood.evict_idle(time.monotonic() + IDLE_EVICT_SECONDS) == [sg]
        tip = laptop.hums[sg].tip
        out = await opencode_run(f"{srv.url}/v1", tmp_path, "What is the capital of Italy?", "default", "--continue")
    finally:
        await brood.close()
    assert list(laptop.hums) == [sg]
    assert "Rome" in out
    (trimmed,) = notes_of(laptop, sg, tip)  # the tool list still does not fit, but nothing is read again
    assert "the tool descriptions" in trimmed and "earlier turn" not in trimmed
