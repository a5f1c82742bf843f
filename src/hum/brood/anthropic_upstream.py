"""A worker that streams from the Anthropic Messages API (or anything speaking it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from hum.brood.http_stream import HttpUpstreamWorker, SharedSession, parse_json, sse_events
from hum.errors import WorkerError
from hum.interfaces import Delta, Done, ToolCall, ToolSpec, Turn, Usage, WorkerEvent

DEFAULT_BASE_URL = "https://api.anthropic.com"

# The Messages API version this worker speaks; the wire format below is pinned to it.
ANTHROPIC_VERSION = "2023-06-01"

# The Messages API requires max_tokens; this bounds one reply's length and cost.
DEFAULT_MAX_TOKENS = 1024

# Anthropic stop reasons, in the hum's `finish_reason` words.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}

# The schema of a tool that declares no parameters: the API requires one, of type object.
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def to_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """OpenAI-style function specs as Messages API tools (`name`, `description`, `input_schema`)."""
    out: list[dict[str, Any]] = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            continue
        spec: dict[str, Any] = {
            "name": fn["name"],
            "input_schema": fn.get("parameters") or EMPTY_SCHEMA,
        }
        if fn.get("description"):
            spec["description"] = fn["description"]
        out.append(spec)
    return out


def _input(arguments: str) -> dict[str, Any]:
    """A call's JSON arguments as the `input` object a `tool_use` block needs."""
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        parsed = arguments
    # `input` must be an object; anything else is kept, not dropped.
    return parsed if isinstance(parsed, dict) else {"arguments": parsed}


def _content(turn: Turn) -> str | list[dict[str, Any]]:
    """A turn's content: plain text, or blocks when it carries tool calls or a tool result."""
    if turn.role == "tool":
        return [
            {"type": "tool_result", "tool_use_id": turn.tool_call_id or "", "content": turn.text}
        ]
    if not turn.tool_calls:
        return turn.text
    blocks: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c.arguments)}
        for c in turn.tool_calls
    ]
    return blocks


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    # The API refuses empty text blocks.
    return [{"type": "text", "text": content}] if content else []


def to_messages(transcript: Sequence[Turn]) -> tuple[str, list[dict[str, Any]]]:
    """(system, messages) for the Messages API: system apart, roles alternating, user first.

    Tool results are user content blocks, so they share a user message with
    the other results and the user text that follow them.
    """
    system = "\n\n".join(t.text for t in transcript if t.role == "system")
    messages: list[dict[str, Any]] = []
    for turn in transcript:
        if turn.role == "system":
            continue
        role = "user" if turn.role == "tool" else turn.role
        content = _content(turn)
        if messages and messages[-1]["role"] == role:
            last = messages[-1]["content"]
            if isinstance(last, str) and isinstance(content, str):
                messages[-1]["content"] += "\n\n" + content
            else:
                messages[-1]["content"] = _blocks(last) + _blocks(content)
        else:
            messages.append({"role": role, "content": content})
    if messages and messages[0]["role"] == "assistant":
        # The API insists on a user turn first; say honestly where the history starts.
        messages.insert(0, {"role": "user", "content": "(earlier conversation)"})
    return system, messages


class AnthropicWorker(HttpUpstreamWorker):
    """Streams a bloom from `{base_url}/v1/messages` with server-sent events."""

    kind = "anthropic"
    native_tools = True

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        sessions: SharedSession | None = None,
    ) -> None:
        super().__init__(base_url, model, api_key=api_key, max_tokens=max_tokens, sessions=sessions)

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/messages"

    async def bloom(
        self,
        transcript: Sequence[Turn],
        *,
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> AsyncIterator[WorkerEvent]:
        call, resp = await self._open(self.url, self._body(transcript, tools), self._headers(), "Anthropic upstream")
        reply = MessageStream()
        try:
            async for event, data in sse_events(resp):
                payload = parse_json(data, "Anthropic upstream")
                said = reply.read(payload.get("type", event), payload, cancelled=call.cancelled)
                if said is not None:
                    yield said
                if reply.stopped:
                    break
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not call.cancelled:
                raise WorkerError("upstream-error", f"Anthropic stream broke: {exc!r}") from exc
        finally:
            resp.close()
        if call.cancelled:
            yield Done("cancelled", Usage(reply.input_tokens, max(reply.output_tokens, reply.sent)))
            return
        if reply.finish is None:
            raise WorkerError("upstream-error", "Anthropic stream ended before message_stop")
        yield Done(reply.finish, Usage(reply.input_tokens, reply.output_tokens))

    def _body(self, transcript: Sequence[Turn], tools: Sequence[ToolSpec] | None) -> dict[str, Any]:
        system, messages = to_messages(transcript)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": messages,
            "stream": True,
        }
        if system:
            body["system"] = system
        offered = to_tools(tools or ())
        if offered:
            body["tools"] = offered
        return body

    def _headers(self) -> dict[str, str]:
        return {
            "x-api-key": self.api_key or "",
            "anthropic-version": ANTHROPIC_VERSION,
            "accept": "text/event-stream",
        }


@dataclass
class MessageStream:
    """What one streamed Messages API reply has said so far: usage, the stop reason, open tool_use blocks."""

    input_tokens: int = 0
    output_tokens: int = 0
    sent: int = 0  # text deltas handed on
    finish: str | None = None
    stopped: bool = False  # message_stop came: nothing more to read
    # Open tool_use blocks by index: id, name and the input JSON so far.
    uses: dict[int, dict[str, Any]] = field(default_factory=dict)

    def read(self, kind: str, payload: dict[str, Any], *, cancelled: bool) -> WorkerEvent | None:
        """Take one server-sent event; returns what the bloom yields for it, if anything."""
        if kind == "message_start":
            u = (payload.get("message") or {}).get("usage") or {}
            self.input_tokens = int(u.get("input_tokens") or 0)
            self.output_tokens = int(u.get("output_tokens") or 0)
        elif kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.uses[int(payload.get("index") or 0)] = {
                    "id": str(block.get("id") or ""),
                    "name": str(block.get("name") or ""),
                    "start": block.get("input") or {},
                    "json": "",
                }
        elif kind == "content_block_stop":
            return self._block_stop(payload, cancelled)
        elif kind == "content_block_delta":
            return self._block_delta(payload, cancelled)
        elif kind == "message_delta":
            u = payload.get("usage") or {}
            self.output_tokens = int(u.get("output_tokens") or self.output_tokens)
            self.input_tokens = int(u.get("input_tokens") or self.input_tokens)
            reason = (payload.get("delta") or {}).get("stop_reason")
            self.finish = _FINISH.get(reason, reason) if reason else self.finish
        elif kind == "message_stop":
            self.finish = self.finish or "stop"
            self.stopped = True
        elif kind == "error":
            err = payload.get("error") or {}
            raise WorkerError(
                "upstream-error",
                f"Anthropic upstream error mid-stream: {err.get('type')}: {err.get('message')}",
            )
        return None

    def _block_stop(self, payload: dict[str, Any], cancelled: bool) -> WorkerEvent | None:
        index = int(payload.get("index") or 0)
        use = self.uses.pop(index, None)
        if use is None or cancelled:
            return None
        # The input streams as JSON text; a block that streamed none holds it whole.
        arguments = use["json"] or json.dumps(use["start"])
        return ToolCall(use["id"], use["name"], arguments).delta(block_idx=index)

    def _block_delta(self, payload: dict[str, Any], cancelled: bool) -> WorkerEvent | None:
        delta = payload.get("delta") or {}
        index = int(payload.get("index") or 0)
        if delta.get("type") == "input_json_delta" and index in self.uses:
            self.uses[index]["json"] += str(delta.get("partial_json") or "")
        elif delta.get("type") == "text_delta" and delta.get("text") and not cancelled:
            self.sent += 1
            return Delta(delta["text"], block_idx=index)
        return None
