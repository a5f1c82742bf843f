"""What notifications keep across restarts: subscriptions, what was delivered, capabilities, choices, read marks, the VAPID key.

One SQLite file (`notify.sqlite`) beside the hums' store, and the device's
VAPID key pair (`vapid.pem`, 0600) in the home. A capability is kept only as
its sha256, so reading the file gives no live one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hum.surfaces.notify.policy import Channel, Choices

VAPID_FILE = "vapid.pem"
BOOK_FILE = "notify.sqlite"
# Subscriptions one humd pushes to: a person's browsers and phones, with room to spare;
# past it a new one is refused, so a loop in a page cannot grow the table without end.
MAX_SUBSCRIPTIONS = 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (id TEXT PRIMARY KEY, endpoint TEXT UNIQUE NOT NULL, p256dh TEXT NOT NULL, auth TEXT NOT NULL, level TEXT NOT NULL, origin TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delivered (channel TEXT NOT NULL, event TEXT NOT NULL, tag TEXT NOT NULL, sigil TEXT NOT NULL, wane INTEGER NOT NULL, PRIMARY KEY (channel, event));
CREATE TABLE IF NOT EXISTS cursors (sigil TEXT PRIMARY KEY, wane INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS capabilities (digest TEXT PRIMARY KEY, sigil TEXT NOT NULL, permit TEXT NOT NULL, wane INTEGER NOT NULL, decision TEXT NOT NULL, channel TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS marks (sigil TEXT PRIMARY KEY, wane INTEGER NOT NULL);
"""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def vapid_key(home: Path) -> ec.EllipticCurvePrivateKey:
    """This device's VAPID key pair (P-256), made on first use and kept 0600 in the home."""
    path = home / VAPID_FILE
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not a P-256 key")
    return loaded


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The uncompressed P-256 point, base64url: what `pushManager.subscribe` takes as applicationServerKey."""
    return b64url(key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


@dataclass(frozen=True)
class Subscription:
    id: str
    endpoint: str
    p256dh: str
    auth: str
    level: str
    origin: str  # where the browser reached this humd: the links in its notifications point there

    def info(self) -> dict[str, Any]:
        """What pywebpush takes."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    def channel(self) -> Channel:
        return Channel(self.id, self.level)


@dataclass(frozen=True)
class Capability:
    sigil: str
    permit_id: str
    wane: int
    decision: str
    channel: str
    expires: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class NotifyBook:
    """The durable half of notifications (one SQLite file, WAL)."""

    def __init__(self, path: Path | str) -> None:
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # WAL's own safe setting: a commit survives a process kill (what "once, across restarts" needs); only a
        # power cut may take back the last ones, at worst a notification shown twice
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        if isinstance(path, Path):
            for suffix in ("", "-wal", "-shm"):
                target = Path(str(path) + suffix)
                if target.exists():
                    target.chmod(0o600)

    def close(self) -> None:
        self.db.close()

    # -- subscriptions --------------------------------------------------------

    def subscribe(self, endpoint: str, p256dh: str, auth: str, level: str, origin: str) -> str:
        """Keep a browser's subscription (the same endpoint again keeps its id); returns the id."""
        row = self.db.execute("SELECT id FROM subscriptions WHERE endpoint = ?", (endpoint,)).fetchone()
        if row is not None:
            self.db.execute("UPDATE subscriptions SET p256dh = ?, auth = ?, level = ?, origin = ? WHERE id = ?", (p256dh, auth, level, origin, row[0]))
            return str(row[0])
        if self.db.execute("SELECT COUNT(*) FROM subscriptions").fetchone()[0] >= MAX_SUBSCRIPTIONS:
            raise OverflowError(f"this humd already pushes to {MAX_SUBSCRIPTIONS} subscriptions; remove one first")
        sub_id = "sub-" + secrets.token_hex(8)
        self.db.execute("INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?)", (sub_id, endpoint, p256dh, auth, level, origin))
        return sub_id

    def unsubscribe(self, sub_id: str) -> bool:
        return self.db.execute("DELETE FROM subscriptions WHERE id = ?", (sub_id,)).rowcount > 0

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(*row) for row in self.db.execute("SELECT id, endpoint, p256dh, auth, level, origin FROM subscriptions ORDER BY id")]

    def set_level(self, sub_id: str, level: str) -> bool:
        return self.db.execute("UPDATE subscriptions SET level = ? WHERE id = ?", (level, sub_id)).rowcount > 0

    # -- what was delivered ------------------------------------------------------

    def claim(self, channel: str, event: str, tag: str, sigil: str, wane: int) -> bool:
        """Record that `event` goes to `channel`; False when it went already (exactly once, across restarts)."""
        cur = self.db.execute("INSERT OR IGNORE INTO delivered VALUES (?, ?, ?, ?, ?)", (channel, event, tag, sigil, wane))
        return cur.rowcount > 0

    def unclaim(self, channel: str, event: str) -> None:
        """The push never got through: it may be tried again."""
        self.db.execute("DELETE FROM delivered WHERE channel = ? AND event = ?", (channel, event))

    def delivered(self, event: str) -> set[tuple[str, str]]:
        return {(row[0], event) for row in self.db.execute("SELECT channel FROM delivered WHERE event = ?", (event,))}

    def shown_with(self, tag: str) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT channel FROM delivered WHERE tag = ? AND event NOT LIKE '%!w'", (tag,))}

    def shown_of(self, sigil: str) -> list[tuple[str, str, int]]:
        """(channel, tag, wane) of every notification of `sigil` shown and not withdrawn."""
        rows = self.db.execute(
            "SELECT channel, tag, wane FROM delivered d WHERE sigil = ? AND event NOT LIKE '%!w'"
            " AND NOT EXISTS (SELECT 1 FROM delivered w WHERE w.channel = d.channel AND w.event = d.event || '!w')",
            (sigil,),
        )
        return [(row[0], row[1], int(row[2])) for row in rows]

    def deliveries(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM delivered").fetchone()[0])

    # -- where each hum was read to (this humd's followers' cursors) -------------------

    def cursor(self, sigil: str) -> int | None:
        row = self.db.execute("SELECT wane FROM cursors WHERE sigil = ?", (sigil,)).fetchone()
        return None if row is None else int(row[0])

    def advance(self, sigil: str, wane: int) -> None:
        self.db.execute(
            "INSERT INTO cursors VALUES (?, ?) ON CONFLICT(sigil) DO UPDATE SET wane = MAX(wane, excluded.wane)", (sigil, wane)
        )

    # -- capabilities ---------------------------------------------------------------

    def grant(self, cap: Capability) -> str:
        """A one-time capability for `cap`; returns the token (only its digest is kept)."""
        token = secrets.token_urlsafe(32)
        self.db.execute(
            "INSERT INTO capabilities VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_digest(token), cap.sigil, cap.permit_id, cap.wane, cap.decision, cap.channel, cap.expires),
        )
        return token

    def capability(self, token: str) -> Capability | None:
        row = self.db.execute(
            "SELECT sigil, permit, wane, decision, channel, expires FROM capabilities WHERE digest = ?", (_digest(token),)
        ).fetchone()
        return None if row is None else Capability(*row)

    def drop_expired(self, now: float) -> None:
        self.db.execute("DELETE FROM capabilities WHERE expires < ?", (now,))

    # -- choices and read marks ------------------------------------------------------------

    def choices(self) -> Choices:
        row = self.db.execute("SELECT value FROM settings WHERE key = 'choices'").fetchone()
        if row is None:
            return Choices()
        raw = json.loads(row[0])
        quiet = raw.get("quiet")
        return Choices(raw.get("level", "all"), dict(raw.get("hums") or {}), tuple(quiet) if quiet else None, bool(raw.get("homes")))  # type: ignore[arg-type]

    def save_choices(self, choices: Choices) -> None:
        value = json.dumps({"level": choices.level, "hums": choices.hums, "quiet": list(choices.quiet) if choices.quiet else None, "homes": choices.homes})
        self.db.execute("INSERT INTO settings VALUES ('choices', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (value,))

    def marks(self) -> dict[str, int]:
        return {row[0]: int(row[1]) for row in self.db.execute("SELECT sigil, wane FROM marks")}

    def save_mark(self, sigil: str, wane: int) -> None:
        self.db.execute("INSERT INTO marks VALUES (?, ?) ON CONFLICT(sigil) DO UPDATE SET wane = MAX(wane, excluded.wane)", (sigil, wane))
