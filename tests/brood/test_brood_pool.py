"""The brood pool: warm reuse, LRU and idle eviction, crashes, stalls and cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from brood_helpers import TEST_TIMEOUT_SECONDS, collect, text_of

from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.errors import WorkerError
from hum.interfaces import Delta, Done, Turn, Usage, Worker, WorkerEvent

HELLO = [Turn("user", "hello")]


class Recorder:
    """Factory that remembers every worker it made."""

    def __init__(self, make=lambda: ScriptedWorker(tokens_per_second=10_000)):
        self.make = make
        self.made: list[Worker] = []
        self.closed: list[Worker] = []

    def __call__(self) -> Worker:
        worker = self.make()
        original_close = worker.close

        async def close() -> None:
            self.closed.append(worker)
            await original_close()

        worker.close = close  # type: ignore[method-assign]
        self.made.append(worker)
        return worker


class CrashingWorker(Worker):
    """Emits one delta, then dies like a segfaulting native library would surface."""

    kind = "crashing"

    async def bloom(self, transcript: Sequence[Turn], *, model=None) -> AsyncIterator[WorkerEvent]:
        yield Delta("partial")
        raise RuntimeError("llama_decode returned -3")

    async def cancel(self) -> None:
        pass


class SilentWorker(Worker):
    """Never says anything: the wedged worker the brood must not wait on forever."""

    kind = "silent"

    async def bloom(self, transcript: Sequence[Turn], *, model=None) -> AsyncIterator[WorkerEvent]:
        await asyncio.Event().wait()
        yield Done("stop", Usage(0, 0))

    async def cancel(self) -> None:
        pass


class DeafWorker(Worker):
    """Keeps streaming after cancel, as a worker with a slow or broken cancel would."""

    kind = "deaf"

    async def bloom(self, transcript: Sequence[Turn], *, model=None) -> AsyncIterator[WorkerEvent]:
        for _ in range(50):
            yield Delta("x")
            await asyncio.sleep(0)
        yield Done("stop", Usage(1, 50))

    async def cancel(self) -> None:
        pass


class Careful(Worker):
    """Refuses to bloom once closed, as an HTTP worker whose session is gone does."""

    kind = "careful"

    def __init__(self) -> None:
        self.closed = False

    async def bloom(self, transcript: Sequence[Turn], *, model=None) -> AsyncIterator[WorkerEvent]:
        for _ in range(5):
            if self.closed:
                raise WorkerError("upstream-unreachable", "Connector is closed.")
            await asyncio.sleep(0.002)
            yield Delta("x")
        yield Done("stop", Usage(1, 5))

    async def cancel(self) -> None:
        pass

    async def close(self) -> None:
        self.closed = True


async def test_blooms_of_one_hum_reuse_its_warm_cell():
    factory = Recorder()
    brood = Brood({"scripted": factory}, "scripted")
    await collect(brood.bloom("s1", HELLO))
    await collect(brood.bloom("s1", HELLO + [Turn("assistant", "hi"), Turn("user", "again")]))
    assert len(factory.made) == 1
    assert factory.made[0].blooms == 2
    await brood.close()
    assert factory.closed == factory.made


async def test_least_recently_used_cell_is_evicted_at_the_cap():
    factory = Recorder()
    brood = Brood({"scripted": factory}, "scripted", max_cells=2)
    for sigil in ("a", "b", "a", "c"):
        await collect(brood.bloom(sigil, HELLO))
    assert list(brood.live()) == ["a", "c"]
    assert len(factory.closed) == 1 and factory.closed[0] is factory.made[1]
    await brood.close()


async def test_idle_cells_are_evicted_by_the_clock():
    now = [1000.0]
    factory = Recorder()
    brood = Brood({"scripted": factory}, "scripted", idle_evict_seconds=60, clock=lambda: now[0])
    await collect(brood.bloom("old", HELLO))
    now[0] += 50
    await collect(brood.bloom("new", HELLO))
    assert brood.evict_idle(now[0] + 20) == ["old"]
    assert list(brood.live()) == ["new"]
    await brood.close()
    assert factory.made[0] in factory.closed


async def test_a_crashing_cell_becomes_worker_crash_and_is_replaced():
    factory = Recorder(CrashingWorker)
    brood = Brood({"crashing": factory}, "crashing")
    with pytest.raises(WorkerError) as err:
        await collect(brood.bloom("s1", HELLO))
    assert err.value.qualifier == "worker-crash"
    assert "llama_decode" in err.value.message
    assert brood.live() == {}
    with pytest.raises(WorkerError):
        await collect(brood.bloom("s1", HELLO))
    assert len(factory.made) == 2


async def test_a_wedged_worker_becomes_worker_stall_not_a_hung_bloom():
    brood = Brood({"silent": SilentWorker}, "silent", stall_seconds=0.2)
    with pytest.raises(WorkerError) as err:
        await asyncio.wait_for(collect(brood.bloom("s1", HELLO)), 5)
    assert err.value.qualifier == "worker-stall"
    assert brood.live() == {}


async def test_cancel_ends_the_bloom_with_cancelled_and_no_more_deltas():
    brood = Brood({"scripted": lambda: ScriptedWorker(tokens_per_second=200)}, "scripted")
    stream = brood.bloom("s1", HELLO)
    first = await anext(stream)
    assert isinstance(first, Delta)
    await brood.cancel("s1")
    rest, done = await collect(stream)
    assert rest == []
    assert done.finish_reason == "cancelled"
    # The cell survives a cancel and blooms normally next time.
    _, done = await collect(brood.bloom("s1", HELLO))
    assert done.finish_reason == "stop"
    await brood.close()


async def test_cancel_holds_even_if_the_worker_keeps_talking():
    brood = Brood({"deaf": DeafWorker}, "deaf")
    stream = brood.bloom("s1", HELLO)
    await anext(stream)
    await brood.cancel("s1")
    rest, done = await collect(stream)
    assert rest == [] and done.finish_reason == "cancelled"
    await brood.close()


async def test_cancel_with_nothing_blooming_does_not_touch_the_next_bloom():
    brood = Brood({"scripted": lambda: ScriptedWorker(tokens_per_second=10_000)}, "scripted")
    await collect(brood.bloom("s1", HELLO))
    await brood.cancel("s1")
    await brood.cancel("never-seen")
    _, done = await collect(brood.bloom("s1", HELLO))
    assert done.finish_reason == "stop"
    await brood.close()


async def test_unknown_model_names_the_models_that_exist():
    brood = Brood({"local": ScriptedWorker, "openai": ScriptedWorker}, "local")
    with pytest.raises(WorkerError) as err:
        await collect(brood.bloom("s1", HELLO, model="gpt-17"))
    assert err.value.qualifier == "unknown-model"
    assert "gpt-17" in err.value.message and "local, openai" in err.value.message


async def test_a_hum_can_switch_workers_between_blooms():
    fast = lambda: ScriptedWorker(tokens_per_second=10_000)  # noqa: E731
    brood = Brood({"a": fast, "b": fast}, "a")
    await collect(brood.bloom("s1", HELLO, model=None))
    await collect(brood.bloom("s1", HELLO, model="b"))
    assert brood.live() == {"s1": "b"}
    await brood.close()


async def test_factories_may_take_the_sigil():
    seen: list[str] = []

    def per_hum(sigil: str) -> Worker:
        seen.append(sigil)
        return ScriptedWorker(tokens_per_second=10_000)

    brood = Brood(
        {"per-hum": per_hum, "plain": lambda: ScriptedWorker(tokens_per_second=10_000)}, "per-hum"
    )
    await collect(brood.bloom("sigil-1", HELLO))
    await collect(brood.bloom("sigil-2", HELLO, model="plain"))
    assert seen == ["sigil-1"]
    await brood.close()


async def test_blooms_beyond_the_cells_wait_in_line_with_a_note_and_run_in_order():
    brood = Brood({"careful": Careful}, "careful", max_cells=2)
    finished: list[str] = []

    async def run(sigil: str) -> tuple[list[Delta], Done]:
        result = await collect(brood.bloom(sigil, HELLO))
        finished.append(sigil)
        return result

    blooms = []
    for sigil in ("a", "b", "c", "d", "e"):
        blooms.append(asyncio.create_task(run(sigil)))
        await asyncio.sleep(0)  # each bloom joins the line before the next one arrives
    results = await asyncio.wait_for(asyncio.gather(*blooms), TEST_TIMEOUT_SECONDS)
    notes = [[d.text for d in deltas if d.chunk_type == "note"] for deltas, _ in results]
    assert notes[:2] == [[], []]
    assert all(n and "waiting for a free cell" in n[0] for n in notes[2:])
    assert all(done.finish_reason == "stop" and text_of(deltas) == "xxxxx" for deltas, done in results)
    assert finished.index("c") < finished.index("d") < finished.index("e")
    assert len(brood.live()) == 2
    await brood.close()


async def test_brood_full_only_when_the_line_is_full_too():
    brood = Brood(
        {"scripted": lambda: ScriptedWorker(tokens_per_second=100)}, "scripted", max_cells=1, max_queue=1
    )
    busy = brood.bloom("a", HELLO)
    await anext(busy)
    queued = brood.bloom("b", HELLO)
    note = await anext(queued)
    assert note.chunk_type == "note"
    with pytest.raises(WorkerError) as err:
        await collect(brood.bloom("c", HELLO))
    assert err.value.qualifier == "brood-full" and "waiting" in err.value.message
    await brood.cancel("a")
    await collect(busy)
    deltas, done = await asyncio.wait_for(collect(queued), TEST_TIMEOUT_SECONDS)
    assert done.finish_reason == "stop" and text_of(deltas)
    await brood.close()


async def test_a_bloom_cancelled_while_waiting_ends_cancelled_and_takes_no_cell():
    factory = Recorder(lambda: ScriptedWorker(tokens_per_second=100))
    brood = Brood({"scripted": factory}, "scripted", max_cells=1)
    busy = brood.bloom("a", HELLO)
    await anext(busy)
    queued = brood.bloom("b", HELLO)
    await anext(queued)
    await brood.cancel("b")
    deltas, done = await asyncio.wait_for(collect(queued), TEST_TIMEOUT_SECONDS)
    assert done.finish_reason == "cancelled" and not deltas
    await brood.cancel("a")
    await collect(busy)
    assert list(brood.live()) == ["a"] and len(factory.made) == 1
    await brood.close()


async def test_a_waiting_bloom_whose_reader_goes_away_leaves_no_cell_taken():
    brood = Brood({"scripted": lambda: ScriptedWorker(tokens_per_second=100)}, "scripted", max_cells=1)
    busy = brood.bloom("a", HELLO)
    await anext(busy)
    gone = brood.bloom("b", HELLO)
    assert (await anext(gone)).chunk_type == "note"
    await gone.aclose()
    await brood.cancel("a")
    await collect(busy)
    deltas, done = await asyncio.wait_for(collect(brood.bloom("c", HELLO)), TEST_TIMEOUT_SECONDS)
    assert done.finish_reason == "stop" and deltas[0].chunk_type == "text_delta"
    assert brood.line.waiting() == 0
    await brood.close()


async def test_each_worker_kind_has_its_own_cells():
    fast = lambda: ScriptedWorker(tokens_per_second=100)  # noqa: E731
    brood = Brood({"model": fast, "upstream": fast}, "model", max_cells=1, cells_per_kind={"upstream": 8})
    busy = brood.bloom("m", HELLO)
    await anext(busy)
    upstream = [brood.bloom(f"u{i}", HELLO, model="upstream") for i in range(8)]
    firsts = [await anext(stream) for stream in upstream]
    assert all(d.chunk_type == "text_delta" for d in firsts)  # none waited
    for stream in (busy, *upstream):
        await stream.aclose()
    await brood.close()
