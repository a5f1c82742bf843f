"""A humd under a low open-file limit (ulimit -n 1024): idle HTTP clients never starve the thrum socket."""

from __future__ import annotations

import resource
import socket
import urllib.parse
from pathlib import Path

from humd_helpers import HumUp, init_home

HALF_OPEN = 1100  # more connections than a soft limit of 1024 allows descriptors
# The thrum socket answers a hello in milliseconds; starved, it did not for up to 30 s.
HELLO_WITHIN = 5.0


def open_files_limit(soft: int, hard: int | None = None):
    def apply() -> None:
        _, current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, current_hard if hard is None else hard))

    return apply


def soft_limit_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-file limit in /proc")


def half_open(http: str, count: int) -> list[socket.socket]:
    """`count` HTTP connections that say nothing: each holds a descriptor on the humd."""
    url = urllib.parse.urlsplit(http)
    held = []
    for _ in range(count):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect((url.hostname, url.port))
        except OSError:
            s.close()
            continue
        held.append(s)
    return held


def test_the_soft_limit_is_raised_at_start(tmp_path):
    with HumUp(init_home(tmp_path / "laptop"), preexec=open_files_limit(1024)) as laptop:
        assert soft_limit_of(laptop.pid) == resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def test_a_thousand_idle_http_clients_leave_the_thrum_socket_answering(tmp_path):
    # the hard limit is 1024 too: it cannot be raised, and HTTP must leave the reserve alone
    with HumUp(init_home(tmp_path / "laptop"), preexec=open_files_limit(1024, 1024)) as laptop:
        held = half_open(laptop.http, HALF_OPEN)
        try:
            breath = laptop.thrum_hello(timeout=HELLO_WITHIN)
            assert breath["chi"] == "breath"
        finally:
            for s in held:
                s.close()
