"""WaneTracker: the per-sigil Lamport clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hum.core.wane import WaneTracker

SIGILS = st.sampled_from(["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"])


def test_unknown_sigil_is_at_zero() -> None:
    tracker = WaneTracker()
    assert tracker.get("abc") == 0
    assert tracker.snapshot() == {}


def test_tick_counts_from_one_per_sigil() -> None:
    tracker = WaneTracker()
    assert [tracker.tick("a") for _ in range(3)] == [1, 2, 3]
    assert tracker.tick("b") == 1
    assert tracker.get("a") == 3
    assert tracker.get("b") == 1
    assert tracker.snapshot() == {"a": 3, "b": 1}


def test_set_moves_forward_and_may_repeat() -> None:
    tracker = WaneTracker()
    tracker.set("a", 4)
    assert tracker.get("a") == 4
    tracker.set("a", 4)  # the same wane again is not going back
    tracker.set("a", 9)
    assert tracker.get("a") == 9
    assert tracker.tick("a") == 10


def test_set_never_goes_back() -> None:
    tracker = WaneTracker()
    tracker.set("a", 5)
    with pytest.raises(ValueError, match="go back"):
        tracker.set("a", 4)
    assert tracker.get("a") == 5  # unchanged by the refused set


def test_is_behind() -> None:
    tracker = WaneTracker()
    assert tracker.is_behind("a", 1)
    assert not tracker.is_behind("a", 0)
    tracker.set("a", 3)
    assert tracker.is_behind("a", 4)
    assert not tracker.is_behind("a", 3)
    assert not tracker.is_behind("a", 2)


def test_merge_takes_the_larger_wane_per_sigil() -> None:
    tracker = WaneTracker()
    tracker.set("a", 5)
    tracker.set("b", 1)
    tracker.merge({"a": 3, "b": 7, "c": 2})
    assert tracker.snapshot() == {"a": 5, "b": 7, "c": 2}


def test_snapshot_is_a_copy() -> None:
    tracker = WaneTracker()
    tracker.tick("a")
    snap = tracker.snapshot()
    snap["a"] = 100
    assert tracker.get("a") == 1


@given(st.lists(st.tuples(st.sampled_from(["tick", "set", "merge"]), SIGILS, st.integers(0, 50))))
def test_a_wane_never_goes_back_whatever_happens(ops: list[tuple[str, str, int]]) -> None:
    tracker = WaneTracker()
    for op, sg, n in ops:
        before = tracker.snapshot()
        if op == "tick":
            assert tracker.tick(sg) == before.get(sg, 0) + 1
        elif op == "set":
            if n < before.get(sg, 0):
                with pytest.raises(ValueError):
                    tracker.set(sg, n)
            else:
                tracker.set(sg, n)
                assert tracker.get(sg) == n
        else:
            tracker.merge({sg: n})
            assert tracker.get(sg) == max(before.get(sg, 0), n)
        after = tracker.snapshot()
        for key, wane in before.items():
            assert after[key] >= wane


@given(
    st.dictionaries(SIGILS, st.integers(0, 100)),
    st.dictionaries(SIGILS, st.integers(0, 100)),
)
def test_merge_is_commutative_and_idempotent(a: dict[str, int], b: dict[str, int]) -> None:
    one, two = WaneTracker(), WaneTracker()
    one.merge(a)
    one.merge(b)
    two.merge(b)
    two.merge(a)
    assert one.snapshot() == two.snapshot()
    one.merge(b)
    assert one.snapshot() == two.snapshot()
    for sg in set(a) | set(b):
        assert one.get(sg) == max(a.get(sg, 0), b.get(sg, 0))
