"""What chaos counts: the whole history of what every nestler saw, against where the hum ended.

- `lost`: a petal someone saw that is, at the end, neither in the home's log
  nor in an orphaned branch some device keeps (unless its incarnation was
  forgotten at its home), or a gap inside a tap's stream;
- `duplicated`: a petal delivered twice to one tap;
- `out_of_order`: a petal delivered after a later one to one tap;
- `unsurfaced`: a nestler left neither caught up nor told why (silence);
- `diverged`: a wane at which a device's log differs from the home's up to its
  tip (or a device still holding an incarnation the home does not have);
- `decisions`: a permission ask in the home's log with more than one decision,
  or with none while its bloom never ended;
- `unrepaired`: a row damaged in one device's store that still does not read at
  the end (the node fetches it back from a sibling that holds it).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from hum.wire.tones import Tone, is_petal

CRITERIA = ("lost", "duplicated", "out_of_order", "unsurfaced", "diverged", "decisions", "unrepaired")


@dataclass
class Tally:
    """The counts of a run (or of many runs added up)."""

    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unsurfaced: int = 0
    diverged: int = 0
    decisions: int = 0
    unrepaired: int = 0

    def add(self, other: Tally) -> None:
        for name in CRITERIA:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def clean(self) -> bool:
        return all(getattr(self, name) == 0 for name in CRITERIA)

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in CRITERIA}


def report(tally: Tally) -> dict[str, dict[str, object]]:
    """The criteria as `hum chaos --json` prints them."""
    return {n: {"ok": getattr(tally, n) == 0, "value": getattr(tally, n), "limit": 0} for n in CRITERIA}


def count_streams(
    streams: list[list[Tone]], home_log: list[Tone], kept: Sequence[Tone] = (), forgotten: Collection[int] = ()
) -> Tally:
    """Lost, duplicated and out-of-order petals in what nestlers received (each stream one nestler's
    tones on one hum), against the home's final log (its petals as tones, in wane order). A petal
    kept in an orphaned branch (`kept`, with its `wane`) was set aside, not lost; one seen under an
    incarnation forgotten at its home (its hello's `born` in `forgotten`) was forgotten, not lost."""
    tally = Tally()
    orphaned = {_key(o) for o in kept}
    for stream in streams:
        segments: list[tuple[int, list[Tone]]] = []
        for tone in stream:
            if tone.chi == "hello":
                segments.append((int(tone.get("born") or 0), []))
            elif is_petal(tone):
                if not segments:
                    tally.lost += 1  # a petal before its hello: never supposed to happen
                    continue
                segments[-1][1].append(tone)
        for born, segment in segments:
            _count_segment(tally, segment, home_log, orphaned, gone=bool(born) and born in forgotten)
    return tally


def _count_segment(tally: Tally, segment: list[Tone], home_log: list[Tone], orphaned: set[tuple], *, gone: bool) -> None:
    seen: set[int] = set()
    last = None
    for tone in segment:
        w = tone["wane"]
        if w in seen:
            tally.duplicated += 1
            continue
        if last is not None and w < last:
            tally.out_of_order += 1
        elif last is not None and w > last + 1:
            tally.lost += w - last - 1
        seen.add(w)
        last = w if last is None else max(last, w)
        if gone:
            continue  # its home forgot this incarnation: nobody is meant to keep it
        if (w > len(home_log) or _differs(tone, home_log[w - 1])) and _key(tone) not in orphaned:
            tally.lost += 1  # shown, then neither in the home's log nor kept aside: taken back


def diverged_wanes(log: Sequence[Tone], home_log: Sequence[Tone]) -> int:
    """Wanes at which a device's log differs from the home's, up to the device's tip."""
    differ = sum(1 for a, b in zip(log, home_log, strict=False) if _differs(a, b))
    return differ + max(len(log) - len(home_log), 0)


def wrong_decisions(home_log: Sequence[Tone]) -> int:
    """Asks in the home's log decided more than once, or never while their bloom went on to the end."""
    wrong = 0
    for i, ask in enumerate(home_log):
        if ask.chi != "permission-ask":
            continue
        after = home_log[i + 1 :]
        decided = sum(1 for p in after if p.chi == "permit" and p.get("permitId") == ask.get("permitId"))
        ended = any(p.chi in ("finish", "error") for p in after)
        wrong += decided - 1 if decided > 1 else 0 if decided or ended else 1
    return wrong


def _key(tone: Tone) -> tuple:
    return (tone["wane"], tone.chi, tone.get("delta"), tone.get("text"))


def _differs(tone: Tone, petal: Tone) -> bool:
    return tone.chi != petal.chi or tone.get("delta") != petal.get("delta") or tone.get("text") != petal.get("text")
