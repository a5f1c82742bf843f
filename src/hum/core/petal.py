"""Petals: the appended units of a hum's log."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from json.encoder import encode_basestring as quoted
from typing import Any

from hum.wire.framing import SealedTone, WireForms, to_json
from hum.wire.tones import PETAL_CHIS

# Keys of a petal tone that describe the envelope, not the petal's own body.
_ENVELOPE = frozenset(("chi", "sigil", "sid", "wane", "to", "rid", "dusk"))
# The keys `tone` puts before the body; a body key among them is shadowed.
_TONE_HEAD = ("chi", "sigil", "sid", "wane")


@dataclass(frozen=True, slots=True)
class Petal:
    """One entry of a hum's log: a prompt, a chunk, a finish or an error, at its wane."""

    sigil: str
    wane: int
    chi: str
    body: dict[str, Any] = field(default_factory=dict)
    # Caches, not part of the petal (equality and repr ignore them). The wire
    # forms are kept for as long as the petal; the tone (a dict) only while some
    # reader holds it, so a long log costs its lines, not a second copy of every body.
    _body_json: str | None = field(default=None, init=False, repr=False, compare=False)
    _sid: str | None = field(default=None, init=False, repr=False, compare=False)  # the sid `_forms` were made for
    _forms: WireForms | None = field(default=None, init=False, repr=False, compare=False)
    _tone: weakref.ref[SealedTone] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.chi not in PETAL_CHIS:
            raise ValueError(f"{self.chi!r} is not a petal chi")
        if self.wane < 1:
            raise ValueError("wane starts at 1")

    @property
    def closes_bloom(self) -> bool:
        return self.chi in ("finish", "error")

    @property
    def body_json(self) -> str:
        """The body as compact JSON, encoded once: the store keeps it, and the tap line is built around it."""
        if self._body_json is None:
            object.__setattr__(self, "_body_json", to_json(self.body))
        return self._body_json  # type: ignore[return-value]

    def tone(self, sid: str) -> SealedTone:
        """The petal as it goes to a tap: body plus `sigil`, `sid` and `wane`.

        Encoded once (per `sid`, which a replica may learn late): every tap and
        link that reads the petal gets the same line, and readers at the same
        time the same sealed object.
        """
        held = self._tone() if self._tone is not None else None
        if held is not None and held["sid"] == sid:
            return held
        fields = {"chi": self.chi, "sigil": self.sigil, "sid": sid, "wane": self.wane}
        shadowed = any(key in self.body for key in _TONE_HEAD)
        if shadowed:
            for key, value in self.body.items():  # data, never keyword arguments; the envelope wins
                fields.setdefault(key, value)
        else:
            fields.update(self.body)
        forms = self._forms if self._sid == sid else None
        if forms is None and not shadowed:
            # the head by hand (five times faster than the encoder): a petal chi is a plain word, a wane an int
            text = f'{{"chi":"{self.chi}","sigil":{quoted(self.sigil)},"sid":{quoted(sid)},"wane":{int(self.wane)}'
            forms = WireForms((text + ("," + self.body_json[1:] if self.body else "}")).encode() + b"\n")
            object.__setattr__(self, "_body_json", None)  # in the line now; the store has had it
        tone = SealedTone(fields, forms)
        object.__setattr__(self, "_sid", sid)
        object.__setattr__(self, "_forms", tone.forms)
        object.__setattr__(self, "_tone", weakref.ref(tone))
        return tone

    @classmethod
    def from_tone(cls, tone: dict[str, Any]) -> Petal:
        """Read a replicated petal back from its tone (the inverse of `tone`)."""
        body = {k: v for k, v in tone.items() if k not in _ENVELOPE}
        return cls(sigil=tone["sigil"], wane=int(tone["wane"]), chi=tone["chi"], body=body)
