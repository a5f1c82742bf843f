"""Devices driven only by `hum` commands, as a person types them: one home each, through HUM_HOME."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HUM = [sys.executable, "-m", "hum.cli"]
# Any one command, or any one expected line of a running one; a hang fails in seconds.
STEP_TIMEOUT = 30.0
# How often `hum peers` is asked again while waiting for a link: a process start costs more.
PEERS_POLL = 0.05
# A waiting reader wakes at least this often to notice that its command has exited.
EXIT_CHECK = 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_sigint() -> None:
    """In a child before it runs: Ctrl-C does what it does at a terminal. A suite run in the
    background (`make test &`) ignores SIGINT, and children would inherit that and never stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Running:
    """A `hum` command left running (hum up, hum pair, hum attach), its output read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [*HUM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=default_sigint
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_line(self, predicate: Callable[[str], bool], *, stderr: bool = False, after: int = 0, timeout: float = STEP_TIMEOUT) -> str:
        """The first line (from index `after`) of stdout (or stderr) matching `predicate`, waiting for it."""
        lines = self.err if stderr else self.out
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in lines[after:]:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not any(r.is_alive() for r in self._readers)):
                    raise AssertionError(f"no such line; stdout {self.out[-20:]}, stderr {self.err[-20:]}, exit {self.proc.poll()}")
                self._changed.wait(min(left, EXIT_CHECK))

    def json_lines(self) -> list[dict[str, Any]]:
        with self._changed:
            return [json.loads(line) for line in self.out if line.startswith("{")]

    def wait_json(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
        line = self.wait_line(lambda line: line.startswith("{") and predicate(json.loads(line)), timeout=timeout)
        return json.loads(line)

    def wait(self, timeout: float = STEP_TIMEOUT) -> int:
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def interrupt(self) -> int:
        """Ctrl-C, as the README says; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()


class Device:
    """One device: a fresh home, and the `hum` commands run on it."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.env = {**os.environ, "HUM_HOME": str(home), **env}
        self.running: list[Running] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*HUM, *args], capture_output=True, text=True, timeout=STEP_TIMEOUT, env=self.env)

    def start(self, *args: str) -> Running:
        running = Running(list(args), self.env)
        self.running.append(running)
        return running

    def up(self, *args: str) -> Running:
        """`hum up ...`, returned once it says it is up; its HumdId is in `humd_id`."""
        up = self.start("up", *args)
        line = up.wait_line(lambda line: line.startswith("humd up"))
        up.wait_line(lambda line: "Ctrl-C stops it" in line)
        self.humd_id = line.split()[-1]
        return up

    def peers(self) -> list[str]:
        return json.loads(self.run("peers", "--json").stdout)["peers"]

    def wait_peers(self, predicate: Callable[[list[str]], bool]) -> list[str]:
        deadline = time.monotonic() + STEP_TIMEOUT
        while not predicate(peers := self.peers()):
            if time.monotonic() > deadline:
                raise AssertionError(f"peers of {self.home.name} stayed {peers}")
            time.sleep(PEERS_POLL)  # a poll of a condition with a deadline, not a wait for time to pass
        return peers

    def stop_all(self) -> None:
        for running in reversed(self.running):
            if running.proc.poll() is None:
                running.proc.send_signal(signal.SIGINT)
                try:
                    running.wait()
                except subprocess.TimeoutExpired:
                    running.kill()


def pairing_code(pair: Running) -> str:
    line = pair.wait_line(lambda line: line.startswith("pairing code:"))
    found = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", line)
    assert found, line
    return found.group(0)


def one_line_error(result: subprocess.CompletedProcess[str] | Running) -> str:
    """A failed command says what is wrong in one line, on stderr, and exits 2."""
    if isinstance(result, Running):
        code, err = result.wait(), "\n".join(result.err)
    else:
        code, err = result.returncode, result.stderr
    assert code == 2, (code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hum: "), err
    return lines[0]
