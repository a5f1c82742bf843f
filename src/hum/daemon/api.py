"""The daemon's own HTTP routes under /hum/: status for the CLI, pairing and revocation."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from hum.ensemble.trust.certificates import HumdId
from hum.errors import IdentityError, PairingError
from hum.wire.addresses import is_loopback

if TYPE_CHECKING:  # typing only: the Daemon composes these routes, they never build one
    from hum.daemon.pairing import PairingDesk
    from hum.node.humd import Humd


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": code, "code": code}}, status=status)


def from_this_device(request: web.Request) -> bool:
    """True when the request comes from this machine: over loopback, or from the very address it arrived at.

    A humd serving HTTP on one non-loopback address (`--http 192.168.1.5:7434`) is reached by this
    machine's own CLI from that address: the kernel picks the destination as the source of a
    connection to itself, and no other machine can complete a TCP handshake from our address.
    """
    remote = request.remote or ""
    if is_loopback(remote):
        return True
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    return bool(remote) and isinstance(sockname, tuple) and str(sockname[0]).split("%")[0] == remote.split("%")[0]


def _local_only(request: web.Request) -> web.Response | None:
    """Operator actions (pairing, revocation) are taken on the device itself."""
    if not from_this_device(request):
        return _error(403, "local-only", "this action is only accepted from this device")
    return None


class DaemonView(Protocol):
    """What the routes read of the running daemon."""

    humd: Humd | None
    desk: PairingDesk | None
    info: dict[str, Any]

    def revoke(self, humd_id: str) -> HumdId: ...

    def door_counts(self) -> dict[str, int]: ...

    def collector_status(self) -> dict[str, Any]: ...


def add_daemon_routes(app: web.Application, daemon: DaemonView) -> None:
    """Mount /hum/status, /hum/peers, /hum/hums (DELETE one to forget it), /hum/pair and /hum/devices/revoke."""
    add_reading_routes(app, daemon)
    add_pairing_routes(app, daemon)
    add_operator_routes(app, daemon)


def add_reading_routes(app: web.Application, daemon: DaemonView) -> None:
    """What the CLI reads of the running daemon: /hum/status, /hum/peers, /hum/hums, a hum's orphans."""

    def status_body() -> dict[str, Any]:
        assert daemon.humd is not None
        humd = daemon.humd
        return {
            **daemon.info,
            "peers": humd.peers(),
            "hums": humd.list_hums(),
            "revoked": sorted(humd.check.revoked),
            **humd.health(),
            **daemon.door_counts(),
            "gc": daemon.collector_status(),
        }

    async def status(request: web.Request) -> web.Response:
        return web.json_response(status_body())

    async def peers(request: web.Request) -> web.Response:
        assert daemon.humd is not None
        peers = daemon.humd.peers()
        return web.json_response({"peers": peers, "names": {p: daemon.humd.device_names().get(p, "") for p in peers}})

    async def hums(request: web.Request) -> web.Response:
        assert daemon.humd is not None
        names = {hid: name for hid, name in daemon.humd.device_names().items() if name}
        names[daemon.humd.id] = daemon.humd.name
        marks = daemon.humd.attention  # read marks (issue 20): how much of each hum nobody has read yet
        listed = [{**h, "seen": marks.mark(h["sigil"]), "unread": max(0, int(h.get("wane") or 0) - marks.mark(h["sigil"]))} for h in daemon.humd.list_hums()]
        return web.json_response({"hums": listed, "names": names})

    async def orphans(request: web.Request) -> web.Response:
        """The petals of a hum this device set aside as orphaned branches (kept, never served)."""
        assert daemon.humd is not None and daemon.humd.store is not None
        return web.json_response({"orphans": daemon.humd.store.orphans(request.match_info["sigil"])})

    app.router.add_get("/hum/status", status)
    app.router.add_get("/hum/peers", peers)
    app.router.add_get("/hum/hums", hums)
    app.router.add_get("/hum/hums/{sigil}/orphans", orphans)


def add_pairing_routes(app: web.Application, daemon: DaemonView) -> None:
    """/hum/pair shows a one-time code; /hum/pair/wait answers when a device used it (this device only)."""

    async def pair(request: web.Request) -> web.Response:
        if (refused := _local_only(request)) is not None:
            return refused
        assert daemon.desk is not None
        try:
            ticket = daemon.desk.open()
        except PairingError as exc:
            return _error(409, exc.qualifier, str(exc))
        info = daemon.info
        # what the new device passes to `hum join --peer`: iroh reaches across
        # networks, the relay through one, the ensemble port only on the same network
        peer = info.get("iroh") or info.get("relay") or info.get("listen")
        return web.json_response({"code": str(ticket.code), "expiresAt": ticket.code.expires_at, "listen": info.get("listen"), "peer": peer})

    async def pair_wait(request: web.Request) -> web.Response:
        if (refused := _local_only(request)) is not None:
            return refused
        assert daemon.desk is not None
        ticket = daemon.desk.ticket
        if ticket is None:
            return _error(404, "no-pairing", "no pairing code is open; run `hum pair` to show one")
        left = max(0.0, ticket.code.expires_at - time.time())
        try:
            humd_id = await asyncio.wait_for(asyncio.shield(ticket.done), left)
        except TimeoutError:
            return _error(410, "expired-code", "the pairing code expired unused; run `hum pair` again for a new one")
        except PairingError as exc:
            if exc.qualifier == "bad-code":
                message = "a device tried a wrong code, and that spends it; run `hum pair` again for a new one"
            else:
                message = f"pairing failed ({exc.qualifier}): {exc.message or exc.qualifier}"
            return _error(400, exc.qualifier, message)
        return web.json_response({"paired": humd_id})

    app.router.add_post("/hum/pair", pair)
    app.router.add_get("/hum/pair/wait", pair_wait)


def add_operator_routes(app: web.Application, daemon: DaemonView) -> None:
    """The operator's acts on this device: revoke a device, forget a hum."""

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

    async def forget(request: web.Request) -> web.Response:
        """DELETE a hum: everywhere when it lives here, else this device's copy (as `hum forget`)."""
        if (refused := _local_only(request)) is not None:
            return refused
        assert daemon.humd is not None
        answer = await daemon.humd.forget(request.match_info["sigil"])
        if answer.chi == "error":
            status = {"unknown-hum": 404, "bloom-open": 409, "disk-full": 507, "io-error": 500}.get(str(answer.get("qualifier")), 400)
            return _error(status, str(answer.get("qualifier")), str(answer.get("message")))
        return web.json_response({k: answer.get(k) for k in ("sigil", "where", "home", "homeName")})

    app.router.add_delete("/hum/hums/{sigil}", forget)
    app.router.add_post("/hum/devices/revoke", revoke)
