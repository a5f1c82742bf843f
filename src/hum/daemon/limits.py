"""File descriptors: the soft limit raised at start, and a reserve that HTTP clients cannot take.

Every connection costs a descriptor. At a soft limit of 1024 (a common default), a thousand
half-open HTTP connections left nothing for the thrum socket, the ensemble port or the store
until `HTTP_HEADER_TIMEOUT` closed them. So the humd raises its soft limit to the hard one, and
the HTTP door refuses connections past the limit less `LOCAL_RESERVE`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

# Descriptors kept for everything but HTTP: nestlers on the thrum socket (a CLI, an editor
# plugin or two), the ensemble's links and MAX_UNAUTHENTICATED (64) handshakes, the store's
# three files, iroh's sockets, workers' pipes. 256 covers them with room to spare.
LOCAL_RESERVE = 256
# Even at a tiny limit HTTP keeps this many connections: a browser opens six at once.
HTTP_FLOOR = 16
# Where an unlimited hard limit is capped when raising the soft one (what `select`-free asyncio uses well).
UNLIMITED_TARGET = 1 << 20


def raise_open_files() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # a sandbox may refuse: keep what we have
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
    return UNLIMITED_TARGET if soft == resource.RLIM_INFINITY else int(soft)


def http_connection_cap(soft_limit: int) -> int:
    """How many HTTP connections may be open at once, leaving `LOCAL_RESERVE` descriptors free."""
    return max(soft_limit - LOCAL_RESERVE, HTTP_FLOOR)


class _Refused(asyncio.Protocol):
    """A connection past the cap: closed at once, before it can hold its descriptor."""

    def connection_made(self, transport: Any) -> None:
        transport.abort()


class CappedSite(web.TCPSite):
    """aiohttp's TCP site, refusing connections while `cap` are open (counted by aiohttp's server)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, cap: int, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context)
        self.cap = cap
        self.refused = 0

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            if len(server.connections) >= self.cap:
                self.refused += 1
                return _Refused()
            return server()

        self._server = await asyncio.get_running_loop().create_server(protocol, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog)
