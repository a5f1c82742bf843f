"""The nestlers of `hum chaos --real`: thrum watchers that follow the hum across restarts, and the HTTP
client's read of a device's chat history."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from hum.demo.roam_real import HumdProcess, Nestler
from hum.wire.tones import Tone, is_petal


@dataclass
class Watcher:
    """A thrum nestler on a device that follows the hum; its tones across every humd it lived on."""

    nestler: Nestler | None
    since: int
    device: str
    tones: list[Tone] = field(default_factory=list)

    @property
    def last_wane(self) -> int:
        """Where to follow up from: the last wane seen, or 0 after the hum moved or was forgotten."""
        tones = self.all_tones()
        if tones and tones[-1].get("qualifier") in ("moved", "forgotten"):
            return 0
        return max((t["wane"] for t in tones if is_petal(t)), default=self.since)

    def all_tones(self) -> list[Tone]:
        return self.tones + ([t for _, t in self.nestler.seen] if self.nestler is not None else [])

    def lost_home(self) -> bool:
        tones = self.all_tones()
        if not tones or tones[-1].chi != "error" or is_petal(tones[-1]):
            return False
        return tones[-1].get("code") != "store-error" or tones[-1].get("qualifier") == "cannot-read"  # a damaged row: read again

    def retire(self) -> None:
        """Its connection is gone (its humd died, or it follows up on a fresh one)."""
        if self.nestler is not None:
            self.tones = self.all_tones()
            self.nestler.close()
            self.nestler = None


async def pump(watcher: Watcher) -> None:
    """Keep reading a watcher's tones until its connection ends."""
    assert watcher.nestler is not None
    with contextlib.suppress(ConnectionError, OSError, TimeoutError, asyncio.CancelledError):
        while True:
            await watcher.nestler.wait_for(lambda t: False, after=len(watcher.nestler.seen))


def messages(humd: HumdProcess, sg: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{humd.info['http']}/api/chat/{sg}/messages", timeout=10) as response:
        return list(json.loads(response.read())["messages"])
