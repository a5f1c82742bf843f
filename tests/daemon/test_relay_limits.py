"""`hum relay` with real processes: unmatched connections are capped and time out,
and a port it cannot bind is one line, not a traceback and a relay that listens nowhere."""

from __future__ import annotations

import selectors
import socket
import subprocess
import time

from humd_helpers import HUM, free_port, one_line_error

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
