"""The first hour of a new user, with real `hum` processes: the README's two-device walkthrough as
written, `hum attach` following a hum through the loss of its home, and pairing codes that say
plainly what became of them."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_devices import (
    STEP_TIMEOUT,
    Device,
    Running,
    default_sigint,
    free_port,
    one_line_error,
    pairing_code,
)

README = Path(__file__).parent.parent.parent / "README.md"
# The scripted worker's pace where a test needs to be inside a bloom: 40 tokens take 4 s.
SLOW_TPS = "10"


@pytest.fixture
def devices(tmp_path) -> Iterator[tuple[Device, Device]]:
    laptop, phone = Device(tmp_path / "laptop"), Device(tmp_path / "phone")
    yield laptop, phone
    phone.stop_all()
    laptop.stop_all()


def walkthrough_commands() -> list[str]:
    """The `hum ...` lines of the README's "Two devices" section, comments dropped."""
    text = README.read_text()
    section = text[text.index("## Two devices") : text.index("### Three ways to connect")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.startswith("hum ")]


def test_the_readme_two_device_walkthrough_works_as_written(devices):
    laptop, phone = devices
    # what the README tells a person to type, in order; each step below runs one of them
    assert walkthrough_commands() == [
        "hum up --init --listen 0.0.0.0:7433",
        'hum prompt --sid walk "tell me a story"',
        "hum pair",
        "hum join --code K7QX-M2PD --peer laptop.local:7433",
        "hum up",
        "hum peers",
        "hum hums",
        "hum attach <sigil>",
        'hum prompt --sigil <sigil> "and then?"',
    ]
    # two devices on one machine: loopback ports of their own, as the README's note says
    laptop_port, phone_port = free_port(), free_port()
    on_this_machine = ["--http", "127.0.0.1:0", "--worker", "scripted"]

    laptop_up = laptop.up("--init", "--listen", f"127.0.0.1:{laptop_port}", *on_this_machine)
    assert any("created an operator key" in line for line in laptop_up.out)
    story = laptop.run("prompt", "--sid", "walk", "tell me a story")
    assert story.returncode == 0, story.stderr
    sigil = story.stdout.splitlines()[-1].removeprefix("sigil ").strip()
    assert re.fullmatch(r"[0-9a-f]{12}", sigil), story.stdout

    pair = laptop.start("pair")
    code = pairing_code(pair)
    hint = pair.wait_line(lambda line: line.startswith("on the new device:"))
    assert f"hum join --code {code} --peer 127.0.0.1:{laptop_port}" in hint  # loopback here: the hint says so
    joined = phone.run("join", "--code", code, "--peer", f"127.0.0.1:{laptop_port}")
    assert joined.returncode == 0, joined.stderr
    assert "joined" in joined.stdout and "hum up" in joined.stdout
    assert pair.wait() == 0 and pair.out[-1].startswith("paired ")

    phone_up = phone.up("--listen", f"127.0.0.1:{phone_port}", *on_this_machine)
    assert phone.wait_peers(lambda p: p == [laptop.humd_id])
    peers = phone.run("peers")
    assert peers.returncode == 0 and peers.stdout.split() == ["laptop", f"({laptop.humd_id[:8]})", laptop.humd_id]  # by name, the full id beside
    hums = phone.run("hums")
    assert hums.returncode == 0 and hums.stdout.startswith(sigil) and "sid walk" in hums.stdout

    phone_attach = phone.start("attach", sigil)
    phone_attach.wait_line(lambda line: "tell me a story" in line)  # the conversation so far
    done_so_far = phone_attach.wait_line(lambda line: line.startswith("-- stop"))
    laptop_attach = laptop.start("attach", sigil, "--since", done_so_far.rsplit(" ", 1)[-1])
    more = phone.run("prompt", "--sigil", sigil, "and then?")
    assert more.returncode == 0, more.stderr
    assert more.stdout.splitlines()[-1] == f"sigil {sigil}"
    # answered on both, each saying where the prompt was typed
    phone_prompt = phone_attach.wait_line(lambda line: "and then?" in line)
    assert "from this device" in phone_prompt
    laptop_prompt = laptop_attach.wait_line(lambda line: "and then?" in line)
    assert f"from phone ({phone.humd_id[:8]})" in laptop_prompt  # devices by the names their person gave
    first_prompt = next(line for line in phone_attach.out if "tell me a story" in line)
    assert f"from hum-cli on laptop ({laptop.humd_id[:8]})" in first_prompt
    for attach in (phone_attach, laptop_attach):
        attach.wait_line(lambda line: line.startswith("-- stop"), after=attach.out.index(next(x for x in attach.out if "and then?" in x)))
        assert attach.interrupt() == 130 and not attach.err
    assert phone_up.interrupt() == 0 and laptop_up.interrupt() == 0


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
    assert sigil in loss and f"on laptop ({laptop.humd_id[:8]})" in loss and f"wane {seen}" in loss
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
    line = one_line_error(phone.run("join", "--code", "ABCD-EFGH", "--peer", peer))
    assert "(no-pairing)" in line and "no pairing code is open" in line and "hum pair" in line
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
SHORT_LIVED_UP = "import sys, hum.ensemble.trust.pairing_code as p; p.PAIRING_CODE_TTL = 1.5; from hum.cli import main; sys.exit(main(sys.argv[1:]))"


def test_an_expired_pairing_code_says_it_expired_on_both_sides(devices):
    laptop, phone = devices
    laptop_port = free_port()
    laptop.start("operator", "init").wait()
    up = subprocess.Popen(
        [sys.executable, "-c", SHORT_LIVED_UP, "up", "--listen", f"127.0.0.1:{laptop_port}", "--http", "127.0.0.1:0", "--worker", "scripted", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=laptop.env, preexec_fn=default_sigint,
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


# Ctrl-C must stop `hum up` about this fast even with a page open (aiohttp's default made it two minutes).
CTRL_C_WITHIN = 5.0


def test_ctrl_c_stops_hum_up_promptly_while_a_web_chat_is_open(devices):
    laptop, _ = devices
    up = laptop.up("--init", "--listen", f"127.0.0.1:{free_port()}", "--http", "127.0.0.1:0", "--worker", "scripted")
    web = urllib.parse.urlsplit(json.loads(laptop.run("status", "--json").stdout)["urls"]["web"])
    page = http.client.HTTPConnection(web.hostname, web.port, timeout=STEP_TIMEOUT)
    try:
        page.request("GET", "/api/events")  # what an open web chat holds
        events = page.getresponse()
        assert events.status == 200 and events.readline().startswith(b"event: peers")
        asked = time.monotonic()
        assert up.interrupt() == 0
        assert time.monotonic() - asked < CTRL_C_WITHIN
    finally:
        page.close()


class RawNestler:
    """A thrum client written from the wire contract alone: a Unix socket and JSON lines."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(STEP_TIMEOUT)
        self.sock.connect(path)
        self.buffer = b""
        self.seen: list[dict] = []

    def send(self, **tone: object) -> None:
        self.sock.sendall(json.dumps(tone).encode() + b"\n")

    def wait_for(self, predicate: Callable[[dict], bool], after: int = 0) -> dict:
        """The first tone from index `after` matching `predicate`, read from the socket if not seen yet."""
        for tone in self.seen[after:]:
            if predicate(tone):
                return tone
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                tone = json.loads(line)
                self.seen.append(tone)
                if predicate(tone):
                    return tone
            data = self.sock.recv(65536)
            assert data, f"the humd closed the socket; seen {self.seen[-5:]}"
            self.buffer += data


def test_a_raw_thrum_client_hears_its_home_come_back_and_resumes_from_its_wane(devices):
    laptop, phone = devices
    laptop_up, laptop_port = start_paired(laptop, phone)
    first = json.loads(laptop.run("prompt", "--sid", "raw", "hello", "--json").stdout.splitlines()[-1])
    sigil = first["sigil"]
    raw = RawNestler(json.loads(phone.run("status", "--json").stdout)["thrum"])
    raw.send(chi="hello", bee="raw", protoVersion=1)
    raw.send(chi="peers", rid="w", watch=True)
    assert raw.wait_for(lambda t: t["chi"] == "peers")["peers"] == [laptop.humd_id]
    raw.send(chi="attach", sigil=sigil, since=0)
    seen = raw.wait_for(lambda t: t["chi"] == "finish")["wane"]

    mark = len(raw.seen)
    laptop_up.kill()
    assert raw.wait_for(lambda t: t["chi"] == "error", mark)["qualifier"] == "peer-loss"
    raw.wait_for(lambda t: t["chi"] == "peers" and t["peers"] == [], mark)
    laptop.up("--listen", f"127.0.0.1:{laptop_port}", "--http", "127.0.0.1:0", "--worker", "scripted")
    back = raw.wait_for(lambda t: t["chi"] == "peers" and t["peers"], mark)
    assert back["peers"] == [laptop.humd_id] and "rid" not in back  # told, not asked

    mark = len(raw.seen)
    raw.send(chi="attach", sigil=sigil, since=seen)
    assert raw.wait_for(lambda t: t["chi"] == "hello", mark)["home"] == laptop.humd_id
    more = json.loads(laptop.run("prompt", "--sigil", sigil, "again", "--json").stdout.splitlines()[-1])
    raw.wait_for(lambda t: t["chi"] == "finish" and t["wane"] == more["wane"], mark)
    resumed = [t["wane"] for t in raw.seen[mark:] if "wane" in t and t["chi"] != "hello"]
    assert resumed == list(range(seen + 1, more["wane"] + 1))
    raw.sock.close()
