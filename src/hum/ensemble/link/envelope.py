"""A tone in a link's form: the link's envelope `from`/`to`, a petal's own `from` as `petalFrom`,
and `petals` frames that carry a run of one hum's petals in one line. Plain functions; no I/O."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from hum.wire.framing import SealedTone, WireForms, encode, from_json
from hum.wire.tones import PETAL_FROM

# A `petals` frame carries at most this many petals of one hum. The receiver
# applies a frame in one go (one store transaction), so this bounds how long a
# frame holds its event loop (well under a millisecond per hundred petals); it
# equals the router's pull batch, so one pull fills at most one frame per hum.
BATCH_PETALS = 256
# ... and at most this many bytes of petals, so a frame stays far below the
# 1 MiB line limit however large its petals are.
BATCH_BYTES = 256 * 1024


def link_line(tone: SealedTone) -> bytes:
    """A sealed petal's line in a link's form, encoded once for every link: its own `from` as
    `petalFrom`, no `to` (the link's envelope `from`/`to` go in front of the object's first key)."""
    forms = tone.forms
    if forms.link_line is None:
        if "from" in tone or "to" in tone:
            out = {k: v for k, v in tone.items() if k not in ("from", "to")}
            if "from" in tone:
                out[PETAL_FROM] = tone["from"]
            forms.link_line = encode(out)
        else:
            forms.link_line = forms.line
    return forms.link_line


# Where a tap line names its hum: the head every petal's line starts with (`core.petal.Head`).
_SIGIL_KEY = b',"sigil":"'
# A petal's own `from` or a `to` key in its line (a JSON key: a string, then `:`).
_OWN_ENVELOPE = re.compile(rb'"(?:from|to)"\s*:')


def petal_link_form(petal: SealedTone | bytes) -> tuple[str, bytes]:
    """A petal's hum and its line in a link's form, from its sealed tone or its tap line; a line
    is read only when it may carry its own `from` or a `to` (a prompt's), else sent as it is."""
    if isinstance(petal, SealedTone):
        return petal["sigil"], link_line(petal)
    if _OWN_ENVELOPE.search(petal) is not None:
        tone = SealedTone(from_json(petal), WireForms(petal))
        return tone["sigil"], link_line(tone)
    start = petal.index(_SIGIL_KEY) + len(_SIGIL_KEY)  # a sigil is hex: nothing escaped in it
    return petal[start : petal.index(b'"', start)].decode(), petal


def read_petal(item: Any) -> Any:
    """A frame's petal as a dict when it came as bytes (what `content` shows); a bad one as it is."""
    if isinstance(item, msgspec.Raw):
        try:
            return from_json(item)
        except (msgspec.DecodeError, RecursionError):
            return item
    return item
