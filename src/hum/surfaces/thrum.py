"""The thrum socket: NDJSON tones over a Unix socket, one `NestlerSession` per connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from hum.node.humd import Humd
from hum.wire.framing import DEFAULT_MAX_LINE, LineDecoder, encode
from hum.wire.tones import PROTO_VERSION, Tone, rid

log = logging.getLogger(__name__)

# Enough for a long prompt in one read; the decoder enforces the line limit.
READ_CHUNK = 64 * 1024


def default_socket_path(home: Path) -> Path:
    """`$HUM_THRUM_SOCK`, else `$XDG_RUNTIME_DIR/hum/thrum.sock`, else `run/thrum.sock` in the home."""
    if os.environ.get("HUM_THRUM_SOCK"):
        return Path(os.environ["HUM_THRUM_SOCK"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "hum" / "thrum.sock"
    return home / "run" / "thrum.sock"  # a folder of our own, created private


class ThrumServer:
    """Serves nestlers on a Unix socket (0600 in a 0700 directory); a slow one delays only itself."""

    def __init__(self, humd: Humd, path: Path, *, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.humd = humd
        self.path = path
        self.max_line = max_line
        self._server: asyncio.Server | None = None
        self._count = 0
        self._serving: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._bound = False  # the socket file is ours to remove only once we made it

    async def start(self) -> None:
        folder = self.path.parent
        if not folder.exists():
            folder.mkdir(parents=True, mode=0o700)
        elif folder.stat().st_mode & 0o077:
            # never loosen or tighten a shared folder (think /tmp); ask for a private one
            raise OSError(f"the thrum socket's folder {folder} is open to other users; use a private (0700) folder")
        if self.path.exists() or self.path.is_symlink():
            if await _socket_alive(self.path):
                raise OSError(f"another humd is serving {self.path}")
            self.path.unlink()
        old = os.umask(0o177)  # the socket is born 0600: no window where others may connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=self.max_line + 1)
        finally:
            os.umask(old)
        self._bound = True
        os.chmod(self.path, 0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count += 1
        task = asyncio.current_task()
        if task is not None:
            self._serving[task] = writer
        session = self.humd.open_nestler(f"thrum-{self._count}")
        session.push_to(_Writer(writer))

        async def pump_out() -> None:
            while True:
                writer.write(await session.next_bytes())
                await writer.drain()

        sender = asyncio.create_task(pump_out())
        try:
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    break
                session.feed(data)
        except (ConnectionError, OSError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await sender
            session.close()
            writer.close()
            self._serving.pop(task, None)  # type: ignore[arg-type]

    async def close(self) -> None:
        """Stop accepting, and end every nestler's connection so its handler returns by itself."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._serving.values()):
            writer.close()
        if self._serving:
            await asyncio.wait(list(self._serving), timeout=5)
        if self._bound:
            self._bound = False
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


class _Writer:
    """A thrum connection as a `Pusher`: ready while its kernel buffer takes what is written."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        # the transport itself, which `StreamWriter.write` only forwards to: a fan-out writes to every tap per petal
        self.transport = writer.transport

    def ready(self) -> bool:
        return not self.transport.is_closing() and self.transport.get_write_buffer_size() == 0

    def write(self, data: bytes) -> None:
        self.transport.write(data)


async def _socket_alive(path: Path) -> bool:
    try:
        _, writer = await asyncio.open_unix_connection(str(path))
    except (ConnectionError, OSError):
        return False
    writer.close()
    return True


class ThrumClient:
    """A nestler on the thrum socket: send tones, read them back (the CLI and tests use it)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._decoder = LineDecoder()
        self._ready: list[Tone] = []

    @classmethod
    async def connect(cls, path: Path, bee: str = "hum-cli") -> tuple[ThrumClient, Tone]:
        """Connect and say hello; returns the client and the humd's `breath`."""
        try:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=DEFAULT_MAX_LINE + 1)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ConnectionError(f"no humd is listening on {path} (start one with `hum up`)") from exc
        client = cls(reader, writer)
        client.send(Tone(chi="hello", rid=rid(), bee=bee, protoVersion=PROTO_VERSION))
        breath = await client.receive()
        return client, breath

    def send(self, tone: dict[str, object]) -> None:
        self.writer.write(encode(tone))

    async def receive(self) -> Tone:
        """The next tone from the humd; ConnectionError when it goes away."""
        while not self._ready:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                raise ConnectionError("the humd closed the thrum socket")
            for item in self._decoder.receive_data(data):
                if not isinstance(item, Tone):  # never wait for a tone that was dropped
                    raise ConnectionError(f"the humd sent a line this client cannot read: {item.message}")
                self._ready.append(item)
        return self._ready.pop(0)

    def close(self) -> None:
        self.writer.close()
