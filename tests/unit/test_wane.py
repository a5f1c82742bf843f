"""WaneTracker: the per-sigil counter the home ticks and replicas follow."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hum.core.wane import WaneTracker

SIGIL_NAMES = ["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"]
SIGILS = st.sampled_from(SIGIL_NAMES)


def test_unknown_sigil_is_at_zero() -> None:
    tracker = WaneTracker()
    assert tracker.get("abc") == 0


def test_tick_counts_from_one_per_sigil() -> None:
    tracker = WaneTracker()
    assert [tracker.tick("a") for _ in range(3)] == [1, 2, 3]
    assert tracker.tick("b") == 1
    assert tracker.get("a") == 3
    assert tracker.get("b") == 1


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


@given(st.lists(st.tuples(st.sampled_from(["tick", "set"]), SIGILS, st.integers(0, 50))))
def test_a_wane_never_goes_back_whatever_happens(ops: list[tuple[str, str, int]]) -> None:
    tracker = WaneTracker()
    for op, sg, n in ops:
        before = {k: tracker.get(k) for k in SIGIL_NAMES}
        if op == "tick":
            assert tracker.tick(sg) == before.get(sg, 0) + 1
        elif op == "set":
            if n < before.get(sg, 0):
                with pytest.raises(ValueError):
                    tracker.set(sg, n)
            else:
                tracker.set(sg, n)
                assert tracker.get(sg) == n
        for key, wane in before.items():
            assert tracker.get(key) >= wane
