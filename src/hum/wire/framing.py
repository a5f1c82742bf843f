"""NDJSON framing: bytes in, tones (or bad-tone verdicts) out, sans I/O."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import msgspec

from hum.errors import BadTone
from hum.wire.tones import CHIS, Tone

# PROTOCOL.md's default; large enough for a long prompt with its system text.
DEFAULT_MAX_LINE = 1024 * 1024


# One JSON codec for every tone in and out: msgspec (C, made for this), compact,
# UTF-8 as is, keys in the order given. Its decoder refuses what is not JSON
# (NaN, Infinity, numbers out of a float's range, lone surrogates), so nothing
# read can come out as a line that is not JSON.
def _as_json_type(value: Any) -> Any:
    """A value msgspec does not encode itself, as the JSON type it is a kind of (a `HumdId` is a
    `str`); anything else cannot be a tone's field."""
    for kind in (str, int, float, list, dict):
        if isinstance(value, kind):
            return kind(value)
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


_JSON_ENCODER = msgspec.json.Encoder(enc_hook=_as_json_type)
_JSON_DECODER = msgspec.json.Decoder()


def parse_tone(line: bytes | str) -> Tone | BadTone:
    """Check one line (without its newline) against the framing rules of PROTOCOL.md."""
    try:
        obj = _JSON_DECODER.decode(line)
    except RecursionError:
        return BadTone("not-json", "the line nests too deeply")
    except msgspec.DecodeError as exc:
        if isinstance(line, bytes):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return BadTone("not-utf8", "the line is not UTF-8")
        return BadTone("not-json", f"the line is not JSON: {exc}")
    if not isinstance(obj, dict):
        return BadTone("not-object", f"a tone is a JSON object, not {type(obj).__name__}")
    rid = obj.get("rid")
    chi = obj.get("chi")
    if not isinstance(chi, str):
        return BadTone("no-chi", "a tone needs a string `chi`", rid)
    if chi not in CHIS:
        return BadTone("unknown-chi", f"unknown chi {chi!r}", rid)
    return Tone(obj)


class _PetalsFrame(msgspec.Struct):
    """A `petals` link frame with its petals kept as their bytes (each checked to be JSON)."""

    chi: Literal["petals"]
    petals: list[msgspec.Raw]
    sigil: Any = None
    from_: Any = msgspec.field(default=msgspec.UNSET, name="from")
    to: Any = msgspec.UNSET
    rid: Any = msgspec.UNSET


_FRAMES = msgspec.json.Decoder(_PetalsFrame)


def parse_frame(line: bytes | str) -> Tone | BadTone:
    """`parse_tone`, except that a `petals` frame's petals stay bytes (`msgspec.Raw`): a replica
    cuts each into its stored row and its tap line without building a dict of it."""
    if isinstance(line, bytes) and b'"chi":"petals"' in line:
        try:
            frame = _FRAMES.decode(line)
        except (msgspec.DecodeError, RecursionError):
            return parse_tone(line)  # not such a frame after all: read as any tone, and judged
        tone = Tone(chi="petals", sigil=frame.sigil, petals=frame.petals)
        for key, value in (("from", frame.from_), ("to", frame.to), ("rid", frame.rid)):
            if value is not msgspec.UNSET:
                tone[key] = value
        return tone
    return parse_tone(line)


class Encodings:
    """How many JSON texts this process has encoded (`to_json`, `encode`): tests read it to see
    that a petal is encoded once however many read it."""

    count = 0


def json_bytes(value: Any) -> bytes:
    """Compact JSON, as every tone is written (keys as given, UTF-8 not escaped)."""
    Encodings.count += 1
    return _JSON_ENCODER.encode(value)


def quoted(text: str) -> bytes:
    """`text` as a JSON string, for a line spliced around bytes made already (not counted: it is
    part of that line's one encoding)."""
    return _JSON_ENCODER.encode(text)


def to_json(value: Any) -> str:
    """`json_bytes` as text."""
    return json_bytes(value).decode()


def from_json(data: bytes | str) -> Any:
    """A JSON text read back (`msgspec.DecodeError`, a `ValueError`, when it is not JSON)."""
    return _JSON_DECODER.decode(data)


def encode(tone: dict[str, Any]) -> bytes:
    """One tone as one NDJSON line."""
    return json_bytes(tone) + b"\n"


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

    def __init__(self, max_line: int = DEFAULT_MAX_LINE, parse: Callable[[bytes], Tone | BadTone] = parse_tone) -> None:
        self.max_line = max_line
        self.parse = parse
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
                out.append(self.parse(line))
