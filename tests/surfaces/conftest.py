"""Fixtures for the HTTP surface tests: two sibling humds in-process, surfaces served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from surface_helpers import FAST_TPS, WAIT

from hum.humd import Humd
from hum.sim.harness import Sim
from hum.surfaces.http import Served, serve


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    s = Sim(tokens_per_second=FAST_TPS)
    yield s
    await s.close()


@pytest.fixture
async def pair(sim: Sim) -> tuple[Humd, Humd]:
    """(laptop, phone): linked T1 siblings; the laptop has the hums in most tests."""
    laptop = await sim.spawn("laptop")
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    return laptop, phone


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


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        yield session
