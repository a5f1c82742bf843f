"""The event loop a hum process runs on: asyncio's own unless `HUM_LOOP=uvloop` asks for uvloop.

asyncio's loop is the default because over a flat-out 100,000-petal bloom a
humd on uvloop kept 16-17 MB more memory than on asyncio's loop (8.6 MB), past
the bound `tests/daemon/test_long_hums.py` holds it to, while no figure of
`hum bench` showed uvloop faster on this path. Both stay tested: the ensemble
port runs on each (tests/unit/test_ensemble_port_loops.py) and `hum up` on each
(tests/daemon/test_event_loop_choice.py); `HUM_LOOP=uvloop make test` runs every
humd child on uvloop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOOPS = ("uvloop", "asyncio")


def loop_factory(choice: str | None = None) -> Callable[[], asyncio.AbstractEventLoop]:
    """A new loop of the chosen kind; ValueError names a choice hum does not know or cannot load."""
    choice = choice if choice is not None else os.environ.get("HUM_LOOP", "")
    if choice not in ("", *LOOPS):
        raise ValueError(f"HUM_LOOP={choice!r}: expected one of {', '.join(LOOPS)}")
    if choice in ("", "asyncio"):
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError as exc:
        raise ValueError(f"HUM_LOOP=uvloop but uvloop does not load here: {exc}") from exc
    return uvloop.new_event_loop


def run_on_chosen_loop(main: Coroutine[Any, Any, T], choice: str | None = None) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    try:
        factory = loop_factory(choice)
    except ValueError:
        main.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)



def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """`uvloop` or `asyncio`: what this loop is, for `hum status`."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
