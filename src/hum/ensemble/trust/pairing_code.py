"""Pairing codes: short, one-time, typed on the new device; what makes one and what says it is spent."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from hum.errors import PairingError

# Crockford base32: no I, L, O, U, so what is read off a screen types back unambiguously.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_BITS_PER_CHAR = 5


# Eight characters = 40 bits. Each code allows one online guess (it is consumed
# by the first attempt) and no offline guessing (SPAKE2), so an attacker wins
# with probability 2**-40 per code shown, while the code stays easy to type.
PAIRING_CODE_CHARS = 8


PAIRING_CODE_BITS = PAIRING_CODE_CHARS * _BITS_PER_CHAR


# Printed as two groups of four, the size people copy without losing their place.
_GROUP = 4


# Five minutes: enough to pick up the other device, install, and type the code;
# short enough that a code left on a screen or in a photo is soon worthless.
PAIRING_CODE_TTL = 300.0


# What a person reads when a code cannot be used; each says what to do next.
USED_CODE = "this pairing code was already used (perhaps by an attempt with a wrong code); run `hum pair` again for a new one"


EXPIRED_CODE = f"this pairing code expired unused (a code lasts {PAIRING_CODE_TTL / 60:g} minutes); run `hum pair` again for a new one"


WRONG_CODE = "the code does not match the one shown on the other device (a typo?); it is spent now: run `hum pair` there again for a new one"


@dataclass
class PairingCode:
    """A short one-time code shown on the host and typed on the guest."""

    text: str
    issued_at: float
    used: bool = field(default=False, compare=False)

    @classmethod
    def generate(cls, now: float) -> PairingCode:
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(PAIRING_CODE_CHARS))
        return cls(_format(raw), now)

    @classmethod
    def parse(cls, text: str, now: float) -> PairingCode:
        return cls(normalize_code(text), now)

    @property
    def expires_at(self) -> float:
        return self.issued_at + PAIRING_CODE_TTL

    def expired(self, now: float) -> bool:
        return now >= self.expires_at or now < self.issued_at

    def consume(self, now: float) -> None:
        """Spend the code on one attempt, whatever its outcome; raise if it cannot be spent."""
        if self.used:
            raise PairingError("used-code", USED_CODE)
        if self.expired(now):
            raise PairingError("expired-code", EXPIRED_CODE)
        self.used = True

    def __str__(self) -> str:
        return self.text


def _format(raw: str) -> str:
    return "-".join(raw[i : i + _GROUP] for i in range(0, len(raw), _GROUP))


def normalize_code(text: str) -> str:
    """Canonical form of a typed code: case, spaces, dashes and look-alikes forgiven."""
    if not isinstance(text, str):
        raise PairingError("bad-code", "pairing code must be a string")
    raw = text.upper().replace("-", "").replace(" ", "")
    raw = raw.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))
    if len(raw) != PAIRING_CODE_CHARS or any(ch not in _ALPHABET for ch in raw):
        raise PairingError(
            "bad-code", f"a pairing code is {PAIRING_CODE_CHARS} characters like ABCD-1234"
        )
    return _format(raw)
