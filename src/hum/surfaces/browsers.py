"""Browsers as devices (issue 21): enrolled by a one-time link (`hum pair --browser`), each with a credential of its own.

A browser opens `/join/<code>` (the QR code's URL); the code is spent by that
first request and lives 5 minutes. The browser gets a name ("Pixel browser",
editable) and a secret kept in an `HttpOnly`, `SameSite=Strict` cookie
(`Secure` over HTTPS); the home keeps only the secret's SHA-256 (it is 256
random bits: no password hashing needed to make it unguessable). Each browser
is listed by `hum device list` with when it was last seen, and revoked alone
(`hum device revoke NAME`): its next request gets 401 `browser-removed`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from hum.ensemble.trust.identity import atomic_write
from hum.surfaces.http import HUMD_KEY, SurfaceError

BROWSER_COOKIE = "hum_browser"
BROWSERS_FILE = "browsers.json"
# A code's life, as `hum pair`'s: long enough to find the phone and scan, short enough to leave no door open.
BROWSER_CODE_TTL = 300.0
# Codes open at once: one per `hum pair --browser` still waiting; more means something loops.
MAX_OPEN_CODES = 16
# Browsers enrolled at once: a person's phones, tablets and laptops, with room; each is a file entry.
MAX_BROWSERS = 64
# A browser's last-seen time reaches the home at most this often (every request would be a disk write).
LAST_SEEN_WRITE_SECONDS = 60.0
# A browser's name, as a person edits it.
MAX_NAME_CHARS = 40
# How long the cookie lasts: a device stays enrolled until it is revoked.
COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers cap cookie lifetimes at 400 days


@dataclass
class Browser:
    id: str
    name: str
    secret_hash: str
    enrolled: int  # wall ms
    last_seen: int  # wall ms
    revoked: bool = False

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "browser", "id": self.id, "enrolled": self.enrolled, "lastSeen": self.last_seen}


class BrowserRefused(Exception):
    """An enrolment link that cannot be used (spent, expired, unknown)."""


def name_from_agent(agent: str) -> str:
    """A name a person recognises, from the User-Agent: "Pixel 7 browser", "iPhone browser"."""
    android = re.search(r"Android [\d.]+; ([^;)]+?)(?: Build/[^;)]*)?\)", agent)
    if android and android.group(1).strip() not in ("K", "wv"):
        return f"{android.group(1).strip()[:24]} browser"
    for thing in ("iPhone", "iPad", "Android", "Macintosh", "Windows", "Linux"):
        if thing in agent:
            return f"{'Mac' if thing == 'Macintosh' else thing} browser"
    return "browser"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class BrowserBook:
    """The enrolled browsers of this humd and its open enrolment codes; kept in `browsers.json` in the home."""

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self.codes: dict[str, float] = {}  # code -> expiry (wall seconds)
        self.browsers: dict[str, Browser] = {}
        self._written: dict[str, float] = {}  # browser id -> when its last-seen was last written
        if path is not None and path.exists():
            for entry in json.loads(path.read_text()).get("browsers", []):
                self.browsers[entry["id"]] = Browser(**entry)

    def _save(self) -> None:
        if self.path is not None:
            atomic_write(self.path, json.dumps({"browsers": [asdict(b) for b in self.browsers.values()]}, indent=1).encode(), 0o600)

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    def open_code(self) -> tuple[str, float]:
        now = self.clock()
        self.codes = {c: at for c, at in self.codes.items() if at > now}
        if len(self.codes) >= MAX_OPEN_CODES:
            raise BrowserRefused(f"{MAX_OPEN_CODES} browser codes are open already; use one or wait 5 minutes")
        code = secrets.token_urlsafe(16)
        self.codes[code] = now + BROWSER_CODE_TTL
        return code, now + BROWSER_CODE_TTL

    def enrol(self, code: str, agent: str) -> tuple[Browser, str]:
        """Spend `code` for a new browser; its cookie value (`id.secret`)."""
        expires = self.codes.pop(code, None)
        if expires is None:
            raise BrowserRefused("This link was used already, or never existed. Each QR code enrols one browser: run `hum pair --browser` again for a new one.")
        if expires <= self.clock():
            raise BrowserRefused("This link expired (they last 5 minutes). Run `hum pair --browser` again for a new one.")
        live = [b for b in self.browsers.values() if not b.revoked]
        if len(live) >= MAX_BROWSERS:
            raise BrowserRefused(f"{MAX_BROWSERS} browsers are enrolled already; revoke one with `hum device revoke NAME`")
        secret = secrets.token_urlsafe(32)
        browser = Browser(secrets.token_hex(8), self._unique(name_from_agent(agent)), _hash(secret), self._ms(), self._ms())
        self.browsers[browser.id] = browser
        self._save()
        return browser, f"{browser.id}.{secret}"

    def _unique(self, name: str, keep: str | None = None) -> str:
        taken = {b.name for b in self.browsers.values() if not b.revoked and b.id != keep}
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name} {n}"
        return candidate

    def find(self, cookie: str | None) -> Browser | None:
        """The browser a cookie proves (revoked ones too), or None."""
        if not cookie or "." not in cookie:
            return None
        bid, _, secret = cookie.partition(".")
        browser = self.browsers.get(bid)
        if browser is None or not hmac.compare_digest(browser.secret_hash, _hash(secret)):
            return None
        return browser

    def admits(self, request: web.Request) -> bool:
        """The access check's browser half: a live browser's cookie passes (and marks it seen); a revoked one is 401."""
        browser = self.find(request.cookies.get(BROWSER_COOKIE))
        if browser is None:
            return False
        if browser.revoked:
            raise SurfaceError(401, f"this browser ({browser.name}) was removed from hum; ask for a new QR code (`hum pair --browser`)", code="browser-removed")
        browser.last_seen = self._ms()
        if self.clock() - self._written.get(browser.id, 0.0) >= LAST_SEEN_WRITE_SECONDS:
            self._written[browser.id] = self.clock()
            self._save()
        return True

    def revoke(self, name: str) -> Browser:
        browser = next((b for b in self.browsers.values() if b.name == name and not b.revoked), None)
        if browser is None:
            raise KeyError(name)
        browser.revoked = True
        self._save()
        return browser

    def rename(self, browser: Browser, name: str) -> None:
        browser.name = self._unique(name, keep=browser.id)
        self._save()

    def listing(self) -> list[dict[str, Any]]:
        return [b.public() for b in self.browsers.values() if not b.revoked]


# -- the routes ----------------------------------------------------------------------------

BOOK_KEY: web.AppKey[BrowserBook] = web.AppKey("browsers", BrowserBook)

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>hum</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body class="refused"><main><h1>hum</h1><p id="refusal">{message}</p></main></body></html>"""


def refusal_page(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=_PAGE.format(message=html.escape(message)), content_type="text/html", headers={"Cache-Control": "no-store"})


NOT_ENROLLED = "This browser is not enrolled with hum, or was removed. On the device running humd: hum pair --browser, then scan its QR code with this phone."


@web.middleware
async def refusal_pages(request: web.Request, handler: Any) -> web.StreamResponse:
    """A page load that is refused gets a page saying what to do, not the API's JSON error."""
    resp = await handler(request)
    if resp.status == 401 and request.method == "GET" and request.path == "/":
        return refusal_page(401, NOT_ENROLLED)
    return resp


async def join(request: web.Request) -> web.StreamResponse:
    """The QR code's URL: spend the code, give this browser its cookie, and go to the web chat."""
    book = request.app[BOOK_KEY]
    try:
        browser, cookie = book.enrol(request.match_info["code"], request.headers.get("User-Agent", ""))
    except BrowserRefused as exc:
        return refusal_page(410, str(exc))
    secure = request.secure or request.headers.get("X-Forwarded-Proto") == "https"
    resp = web.HTTPFound("/#/enrolled")
    resp.set_cookie(BROWSER_COOKIE, cookie, httponly=True, samesite="Strict", secure=secure, max_age=COOKIE_MAX_AGE, path="/")
    resp.headers["Cache-Control"] = "no-store"
    raise resp


async def whoami(request: web.Request) -> web.Response:
    """Which browser this is (null on this device's own loopback, where no cookie is needed), and which humd it talks to."""
    browser = request.app[BOOK_KEY].find(request.cookies.get(BROWSER_COOKIE))
    humd = request.app[HUMD_KEY]
    return web.json_response({"browser": browser.public() if browser and not browser.revoked else None, "humdId": humd.id, "name": humd.name})


async def rename(request: web.Request) -> web.Response:
    book = request.app[BOOK_KEY]
    browser = book.find(request.cookies.get(BROWSER_COOKIE))
    if browser is None or browser.revoked:
        raise SurfaceError(400, "only an enrolled browser can rename itself", code="not-a-browser")
    body = await request.json()
    name = " ".join(str(body.get("name", "") if isinstance(body, dict) else "").split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise SurfaceError(400, f"a name is 1 to {MAX_NAME_CHARS} characters", code="bad-name")
    book.rename(browser, name)
    return web.json_response({"browser": browser.public()})


def add_browser_routes(app: web.Application, book: BrowserBook) -> None:
    app[BOOK_KEY] = book
    app.router.add_get("/join/{code:[^/]*}", join)  # any segment (braces too): a code nobody issued gets the page
    app.router.add_get("/api/browser", whoami)
    app.router.add_put("/api/browser", rename)
