"""The transport seam: how bytes get between humds. The ensemble does not care which."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable


class Connection(ABC):
    """One byte stream to a peer humd (a TCP+TLS socket, or an in-memory pipe)."""

    # HumdId the transport itself authenticated (TLS), or None (in-memory).
    peer_humd_id: str | None = None

    @abstractmethod
    async def read(self) -> bytes:
        """Next bytes; b"" at a clean end; raises ConnectionError on a reset."""

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    async def drain(self) -> None:
        """Wait until the peer is keeping up (backpressure)."""

    @abstractmethod
    def close(self) -> None: ...


OnConnection = Callable[[Connection], Awaitable[None]]


class Transport(ABC):
    """Listens for and dials connections between humds."""

    @abstractmethod
    async def listen(self, on_connection: OnConnection) -> str:
        """Start accepting; returns the address peers dial."""

    @abstractmethod
    async def connect(self, address: str) -> Connection: ...

    @abstractmethod
    async def close(self) -> None: ...
