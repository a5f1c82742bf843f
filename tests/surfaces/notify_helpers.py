"""Harness for the notification tests: a humd's surfaces served with its notifier, and the push double."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from hum.node.humd import Humd
from hum.surfaces.app import make_app
from hum.surfaces.notify.book import BOOK_FILE, NotifyBook, vapid_key
from hum.surfaces.notify.notifier import Notifier
from hum.surfaces.push import add_push_routes


@dataclass
class Notified:
    """A humd served on loopback with push routes, and its running notifier."""

    humd: Humd
    notifier: Notifier
    url: str
    runner: web.AppRunner

    async def close(self) -> None:
        await self.notifier.stop()
        await self.runner.cleanup()
        self.notifier.book.close()


async def notified(
    humd: Humd, home: Path, *, apprise: list[str] | None = None, clock: Callable[[], float] = time.time, token: str | None = None
) -> Notified:
    """Serve `humd` as `hum up` does (surfaces + push routes), its notifier's book and VAPID key in `home`.

    With a `token`, the surfaces are served as off loopback: every request but a capability needs it.
    """
    home.mkdir(parents=True, exist_ok=True)
    where: list[str] = []
    notifier = Notifier(humd, NotifyBook(home / BOOK_FILE), vapid_key(home), apprise_urls=apprise, public_url=lambda: where[0], clock=clock)
    app = make_app(humd, token=token, loopback_only=token is None)
    add_push_routes(app, notifier)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    where.append(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")  # type: ignore[union-attr]
    notifier.start()
    return Notified(humd, notifier, where[0], runner)


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for `predicate` (checked as the loop turns), or fail saying `what` did not happen."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"within {timeout:g} s: {what}")
        await asyncio.sleep(0.01)


class NtfyDouble:
    """An ntfy server on loopback: keeps what apprise publishes (its JSON body, the click link and action buttons)."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.runner: web.AppRunner | None = None
        self.address = ""  # HOST:PORT, for an ntfy:// URL

    async def start(self) -> NtfyDouble:
        app = web.Application()
        app.router.add_post("/", self._publish)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.address = f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _publish(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.messages.append({**body, "click": request.headers.get("X-Click"), "actions": request.headers.get("X-Actions")})
        return web.json_response({"id": str(len(self.messages)), "event": "message"})
