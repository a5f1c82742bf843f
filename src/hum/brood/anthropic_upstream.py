"""A worker that streams from the Anthropic Messages API (or anything speaking it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from hum.brood.http_stream import HttpUpstreamWorker, parse_json, sse_events
from hum.brood.worker import Delta, Done, Turn, Usage, WorkerError, WorkerEvent

DEFAULT_BASE_URL = "https://api.anthropic.com"

# The Messages API version this worker speaks; the wire format below is pinned to it.
ANTHROPIC_VERSION = "2023-06-01"

# The Messages API requires max_tokens; this bounds one reply's length and cost.
DEFAULT_MAX_TOKENS = 1024

# Anthropic stop reasons, in the hum's `finish_reason` words.
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def to_messages(transcript: Sequence[Turn]) -> tuple[str, list[dict[str, Any]]]:
    """(system, messages) for the Messages API: system apart, roles alternating, user first."""
    system = "\n\n".join(t.text for t in transcript if t.role == "system")
    messages: list[dict[str, Any]] = []
    for turn in transcript:
        if turn.role == "system":
            continue
        if messages and messages[-1]["role"] == turn.role:
            messages[-1]["content"] += "\n\n" + turn.text
        else:
            messages.append({"role": turn.role, "content": turn.text})
    if messages and messages[0]["role"] == "assistant":
        # The API insists on a user turn first; say honestly where the history starts.
        messages.insert(0, {"role": "user", "content": "(earlier conversation)"})
    return system, messages


class AnthropicWorker(HttpUpstreamWorker):
    """Streams a bloom from `{base_url}/v1/messages` with server-sent events."""

    kind = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        super().__init__(base_url, model, api_key=api_key, max_tokens=max_tokens)

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/messages"

    async def bloom(
        self, transcript: Sequence[Turn], *, model: str | None = None
    ) -> AsyncIterator[WorkerEvent]:
        system, messages = to_messages(transcript)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": messages,
            "stream": True,
        }
        if system:
            body["system"] = system
        headers = {
            "x-api-key": self.api_key or "",
            "anthropic-version": ANTHROPIC_VERSION,
            "accept": "text/event-stream",
        }
        call, resp = await self._open(self.url, body, headers, "Anthropic upstream")
        input_tokens = output_tokens = sent = 0
        finish: str | None = None
        try:
            async for event, data in sse_events(resp):
                payload = parse_json(data, "Anthropic upstream")
                kind = payload.get("type", event)
                if kind == "message_start":
                    u = (payload.get("message") or {}).get("usage") or {}
                    input_tokens = int(u.get("input_tokens") or 0)
                    output_tokens = int(u.get("output_tokens") or 0)
                elif kind == "content_block_delta":
                    delta = payload.get("delta") or {}
                    if (
                        delta.get("type") == "text_delta"
                        and delta.get("text")
                        and not call.cancelled
                    ):
                        sent += 1
                        yield Delta(delta["text"], block_idx=int(payload.get("index") or 0))
                elif kind == "message_delta":
                    u = payload.get("usage") or {}
                    output_tokens = int(u.get("output_tokens") or output_tokens)
                    input_tokens = int(u.get("input_tokens") or input_tokens)
                    reason = (payload.get("delta") or {}).get("stop_reason")
                    finish = _FINISH.get(reason, reason) if reason else finish
                elif kind == "message_stop":
                    finish = finish or "stop"
                    break
                elif kind == "error":
                    err = payload.get("error") or {}
                    raise WorkerError(
                        "upstream-error",
                        f"Anthropic upstream error mid-stream: {err.get('type')}: {err.get('message')}",
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not call.cancelled:
                raise WorkerError("upstream-error", f"Anthropic stream broke: {exc!r}") from exc
        finally:
            resp.close()
        if call.cancelled:
            yield Done("cancelled", Usage(input_tokens, max(output_tokens, sent)))
            return
        if finish is None:
            raise WorkerError("upstream-error", "Anthropic stream ended before message_stop")
        yield Done(finish, Usage(input_tokens, output_tokens))
