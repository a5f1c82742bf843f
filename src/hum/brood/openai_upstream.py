"""A worker that streams from any OpenAI-compatible chat completions API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from hum.brood.http_stream import HttpUpstreamWorker, SharedSession, parse_json, sse_events
from hum.errors import WorkerError
from hum.interfaces import Delta, Done, ToolCall, ToolSpec, Turn, Usage, WorkerEvent

# Cap on one reply, so a model that never emits a stop token still finishes.
DEFAULT_MAX_TOKENS = 1024

# The arguments of a call to a tool that takes none: some servers stream
# nothing for them, and an empty string is not JSON.
NO_ARGUMENTS = "{}"


def to_message(turn: Turn) -> dict[str, Any]:
    """One transcript turn as a chat completions message (tool calls and results included)."""
    if turn.role == "tool":
        return {"role": "tool", "tool_call_id": turn.tool_call_id or "", "content": turn.text}
    if turn.tool_calls:
        return {
            "role": "assistant",
            # The API's own shape for a reply that is only calls: no content, not "".
            "content": turn.text or None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in turn.tool_calls
            ],
        }
    return {"role": turn.role, "content": turn.text}


class _Calls:
    """Streamed `delta.tool_calls` pieces, put together by their `index`."""

    def __init__(self) -> None:
        self.parts: dict[int, dict[str, str]] = {}
        self.made = 0
        self.pieces = 0  # streamed pieces: one token each, like text chunks

    def add(self, pieces: list[Any]) -> None:
        for piece in pieces:
            if not isinstance(piece, dict):
                continue
            self.pieces += 1
            entry = self.parts.setdefault(
                int(piece.get("index") or 0), {"id": "", "name": "", "arguments": ""}
            )
            entry["id"] = str(piece.get("id") or entry["id"])
            fn = piece.get("function") or {}
            # The name comes whole in a call's first piece; arguments come in many.
            entry["name"] += str(fn.get("name") or "")
            entry["arguments"] += str(fn.get("arguments") or "")

    def flush(self) -> list[Delta]:
        """One delta per call gathered so far, in index order; blocks after the text (block 0)."""
        deltas = []
        for index in sorted(self.parts):
            entry = self.parts[index]
            call = ToolCall(entry["id"], entry["name"], entry["arguments"] or NO_ARGUMENTS)
            deltas.append(call.delta(block_idx=index + 1))
        self.made += len(deltas)
        self.parts.clear()
        return deltas


class OpenAIWorker(HttpUpstreamWorker):
    """Streams a bloom from `{base_url}/chat/completions` (Ollama, vLLM, llama.cpp, OpenAI...)."""

    kind = "openai"
    native_tools = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float | None = None,
        sessions: SharedSession | None = None,
    ) -> None:
        super().__init__(base_url, model, api_key=api_key, max_tokens=max_tokens, sessions=sessions)
        self.temperature = temperature

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _body(
        self, transcript: Sequence[Turn], tools: Sequence[ToolSpec] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [to_message(t) for t in transcript],
            "stream": True,
            # The only way to get real token counts from a stream: a last chunk with usage.
            "stream_options": {"include_usage": True},
            "max_tokens": self.max_tokens,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if tools:  # only when there are some: servers without tool support refuse the field
            body["tools"] = list(tools)
        return body

    async def bloom(
        self,
        transcript: Sequence[Turn],
        *,
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> AsyncIterator[WorkerEvent]:
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        call, resp = await self._open(
            self.url, self._body(transcript, tools), headers, "OpenAI-compatible upstream"
        )
        usage: Usage | None = None
        finish = "stop"
        sent = 0
        calls = _Calls()
        try:
            async for _event, data in sse_events(resp):
                if data.strip() == "[DONE]":
                    break
                chunk = parse_json(data, "OpenAI-compatible upstream")
                if "error" in chunk:
                    err = chunk["error"]
                    message = err.get("message") if isinstance(err, dict) else str(err)
                    raise WorkerError("upstream-error", f"upstream error mid-stream: {message}")
                if chunk.get("usage"):
                    u = chunk["usage"]
                    usage = Usage(
                        int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0)
                    )
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if text and not call.cancelled:
                        sent += 1
                        yield Delta(text)
                    calls.add(delta.get("tool_calls") or [])
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                        # The calls are whole once the choice finishes; the usage chunk may follow.
                        for event in calls.flush():
                            yield event
            for event in calls.flush():  # a server that ends the stream without a finish_reason
                yield event
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not call.cancelled:
                raise WorkerError("upstream-error", f"upstream stream broke: {exc!r}") from exc
        finally:
            resp.close()
        if call.cancelled:
            # No usage chunk comes after a hang-up; each streamed chunk is one token.
            yield Done("cancelled", Usage(0, sent))
            return
        if calls.made and finish == "stop":
            finish = "tool_calls"  # some servers say "stop" after calls; the hum says what happened
        # Servers without a usage chunk (llama-cpp-python's among them) send one
        # token per chunk, so the count is real; the prompt's size is unknown: 0.
        yield Done(finish, usage or Usage(0, sent + calls.pieces))
