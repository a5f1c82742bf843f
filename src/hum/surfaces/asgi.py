"""One aiohttp request served by an ASGI app (the `mcp` SDK's streamable HTTP transport is one).

The request has passed hum's middlewares (loopback or token, same origin,
body limit) before it gets here; its body is read whole (bounded by the
app's `client_max_size`), and the app's response is streamed back as it is
sent, so server-sent events reach the client at once. (aiohttp-asgi's
`ASGIResource` was tried first: with the SDK's session manager its requests
never completed here.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web

from hum.surfaces.http import HTTP_BODY_TIMEOUT, MAX_BODY_KEY, SurfaceError

# How often an open response (an idle SSE stream) checks that its client is still there: an
# abandoned stream holds its MCP session's reader this long at most.
DISCONNECT_CHECK_SECONDS = 5.0

Message = MutableMapping[str, Any]
ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


def _scope(request: web.Request) -> dict[str, Any]:
    host, port = (request.transport.get_extra_info("sockname") or ("127.0.0.1", 0))[:2] if request.transport else ("127.0.0.1", 0)
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path.split("?", 1)[0].encode(),
        "query_string": request.query_string.encode(),
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in request.raw_headers],
        "client": (request.remote or "", 0),
        "server": (host, port),
    }


async def read_body(request: web.Request) -> bytes:
    try:
        return await asyncio.wait_for(request.read(), HTTP_BODY_TIMEOUT)
    except TimeoutError as exc:
        raise SurfaceError(408, f"the request body did not arrive within {HTTP_BODY_TIMEOUT:.0f} s", code="body-timeout") from exc
    except web.HTTPRequestEntityTooLarge as exc:
        raise SurfaceError(413, f"request body is over the limit of {request.app[MAX_BODY_KEY]} bytes", code="body-too-large") from exc


async def call_asgi(app: ASGIApp, request: web.Request) -> web.StreamResponse:
    body = await read_body(request)
    delivered = False
    gone = asyncio.Event()  # set when the response is over: the app's next receive() hears a disconnect
    resp: web.StreamResponse | None = None

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        while not gone.is_set():  # aiohttp does not cancel a handler whose client left: look now and then
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), DISCONNECT_CHECK_SECONDS)
            if request.transport is None or request.transport.is_closing():
                break
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal resp
        if message["type"] == "http.response.start":
            resp = web.StreamResponse(status=message["status"])
            for key, value in message.get("headers", []):
                resp.headers.add(key.decode("latin-1"), value.decode("latin-1"))
            await resp.prepare(request)
        elif message["type"] == "http.response.body" and resp is not None:
            try:
                if message.get("body"):
                    await resp.write(message["body"])
                if not message.get("more_body"):
                    await resp.write_eof()
                    gone.set()
            except (ConnectionError, RuntimeError):
                gone.set()  # the client left: the app hears it on its next receive()
                raise

    try:
        await app(_scope(request), receive, send)
    except (ConnectionError, RuntimeError):
        pass
    finally:
        gone.set()
    if resp is None:
        return web.Response(status=500, text="the MCP transport sent no response")
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write_eof()
    return resp
