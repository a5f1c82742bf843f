"""How the brood makes a worker: a factory, called with the hum's sigil if it takes one."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from hum.interfaces import Worker

# A factory is either `() -> Worker` or `(sigil) -> Worker`; the second kind is
# for workers whose state outlives the process (claude-cli derives its session
# id from the sigil). A factory with one required positional parameter gets the sigil.
WorkerFactory = Callable[[], Worker] | Callable[[str], Worker]


@functools.cache  # a factory's signature does not change; reading it costs more than a bloom's start
def takes_sigil(factory: WorkerFactory) -> bool:
    """Whether `factory` wants the hum's sigil (one required positional parameter)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) == 1


def make_worker(factory: WorkerFactory, sigil: str) -> Worker:
    """A new worker from `factory`, for hum `sigil`."""
    return factory(sigil) if takes_sigil(factory) else factory()  # type: ignore[call-arg]
