"""A private network namespace for "off loopback" tests: its own loopback, plus an address that is not loopback.

The tests may send traffic only to this machine, yet humd treats every
127.0.0.0/8 address as "this device". So the humd, the CLI and Chromium run in
a network namespace of their own (`unshare -Urn`: no root needed where user
namespaces are allowed) whose loopback interface also carries `OFF_LOOPBACK`:
packets to it never leave the namespace, but to humd it is an address on the
network, where a browser needs its cookie.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

OFF_LOOPBACK = "10.77.0.1"
# Setting up the namespace takes milliseconds; a loaded machine gets this long.
READY_TIMEOUT = 10.0


class OffLoopback:
    """Holds the namespace open (a sleeping child); `prefix` runs a command inside it."""

    def __init__(self) -> None:
        for tool in ("unshare", "nsenter", "ip"):
            if shutil.which(tool) is None:
                pytest.fail(f"{tool} is missing (util-linux, iproute2): the off-loopback tests need it")
        script = f"ip link set lo up && ip addr add {OFF_LOOPBACK}/32 dev lo && echo ready && exec sleep 100000"
        self.holder = subprocess.Popen(["unshare", "-Urn", "sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "ready":
            _, err = self.holder.communicate(timeout=READY_TIMEOUT)
            pytest.fail(f"cannot make a network namespace here (unshare -Urn): {err.strip()}")
        self.prefix = ["nsenter", "-t", str(self.holder.pid), "-U", "-n", "--preserve-credentials"]

    def run(self, *args: str | Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, *map(str, args)], capture_output=True, text=True, timeout=timeout)

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait()

    def __enter__(self) -> OffLoopback:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
