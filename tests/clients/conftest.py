"""Fixtures for the real-client tests: in-process humds served on loopback, and the npm clients."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "surfaces"))

from surface_helpers import FAST_TPS  # noqa: E402

from hum.humd import Humd  # noqa: E402
from hum.sim.harness import Sim  # noqa: E402
from hum.surfaces.http import Served, serve  # noqa: E402


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    s = Sim(tokens_per_second=FAST_TPS)
    yield s
    await s.close()


@pytest.fixture
async def served() -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    servers: list[Served] = []

    async def start(humd: Humd, **kwargs: Any) -> Served:
        s = await serve(humd, **kwargs)
        servers.append(s)
        return s

    yield start
    for s in servers:
        await s.close()
