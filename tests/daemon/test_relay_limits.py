"""The relay with real processes: `hum relay` caps unmatched connections and times them out, a port it
cannot bind is one line (not a traceback and a relay that listens nowhere), and strangers who squat a
device's door cannot keep its siblings out."""

from __future__ import annotations

import asyncio
import selectors
import socket
import subprocess
import time

from humd_helpers import HUM, free_port, one_line_error

from hum.demo.roam_real import HumdProcess, pair_devices
from hum.ensemble.transports import relay

MAX_UNMATCHED = 100  # the relay's cap, lowered so a test opens the crowd in a second or two
UNMATCHED_TIMEOUT = 10.0  # long enough to open the crowd first, short for a test
# Every refused or timed-out connection is closed by the relay within this (a loaded box is slow).
CLOSED_WITHIN = 20.0


def start_relay(port: int) -> subprocess.Popen[str]:
    relay = subprocess.Popen(
        [*HUM, "relay", "--listen", f"127.0.0.1:{port}", "--unmatched-timeout", str(UNMATCHED_TIMEOUT), "--max-unmatched", str(MAX_UNMATCHED)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert relay.stdout is not None
    line = relay.stdout.readline()
    assert "listening" in line, (line, relay.stderr.read() if relay.poll() is not None else "")
    return relay


def connect(port: int, count: int) -> tuple[list[socket.socket], int]:
    """`count` connections that say nothing; those open, and how many the relay reset at once."""
    out, reset = [], 0
    for _ in range(count):
        try:
            out.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except ConnectionResetError:
            reset += 1
    return out, reset


def closed_by_relay(sockets: list[socket.socket], within: float) -> list[socket.socket]:
    """Those of `sockets` the relay closed (EOF or reset) within `within` seconds."""
    closed: list[socket.socket] = []
    deadline = time.monotonic() + within
    with selectors.DefaultSelector() as sel:
        for s in sockets:
            sel.register(s, selectors.EVENT_READ)
        while len(closed) < len(sockets) and time.monotonic() < deadline:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                try:
                    data = s.recv(64)
                except OSError:
                    data = b""
                if not data:
                    closed.append(s)
                    sel.unregister(s)
    return closed


def close_all(sockets: list[socket.socket]) -> None:
    for s in sockets:
        s.close()


def test_a_second_relay_on_a_taken_port_exits_with_one_line():
    port = free_port()
    relay = start_relay(port)
    try:
        second = subprocess.run([*HUM, "relay", "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=30)
        assert "cannot listen" in one_line_error(second)
    finally:
        relay.terminate()
        relay.wait(10)


def test_unmatched_connections_are_capped_and_time_out():
    port = free_port()
    relay = start_relay(port)
    crowd, reset = connect(port, MAX_UNMATCHED + 50)
    try:
        # past the cap, connections are closed at once
        early = closed_by_relay(crowd, 1.0)
        assert len(early) + reset == 50
        # and every one left waiting is closed at its deadline
        rest = [s for s in crowd if s not in early]
        assert len(closed_by_relay(rest, UNMATCHED_TIMEOUT + CLOSED_WITHIN)) == len(rest)
    finally:
        close_all(crowd)
        relay.terminate()
        relay.wait(10)


SQUATTERS = 8
# The phone dials its laptop through the relay and links within this; squatted, it did not for 40 s.
LINKED_WITHIN = 15.0


async def squat(relay_address: str, token: str, stop: asyncio.Event) -> None:
    """A stranger at a door: meet whoever comes, hang up, wait again (until `stop`)."""
    while not stop.is_set():  # not only cancellation: a cancel racing wait_for's end can be lost
        try:
            sock = await relay.meet(relay_address, token, 1.0)
        except ConnectionError:
            await asyncio.sleep(0.05)
            continue
        sock.close()


async def test_strangers_squatting_the_door_a_certificate_gives_away_do_not_keep_the_phone_out(tmp_path):
    port = free_port()
    relay_process = start_relay(port)
    address = f"127.0.0.1:{port}"
    code, _, err = await cli("operator", "init", "--home", str(tmp_path / "laptop"), "--name", "laptop")
    assert code == 0, err
    laptop = HumdProcess(tmp_path / "laptop", None, extra=["--relay", address])
    phone = HumdProcess(tmp_path / "phone", None)
    squatters: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    try:
        await laptop.start()
        # all a stranger needs for the old door is in the laptop's certificate: its HumdId and operator
        door = relay.link_token(laptop.info["operator"], laptop.info["humdId"])
        squatters = [asyncio.ensure_future(squat(address, door, stop)) for _ in range(SQUATTERS)]
        await asyncio.wait_for(pair_devices(laptop, phone.home), LINKED_WITHIN)
        await phone.start()
        deadline = time.monotonic() + LINKED_WITHIN
        while (await asyncio.to_thread(phone.get, "/hum/peers"))["peers"] != [laptop.info["humdId"]]:
            assert time.monotonic() < deadline, "the phone never linked with the laptop through the relay"
            await asyncio.sleep(0.05)  # a poll of a condition with a deadline
    finally:
        stop.set()
        for task in squatters:
            task.cancel()
        await asyncio.gather(*squatters, return_exceptions=True)
        await phone.stop()
        await laptop.stop()
        relay_process.terminate()
        relay_process.wait(10)


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*HUM, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()
