"""The brood: warm worker cells, one per hum in use, reused across its blooms."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

from hum.brood.factory import WorkerFactory, make_worker
from hum.brood.guard import Cell, guarded
from hum.brood.line import DEFAULT_MAX_QUEUE, Line
from hum.errors import WorkerError
from hum.interfaces import (
    NOTE,
    Delta,
    Done,
    ToolSpec,
    Turn,
    Usage,
    Worker,
    WorkerEvent,
)

# Each cell can hold a model in memory; a handful is what a laptop affords.
DEFAULT_MAX_CELLS = 4

# A cell nobody bloomed on for this long gives its memory (or process) back.
# Ten minutes covers "reading the answer, then asking a follow-up" without
# keeping a model resident all day.
IDLE_EVICT_SECONDS = 600.0

# How often the background reaper looks for idle cells; coarse is fine because
# idle eviction is about memory, not latency.
IDLE_CHECK_SECONDS = 30.0

# Longest silence between two events of a bloom before the brood calls the
# cell stalled. Generous: a CPU model can chew on a long prompt for a while
# before its first token, but a wedged worker must not hang the hum forever.
STALL_SECONDS = 300.0

# The sigil a worker made only to learn its kind is given (`Brood.native_tools`):
# no hum has it, so nothing keyed by sigil (claude-cli's session) is touched.
PROBE_SIGIL = "native-tools-probe"

# After `cancel`, how long a worker gets to end its stream with `Done` before
# the brood ends the bloom itself and discards the cell as unresponsive.
CANCEL_GRACE_SECONDS = 5.0


class Brood:
    """Keeps one warm `Worker` cell per hum, created from named factories."""

    def __init__(
        self,
        factories: Mapping[str, WorkerFactory],
        default: str,
        *,
        max_cells: int = DEFAULT_MAX_CELLS,
        cells_per_kind: Mapping[str, int] | None = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
        idle_evict_seconds: float = IDLE_EVICT_SECONDS,
        stall_seconds: float = STALL_SECONDS,
        cancel_grace_seconds: float = CANCEL_GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        reap: bool = True,
    ) -> None:
        if default not in factories:
            raise ValueError(f"default worker {default!r} is not one of {sorted(factories)}")
        if max_cells < 1 or any(n < 1 for n in (cells_per_kind or {}).values()):
            raise ValueError("a worker kind needs at least 1 cell")
        if max_queue < 0:
            raise ValueError("max_queue cannot be negative")
        self.factories = dict(factories)
        self.default = default
        self.max_cells = max_cells
        self.cells_per_kind = dict(cells_per_kind or {})
        self.idle_evict_seconds = idle_evict_seconds
        self.stall_seconds = stall_seconds
        self.cancel_grace_seconds = cancel_grace_seconds
        self.clock = clock
        self._reap = reap
        self._reaper: asyncio.Task[None] | None = None
        self._cells: OrderedDict[str, Cell] = OrderedDict()
        self._kinds: Counter[str] = Counter()  # worker name -> its cells in `_cells`, not counted per new hum
        # Strong references, so cells closed in the background are not garbage-collected mid-close.
        self._closing: set[asyncio.Task[None]] = set()
        # Worker name -> whether its kind takes tools natively, learnt once per name.
        self._native: dict[str, bool] = {}
        # Worker name -> the warm worker of a cell let go for room, for the next new cell of its kind
        # (`_let_go`): a day of stateless `/v1` requests mints a hum, and so a cell, per request.
        self._spare: dict[str, Worker] = {}
        self.line = Line(self._room, self.limit, max_queue)

    def limit(self, name: str) -> int:
        """How many cells worker `name` may have at once (`max_cells` unless `cells_per_kind` says)."""
        return self.cells_per_kind.get(name, self.max_cells)

    def models(self) -> list[str]:
        return sorted(self.factories)

    def live(self) -> dict[str, str]:
        """Sigil -> worker name of every live cell, least recently used first."""
        return {sigil: cell.name for sigil, cell in self._cells.items()}

    def _pick(self, model: str | None) -> str:
        if model is None or model == "default":
            return self.default
        if model in self.factories:
            return model
        raise WorkerError(
            "unknown-model", f"unknown model {model!r}; models here: {', '.join(self.models())}"
        )

    def native_tools(self, model: str | None = None) -> bool:
        """Whether the worker `model` picks (else the default) takes tools natively."""
        name = self._pick(model)
        if name not in self._native:
            live = next((c.worker for c in self._cells.values() if c.name == name), None)
            if live is not None:
                self._native[name] = live.native_tools
            else:
                self._native[name] = self._probe(name)
        return self._native[name]

    def _probe(self, name: str) -> bool:
        """A worker's kind from its factory's class, or else from a fresh, never-warmed instance.

        `build_brood` makes factories as `partial(WorkerClass, ...)`; any other
        callable only tells its class by making a worker, which is cheap for
        every kind (models load and connections open in `warm`) and is closed
        at once all the same.
        """
        cls = getattr(self.factories[name], "func", None)
        if isinstance(cls, type) and issubclass(cls, Worker):
            return cls.native_tools
        try:
            worker = self._make(name, PROBE_SIGIL)
        except Exception:  # the bloom will say what is wrong; text tools work with any worker
            return False
        with contextlib.suppress(RuntimeError):  # no loop running: nothing was started either
            task = asyncio.get_running_loop().create_task(worker.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return worker.native_tools

    def _make(self, name: str, sigil: str) -> Worker:
        factory = self.factories[name]
        return make_worker(factory, sigil)

    async def _held(self, sigil: str, name: str) -> Cell | None:
        """The hum's own cell if it is of worker `name`; a held cell of another kind is let go."""
        held = self._cells.get(sigil)
        if held and held.name == name:
            self._cells.move_to_end(sigil)
            return held
        if held:
            if held.busy:
                raise WorkerError("busy", f"hum {sigil} is already blooming on {held.name}")
            await self._evict(sigil)
        return None

    def _room(self, name: str) -> bool:
        """Whether one more cell of `name` fits, letting its least recently used idle cell go if need be."""
        while self.line.starting[name] + self._kinds[name] >= self.limit(name):
            idle = next((s for s, c in self._cells.items() if c.name == name and not c.busy), None)
            if idle is None:
                return False
            self._let_go(self._remove(idle))
        return True

    def _remove(self, sigil: str) -> Cell:
        cell = self._cells.pop(sigil)
        self._kinds[cell.name] -= 1
        return cell

    def _let_go(self, cell: Cell) -> None:
        """An idle cell given up for room: a worker that keeps nothing of its hum between blooms
        (`reusable`) waits warm for the next new cell of its kind, instead of closing and a new
        one warming; any other (a model's cache, a session of its hum) closes."""
        if getattr(cell.worker, "reusable", False) and cell.name not in self._spare:
            cell.closed = True  # a bloom queued behind its last one takes another cell
            self._spare[cell.name] = cell.worker
        else:
            self._close_soon(cell)

    async def _hatch(self, sigil: str, name: str) -> Cell:
        """A new warm cell for `sigil`, in the room the line reserved for it."""
        try:
            worker = self._spare.pop(name, None) or self._make(name, sigil)
            await worker.warm()
        except Exception as exc:
            self.line.give_back(name)
            if isinstance(exc, WorkerError):
                raise
            # a factory or warm-up bug must still read as an error petal
            raise WorkerError("worker-crash", f"{name} worker failed to start: {exc!r}") from exc
        except BaseException:
            self.line.give_back(name)
            raise
        cell = Cell(name, worker, self.clock())
        # Not a wake-up: the room became this cell, which must not look idle
        # (and be let go) before its bloom marks it busy.
        self._cells[sigil] = cell
        self._kinds[name] += 1
        self.line.hatched(name)
        self._start_reaper()
        return cell

    async def _cell(self, sigil: str, model: str | None) -> Cell:
        name = self._pick(model)
        held = await self._held(sigil, name)
        if held:
            return held
        waiter = self.line.reserve(sigil, name)
        if waiter is not None and not await self.line.wait(name, waiter):
            raise WorkerError("cancelled", f"hum {sigil} was cancelled while waiting for a cell")
        return await self._hatch(sigil, name)

    async def cell(self, sigil: str, model: str | None = None) -> Worker:
        """The warm worker for `sigil`, reusing the one from its last bloom."""
        return (await self._cell(sigil, model)).worker

    async def bloom(
        self,
        sigil: str,
        transcript: Sequence[Turn],
        *,
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> AsyncIterator[WorkerEvent]:
        """`bloom_batches`, one event at a time."""
        async for batch in self.bloom_batches(sigil, transcript, model=model, tools=tools):
            for event in batch:
                yield event

    async def bloom_batches(
        self,
        sigil: str,
        transcript: Sequence[Turn],
        *,
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> AsyncIterator[list[WorkerEvent]]:
        """Stream one bloom of `sigil` on its warm cell: `Delta`s, then one `Done`, in batches
        of what each read of the worker brought (`Worker.bloom_batches`).

        `tools` reach only a `native_tools` worker; any other reads the
        transcript's tool calls and results as text (`transcript.plain`).
        When every cell of its worker kind is blooming, the bloom waits in line
        for one, saying so first in a `note` delta.
        """
        name = self._pick(model)
        cell = await self._held(sigil, name)
        if cell is None:
            waiter = self.line.reserve(sigil, name)
            if waiter is not None:
                try:
                    yield [Delta(f"hum: waiting for a free cell (all {self.limit(name)} {name} cells are blooming)", NOTE)]
                    granted = await self.line.wait(name, waiter)
                except BaseException:  # closed while in line: its place (or room) must not be lost
                    self.line.leave(name, waiter)
                    raise
                if not granted:
                    yield [Done("cancelled", Usage(0, 0))]
                    return
            cell = await self._hatch(sigil, name)
        freed = False

        def free() -> None:
            # Once per bloom: a consumer that stops at Done leaves this generator to be
            # closed later, maybe while the cell's next bloom runs, which must keep the cell.
            nonlocal freed
            if not freed:
                freed = True
                cell.asking.clear()
                cell.stall.stop()
                self._release(cell)

        await cell.lock.acquire()
        try:
            if cell.closed:  # evicted while we queued behind the previous bloom
                cell.lock.release()
                cell = await self._cell(sigil, model)
                await cell.lock.acquire()
            cell.busy, cell.cancelled = True, False
            events = cell.batches(transcript, model, tools)
            async for batch in guarded(cell, events, self.stall_seconds, self.cancel_grace_seconds, lambda: self._discard(sigil, cell)):
                if isinstance(batch[-1], Done):
                    # Free the cell before handing over Done: a consumer may stop
                    # iterating right after it, and the cell must not stay "busy".
                    free()
                yield batch
        finally:
            free()

    def _release(self, cell: Cell) -> None:
        if cell.lock.locked() and cell.busy:
            cell.busy = False
            cell.last_used = self.clock()
            cell.lock.release()
            self.line.wake(cell.name)

    def _guard_again(self, cell: Cell, seconds: float) -> None:
        """The bloom waits on its worker again (an answer given, a cancel): the stall guard is back on."""
        if not cell.asking:
            cell.stall.move(seconds)

    async def release(self, sigil: str, permit_id: str, decision: str, message: str | None) -> None:
        """Pass a person's answer to the cell whose bloom asked."""
        cell = self._cells.get(sigil)
        if cell and cell.busy:
            cell.asking.discard(permit_id)
            self._guard_again(cell, self.stall_seconds)
            await cell.worker.release(permit_id, decision, message)

    async def cancel(self, sigil: str) -> None:
        self.line.cancel(sigil)  # a queued bloom ends `cancelled` without ever taking a cell
        cell = self._cells.get(sigil)
        if cell and cell.busy:
            cell.cancelled = True
            cell.asking.clear()
            self._guard_again(cell, self.cancel_grace_seconds)
            try:
                await cell.worker.cancel()
            except Exception:  # a worker that cannot even cancel is not fit to keep
                await self._discard(sigil, cell)

    def evict_idle(self, now: float | None = None) -> list[str]:
        """Close cells idle for `idle_evict_seconds` as of `now`; returns their sigils."""
        now = self.clock() if now is None else now
        stale = [
            sigil
            for sigil, cell in self._cells.items()
            if not cell.busy and now - cell.last_used >= self.idle_evict_seconds
        ]
        for sigil in stale:
            self._close_soon(self._remove(sigil))
        for name in list(self._spare):
            self._close_soon(Cell(name, self._spare.pop(name), now))
        self.line.wake_all()
        return stale

    def _close_soon(self, cell: Cell) -> None:
        cell.closed = True
        task = asyncio.get_running_loop().create_task(self._close_cell(cell))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_cell(cell: Cell) -> None:
        cell.closed = True
        with contextlib.suppress(Exception):
            await cell.worker.close()

    def _start_reaper(self) -> None:
        if self._reap and (self._reaper is None or self._reaper.done()):
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        while self._cells:
            await asyncio.sleep(IDLE_CHECK_SECONDS)
            self.evict_idle()

    async def _discard(self, sigil: str, cell: Cell) -> None:
        if self._cells.get(sigil) is cell:
            self._remove(sigil)
            self.line.wake(cell.name)
        await self._close_cell(cell)

    async def _evict(self, sigil: str) -> None:
        cell = self._remove(sigil)
        self.line.wake(cell.name)
        await self._close_cell(cell)

    async def close(self) -> None:
        self.line.close()
        if self._reaper:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for sigil in list(self._cells):
            await self._evict(sigil)
        for name in list(self._spare):
            await self._close_cell(Cell(name, self._spare.pop(name), self.clock()))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
