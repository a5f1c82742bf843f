"""Faults of `hum chaos --real` that reach inside a device or need a person: a damaged row in one
device's store (its node fetches it back from a sibling), and asks answered from two devices at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from pathlib import Path

from hum.demo.chaos_deal import stored_rows
from hum.demo.roam_real import HumdProcess, Nestler
from hum.wire.tones import Tone

# What every bloom asks leave to run half-way (the scripted worker never runs it).
ASKED_COMMAND = "touch chaos.txt"
# An ask nobody answered decides itself after this (deny): only a backstop, chaos answers every ask
# it finds; long enough that a round's answer (after a fault of about two seconds) comes first.
PERMIT_TIMEOUT = 30.0
# How long one answering nestler waits for the home's word on its answer.
ANSWER_WAIT = 5.0
# Petals read around a damaged one on each side: the sibling must hold the same log there too.
NEIGHBOURS = 1


def asking_env() -> dict[str, str]:
    """What makes a real humd's scripted worker ask leave in every bloom."""
    return {"HUM_SCRIPTED_ASK": ASKED_COMMAND, "HUM_PERMIT_TIMEOUT": f"{PERMIT_TIMEOUT:g}"}


def held_elsewhere(device: Path, sibling: Path, sg: str, rng: random.Random) -> int | None:
    """A wane of `sg` stored on `device` (stopped) that `sibling` holds the same, with its neighbours."""
    ours, theirs = stored_rows(device, sg), stored_rows(sibling, sg)
    candidates = [
        w for w in sorted(ours)
        if w > NEIGHBOURS and all(w + d in ours and ours[w + d] == theirs.get(w + d) and ours[w + d][1] is not None for d in range(-NEIGHBOURS, NEIGHBOURS + 1))
    ]
    return rng.choice(candidates) if candidates else None


def open_asks(log: Sequence[Tone]) -> list[tuple[str, int]]:
    """The asks (permit id, wane) in a log that no `permit` answers yet, while the bloom is still open."""
    decided = {t.get("permitId") for t in log if t.chi == "permit"}
    last_end = max((i for i, t in enumerate(log) if t.chi in ("finish", "error")), default=-1)
    return [(str(t.get("permitId")), int(t["wane"])) for t in log[last_end + 1 :] if t.chi == "permission-ask" and t.get("permitId") not in decided]


async def _answer(at: HumdProcess, name: str, sg: str, ask: tuple[str, int], decision: str) -> None:
    """A person's answer on one device: attached from the ask, it hears the decision (or why not)."""
    permit_id, wane = ask
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        nestler = await Nestler.open(at, name)
        try:
            nestler.client.send(Tone(chi="attach", sigil=sg, since=wane))
            nestler.client.send(Tone(chi="release-permit", sigil=sg, permitId=permit_id, decision=decision, rid=name))
            await asyncio.wait_for(nestler.wait_for(lambda t: t.get("rid") == name or (t.chi == "permit" and t.get("permitId") == permit_id)), ANSWER_WAIT)
        finally:
            nestler.close()


async def answer_from_two(humds: dict[str, HumdProcess], sg: str, asks: Sequence[tuple[str, int]], rng: random.Random) -> int:
    """Each open ask answered from two devices at once, allow or deny by chance; how many answers were sent."""
    sent = 0
    up = sorted(n for n, h in humds.items() if h.proc is not None and h.proc.returncode is None)
    for ask in asks:
        pair = rng.sample(up, min(len(up), 2))
        answers = [_answer(humds[n], f"answer-{n}-{ask[0][:8]}", sg, ask, rng.choice(["allow", "deny"])) for n in pair]
        await asyncio.gather(*answers)
        sent += len(answers)
    return sent
