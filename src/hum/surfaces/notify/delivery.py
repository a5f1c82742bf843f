"""Carrying a notification out: Web Push (RFC 8291 payloads, RFC 8292 VAPID, by pywebpush) and every other channel by apprise.

Each sender answers with an `Outcome`: delivered, gone (the push service
says the subscription is no more: 404/410, drop it), or failed (anything
else: a timeout, a refusal), with the reason in words.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import apprise
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async

# A push service answers in well under a second; one that takes longer than
# this is down for our purposes, and the next event tries again.
PUSH_TIMEOUT = 10.0
# How long a push service keeps a message for a phone that is off: an ask is
# denied after ten minutes by default, so an hour covers it with room.
PUSH_TTL = 3600
# The VAPID contact (RFC 8292 §2.1 asks for one); a local humd has no public one.
VAPID_SUBJECT = "mailto:hum@localhost"
GONE = (404, 410)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    gone: bool = False
    reason: str = ""


class WebPusher:
    """Sends one encrypted, VAPID-signed push per call, over one aiohttp session."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        self.vapid = Vapid02.from_pem(pem)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, info: dict[str, Any], payload: dict[str, Any], *, urgent: bool) -> Outcome:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            await webpush_async(
                info,
                json.dumps(payload, separators=(",", ":")),
                vapid_private_key=self.vapid,
                vapid_claims={"sub": VAPID_SUBJECT},
                ttl=PUSH_TTL,
                timeout=PUSH_TIMEOUT,
                headers={"Urgency": "high" if urgent else "normal"},
                aiohttp_session=self._session,
            )
        except WebPushException as exc:
            status = exc.status_code
            return Outcome(False, gone=status in GONE, reason=f"the push service answered {status}" if status else str(exc))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Outcome(False, reason=f"the push service did not answer: {exc or type(exc).__name__}")
        return Outcome(True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def is_ntfy(url: str) -> bool:
    return urlsplit(url).scheme in ("ntfy", "ntfys")


def ntfy_actions(actions: list[dict[str, str]]) -> str:
    """ntfy's action buttons: each an HTTP POST to a one-time capability, which clears the notification."""
    return "; ".join(f"http, {a['title']}, {a['url']}, method=POST, clear=true" for a in actions)


def with_query(url: str, **params: str) -> str:
    extra = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items() if v)
    return url + ("&" if "?" in url else "?") + extra if extra else url


async def send_apprise(url: str, title: str, body: str, link: str, actions: list[dict[str, str]]) -> Outcome:
    """One message to one apprise URL; an ntfy URL also gets the link to click and the action buttons."""
    if is_ntfy(url):
        url = with_query(url, click=link, actions=ntfy_actions(actions) if actions else "")
    else:
        body = f"{body}\n{link}"
    sender = apprise.Apprise()
    if not sender.add(url):
        return Outcome(False, reason="apprise does not understand this URL")
    try:
        ok = await asyncio.wait_for(sender.async_notify(body=body, title=title), PUSH_TIMEOUT)
    except TimeoutError:
        return Outcome(False, reason=f"no answer within {PUSH_TIMEOUT:g} s")
    return Outcome(True) if ok else Outcome(False, reason="the service refused it (see `hum up -v`)")


def redacted(url: str) -> str:
    """An apprise URL as it may be shown: scheme and host, no tokens or passwords."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}/…"
