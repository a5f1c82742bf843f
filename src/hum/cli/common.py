"""What every `hum` command shares: the consoles, one-line errors, the home, and asking the running humd."""

from __future__ import annotations

import argparse
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console

from hum.daemon.home import Home, HomeError, default_home
from hum.wire.addresses import is_loopback

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# A status query to a local daemon answers at once; longer means it is wedged.
STATUS_TIMEOUT = 5.0


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def home_of(args: argparse.Namespace) -> Home:
    return Home(Path(args.home) if args.home else default_home())


def print_json(data: Any) -> None:
    print(json.dumps(data))


# -- talking to the running daemon -------------------------------------------------


def daemon_request(home: Home, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = STATUS_TIMEOUT) -> dict[str, Any]:
    try:
        info = home.runtime()
    except HomeError as exc:
        raise CliError(str(exc)) from exc
    base = info.get("http")
    if not base:
        raise CliError("the running humd serves no HTTP (started with --http none)")
    headers = {"Content-Type": "application/json"}
    token_file = home.path / "token"
    if token_file.exists():
        headers["Authorization"] = f"Bearer {token_file.read_text().strip()}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    context = None
    if base.startswith("https://") and is_loopback(urllib.parse.urlsplit(base).hostname or ""):
        # our own humd on this machine, served with a certificate for its public name (`--tls-cert`)
        context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise CliError(f"humd said: {message}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise CliError(f"cannot reach the humd of {home.path} at {base}: {getattr(exc, 'reason', exc)}") from exc


def device_names(home: Home) -> dict[str, str]:
    """HumdId -> the name its person gave it, as the running humd knows them; none when it serves no HTTP."""
    try:
        names = daemon_request(home, "GET", "/hum/hums").get("names")
    except CliError:
        return {}
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}


def thrum_path(home: Home) -> Path:
    try:
        return Path(home.runtime()["thrum"])
    except HomeError as exc:
        raise CliError(str(exc)) from exc


# -- commands --------------------------------------------------------------------------


