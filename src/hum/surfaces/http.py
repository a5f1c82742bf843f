"""The HTTP surfaces of a humd: one aiohttp app serving the OpenAI API, the AI SDK chat and the web chat.

Every HTTP request that touches a hum is a nestler like any thrum client: it
opens a `NestlerSession`, says hello, prompts or attaches, and reads its tap.
This module holds what the three surfaces share: JSON errors, SSE, and
`HumTap`, the per-request nestler; `access.py` says who may reach them, and
`app.py` mounts the surfaces on one app.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hum.wire.tones import SIGIL_LENGTH, Tone, is_petal, sigil

if TYPE_CHECKING:
    from hum.node.humd import Humd

log = logging.getLogger(__name__)

# Requests carry whole conversations (opencode resends its history and a large
# system prompt on every turn), so the limit is generous; it exists so a
# runaway or hostile client cannot make the daemon buffer unbounded memory.
DEFAULT_MAX_BODY = 8 * 1024 * 1024

# An idle SSE stream gets a comment this often, so phones, proxies and
# browsers do not time it out, and a vanished client is noticed on write.
KEEPALIVE_SECONDS = 15.0

# How long a request waits for the hum to answer before the first byte: the
# home may be a peer across a slow link, or a model loading from disk.
FIRST_TONE_SECONDS = 120.0

# The longest silence inside a bloom before the request gives up. The brood
# has its own (longer) stall guard; this one only frees the HTTP request.
BLOOM_SILENCE_SECONDS = 330.0

# A client has this long from connecting to sending a whole request head
# (and, kept alive, between requests): a browser or SDK takes milliseconds; a
# connection that trickles or says nothing is holding a file descriptor.
HTTP_HEADER_TIMEOUT = 30.0

# A request body must arrive within this: 8 MiB (the default limit) over a
# slow 1 Mbit/s phone link takes about 70 s.
HTTP_BODY_TIMEOUT = 120.0

# Keys under which the app keeps its humd and body limit (typed, no collisions).
HUMD_KEY: web.AppKey[Humd] = web.AppKey("humd")
MAX_BODY_KEY: web.AppKey[int] = web.AppKey("max_body", int)

_names = itertools.count(1)


class SurfaceError(Exception):
    """A request that cannot be served; becomes an OpenAI-shaped JSON error."""

    def __init__(self, status: int, message: str, *, code: str | None = None, type_: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type_ or _error_type(status)
        self.param = param  # the request field at fault, as OpenAI names it


def _error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 413:
        return "request_too_large"
    if status >= 500:
        return "api_error"
    return "invalid_request_error"


def error_body(status: int, message: str, code: str | None = None, type_: str | None = None, param: str | None = None) -> dict[str, Any]:
    """The OpenAI error shape every surface answers with."""
    return {"error": {"message": message, "type": type_ or _error_type(status), "param": param, "code": code}}


def json_error(status: int, message: str, code: str | None = None) -> web.Response:
    return web.json_response(error_body(status, message, code), status=status)


# -- the per-request nestler ----------------------------------------------------


# route-error qualifiers (PROTOCOL.md) and what HTTP status says the same thing.
_ROUTE_STATUS = {"unknown-hum": 404, "identity-mismatch": 403, "no-route": 502, "peer-loss": 502, "home-alive": 409, "moved": 409, "forgotten": 410, "unknown-project": 404, "ambiguous-project": 409}


def tone_error(tone: Tone) -> SurfaceError:
    """An `error` tone that is not a petal (a refusal or a lost home) as an HTTP error."""
    qualifier = str(tone.get("qualifier") or "")
    status = _ROUTE_STATUS.get(qualifier, 400 if tone.get("code") == "bad-tone" else 502)
    return SurfaceError(status, str(tone.get("message") or qualifier or "the hum refused"), code=qualifier or None)


class HumTap:
    """One HTTP request's nestler session on a humd: prompt or attach, then read tones."""

    def __init__(self, humd: Humd, kind: str, bee: str | None = None) -> None:
        self.humd = humd
        # greeted at opening: a hello would only build a breath (the recent hums) to throw away
        self.session = humd.open_nestler(f"http-{kind}-{next(_names)}-{secrets.token_hex(3)}", bee or f"hum-{kind}")
        self._pending: deque[Tone] = deque()

    async def next(self, timeout: float | None = None) -> Tone | None:
        """The next tone for this nestler (breath skipped); None when `timeout` passes first."""
        while not self._pending:
            if not await self.settle(timeout):
                return None
        return self._pending.popleft()

    async def settle(self, timeout: float | None) -> bool:
        """Wait (at most `timeout`) until tones are here, taking none; False when none came in time."""
        while not self._pending:
            try:
                async with asyncio.timeout(timeout):  # not wait_for: no task per wait
                    tones = await self.session.next_tones()
            except TimeoutError:
                return False
            self._pending.extend(t for t in tones if t.chi not in ("breath", "hums", "peers"))
        return True

    def petals_waiting(self) -> bool:
        """A petal (or an error) is already here: `bloom` yields it without waiting."""
        return any(is_petal(t) or t.chi == "error" for t in self._pending)

    def push_back(self, tone: Tone) -> None:
        self._pending.appendleft(tone)

    def prompt(self, target: HumTarget, text: str, **fields: Any) -> str:
        """Send a prompt; returns the request id its prompt petal will carry (`reqId`)."""
        req = secrets.token_hex(8)
        tone = Tone.make("prompt", text=text, reqId=req, **target.fields(), **fields)
        self.session.receive(tone)
        return req

    def attach(self, sg: str, since: int) -> None:
        self.session.receive(Tone(chi="attach", sigil=sg, since=since))

    def adopt(self, sg: str) -> str:
        """Ask this humd to become the hum's home; returns the request id its `adopted` (or `route-error`) answer carries."""
        ask = secrets.token_hex(8)
        self.session.receive(Tone(chi="adopt", sigil=sg, rid=ask))
        return ask

    def cancel(self, sg: str) -> None:
        self.session.receive(Tone(chi="cancel", sigil=sg))

    def close(self) -> None:
        self.session.close()

    async def bloom(self, req: str) -> AsyncIterator[Tone]:
        """The petals of the bloom our prompt `req` opened: its prompt petal, chunks, then finish or error.

        Raises `SurfaceError` when the hum refuses before our prompt is
        appended. A lost home after that is yielded as a non-petal `error`
        tone (no `wane`), which ends the bloom for this request.
        """
        ours = False
        asking: set[Any] = set()  # open asks: a worker waiting for a person is not silent (the home times the ask)
        while True:
            tone = await self.next(FIRST_TONE_SECONDS if not ours else None if asking else BLOOM_SILENCE_SECONDS)
            if tone is None:
                raise SurfaceError(504, "the hum did not answer in time", code="timeout")
            chi = tone.chi
            if chi == "error" and not is_petal(tone):
                if not ours:
                    raise tone_error(tone)
                yield tone
                return
            if not is_petal(tone):
                continue  # hello, drone verdicts
            if not ours:
                ours = chi == "prompt" and tone.get("reqId") == req
                if ours:
                    yield tone
                continue  # the tail of an earlier bloom, before our queued prompt
            yield tone
            if chi == "permission-ask":
                asking.add(tone.get("permitId"))
            elif chi == "permit":
                asking.discard(tone.get("permitId"))
            if chi in ("finish", "error"):
                return
            if chi == "prompt":
                return  # a next bloom started; ours closed without a finish we saw


@dataclass(frozen=True)
class HumTarget:
    """Which hum a prompt goes to: an existing `sigil`, or a `sid` that finds or mints one."""

    sigil: str
    sid: str | None = None

    def fields(self) -> dict[str, Any]:
        return {"sid": self.sid} if self.sid is not None else {"sigil": self.sigil}

    @classmethod
    def for_sid(cls, humd: Humd, sid: str) -> HumTarget:
        return cls(sigil(humd.nest, sid), sid)


def known_hum(humd: Humd, sg: str) -> bool:
    """True when this humd knows hum `sg`: its own, a mirror, or announced by a peer."""
    return humd.knows(sg)


def looks_like_sigil(name: str) -> bool:
    return len(name) == SIGIL_LENGTH and all(c in "0123456789abcdef" for c in name)


async def find_hum(humd: Humd, sg: str) -> bool:
    """True when hum `sg` exists anywhere in the ensemble.

    A peer announces a new hum one link latency after minting it, so a sigil
    this humd has not heard of yet is asked for (the home answers), not refused.
    """
    if known_hum(humd, sg):
        return True
    if not looks_like_sigil(sg) or not humd.peers():
        return False
    tap = HumTap(humd, "seek")
    try:
        tap.attach(sg, 0)
        tone = await tap.next(FIRST_TONE_SECONDS)
    finally:
        tap.close()
    return tone is not None and tone.chi == "hello"


async def need_hum(humd: Humd, sg: str) -> None:
    """`find_hum`, or a 404."""
    if not await find_hum(humd, sg):
        raise SurfaceError(404, f"no hum with sigil {sg!r} is known in this ensemble", code="unknown-hum")


def new_sid(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


# -- SSE ----------------------------------------------------------------------------


# What every SSE response says besides its own headers: an event stream, never cached or buffered.
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

# Compact JSON, one encoder for every event (json.dumps with options builds a new one per call).
_COMPACT = json.JSONEncoder(separators=(",", ":"))


class _HeadersWithFirstBytes(web.StreamResponse):
    """A response whose headers go out with its first bytes: one write to the socket, not two.

    aiohttp's own `web.Response` holds its headers back this way (this class attribute).
    """

    _send_headers_immediately = False


async def open_sse(request: web.Request, headers: dict[str, str] | None = None, *, with_first_write: bool = False) -> web.StreamResponse:
    """Start a `text/event-stream` response (no buffering anywhere on the way).

    `with_first_write`: the headers wait for the first event, which the caller writes at once.
    """
    kind = _HeadersWithFirstBytes if with_first_write else web.StreamResponse
    resp = kind(status=200, headers={**SSE_HEADERS, **headers} if headers else SSE_HEADERS)
    await resp.prepare(request)
    return resp


def sse_data(obj: Any, *, event: str | None = None, id_: int | None = None) -> bytes:
    lines = []
    if id_ is not None:
        lines.append(f"id: {id_}")
    if event is not None:
        lines.append(f"event: {event}")
    payload = obj if isinstance(obj, str) else _COMPACT.encode(obj)
    lines.append(f"data: {payload}")
    return ("\n".join(lines) + "\n\n").encode()


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/413 `SurfaceError`."""
    try:
        async with asyncio.timeout(HTTP_BODY_TIMEOUT):
            raw = await request.read()
    except TimeoutError as exc:
        raise SurfaceError(408, f"the request body did not arrive within {HTTP_BODY_TIMEOUT:.0f} s", code="body-timeout") from exc
    except web.HTTPRequestEntityTooLarge as exc:
        raise SurfaceError(413, f"request body is over the limit of {request.app[MAX_BODY_KEY]} bytes", code="body-too-large") from exc
    try:
        body = json.loads(raw)
    except RecursionError as exc:
        raise SurfaceError(400, "the request body nests too deeply", code="bad-json") from exc
    except ValueError as exc:  # not JSON, not UTF-8, or a number too long to read
        raise SurfaceError(400, f"the request body is not valid JSON: {exc}", code="bad-json") from exc
    if not isinstance(body, dict):
        raise SurfaceError(400, "the request body must be a JSON object", code="bad-json")
    return body


# -- middlewares ---------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure answers as an OpenAI-shaped JSON error; nothing escapes as a 500 page."""
    try:
        return await handler(request)
    except SurfaceError as exc:
        return web.json_response(error_body(exc.status, exc.message, exc.code, exc.type, exc.param), status=exc.status)
    except web.HTTPRedirection:
        raise
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, f"request body is over the limit of {request.app[MAX_BODY_KEY]} bytes", "body-too-large")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason, None)
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("surface request %s %s failed", request.method, request.path)
        return json_error(500, "internal error in the hum surface (logged by humd)", "internal")


@web.middleware
async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse an announced over-limit body before reading any of it."""
    length = request.content_length
    if length is not None and length > request.app[MAX_BODY_KEY]:
        raise SurfaceError(413, f"request body is over the limit of {request.app[MAX_BODY_KEY]} bytes", code="body-too-large")
    return await handler(request)


async def write_or_gone(resp: web.StreamResponse, data: bytes) -> bool:
    """Write to a streaming response; False once the client has gone."""
    try:
        await resp.write(data)
    except (ConnectionResetError, ConnectionError, RuntimeError):
        return False
    return True


class HeldEvents:
    """A stream's SSE events, written as they come, except that the events of petals already waiting
    (a burst an upstream read brought) go out together: one write to the socket, not one per petal."""

    def __init__(self, resp: web.StreamResponse, tap: HumTap) -> None:
        self.resp = resp
        self.tap = tap
        self._held: list[bytes] = []

    async def send(self, data: bytes = b"") -> bool:
        """Written now (with what is held), or with the next when more petals are already here; False
        once the client has gone. Nothing to add (a petal with no event) writes what is held."""
        if data:
            self._held.append(data)
        if not self._held or self.tap.petals_waiting():
            return True
        data = b"".join(self._held)
        self._held.clear()
        return await write_or_gone(self.resp, data)

    async def finish(self, last: bytes = b"") -> None:
        """What is held, `last`, and the end of the stream, in one write."""
        await finish_sse(self.resp, b"".join([*self._held, last]))
        self._held.clear()


async def finish_sse(resp: web.StreamResponse, last: bytes = b"") -> None:
    """End the stream; `last` (the final events) goes out in the same write as the end."""
    with contextlib.suppress(ConnectionResetError, ConnectionError, RuntimeError):
        await resp.write_eof(last)
