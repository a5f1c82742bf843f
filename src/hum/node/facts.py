"""What one humd knows, each fact once: its hums, their taps, the directory and peers, recency, transcripts."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any

from hum.core.hum import Hum, PetalArchive
from hum.core.wane import WaneTracker
from hum.ensemble.ensemble import DirectoryEntry, Ensemble
from hum.ensemble.trust.certificates import HumdId
from hum.ensemble.trust.identity import Identity
from hum.errors import RouteError, StoreError
from hum.interfaces import Clock
from hum.node.taps import TapBook
from hum.store.aside import aside_hums, is_aside
from hum.store.sqlite import TOMBSTONES_KEPT


class TranscriptIndex:
    """Which hum's whole log is a given transcript (`bloom.key_of_turns`): one entry a hum."""

    def __init__(self) -> None:
        self._hums: dict[bytes, str] = {}  # transcript key -> sigil
        self._keys: dict[str, bytes] = {}  # sigil -> its key in `_hums`

    def index(self, hum: Hum) -> None:
        """`hum` closed a bloom (or was loaded): find it by its transcript key from now on."""
        self.drop(hum.sigil)
        if hum.transcript_key:
            self._hums[hum.transcript_key] = hum.sigil
            self._keys[hum.sigil] = hum.transcript_key

    def drop(self, sg: str) -> None:
        """Hum `sg`'s old key finds it no more (its key moved on, or it was forgotten)."""
        old = self._keys.pop(sg, None)
        if old is not None and self._hums.get(old) == sg:
            del self._hums[old]

    def find(self, key: bytes) -> str | None:
        return self._hums.get(key)


class Facts:
    """The hums (the logs), the tap book, the ensemble's directory and peers, recency and the transcript index.

    Every part of the router reads these; each of them is written here or by
    the part that owns that fact, and a forgotten hum leaves with `drop`.
    """

    def __init__(self, identity: Identity, clock: Clock, *, nest: str, archive: PetalArchive | None) -> None:
        self.identity = identity
        self.me: HumdId = identity.humd_id
        self.clock = clock
        self.nest = nest  # the nest kind a prompt with no `nest` mints in
        self.archive = archive  # where hums read their stored petals (None: every petal stays in memory)
        self.tracker = WaneTracker()
        self.hums: dict[str, Hum] = {}
        self.ensemble = Ensemble(self.me)  # linked peers (each with its owner) and the directory
        self.taps = TapBook()
        self.recent: OrderedDict[str, None] = OrderedDict()  # every known sigil, least recently active first
        self.transcripts = TranscriptIndex()
        # (sigil, born) of hums forgotten at their home here, oldest first: told at every link-up
        self.tombstones: OrderedDict[tuple[str, int], None] = OrderedDict()
        # sigils whose news for the peers waits for a commit here (an adoption's new epoch, a forget):
        # nothing more of them is told first (a restart would take the news back, and a sibling that
        # learnt it would wait for a home that is not, or drop a copy that was still wanted)
        self.awaiting_store: set[str] = set()
        self.damaged: set[str] = set()  # hums a read found a stored petal of that does not read (Repairs asks)
        self._nestlers = itertools.count(1)  # names for nestlers that give none

    def nestler_name(self) -> str:
        return f"nestler-{next(self._nestlers)}"

    # -- one hum ------------------------------------------------------------

    def new_hum(self, sg: str, sid: str, nest: str, home: str) -> Hum:
        """A hum with no petals yet, reading its stored ones from this node's archive."""
        hum = self.hums[sg] = Hum(sg, sid, nest, home, self.tracker, archive=self.archive)
        return hum

    def entry(self, sg: str) -> DirectoryEntry | None:
        return self.ensemble.lookup(sg)

    def home_of(self, sg: str, rid: Any = None) -> str:
        """The hum's home: this humd's own view when it holds the hum, else the directory's (unknown-hum if none)."""
        hum = self.hums.get(sg)
        return hum.home if hum is not None else self.ensemble.home_of(sg, rid)

    def home_or_none(self, sg: str) -> str | None:
        """The hum's home as `home_of` says it, or None when nobody here knows the hum."""
        hum, entry = self.hums.get(sg), self.ensemble.lookup(sg)
        return hum.home if hum is not None else entry.home if entry is not None else None

    def homed_here(self, sg: str) -> Hum | None:
        """The hum if this humd is its home, else None."""
        hum = self.hums.get(sg)
        return hum if hum is not None and hum.home == self.me else None

    def set_aside(self, sg: str) -> bool:
        """True when the store set hum `sg` aside: a page of its stored log does not read (store/aside.py)."""
        return is_aside(self.archive, sg)

    def aside_hums(self) -> list[str]:
        """Every hum the store set aside so far, oldest first."""
        return aside_hums(self.archive)

    def aside_error(self, sg: str) -> StoreError:
        """What a prompt to, or a tap on, a hum set aside is told."""
        return StoreError("cannot-read", f"hum {sg} is set aside: a page of its stored log does not read; stop humd and run `hum store repair`")

    def touch(self, sg: str) -> None:
        """Hum `sg` was just active (a petal, a mint, an announcement): it moves to the front."""
        self.recent[sg] = None
        self.recent.move_to_end(sg)

    def announce(self, hum: Hum) -> None:
        """This humd's own word on `hum` goes into its directory."""
        self.ensemble.record(DirectoryEntry.from_wire(hum.summary()))

    def drop(self, sg: str) -> None:
        """This device holds nothing of hum `sg` any more (its directory entry may stay)."""
        del self.hums[sg]
        self.transcripts.drop(sg)
        self.tracker.reset(sg, 0)  # attached again, the replica starts from wane 0

    def bury(self, sg: str, born: int) -> None:
        """Hum `sg` (incarnation `born`) was forgotten at its home, here: keep its tombstone (the newest few)."""
        self.tombstones[(sg, born)] = None
        while len(self.tombstones) > TOMBSTONES_KEPT:
            self.tombstones.popitem(last=False)

    def bury_all(self, forgotten: list[tuple[str, int]] | tuple[tuple[str, int], ...]) -> None:
        for sg, born in forgotten:
            self.bury(sg, born)

    def next_born(self, sg: str) -> int:
        """The incarnation of a hum minted now under sigil `sg`: later than every one forgotten here."""
        now = int(self.clock.wall_ms())
        return max([now] + [b + 1 for s, b in self.tombstones if s == sg])

    def unlist(self, sg: str) -> None:
        """Hum `sg` is gone from the ensemble: no directory entry, no place in the lists."""
        self.ensemble.forget(sg)
        self.recent.pop(sg, None)

    # -- what people read ---------------------------------------------------

    def device(self, humd_id: str) -> str:
        """A device as people know it in a message: its name with the short HumdId, or the short HumdId."""
        name = self.ensemble.names.get(humd_id)
        return f"{name} ({humd_id[:8]})" if name else humd_id[:8]

    def no_route(self, sg: str, home: str, rid: Any) -> RouteError:
        return RouteError("no-route", f"hum {sg} lives on {self.device(home)}, which is not linked", rid)

    def not_homed_here(self, sg: Any, rid: Any) -> RouteError:
        """The refusal of a tone meant for a hum's home by a humd that is not (or no longer) its home."""
        hum = self.hums.get(sg) if isinstance(sg, str) else None
        if hum is None:
            return RouteError("unknown-hum", f"hum {sg} is not homed on {self.me[:8]}", rid)
        return RouteError("moved", f"hum {sg} is homed on {hum.home[:8]} (epoch {hum.epoch}), not {self.me[:8]}", rid)

    def summary(self, sg: str) -> dict[str, Any] | None:
        """Hum `sg` as listed: this humd's own view when it holds the log, else its home's announcement."""
        hum = self.hums.get(sg)
        entry = self.ensemble.lookup(sg)
        if hum is not None and (hum.home == self.me or hum.tip):
            summary = hum.summary()
            if entry is not None and hum.home != self.me and entry.wane > summary["wane"]:
                summary["wane"] = entry.wane  # a replica nobody follows now: the home's last word is newer
            return summary
        return entry.as_wire() if entry is not None else None

    def recent_hums(self, limit: int) -> list[dict[str, Any]]:
        """The `limit` most recently active hums, newest first."""
        out = []
        for sg in reversed(self.recent):
            entry = self.summary(sg)
            if entry is not None:
                out.append(entry)
                if len(out) == limit:
                    break
        return out

    def hums_page(self, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` hums in sigil order after `cursor`, and the cursor of the next page (None at the end)."""
        after = sorted(s for s in self.recent if cursor is None or s > cursor)
        page = [e for e in (self.summary(s) for s in after[:limit]) if e is not None]
        return page, (after[limit - 1] if len(after) > limit else None)

    def list_hums(self) -> list[dict[str, Any]]:
        """Every hum this humd knows: its own, mirrored ones, and those its peers announced (sigil order)."""
        return [e for e in (self.summary(s) for s in sorted(self.recent)) if e is not None]

    def continuing(self, key: bytes) -> str | None:
        """The hum whose whole log, right now, is the transcript with key `key`."""
        sg = self.transcripts.find(key)
        hum = self.hums.get(sg) if sg is not None else None
        if hum is None or hum.transcript_key != key or hum.bloom_open:
            return None
        return sg
