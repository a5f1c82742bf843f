"""Helpers for the real-client tests: where the npm clients live, and running Node scripts."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

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


@asynccontextmanager
async def over_http(url: str, on_message: Any = None) -> AsyncIterator[ClientSession]:
    """The `mcp` SDK's client session on a humd's `/mcp` (streamable HTTP), initialized."""
    async with streamable_http_client(f"{url}/mcp") as streams, ClientSession(streams[0], streams[1], message_handler=on_message) as session:
        await session.initialize()
        yield session


CHROMIUM = Path("/usr/bin/chromium")


def need_chromium() -> Path:
    """playwright-core and Debian's Chromium, which every web chat test drives; missing, the test fails with the fix."""
    base = need_npm("playwright-core")
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing; run `make test` (it installs it once)")
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


class StepScript:
    """A tests/clients/js script that talks by lines: it prints {"step": ...} JSON lines and waits for "go" on stdin.

    `async with StepScript(script, env) as js:` runs it (after `prefix`, e.g. a
    network namespace's nsenter); leaving the block kills it if it still runs.
    """

    def __init__(self, script: str, env: dict[str, str], prefix: tuple[str, ...] = ()) -> None:
        self.script, self.env, self.prefix = script, env, prefix
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> StepScript:
        self.proc = await asyncio.create_subprocess_exec(
            *self.prefix, "node", str(JS_DIR / self.script),
            env={**os.environ, "HUM_NPM_DIR": str(need_npm()), **self.env},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        return self

    async def step(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None and self.proc.stderr is not None
        line = await self.proc.stdout.readline()
        if not line:
            pytest.fail(f"{self.script} ended early:\n{(await self.proc.stderr.read()).decode()[-3000:]}")
        return json.loads(line)

    async def go(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()

    async def finish(self) -> None:
        """The script's last step was read: it must end cleanly."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stderr is not None
        self.proc.stdin.close()
        await self.proc.wait()
        assert self.proc.returncode == 0, (await self.proc.stderr.read()).decode()[-3000:]

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
