"""Helpers for the real-client tests: where the npm clients live, and running Node scripts."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).parent / "js"
TEST_OUTPUT = Path(__file__).parent.parent.parent / "test-output"


def npm_dir() -> Path:
    return Path(os.environ.get("HUM_NPM_DIR") or Path.home() / ".cache" / "hum" / "npm")


def need_npm(*packages: str) -> Path:
    """The npm install dir holding `packages`; a missing client fails (never skips) with the fix."""
    base = npm_dir()
    missing = [p for p in packages if not (base / "node_modules" / p / "package.json").exists()]
    if missing:
        pytest.fail(f"npm test clients missing in {base}: {', '.join(missing)}; run `make test` (it installs them once)")
    return base


async def run_node(script: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run one of tests/clients/js/*.mjs; its last stdout line is its JSON verdict."""
    base = need_npm()
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / script),
        env={**os.environ, "HUM_NPM_DIR": str(base), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"{script} did not finish in {timeout:g}s")
    if proc.returncode != 0:
        pytest.fail(f"{script} failed ({proc.returncode}):\n{err.decode()[-3000:]}\n{out.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])
