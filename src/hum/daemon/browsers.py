"""The daemon's side of browsers as devices (issue 21): open an enrolment link, list every device, revoke a browser.

Routes, this device only (loopback): `POST /hum/pair/browser` → `{url, code,
expires, plain}`, `GET /hum/devices` → `{devices: [...]}` (humds and
browsers), `POST /hum/browsers/revoke` `{name}`.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from hum.surfaces.browsers import BrowserBook, BrowserRefused
from hum.wire.addresses import is_loopback

if TYPE_CHECKING:
    from hum.node.humd import Humd

# An address nobody owns (TEST-NET-1, RFC 5737): a UDP socket "connected" to it
# tells which local address would reach the network, and sends nothing.
_PROBE_ADDRESS = ("192.0.2.1", 9)
WILDCARDS = ("0.0.0.0", "::", "")


def lan_address() -> str:
    """This machine's address on its network (what a phone on the same Wi-Fi dials), without sending a packet."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_PROBE_ADDRESS)
            return str(probe.getsockname()[0])
        except OSError:
            return socket.gethostname()


def join_base(http_url: str, address: str | None) -> str:
    """The web chat's address as the phone must reach it: `address` if given (a LAN name, a Tailscale name), else where HTTP is bound."""
    bound = urlsplit(http_url)
    if address:
        given = address if "://" in address else f"http://{address}"
        parts = urlsplit(given)
        port = f":{parts.port}" if parts.port else (f":{bound.port}" if "://" not in address else "")
        return f"{parts.scheme}://{parts.hostname}{port}"
    host = bound.hostname or ""
    if host in WILDCARDS:
        host = lan_address()
    shown = f"[{host}]" if ":" in host else host
    return f"{bound.scheme}://{shown}:{bound.port}"


def add_browser_admin_routes(app: web.Application, humd: Humd, book: BrowserBook, info: Callable[[], dict[str, Any]]) -> None:
    def refused(request: web.Request) -> web.Response | None:
        if not is_loopback(request.remote or ""):
            return web.json_response({"error": {"message": "this action is only accepted from this device", "code": "local-only"}}, status=403)
        return None

    async def pair_browser(request: web.Request) -> web.Response:
        if (no := refused(request)) is not None:
            return no
        body = await request.json() if request.can_read_body else {}
        address = body.get("address") if isinstance(body, dict) else None
        try:
            code, expires = book.open_code()
            base = join_base(str(info().get("http") or ""), address if isinstance(address, str) else None)
        except (BrowserRefused, ValueError) as exc:
            return web.json_response({"error": {"message": str(exc), "code": "bad-request"}}, status=400)
        host = urlsplit(base).hostname or ""
        return web.json_response(
            {"url": f"{base}/join/{code}", "code": code, "expires": expires, "plain": base.startswith("http://") and not is_loopback(host), "loopback": is_loopback(host)}
        )

    async def devices(request: web.Request) -> web.Response:
        if (no := refused(request)) is not None:
            return no
        now = int(time.time() * 1000)
        linked = set(humd.peers())
        out: list[dict[str, Any]] = [{"name": humd.name, "kind": "humd", "id": humd.id, "lastSeen": now, "this": True}]
        for hid, name in sorted(humd.device_names().items()):
            if hid != humd.id and hid not in humd.check.revoked:
                out.append({"name": name or hid[:8], "kind": "humd", "id": hid, "lastSeen": now if hid in linked else None, "linked": hid in linked})
        out.extend(book.listing())
        return web.json_response({"devices": out})

    async def revoke_browser(request: web.Request) -> web.Response:
        if (no := refused(request)) is not None:
            return no
        body = await request.json()
        name = body.get("name") if isinstance(body, dict) else None
        try:
            browser = book.revoke(str(name))
        except KeyError:
            return web.json_response({"error": {"message": f"no device named {str(name)[:80]!r} (see `hum device list`)", "code": "unknown-device"}}, status=404)
        return web.json_response({"revoked": browser.name, "id": browser.id, "kind": "browser"})

    app.router.add_post("/hum/pair/browser", pair_browser)
    app.router.add_get("/hum/devices", devices)
    app.router.add_post("/hum/browsers/revoke", revoke_browser)
