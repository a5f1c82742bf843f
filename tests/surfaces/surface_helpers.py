"""Helpers shared by the surface tests (and the real-client tests, which import them too)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from hum.brood.config import build_brood
from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.node.humd import Humd
from hum.sim.harness import Sim, SimNestler
from hum.surfaces.app import Served, serve

# Real time here (the surfaces run on a real socket): fast enough that a
# 40-word bloom takes 0.2 s, slow enough that "mid-bloom" has a middle.
FAST_TPS = 200.0
# Any single wait in these tests; a hang fails in seconds, not minutes.
WAIT = 20.0


# Fixtures both conftests (surfaces, clients) import, so they are defined once.


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    s = Sim(tokens_per_second=FAST_TPS)
    yield s
    await s.close()


@pytest.fixture
async def served() -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """Serve a humd's surfaces on loopback; every server is closed after the test."""
    servers: list[Served] = []

    async def start(humd: Humd, **kwargs: Any) -> Served:
        s = await serve(humd, **kwargs)
        servers.append(s)
        return s

    yield start
    for s in servers:
        await s.close()


# A small window for the real local model, so a few hundred words already overflow it.
SMALL_N_CTX = 512
# Short answers keep the real model's blooms to a second or two.
SHORT_REPLY_TOKENS = 32


@pytest.fixture
async def local_laptop(sim: Sim) -> AsyncIterator[Humd]:
    """A humd on the real embedded model (as `hum up` runs it) in a small window."""
    brood = build_brood("local", {}, n_ctx=SMALL_N_CTX, max_tokens=SHORT_REPLY_TOKENS)
    try:
        yield await sim.spawn("laptop", brood=brood)
    finally:
        await brood.close()


def scripted_brood(tps: float, reply: Callable[[str], str] | None = None) -> Brood:
    kwargs: dict[str, Any] = {"tokens_per_second": tps}
    if reply is not None:
        kwargs["reply"] = reply
    return Brood({"scripted": lambda: ScriptedWorker(**kwargs)}, "scripted")


# The command an asking worker wants to run in the approval tests.
ASKED_COMMAND = "touch approved.txt"


def asking_brood(tps: float) -> Brood:
    """A scripted worker that asks leave to run `ASKED_COMMAND` half-way through each answer."""
    return Brood({"scripted": lambda: ScriptedWorker(tokens_per_second=tps, ask=ASKED_COMMAND)}, "scripted")


@dataclass
class AskedOnLaptop:
    """A laptop whose worker asks, a linked phone, and the laptop's nestler holding the first open ask."""

    laptop: Humd
    phone: Humd
    nestler: SimNestler
    ask: dict[str, Any]


async def asked_on_laptop(sim: Sim, tps: float) -> AskedOnLaptop:
    """The laptop's nestler prompts hum `tidy`; returns once its worker's ask is open."""
    laptop = await sim.spawn("laptop", brood=asking_brood(tps))
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    nestler = sim.nestler(laptop, "opencode")
    nestler.send("prompt", sid="tidy", text="tidy up the project")
    ask = (await nestler.wait_for(lambda t: t.chi == "permission-ask", timeout=WAIT)).tone
    return AskedOnLaptop(laptop, phone, nestler, dict(ask))


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """Parse an SSE body into {'id', 'data'} events (comments and retry lines skipped)."""
    event: dict[str, Any] = {}
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if "data" in event:
                yield event
            event = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "data":
            event["data"] = value if value == "[DONE]" else json.loads(value)
        elif key == "id":
            event["id"] = int(value)


def assistant_texts(humd: Humd, sg: str) -> list[str]:
    return [text for role, text in humd.hums[sg].transcript() if role == "assistant"]
