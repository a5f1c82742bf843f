"""Petals: the appended units of a hum's log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hum.wire.tones import PETAL_CHIS, Tone

# Keys of a petal tone that describe the envelope, not the petal's own body.
_ENVELOPE = ("chi", "sigil", "sid", "wane", "to", "rid", "dusk")


@dataclass(frozen=True)
class Petal:
    """One entry of a hum's log: a prompt, a chunk, a finish or an error, at its wane."""

    sigil: str
    wane: int
    chi: str
    body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.chi not in PETAL_CHIS:
            raise ValueError(f"{self.chi!r} is not a petal chi")
        if self.wane < 1:
            raise ValueError("wane starts at 1")

    @property
    def closes_bloom(self) -> bool:
        return self.chi in ("finish", "error")

    def tone(self, sid: str) -> Tone:
        """The petal as it goes to a tap: body plus `sigil`, `sid` and `wane`."""
        tone = Tone(chi=self.chi, sigil=self.sigil, sid=sid, wane=self.wane)
        for key, value in self.body.items():  # data, never keyword arguments; the envelope wins
            tone.setdefault(key, value)
        return tone

    @classmethod
    def from_tone(cls, tone: dict[str, Any]) -> Petal:
        """Read a replicated petal back from its tone (the inverse of `tone`)."""
        body = {k: v for k, v in tone.items() if k not in _ENVELOPE}
        return cls(sigil=tone["sigil"], wane=int(tone["wane"]), chi=tone["chi"], body=body)
