"""Blooms: the turns of a hum, read off its petal log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hum.core.petal import Petal

TEXT_DELTA = "text_delta"


@dataclass
class Bloom:
    """One turn: a prompt petal, the chunks it produced, and the finish or error that closed it."""

    prompt: Petal
    chunks: list[Petal] = field(default_factory=list)
    close: Petal | None = None  # None while the bloom is still open

    @property
    def is_open(self) -> bool:
        return self.close is None

    @property
    def text(self) -> str:
        """What the worker said (text deltas only; notes and reasoning are not the answer)."""
        return "".join(
            str(p.body.get("delta", "")) for p in self.chunks if p.body.get("chunkType", TEXT_DELTA) == TEXT_DELTA
        )


def blooms(petals: Iterable[Petal]) -> Iterator[Bloom]:
    """Group a log into its blooms, in wane order."""
    current: Bloom | None = None
    for petal in petals:
        if petal.chi == "prompt":
            if current is not None:
                yield current
            current = Bloom(petal)
        elif current is not None:
            if petal.chi == "chunk":
                current.chunks.append(petal)
            elif petal.closes_bloom:
                current.close = petal
                yield current
                current = None
    if current is not None:
        yield current
