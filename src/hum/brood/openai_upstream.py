"""A worker that streams from any OpenAI-compatible chat completions API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import msgspec

from hum.brood.http_stream import Call, HttpUpstreamWorker, SharedSession, sse_batches
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
        async for batch in self.bloom_batches(transcript, model=model, tools=tools):
            for event in batch:
                yield event

    async def bloom_batches(
        self,
        transcript: Sequence[Turn],
        *,
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> AsyncIterator[list[WorkerEvent]]:
        """The upstream's stream, one batch of events per read (`sse_batches`)."""
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        call, resp = await self._open(
            self.url, self._body(transcript, tools), headers, "OpenAI-compatible upstream"
        )
        stream = _Stream(call)
        try:
            async for batch in sse_batches(resp):
                events = stream.read(batch)
                if events:
                    yield events
                if stream.ended:
                    break
            tail = stream.calls.flush()  # a server that ends the stream without a finish_reason
            if tail:
                yield tail  # type: ignore[misc]
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not call.cancelled:
                raise WorkerError("upstream-error", f"upstream stream broke: {exc!r}") from exc
        finally:
            resp.close()
        yield [stream.done()]


class _Chunk(msgspec.Struct):
    """The fields of a chat completions stream chunk a bloom reads (the rest is skipped unread)."""

    choices: list[_Choice] | None = None
    usage: Any = None
    error: Any = msgspec.UNSET


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: Any = None


class _Delta(msgspec.Struct):
    content: Any = None
    tool_calls: Any = None


_CHUNKS = msgspec.json.Decoder(_Chunk)
_UPSTREAM = "OpenAI-compatible upstream"


class _Stream:
    """One bloom's reading of its upstream's chunks: the deltas, the calls, the usage, the finish."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.usage: Usage | None = None
        self.finish = "stop"
        self.sent = 0
        self.calls = _Calls()
        self.ended = False  # `[DONE]` came

    def read(self, batch: list[tuple[str, bytes]]) -> list[WorkerEvent]:
        """The events of one read's SSE events."""
        events: list[WorkerEvent] = []
        for _event, data in batch:
            if data[:1] != b"{" and data.strip() == b"[DONE]":  # a chunk is an object: one byte looked at
                self.ended = True
                break
            try:
                chunk = _CHUNKS.decode(data)
            except (msgspec.DecodeError, RecursionError) as exc:
                raise WorkerError("upstream-error", f"{_UPSTREAM} sent a malformed event: {data[:80]!r}") from exc
            if chunk.error is not msgspec.UNSET:
                err = chunk.error
                message = err.get("message") if isinstance(err, dict) else str(err)
                raise WorkerError("upstream-error", f"upstream error mid-stream: {message}")
            if isinstance(chunk.usage, dict) and chunk.usage:
                u = chunk.usage
                self.usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
            for choice in chunk.choices or ():
                delta = choice.delta or _NO_DELTA
                if delta.content and not self.call.cancelled:
                    self.sent += 1
                    events.append(Delta(delta.content))
                if delta.tool_calls:
                    self.calls.add(delta.tool_calls)
                if choice.finish_reason:
                    self.finish = choice.finish_reason
                    # The calls are whole once the choice finishes; the usage chunk may follow.
                    events += self.calls.flush()
        return events

    def done(self) -> Done:
        if self.call.cancelled:
            # No usage chunk comes after a hang-up; each streamed chunk is one token.
            return Done("cancelled", Usage(0, self.sent))
        if self.calls.made and self.finish == "stop":
            self.finish = "tool_calls"  # some servers say "stop" after calls; the hum says what happened
        # Servers without a usage chunk (llama-cpp-python's among them) send one
        # token per chunk, so the count is real; the prompt's size is unknown: 0.
        return Done(self.finish, self.usage or Usage(0, self.sent + self.calls.pieces))


_NO_DELTA = _Delta()
