"""A humd's home directory: identity, operator key, peers, revocations, store, runtime info."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from hum.ensemble.identity import (
    Identity,
    OperatorKey,
    SiblingCheck,
    atomic_write,
    load_revocations,
    save_revocations,
)
from hum.errors import HumError, IdentityError

OPERATOR_KEY_FILE = "operator.key"
PEERS_FILE = "peers.json"
REVOKED_FILE = "revoked.json"
SIGNED_REVOCATIONS_FILE = "revocations.json"
TOKEN_FILE = "token"
RUNTIME_FILE = "humd.json"
STORE_FILE = "hums.db"
TOKEN_BYTES = 24  # 192 bits: a bearer token nobody guesses


class HomeError(HumError):
    """The home directory is missing, unwritable, or holds no identity yet."""

    code = "home-error"

    def __init__(self, message: str) -> None:
        super().__init__("bad-home", message)


def default_home() -> Path:
    return Path(os.environ.get("HUM_HOME") or platformdirs.user_data_dir("hum"))


@dataclass
class Home:
    """Files of one humd under one directory; every write is atomic."""

    path: Path

    def ensure(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            probe = self.path / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise HomeError(f"home {self.path} is not writable: {exc.strerror or exc}") from exc

    # -- identity -----------------------------------------------------------

    def has_identity(self) -> bool:
        return (self.path / "device.key").exists()

    def identity(self) -> Identity:
        if not self.has_identity():
            raise HomeError(f"no identity in {self.path}: run `hum operator init` or `hum join` first")
        try:
            return Identity.load(self.path)
        except IdentityError as exc:
            raise HomeError(str(exc)) from exc

    def operator_key(self) -> OperatorKey | None:
        path = self.path / OPERATOR_KEY_FILE
        if not path.exists():
            return None
        return OperatorKey.from_private_pem(path.read_bytes())

    def init_operator(self, name: str) -> Identity:
        """Create the operator key and this device's identity (first device only)."""
        self.ensure()
        if self.has_identity() or (self.path / OPERATOR_KEY_FILE).exists():
            raise HomeError(f"{self.path} already holds an identity; refusing to replace it")
        operator = OperatorKey.generate()
        identity = Identity.mint(operator, name)
        atomic_write(self.path / OPERATOR_KEY_FILE, operator.private_pem(), 0o600)
        identity.save(self.path)
        return identity

    def sibling_check(self, identity: Identity) -> SiblingCheck:
        return SiblingCheck(identity.operator, self.revoked())

    # -- peers and revocations ------------------------------------------------

    def peers(self) -> list[str]:
        path = self.path / PEERS_FILE
        if not path.exists():
            return []
        data = json.loads(path.read_text())
        return [str(p) for p in data.get("peers", [])]

    def add_peer(self, address: str) -> None:
        peers = self.peers()
        if address not in peers:
            peers.append(address)
            atomic_write(self.path / PEERS_FILE, json.dumps({"peers": peers}, indent=1).encode(), 0o644)

    def revoked(self) -> set[str]:
        try:
            return {str(h) for h in load_revocations(self.path / REVOKED_FILE)}
        except FileNotFoundError:
            return set()

    def revoke(self, humd_id: str, signature: str | None = None) -> None:
        """Record a revocation; a signed one is kept with its signature to spread it again."""
        save_revocations(self.path / REVOKED_FILE, self.revoked() | {humd_id})
        if signature is not None:
            signed = {**self.signed_revocations(), humd_id: signature}
            atomic_write(self.path / SIGNED_REVOCATIONS_FILE, json.dumps(signed, indent=1).encode(), 0o644)

    def signed_revocations(self) -> dict[str, str]:
        """HumdId -> operator signature (hex) of every revocation that came signed."""
        path = self.path / SIGNED_REVOCATIONS_FILE
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise HomeError(f"{path}: not JSON ({exc})") from exc
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    # -- token and runtime -----------------------------------------------------

    def token(self) -> str:
        """The bearer token for surfaces bound off loopback (made on first use)."""
        path = self.path / TOKEN_FILE
        if not path.exists():
            atomic_write(path, secrets.token_urlsafe(TOKEN_BYTES).encode(), 0o600)
        return path.read_text().strip()

    def write_runtime(self, info: dict[str, Any]) -> None:
        atomic_write(self.path / RUNTIME_FILE, json.dumps(info, indent=1).encode(), 0o600)

    def runtime(self) -> dict[str, Any]:
        path = self.path / RUNTIME_FILE
        if not path.exists():
            raise HomeError(f"no humd is running with home {self.path} (start one with `hum up`)")
        return json.loads(path.read_text())

    def clear_runtime(self) -> None:
        (self.path / RUNTIME_FILE).unlink(missing_ok=True)

    @property
    def store_path(self) -> Path:
        return self.path / STORE_FILE
