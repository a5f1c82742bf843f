"""Permission asks from a worker's side: make an ask, wait for the person's answer.

A worker that wants to use a tool yields a `PermissionAsk` from its bloom and
waits here; the brood hands the answer over (`Worker.release`) once the hum's
home has stored it as a `permit` petal.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from hum.interfaces import PermissionAsk

# A permit id names one ask within its hum forever: an answer meant for an old
# ask must never land on a new one. 48 random bits (as many as a sigil) make a
# repeat within one hum vanishingly unlikely and still fit a command line.
PERMIT_ID_BYTES = 6

ALLOW = "allow"
DENY = "deny"


def new_permit_id() -> str:
    return secrets.token_hex(PERMIT_ID_BYTES)


@dataclass(frozen=True)
class Answer:
    """A person's answer to one ask."""

    decision: str
    message: str | None = None

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOW


class AskDesk:
    """The open asks of one worker's bloom, each waiting for its answer."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[Answer]] = {}

    def ask(self, tool: str, tool_input: dict[str, Any], question: str, permit_id: str | None = None) -> PermissionAsk:
        """A new ask, open until `release` (or `withdraw_all`) answers it."""
        ask = PermissionAsk(permit_id or new_permit_id(), tool, tool_input, question)
        self._waiting[ask.permit_id] = asyncio.get_running_loop().create_future()
        return ask

    async def answer_to(self, permit_id: str) -> Answer:
        future = self._waiting[permit_id]
        try:
            return await future
        finally:
            self._waiting.pop(permit_id, None)

    def release(self, permit_id: str, decision: str, message: str | None) -> bool:
        """The answer to `permit_id`; False when no such ask waits (answered, withdrawn, another bloom's)."""
        future = self._waiting.get(permit_id)
        if future is None or future.done():
            return False
        future.set_result(Answer(ALLOW if decision == ALLOW else DENY, message))
        return True

    def withdraw_all(self, message: str) -> None:
        """The bloom is ending (cancel, crash): every open ask is denied, so nothing waits forever."""
        for future in self._waiting.values():
            if not future.done():
                future.set_result(Answer(DENY, message))
