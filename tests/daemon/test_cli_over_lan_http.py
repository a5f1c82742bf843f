"""The CLI's HTTP commands work when `--http` names one non-loopback address of this machine."""

from __future__ import annotations

import json
import socket
import subprocess

from humd_helpers import HUM, HumUp, hum, init_home


def own_lan_address() -> str:
    """A non-loopback IPv4 address of this machine (connecting a UDP socket sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
        address = str(s.getsockname()[0])
    assert not address.startswith("127."), "this machine has no non-loopback address to serve HTTP on"
    return address


def test_pair_and_status_work_with_http_on_one_lan_address(tmp_path):
    lan = own_lan_address()
    with HumUp(init_home(tmp_path / "laptop"), "--http", f"{lan}:0") as laptop:
        assert laptop.http.startswith(f"http://{lan}:")
        status = hum("status", "--json", home=laptop.home)
        assert status.returncode == 0, status.stderr
        pair = subprocess.Popen([*HUM, "pair", "--json", "--home", str(laptop.home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert pair.stdout is not None
            first = pair.stdout.readline()
            assert first, pair.communicate(timeout=30)[1]
            offer = json.loads(first)
            joined = hum("join", "--code", offer["code"], "--peer", f"127.0.0.1:{laptop.port}", "--name", "phone", "--json", home=tmp_path / "phone")
            assert joined.returncode == 0, joined.stderr
            out, err = pair.communicate(timeout=30)
            assert pair.returncode == 0, err
            assert "paired" in json.loads(out.splitlines()[-1])
        finally:
            if pair.poll() is None:
                pair.kill()
                pair.communicate()
