"""Petals: the appended units of a hum's log."""

from __future__ import annotations

import json
import weakref
from collections import deque
from dataclasses import dataclass, field
from json.encoder import encode_basestring as quoted
from typing import Any

from hum.wire.framing import Encodings, SealedTone, WireForms, to_json
from hum.wire.tones import PETAL_CHIS

# Keys of a petal tone that describe the envelope, not the petal's own body.
_ENVELOPE = frozenset(("chi", "sigil", "sid", "wane", "to", "rid", "dusk"))
# The keys `tone` puts before the body; a body key among them is shadowed.
_TONE_HEAD = frozenset(("chi", "sigil", "sid", "wane"))
# A petal keeps its encoded lines (`WireForms`) but only a weak reference to
# its tone (the dict), so a long log costs its lines, not a second copy of
# every body. The tones built last stay alive this long (a count, over all
# hums): the taps and links of a fan-out read a petal one after another, and
# share one dict while it is here. A few thousand tones are a few MB.
RECENT_TONES = 4096
_recent: deque[SealedTone] = deque(maxlen=RECENT_TONES)


@dataclass(frozen=True, slots=True)
class Petal:
    """One entry of a hum's log: a prompt, a chunk, a finish or an error, at its wane."""

    sigil: str
    wane: int
    chi: str
    body: dict[str, Any] = field(default_factory=dict)
    # Caches, not part of the petal (equality and repr ignore them).
    _body_json: str | None = field(default=None, init=False, repr=False, compare=False)
    _sid: str | None = field(default=None, init=False, repr=False, compare=False)  # `_forms` are for this sid
    _forms: WireForms | None = field(default=None, init=False, repr=False, compare=False)
    _tone: weakref.ref[SealedTone] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.chi not in PETAL_CHIS:
            raise ValueError(f"{self.chi!r} is not a petal chi")
        if self.wane < 1:
            raise ValueError("wane starts at 1")

    @classmethod
    def stored(cls, sigil: str, wane: int, chi: str, body_json: str) -> Petal:
        """A petal read back from its stored body JSON, which its tone's line then reuses as is."""
        petal = cls(sigil, wane, chi, json.loads(body_json))
        object.__setattr__(petal, "_body_json", body_json)
        return petal

    @property
    def closes_bloom(self) -> bool:
        return self.chi in ("finish", "error")

    @property
    def body_json(self) -> str:
        """The body as compact JSON, encoded once: the store keeps it, and the tap line is built around it."""
        if self._body_json is None:
            object.__setattr__(self, "_body_json", body_json(self.body))
        return self._body_json  # type: ignore[return-value]

    def tone(self, sid: str) -> SealedTone:
        """The petal as it goes to a tap: body plus `sigil`, `sid` and `wane`.

        Encoded once (per `sid`, which a replica may learn late): every tap and
        link that reads the petal gets the same lines, and while it is recent
        the same sealed object.
        """
        held = self._tone() if self._tone is not None else None
        if held is not None and held["sid"] == sid:
            return held
        # data, never keyword arguments; the envelope wins
        tone = SealedTone.build({"chi": self.chi, "sigil": self.sigil, "sid": sid, "wane": self.wane}, self.body, self._wire(sid))
        object.__setattr__(self, "_sid", sid)
        object.__setattr__(self, "_forms", tone.forms)
        object.__setattr__(self, "_tone", weakref.ref(tone))
        _recent.append(tone)
        return tone

    def line(self, sid: str) -> bytes:
        """`tone(sid)` as its NDJSON line, for a reader that only writes bytes: no dict is built for it."""
        forms = self._forms if self._sid == sid else None  # read by every tap of a fan-out: no call when cached
        if forms is None:
            forms = self._wire(sid)
        return forms.line if forms is not None else self.tone(sid).line

    def _wire(self, sid: str) -> WireForms | None:
        """The encodings for `sid`, made now if need be; None when a body key shadows the head
        (then `tone` encodes the whole object)."""
        if self._sid == sid and self._forms is not None:
            return self._forms
        if not _TONE_HEAD.isdisjoint(self.body):
            return None
        forms = WireForms(tap_line(self.sigil, self.wane, self.chi, sid, self.body_json))
        object.__setattr__(self, "_body_json", None)  # in the line now; the store has had it
        object.__setattr__(self, "_sid", sid)
        object.__setattr__(self, "_forms", forms)
        return forms

    @classmethod
    def from_tone(cls, tone: dict[str, Any]) -> Petal:
        """Read a replicated petal back from its tone (the inverse of `tone`)."""
        body = {k: v for k, v in tone.items() if k not in _ENVELOPE}
        return cls(sigil=tone["sigil"], wane=int(tone["wane"]), chi=tone["chi"], body=body)


# A chunk's body as the router writes it, in this key order: most of every log.
_CHUNK_KEYS = ("chunkType", "delta", "blockIdx")


def body_json(body: dict[str, Any]) -> str:
    """`to_json(body)`; a chunk's body written by hand (twice as fast as the encoder, and a
    flat-out bloom encodes one per petal), the same text to the byte."""
    if len(body) == 3:
        kind, delta, block = body.get("chunkType"), body.get("delta"), body.get("blockIdx")
        if type(kind) is str and type(delta) is str and type(block) is int and tuple(body) == _CHUNK_KEYS:
            Encodings.count += 1
            return f'{{"chunkType":{quoted(kind)},"delta":{quoted(delta)},"blockIdx":{block}}}'
    return to_json(body)


# The head keys as a body's JSON text would hold them: a body without any of
# these strings cannot shadow the head, whatever its values say.
_TONE_HEAD_TEXT = tuple(f'"{key}"' for key in sorted(_TONE_HEAD))


def tap_line(sigil: str, wane: int, chi: str, sid: str, body_json: str) -> bytes:
    """A petal's NDJSON tap line around its body's compact JSON (whose keys must not shadow the head)."""
    # the head by hand (five times faster than the encoder): a petal chi is a plain word, a wane an int
    head = f'{{"chi":"{chi}","sigil":{quoted(sigil)},"sid":{quoted(sid)},"wane":{int(wane)}'
    return (head + ("," + body_json[1:] if body_json != "{}" else "}")).encode() + b"\n"


def stored_line(sigil: str, wane: int, chi: str, sid: str, body_json: str) -> bytes:
    """A stored petal's tap line, built around its stored body without reading it when nothing
    in the body can shadow the head (the common case); otherwise the body is read first."""
    if any(key in body_json for key in _TONE_HEAD_TEXT):
        return Petal.stored(sigil, wane, chi, body_json).line(sid)
    return tap_line(sigil, wane, chi, sid, body_json)
