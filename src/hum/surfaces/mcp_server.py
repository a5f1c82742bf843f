"""hum as an MCP server (the official `mcp` SDK's lowlevel `Server`): tools over hums, and each hum as a resource.

Tools: `list_hums`, `read_hum`, `prompt_hum`, `start_hum`, `answer_permit`,
`adopt_hum`, `forget_hum` (`mcp_tools`). Resources: each hum as `hum://SIGIL`
(its petals as text); a client that subscribes to one gets
`notifications/resources/updated` as its petals arrive. A bad argument is an
MCP `INVALID_PARAMS` error naming the field; a failure of the hum itself is a
tool result with `isError`. `start_manager` serves it as streamable HTTP at `/mcp`
on the HTTP surface (`mcp_door`, which imports this module on the first
request); `hum mcp` speaks it over stdio (`hum.cli.mcp`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from mcp.shared.exceptions import MCPError

from hum.surfaces import mcp_tools
from hum.surfaces.asgi import ASGIApp
from hum.surfaces.http import HumTap, SurfaceError, find_hum
from hum.surfaces.mcp_tools import BadArgument, Reader
from hum.wire.tones import is_petal

if TYPE_CHECKING:
    from hum.node.humd import Humd

log = logging.getLogger(__name__)

SCHEME = "hum://"
# How many hums `resources/list` names a page (the same bound as a `hums` tone's default page).
RESOURCES_PAGE = 100

_SIGIL = {"type": "string", "description": "the hum's sigil (12 hex digits)"}
TOOLS: dict[str, tuple[str, dict[str, Any], Any]] = {
    "list_hums": ("Hums this device knows, in sigil order, with their home device, wane, and whether they are blooming or unread.", {"cursor": {"type": "string", "description": "the `next` of the page before"}, "limit": {"type": "integer", "minimum": 1, "maximum": mcp_tools.LIST_MAX}}, mcp_tools.list_hums),
    "read_hum": ("A hum's petals after wane `since` (at most `limit`), as text; `wane` is the last one returned, `more` whether there are later ones.", {"sigil": _SIGIL, "since": {"type": "integer", "minimum": 0}, "limit": {"type": "integer", "minimum": 1, "maximum": mcp_tools.READ_MAX}}, mcp_tools.read_hum),
    "prompt_hum": ("Prompt a hum (by `sigil`, or by `sid`, which makes it on first use) on whichever device is its home; waits for the answer unless `wait` is false.", {"sigil": _SIGIL, "sid": {"type": "string"}, "text": {"type": "string"}, "wait": {"type": "boolean"}, "model": {"type": "string", "description": "a worker of the home's brood"}}, mcp_tools.prompt_hum),
    "start_hum": ("Start a new hum homed on this device with `text` (a fresh session id unless `sid` is given) and wait for its answer.", {"text": {"type": "string"}, "sid": {"type": "string"}, "wait": {"type": "boolean"}, "model": {"type": "string"}}, mcp_tools.start_hum),
    "answer_permit": ("Allow or deny a worker's ask (a `permission-ask` petal) to use a tool.", {"sigil": _SIGIL, "permitId": {"type": "string"}, "decision": {"type": "string", "enum": ["allow", "deny"]}, "message": {"type": "string", "description": "why (the worker's model is told)"}}, mcp_tools.answer_permit),
    "adopt_hum": ("Make this device the home of a hum whose home is gone (`force` even if the home is linked).", {"sigil": _SIGIL, "force": {"type": "boolean"}}, mcp_tools.adopt_hum),
    "forget_hum": ("Remove a hum: everywhere if it lives here, else this device's copy.", {"sigil": _SIGIL}, mcp_tools.forget_hum),
}
_REQUIRED = {"read_hum": ["sigil"], "prompt_hum": ["text"], "start_hum": ["text"], "answer_permit": ["sigil", "permitId", "decision"], "adopt_hum": ["sigil"], "forget_hum": ["sigil"]}


def tool_list() -> list[types.Tool]:
    return [types.Tool(name=name, description=text, input_schema={"type": "object", "properties": props, "required": _REQUIRED.get(name, [])}) for name, (text, props, _) in TOOLS.items()]


def sigil_of(uri: str) -> str:
    if not uri.startswith(SCHEME) or not uri[len(SCHEME) :]:
        raise MCPError(types.INVALID_PARAMS, f"uri: {uri[:80]!r} is not a hum (hum://SIGIL)")
    return uri[len(SCHEME) :].strip("/")


def client_of(ctx: Any) -> str:
    """Which client a request comes from: its streamable-HTTP session (every request has a session object of its own)."""
    request = getattr(ctx, "request", None)
    session_id = request.headers.get("mcp-session-id") if request is not None else None
    return str(session_id or id(ctx.session))


class Watches:
    """Subscribed clients: for each (session, hum), a task telling the session when the hum's petals arrive."""

    def __init__(self, humd: Humd) -> None:
        self.humd = humd
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    def start(self, client: str, notify: Callable[[str], Awaitable[None]], uri: str, sg: str) -> None:
        """Call `notify(uri)` as hum `sg`'s petals arrive, until `stop(client, uri)`."""
        key = (client, uri)
        if key not in self.tasks:
            self.tasks[key] = asyncio.get_running_loop().create_task(self._watch(notify, uri, sg))
            self.tasks[key].add_done_callback(lambda _t: self.tasks.pop(key, None))

    def stop(self, client: str, uri: str) -> None:
        task = self.tasks.pop((client, uri), None)
        if task is not None:
            task.cancel()

    def close(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()

    async def _watch(self, notify: Callable[[str], Awaitable[None]], uri: str, sg: str) -> None:
        """One notice per prompt, per bloom's first words, per ask and answer, and per finish: not one per chunk."""
        tap = HumTap(self.humd, "mcp-watch")
        try:
            tap.attach(sg, 0)
            tip: int | None = None
            told_words = False
            while True:
                tone = await tap.next(None)
                if tone is None or tone.chi == "error" and not is_petal(tone):
                    return  # the hum is gone or moved: nothing more will arrive on this tap
                if tone.chi == "hello":
                    tip = int(tone.get("wane") or 0)
                    continue
                if not is_petal(tone) or tip is None or int(tone["wane"]) <= tip:
                    continue
                if tone.chi == "chunk":
                    if told_words:
                        continue
                    told_words = True
                else:
                    told_words = tone.chi not in ("prompt", "finish", "error")
                await notify(uri)
        except Exception as exc:  # the client went away: its session refuses the notice
            log.info("mcp watch of %s ended: %s", sg, exc)
        finally:
            tap.close()


class HumHandlers:
    """The MCP requests hum answers, over one humd; one `Reader` per client keeps what it has read."""

    def __init__(self, humd: Humd) -> None:
        self.humd = humd
        self.readers: dict[str, Reader] = {}
        self.watches = Watches(humd)

    def reader(self, ctx: Any) -> Reader:
        return self.readers.setdefault(client_of(ctx), Reader())

    async def list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list())

    async def call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        entry = TOOLS.get(params.name)
        if entry is None:
            raise MCPError(types.INVALID_PARAMS, f"name: no tool {params.name[:60]!r}; the tools are {', '.join(TOOLS)}")
        try:
            result = entry[2](self.humd, self.reader(ctx), dict(params.arguments or {}))
            text, structured = await result if asyncio.iscoroutine(result) else result
        except BadArgument as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc), {"field": exc.name}) from None
        except SurfaceError as exc:
            return types.CallToolResult(content=[types.TextContent(text=exc.message)], structured_content={"error": exc.code, "message": exc.message}, is_error=True)
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=structured)

    async def list_resources(self, ctx: Any, params: Any) -> types.ListResourcesResult:
        cursor = getattr(params, "cursor", None)
        entries = [e for e in self.humd.list_hums() if cursor is None or e["sigil"] > cursor]
        page = entries[:RESOURCES_PAGE]
        resources = [types.Resource(uri=f"{SCHEME}{e['sigil']}", name=str(e.get("sid") or e["sigil"]), mime_type="text/plain") for e in page]
        return types.ListResourcesResult(resources=resources, next_cursor=page[-1]["sigil"] if len(entries) > RESOURCES_PAGE else None)

    async def read_resource(self, ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        sg = sigil_of(str(params.uri))
        try:
            text, _ = await mcp_tools.read_hum(self.humd, self.reader(ctx), {"sigil": sg, "limit": mcp_tools.READ_MAX})
        except SurfaceError as exc:
            raise MCPError(types.INVALID_PARAMS, f"uri: {exc.message}") from None
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=str(params.uri), mime_type="text/plain", text=text)])

    async def subscribe(self, ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        sg = sigil_of(str(params.uri))
        if not await find_hum(self.humd, sg):
            raise MCPError(types.INVALID_PARAMS, f"uri: no hum {sg!r} is known in this ensemble")
        self.watches.start(client_of(ctx), ctx.session.send_resource_updated, str(params.uri), sg)
        return types.EmptyResult()

    async def unsubscribe(self, ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        self.watches.stop(client_of(ctx), str(params.uri))
        return types.EmptyResult()

    async def listen(self, ctx: Any, params: types.SubscriptionsListenRequestParams) -> types.SubscriptionsListenResult:
        """The 2026-07-28 way to subscribe: one stream per listen, its own bus fed by watches of the hums it names."""
        bus, key = InMemorySubscriptionBus(), f"{client_of(ctx)}/listen/{ctx.request_id}"
        uris = [u for u in params.notifications.resource_subscriptions or () if u.startswith(SCHEME)]
        for uri in uris:
            self.watches.start(key, lambda u, bus=bus: bus.publish(ResourceUpdated(u)), uri, sigil_of(uri))
        try:
            return await ListenHandler(bus)(ctx, params)
        finally:
            for uri in uris:
                self.watches.stop(key, uri)


def build_server(humd: Humd) -> tuple[Server[Any], Watches]:
    """An MCP server over `humd` (the SDK's lowlevel `Server`), and the watches it keeps for its subscribers."""
    handlers = HumHandlers(humd)
    server: Server[Any] = Server(
        "hum",
        version="0.1.0",
        instructions="hum: one conversation (a hum) behind every protocol, on every device. List hums, read them, prompt them, answer their asks.",
        on_list_tools=handlers.list_tools,
        on_call_tool=handlers.call_tool,
        on_list_resources=handlers.list_resources,
        on_read_resource=handlers.read_resource,
        on_subscribe_resource=handlers.subscribe,
        on_unsubscribe_resource=handlers.unsubscribe,
        on_subscriptions_listen=handlers.listen,
    )
    return server, handlers.watches


async def start_manager(humd: Humd) -> tuple[ASGIApp, Callable[[], Awaitable[None]]]:
    """The SDK's streamable-HTTP session manager over `humd`, running; its ASGI app, and how to stop it."""
    server, watches = build_server(humd)
    # A session nobody used for this long is closed (the client starts a new one).
    manager = StreamableHTTPSessionManager(server, session_idle_timeout=30 * 60)
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:  # the manager's task group lives in one task, from start to stop
        async with manager.run():
            started.set()
            await stop.wait()

    task = asyncio.create_task(hold())
    await started.wait()

    async def close() -> None:
        watches.close()
        stop.set()
        with contextlib.suppress(Exception):
            await task

    return manager.asgi_app, close
