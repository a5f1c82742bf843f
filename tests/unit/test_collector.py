"""The humd's garbage collector: a pass over everything comes less often while it frees nothing,
and it does free a reference cycle that died while frozen."""

from __future__ import annotations

import asyncio
import gc
import weakref

from hum.daemon.collector import (
    RECLAIM_MAX_SECONDS,
    RECLAIM_SECONDS,
    RECLAIM_WORTH,
    Collector,
    next_reclaim_wait,
)


def test_passes_that_free_nothing_come_twice_as_seldom_up_to_a_day() -> None:
    waits = [RECLAIM_SECONDS]
    for _ in range(12):
        waits.append(next_reclaim_wait(waits[-1], freed=0))
    assert waits[:4] == [RECLAIM_SECONDS, 2 * RECLAIM_SECONDS, 4 * RECLAIM_SECONDS, 8 * RECLAIM_SECONDS]
    assert waits[-1] == RECLAIM_MAX_SECONDS


def test_a_pass_that_frees_a_real_amount_brings_the_next_one_back_soon() -> None:
    assert next_reclaim_wait(RECLAIM_MAX_SECONDS, freed=RECLAIM_WORTH) == RECLAIM_SECONDS
    assert next_reclaim_wait(RECLAIM_MAX_SECONDS, freed=RECLAIM_WORTH - 1) == RECLAIM_MAX_SECONDS


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


async def test_a_cycle_that_died_while_frozen_is_freed_by_the_next_pass() -> None:
    collector = Collector(asyncio.get_running_loop())
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        gc.freeze()  # as after a full collection: the live cycle goes out of the collector's sight
        alive = weakref.ref(a)
        del a, b
        gc.collect()
        assert alive() is not None  # frozen: a full collection does not free it
        freed = collector.reclaim()
        assert alive() is None
        assert freed >= 2 and list(collector.reclaims) == [freed]
        assert collector.status()["reclaimed"] == [freed]
    finally:
        gc.unfreeze()
