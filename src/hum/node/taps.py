"""The tap book: every tap on one humd, found by hum or by owner."""

from __future__ import annotations

from collections.abc import Iterator

from hum.core.tap import Tap
from hum.node.owners import Owner


class TapBook:
    """One registry of taps, kept under two keys so both questions are a lookup.

    "Who watches hum S?" (fan-out after an append) and "what does owner O
    watch?" (a pull, or an owner going away) are both hot; every change goes
    through `open` and `drop`, so the two views never disagree.
    """

    def __init__(self) -> None:
        self._by_hum: dict[str, dict[Owner, Tap]] = {}
        self._by_owner: dict[Owner, dict[str, Tap]] = {}

    def open(self, owner: Owner, sigil: str, since: int) -> Tap:
        """A fresh tap for `owner` on `sigil` from `since`, replacing any it had there."""
        self.drop(owner, sigil)
        tap = Tap(sigil, max(since, 0), owner)
        self._by_hum.setdefault(sigil, {})[owner] = tap
        self._by_owner.setdefault(owner, {})[sigil] = tap
        return tap

    def drop(self, owner: Owner, sigil: str) -> Tap | None:
        tap = self._by_owner.get(owner, {}).pop(sigil, None)
        if tap is None:
            return None
        watchers = self._by_hum[sigil]
        del watchers[owner]
        if not watchers:
            del self._by_hum[sigil]
        if not self._by_owner[owner]:
            del self._by_owner[owner]
        return tap

    def get(self, owner: Owner, sigil: str) -> Tap | None:
        return self._by_owner.get(owner, {}).get(sigil)

    def of_hum(self, sigil: str) -> list[Tap]:
        return list(self._by_hum.get(sigil, {}).values())

    def watched(self, sigil: str) -> bool:
        return sigil in self._by_hum

    def of_owner(self, owner: Owner) -> list[Tap]:
        return list(self._by_owner.get(owner, {}).values())

    def __iter__(self) -> Iterator[Tap]:
        for taps in self._by_hum.values():
            yield from taps.values()
