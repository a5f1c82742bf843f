"""NDJSON framing: bytes in, tones (or bad-tone verdicts) out, sans I/O."""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from hum.errors import BadTone
from hum.wire.tones import CHIS, Tone

# PROTOCOL.md's default; large enough for a long prompt with its system text.
DEFAULT_MAX_LINE = 1024 * 1024


def _not_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_tone(line: bytes | str) -> Tone | BadTone:
    """Check one line (without its newline) against the framing rules of PROTOCOL.md."""
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        obj = json.loads(text, parse_constant=_not_json_constant)
    except UnicodeDecodeError:
        return BadTone("not-utf8", "the line is not UTF-8")
    except RecursionError:
        return BadTone("not-json", "the line nests too deeply")
    except ValueError as exc:
        return BadTone("not-json", f"the line is not JSON: {getattr(exc, 'msg', exc)}")
    if not isinstance(obj, dict):
        return BadTone("not-object", f"a tone is a JSON object, not {type(obj).__name__}")
    rid = obj.get("rid")
    chi = obj.get("chi")
    if not isinstance(chi, str):
        return BadTone("no-chi", "a tone needs a string `chi`", rid)
    if chi not in CHIS:
        return BadTone("unknown-chi", f"unknown chi {chi!r}", rid)
    return Tone(obj)


# One encoder for every line (compact, UTF-8 as is). Tones come from JSON or
# from code, never circular, so no circularity check. Its C encoder is made
# once here: `JSONEncoder.encode` (and `json.dumps` with options) builds a new
# one per call, which cost more than encoding a small tone.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
_C_ENCODER = (
    c_make_encoder(None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, True)
    if c_make_encoder is not None
    else None
)


class Encodings:
    """How many JSON texts this process has encoded (`to_json`, `encode`): tests read it to see
    that a petal is encoded once however many read it."""

    count = 0


def to_json(value: Any) -> str:
    """Compact JSON text, as every tone is written (keys as given, UTF-8 not escaped)."""
    Encodings.count += 1
    return "".join(_C_ENCODER(value, 0)) if _C_ENCODER is not None else _ENCODER.encode(value)


def encode(tone: dict[str, Any]) -> bytes:
    """One tone as one NDJSON line."""
    return to_json(tone).encode() + b"\n"


def _sealed(tone: SealedTone, *args: Any, **kwargs: Any) -> Any:
    raise TypeError("a sealed tone is shared by every tap that reads it; change a copy (`Tone(tone)`)")


class WireForms:
    """The encodings of one sealed tone, kept by its petal and shared by every copy of the tone."""

    __slots__ = ("line", "link_line")

    def __init__(self, line: bytes) -> None:
        self.line = line  # the NDJSON line a tap is sent
        # the same object in a link's form, without `from`/`to`: filled by the first link that sends it
        self.link_line: bytes | None = None


class SealedTone(Tone):
    """A tone that never changes, with its NDJSON `line` encoded once for every reader.

    A petal's tone goes to every tap and link of its hum: they all share its
    encodings (`forms`). Changing it in place raises `TypeError`, so no reader
    can alter what the next one is sent.
    """

    __slots__ = ("forms",)

    def __init__(self, fields: dict[str, Any], forms: WireForms | None = None) -> None:
        dict.__init__(self, fields)
        self.forms = WireForms(encode(self)) if forms is None else forms

    @classmethod
    def build(cls, head: dict[str, Any], rest: dict[str, Any], forms: WireForms | None = None) -> SealedTone:
        """`head`, then each key of `rest` that `head` lacks (data: the head wins), in one dict; its
        encodings are `forms` when the caller has them already, else encoded here."""
        tone = cls.__new__(cls)
        dict.update(tone, head)
        if head.keys().isdisjoint(rest):
            dict.update(tone, rest)
        else:
            for key, value in rest.items():
                if key not in head:
                    dict.__setitem__(tone, key, value)
        tone.forms = WireForms(encode(tone)) if forms is None else forms
        return tone

    @property
    def line(self) -> bytes:
        return self.forms.line

    __setitem__ = __delitem__ = __ior__ = _sealed
    pop = popitem = setdefault = update = clear = _sealed


def lines(tones: list[Tone] | list[Tone | bytes]) -> bytes:
    """Tones as NDJSON lines ready for one write; a sealed tone's line (or a line given as `bytes`)
    is reused, never re-encoded."""
    return b"".join(t if isinstance(t, bytes) else t.line if isinstance(t, SealedTone) else encode(t) for t in tones)


class LineDecoder:
    """Splits a byte stream into tones; an over-long line becomes one `too-long` verdict."""

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long line, until its newline

    def receive_data(self, data: bytes) -> list[Tone | BadTone]:
        out: list[Tone | BadTone] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if not self._discarding and len(self._buffer) > self.max_line:
                    out.append(BadTone("too-long", f"line longer than {self.max_line} bytes"))
                    self._discarding = True
                if self._discarding:
                    self._buffer.clear()
                return out
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._discarding:
                self._discarding = False
                continue
            if len(line) > self.max_line:
                out.append(BadTone("too-long", f"line longer than {self.max_line} bytes"))
                continue
            if line.strip():
                out.append(parse_tone(line))
