"""Every error hum says out loud: one base class that renders itself as an `error` tone.

`code` is the family (PROTOCOL.md: `bad-tone`, `route-error`, ...), `qualifier`
the reason within it, `message` the words for a person, `rid` the request it
answers. A subclass only names its code; the constructor is the same for all.
"""

from __future__ import annotations

from typing import Any

from hum.wire.tones import Tone


class HumError(Exception):
    """A refusal or failure with a `code`, a `qualifier` and a message; `tone()` says it on the wire."""

    code = "hum-error"

    def __init__(self, qualifier: str, message: str = "", rid: Any = None) -> None:
        super().__init__(message or qualifier)
        self.qualifier = qualifier
        self.message = message or qualifier
        self.rid = rid

    def __eq__(self, other: object) -> bool:
        """Errors are values: the same code, qualifier, message and rid say the same thing."""
        return type(other) is type(self) and self._said() == other._said()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), *self._said()[:3]))

    def _said(self) -> tuple[Any, ...]:
        return (self.code, self.qualifier, self.message, self.rid)

    def tone(self, **fields: Any) -> Tone:
        """The `error` tone saying this; `fields` (e.g. `sigil`, `sid`) ride along, None left out."""
        return Tone.make("error", code=self.code, qualifier=self.qualifier, message=self.message, rid=self.rid, **fields)

    def body(self) -> dict[str, Any]:
        """The fields of an `error` petal saying this (a bloom that ended badly)."""
        return {"code": self.code, "qualifier": self.qualifier, "message": self.message}


class BadTone(HumError):
    """A line or tone that breaks the framing or a field rule; answered, and the connection stays open."""

    code = "bad-tone"


class RouteError(HumError):
    """A tone that cannot be routed (`identity-mismatch`, `unknown-hum`, `no-route`, `peer-loss`), or a hum gone (`forgotten`)."""

    code = "route-error"


class LogError(HumError):
    """An append the hum's log does not allow (`bloom-open`, `no-bloom`, `gap`, ...)."""

    code = "log-error"


class WorkerError(HumError):
    """A bloom that could not run; becomes an `error` petal with this qualifier.

    Qualifiers in use: `unknown-model`, `worker-crash`, `worker-stall`,
    `brood-full`, `model-missing`, `model-load`, `upstream-unreachable`,
    `upstream-auth`, `upstream-error`, `upstream-timeout`, `claude-missing`,
    `claude-error`, `interrupted`.
    """

    code = "worker-error"


class StoreError(HumError):
    """The store cannot be opened, read or written; the message names the file."""

    code = "store-error"


class IdentityError(HumError):
    """An identity that does not check out; `qualifier` says why."""

    code = "identity-error"

    def __str__(self) -> str:
        return f"{self.qualifier}: {self.message}"


class PairingError(HumError):
    """A pairing that failed; `qualifier` says why."""

    code = "pairing-error"

    def __init__(self, qualifier: str, message: str = "", rid: Any = None) -> None:
        super().__init__(qualifier, message, rid)
        self.message = message

    def __str__(self) -> str:
        return f"{self.qualifier}: {self.message}" if self.message else self.qualifier
