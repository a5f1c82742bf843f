"""Ensemble links as tasks: one `Link` over one `Connection` (reader, heartbeat ticker, sender), redial, and the book of live ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from hum.ensemble.link.events import LinkDown, LinkEvent, LinkUp, ToneIn
from hum.ensemble.link.protocol import Link, LinkState
from hum.interfaces import Connection
from hum.node.owners import Owner
from hum.node.shell import LinkShell

log = logging.getLogger(__name__)

# Redial a lost peer quickly at first, then back off to spare a sleeping phone.
REDIAL_FIRST = 0.2
REDIAL_MAX = 5.0


class LinkRunner:
    """Drives one `Link` over one `Connection` until it ends."""

    def __init__(self, humd: LinkShell, conn: Connection, dialled: str | None) -> None:
        self.humd = humd
        self.conn = conn
        self.dialled = dialled  # the address we dialled, or None for an accepted link
        self.link = Link(humd.identity, humd.check, humd.loop_time(), tls_peer=conn.peer_humd_id, max_line=humd.max_line)
        self.owner: Owner | None = None  # set once the router accepts the link
        self.ticker_wake = asyncio.Event()  # deadlines changed (the link came up)
        self.up = asyncio.Event()  # the peer proved itself; hum tones may flow

    def flush(self) -> None:
        data = self.link.data_to_send()
        if data:
            self.conn.write(data)
            self.link.sent(self.humd.loop_time())

    def cut(self) -> None:
        """Leave now: goodbye to the peer, and the connection closed."""
        self.link.goodbye()
        self.flush()
        self.conn.close()

    async def run(self) -> str:
        """Run until the link ends; returns why (`closed`, `reset`, `eof`, `timeout`)."""
        self.flush()
        tasks = [
            asyncio.create_task(self._reader()),
            asyncio.create_task(self._ticker()),
            asyncio.create_task(self._sender()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reason = next(iter(done)).result()
        finally:
            for task in tasks:
                task.cancel()
            self.flush()
            self.conn.close()
            self.humd.link_ended(self.owner)
        return reason

    async def _reader(self) -> str:
        while True:
            try:
                data = await self.conn.read()
            except (ConnectionError, OSError) as exc:
                down = self.link.closed_by_transport(f"connection lost: {exc}")
                self._handle([down] if down else [])
                return "reset"
            if not data:
                down = self.link.closed_by_transport("the peer closed the connection")
                self._handle([down] if down else [])
                return "eof"
            if self.link.peer:
                self.humd.link_heard(self.link.peer)
            if self._handle(self.link.receive_data(data, self.humd.loop_time())):
                return "closed"

    def _handle(self, events: list[LinkEvent]) -> bool:
        ended = False
        for event in events:
            if isinstance(event, LinkUp):
                self.owner = self.humd.link_up(event.peer, dialled=self.dialled is not None, cut=self.cut, name=event.name)
                if self.owner is None:  # a duplicate of a live link: this one goes
                    self.link.goodbye()
                    ended = True
                    break
                self.ticker_wake.set()
                self.up.set()
            elif isinstance(event, ToneIn) and self.owner is not None:
                self.humd.link_tone(self.owner, event.content_lazy)  # a frame's petals as their bytes
            elif isinstance(event, LinkDown):
                log.info("%s: link to %s down: %s (%s)", self.humd.name, self.link.peer, event.qualifier, event.message)
                ended = True
        self.flush()
        return ended

    async def _ticker(self) -> str:
        while True:
            delay = max(0.0, self.link.next_deadline() - self.humd.loop_time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ticker_wake.wait(), timeout=delay)
            self.ticker_wake.clear()
            if self._handle(self.link.tick(self.humd.loop_time())) or self.link.state is LinkState.CLOSED:
                return "timeout"

    async def _sender(self) -> str:
        await self.up.wait()
        owner = self.owner
        assert owner is not None
        while True:
            tones = await self.humd.next_tones(owner, lines=True)  # petals as their tap lines: a replay is never parsed here
            if self.link.state is not LinkState.UP:
                return "closed"
            self.link.send_all(tones)  # runs of one hum's petals as `petals` frames; one write for all
            self.flush()
            await self.conn.drain()


class LinkBook:
    """The live links (how to cut each) and the addresses being dialled, one task each."""

    def __init__(self) -> None:
        self._cuts: dict[Owner, Callable[[], None]] = {}  # how to cut each live link
        self._dialling: dict[str, object] = {}  # address -> its dialling task

    def live(self) -> int:
        return len(self._cuts)

    def up(self, owner: Owner, cut: Callable[[], None]) -> None:
        self._cuts[owner] = cut

    def cut(self, owner: Owner) -> None:
        cut = self._cuts.pop(owner, None)
        if cut is not None:
            cut()

    def cut_all(self) -> None:
        for cut in list(self._cuts.values()):
            cut()

    def ended(self, owner: Owner) -> bool:
        """A link's connection ended; True if it was a live link (not one already cut or replaced)."""
        return self._cuts.pop(owner, None) is not None

    def dial(self, address: str, start: Callable[[], object]) -> None:
        """Keep dialling `address` (one task per address, however often it is named)."""
        if address not in self._dialling:
            self._dialling[address] = start()


async def dial_forever(humd: LinkShell, address: str) -> None:
    """Keep a link to `address` up: dial, run the link, redial with backoff when it drops."""
    delay = REDIAL_FIRST
    while not humd.stopping:
        try:
            conn = await humd.transport.connect(address)
        except (ConnectionError, OSError) as exc:
            log.info("%s: cannot reach %s: %s", humd.name, address, exc)
        else:
            runner = LinkRunner(humd, conn, address)
            reason = await runner.run()
            if runner.link.peer and reason != "closed":
                delay = REDIAL_FIRST
            if runner.link.state is LinkState.CLOSED and runner.owner is None and reason == "closed":
                # refused (identity) or a duplicate of a live link: redial slowly
                delay = REDIAL_MAX
        await asyncio.sleep(delay)
        delay = min(delay * 2, REDIAL_MAX)
