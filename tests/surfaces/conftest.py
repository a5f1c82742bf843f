"""Fixtures for the HTTP surface tests: two sibling humds in-process, surfaces served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from surface_helpers import WAIT, local_laptop, served, sim  # noqa: F401 - fixtures

from hum.node.humd import Humd
from hum.sim.harness import Sim


@pytest.fixture
async def pair(sim: Sim) -> tuple[Humd, Humd]:  # noqa: F811 - the sim fixture
    """(laptop, phone): linked T1 siblings; the laptop has the hums in most tests."""
    laptop = await sim.spawn("laptop")
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    return laptop, phone


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        yield session
