"""humd as a process: the Humd core with TLS links, the thrum socket, HTTP surfaces and SQLite."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from hum.brood.config import build_brood
from hum.brood.config import check as check_worker
from hum.daemon.api import add_daemon_routes
from hum.daemon.browsers import add_browser_admin_routes
from hum.daemon.checkpoints import Checkpointer
from hum.daemon.collector import Collector
from hum.daemon.event_loop import loop_name
from hum.daemon.home import Home, HomeLock
from hum.daemon.limits import CappedSite, http_connection_cap, raise_open_files
from hum.daemon.pairing import PairingDesk
from hum.daemon.projects import add_project_routes, load_projects, project_aware
from hum.daemon.scheduling import ask_short_slice, slice_us
from hum.ensemble.transports.by_scheme import AnyTransport
from hum.ensemble.transports.iroh import IrohTransport
from hum.ensemble.transports.iroh import available as iroh_available
from hum.ensemble.transports.iroh import check_relay as check_iroh_relay
from hum.ensemble.transports.relay import RelayTransport
from hum.ensemble.transports.tcp import TlsTransport
from hum.ensemble.trust.certificates import HumdId
from hum.errors import IdentityError
from hum.interfaces import Transport
from hum.node.config import PERMIT_TIMEOUT, RouterConfig
from hum.node.humd import Humd
from hum.store.sqlite import SqliteStore
from hum.surfaces.app import Served, make_app
from hum.surfaces.browsers import BROWSERS_FILE, BrowserBook
from hum.surfaces.http import HTTP_HEADER_TIMEOUT
from hum.surfaces.notify.book import BOOK_FILE, NotifyBook, vapid_key
from hum.surfaces.notify.notifier import Notifier
from hum.surfaces.ollama import serve_ollama
from hum.surfaces.push import add_push_routes
from hum.surfaces.thrum import ThrumServer, default_socket_path
from hum.wire.addresses import IROH, RELAY, TCP, is_loopback, split_address, transport_of

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "0.0.0.0:7433"  # the ensemble port: other devices must reach it
DEFAULT_HTTP = "127.0.0.1:7434"  # surfaces stay on this device unless asked
# At shutdown, HTTP requests still running get this long to end. Streams (a web
# chat left open, a client following a hum) never end by themselves, and with
# aiohttp's default of 60 s (twice over) Ctrl-C on `hum up` hung for two minutes.
HTTP_SHUTDOWN_GRACE = 1.0
# Seconds an ask may wait for a person before it is denied (default: the router's ten minutes).
PERMIT_TIMEOUT_ENV = "HUM_PERMIT_TIMEOUT"
# Days a hum homed here may go untouched (no prompt, no attach) before it is forgotten
# everywhere; `hum up --retain-days` wins over it. Unset: keep everything.
RETAIN_DAYS_ENV = "HUM_RETAIN_DAYS"


def above_zero(raw: str, where: str, unit: str) -> float:
    """`raw` as a finite number above 0 of `unit`; anything else is a one-line ValueError naming `where`."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{where} must be a number of {unit}, not {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"{where} must be a number of {unit} above 0, not {raw!r}")
    return value


def permit_timeout(env: Mapping[str, str], default: float) -> float:
    """HUM_PERMIT_TIMEOUT as seconds above 0, or `default`; anything else is a one-line ValueError."""
    raw = env.get(PERMIT_TIMEOUT_ENV, "").strip()
    return above_zero(raw, PERMIT_TIMEOUT_ENV, "seconds") if raw else default


def retain_days(env: Mapping[str, str], flag: float | None) -> float | None:
    """`--retain-days`, else HUM_RETAIN_DAYS, as days above 0; None keeps everything."""
    if flag is not None:
        return above_zero(str(flag), "--retain-days", "days")
    raw = env.get(RETAIN_DAYS_ENV, "").strip()
    return above_zero(raw, RETAIN_DAYS_ENV, "days") if raw else None


def door_urls(http_url: str | None, ollama_url: str | None) -> dict[str, str]:
    """Where each door of a running humd is, as `hum up` and `hum status` print them."""
    urls = {}
    if http_url:
        urls = {
            "status": f"{http_url}/hum/status",
            "web": f"{http_url}/",
            "openai": f"{http_url}/v1",
            "aisdk": f"{http_url}/api/chat",
            "anthropic": f"{http_url}/v1/messages",
            "mcp": f"{http_url}/mcp",
        }
    return urls | ({"ollama": ollama_url} if ollama_url else {})


@dataclass
class DaemonOptions:
    """What `hum up` was asked for."""

    home: Path
    listen: str | None = DEFAULT_LISTEN
    http: str | None = DEFAULT_HTTP
    ollama: str | None = None  # HOST:PORT of the Ollama door (off by default: its paths collide with the AI SDK's)
    thrum: Path | None = None
    peers: list[str] = field(default_factory=list)
    worker: str = "local"
    worker_options: dict[str, Any] = field(default_factory=dict)
    auto_adopt: float | None = None  # seconds a lost home may stay lost before a followed hum is adopted here
    retain_days: float | None = None  # days a hum homed here may go untouched before it is forgotten (None: HUM_RETAIN_DAYS, else keep)
    iroh: bool = False  # run an iroh endpoint keyed by the device key
    iroh_relay: str = "default"  # n0's public relays, "none", or a relay URL
    iroh_bind: str | None = None  # the endpoint's UDP socket (default: every interface)
    relay: str | None = None  # HOST:PORT of a transit relay to wait at for siblings
    notify: list[str] = field(default_factory=list)  # apprise URLs every notification also goes to
    tls_cert: Path | None = None  # serve the HTTP surfaces as HTTPS with this certificate (and key)
    tls_key: Path | None = None
    public_url: str | None = None  # how people reach the surfaces (links in apprise notifications)


class Daemon:
    """One humd process: composes the core with its real transports and store."""

    def __init__(self, options: DaemonOptions) -> None:
        self.options = options
        self.home = Home(options.home)
        self.humd: Humd | None = None
        self.store: SqliteStore | None = None
        self.thrum: ThrumServer | None = None
        self.desk: PairingDesk | None = None
        self._runner: web.AppRunner | None = None
        self._ollama: Served | None = None
        self.info: dict[str, Any] = {}
        self.transport: TlsTransport | None = None
        self._lock: HomeLock | None = None
        self.notifier: Notifier | None = None
        self._book: NotifyBook | None = None
        self.collector: Collector | None = None
        self._reclaim: asyncio.Task[None] | None = None
        self.checkpointer: Checkpointer | None = None
        self.open_files = 0  # the soft open-file limit once raised at start
        self.short_slice = False  # the kernel took `HUM_SLICE_US` (scheduling.py)

    async def start(self) -> dict[str, Any]:
        """Bring every part up; raises with a one-line reason if one cannot start."""
        opts = self.options
        self._check_addresses()
        # one humd per home, decided before anything in it is touched
        self._lock = self.home.lock()
        self._check_peers()
        self.home.ensure()
        self.home.make_private()
        self.open_files = raise_open_files()  # a thousand idle HTTP clients must not starve the local doors
        self.short_slice = ask_short_slice(slice_us(os.environ))  # before any thread starts: they inherit it
        identity = self.home.identity()
        check = self.home.sibling_check(identity)
        check_worker(opts.worker, os.environ, **opts.worker_options)
        timeout = permit_timeout(os.environ, PERMIT_TIMEOUT)
        retain = retain_days(os.environ, opts.retain_days)
        brood = build_brood(opts.worker, os.environ, **dict(opts.worker_options))
        self.store = SqliteStore(self.home.store_path)
        self.checkpointer = Checkpointer(self.store)  # the WAL copied off the event loop, not inside a commit
        self.checkpointer.start()
        relay_key = self.home.ensure_relay_key()
        self.desk = PairingDesk(self.home.operator_key(), relay_key)
        self.transport = tcp = TlsTransport(identity, check, opts.listen, on_pairing=self.desk.serve)
        transport = self._transport(tcp)
        config = RouterConfig(permit_timeout=timeout, auto_adopt=opts.auto_adopt, retain_days=retain)
        self.humd = humd = Humd(identity, check, transport, brood, name=identity.name, store=self.store, config=config)
        tcp.linked = lambda peer: peer in humd.peers()  # the link handshake keeps the accept deadline
        humd.router.load_revocations(self.home.signed_revocations())
        humd.on_revoked = self.home.revoke
        humd.set_projects(load_projects(self.home.path))  # this device's projects
        project_aware(brood, humd)
        address = await humd.start()
        self._start_notifier(humd)
        self._start_collector()
        self.thrum = ThrumServer(humd, opts.thrum or default_socket_path(self.home.path))
        await self.thrum.start()
        http_url = await self._start_http()
        ollama_url = await self._start_ollama()
        for peer in [*self.home.peers(), *opts.peers]:
            humd.add_peer(peer)
        self.info = {
            "pid": os.getpid(),
            "humdId": humd.id,
            "name": identity.name,
            "operator": identity.operator.fingerprint,
            "listen": address,
            "iroh": transport.addresses.get(IROH) or None,
            "relay": transport.addresses.get(RELAY) or None,
            "thrum": str(self.thrum.path),
            "http": http_url,
            "ollama": ollama_url,
            "urls": door_urls(http_url, ollama_url),
            "worker": opts.worker,
            "models": brood.models(),
            "eventLoop": loop_name(asyncio.get_running_loop()),
        }
        self.home.write_runtime(self.info)
        return self.info

    def _check_addresses(self) -> None:
        """A malformed address or iroh relay fails now, with its text, before the home is touched."""
        opts = self.options
        check_iroh_relay(opts.iroh_relay)
        for address in [opts.listen, opts.http, opts.ollama, opts.relay, opts.iroh_bind]:
            if address:
                split_address(address)

    def _check_peers(self) -> None:
        for peer in self.options.peers:
            scheme, rest = transport_of(peer)
            if scheme == RELAY and "@" not in rest:
                raise ValueError(f"--peer {peer} names no device: use relay:<HumdId>@{rest} (as `hum pair` shows it), or --relay {rest} to wait there")

    def _start_notifier(self, humd: Humd) -> None:
        """Notifications: the book and VAPID key in the home, the apprise URLs of `--notify`."""
        self._book = NotifyBook(self.home.path / BOOK_FILE)
        key = vapid_key(self.home.path)
        self.notifier = Notifier(humd, self._book, key, apprise_urls=self.options.notify, public_url=self._public_url)
        self.notifier.start()

    def _start_collector(self) -> None:
        """What start-up loaded (every hum's facts, the imports) lives as long as the process: out of
        the collector's scans, so a collection's pause does not grow with the number of hums; nor
        with the hums minted since (`Collector`)."""
        loop = asyncio.get_running_loop()
        self.collector = Collector(loop)
        self.collector.start()
        self._reclaim = loop.create_task(self.collector.reclaim_forever())

    def _transport(self, tls: TlsTransport) -> AnyTransport:
        """TLS over TCP, plus iroh (asked for, or needed to dial an `iroh:` peer) and the relay."""
        opts = self.options
        transports: dict[str, Transport] = {TCP: tls, RELAY: RelayTransport(tls, opts.relay, self.home.relay_key())}
        wants_iroh = opts.iroh or any(transport_of(p)[0] == IROH for p in [*self.home.peers(), *opts.peers])
        if wants_iroh:
            if not iroh_available():
                raise ValueError("iroh is not installed here (no wheel for this platform?): use HOST:PORT or relay: peers")
            transports[IROH] = IrohTransport(tls, opts.iroh_relay, opts.iroh_bind, accept=opts.iroh)
        return AnyTransport(transports)

    async def _start_http(self) -> str | None:
        if not self.options.http or self.humd is None:
            return None
        host, port = split_address(self.options.http)
        loopback = is_loopback(host)
        token = None if loopback else self.home.token()
        browsers = BrowserBook(self.home.path / BROWSERS_FILE)
        app = make_app(self.humd, token=token, loopback_only=loopback, browsers=browsers)
        add_daemon_routes(app, self)
        add_browser_admin_routes(app, self.humd, browsers, lambda: self.info)
        add_project_routes(app, self.humd, self.home.path)
        if self.notifier is not None:
            add_push_routes(app, self.notifier)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=HTTP_SHUTDOWN_GRACE, keepalive_timeout=HTTP_HEADER_TIMEOUT)
        await self._runner.setup()
        site = CappedSite(self._runner, host, port, http_connection_cap(self.open_files), ssl_context=self._tls())
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.options.tls_cert else 'http'}://{shown}:{bound}"

    def _tls(self) -> ssl.SSLContext | None:
        """HTTPS for the surfaces (`--tls-cert`, `--tls-key`): browsers push only to secure origins."""
        opts = self.options
        if opts.tls_cert is None and opts.tls_key is None:
            return None
        if opts.tls_cert is None or opts.tls_key is None:
            raise ValueError("--tls-cert and --tls-key go together")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(opts.tls_cert, opts.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot use --tls-cert {opts.tls_cert} / --tls-key {opts.tls_key}: {exc}") from exc
        return context

    def _public_url(self) -> str:
        return (self.options.public_url or self.info.get("http") or "").rstrip("/")

    async def _start_ollama(self) -> str | None:
        if not self.options.ollama or self.humd is None:
            return None
        host, port = split_address(self.options.ollama)
        token = None if is_loopback(host) else self.home.token()
        self._ollama = await serve_ollama(self.humd, host, port, token=token, shutdown_timeout=HTTP_SHUTDOWN_GRACE, keepalive_timeout=HTTP_HEADER_TIMEOUT)
        return self._ollama.url

    def door_counts(self) -> dict[str, int]:
        """How the ensemble port is holding: connections refused at accept, and those not yet proved."""
        transport = self.transport
        if transport is None:
            return {"refusedConnections": 0, "unauthenticatedConnections": 0}
        return {"refusedConnections": transport.refused_connections, "unauthenticatedConnections": transport.unauthenticated}

    def collector_status(self) -> dict[str, Any]:
        return self.collector.status() if self.collector is not None else {}

    def revoke(self, humd_id: str) -> HumdId:
        """Revoke a device: recorded in the home, refused from now on, its link cut."""
        if self.humd is None:
            raise RuntimeError("daemon not started")
        hid = HumdId.parse(humd_id)
        if hid == self.humd.id:
            raise IdentityError("bad-humd-id", "a humd cannot revoke itself")
        operator = self.home.operator_key()
        # signed where the operator key lives, so every sibling refuses the device too
        return self.humd.revoke(hid, operator.sign_revocation(hid) if operator else None)

    async def stop(self) -> None:
        """Clean shutdown: no new nestlers, goodbye to peers, flush the store, remove the socket."""
        if self._lock is None:
            return  # the home belongs to another humd (or was never reached): leave it all alone
        # inputs first, so nothing is appended after the humd's last flush
        if self.thrum is not None:
            await self.thrum.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._ollama is not None:
            await self._ollama.close()
        if self.notifier is not None:
            await self.notifier.stop()
        if self.humd is not None:
            await self.humd.stop()
            await self.humd.brood.close()
        if self._book is not None:
            self._book.close()
        if self.checkpointer is not None:
            await self.checkpointer.stop()
        if self.store is not None:
            self.store.close()
        if self._reclaim is not None:
            self._reclaim.cancel()
        if self.collector is not None:
            self.collector.stop()
        self.home.clear_runtime()
        self._lock.release()
        self._lock = None


async def serve(options: DaemonOptions, on_ready: Any = None) -> None:
    """Run until SIGTERM or SIGINT, then shut down cleanly."""
    daemon = Daemon(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        info = await daemon.start()
        if on_ready is not None:
            on_ready(info)
        await stop.wait()
    finally:
        await daemon.stop()
