"""Attention: who is watching which hum now, and how far each hum has been read, across the ensemble.

A plain object with no I/O, owned by the router (issue 20). Its collaborators
come in its constructor: `send(peer, tone)` queues a link tone, `peers()`
lists the linked peers, `home_of(sigil)` names a hum's home (None when
unknown), and `on_mark(sigil, wane)` keeps a mark durable.

- Watching: a nestler says `{"chi":"watch","sigil","watching":true}` while it
  shows that hum in the foreground (`hum attach`, the web chat on that hum);
  it stops with `watching:false` or by going away. Each humd sends its peers
  the whole set of hums watched on it (`watching`) whenever it changes and at
  link-up, so any device can tell whether anyone watches.
- Read marks: `{"chi":"seen","sigil","wane"}` from a nestler goes to the hum's
  home, which keeps the furthest mark and sends it to every peer
  (`seen-marks`); peers keep the furthest they heard.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from hum.errors import BadTone
from hum.wire.tones import Tone

# Marks sent in one `seen-marks` tone at link-up: an entry is ~30 bytes, so a
# tone stays far below the 1 MiB line limit.
MARKS_PER_TONE = 1000
# Hums one device may report as watched at once: a person has a few screens; a
# client claiming more is broken, and the set crosses every link.
MAX_WATCHED = 256
# The largest wane a mark may name: JavaScript's safe integers, far past any hum, within SQLite's INTEGER.
MAX_WANE = 2**53


def _wane(tone: Tone) -> int:
    wane = tone.get("wane")
    if not isinstance(wane, int) or isinstance(wane, bool) or not 0 <= wane <= MAX_WANE:
        raise BadTone("bad-field", f"`wane` is a whole number from 0 to {MAX_WANE}")
    return wane


def _sigil(tone: Tone) -> str:
    sg = tone.get("sigil")
    if not isinstance(sg, str) or not sg:
        raise BadTone("missing-field", f"{tone.chi} needs a string `sigil`")
    return sg


class Attention:
    """Watchers by hum (here and on each peer) and the furthest read mark of each hum."""

    def __init__(
        self,
        me: str,
        send: Callable[[str, Tone], None],
        peers: Callable[[], list[str]],
        home_of: Callable[[str], str | None],
        on_mark: Callable[[str, int], None] | None = None,
    ) -> None:
        self.me = me
        self._send = send
        self._peers = peers
        self._home_of = home_of
        self.on_mark = on_mark or (lambda sigil, wane: None)
        self.on_marked: Callable[[str, int], None] = lambda sigil, wane: None  # a mark moved (listeners: notifications)
        self.local: dict[Hashable, set[str]] = {}  # nestler -> hums it watches
        self.remote: dict[str, set[str]] = {}  # peer -> hums watched there
        self.marks: dict[str, int] = {}

    # -- reads ----------------------------------------------------------------

    def watched(self, sigil: str) -> bool:
        """Somebody shows this hum in the foreground, on this device or a linked one."""
        return any(sigil in s for s in self.local.values()) or any(sigil in s for s in self.remote.values())

    def watched_here(self) -> set[str]:
        return set().union(*self.local.values()) if self.local else set()

    def mark(self, sigil: str) -> int:
        return self.marks.get(sigil, 0)

    def load(self, marks: dict[str, int]) -> None:
        self.marks.update(marks)

    # -- a nestler's tones -------------------------------------------------------

    def watch_tone(self, who: Hashable, tone: Tone) -> None:
        sg, watching = _sigil(tone), tone.get("watching", True)
        if not isinstance(watching, bool):
            raise BadTone("bad-field", "`watching` is true or false")
        before = self.watched_here()
        mine = self.local.setdefault(who, set())
        if watching:
            if len(mine) >= MAX_WATCHED and sg not in mine:
                raise BadTone("bad-field", f"one nestler watches at most {MAX_WATCHED} hums")
            mine.add(sg)
        else:
            mine.discard(sg)
        if not mine:
            del self.local[who]
        self._tell_if_changed(before)

    def gone(self, who: Hashable) -> None:
        """A nestler went away: it watches nothing any more."""
        if who in self.local:
            before = self.watched_here()
            del self.local[who]
            self._tell_if_changed(before)

    def seen_tone(self, who: Hashable, tone: Tone) -> None:
        self._seen(_sigil(tone), _wane(tone))

    def _seen(self, sg: str, wane: int) -> None:
        home = self._home_of(sg)
        if home is None or home == self.me:
            if self._raise(sg, wane):
                for peer in self._peers():
                    self._send(peer, Tone(chi="seen-marks", marks={sg: wane}))
        elif home in self._peers():
            self._raise(sg, wane)  # shown here at once; the home confirms it to everyone
            self._send(home, Tone(chi="seen", sigil=sg, wane=wane))

    def _raise(self, sg: str, wane: int) -> bool:
        if wane <= self.marks.get(sg, 0):
            return False
        self.marks[sg] = wane
        self.on_mark(sg, wane)
        self.on_marked(sg, wane)
        return True

    # -- links ---------------------------------------------------------------------

    def link_up(self, peer: str) -> None:
        self._send(peer, Tone(chi="watching", sigils=sorted(self.watched_here())))
        mine = [(sg, w) for sg, w in self.marks.items() if self._home_of(sg) == self.me]
        for start in range(0, len(mine), MARKS_PER_TONE):
            self._send(peer, Tone(chi="seen-marks", marks=dict(mine[start : start + MARKS_PER_TONE])))

    def link_down(self, peer: str) -> None:
        self.remote.pop(peer, None)

    def heard_watching(self, peer: str, tone: Tone) -> None:
        sigils = tone.get("sigils")
        if not isinstance(sigils, list) or len(sigils) > MAX_WATCHED * 4 or not all(isinstance(s, str) for s in sigils):
            raise BadTone("bad-field", "`sigils` is a list of sigils")
        self.remote[peer] = set(sigils)

    def heard_seen(self, peer: str, tone: Tone) -> None:
        """A peer's nestler read a hum homed here."""
        sg = _sigil(tone)
        if self._home_of(sg) == self.me:
            self._seen(sg, _wane(tone))

    def heard_marks(self, peer: str, tone: Tone) -> None:
        """The home's furthest marks of its hums."""
        marks: Any = tone.get("marks")
        if not isinstance(marks, dict):
            raise BadTone("bad-field", "`marks` maps sigils to wanes")
        for sg, wane in marks.items():
            if isinstance(wane, int) and not isinstance(wane, bool) and 0 <= wane <= MAX_WANE and self._home_of(sg) == peer:
                self._raise(sg, wane)

    def _tell_if_changed(self, before: set[str]) -> None:
        now = self.watched_here()
        if now != before:
            for peer in self._peers():
                self._send(peer, Tone(chi="watching", sigils=sorted(now)))
