"""The event loop a hum process runs on: uvloop where it installs, asyncio's own elsewhere.

`HUM_LOOP=asyncio` (or `uvloop`) chooses one; unset, uvloop is used when it
imports. Both stay tested: `make test` runs its humd children on the default
and its in-process tests on asyncio's loop (pytest-asyncio's), and
`HUM_LOOP=asyncio` runs the children on asyncio's loop too.
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
    if choice == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError as exc:
        if choice == "uvloop":
            raise ValueError(f"HUM_LOOP=uvloop but uvloop does not load here: {exc}") from exc
        return asyncio.new_event_loop
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
