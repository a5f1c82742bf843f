"""The web chat opened at a mistyped sigil says no such hum is known; it offers no "Continue on this device"."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from client_helpers import JS_DIR, need_npm
from surface_helpers import scripted_brood

# Chromium start-up and one refused events request.
BROWSER_TIMEOUT = 60.0


async def test_a_mistyped_sigil_is_unknown_not_unreachable(sim, served):
    base = need_npm("playwright-core")
    laptop = await sim.spawn("laptop", brood=scripted_brood(40))
    srv = await served(laptop)
    proc = await asyncio.create_subprocess_exec(
        "node", str(JS_DIR / "webchat_unknown.mjs"),
        env={**os.environ, "HUM_NPM_DIR": str(base), "HUM_URL": srv.url, "HUM_SIGIL": "0123456789ab"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), BROWSER_TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
    if proc.returncode != 0:
        pytest.fail(f"webchat_unknown.mjs failed:\n{err.decode()[-3000:]}")
    seen = json.loads(out.decode().strip().splitlines()[-1])
    assert "No hum 0123456789ab is known" in seen["banner"] and "Cannot reach" not in seen["banner"]
    assert seen["adopt"] == 0 and "Continue on this device" not in seen["banner"]
