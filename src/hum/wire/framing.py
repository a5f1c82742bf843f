"""NDJSON framing: bytes in, tones (or bad-tone verdicts) out, sans I/O."""

from __future__ import annotations

import json
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


def encode(tone: dict[str, Any]) -> bytes:
    """One tone as one NDJSON line."""
    return json.dumps(tone, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


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
