"""A tone in a link's form: the link's envelope `from`/`to`, a petal's own `from` as `petalFrom`,
and `petals` frames that carry a run of one hum's petals in one line. Plain functions; no I/O."""

from __future__ import annotations

from typing import Any

from hum.wire.framing import SealedTone, encode

# On a link, `from` names the sending humd (PROTOCOL.md), so a petal's own
# `from` (where its prompt entered) travels under this key instead.
PETAL_FROM = "petalFrom"

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


def unwrap_petal(item: Any) -> Any:
    """One petal of a `petals` frame out of the link's form, like a single petal's `content`
    (a copy: the frame itself is left as it came, so reading it twice gives the same)."""
    if not isinstance(item, dict) or not ("from" in item or "to" in item or PETAL_FROM in item):
        return item
    out = {k: v for k, v in item.items() if k not in ("from", "to")}
    if PETAL_FROM in out:
        out["from"] = out.pop(PETAL_FROM)
    return out
