"""What a link tells its runner: the peer is up, a tone came in, the link is down."""

from __future__ import annotations

from dataclasses import dataclass

from hum.ensemble.link.envelope import read_petal
from hum.ensemble.trust.certificates import HumdId
from hum.wire.tones import PETAL_FROM, Tone, petal_content


@dataclass(frozen=True)
class LinkUp:
    """The peer proved it is a T1 sibling; hum tones may now cross. `name` is what its person calls it."""

    peer: HumdId
    name: str = ""


@dataclass(frozen=True)
class ToneIn:
    """A tone from the authenticated peer, in its link envelope (`from` is the peer)."""

    tone: Tone

    @property
    def content(self) -> Tone:
        """The tone out of its envelope: no `from`/`to`, a petal's own `from` restored."""
        out = self.content_lazy
        if out.chi == "petals" and isinstance(out.get("petals"), list):
            out["petals"] = [petal_content(read_petal(item)) for item in out["petals"]]
        return out

    @property
    def content_lazy(self) -> Tone:
        """`content`, except that a `petals` frame's petals stay as they came: their bytes
        (`msgspec.Raw`), which a replica cuts into its rows and lines (`core.petal.mirrored_petal`)."""
        out = Tone({k: v for k, v in self.tone.items() if k not in ("from", "to")})
        if PETAL_FROM in out:
            out["from"] = out.pop(PETAL_FROM)
        return out


@dataclass(frozen=True)
class LinkDown:
    """The link is over; `qualifier` says why (`identity-mismatch`, `peer-loss`, `goodbye`...)."""

    qualifier: str
    message: str


LinkEvent = LinkUp | ToneIn | LinkDown
