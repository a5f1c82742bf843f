"""What the HTTP upstream workers share: one session per cell, SSE parsing, error mapping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import msgspec

from hum.brood.sse import MAX_SSE_LINE, SseParser
from hum.errors import WorkerError
from hum.interfaces import Worker

# Connecting to an upstream is quick or it is not happening; fail fast so the
# hum shows "upstream-unreachable" instead of a long silence.
CONNECT_TIMEOUT_SECONDS = 10.0

# Longest gap between two bytes of a streaming answer. Upstreams may think for a
# while before the first token (long prompts, cold models), but not forever.
READ_TIMEOUT_SECONDS = 120.0

_encode = msgspec.json.Encoder().encode

# An error body is shown to the user in one line; more than this is noise.
ERROR_BODY_CHARS = 300


class Call:
    """One bloom's HTTP exchange: its response (to hang up on) and whether it was cancelled."""

    def __init__(self) -> None:
        self.resp: aiohttp.ClientResponse | None = None
        self.cancelled = False

    def hang_up(self) -> None:
        self.cancelled = True
        if self.resp is not None:
            # Closing drops the TCP connection: the upstream sees the client go and stops generating.
            self.resp.close()


class SharedSession:
    """One aiohttp session, so one pool of kept-alive connections, for every cell of an upstream.

    Each stateless `/v1` request mints a hum and so a new cell; with a session
    of its own, each would open a new connection to the upstream before its
    first token. Cells take the session when they warm and give it back when
    they close; the last one out closes it.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._users = 0

    def take(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session, self._loop, self._users = new_session(), loop, 0
        self._users += 1
        return self._session

    async def give_back(self, session: aiohttp.ClientSession) -> None:
        if session is not self._session:  # from an earlier loop's session, already let go
            await session.close()
            return
        self._users -= 1
        if self._users <= 0:
            self._session = None
            await session.close()


class HttpUpstreamWorker(Worker):
    """A worker that blooms by streaming from an HTTP upstream: a shared session, hang-up to cancel."""

    reusable = True  # nothing of a hum stays between blooms: the brood may hand it to another hum

    def __init__(
        self, base_url: str, model: str, *, api_key: str | None, max_tokens: int, sessions: SharedSession | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.max_tokens = max_tokens
        self.sessions = sessions or SharedSession()
        self._session: aiohttp.ClientSession | None = None
        self._call = Call()

    async def warm(self) -> None:
        if self._session is None:
            self._session = self.sessions.take()

    async def _open(self, url: str, body: dict[str, Any], headers: Mapping[str, str], upstream: str) -> tuple[Call, aiohttp.ClientResponse]:
        """Start one bloom's request; a cancel that came while connecting hangs up at once."""
        await self.warm()
        assert self._session is not None
        self._call = call = Call()
        resp = await post_stream(self._session, url, body=body, headers=headers, upstream=upstream)
        call.resp = resp
        if call.cancelled:
            resp.close()
        return call, resp

    async def cancel(self) -> None:
        self._call.hang_up()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await self.sessions.give_back(session)


def new_session() -> aiohttp.ClientSession:
    """A session whose timeouts bound connect and each read, not the whole (long) stream."""
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=CONNECT_TIMEOUT_SECONDS, sock_read=READ_TIMEOUT_SECONDS
    )
    return aiohttp.ClientSession(timeout=timeout)


class SseBatches:
    """The (event, data) pairs of a `text/event-stream` body, as many as each read completed: one
    await per read, not per event, so a fast stream costs one wake-up per packet (`SseParser`).

    An async iterator, not an async generator: a reader that stops early (at `[DONE]`) leaves
    nothing to finalize, where a generator dropped unfinished is closed through the event
    loop's thread-safe wake-up (a write and a read of its eventfd, and a task) once per bloom.
    """

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._reads = aiter(resp.content.iter_any())  # aiohttp's: a plain iterator too
        self._parser = SseParser(MAX_SSE_LINE)
        self._ended = False

    def __aiter__(self) -> SseBatches:
        return self

    async def __anext__(self) -> list[tuple[str, bytes]]:
        while not self._ended:
            try:
                events = self._parser.feed(await anext(self._reads))
            except StopAsyncIteration:  # the end of the body
                self._ended = True
                events = self._parser.close()
            if events:
                return events
        raise StopAsyncIteration


def sse_batches(resp: aiohttp.ClientResponse) -> SseBatches:
    """The response's SSE events, a batch per read (`SseBatches`)."""
    return SseBatches(resp)


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of a `text/event-stream` body, one at a time, data as text."""
    async for batch in sse_batches(resp):
        for event, data in batch:
            yield event, data.decode("utf-8")


def parse_json(data: str, upstream: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as exc:
        raise WorkerError(
            "upstream-error", f"{upstream} sent a malformed event: {data[:80]!r}"
        ) from exc
    if not isinstance(parsed, dict):
        raise WorkerError("upstream-error", f"{upstream} sent a malformed event: {data[:80]!r}")
    return parsed


async def post_stream(
    session: aiohttp.ClientSession,
    url: str,
    *,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    upstream: str,
) -> aiohttp.ClientResponse:
    """POST and return the open streaming response, or raise a WorkerError naming the cause."""
    try:
        # msgspec, the hot path's codec: the body in one call, not json.dumps then an encode
        resp = await session.post(url, data=_encode(body), headers={**headers, "Content-Type": "application/json"})
    except (
        aiohttp.ClientConnectorError,
        aiohttp.ServerDisconnectedError,
        aiohttp.InvalidURL,
    ) as exc:
        raise WorkerError(
            "upstream-unreachable", f"cannot reach {upstream} at {url}: {exc}"
        ) from exc
    except TimeoutError as exc:
        raise WorkerError(
            "upstream-timeout", f"{upstream} at {url} did not answer in time"
        ) from exc
    except aiohttp.ClientError as exc:
        raise WorkerError(
            "upstream-unreachable", f"cannot reach {upstream} at {url}: {exc}"
        ) from exc
    if resp.status == 200:
        return resp
    try:
        text = (await resp.text())[:ERROR_BODY_CHARS]
    except aiohttp.ClientError:
        text = ""
    finally:
        resp.release()
    detail = _error_detail(text)
    if resp.status in (401, 403):
        raise WorkerError(
            "upstream-auth", f"{upstream} refused the API key ({resp.status}): {detail}"
        )
    raise WorkerError("upstream-error", f"{upstream} answered {resp.status}: {detail}")


def _error_detail(text: str) -> str:
    """The human part of an error body (OpenAI and Anthropic both nest it under error.message)."""
    try:
        err = json.loads(text).get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (json.JSONDecodeError, AttributeError):
        pass
    return " ".join(text.split()) or "(empty body)"
