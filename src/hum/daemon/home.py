"""A humd's home directory: identity, operator key, peers, revocations, store, runtime info."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from hum.ensemble.trust.identity import Identity, atomic_write
from hum.ensemble.trust.keys import OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck, load_revocations, save_revocations
from hum.errors import HumError, IdentityError

OPERATOR_KEY_FILE = "operator.key"
PEERS_FILE = "peers.json"
REVOKED_FILE = "revoked.json"
SIGNED_REVOCATIONS_FILE = "revocations.json"
TOKEN_FILE = "token"
RELAY_KEY_FILE = "relay.key"  # the operator's devices' shared secret their relay doors derive from
RELAY_KEY_BYTES = 32
RUNTIME_FILE = "humd.json"
STORE_FILE = "hums.db"
LOCK_FILE = "humd.lock"
TOKEN_BYTES = 24  # 192 bits: a bearer token nobody guesses

# The home holds keys and every conversation: only its owner may list or read it.
HOME_MODE = 0o700
# Files that hold a secret or a conversation: the keys, the token, the store
# (with SQLite's write-ahead log and shared-memory index, which hold recent petals).
PRIVATE_MODE = 0o600
PRIVATE_FILES = ("device.key", OPERATOR_KEY_FILE, TOKEN_FILE, RELAY_KEY_FILE, RUNTIME_FILE, STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm")

log = logging.getLogger(__name__)


class HomeError(HumError):
    """The home directory is missing, unwritable, or holds no identity yet."""

    code = "home-error"

    def __init__(self, message: str) -> None:
        super().__init__("bad-home", message)


class HomeBusy(HomeError):
    """Another humd already runs on this home; `pid` names it (None if it could not be read)."""

    def __init__(self, path: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid is not None else "another process"
        super().__init__(f"a humd ({who}) is already running with home {path}; stop it first (or use another --home)")
        self.pid = pid


class HomeLock:
    """An exclusive `flock` on the home's lock file, held for a humd's whole life.

    The kernel drops it when the process dies however it dies, so a SIGKILLed
    humd never leaves a stale lock behind.
    """

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def default_home() -> Path:
    return Path(os.environ.get("HUM_HOME") or platformdirs.user_data_dir("hum"))


@dataclass
class Home:
    """Files of one humd under one directory; every write is atomic."""

    path: Path

    def ensure(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=HOME_MODE)
            probe = self.path / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise HomeError(f"home {self.path} is not writable: {exc.strerror or exc}") from exc

    def lock(self) -> HomeLock:
        """Take the home for this process: one humd per home; raises HomeBusy naming the holder.

        Nothing else in the home is touched before the lock is held, so a second
        `hum up` leaves the running humd's socket, runtime file and store alone.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=HOME_MODE)
            fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_MODE)
        except OSError as exc:
            raise HomeError(f"home {self.path} is not writable: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise HomeBusy(self.path, int(holder) if holder.isdigit() else None) from None
        except OSError as exc:
            os.close(fd)
            raise HomeError(f"cannot lock home {self.path}: {exc.strerror or exc}") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        return HomeLock(fd)

    def make_private(self) -> None:
        """Tighten the home to 0700 and its secret files to 0600, saying so once if they were open."""
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & ~HOME_MODE:
            os.chmod(self.path, HOME_MODE)
            log.warning("home %s was open to other users (%o); made it private (%o)", self.path, mode, HOME_MODE)
        for name in PRIVATE_FILES:
            path = self.path / name
            try:
                if stat.S_IMODE(path.lstat().st_mode) & ~PRIVATE_MODE and not path.is_symlink():
                    os.chmod(path, PRIVATE_MODE)
            except FileNotFoundError:
                continue

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

    def relay_key(self) -> bytes | None:
        """The relay door secret this device was given at pairing (or made, on the operator's device); None if it has none."""
        path = self.path / RELAY_KEY_FILE
        if not path.exists():
            return None
        key = bytes.fromhex(path.read_text().strip())
        if len(key) != RELAY_KEY_BYTES:
            raise HomeError(f"{path} is damaged: expected {RELAY_KEY_BYTES} bytes of hex")
        return key

    def save_relay_key(self, key: bytes) -> None:
        atomic_write(self.path / RELAY_KEY_FILE, key.hex().encode(), 0o600)

    def ensure_relay_key(self) -> bytes | None:
        """On the device holding the operator key, make the relay door secret once (homes from before
        it existed get theirs at their next start); elsewhere only what pairing gave."""
        key = self.relay_key()
        if key is None and (self.path / OPERATOR_KEY_FILE).exists():
            key = secrets.token_bytes(RELAY_KEY_BYTES)
            self.save_relay_key(key)
        return key

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
