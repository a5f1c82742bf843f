"""Network addresses as hum reads them: `HOST:PORT`, and whether a host is this machine."""

from __future__ import annotations

import ipaddress

# Names that always mean this machine, whatever the resolver says.
LOOPBACK_NAMES = ("localhost", "localhost.")


def split_address(address: str, default_port: int | None = None) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) into its parts; ValueError names what is wrong."""
    host, sep, port = address.rpartition(":")
    if not sep:
        if default_port is None:
            raise ValueError(f"address {address!r} has no port (expected HOST:PORT)")
        host, port = address, str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"address {address!r} is not HOST:PORT")
    return host, int(port)


def is_loopback(host: str | None) -> bool:
    """True for a loopback IP (v4 or v6, with or without a zone) or the name `localhost`."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


# How a `--peer` address names its transport: `iroh:<ticket>`,
# `relay:<HumdId>@HOST:PORT` (that device, through the transit relay at
# HOST:PORT; `relay:HOST:PORT` alone is where a humd waits), or a bare
# `HOST:PORT` (TLS over TCP).
TCP, IROH, RELAY = "tcp", "iroh", "relay"
_SCHEMES = (IROH, RELAY)
# An iroh endpoint ticket is base32 text of a few hundred characters; this bounds
# what a typo or a pasted page can make us parse.
MAX_TICKET_CHARS = 4096


def transport_of(address: str) -> tuple[str, str]:
    """(`tcp`|`iroh`|`relay`, the rest); ValueError names what is wrong with the address."""
    scheme, sep, rest = address.partition(":")
    if sep and scheme in _SCHEMES:
        if scheme == IROH:
            if not rest or len(rest) > MAX_TICKET_CHARS or not rest.isalnum():
                raise ValueError(f"address {address[:80]!r} is not iroh:<ticket or node id>")
        else:
            device, at, hostport = rest.rpartition("@")
            if at and not (len(device) == 64 and all(c in "0123456789abcdef" for c in device)):
                raise ValueError(f"address {address[:120]!r} is not relay:<HumdId>@HOST:PORT")
            split_address(hostport)
        return scheme, rest
    split_address(address)
    return TCP, address
