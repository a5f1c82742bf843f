"""Attention without an event loop: who watches which hum, and the furthest read mark, kept by the home and spread."""

from __future__ import annotations

import pytest

from hum.errors import BadTone
from hum.node.attention import MAX_WANE, Attention
from hum.wire.tones import Tone

ME, PEER = "a" * 64, "b" * 64
HERE, THERE = "aaaaaaaaaaaa", "bbbbbbbbbbbb"  # a hum homed here, and one homed at the peer


def attention() -> tuple[Attention, list[tuple[str, Tone]], list[tuple[str, int]]]:
    sent: list[tuple[str, Tone]] = []
    kept: list[tuple[str, int]] = []
    homes = {HERE: ME, THERE: PEER}
    a = Attention(ME, lambda peer, tone: sent.append((peer, tone)), lambda: [PEER], homes.get, lambda sg, w: kept.append((sg, w)))
    return a, sent, kept


def test_a_watching_nestler_counts_until_it_stops_or_goes_and_peers_hear_the_whole_set():
    a, sent, _ = attention()
    a.watch_tone("attach-1", Tone(chi="watch", sigil=THERE))
    a.watch_tone("web-2", Tone(chi="watch", sigil=THERE, watching=True))
    assert a.watched(THERE) and not a.watched(HERE)
    a.watch_tone("attach-1", Tone(chi="watch", sigil=THERE, watching=False))
    assert a.watched(THERE)  # the page still shows it
    a.gone("web-2")
    assert not a.watched(THERE)
    assert [t["sigils"] for _, t in sent] == [[THERE], []]  # told once when it began, once when nobody watched any more


def test_a_peers_watching_counts_until_its_link_goes():
    a, _, _ = attention()
    a.heard_watching(PEER, Tone(chi="watching", sigils=[HERE]))
    assert a.watched(HERE)
    a.link_down(PEER)
    assert not a.watched(HERE)


def test_the_home_keeps_the_furthest_mark_and_tells_every_peer_and_a_mark_never_goes_back():
    a, sent, kept = attention()
    a.seen_tone("web", Tone(chi="seen", sigil=HERE, wane=9))
    a.heard_seen(PEER, Tone(chi="seen", sigil=HERE, wane=4))
    assert a.mark(HERE) == 9 and kept == [(HERE, 9)]
    assert sent == [(PEER, Tone(chi="seen-marks", marks={HERE: 9}))]


def test_a_mark_of_a_hum_homed_elsewhere_goes_to_its_home_and_only_the_home_confirms_others():
    a, sent, _ = attention()
    a.seen_tone("web", Tone(chi="seen", sigil=THERE, wane=7))
    assert sent == [(PEER, Tone(chi="seen", sigil=THERE, wane=7))] and a.mark(THERE) == 7
    a.heard_marks(PEER, Tone(chi="seen-marks", marks={THERE: 12, HERE: 99}))  # the peer is not HERE's home
    assert (a.mark(THERE), a.mark(HERE)) == (12, 0)


def test_link_up_tells_the_peer_what_is_watched_here_and_the_marks_of_hums_homed_here():
    a, sent, _ = attention()
    a.load({HERE: 3, THERE: 5})
    a.watch_tone("attach", Tone(chi="watch", sigil=HERE))
    sent.clear()
    a.link_up(PEER)
    assert sent == [(PEER, Tone(chi="watching", sigils=[HERE])), (PEER, Tone(chi="seen-marks", marks={HERE: 3}))]


@pytest.mark.parametrize(
    "tone",
    [
        Tone(chi="watch"),
        Tone(chi="watch", sigil=HERE, watching="yes"),
        Tone(chi="seen", sigil=HERE),
        Tone(chi="seen", sigil=HERE, wane=-1),
        Tone(chi="seen", sigil=HERE, wane=True),
        Tone(chi="seen", sigil=HERE, wane=MAX_WANE + 1),
    ],
)
def test_a_malformed_watch_or_seen_is_a_bad_tone_and_changes_nothing(tone):
    a, sent, kept = attention()
    with pytest.raises(BadTone):
        (a.watch_tone if tone.chi == "watch" else a.seen_tone)("nestler", tone)
    assert (sent, kept, a.local, a.marks) == ([], [], {}, {})
