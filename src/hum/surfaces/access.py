"""Who may reach a humd's HTTP surfaces: this machine only (by a loopback name), or whoever holds
the bearer token; and a state-changing request from a web page only from our own origin."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from hum.surfaces.http import Handler, SurfaceError
from hum.wire.addresses import is_loopback

# Methods that never change anything here; every other method must come from our own origin.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Cookie the web chat keeps the bearer token in: EventSource cannot send headers.
TOKEN_COOKIE = "hum_token"


def _loopback_host(host: str) -> bool:
    """The Host header names this machine (guards against DNS rebinding from web pages)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return is_loopback(name.strip("[]"))


# An enrolment link (`hum pair --browser`) carries its own one-time credential.
ENROL_PATH = "/join/"


def make_auth(token: str | None, loopback_only: bool, browser_admits: Callable[[web.Request], bool] | None = None) -> Any:
    """The access check: loopback only, or off loopback the bearer token or an enrolled browser's cookie (`browser_admits`)."""

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ENROL_PATH) and request.method == "GET" and not loopback_only:
            return await handler(request)
        if loopback_only:
            # Bound to loopback: only this machine may talk to us, and only by a
            # loopback name, so a web page cannot reach us by DNS rebinding.
            if not is_loopback(request.remote) or not _loopback_host(request.host):
                raise SurfaceError(403, "this humd serves its surfaces to this machine only", code="loopback-only")
            return await handler(request)
        assert token is not None
        if getattr(request.match_info.handler, "own_authority", False):
            return await handler(request)  # a capability URL (surfaces/push.py): its token is its authority
        given = request.headers.get("Authorization", "")
        offered = given[7:].strip() if given.lower().startswith("bearer ") else request.headers.get("x-api-key") or request.cookies.get(TOKEN_COOKIE, "")  # x-api-key: the Anthropic SDKs
        if request.method == "GET" and request.path == "/" and "token" in request.query:
            offered = request.query["token"]
            if hmac.compare_digest(offered.encode(), token.encode()):
                # the page link `hum status` prints: keep the token in a cookie, drop it from the URL
                resp = web.HTTPFound("/")
                resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
                raise resp
        if browser_admits is not None and not given and browser_admits(request):
            return await handler(request)
        if not offered or not hmac.compare_digest(offered.encode(), token.encode()):
            raise SurfaceError(401, "missing or wrong bearer token (see `hum status`)", code="unauthorized")
        return await handler(request)

    return auth


def _same_origin(origin: str, host: str) -> bool:
    """`Origin` names the host and port this request was sent to (the scheme may differ behind a TLS proxy)."""
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and not parts.path and parts.netloc.lower() == host.lower()


@web.middleware
async def same_origin_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A state-changing request from a web page must come from our own origin, whatever its content type.

    Browsers send `Origin` with every POST, so a page elsewhere (another site,
    another port, `null` from a sandbox or a file) is refused before any
    handler runs. Clients that are not browsers send no Origin and are let
    through to the usual checks (loopback, bearer token).
    """
    if request.method not in SAFE_METHODS:
        origin = request.headers.get("Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if (origin is not None and not _same_origin(origin, request.host)) or fetch_site not in (None, "same-origin", "none"):
            raise SurfaceError(403, "cross-origin requests may not change anything here", code="cross-origin")
    return await handler(request)
