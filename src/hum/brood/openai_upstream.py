"""A worker that streams from any OpenAI-compatible chat completions API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from hum.brood.http_stream import HttpUpstreamWorker, parse_json, sse_events
from hum.brood.worker import Delta, Done, Turn, Usage, WorkerError, WorkerEvent

# Cap on one reply, so a model that never emits a stop token still finishes.
DEFAULT_MAX_TOKENS = 1024


class OpenAIWorker(HttpUpstreamWorker):
    """Streams a bloom from `{base_url}/chat/completions` (Ollama, vLLM, llama.cpp, OpenAI...)."""

    kind = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float | None = None,
    ) -> None:
        super().__init__(base_url, model, api_key=api_key, max_tokens=max_tokens)
        self.temperature = temperature

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _body(self, transcript: Sequence[Turn]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": t.role, "content": t.text} for t in transcript],
            "stream": True,
            # The only way to get real token counts from a stream: a last chunk with usage.
            "stream_options": {"include_usage": True},
            "max_tokens": self.max_tokens,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        return body

    async def bloom(
        self, transcript: Sequence[Turn], *, model: str | None = None
    ) -> AsyncIterator[WorkerEvent]:
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        call, resp = await self._open(self.url, self._body(transcript), headers, "OpenAI-compatible upstream")
        usage: Usage | None = None
        finish = "stop"
        sent = 0
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
                    text = (choice.get("delta") or {}).get("content")
                    if text and not call.cancelled:
                        sent += 1
                        yield Delta(text)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not call.cancelled:
                raise WorkerError("upstream-error", f"upstream stream broke: {exc!r}") from exc
        finally:
            resp.close()
        if call.cancelled:
            # No usage chunk comes after a hang-up; each streamed chunk is one token.
            yield Done("cancelled", Usage(0, sent))
            return
        # Servers without a usage chunk (llama-cpp-python's among them) send one
        # token per chunk, so the count is real; the prompt's size is unknown: 0.
        yield Done(finish, usage or Usage(0, sent))
