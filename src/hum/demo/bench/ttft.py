"""`/v1` time to first token through hum, through the LiteLLM proxy and straight from the upstream; and as hums pile up.

Every request is stateless and new (as an AI SDK app's are), so each one
mints a hum, as in real use. The same client (aiohttp, no SDK) times all
three paths from sending the request to the first piece of content.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
from pathlib import Path

import aiohttp

from hum.core.hum import Hum
from hum.core.wane import WaneTracker
from hum.daemon.home import Home
from hum.demo.bench.measure import STEP_TIMEOUT_SECONDS
from hum.demo.bench.upstream import ask
from hum.store.sqlite import SqliteStore
from hum.wire.tones import sigil

# LiteLLM imports a great deal before it listens; on 2 busy cores it can take this long.
LITELLM_START_SECONDS = 180.0

# How often to ask a starting LiteLLM whether it listens yet.
READY_POLL_SECONDS = 0.2

# Requests before timing starts, so connection set-up and first-call imports are not timed.
WARM_UP_REQUESTS = 20


async def first_token_ms(session: aiohttp.ClientSession, base_url: str, text: str, key: str | None = None) -> float:
    """Milliseconds from sending one streamed completion to its first non-empty content."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": text}]}
    started = time.perf_counter()
    first = None
    async with session.post(f"{base_url}/chat/completions", json=body, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{base_url} answered {resp.status}: {(await resp.text())[:200]}")
        async for line in resp.content:
            if first is None and line.startswith(b"data: {"):
                choices = json.loads(line[6:]).get("choices") or []
                if choices and (choices[0].get("delta") or {}).get("content"):
                    first = (time.perf_counter() - started) * 1000
    if first is None:
        raise RuntimeError(f"{base_url} streamed no content")
    return first


async def samples(targets: list[tuple[str, str | None]], count: int, tag: str) -> list[list[float]]:
    """`count` first-token times of new, stateless requests to each `(base_url, key)` target, after a
    warm-up; one request at a time, the targets taking turns, so the machine's load hits them alike."""
    times: list[list[float]] = [[] for _ in targets]
    async with aiohttp.ClientSession() as session:
        for i in range(WARM_UP_REQUESTS + count):
            for (base_url, key), kept in zip(targets, times, strict=True):
                took = await first_token_ms(session, base_url, f"{ask(2)} n={tag}-{i}", key)
                if i >= WARM_UP_REQUESTS:
                    kept.append(took)
    return times


def fill(home: Path, count: int, first: int = 0) -> None:
    """`count` finished hums (a question, a short answer) written into a stopped humd's store."""
    me = Home(home).identity().humd_id
    store = SqliteStore(Home(home).store_path)
    tracker = WaneTracker()
    for i in range(first, first + count):
        sid = f"filled-{i}"
        hum = Hum(sigil("local", sid), sid, "local", me, tracker)
        store.save_hum(hum)
        store.append(hum, hum.append("prompt", {"text": f"question {i}", "from": "bench"}))
        store.append(hum, hum.append("chunk", {"delta": f"answer {i}", "chunkType": "text_delta", "blockIdx": 0}))
        finish = hum.append("finish", {"finishReason": "stop", "usage": {"input_tokens": 1, "output_tokens": 1}})
        store.append(hum, finish, hum.transcript_key)
    store.flush()
    store.close()


def litellm_binary() -> Path:
    """The LiteLLM proxy's command beside this Python; raises when it is not installed."""
    binary = Path(sys.executable).parent / "litellm"
    if not binary.exists():
        raise RuntimeError("LiteLLM is not installed; `make bench` installs it (litellm[proxy])")
    return binary


class LiteLLM:
    """The LiteLLM proxy in front of the same upstream: telemetry off, a master key made for this run."""

    def __init__(self, workdir: Path, upstream: str, port: int) -> None:
        self.workdir = workdir
        self.upstream = upstream
        self.base_url = f"http://127.0.0.1:{port}"
        self.port = port
        self.key = f"sk-bench-{secrets.token_hex(16)}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        config = self.workdir / "litellm.yaml"
        config.write_text(
            "model_list:\n"
            "  - model_name: bench\n"
            "    litellm_params:\n"
            "      model: openai/bench\n"
            f"      api_base: {self.upstream}\n"
            "      api_key: unused\n"
            "litellm_settings:\n"
            "  telemetry: false\n"
        )
        # Telemetry off, and the model cost map read from the package, not fetched: nothing leaves loopback.
        env = {
            **os.environ,
            "LITELLM_MASTER_KEY": self.key,
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
        }
        binary = litellm_binary()
        self.proc = await asyncio.create_subprocess_exec(
            str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port), "--num_workers", "1",
            env=env, cwd=self.workdir, stdout=asyncio.subprocess.DEVNULL, stderr=open(self.workdir / "litellm.log", "wb"),  # noqa: SIM115
        )

    async def ready(self) -> str:
        """The proxy's `/v1` base URL, once it answers."""
        deadline = time.monotonic() + LITELLM_START_SECONDS
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.returncode is not None:
                    raise RuntimeError(f"LiteLLM exited; see {self.workdir / 'litellm.log'}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.base_url}/health/liveliness") as resp:
                        if resp.status == 200:
                            return f"{self.base_url}/v1"
                await asyncio.sleep(READY_POLL_SECONDS)
        raise TimeoutError(f"LiteLLM did not listen within {LITELLM_START_SECONDS:g}s")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), STEP_TIMEOUT_SECONDS)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
