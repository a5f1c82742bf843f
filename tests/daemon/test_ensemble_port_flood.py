"""The ensemble port under a flood of half-open TLS connections, against a real `hum up`.

Every connection here goes to 127.0.0.1 and is bounded in count (FLOOD) and in
time (the humd's own handshake deadline, plus slack).
"""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import ssl
import time

from humd_helpers import HumUp, hum, init_home, wait_until

from hum.ensemble.transports.tcp import (
    ENSEMBLE_HANDSHAKE_TIMEOUT,
    MAX_UNAUTHENTICATED,
    MAX_UNAUTHENTICATED_PER_ADDRESS,
)
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck
from hum.ensemble.trust.tls import client_context

FLOOD = 1000
# What 1,000 half-open connections may cost the humd, all told.
RSS_BUDGET = 50 * 1024 * 1024
# The file limit many systems start a user's processes with.
SMALL_FILE_LIMIT = 1024
# The first bytes of a TLS ClientHello: a record header and the start of the handshake.
CLIENT_HELLO_START = bytes.fromhex("160301020001") + bytes.fromhex("0001fc0303") + b"\x00" * 7
# A closing connection is seen this much after the humd's deadline, at most, on a busy machine.
SLACK = 5.0


def small_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (SMALL_FILE_LIMIT, SMALL_FILE_LIMIT))


def ensure_file_limit(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count), hard))


def half_open(port: int, source: str = "127.0.0.1") -> socket.socket:
    s = socket.socket()
    s.bind((source, 0))
    s.setblocking(False)
    with contextlib.suppress(BlockingIOError):  # connecting goes on without us
        s.connect(("127.0.0.1", port))
    return s


def send_hello_start(sockets: list[socket.socket]) -> None:
    """Each socket sends the start of a ClientHello once connected (or is found already closed)."""
    # epoll, not select(): a flood's descriptors run past select's 1,024
    with selectors.DefaultSelector() as waiting:
        for s in sockets:
            waiting.register(s, selectors.EVENT_WRITE)
        deadline = time.monotonic() + 10
        while waiting.get_map() and time.monotonic() < deadline:
            for key, _ in waiting.select(1):
                waiting.unregister(key.fileobj)
                with contextlib.suppress(OSError):  # refused at accept: closed under us, as it should be
                    key.fileobj.send(CLIENT_HELLO_START)  # type: ignore[union-attr]


def closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_a_flood_of_half_open_tls_connections_is_capped_cheap_and_cut_off(tmp_path):
    ensure_file_limit(FLOOD + 256)
    home = init_home(tmp_path / "laptop")
    with HumUp(home, preexec=small_file_limit) as humd:
        rss_before = humd.rss_bytes()
        started = time.monotonic()
        # 5 sources: one host may hold at most MAX_UNAUTHENTICATED_PER_ADDRESS, all of them MAX_UNAUTHENTICATED
        sources = [f"127.0.0.{n}" for n in range(1, 6)]
        flood = [half_open(humd.port, sources[i % len(sources)]) for i in range(FLOOD)]
        try:
            send_hello_start(flood)
            # while the flood stands, HTTP and the thrum socket answer at once
            status = humd.get("/hum/status", timeout=5)
            assert humd.thrum_hello()["chi"] == "breath"
            assert status["unauthenticatedConnections"] <= MAX_UNAUTHENTICATED
            rss_during = humd.rss_bytes()
            assert rss_during - rss_before <= RSS_BUDGET, (rss_before, rss_during)

            status = wait_until(
                lambda: (s := humd.get("/hum/status"))["refusedConnections"] >= FLOOD - MAX_UNAUTHENTICATED and s,
                10, "refused connections counted",
            )
            assert status["refusedConnections"] <= FLOOD
            assert "refused" in hum("status", home=home).stdout  # said to the person too
            # the admitted ones are cut off at the handshake deadline, not held for a minute
            open_at_deadline = wait_until(
                lambda: all(closed_by_peer(s) for s in flood) or None,
                ENSEMBLE_HANDSHAKE_TIMEOUT + SLACK, "every half-open connection closed by the humd",
            )
            assert open_at_deadline
            assert time.monotonic() - started <= ENSEMBLE_HANDSHAKE_TIMEOUT + SLACK + 10
            assert humd.get("/hum/status")["unauthenticatedConnections"] == 0
        finally:
            for s in flood:
                s.close()
        assert humd.rss_bytes() - rss_before <= RSS_BUDGET

        # and the door still opens for a real device: pairing and a link right after
        status, offer = humd.request("POST", "/hum/pair", b"{}", {"Content-Type": "application/json"})
        assert status == 200, offer
        code = offer["code"]
        phone_home = tmp_path / "phone"
        joined = hum("join", "--code", code, "--peer", f"127.0.0.1:{humd.port}", "--name", "phone", home=phone_home)
        assert joined.returncode == 0, joined.stderr
        with HumUp(phone_home) as phone:
            wait_until(lambda: phone.get("/hum/peers")["peers"] == [humd.info["humdId"]], 20, "the phone links with the laptop")


def test_one_address_cannot_take_every_unauthenticated_slot(tmp_path):
    home = init_home(tmp_path / "laptop")
    with HumUp(home) as humd:
        hog = [half_open(humd.port, "127.0.0.2") for _ in range(MAX_UNAUTHENTICATED_PER_ADDRESS + 8)]
        try:
            send_hello_start(hog)
            status = wait_until(lambda: (s := humd.get("/hum/status"))["refusedConnections"] >= 8 and s, 10, "the hog's extra connections refused")
            assert status["unauthenticatedConnections"] == MAX_UNAUTHENTICATED_PER_ADDRESS
            # another address is still admitted: it is cut off by the deadline, not refused
            other = half_open(humd.port, "127.0.0.3")
            send_hello_start([other])
            wait_until(lambda: humd.get("/hum/status")["unauthenticatedConnections"] == MAX_UNAUTHENTICATED_PER_ADDRESS + 1, 10, "the other address admitted")
            other.close()
        finally:
            for s in hog:
                s.close()


def test_tls_and_the_link_handshake_share_one_deadline(tmp_path):
    """A sibling's certificate that dawdles through TLS and then says nothing is cut off ENSEMBLE_HANDSHAKE_TIMEOUT after accept."""
    home = init_home(tmp_path / "laptop")
    operator = OperatorKey.from_private_pem((home / "operator.key").read_bytes())
    stranger = Identity.mint(operator, "dawdler")  # a valid sibling: only time is against it
    context = client_context(stranger, SiblingCheck(operator.certificate))
    with HumUp(home) as humd, socket.create_connection(("127.0.0.1", humd.port), timeout=5) as sock:
        connected = time.monotonic()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=False)
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        sock.sendall(outgoing.read())  # ClientHello
        while True:  # the humd's flight, up to its Finished
            incoming.write(sock.recv(65536))
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                continue
        # a slow peer: its certificate and Finished come late, then it never says link-hello
        slow_tls = ENSEMBLE_HANDSHAKE_TIMEOUT * 0.8
        wait_until(lambda: time.monotonic() - connected >= slow_tls, slow_tls + 1, "the slow peer's pause")
        sock.sendall(outgoing.read())
        sock.settimeout(ENSEMBLE_HANDSHAKE_TIMEOUT + SLACK)
        with contextlib.suppress(ConnectionError):
            while sock.recv(65536):
                pass  # the humd's link-hello, then nothing until it closes
        closed_after = time.monotonic() - connected
    # the link handshake did not get a fresh ENSEMBLE_HANDSHAKE_TIMEOUT of its own after TLS
    assert closed_after < ENSEMBLE_HANDSHAKE_TIMEOUT + slow_tls / 2, closed_after
