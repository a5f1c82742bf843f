"""A nestler's session: bytes or tones in, through the router, tones or bytes out.

The thrum socket, the sim's nestlers and the HTTP surfaces all talk to a humd
through this one class, so the line decoder and the local handshake run the
same way everywhere.
"""

from __future__ import annotations

from hum.errors import BadTone
from hum.node.delivery import Pusher
from hum.node.owners import Owner
from hum.node.shell import NestlerShell
from hum.wire.framing import DEFAULT_MAX_LINE, LineDecoder, lines
from hum.wire.tones import Tone


class NestlerSession:
    """One nestler connected to a humd: what it says goes to the router, what it is owed comes back."""

    def __init__(self, humd: NestlerShell, owner: Owner, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.humd = humd
        self.owner = owner
        self._decoder = LineDecoder(max_line)

    @property
    def name(self) -> str:
        return self.owner.name

    def feed(self, data: bytes) -> None:
        """Bytes from the nestler: each whole line is a tone (or a framing verdict, answered)."""
        for item in self._decoder.receive_data(data):
            self.receive(item)

    def receive(self, item: Tone | BadTone) -> None:
        """One tone (or framing verdict) from the nestler."""
        self.humd.nestler_tone(self.owner, item)

    async def next_tones(self) -> list[Tone]:
        """Wait until the nestler is owed something, then take it."""
        return await self.humd.next_tones(self.owner)

    async def next_bytes(self) -> bytes:
        """`next_tones`, as NDJSON lines ready for one write (a petal's line is encoded once for all taps)."""
        return lines(await self.humd.next_tones(self.owner, lines=True))

    def push_to(self, pusher: Pusher) -> None:
        """From now on what the nestler is owed may be written as soon as it is owed (`Humd.push_to`);
        `next_bytes` still delivers whatever a push left behind."""
        self.humd.push_to(self.owner, pusher)

    def close(self) -> None:
        self.humd.close_owner(self.owner)
