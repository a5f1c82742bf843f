"""One aiohttp app serving every HTTP surface of a humd: the OpenAI API, the AI SDK chat and the web chat."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from hum.node.humd import Humd
from hum.surfaces import aisdk, anthropic, openai, webchat
from hum.surfaces.access import make_auth, same_origin_writes
from hum.surfaces.browsers import BrowserBook, add_browser_routes, refusal_pages
from hum.surfaces.http import (
    DEFAULT_MAX_BODY,
    HUMD_KEY,
    MAX_BODY_KEY,
    body_limit,
    json_errors,
)
from hum.surfaces.mcp_door import mount_mcp
from hum.wire.addresses import is_loopback


def make_app(
    humd: Humd,
    *,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    loopback_only: bool = True,
    browsers: BrowserBook | None = None,
) -> web.Application:
    """The aiohttp app serving every HTTP surface of `humd`.

    `loopback_only=True` (the default binding) accepts requests from this
    machine only and needs no token; `loopback_only=False` (bound elsewhere)
    requires `token` as `Authorization: Bearer <token>` on every request, or
    the cookie of a browser enrolled in `browsers` (`hum pair --browser`).
    """
    if not loopback_only and not token:
        raise ValueError("serving off loopback needs a bearer token")
    app = web.Application(
        client_max_size=max_body,
        middlewares=[refusal_pages, json_errors, anthropic.anthropic_errors, same_origin_writes, make_auth(token, loopback_only, browsers.admits if browsers else None), body_limit],
    )
    app[HUMD_KEY] = humd
    app[MAX_BODY_KEY] = max_body
    openai.add_routes(app)
    anthropic.add_routes(app)
    mount_mcp(app, humd)
    aisdk.add_routes(app)
    webchat.add_routes(app)
    add_browser_routes(app, browsers or BrowserBook(None))
    return app


@dataclass
class Served:
    """A running surfaces server: its base URL and how to stop it."""

    url: str
    runner: web.AppRunner

    async def close(self) -> None:
        await self.runner.cleanup()


async def serve(
    humd: Humd,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> Served:
    """Serve the surfaces of `humd` on `host:port` (0 picks a free port); loopback unless `host` is not."""
    loopback_only = is_loopback(host)
    app = make_app(humd, token=token, max_body=max_body, loopback_only=loopback_only)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1] if sockets else port
    shown = f"[{host}]" if ":" in host else host
    return Served(f"http://{shown}:{bound}", runner)


