"""`/mcp` on the HTTP surface: hum's MCP server (`mcp_server`), started when a client first knocks.

The `mcp` SDK takes a second or two to import, so a humd that nobody asks
for MCP does not pay for it at start-up: the first request to `/mcp` imports
it and starts the SDK's session manager, which then runs until the app stops.
Requests reach it through hum's own middlewares (loopback or token, same
origin, body limit) and `asgi.call_asgi`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from hum.surfaces.asgi import ASGIApp, call_asgi

if TYPE_CHECKING:
    from hum.node.humd import Humd

PATH = "/mcp"


class McpDoor:
    """The MCP server of one app: none until the first request, then the running session manager."""

    def __init__(self, humd: Humd) -> None:
        self.humd = humd
        self.asgi: ASGIApp | None = None
        self.stop: Callable[[], Awaitable[None]] | None = None
        self.starting = asyncio.Lock()

    async def app(self) -> ASGIApp:
        async with self.starting:
            if self.asgi is None:
                from hum.surfaces.mcp_server import (
                    start_manager,  # the SDK's import: only once MCP is used
                )

                self.asgi, self.stop = await start_manager(self.humd)
        return self.asgi

    async def close(self, _app: web.Application) -> None:
        if self.stop is not None:
            await self.stop()


def mount_mcp(app: web.Application, humd: Humd) -> None:
    door = McpDoor(humd)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await call_asgi(await door.app(), request)

    app.router.add_route("*", PATH, handle)
    app.on_cleanup.append(door.close)
