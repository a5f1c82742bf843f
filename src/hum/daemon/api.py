"""The daemon's own HTTP routes under /hum/: status for the CLI, pairing and revocation."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hum.ensemble.identity import IdentityError
from hum.ensemble.pairing import PairingError

if TYPE_CHECKING:
    from hum.daemon.run import Daemon


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": code, "code": code}}, status=status)


def _local_only(request: web.Request) -> web.Response | None:
    """Operator actions (pairing, revocation) are taken on the device itself."""
    from hum.daemon.run import is_loopback

    if not is_loopback(request.remote or ""):
        return _error(403, "local-only", "this action is only accepted from this device")
    return None


def add_daemon_routes(app: web.Application, daemon: Daemon) -> None:
    """Mount /hum/status, /hum/peers, /hum/hums, /hum/pair and /hum/devices/revoke."""

    def status_body() -> dict[str, Any]:
        assert daemon.humd is not None
        humd = daemon.humd
        return {
            **daemon.info,
            "peers": humd.peers(),
            "hums": humd.list_hums(),
            "revoked": sorted(humd.check.revoked),
            **daemon.door_counts(),
        }

    async def status(request: web.Request) -> web.Response:
        return web.json_response(status_body())

    async def peers(request: web.Request) -> web.Response:
        assert daemon.humd is not None
        return web.json_response({"peers": daemon.humd.peers()})

    async def hums(request: web.Request) -> web.Response:
        assert daemon.humd is not None
        return web.json_response({"hums": daemon.humd.list_hums()})

    async def pair(request: web.Request) -> web.Response:
        if (refused := _local_only(request)) is not None:
            return refused
        assert daemon.desk is not None
        try:
            ticket = daemon.desk.open()
        except PairingError as exc:
            return _error(409, exc.qualifier, str(exc))
        return web.json_response({"code": str(ticket.code), "expiresAt": ticket.code.expires_at, "listen": daemon.info.get("listen")})

    async def pair_wait(request: web.Request) -> web.Response:
        if (refused := _local_only(request)) is not None:
            return refused
        assert daemon.desk is not None
        ticket = daemon.desk.ticket
        if ticket is None:
            return _error(404, "no-pairing", "no pairing code is open")
        left = max(0.0, ticket.code.expires_at - time.time())
        try:
            humd_id = await asyncio.wait_for(asyncio.shield(ticket.done), left)
        except TimeoutError:
            return _error(410, "expired-code", "the pairing code expired unused")
        except PairingError as exc:
            return _error(400, exc.qualifier, str(exc) or exc.qualifier)
        return web.json_response({"paired": humd_id})

    async def revoke(request: web.Request) -> web.Response:
        if (refused := _local_only(request)) is not None:
            return refused
        try:
            body = await request.json()
            humd_id = daemon.revoke(str(body.get("humdId", "")))
        except (ValueError, AttributeError, RecursionError):
            return _error(400, "bad-request", 'send {"humdId": "<64 hex>"}')
        except IdentityError as exc:
            return _error(400, exc.qualifier, exc.message)
        return web.json_response({"revoked": humd_id})

    app.router.add_get("/hum/status", status)
    app.router.add_get("/hum/peers", peers)
    app.router.add_get("/hum/hums", hums)
    app.router.add_post("/hum/pair", pair)
    app.router.add_get("/hum/pair/wait", pair_wait)
    app.router.add_post("/hum/devices/revoke", revoke)
