"""The hum engine (sans I/O): petals, blooms, queued prompts, replicas, transcript, taps."""

from __future__ import annotations

import pytest

from hum.core.hum import Hum
from hum.core.petal import Petal
from hum.core.tap import Tap
from hum.core.wane import WaneTracker
from hum.errors import LogError
from hum.wire.tones import sigil

HOME = "a" * 64
SG = sigil("local", "s1")


def new_hum(tracker: WaneTracker | None = None) -> Hum:
    return Hum(SG, "s1", "local", HOME, tracker or WaneTracker())


def open_tap(hum: Hum, since: int, *, granted: bool) -> Tap:
    tap = Tap(hum.sigil, since, owner="n")
    if granted:
        tap.grant(hum.home_tip)
    return tap


def bloom(hum: Hum, text: str, reply: list[str], usage: tuple[int, int] = (3, 2)) -> None:
    hum.append("prompt", dict(text=text, **{"from": "me"}))
    for delta in reply:
        hum.append("chunk", dict(chunkType="text_delta", delta=delta, blockIdx=0))
    hum.append("finish", {"finishReason": "stop", "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}})


# -- petals ---------------------------------------------------------------------------


def test_petal_rejects_a_non_petal_chi_and_wane_zero() -> None:
    with pytest.raises(ValueError):
        Petal(SG, 1, "hello")
    with pytest.raises(ValueError):
        Petal(SG, 0, "prompt")


def test_petal_tone_round_trip() -> None:
    petal = Petal(SG, 3, "chunk", {"delta": "hi", "chunkType": "text_delta", "blockIdx": 0})
    tone = petal.tone("s1")
    assert tone == {
        "chi": "chunk",
        "sigil": SG,
        "sid": "s1",
        "wane": 3,
        "delta": "hi",
        "chunkType": "text_delta",
        "blockIdx": 0,
    }
    assert Petal.from_tone({**tone, "to": "x", "rid": "r", "dusk": 5}) == petal


# -- blooms -----------------------------------------------------------------------------


def test_prompt_opens_a_bloom_and_finish_closes_it() -> None:
    hum = new_hum()
    assert not hum.bloom_open
    p = hum.append("prompt", dict(text="hi"))
    assert (p.wane, p.chi, hum.bloom_open) == (1, "prompt", True)
    c = hum.append("chunk", dict(delta="yo"))
    assert c.wane == 2 and hum.bloom_open
    f = hum.append("finish", dict(finishReason="stop", usage={"input_tokens": 1, "output_tokens": 1}))
    assert f.wane == 3 and f.closes_bloom
    assert not hum.bloom_open
    assert hum.tip == 3
    assert hum.home_tip == 3
    assert [x.wane for x in hum.petals] == [1, 2, 3]


def test_error_closes_a_bloom() -> None:
    hum = new_hum()
    hum.append("prompt", dict(text="hi"))
    hum.append("error", dict(code="worker-error", qualifier="worker-crash", message="boom"))
    assert not hum.bloom_open
    hum.append("prompt", dict(text="again"))  # a new bloom may open
    assert hum.bloom_open


@pytest.mark.parametrize("chi", ["chunk", "finish"])
def test_chunk_or_finish_without_a_bloom_is_refused(chi: str) -> None:
    hum = new_hum()
    with pytest.raises(LogError) as exc:
        hum.append(chi, {"delta": "x"})
    assert exc.value.qualifier == "no-bloom"
    assert hum.tip == 0
    # the refusal did not consume a wane: the next petal is still wane 1
    assert hum.append("prompt", dict(text="hi")).wane == 1


def test_chunk_after_finish_is_refused() -> None:
    hum = new_hum()
    bloom(hum, "q", ["a"])
    with pytest.raises(LogError) as exc:
        hum.append("chunk", dict(delta="late"))
    assert exc.value.qualifier == "no-bloom"
    assert hum.tip == 3


def test_second_prompt_while_a_bloom_runs_is_refused_by_append() -> None:
    hum = new_hum()
    hum.append("prompt", dict(text="one"))
    with pytest.raises(LogError) as exc:
        hum.append("prompt", dict(text="two"))
    assert exc.value.qualifier == "bloom-open"
    assert hum.tip == 1
    assert hum.append("chunk", dict(delta="x")).wane == 2


def test_wane_skew_is_detected() -> None:
    tracker = WaneTracker()
    hum = new_hum(tracker)
    tracker.tick(SG)  # someone else took a wane of this sigil
    with pytest.raises(LogError) as exc:
        hum.append("prompt", dict(text="hi"))
    assert exc.value.qualifier == "wane-skew"


def test_appends_tick_the_shared_tracker() -> None:
    tracker = WaneTracker()
    hum = new_hum(tracker)
    bloom(hum, "q", ["a", "b"])
    assert tracker.get(SG) == hum.tip == 4


# -- queued prompts -----------------------------------------------------------------------


def test_offer_prompt_appends_at_once_when_idle() -> None:
    hum = new_hum()
    petal = hum.offer_prompt(dict(text="hi"))
    assert petal is not None and petal.wane == 1 and hum.bloom_open


def test_offer_prompt_queues_while_open_and_next_prompt_appends_in_order() -> None:
    hum = new_hum()
    hum.offer_prompt(dict(text="first"))
    assert hum.offer_prompt(dict(text="second")) is None
    assert hum.offer_prompt(dict(text="third")) is None
    assert hum.tip == 1
    assert hum.next_prompt() is None  # the bloom is still open
    hum.append("chunk", dict(delta="x"))
    hum.append("finish", dict(finishReason="stop", usage={}))
    queued = hum.next_prompt()
    assert queued is not None
    seq, second = queued
    assert seq == 1 and second.body["text"] == "second" and second.wane == 4
    assert hum.next_prompt() is None  # "second" opened a bloom; "third" waits
    hum.append("error", dict(code="worker-error", qualifier="x", message="y"))
    queued = hum.next_prompt()
    assert queued is not None
    seq, third = queued
    assert seq == 2 and third.body["text"] == "third" and third.wane == 6
    hum.append("finish", dict(finishReason="stop", usage={}))
    assert hum.next_prompt() is None  # nothing queued
    assert [p.body["text"] for p in hum.petals if p.chi == "prompt"] == ["first", "second", "third"]


# -- replicas -----------------------------------------------------------------------------


def home_and_replica() -> tuple[Hum, Hum]:
    home = new_hum()
    bloom(home, "q1", ["a", "b"])
    home.append("prompt", dict(text="q2"))
    replica = Hum(SG, "s1", "local", HOME, WaneTracker())
    return home, replica


def test_replica_receives_in_order_and_mirrors_the_bloom_state() -> None:
    home, replica = home_and_replica()
    for petal in home.petals:
        assert replica.receive(petal) is True
    assert replica.petals == home.petals
    assert replica.bloom_open == home.bloom_open is True
    assert replica.tracker.get(SG) == home.tip
    assert replica.home_tip == home.tip


def test_replica_ignores_duplicates() -> None:
    home, replica = home_and_replica()
    for petal in home.petals[:3]:
        replica.receive(petal)
    assert replica.receive(home.petals[0]) is False
    assert replica.receive(home.petals[2]) is False
    assert replica.tip == 3
    assert replica.petals == home.petals[:3]


def test_replica_reports_a_gap_and_keeps_its_log() -> None:
    home, replica = home_and_replica()
    replica.receive(home.petals[0])
    with pytest.raises(LogError) as exc:
        replica.receive(home.petals[2])
    assert exc.value.qualifier == "gap"
    assert replica.tip == 1
    assert replica.tracker.get(SG) == 1  # the tracker did not jump past the gap
    assert replica.receive(home.petals[1]) is True
    assert replica.receive(home.petals[2]) is True


def test_hum_built_from_stored_petals() -> None:
    home, _ = home_and_replica()
    restored = Hum(SG, "s1", "local", HOME, WaneTracker(), home.petals)
    assert restored.petals == home.petals
    assert restored.durable_tip == home.tip
    assert restored.bloom_open


def test_mark_durable_never_passes_the_tip_nor_goes_back() -> None:
    hum = new_hum()
    bloom(hum, "q", ["a"])
    assert hum.durable_tip == 0
    hum.mark_durable(2)
    assert hum.durable_tip == 2
    hum.mark_durable(1)
    assert hum.durable_tip == 2
    hum.mark_durable(99)
    assert hum.durable_tip == hum.tip == 3


# -- what the log means -------------------------------------------------------------------


def test_transcript_turns() -> None:
    hum = new_hum()
    hum.append("prompt", dict(text="hi", system="be brief"))
    hum.append("chunk", dict(chunkType="text_delta", delta="hel"))
    hum.append("chunk", dict(chunkType="reasoning_delta", delta="(thinking)"))
    hum.append("chunk", dict(chunkType="text_delta", delta="lo"))
    hum.append("finish", dict(finishReason="stop", usage={"input_tokens": 2, "output_tokens": 2}))
    hum.append("prompt", dict(text="again"))
    hum.append("chunk", dict(delta="ok"))  # chunkType defaults to text
    assert hum.transcript() == [
        ("system", "be brief"),
        ("user", "hi"),
        ("assistant", "hello"),
        ("user", "again"),
        ("assistant", "ok"),
    ]


def test_transcript_of_a_failed_bloom_has_no_assistant_turn() -> None:
    hum = new_hum()
    hum.append("prompt", dict(text="hi"))
    hum.append("error", dict(code="worker-error", qualifier="x", message="y"))
    hum.append("prompt", dict(text="retry"))
    assert hum.transcript() == [("user", "hi"), ("user", "retry")]


def test_usage_totals_over_finished_blooms() -> None:
    hum = new_hum()
    assert hum.usage() == {"input_tokens": 0, "output_tokens": 0}
    bloom(hum, "one", ["a"], usage=(10, 4))
    bloom(hum, "two", ["b"], usage=(20, 6))
    hum.append("prompt", dict(text="three"))
    hum.append("error", dict(code="worker-error", qualifier="x", message="y"))
    assert hum.usage() == {"input_tokens": 30, "output_tokens": 10}


def test_since_slices_by_wane() -> None:
    hum = new_hum()
    bloom(hum, "q", ["a", "b", "c"])  # wanes 1..5
    assert [p.wane for p in hum.since(0)] == [1, 2, 3, 4, 5]
    assert [p.wane for p in hum.since(2)] == [3, 4, 5]
    assert [p.wane for p in hum.since(2, 4)] == [3, 4]
    assert hum.since(5) == []
    assert hum.since(9) == []
    assert [p.wane for p in hum.since(-3)] == [1, 2, 3, 4, 5]


def test_summary_and_hello() -> None:
    hum = new_hum()
    bloom(hum, "q", ["a"])
    assert hum.summary() == {"sigil": SG, "sid": "s1", "home": HOME, "wane": 3, "nest": "local", "epoch": 0, "fork": 0, "born": 0}
    assert hum.hello(2) == {"chi": "hello", "sigil": SG, "sid": "s1", "home": HOME, "wane": 2, "epoch": 0, "born": 0}


# -- taps -----------------------------------------------------------------------------------


def test_tap_says_hello_then_every_petal_after_since() -> None:
    hum = new_hum()
    bloom(hum, "q", ["a", "b"])  # 1..4
    tap = open_tap(hum, 2, granted=True)
    tones = hum.read(tap, 100)
    assert tones[0] == hum.hello(4)
    assert [t["wane"] for t in tones[1:]] == [3, 4]
    assert all(t["sid"] == "s1" and t["sigil"] == SG for t in tones[1:])
    assert tap.cursor == 4
    assert hum.read(tap, 100) == []
    assert not hum.owes(tap)
    hum.append("prompt", dict(text="more"))
    assert hum.owes(tap)
    assert [t["wane"] for t in hum.read(tap, 100)] == [5]


def test_ungranted_tap_owes_nothing_until_granted() -> None:
    hum = new_hum()
    bloom(hum, "q", ["a"])
    tap = open_tap(hum, 0, granted=False)
    assert not hum.owes(tap)
    assert hum.read(tap, 10) == []
    tap.grant(3)
    tones = hum.read(tap, 10)
    assert tones[0]["chi"] == "hello" and tones[0]["wane"] == 3
    assert [t["wane"] for t in tones[1:]] == [1, 2, 3]


def test_tap_pull_respects_limit_and_upto() -> None:
    hum = new_hum()
    bloom(hum, "q", ["a", "b", "c"])  # 1..5
    tap = open_tap(hum, 0, granted=True)
    first = hum.read(tap, 2)
    assert [t["chi"] for t in first] == ["hello", "prompt"]
    assert [t["wane"] for t in hum.read(tap, 2, upto=2)] == [2]
    assert hum.read(tap, 2, upto=2) == []
    assert not hum.owes(tap, upto=2)
    assert [t["wane"] for t in hum.read(tap, 2)] == [3, 4]
    assert [t["wane"] for t in hum.read(tap, 2)] == [5]


def test_notice_is_placed_after_its_petal_and_terminal_ends_the_tap() -> None:
    hum = new_hum()
    bloom(hum, "q", ["a"])  # 1..3
    tap = open_tap(hum, 0, granted=True)
    tap.notify({"chi": "error", "qualifier": "peer-loss"}, after_wane=2, terminal=True)  # type: ignore[arg-type]
    tones = hum.read(tap, 100)
    assert [t.get("wane") if t["chi"] != "error" else "E" for t in tones[1:]] == [1, 2, "E"]
    assert tap.ended
    assert hum.read(tap, 100) == []
    assert not hum.owes(tap)


def test_refused_tap_gets_only_its_notice() -> None:
    hum = new_hum()
    bloom(hum, "q", ["a"])
    tap = open_tap(hum, 0, granted=False)
    tap.notify(
        {"chi": "error", "qualifier": "identity-mismatch"}, after_wane=hum.tip, terminal=True
    )  # type: ignore[arg-type]
    assert hum.owes(tap)
    assert hum.read(tap, 100) == [{"chi": "error", "qualifier": "identity-mismatch"}]
    assert tap.ended
