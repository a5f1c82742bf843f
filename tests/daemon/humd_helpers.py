"""Real `hum up` processes for the hostile-input tests: start, ask over HTTP and thrum, stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from hum.demo.roam_real import HumdProcess, pair_devices

HUM = [sys.executable, "-m", "hum.cli"]
CLI_TIMEOUT = 60
# `hum up` with the scripted worker is ready in about a second; a loaded CI box is slower.
START_TIMEOUT = 30.0
POLL_INTERVAL = 0.05


def hum(*args: str, home: Path | None = None, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    extra = ["--home", str(home)] if home is not None else []
    return subprocess.run([*HUM, *args, *extra], capture_output=True, text=True, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """A failed command says what is wrong in one line, on stderr, and exits 2."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hum: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def init_home(home: Path, name: str = "laptop") -> Path:
    done = hum("operator", "init", "--name", name, home=home)
    assert done.returncode == 0, done.stderr
    return home


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` until it is truthy; its value, or AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(POLL_INTERVAL)


class HumUp:
    """One `hum up --json` child process; `info` is what it printed about itself."""

    def __init__(self, home: Path, *extra: str, port: int | None = None, preexec: Callable[[], None] | None = None) -> None:
        self.home = home
        self.port = port or free_port()
        args = [
            *HUM, "up", "--home", str(home), "--listen", f"127.0.0.1:{self.port}", "--http", "127.0.0.1:0",
            "--thrum", str(home / "thrum.sock"), "--worker", "scripted", "--json", *extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            _, err = self.proc.communicate(timeout=START_TIMEOUT)
            raise RuntimeError(f"hum up failed: {err.strip()}")
        self.info: dict[str, Any] = json.loads(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def http(self) -> str:
        return str(self.info["http"])

    @property
    def thrum(self) -> Path:
        return Path(self.info["thrum"])

    def get(self, path: str, timeout: float = 5.0) -> dict[str, Any]:
        with urllib.request.urlopen(self.http + path, timeout=timeout) as response:
            return json.loads(response.read())

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
        """Any HTTP request; (status, JSON body) whether it succeeded or not."""
        req = urllib.request.Request(self.http + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def thrum_hello(self, timeout: float = 5.0) -> dict[str, Any]:
        """Say hello on the thrum socket; the humd's breath."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(str(self.thrum))
            s.sendall(b'{"chi":"hello","bee":"probe","rid":1}\n')
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("the humd closed the thrum socket")
                buf += chunk
        return json.loads(buf.split(b"\n", 1)[0])

    def rss_bytes(self) -> int:
        """Resident memory of the humd process, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")

    def stop(self) -> tuple[int, str]:
        """SIGTERM and wait; (exit status, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err

    def __enter__(self) -> HumUp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def file_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


@contextlib.asynccontextmanager
async def laptop_and_phone(
    tmp_path: Path, laptop_env: dict[str, str] | None = None
) -> AsyncIterator[tuple[HumdProcess, HumdProcess]]:
    """A new operator's laptop and a phone paired with it, both running and linked; stopped at the end."""
    assert hum("operator", "init", "--name", "laptop", home=tmp_path / "laptop").returncode == 0
    laptop = HumdProcess(tmp_path / "laptop", free_port(), env=laptop_env or {})
    phone = HumdProcess(tmp_path / "phone", free_port())
    try:
        await laptop.start()
        await pair_devices(laptop, phone.home)
        await phone.start()
        await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
        yield laptop, phone
    finally:
        await phone.stop()
        await laptop.stop()
