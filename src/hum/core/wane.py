"""Wane: the per-sigil counter that orders every hum's petals (the home is its only writer)."""

from __future__ import annotations


class WaneTracker:
    """Last wane seen per sigil on one humd; the cursor that makes catch-up exact."""

    def __init__(self) -> None:
        self._wanes: dict[str, int] = {}

    def tick(self, sigil: str) -> int:
        """Take the next wane for a petal appended at the hum's home."""
        wane = self._wanes.get(sigil, 0) + 1
        self._wanes[sigil] = wane
        return wane

    def get(self, sigil: str) -> int:
        return self._wanes.get(sigil, 0)

    def set(self, sigil: str, wane: int) -> None:
        """Record a replicated petal's wane; a wane never goes back."""
        if wane < self._wanes.get(sigil, 0):
            raise ValueError(f"wane of {sigil} would go back from {self.get(sigil)} to {wane}")
        self._wanes[sigil] = wane

    def reset(self, sigil: str, wane: int) -> None:
        """The log was cut back to `wane` (an orphaned branch left it): the counter follows."""
        self._wanes[sigil] = wane

    def is_behind(self, sigil: str, remote: int) -> bool:
        """True while this humd has not yet seen the petal at `remote`."""
        return self.get(sigil) < remote
