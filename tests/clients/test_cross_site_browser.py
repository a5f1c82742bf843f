"""A web page on another origin cannot make a real humd do anything; the humd's own web chat still can.

Headless Chromium visits a page served from http://127.0.0.2 (another loopback
origin, as any site the user browses would be) whose script posts to the
humd's state-changing routes with `text/plain` bodies, which browsers send
without asking first; then it uses the humd's own web chat.
"""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from client_helpers import run_node
from humd_helpers import HumUp, init_home

CHROMIUM = Path("/usr/bin/chromium")
# Chromium start-up, one page of requests, one bloom of the web chat.
BROWSER_TIMEOUT = 90.0
ATTACKER_HOST = "127.0.0.2"

# Every state-changing route a page could aim at, with a body the route would accept.
ROUTES = {
    "/api/hums": '{"text": "minted by a stranger"}',
    "/v1/chat/completions": '{"model": "default", "messages": [{"role": "user", "content": "bloom for a stranger"}]}',
    "/api/chat": '{"id": "stranger", "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}], "trigger": "submit-message"}',
    "/hum/pair": "{}",
    "/hum/devices/revoke": '{"humdId": "' + "ab" * 32 + '"}',
}


def attacker_page(hum_url: str) -> bytes:
    posts = ",\n".join(
        f"fetch({hum_url + path!r}, {{method: 'POST', mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}}, body: {body!r}}}).catch(() => null)"
        for path, body in ROUTES.items()
    )
    return f"""<!doctype html><html><body>
<form id="form" method="POST" action="{hum_url}/api/hums" enctype="text/plain">
<input name='{{"text": "form from a stranger", "x": "' value='"}}'></form>
<script>Promise.all([{posts}]).then(() => {{ window.attackDone = true; }});</script>
</body></html>""".encode()


def serve_page(body: bytes) -> ThreadingHTTPServer:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((ATTACKER_HOST, 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_page_on_another_origin_is_refused_and_the_web_chat_still_works(tmp_path):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing; run `make test` (it installs it once)")
    home = init_home(tmp_path / "laptop")
    with HumUp(home) as humd:
        page = serve_page(attacker_page(humd.http))
        try:
            verdict = asyncio.run(run_node("cross_site.mjs", {
                "HUM_URL": humd.http,
                "HUM_ATTACKER_URL": f"http://{ATTACKER_HOST}:{page.server_address[1]}/",
                "HUM_USER_DATA": str(tmp_path / "chromium"),
            }, BROWSER_TIMEOUT))
        finally:
            page.shutdown()
        attack = {(r["url"], r["status"]) for r in verdict["attack"]}
        assert attack == {(path, 403) for path in ROUTES}, verdict["attack"]
        status = humd.get("/hum/status")
        assert status["revoked"] == []
        assert humd.request("GET", "/hum/pair/wait")[0] == 404  # no pairing code was opened
        # the only hum is the one the web chat made, from its own origin
        hums = status["hums"]
        assert len(hums) == 1 and verdict["reply"]
        assert [r["status"] for r in verdict["own"]] == [202]
