"""The first hour of a new user, with real `hum` processes: `hum attach` following a hum through
the loss of its home, and pairing codes that say plainly what became of them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_devices import STEP_TIMEOUT, Device, Running, free_port, one_line_error, pairing_code

README = Path(__file__).parent.parent.parent / "README.md"
# The scripted worker's pace where a test needs to be inside a bloom: 40 tokens take 4 s.
SLOW_TPS = "10"


@pytest.fixture
def devices(tmp_path) -> Iterator[tuple[Device, Device]]:
    laptop, phone = Device(tmp_path / "laptop"), Device(tmp_path / "phone")
    yield laptop, phone
    phone.stop_all()
    laptop.stop_all()


def start_paired(laptop: Device, phone: Device) -> tuple[Running, int]:
    """Both devices up and linked, paired with `hum pair` and `hum join`; returns the laptop's `hum up` and its port."""
    laptop_port = free_port()
    laptop_up = laptop.up("--init", "--listen", f"127.0.0.1:{laptop_port}", "--http", "127.0.0.1:0", "--worker", "scripted")
    pair = laptop.start("pair")
    assert phone.run("join", "--code", pairing_code(pair), "--peer", f"127.0.0.1:{laptop_port}").returncode == 0
    assert pair.wait() == 0
    phone.up("--listen", f"127.0.0.1:{free_port()}", "--http", "127.0.0.1:0", "--worker", "scripted")
    phone.wait_peers(lambda p: p == [laptop.humd_id])
    return laptop_up, laptop_port


def petal_wanes(tones: list[dict]) -> list[int]:
    return [t["wane"] for t in tones if "wane" in t and t["chi"] != "hello"]


def test_attach_until_finish_mid_bloom_returns_after_the_live_bloom_not_a_replayed_one(devices):
    laptop, phone = devices
    laptop.env["HUM_SCRIPTED_TPS"] = SLOW_TPS
    start_paired(laptop, phone)
    first = laptop.run("prompt", "--sid", "long", "one", "--json")
    replayed_finish = json.loads(first.stdout.splitlines()[-1])
    assert replayed_finish["chi"] == "finish"
    sigil = replayed_finish["sigil"]
    assert laptop.run("prompt", "--sigil", sigil, "two", "--no-wait").returncode == 0
    watcher = laptop.start("attach", sigil, "--since", str(replayed_finish["wane"]), "--json")
    watcher.wait_json(lambda t: t["chi"] == "chunk")  # the second bloom is open now

    attach = phone.start("attach", sigil, "--since", "0", "--until-finish", "--json")
    assert attach.wait(timeout=STEP_TIMEOUT) == 0, attach.err
    tones = attach.json_lines()
    hello = tones[0]
    assert hello["chi"] == "hello" and hello["wane"] > replayed_finish["wane"] + 1  # attached mid-bloom
    live_finish = tones[-1]
    assert live_finish["chi"] == "finish" and live_finish["wane"] > hello["wane"]
    assert petal_wanes(tones) == list(range(1, live_finish["wane"] + 1))  # the replay and the live bloom, each once
    assert replayed_finish in tones  # shown, but not where it stopped
    assert watcher.wait_json(lambda t: t["chi"] == "finish")["wane"] == live_finish["wane"]


def test_attach_follows_the_hum_through_the_loss_and_return_of_its_home(devices):
    laptop, phone = devices
    laptop_up, laptop_port = start_paired(laptop, phone)
    story = laptop.run("prompt", "--sid", "roam", "first", "--json")
    sigil = json.loads(story.stdout.splitlines()[-1])["sigil"]
    follow = phone.start("attach", sigil, "--json")
    no_follow = phone.start("attach", sigil, "--no-follow")
    seen = follow.wait_json(lambda t: t["chi"] == "finish")["wane"]
    no_follow.wait_line(lambda line: line.startswith("-- stop"))

    laptop_up.proc.send_signal(signal.SIGKILL)  # the home dies
    laptop_up.wait()
    lost = one_line_error(no_follow)
    assert "peer-loss" in lost
    loss = follow.wait_line(lambda line: "lost" in line, stderr=True)
    assert sigil in loss and f"device {laptop.humd_id[:8]}" in loss and f"wane {seen}" in loss
    assert follow.proc.poll() is None  # still following

    laptop.up("--listen", f"127.0.0.1:{laptop_port}", "--http", "127.0.0.1:0", "--worker", "scripted")
    back = follow.wait_line(lambda line: "is back" in line, stderr=True)
    assert f"wane {seen}" in back
    assert len(follow.err) == 2  # one line for the loss, one for the return
    again = phone.run("prompt", "--sigil", sigil, "welcome back", "--json")
    assert again.returncode == 0, again.stderr
    finish = json.loads(again.stdout.splitlines()[-1])
    assert follow.wait_json(lambda t: t["chi"] == "finish" and t["wane"] == finish["wane"])["usage"] == finish["usage"]
    tones = follow.json_lines()
    assert petal_wanes(tones) == list(range(1, finish["wane"] + 1))  # nothing missed, nothing twice
    assert [t["qualifier"] for t in tones if t["chi"] == "error" and "wane" not in t] == ["peer-loss"]
    assert follow.interrupt() == 130


def test_a_wrong_pairing_code_spends_it_and_both_sides_say_so_plainly(devices):
    laptop, phone = devices
    laptop_port = free_port()
    laptop.up("--init", "--listen", f"127.0.0.1:{laptop_port}", "--http", "127.0.0.1:0", "--worker", "scripted")
    peer = f"127.0.0.1:{laptop_port}"
    pair = laptop.start("pair")
    code = pairing_code(pair)
    wrong = "ZZZZ-ZZZZ" if code != "ZZZZ-ZZZZ" else "YYYY-YYYY"
    line = one_line_error(phone.run("join", "--code", wrong, "--peer", peer))
    assert "(bad-code)" in line and "does not match" in line and "hum pair" in line
    host = one_line_error(pair)
    assert "wrong code" in host and "hum pair" in host
    assert pair.out[-1].startswith("on the new device:")  # said before the error, on its own line

    # the right code, too late: the laptop's own words reach the phone
    line = one_line_error(phone.run("join", "--code", code, "--peer", peer))
    assert "(used-code)" in line and "already used" in line and "wrong code" in line and "hum pair" in line
    assert "aborted" not in line and "no-pairing" not in line
    assert not (phone.home / "device.key").exists()

    # a fresh code works
    pair = laptop.start("pair")
    joined = phone.run("join", "--code", pairing_code(pair), "--peer", peer)
    assert joined.returncode == 0, joined.stderr
    assert pair.wait() == 0
    line = one_line_error(Device(phone.home.parent / "tablet").run("join", "--code", code, "--peer", peer))
    assert "(used-code)" in line and "already used to add a device" in line


# A code that expires while the test watches: `hum up` with the code's lifetime cut short,
# in a child process of its own (the constant is the one PairingCode reads).
SHORT_LIVED_UP = "import sys, hum.ensemble.pairing as p; p.PAIRING_CODE_TTL = 1.5; from hum.cli import main; sys.exit(main(sys.argv[1:]))"


def test_an_expired_pairing_code_says_it_expired_on_both_sides(devices):
    laptop, phone = devices
    laptop_port = free_port()
    laptop.start("operator", "init").wait()
    up = subprocess.Popen(
        [sys.executable, "-c", SHORT_LIVED_UP, "up", "--listen", f"127.0.0.1:{laptop_port}", "--http", "127.0.0.1:0", "--worker", "scripted", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=laptop.env,
    )
    try:
        json.loads(up.stdout.readline())  # up
        pair = laptop.start("pair")
        code = pairing_code(pair)
        host = one_line_error(pair)
        assert "expired unused" in host and "hum pair" in host
        assert [line.split(":")[0] for line in pair.out] == ["pairing code", "on the new device"]
        line = one_line_error(phone.run("join", "--code", code, "--peer", f"127.0.0.1:{laptop_port}"))
        assert "(expired-code)" in line and "expired unused" in line and "hum pair" in line
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=STEP_TIMEOUT)
