"""Blooms: the turns of a hum, read off its petal log."""

from __future__ import annotations

import hashlib
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


# -- transcript keys ---------------------------------------------------------------
#
# A stateless client (opencode, the `openai` SDK) sends the whole conversation
# with every request; the hum it continues is the one whose transcript is that
# conversation. Comparing transcripts would cost a read of every hum's log per
# request, so each hum keeps a key of its transcript, a hash chain over its
# closed blooms, and the node indexes hums by key.

EMPTY_TRANSCRIPT = b""  # the key of a hum with no closed bloom


def text_digest(text: str) -> bytes:
    """The digest a bloom's answer (or prompt) contributes to a transcript key."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def extend_key(key: bytes, user: bytes, assistant: bytes) -> bytes:
    """The transcript key after one more closed bloom, from the digests of its prompt and answer.

    Fixed-length digests make the chain unambiguous; an answer with no text
    digests as "" so that it matches a transcript that leaves the turn out.
    """
    return hashlib.sha256(key + user + assistant).digest()


def key_of_turns(turns: Iterable[tuple[str, str]]) -> bytes | None:
    """The transcript key of (role, text) turns as `Hum.transcript` gives them, system left out;
    None for turns no hum can have (an answer with no prompt before it). A prompt with no
    answer after it is a bloom that closed with no text."""
    key, user = EMPTY_TRANSCRIPT, None
    for role, text in turns:
        if role == "user":
            if user is not None:
                key = extend_key(key, user, text_digest(""))
            user = text_digest(text)
        elif role == "assistant" and user is not None:
            key, user = extend_key(key, user, text_digest(text)), None
        else:
            return None
    if user is not None:
        key = extend_key(key, user, text_digest(""))
    return key
