"""The wire: tones, the chi registry and NDJSON framing (no I/O)."""

from hum.wire.framing import DEFAULT_MAX_LINE, BadTone, LineDecoder, encode, parse_tone
from hum.wire.tones import (
    CHIS,
    PETAL_CHIS,
    PROTO_VERSION,
    Tone,
    error_tone,
    is_past_dusk,
    rid,
    sigil,
)

__all__ = [
    "CHIS",
    "DEFAULT_MAX_LINE",
    "PETAL_CHIS",
    "PROTO_VERSION",
    "BadTone",
    "LineDecoder",
    "Tone",
    "encode",
    "error_tone",
    "is_past_dusk",
    "parse_tone",
    "rid",
    "sigil",
]
