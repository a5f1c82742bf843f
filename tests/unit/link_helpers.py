"""Two Links joined by hand, sans I/O: what the link tests and the hot-path tests share."""

from __future__ import annotations

from hum.ensemble.link.events import LinkEvent, LinkUp
from hum.ensemble.link.protocol import Link
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.siblings import SiblingCheck
from hum.wire.framing import LineDecoder
from hum.wire.tones import Tone


def link_for(identity: Identity, now: float = 0.0) -> Link:
    return Link(identity, SiblingCheck(identity.operator), now)


def tones_in(data: bytes) -> list[Tone]:
    items = LineDecoder().receive_data(data)
    assert all(isinstance(i, Tone) for i in items), items
    return items  # type: ignore[return-value]


def pump(a: Link, b: Link, now: float = 0.0) -> tuple[list[LinkEvent], list[LinkEvent]]:
    """Shuttle bytes both ways until both are quiet; the events each side saw."""
    ev_a: list[LinkEvent] = []
    ev_b: list[LinkEvent] = []
    for _ in range(10):
        to_b, to_a = a.data_to_send(), b.data_to_send()
        if not to_a and not to_b:
            break
        if to_b:
            ev_b += b.receive_data(to_b, now)
        if to_a:
            ev_a += a.receive_data(to_a, now)
    return ev_a, ev_b


def linked(x: Identity, y: Identity, now: float = 0.0) -> tuple[Link, Link]:
    a, b = link_for(x, now), link_for(y, now)
    ev_a, ev_b = pump(a, b, now)
    assert ev_a == [LinkUp(y.humd_id, y.name)]  # the peer's name arrives inside the link
    assert ev_b == [LinkUp(x.humd_id, x.name)]
    return a, b
