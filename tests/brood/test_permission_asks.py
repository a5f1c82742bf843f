"""A worker that asks before it uses a tool: the scripted worker told to ask, through the brood."""

from __future__ import annotations

import asyncio

import pytest
from brood_helpers import TEST_TIMEOUT_SECONDS, collect, text_of

from hum.brood.config import build_brood, check
from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.errors import WorkerError
from hum.interfaces import Delta, Done, PermissionAsk, Turn

HELLO = [Turn("user", "hello")]
# The brood's stall guard in these tests: far shorter than any real one, so
# "an ask outlives it" is seen in a second.
SHORT_STALL = 0.2


def asking_brood(**pool) -> Brood:
    return Brood({"scripted": lambda: ScriptedWorker(tokens_per_second=10_000, ask="touch approved.txt")}, "scripted", **pool)


async def until_ask(stream) -> tuple[list[Delta], PermissionAsk]:
    deltas = []
    async for event in stream:
        if isinstance(event, PermissionAsk):
            return deltas, event
        deltas.append(event)
    raise AssertionError("the bloom never asked")


async def test_the_ask_shows_exactly_what_would_run_and_the_answer_reaches_the_worker():
    brood = asking_brood()
    stream = brood.bloom("s", HELLO)
    before, ask = await asyncio.wait_for(until_ask(stream), TEST_TIMEOUT_SECONDS)
    assert (ask.tool, ask.input) == ("Bash", {"command": "touch approved.txt"})
    assert "touch approved.txt" in ask.question and len(before) == 20  # half-way through its 40 words
    await brood.release("s", ask.permit_id, "allow", None)
    after, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    assert text_of(after).startswith(" (ran touch approved.txt)")
    assert done.finish_reason == "stop"

    stream = brood.bloom("s", HELLO)
    _, second = await asyncio.wait_for(until_ask(stream), TEST_TIMEOUT_SECONDS)
    assert second.permit_id != ask.permit_id  # never the same id twice in one hum
    await brood.release("s", ask.permit_id, "allow", None)  # the old ask's id: not this ask's answer
    await brood.release("s", second.permit_id, "deny", "not on my laptop")
    after, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    assert text_of(after).startswith(" (did not run touch approved.txt: not on my laptop)")
    await brood.close()


async def test_a_worker_waiting_for_a_person_is_not_stalled_and_the_guard_returns_after():
    brood = asking_brood(stall_seconds=SHORT_STALL)
    stream = brood.bloom("s", HELLO)
    _, ask = await asyncio.wait_for(until_ask(stream), TEST_TIMEOUT_SECONDS)
    waiting = asyncio.ensure_future(anext(stream))
    done, _ = await asyncio.wait({waiting}, timeout=SHORT_STALL * 5)
    assert not done  # five stall periods later: still waiting, no worker-stall
    await brood.release("s", ask.permit_id, "allow", None)
    assert isinstance(await asyncio.wait_for(waiting, TEST_TIMEOUT_SECONDS), Delta)
    await collect(stream)
    await brood.close()


async def test_cancel_while_asking_ends_the_bloom():
    brood = asking_brood()
    stream = brood.bloom("s", HELLO)
    await asyncio.wait_for(until_ask(stream), TEST_TIMEOUT_SECONDS)
    await brood.cancel("s")
    rest, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    assert rest == [] and done.finish_reason == "cancelled"
    await brood.close()


def test_the_environment_tells_the_scripted_worker_to_ask():
    brood = build_brood("scripted", {"HUM_SCRIPTED_ASK": "touch approved.txt"})
    assert brood.factories["scripted"]().ask == "touch approved.txt"
    assert build_brood("scripted", {}).factories["scripted"]().ask is None


def test_claude_permission_settings_come_from_the_environment():
    env = {"HUM_CLAUDE_BIN": "/bin/true", "HUM_CLAUDE_PERMISSION_MODE": "acceptEdits", "HUM_CLAUDE_ALLOWED_TOOLS": "Read, Bash(git *)"}
    worker = build_brood("claude-cli", env).factories["claude-cli"]("sigil")
    assert worker.permission_mode == "acceptEdits"
    assert worker.allowed_tools == ["Read", "Bash(git *)"]
    with pytest.raises(WorkerError) as err:
        check("claude-cli", env | {"HUM_CLAUDE_PERMISSION_MODE": "yolo"})
    assert err.value.qualifier == "bad-config" and "acceptEdits" in err.value.message


async def test_an_answer_after_the_bloom_is_over_changes_nothing():
    brood = asking_brood()
    stream = brood.bloom("s", HELLO)
    _, ask = await asyncio.wait_for(until_ask(stream), TEST_TIMEOUT_SECONDS)
    await brood.release("s", ask.permit_id, "deny", None)
    _, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    await brood.release("s", ask.permit_id, "allow", None)  # late: nobody waits, nothing breaks
    assert isinstance(done, Done)
    await brood.close()
