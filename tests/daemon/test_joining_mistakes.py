"""Pairing mistakes a person makes, with real processes: each gets one plain line saying what to do."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest
from cli_devices import Device, free_port, one_line_error, pairing_code


@pytest.fixture
def laptop(tmp_path) -> Iterator[Device]:
    device = Device(tmp_path / "laptop")
    device.port = free_port()
    device.up("--init", "--listen", f"127.0.0.1:{device.port}", "--http", "127.0.0.1:0", "--worker", "scripted")
    yield device
    device.stop_all()


def test_pair_on_a_loopback_only_humd_names_that_address_and_how_to_open_it(laptop):
    pair = laptop.start("pair")
    pairing_code(pair)
    hint = pair.wait_line(lambda line: line.startswith("on the new device"))
    assert f"--peer 127.0.0.1:{laptop.port}" in hint and "<this-device-address>" not in hint
    assert f"--listen 0.0.0.0:{laptop.port}" in hint


def test_join_at_the_http_port_says_it_is_not_the_ensemble_port(laptop, tmp_path):
    http = json.loads(laptop.run("status", "--json").stdout)["http"]
    address = urllib.parse.urlsplit(http).netloc
    pair = laptop.start("pair")
    code = pairing_code(pair)
    line = one_line_error(Device(tmp_path / "phone").run("join", "--code", code, "--peer", address))
    assert "HTTP port" in line and "--listen" in line and "SSL" not in line.split("(")[0]


def test_join_at_a_device_without_the_operator_key_says_to_pair_on_the_first_device(laptop, tmp_path):
    phone = Device(tmp_path / "phone")
    pair = laptop.start("pair")
    joined = phone.run("join", "--code", pairing_code(pair), "--peer", f"127.0.0.1:{laptop.port}")
    assert joined.returncode == 0, joined.stderr
    phone_port = free_port()
    phone.up("--listen", f"127.0.0.1:{phone_port}", "--http", "127.0.0.1:0", "--worker", "scripted")
    try:
        line = one_line_error(Device(tmp_path / "tablet").run("join", "--code", "AAAA-BBBB", "--peer", f"127.0.0.1:{phone_port}"))
        assert "operator key" in line and "first device" in line and "run `hum pair` there" not in line
    finally:
        phone.stop_all()
