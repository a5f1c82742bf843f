"""Notifications over HTTP: the VAPID key, browsers' push subscriptions, the one-time answers, watching and read marks.

Every route here is behind the same access rules as the other surfaces
(loopback, or the bearer token / the web chat's cookie), except
`POST /hum/push/answers/{permitId}/{token}`: its token is the capability, so
a phone's ntfy app (which has no token) can press Allow.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from hum.node.attention import MAX_WANE
from hum.surfaces.http import (
    HUMD_KEY,
    KEEPALIVE_SECONDS,
    SurfaceError,
    known_hum,
    open_sse,
    read_json,
    write_or_gone,
)
from hum.surfaces.notify.book import public_key_b64
from hum.surfaces.notify.notifier import Notifier
from hum.surfaces.notify.policy import check_level, parse_clock
from hum.surfaces.permits import settle_ask
from hum.wire.addresses import is_loopback
from hum.wire.tones import PROTO_VERSION, Tone

NOTIFIER_KEY: web.AppKey[Notifier] = web.AppKey("notifier", Notifier)
# A push service's endpoint URL is a few hundred characters; longer is not one.
MAX_ENDPOINT_CHARS = 2048
# While a page watches a hum, its read mark follows the hum's tip this often.
SEEN_EVERY = 1.0
# An answer through a capability carries its route's own authority, not the bearer token's.
CAPABILITY_ROUTE = "/hum/push/answers/{permit_id}/{token}"


def add_push_routes(app: web.Application, notifier: Notifier) -> None:
    app[NOTIFIER_KEY] = notifier
    app.router.add_get("/hum/push/key", push_key)
    app.router.add_post("/hum/push/subscriptions", subscribe)
    app.router.add_delete("/hum/push/subscriptions/{id}", unsubscribe)
    app.router.add_get("/hum/push/choices", get_choices)
    app.router.add_post("/hum/push/choices", set_choices)
    app.router.add_post("/hum/push/test", test)
    app.router.add_get("/hum/push/unread", unread)
    app.router.add_get("/hum/push/hums/{sigil}", one_hum)
    app.router.add_post(CAPABILITY_ROUTE, answer).handler.own_authority = True  # type: ignore[attr-defined]
    app.router.add_get("/hum/watch/{sigil}", watch)
    app.router.add_post("/hum/seen/{sigil}", seen)


async def push_key(request: web.Request) -> web.Response:
    return web.json_response({"publicKey": public_key_b64(request.app[NOTIFIER_KEY].key)})


def _b64(value: Any, field: str, length: int) -> bytes:
    if not isinstance(value, str):
        raise SurfaceError(400, f"`{field}` is base64url text", code="bad-subscription", param=field)
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SurfaceError(400, f"`{field}` is not base64url", code="bad-subscription", param=field) from exc
    if len(raw) != length:
        raise SurfaceError(400, f"`{field}` must decode to {length} bytes, not {len(raw)}", code="bad-subscription", param=field)
    return raw


def check_subscription(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """A browser's PushSubscription JSON, checked: endpoint, p256dh, auth, level; else a 400 naming the field."""
    endpoint, keys = body.get("endpoint"), body.get("keys")
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT_CHARS:
        raise SurfaceError(400, f"`endpoint` is the push service's URL (at most {MAX_ENDPOINT_CHARS} characters)", code="bad-subscription", param="endpoint")
    parts = urlsplit(endpoint)
    loopback = parts.scheme == "http" and is_loopback(parts.hostname or "")
    if not parts.hostname or not (parts.scheme == "https" or loopback):
        raise SurfaceError(400, "`endpoint` must be https:// (plain http:// only on loopback)", code="bad-subscription", param="endpoint")
    if not isinstance(keys, dict):
        raise SurfaceError(400, "`keys` is an object with `p256dh` and `auth`", code="bad-subscription", param="keys")
    p256dh = _b64(keys.get("p256dh"), "keys.p256dh", 65)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError as exc:
        raise SurfaceError(400, "`keys.p256dh` is not a P-256 public key", code="bad-subscription", param="keys.p256dh") from exc
    _b64(keys.get("auth"), "keys.auth", 16)
    level = body.get("notify", "all")
    if level not in ("asks", "all"):
        raise SurfaceError(400, "`notify` is `asks` or `all`", code="bad-subscription", param="notify")
    return endpoint, str(keys["p256dh"]), str(keys["auth"]), str(level)


def _origin(request: web.Request) -> str:
    """Where this browser reaches us: the links in its notifications point there."""
    origin = request.headers.get("Origin")
    return origin if origin and origin != "null" else f"{request.scheme}://{request.host}"


async def subscribe(request: web.Request) -> web.Response:
    endpoint, p256dh, auth, level = check_subscription(await read_json(request))
    try:
        sub_id = request.app[NOTIFIER_KEY].book.subscribe(endpoint, p256dh, auth, level, _origin(request))
    except OverflowError as exc:
        raise SurfaceError(409, str(exc), code="too-many-subscriptions") from exc
    request.app[NOTIFIER_KEY].scan()  # the first channel: following starts now, not at the next look
    return web.json_response({"id": sub_id}, status=201)


async def unsubscribe(request: web.Request) -> web.Response:
    sub_id = request.match_info["id"]
    if not request.app[NOTIFIER_KEY].book.unsubscribe(sub_id):
        raise SurfaceError(404, f"no subscription {sub_id!r} here", code="unknown-subscription")
    return web.json_response({"id": sub_id, "deleted": True})


async def get_choices(request: web.Request) -> web.Response:
    notifier = request.app[NOTIFIER_KEY]
    return web.json_response(choices_body(notifier))


def choices_body(notifier: Notifier) -> dict[str, Any]:
    subs = [{"id": s.id, "notify": s.level, "service": urlsplit(s.endpoint).hostname} for s in notifier.book.subscriptions()]
    return {**notifier.policy.choices.as_json(), "subscriptions": subs, "channels": len(notifier.apprise)}


async def set_choices(request: web.Request) -> web.Response:
    """`{level?, hums?: {sigil: level|null}, quiet?: {start, end}|null, homes?: bool, subscription?: {id, notify}}`: all checked before any is kept."""
    notifier = request.app[NOTIFIER_KEY]
    body = await read_json(request)
    choices = notifier.book.choices()
    try:
        if "level" in body:
            choices.level = check_level(body["level"])
        hums = body.get("hums", {})
        if not isinstance(hums, dict):
            raise ValueError("`hums` maps sigils to a level (or null for this device's)")
        for sg, level in hums.items():
            if level is None:
                choices.hums.pop(sg, None)
            else:
                choices.hums[str(sg)] = check_level(level)
        if "quiet" in body:
            quiet = body["quiet"]
            if quiet is not None and not isinstance(quiet, dict):
                raise ValueError("`quiet` is {start: HH:MM, end: HH:MM}, or null")
            choices.quiet = None if quiet is None else (parse_clock(str(quiet.get("start"))), parse_clock(str(quiet.get("end"))))
        if "homes" in body:
            if not isinstance(body["homes"], bool):
                raise ValueError("`homes` is true or false")
            choices.homes = body["homes"]
        sub = body.get("subscription")
        if sub is not None and (not isinstance(sub, dict) or sub.get("notify") not in ("none", "asks", "all")):
            raise ValueError("`subscription` is {id, notify: none|asks|all}")
    except ValueError as exc:
        raise SurfaceError(400, str(exc), code="bad-choice") from exc
    if sub is not None and not notifier.book.set_level(str(sub.get("id")), str(sub["notify"])):
        raise SurfaceError(404, f"no subscription {sub.get('id')!r} here", code="unknown-subscription")
    notifier.book.save_choices(choices)
    notifier.policy.choices = choices
    return web.json_response(choices_body(notifier))


async def test(request: web.Request) -> web.Response:
    return web.json_response({"results": await request.app[NOTIFIER_KEY].test()})


async def unread(request: web.Request) -> web.Response:
    """Each hum this humd knows: its tip and how far it was read (anywhere)."""
    humd = request.app[HUMD_KEY]
    attention = humd.attention
    return web.json_response({"hums": {e["sigil"]: {"wane": e.get("wane", 0), "seen": attention.mark(e["sigil"])} for e in humd.list_hums()}})


async def one_hum(request: web.Request) -> web.Response:
    """Where notifications stand for one hum: its tip, its read mark, whether anyone watches, how far the notifier has read it."""
    notifier = request.app[NOTIFIER_KEY]
    sg = request.match_info["sigil"]
    hum = notifier.humd.hum(sg)
    attention = notifier.humd.attention
    return web.json_response({
        "sigil": sg, "wane": hum.tip if hum is not None else None, "seen": attention.mark(sg),
        "watched": attention.watched(sg), "notifiedTo": notifier.book.cursor(sg),
    })


async def answer(request: web.Request) -> web.Response:
    """Allow or Deny from a notification: the capability decides, once; the first answer anywhere still wins."""
    notifier = request.app[NOTIFIER_KEY]
    permit_id, token = request.match_info["permit_id"], request.match_info["token"]
    cap = notifier.book.capability(token)
    if cap is None:
        raise SurfaceError(404, "no such capability: it was never given, or it expired long ago", code="unknown-capability")
    if cap.permit_id != permit_id:
        raise SurfaceError(403, "this capability answers another ask", code="wrong-permit")
    if cap.expires < notifier.clock():
        raise SurfaceError(403, "this capability has expired", code="expired-capability")
    if cap.channel.startswith("sub-") and cap.channel not in {s.id for s in notifier.book.subscriptions()}:
        raise SurfaceError(403, "the subscription this capability was given to is gone", code="unsubscribed")
    permit, ours = await settle_ask(request.app[HUMD_KEY], cap.sigil, permit_id, cap.decision, None, since=cap.wane - 1, kind="push")
    if not ours:
        raise SurfaceError(409, f"already answered ({permit.get('decision')}) by {permit.get('from')}", code="already-decided")
    return web.json_response({"sigil": cap.sigil, "permitId": permit_id, "decision": permit.get("decision"), "from": permit.get("from"), "wane": permit.get("wane")})


async def watch(request: web.Request) -> web.StreamResponse:
    """SSE held open while a page shows hum `sigil` in the foreground: it counts as watching, and reads the hum as it goes."""
    humd = request.app[HUMD_KEY]
    sg = request.match_info["sigil"]
    if not known_hum(humd, sg):
        raise SurfaceError(404, f"no hum with sigil {sg!r} is known here", code="unknown-hum")
    session = humd.open_nestler(f"http-watch-{secrets.token_hex(3)}")
    try:
        session.receive(Tone(chi="hello", bee="hum-web", protoVersion=PROTO_VERSION))
        session.receive(Tone(chi="watch", sigil=sg, watching=True))
        resp = await open_sse(request)
        read, quiet = -1, 0.0
        while True:
            hum = humd.hum(sg)
            tip = hum.durable_tip if hum is not None else 0
            if tip > read:
                read = tip
                session.receive(Tone(chi="seen", sigil=sg, wane=tip))
                if not await write_or_gone(resp, f"event: seen\ndata: {tip}\n\n".encode()):
                    return resp
                quiet = 0.0
            await asyncio.sleep(SEEN_EVERY)
            quiet += SEEN_EVERY
            if quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                if not await write_or_gone(resp, b": keepalive\n\n"):
                    return resp
    finally:
        session.close()


async def seen(request: web.Request) -> web.Response:
    humd = request.app[HUMD_KEY]
    sg = request.match_info["sigil"]
    body = await read_json(request)
    wane = body.get("wane")
    if not isinstance(wane, int) or isinstance(wane, bool) or not 0 <= wane <= MAX_WANE:
        raise SurfaceError(400, f"`wane` is a whole number from 0 to {MAX_WANE}", code="bad-wane", param="wane")
    if not known_hum(humd, sg):
        raise SurfaceError(404, f"no hum with sigil {sg!r} is known here", code="unknown-hum")
    session = humd.open_nestler(f"http-seen-{secrets.token_hex(3)}")
    try:
        session.receive(Tone(chi="hello", bee="hum-web", protoVersion=PROTO_VERSION))
        session.receive(Tone(chi="seen", sigil=sg, wane=wane))
    finally:
        session.close()
    return web.json_response({"sigil": sg, "seen": humd.attention.mark(sg)})
