"""Browsers as devices, on an HTTP surface served as off loopback (token required): a one-time link enrols
one browser with a cookie of its own, which opens every surface until that browser alone is revoked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from hum.surfaces.app import make_app
from hum.surfaces.browsers import BROWSER_CODE_TTL, BROWSER_COOKIE, BrowserBook

TOKEN = "s3cret-for-programs"
PIXEL = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def off_loopback(humd, book: BrowserBook) -> AsyncIterator[str]:
    """The surfaces as `hum up --http 0.0.0.0:PORT` serves them (bearer token or browser cookie), on a loopback socket."""
    runner = web.AppRunner(make_app(humd, token=TOKEN, loopback_only=False, browsers=book), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def browser(agent: str) -> aiohttp.ClientSession:
    # a browser's own cookie jar (unsafe=True: it keeps cookies of an IP address, as browsers do)
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"User-Agent": agent})


async def test_a_link_enrols_one_browser_whose_cookie_opens_every_surface(sim, tmp_path):
    humd = await sim.spawn("laptop")
    book = BrowserBook(tmp_path / "browsers.json")
    code, _ = book.open_code()
    async with off_loopback(humd, book) as url, browser(PIXEL) as phone, browser(IPHONE) as other:
        for path in ("/", "/v1/hums", "/api/hums", "/api/projects"):
            async with phone.get(url + path) as r:
                assert r.status == 401, path  # nothing before enrolment
        async with phone.get(f"{url}/join/{code}", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/#/enrolled"
            cookie = r.cookies[BROWSER_COOKIE]
            assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]  # plain http here
        for path in ("/", "/v1/hums", "/api/hums", "/api/projects", "/api/events"):
            async with phone.get(url + path) as r:
                assert r.status == 200, path
        async with phone.post(url + "/api/hums", json={"text": "hello from the phone"}) as r:
            assert r.status == 202
        async with phone.get(url + "/api/browser") as r:
            me = (await r.json())["browser"]
        assert me["name"] == "Pixel 8 browser" and me["kind"] == "browser"

        # the same link again, from another browser: a clear page, and no cookie
        async with other.get(f"{url}/join/{code}", allow_redirects=False) as r:
            assert r.status == 410 and "used already" in await r.text()
            assert BROWSER_COOKIE not in r.cookies
        async with other.get(url + "/v1/hums") as r:
            assert r.status == 401
        async with other.get(url + "/") as r:  # a page load is answered with a page that says what to do
            assert r.status == 401 and "hum pair --browser" in await r.text()

    stored = (tmp_path / "browsers.json").read_text()
    secret = cookie.value.partition(".")[2]
    assert secret not in stored and json.loads(stored)["browsers"][0]["name"] == "Pixel 8 browser"  # kept hashed
    assert (tmp_path / "browsers.json").stat().st_mode & 0o777 == 0o600


async def test_a_revoked_browser_is_refused_alone_and_told_why(sim, tmp_path):
    humd = await sim.spawn("laptop")
    book = BrowserBook(tmp_path / "browsers.json")
    async with off_loopback(humd, book) as url, browser(PIXEL) as phone, browser(PIXEL) as tablet:
        for b in (phone, tablet):
            async with b.get(f"{url}/join/{book.open_code()[0]}", allow_redirects=False) as r:
                assert r.status == 302
        assert [b["name"] for b in book.listing()] == ["Pixel 8 browser", "Pixel 8 browser 2"]
        book.revoke("Pixel 8 browser")
        async with phone.get(url + "/api/hums") as r:
            body = await r.json()
            assert r.status == 401 and body["error"]["code"] == "browser-removed" and "removed" in body["error"]["message"]
        async with phone.post(url + "/api/hums", json={"text": "start something"}) as r:
            assert r.status == 401
        assert not humd.hums  # nothing started
        async with tablet.get(url + "/api/hums") as r:
            assert r.status == 200  # the other browser stays in
        async with aiohttp.ClientSession() as program, program.get(url + "/v1/hums", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200  # and programs keep the bearer token
    assert [b["name"] for b in BrowserBook(tmp_path / "browsers.json").listing()] == ["Pixel 8 browser 2"]


async def test_an_expired_or_unknown_link_enrols_nobody(sim, tmp_path):
    humd = await sim.spawn("laptop")
    clock = Clock()
    book = BrowserBook(tmp_path / "browsers.json", clock=clock)
    code, _ = book.open_code()
    clock.now += BROWSER_CODE_TTL + 1
    async with off_loopback(humd, book) as url, browser(PIXEL) as phone:
        async with phone.get(f"{url}/join/{code}", allow_redirects=False) as r:
            assert r.status == 410 and "expired" in await r.text() and BROWSER_COOKIE not in r.cookies
        async with phone.get(f"{url}/join/not-a-code", allow_redirects=False) as r:
            assert r.status == 410 and BROWSER_COOKIE not in r.cookies
    assert book.listing() == [] and not (tmp_path / "browsers.json").exists()


async def test_the_cookie_is_secure_behind_https_and_a_browser_renames_itself(sim, tmp_path):
    humd = await sim.spawn("laptop")
    book = BrowserBook(tmp_path / "browsers.json")
    async with off_loopback(humd, book) as url, browser(IPHONE) as phone:
        async with phone.get(f"{url}/join/{book.open_code()[0]}", allow_redirects=False, headers={"X-Forwarded-Proto": "https"}) as r:
            assert r.cookies[BROWSER_COOKIE]["secure"]
            cookie = r.cookies[BROWSER_COOKIE].value
        # a Secure cookie is not sent back over plain http by a browser; a TLS proxy would: send it by hand
        headers = {"Cookie": f"{BROWSER_COOKIE}={cookie}"}
        async with aiohttp.ClientSession() as again:
            async with again.put(url + "/api/browser", json={"name": "  Kitchen   iPad "}, headers=headers) as r:
                assert r.status == 200 and (await r.json())["browser"]["name"] == "Kitchen iPad"
            async with again.put(url + "/api/browser", json={"name": ""}, headers=headers) as r:
                assert r.status == 400 and (await r.json())["error"]["param"] is None
    assert [b["name"] for b in book.listing()] == ["Kitchen iPad"]
