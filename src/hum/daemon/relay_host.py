"""`hum relay`: magic-wormhole's transit relay, with limits on connections that wait unmatched.

The library matches two connections that name the same token and glues them
together; it keeps a connection that is never matched for ever. Here every
unmatched connection has a deadline, there is a cap on how many wait at once
(in all, and under one token: a door), and a port that cannot be bound is said
in one line instead of a traceback.
"""

from __future__ import annotations

import re
import sys
from typing import Any

# Unmatched connections waiting at once, in all: each is a descriptor and a few KB of the relay's
# memory; a relay for one person's devices needs a handful, a shared one a few hundred.
MAX_UNMATCHED = 1000
# Unmatched connections under one token (a door): a humd keeps one waiting per door, a sibling
# dialling adds one; a few more cover redials racing a dropped connection.
MAX_PER_DOOR = 4
# How long a connection may wait for its match (seconds). A humd's door waits again at once when
# this ends it; a sibling dialling gives up after 10 s (MEET_TIMEOUT) anyway.
UNMATCHED_TIMEOUT = 60.0

_TOKEN = re.compile(rb"^please relay (\w{64})(?: for side \w{16})?$")


def serve_relay(host: str, port: int, *, unmatched_timeout: float = UNMATCHED_TIMEOUT, max_unmatched: int = MAX_UNMATCHED) -> int:
    """Run the relay on HOST:PORT until stopped; the exit status (2 when it cannot listen)."""
    from twisted.internet import endpoints, reactor
    from twisted.internet.protocol import ServerFactory
    from wormhole_transit_relay import transit_server
    from wormhole_transit_relay.usage import create_usage_tracker

    factory = ServerFactory()
    factory.protocol = _connection_class(transit_server.TransitConnection, reactor)
    factory.transit = transit_server.Transit(create_usage_tracker(blur_usage=None, log_file=None, usage_db=None), reactor.seconds)
    factory.log_requests = False
    factory.unmatched = {}  # connection -> its token (None until it names one)
    factory.unmatched_timeout = unmatched_timeout
    factory.max_unmatched = max_unmatched
    status = {"code": 0}

    def listening(port_: Any) -> None:
        print(f"hum relay: listening on {host}:{port_.getHost().port}", flush=True)

    def cannot_listen(failure: Any) -> None:
        print(f"hum: the relay cannot listen on {host}:{port}: {failure.getErrorMessage()}", file=sys.stderr, flush=True)
        status["code"] = 2
        if reactor.running:
            reactor.stop()

    interface = host.replace(":", "\\:")  # a Twisted endpoint string escapes IPv6 colons
    endpoint = endpoints.serverFromString(reactor, f"tcp:{port}:interface={interface}")
    endpoint.listen(factory).addCallbacks(listening, cannot_listen)
    if status["code"] == 0:  # a port that cannot be bound fails at once, before the reactor runs
        reactor.run()
    return status["code"]


def _connection_class(base: type, reactor: Any) -> type:
    """The library's connection, refusing past the caps and ending unmatched ones at their deadline."""

    class LimitedConnection(base):  # type: ignore[misc, valid-type]
        _deadline: Any = None

        def connectionMade(self) -> None:
            waiting = self.factory.unmatched
            if len(waiting) >= self.factory.max_unmatched:
                self.transport.abortConnection()  # never registered: nothing else to undo
                self._refused = True
                return
            self._refused = False
            waiting[self] = None
            self._deadline = reactor.callLater(self.factory.unmatched_timeout, self._unmatched_too_long)
            super().connectionMade()

        def lineReceived(self, line: bytes) -> None:
            found = _TOKEN.match(line)
            if found and self in self.factory.unmatched:
                token = found.group(1)
                if sum(1 for t in self.factory.unmatched.values() if t == token) >= MAX_PER_DOOR:
                    self.transport.abortConnection()
                    return
                self.factory.unmatched[self] = token
            super().lineReceived(line)

        def connect_partner(self, other: Any) -> None:
            self._matched()
            super().connect_partner(other)

        def _matched(self) -> None:
            self.factory.unmatched.pop(self, None)
            if self._deadline is not None and self._deadline.active():
                self._deadline.cancel()

        def _unmatched_too_long(self) -> None:
            if self in self.factory.unmatched:
                self.transport.abortConnection()

        def connectionLost(self, reason: Any) -> None:
            if self._refused:
                return
            self._matched()
            super().connectionLost(reason)

    return LimitedConnection
