"""Petals: the appended units of a hum's log."""

from __future__ import annotations

import functools
import re
import weakref
from collections import deque
from typing import Any

import msgspec

from hum.errors import BadTone
from hum.wire.framing import SealedTone, WireForms, from_json, json_bytes
from hum.wire.tones import PETAL_CHIS, is_petal, petal_content

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


class Head(msgspec.Struct):
    """The keys every petal's tone starts with, in this order (its tap line is this, then the body)."""

    chi: str
    sigil: str
    sid: str
    wane: int


_HEAD_ENCODER = msgspec.json.Encoder()


class _ChunkText(msgspec.Struct):
    """What a chunk's bloom state reads of its body: its kind and its text, nothing else built."""

    chunkType: Any = "text_delta"  # noqa: N815 - the wire's key
    delta: Any = ""


_CHUNK_TEXT = msgspec.json.Decoder(_ChunkText)


class Petal:
    """One entry of a hum's log: a prompt, a chunk, a finish or an error, at its wane.

    Its body is kept as given or as its compact JSON (as stored, as it came on
    a link), and read from that JSON only when somebody asks for `body`.
    """

    __slots__ = ("sigil", "wane", "chi", "_body", "_body_json", "_sid", "_forms", "_tone")

    def __init__(self, sigil: str, wane: int, chi: str, body: dict[str, Any] | None = None) -> None:
        if chi not in PETAL_CHIS:
            raise ValueError(f"{chi!r} is not a petal chi")
        if wane < 1:
            raise ValueError("wane starts at 1")
        self.sigil, self.wane, self.chi = sigil, wane, chi
        self._body: dict[str, Any] | None = {} if body is None else body
        # caches, not part of the petal (equality and repr ignore them)
        self._body_json: bytes | None = None  # the body as compact JSON
        self._sid: str | None = None  # `_forms` are for this sid
        self._forms: WireForms | None = None
        self._tone: weakref.ref[SealedTone] | None = None

    @classmethod
    def stored(cls, sigil: str, wane: int, chi: str, body_json: str | bytes | None, line: bytes | None = None, sid: str = "") -> Petal:
        """A petal from its body's JSON (stored, or cut from a link frame), read only when its body
        is asked for; `line` is its tap line for `sid` when the caller has it already (then the body
        may be None: it is cut from the line when somebody asks for it)."""
        if chi not in PETAL_CHIS or wane < 1:  # as `__init__` checks; the rest of it is skipped (one a petal read)
            raise ValueError(f"no petal has chi {chi!r} at wane {wane}")
        body = body_json.encode() if isinstance(body_json, str) else body_json  # None: in `line`
        return cls._assembled(sigil, wane, chi, body, None if line is None else sid, line)

    @classmethod
    def _assembled(cls, sigil: str, wane: int, chi: str, body_json: bytes | None, sid: str | None, line: bytes | None) -> Petal:
        """A petal checked already (a petal chi, a wane from 1), its line for `sid` if given: by the fewest
        steps, as a replica makes one for every petal of every frame (`_cut`) and a read for every row."""
        petal = cls.__new__(cls)
        petal.sigil = sigil
        petal.wane = wane
        petal.chi = chi
        petal._body = None
        petal._tone = None
        petal._body_json = body_json
        petal._sid = sid
        petal._forms = None if line is None else WireForms(line)
        return petal

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Petal):
            return NotImplemented
        return (self.sigil, self.wane, self.chi, self.body) == (other.sigil, other.wane, other.chi, other.body)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Petal(sigil={self.sigil!r}, wane={self.wane!r}, chi={self.chi!r}, body={self.body!r})"

    @property
    def body(self) -> dict[str, Any]:
        if self._body is None:
            body = from_json(self.body_bytes)
            if not isinstance(body, dict):
                raise ValueError("a petal's body is a JSON object")
            self._body = body
        return self._body

    def chunk_text(self) -> tuple[Any, Any]:
        """A chunk's `chunkType` (default `text_delta`) and `delta` (default ""): read from its JSON
        without building (or keeping) the whole body when it is still bytes, as a mirrored petal is."""
        if self._body is None:
            # its body's JSON, or its whole line (the head's keys are not the struct's: skipped)
            text = _CHUNK_TEXT.decode(self._body_json if self._body_json is not None else self._forms.line)  # type: ignore[union-attr]
            return text.chunkType, text.delta
        return self._body.get("chunkType", "text_delta"), self._body.get("delta", "")

    @property
    def closes_bloom(self) -> bool:
        return self.chi in ("finish", "error")

    @property
    def body_json(self) -> str:
        """The body as compact JSON, encoded once: the store keeps it, and the tap line is built around it."""
        return self.body_bytes.decode()

    @property
    def body_bytes(self) -> bytes:
        """`body_json` as UTF-8 bytes."""
        if self._body_json is None:
            self._body_json = json_bytes(self._body) if self._body is not None else _body_of_line(self._forms.line)  # type: ignore[union-attr]
        return self._body_json

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
        self._sid, self._forms, self._tone = sid, tone.forms, weakref.ref(tone)
        _recent.append(tone)
        return tone

    @property
    def line_sid(self) -> str | None:
        """The sid its tap line is made for already (a mirrored petal: its home's), None if none is."""
        return self._sid if self._forms is not None else None

    def line(self, sid: str) -> bytes:
        """`tone(sid)` as its NDJSON line, for a reader that only writes bytes: no dict is built for it."""
        forms = self._forms if self._sid == sid else None  # read by every tap of a fan-out: no call when cached
        if forms is None:
            forms = self._wire(sid)
        return forms.line if forms is not None else self.tone(sid).line

    def whole_line(self, sid: str) -> bytes | None:
        """`line(sid)` when it carries the whole body (made once, as `line` makes it); None when a
        body key shadows the head (the line's envelope wins, so the line alone would lose that key)."""
        forms = self._wire(sid)
        return None if forms is None else forms.line

    def _wire(self, sid: str) -> WireForms | None:
        """The encodings for `sid`, made now if need be; None when a body key shadows the head
        (then `tone` encodes the whole object)."""
        if self._sid == sid and self._forms is not None:
            return self._forms
        if self._body is not None and not _TONE_HEAD.isdisjoint(self._body):
            return None
        if self._body is None and shadows_head(self.body_bytes) and not _TONE_HEAD.isdisjoint(self.body):
            return None
        forms = WireForms(tap_line(self.sigil, self.wane, self.chi, sid, self.body_bytes))
        if self._body is not None:
            self._body_json = None  # in the line now; the store has had it
        self._sid, self._forms = sid, forms
        return forms

    @classmethod
    def from_tone(cls, tone: dict[str, Any]) -> Petal:
        """Read a replicated petal back from its tone (the inverse of `tone`)."""
        body = {k: v for k, v in tone.items() if k not in _ENVELOPE}
        return cls(sigil=tone["sigil"], wane=int(tone["wane"]), chi=tone["chi"], body=body)


# A key of the head, as JSON writes a key (a string, then `:`; inside a string
# value the quotes would be escaped): one search over the body's text, in C.
_HEAD_KEY = re.compile(rb'"(?:chi|sigil|sid|wane)"\s*:')
# ... or a key of the head or of a link's envelope.
_ENVELOPE_KEY = re.compile(rb'"(?:chi|sigil|sid|wane|from|petalFrom|to|rid|dusk)"\s*:')


def shadows_head(body_json: bytes) -> bool:
    """True when the body's JSON text might hold a key of the head (then it is read to know): a
    body without any cannot shadow the head, whatever its values say."""
    return _HEAD_KEY.search(body_json) is not None


def head_bytes(sigil: str, wane: int, chi: str, sid: str) -> bytes:
    """`{"chi":..,"sigil":..,"sid":..,"wane":..}`: the head of a petal's tone, alone."""
    return _HEAD_ENCODER.encode(Head(chi, sigil, sid, wane))


def tap_line(sigil: str, wane: int, chi: str, sid: str, body_json: bytes) -> bytes:
    """A petal's NDJSON tap line around its body's compact JSON (whose keys must not shadow the head)."""
    head = _head_start(sigil, chi, sid)
    return b"%s%d}\n" % (head, wane) if body_json == b"{}" else b"%s%d,%s\n" % (head, wane, body_json[1:])


def stored_line(sigil: str, wane: int, chi: str, sid: str, body_json: str) -> bytes:
    """A stored petal's tap line, built around its stored body without reading it when nothing
    in the body can shadow the head (the common case); otherwise the body is read first."""
    body = body_json.encode()
    if shadows_head(body):
        return Petal.stored(sigil, wane, chi, body).line(sid)
    return tap_line(sigil, wane, chi, sid, body)


class _LinkHead(msgspec.Struct):
    """What a replica reads of a petal in its home's `petals` frame before it keeps the bytes."""

    chi: str
    sigil: str
    wane: int
    sid: str = ""


_LINK_HEADS = msgspec.json.Decoder(_LinkHead)


def mirrored_petal(sigil: str, item: Any) -> Petal:
    """One petal of a `petals` frame from hum `sigil`'s home, as this replica keeps it.

    A petal that came as bytes (`msgspec.Raw`) in the form its home's taps
    are sent (the head, then the body; no envelope key in its body) is kept
    as those bytes: its stored body and its tap line are cut from them, and
    its body is read only if somebody asks. Anything else is read whole.
    Raises `BadTone` (`bad-petal`) for what is not a petal of that hum.
    """
    try:
        if isinstance(item, msgspec.Raw):
            return _cut(sigil, bytes(item))
        if not isinstance(item, dict) or not is_petal(item) or item.get("sigil") != sigil:
            raise BadTone("bad-petal", "each of `petals` is a petal of the frame's hum")
        return Petal.from_tone(item)
    except (msgspec.DecodeError, ValueError, KeyError, TypeError) as exc:
        raise BadTone("bad-petal", f"malformed petal: {exc}") from exc


def _cut(sigil: str, data: bytes) -> Petal:
    global _last_head
    last_sigil, start, chi, sid = _last_head
    if last_sigil != sigil or not data.startswith(start):  # not the head of the petal before it (a frame's chunks)
        head = _LINK_HEADS.decode(data)
        if head.sigil != sigil or head.chi not in PETAL_CHIS:
            raise BadTone("bad-petal", "each of `petals` is a petal of the frame's hum")
        start, chi, sid = _head_start(sigil, head.chi, head.sid), head.chi, head.sid  # made once a chi and sid
        _last_head = (sigil, start, chi, sid)
    wane = _WANE.match(data, len(start)) if data.startswith(start) else None
    if wane is not None:  # the head as its home's taps write it: cut in place, its body left in its line
        end = wane.end()
        if len(data) == end + 1 and data[end] == _CLOSE:
            return Petal._assembled(sigil, int(wane[0]), chi, b"{}", sid, data + b"\n")
        if data[end] == _COMMA and _ENVELOPE_KEY.search(data, end) is None:
            return Petal._assembled(sigil, int(wane[0]), chi, None, sid, data + b"\n")
    return Petal.from_tone(petal_content(from_json(data)))


_CLOSE, _COMMA = ord("}"), ord(",")
# A wane as the encoder writes it: digits, no sign, no leading zero, no fraction or exponent.
_WANE = re.compile(rb"[1-9][0-9]*")
# The head `_cut` met last: (sigil, the head up to its wane, chi, sid). The petals of a frame share
# it, so each is checked against it (one comparison of bytes) instead of being parsed.
_last_head: tuple[str, bytes, str, str] = ("", b"", "", "")
_HEAD_WANE = b'"wane":'


def _body_of_line(line: bytes) -> bytes:
    """The body's JSON inside a tap line whose head is plain (`tap_line`'s form): after its wane.
    The head's keys come first and a string's quotes are escaped, so the first `"wane":` is the head's."""
    end = _WANE.match(line, line.index(_HEAD_WANE) + len(_HEAD_WANE)).end()  # type: ignore[union-attr]
    return b"{}" if line[end] == _CLOSE else b"{" + line[end + 1 : -1]


@functools.lru_cache(maxsize=1024)  # a hum's few chis, for its sid (and the sids its homes send): the hums at work now
def _head_start(sigil: str, chi: str, sid: str) -> bytes:
    """`{"chi":..,"sigil":..,"sid":..,"wane":`: a petal's head without its wane, made once for
    each hum and chi of those recently written (its tap lines, a frame's petals cut)."""
    return head_bytes(sigil, 0, chi, sid)[: -len(b"0}")]
