"""A store with nothing to persist: every change is "durable" at the next commit, and nothing survives the process.

A humd given no store (a test, a throwaway sim node) runs the same committer
over this one, so its petals reach taps by the same path as a real store's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hum.core.hum import Hum
from hum.core.petal import Petal
from hum.core.wane import WaneTracker
from hum.interfaces import Commit


class InstantStore:
    """Keeps nothing; `flush` hands back, as durable, everything appended since the last one."""

    def __init__(self) -> None:
        self._tips: dict[str, tuple[Hum, int]] = {}
        self._queued: list[tuple[Hum, int]] = []
        self._saved: list[Hum] = []
        self._wake = asyncio.Event()
        self.damaged: list[Any] = []  # nothing stored, nothing damaged

    def _changed(self) -> None:
        self._wake.set()

    def append(self, hum: Hum, petal: Petal, transcript: bytes | None = None) -> None:
        self._tips[hum.sigil] = (hum, petal.wane)
        self._changed()

    def append_run(self, hum: Hum, run: list[tuple[Petal, bytes | None]]) -> None:
        if run:
            self._tips[hum.sigil] = (hum, run[-1][0].wane)
            self._changed()

    def queue_prompt(self, hum: Hum, seq: int, body: dict[str, Any]) -> None:
        self._queued.append((hum, seq))
        self._changed()

    def dequeue_prompt(self, hum: Hum, seq: int) -> None: ...

    def save_hum(self, hum: Hum, touched: int | None = None) -> None:
        self._saved.append(hum)
        self._changed()

    def orphan(self, hum: Hum, keep: int, epoch: int, born: int | None = None) -> None: ...

    def repair(self, hum: Hum, petal: Petal) -> None: ...

    def orphans(self, sigil: str) -> list[dict[str, Any]]:
        return []

    def forget(self, hum: Hum, tombstone: int | None = None) -> None:
        self._tips.pop(hum.sigil, None)
        self._saved.append(hum)
        self._changed()

    def tombstones(self) -> list[tuple[str, int]]:
        return []

    def touched(self) -> dict[str, int]:
        return {}

    def load(self, tracker: WaneTracker) -> list[Hum]:
        return []

    def has_pending(self) -> bool:
        return bool(self._tips or self._queued or self._saved)

    async def wait_pending(self) -> None:
        while not self.has_pending():
            self._wake.clear()
            await self._wake.wait()

    def flush(self) -> Commit:
        commit = Commit(list(self._tips.values()), self._queued, self._saved)
        self._tips, self._queued, self._saved = {}, [], []
        return commit
