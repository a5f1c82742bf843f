"""OpenAI chat messages read as hum's turns, title requests, and tool calls sieved out of text."""

from __future__ import annotations

import json
import re
from typing import Any

from hum.brood.transcript import (
    TOOL_CLOSE,
    TOOL_OPEN,
    TOOLS_INTRO,
    call_id,
    render_call,
    render_result,
)
from hum.surfaces.http import (
    SurfaceError,
)

_TOOL_BLOCK = re.compile(re.escape(TOOL_OPEN) + r"\s*(\{.*?\})\s*" + re.escape(TOOL_CLOSE), re.DOTALL)


# opencode asks its small model for a session title with this system prompt
# (and a user turn "Generate a title for this conversation:"); other clients
# (e.g. Open WebUI) phrase title requests similarly.
_TITLE_MARKERS = ("you are a title generator", "generate a title for this conversation", "generate a concise")


# A title made from the conversation's first words, this many at most.
TITLE_WORDS = 7


def content_text(content: Any) -> str:
    """A message's `content` (string or list of parts) as plain text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text")
        )
    raise SurfaceError(400, "message content must be a string or a list of parts", code="bad-message")


def tool_names(messages: list[dict[str, Any]]) -> dict[str, str]:
    names: dict[str, str] = {}
    for msg in messages:
        for call in msg.get("tool_calls") or []:
            if isinstance(call, dict):
                names[str(call.get("id"))] = str((call.get("function") or {}).get("name", "tool"))
    return names


def user_turn(group: list[dict[str, Any]], names: dict[str, str]) -> str:
    """Consecutive user and tool messages, as the one prompt text the hum records."""
    parts = []
    for msg in group:
        if msg["role"] == "tool":
            cid = str(msg.get("tool_call_id", ""))
            parts.append(render_result(names.get(cid, "tool"), cid, content_text(msg.get("content"))))
        else:
            parts.append(content_text(msg.get("content")))
    return "\n\n".join(p for p in parts if p)


def assistant_turn(msg: dict[str, Any]) -> str:
    text = content_text(msg.get("content"))
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {} if isinstance(call, dict) else {}
        text += render_call(str(fn.get("name", "")), fn.get("arguments", {}))
    return text


def conversation(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The request's user/assistant turns in the hum's transcript form (system left out)."""
    names = tool_names(messages)
    turns: list[tuple[str, str]] = []
    group: list[dict[str, Any]] = []
    for msg in messages:
        role = msg["role"]
        if role in ("user", "tool"):
            group.append(msg)
            continue
        if role == "assistant":
            if group:
                turns.append(("user", user_turn(group, names)))
                group = []
            turns.append(("assistant", assistant_turn(msg)))
    if group:
        turns.append(("user", user_turn(group, names)))
    return turns


def system_text(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(content_text(m.get("content")) for m in messages if m["role"] in ("system", "developer"))


def tools_system(tools: list[Any]) -> str:
    """The instructions that teach any model the tool-call text protocol."""
    specs = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            specs.append({"name": fn["name"], "description": fn.get("description", ""), "parameters": fn.get("parameters", {})})
    if not specs:
        return ""
    return (
        f"{TOOLS_INTRO} To call one, reply with nothing but "
        f'{TOOL_OPEN}{{"name": "<tool name>", "arguments": {{...}}}}{TOOL_CLOSE} '
        "(one block per call). The results come back in the next user turn. Tools:\n"
        + json.dumps(specs)
    )


def is_title_request(messages: list[dict[str, Any]]) -> bool:
    """opencode's (and similar clients') side request for a conversation title."""
    head = " ".join(content_text(m.get("content"))[:400] for m in messages if m["role"] in ("system", "developer", "user")).lower()
    return any(marker in head for marker in _TITLE_MARKERS)


def make_title(messages: list[dict[str, Any]]) -> str:
    """A title from the conversation's first words: no model, no petals, no wait."""
    for msg in messages:
        if msg["role"] != "user":
            continue
        text = content_text(msg.get("content"))
        for marker in _TITLE_MARKERS:
            idx = text.lower().find(marker)
            if idx >= 0:
                text = text[:idx] + text[idx + len(marker) :]
        words = re.sub(r"<[^>]+>", " ", text).replace(":", " ").split()
        if words:
            return " ".join(words[:TITLE_WORDS]).strip(" .,;!?\"'")[:60] or "New hum"
    return "New hum"


class ToolSieve:
    """Holds back model text that may be a tool call, until it is clear whether it is one."""

    def __init__(self, active: bool) -> None:
        self.mode = "undecided" if active else "text"
        self.held = ""
        self.calls: list[dict[str, Any]] = []

    def feed(self, delta: str) -> str:
        """Text that can go to the client now."""
        if self.mode == "text":
            return delta
        self.held += delta
        if self.mode == "tool":
            return ""
        head = self.held.lstrip()
        if head.startswith(TOOL_OPEN):
            self.mode = "tool"
            return ""
        if TOOL_OPEN.startswith(head):
            return ""
        self.mode = "text"
        out, self.held = self.held, ""
        return out

    def native(self, delta: str) -> None:
        """A worker's own tool call (`chunkType:"tool_call"`)."""
        try:
            call = json.loads(delta)
        except json.JSONDecodeError:
            return
        if isinstance(call, dict) and call.get("name"):
            self.calls.append(call)

    def end(self) -> str:
        """At finish: parse held tool blocks into `calls`; returns text still owed to the client."""
        held, self.held = self.held, ""
        if self.mode != "tool":
            return held
        calls = []
        for block in _TOOL_BLOCK.findall(held):
            try:
                call = json.loads(block)
            except json.JSONDecodeError:
                return held
            if not isinstance(call, dict) or not call.get("name"):
                return held
            calls.append(call)
        if not calls:
            return held
        self.calls.extend(calls)
        return ""

    def tool_calls(self, sg: str, wane: int) -> list[dict[str, Any]]:
        out = []
        for i, call in enumerate(self.calls):
            args = call.get("arguments", {})
            out.append(
                {
                    "id": call_id(sg, wane, i),
                    "type": "function",
                    "function": {"name": str(call["name"]), "arguments": args if isinstance(args, str) else json.dumps(args)},
                }
            )
        return out
