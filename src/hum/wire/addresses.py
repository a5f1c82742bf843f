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
