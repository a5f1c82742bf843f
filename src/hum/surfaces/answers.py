"""An answer a chat door makes from a bloom's petals: its text (tool calls and stop sequences held back), its calls, its usage.

The Anthropic and Ollama doors read petals the same way and differ only in
how they write the answer down; the `/v1` door's `ToolSieve` does the tool part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hum.surfaces.http import HumTap
from hum.surfaces.openai_messages import ToolSieve
from hum.surfaces.permits import said_as_text
from hum.wire.tones import Tone


@dataclass
class Answer:
    """One answer a chat door is making: which bloom, what to hold back (tool calls, stop sequences), and how it ended."""

    sigil: str
    wane: int
    model: str
    sieve: ToolSieve
    cutter: StopCutter
    tap: HumTap | None = None
    finish: Tone | None = None

    def text(self, tone: Tone) -> str:
        """What a petal adds to the answer's text (tool calls and stop sequences held back)."""
        if tone.chi == "chunk":
            kind = tone.get("chunkType", "text_delta")
            if kind == "tool_call":
                self.sieve.native(str(tone.get("delta", "")))
            elif kind == "text_delta":
                return self._cut(self.sieve.feed(str(tone.get("delta", ""))))
            return ""  # notes and reasoning: not the answer's words
        if tone.chi == "finish":
            self.finish = tone
            return self._cut(self.sieve.end()) + self.cutter.end()
        return self._cut(said_as_text(tone) or "")  # an ask and its answer: this protocol has no message for them

    def _cut(self, text: str) -> str:
        out = self.cutter.feed(text)
        if self.cutter.hit is not None and self.tap is not None:
            self.tap.cancel(self.sigil)  # the client has its answer; the worker stops too
            self.tap = None
        return out

    def usage(self) -> dict[str, int]:
        usage = (self.finish or {}).get("usage") or {}
        return {"input_tokens": int(usage.get("input_tokens", 0)), "output_tokens": int(usage.get("output_tokens", 0))}

    def finish_reason(self) -> str:
        return str((self.finish or {}).get("finishReason") or "stop")

    def tool_calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The bloom's tool calls as (hum's call id, tool name, arguments as an object)."""
        out = []
        for call in self.sieve.tool_calls(self.sigil, self.wane):
            raw = call["function"]["arguments"]
            try:
                args = json.loads(raw or "{}")
            except json.JSONDecodeError:
                args = {"arguments": raw}
            out.append((call["id"], call["function"]["name"], args if isinstance(args, dict) else {"value": args}))
        return out


class StopCutter:
    """Holds back streamed text that may begin a stop sequence; cuts the answer at the first one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.held = ""
        self.hit: str | None = None

    def feed(self, text: str) -> str:
        """Text that can go to the client now ("" once a stop sequence was met)."""
        if self.hit is not None:
            return ""
        if not self.stops:
            return text
        self.held += text
        found = [(self.held.find(s), s) for s in self.stops if s in self.held]
        if found:
            at, self.hit = min(found)
            out, self.held = self.held[:at], ""
            return out
        keep = max((k for s in self.stops for k in range(1, len(s)) if self.held.endswith(s[:k])), default=0)
        out, self.held = self.held[: len(self.held) - keep], self.held[len(self.held) - keep :]
        return out

    def end(self) -> str:
        out, self.held = ("" if self.hit is not None else self.held), ""
        return out
