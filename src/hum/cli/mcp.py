"""`hum mcp`: hum's MCP server over stdio, for clients that spawn their servers (Claude Code, Claude Desktop, editors).

It is the running humd's own MCP server (streamable HTTP at `/mcp`),
carried over stdio by the official SDK on both sides: each request is passed
on, each answer passed back, and `resources/updated` notices of the hums this
client subscribed to are passed along as they come.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from hum.cli.common import CliError, home_of
from hum.daemon.home import Home, HomeError

log = logging.getLogger(__name__)


def _endpoint(home: Home) -> tuple[str, dict[str, str]]:
    try:
        info = home.runtime()
    except HomeError as exc:
        raise CliError(str(exc)) from exc
    if not info.get("http"):
        raise CliError("the running humd serves no HTTP (started with --http none), so it has no MCP server")
    token = home.path / "token"
    headers = {"Authorization": f"Bearer {token.read_text().strip()}"} if token.exists() else {}
    return f"{info['http']}/mcp", headers


def cmd_mcp(args: argparse.Namespace) -> int:
    import anyio

    url, headers = _endpoint(home_of(args))
    logging.getLogger().setLevel(logging.WARNING)
    try:
        anyio.run(bridge, url, headers)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # the SDK's task groups raise the transport's error inside a group
        raise CliError(f"lost the humd's MCP server at {url}: {_first(exc)}") from exc
    return 0


def _first(exc: BaseException) -> BaseException:
    """The error itself, out of however many exception groups it came wrapped in."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def bridge(url: str, headers: dict[str, str]) -> None:
    """Serve MCP on stdio, answering every request by asking `url`'s MCP server the same."""
    import mcp.types as types
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server
    from mcp.shared._httpx_utils import create_mcp_http_client

    subscribers: dict[str, Any] = {}  # uri -> the stdio session that subscribed to it

    async def on_upstream(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            session = subscribers.get(str(message.params.uri))
            if session is not None:
                await session.send_resource_updated(message.params.uri)
        elif isinstance(message, Exception):
            print(f"hum mcp: the humd's MCP server: {message}", file=sys.stderr)

    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, message_handler=on_upstream) as upstream,
    ):
        await upstream.initialize()

        async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
            return await upstream.list_tools()

        async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
            return await upstream.call_tool(params.name, params.arguments or {})

        async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
            return await upstream.list_resources(cursor=getattr(params, "cursor", None))

        async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
            return await upstream.read_resource(params.uri)

        async def subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
            subscribers[str(params.uri)] = ctx.session
            return await upstream.subscribe_resource(str(params.uri))

        async def unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
            subscribers.pop(str(params.uri), None)
            return await upstream.unsubscribe_resource(str(params.uri))

        server: Server[Any] = Server(
            "hum",
            version="0.1.0",
            instructions=(upstream.initialize_result.instructions if upstream.initialize_result else None),
            on_list_tools=list_tools,
            on_call_tool=call_tool,
            on_list_resources=list_resources,
            on_read_resource=read_resource,
            on_subscribe_resource=subscribe,
            on_unsubscribe_resource=unsubscribe,
        )
        async with stdio_server() as (stdin, stdout):
            await server.run(stdin, stdout, server.create_initialization_options())
