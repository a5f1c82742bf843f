"""A push service on loopback (aiohttp), standing in for the browser vendors' ones, which cannot be reached here.

Used by `hum demo roam --notify` and the notification tests. It does what a real one does to a push: checks the VAPID JWT (RFC 8292: the
signature by the key in `k`, `aud` its own origin, `exp` within 24 h, a `sub`
contact) and the `TTL`, and, as the browser would, decrypts the RFC 8291
(`aes128gcm`) body with the subscription's private key. Its users read the
decrypted JSON it kept (with when it arrived), never merely that a request was made.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from typing import Any

import http_ece
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

# RFC 8292 §2: a JWT must not expire more than 24 hours from now.
MAX_JWT_SECONDS = 24 * 3600


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PushService:
    """Accepts pushes for the subscriptions it made; `status` and `delay` make it refuse or stall."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []  # {"sub", "payload", "ttl", "urgency", "at" (monotonic)}
        self.refused: list[str] = []  # why a push was refused (a test asserts there were none)
        self.status = 201
        self.delay = 0.0
        self.vapid_key: str | None = None  # the humd's public key, once the test learns it
        self._keys: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}
        self._vapid: dict[str, str | None] = {}  # subscription -> the VAPID key it was made with (applicationServerKey)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{sub}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def subscription(self, name: str) -> dict[str, Any]:
        """What a browser's `PushSubscription.toJSON()` would give: an endpoint here, its P-256 key and auth secret."""
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        self._keys[name] = (key, auth)
        self._vapid[name] = self.vapid_key
        public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"{self.url}/push/{name}", "keys": {"p256dh": b64url(public), "auth": b64url(auth)}}

    def payloads(self, sub: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [r["payload"] for r in self.received if r["sub"] == sub and (kind is None or r["payload"].get("kind") == kind)]

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.received)), timeout)

    def _check_vapid(self, sub: str, header: str) -> str | None:
        """Why the Authorization header is not a valid VAPID one for `sub`, or None."""
        if not header.lower().startswith("vapid "):
            return f"not a vapid Authorization: {header[:20]!r}"
        parts = dict(p.strip().split("=", 1) for p in header[6:].split(","))
        if self._vapid.get(sub) is not None and parts.get("k") != self._vapid[sub]:
            return "k is not the humd's VAPID public key"
        if not Vapid02.verify(header):
            return "the JWT signature does not verify with k"
        claims = json.loads(unb64url(parts["t"].split(".")[1]))
        if claims.get("aud") != self.url:
            return f"aud {claims.get('aud')!r} is not {self.url!r}"
        if not time.time() < claims.get("exp", 0) <= time.time() + MAX_JWT_SECONDS:
            return f"exp {claims.get('exp')} is not within 24 hours"
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return "no sub contact"
        return None

    async def _push(self, request: web.Request) -> web.Response:
        sub = request.match_info["sub"]
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 201:
            return web.Response(status=self.status, text="gone" if self.status == 410 else "no")
        why = self._check_vapid(sub, request.headers.get("Authorization", ""))
        if why is None and not request.headers.get("TTL", "").isdigit():
            why = "no TTL"
        if why is None and request.headers.get("Content-Encoding") != "aes128gcm":
            why = f"Content-Encoding {request.headers.get('Content-Encoding')!r}"
        if why is None and sub not in self._keys:
            why = f"no subscription {sub}"
        if why is not None:
            self.refused.append(why)
            return web.Response(status=401, text=why)
        key, auth = self._keys[sub]
        plain = http_ece.decrypt(await request.read(), private_key=key, auth_secret=auth, version="aes128gcm")
        entry = {
            "sub": sub, "payload": json.loads(plain), "ttl": int(request.headers["TTL"]), "urgency": request.headers.get("Urgency"),
            "at": time.monotonic(),
        }
        async with self._changed:
            self.received.append(entry)
            self._changed.notify_all()
        return web.Response(status=201)
