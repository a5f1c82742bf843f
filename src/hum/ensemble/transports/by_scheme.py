"""Several transports as one: a humd listens on each and dials by the address's scheme.

`HOST:PORT` is TLS over TCP, `iroh:<ticket>` an iroh endpoint,
`relay:<HumdId>@HOST:PORT` a transit relay; the node sees one `Transport`.
"""

from __future__ import annotations

from hum.interfaces import Connection, OnConnection, Transport
from hum.wire.addresses import TCP, transport_of


class AnyTransport(Transport):
    """Dispatches `connect` on the address's scheme; `listen` starts every transport."""

    def __init__(self, transports: dict[str, Transport]) -> None:
        self.transports = transports
        self.addresses: dict[str, str] = {}  # scheme -> the address peers dial there

    async def listen(self, on_connection: OnConnection) -> str:
        for scheme, transport in self.transports.items():
            self.addresses[scheme] = await transport.listen(on_connection)
        # the TCP address stays the humd's `listen`; the others are shown beside it
        return self.addresses.get(TCP, "")

    async def connect(self, address: str) -> Connection:
        scheme, _ = transport_of(address)
        transport = self.transports.get(scheme)
        if transport is None:
            raise ConnectionError(f"this humd does not run {scheme} links (for {address[:60]})")
        return await transport.connect(address)

    async def close(self) -> None:
        for transport in self.transports.values():
            await transport.close()
