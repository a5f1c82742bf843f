"""The HTTP surfaces of a real `hum up` against cross-origin writes and connections that never finish a request."""

from __future__ import annotations

import json
import socket
import time

import pytest
from humd_helpers import HumUp, init_home, wait_until

from hum.surfaces.http import HTTP_HEADER_TIMEOUT

# Bounded: enough to show a file-descriptor leak, few enough for a shared CI box.
HALF_OPEN = 1000
# A closed connection is seen this much after the humd's deadline, at most, on a busy machine.
SLACK = 5.0
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def humd(tmp_path_factory):
    with HumUp(init_home(tmp_path_factory.mktemp("doors") / "laptop")) as running:
        yield running


def _new_hum(humd: HumUp, headers: dict[str, str]) -> tuple[int, dict]:
    return humd.request("POST", "/api/hums", json.dumps({"text": "hello"}).encode(), headers)


@pytest.mark.parametrize("origin", ["http://127.0.0.2:8000", "http://localhost.evil.example", "null", "http://127.0.0.1:1"])
def test_a_write_from_another_origin_is_403_whatever_the_content_type(humd, origin):
    before = humd.get("/hum/hums")["hums"]
    for content_type in ("text/plain", "application/json", "application/x-www-form-urlencoded"):
        for path, body in (("/api/hums", b'{"text": "x"}'), ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "x"}]}'), ("/hum/pair", b"{}"), ("/hum/devices/revoke", b'{"humdId": "' + b"ab" * 32 + b'"}'), ("/hum/pair/browser", b"{}"), ("/hum/projects", b'{"dir": "/tmp", "name": "x"}')):
            status, answer = humd.request("POST", path, body, {"Content-Type": content_type, "Origin": origin})
            assert status == 403 and answer["error"]["code"] == "cross-origin", (path, answer)
    assert humd.get("/hum/hums")["hums"] == before
    assert humd.get("/hum/status")["revoked"] == []
    assert humd.get("/hum/projects")["projects"] == []


def test_a_cross_site_fetch_without_origin_is_still_refused(humd):
    status, _ = _new_hum(humd, {**JSON, "Sec-Fetch-Site": "cross-site"})
    assert status == 403


def test_clients_without_origin_and_same_origin_pages_keep_working(humd):
    assert _new_hum(humd, JSON)[0] == 202  # curl, the SDKs, opencode: no Origin
    own = humd.http  # http://127.0.0.1:PORT
    assert _new_hum(humd, {**JSON, "Origin": own, "Sec-Fetch-Site": "same-origin"})[0] == 202
    # reading stays open to any client: reads change nothing
    assert humd.request("GET", "/v1/models", headers={"Origin": "http://127.0.0.2:8000"})[0] == 200


def test_connections_that_never_finish_their_request_head_are_closed(humd):
    host, port = humd.http.removeprefix("http://").rsplit(":", 1)
    idle = []
    for i in range(HALF_OPEN):
        s = socket.create_connection((host, int(port)), timeout=5)
        if i % 2:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
        idle.append(s)
    started = time.monotonic()
    try:
        # while they hang, the surfaces answer everyone else
        assert humd.get("/hum/status", timeout=5)["humdId"]
        assert humd.thrum_hello()["chi"] == "breath"
        for s in idle:
            s.setblocking(False)

        def all_closed() -> bool:
            return all(_closed(s) for s in idle)

        wait_until(all_closed, HTTP_HEADER_TIMEOUT + SLACK, "every idle HTTP connection closed by the humd")
        assert time.monotonic() - started >= HTTP_HEADER_TIMEOUT - SLACK  # the deadline, not a hasty cut
    finally:
        for s in idle:
            s.close()


def _closed(s: socket.socket) -> bool:
    try:
        return s.recv(65536) == b"" or _closed(s)
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.mark.parametrize("body", [b"[" * 5000, b'{"text": ' + b"7" * 5000 + b"}"], ids=["deep-nesting", "huge-number"])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/chat", "/api/hums", "/hum/devices/revoke"])
def test_json_that_python_cannot_read_is_a_400_not_a_500(humd, path, body):
    """Found by tests/fuzz/test_fuzz_http.py: RecursionError and the int-digits limit escaped as 500s."""
    status, answer = humd.request("POST", path, body, JSON)
    assert status == 400, answer
    assert answer["error"]["message"]
