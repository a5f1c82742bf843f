"""The shape of an OpenAI chat-completions request, checked before any of it is used.

Every field the surface reads is checked here first, so a malformed message,
`tool_calls` entry or tool spec is a 400 that names the field (OpenAI's
`param`), never a 500 from deep inside the surface or a worker.

And the shape of what a streamed completion sends back (`ChunkFrames`).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from hum.surfaces.http import SurfaceError

ROLES = ("system", "developer", "user", "assistant", "tool")
# Content part types that carry text; other parts (images, audio, files) are accepted and skipped.
TEXT_PARTS = ("text", "input_text", "output_text")


def _bad(param: str, message: str, code: str) -> SurfaceError:
    return SurfaceError(400, f"`{param}` {message}", code=code, param=param)


def _object(value: Any, param: str, code: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(param, "must be an object", code)
    return value


def _optional_str(obj: dict[str, Any], key: str, param: str, code: str) -> None:
    if obj.get(key) is not None and not isinstance(obj[key], str):
        raise _bad(f"{param}.{key}", "must be a string", code)


def check_content(content: Any, param: str) -> None:
    """A message's `content`: absent, a string, or a list of parts (text parts with string `text`)."""
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _bad(param, "must be a string or a list of content parts", "bad-message")
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        _object(part, where, "bad-message")
        if not isinstance(part.get("type"), str):
            raise _bad(f"{where}.type", "must be a string", "bad-message")
        if part["type"] in TEXT_PARTS and not isinstance(part.get("text"), str):
            raise _bad(f"{where}.text", "must be a string", "bad-message")


def check_tool_call(call: Any, param: str) -> None:
    """One assistant `tool_calls` entry: `{id?, type?, function: {name, arguments?}}`."""
    _object(call, param, "bad-tool-calls")
    _optional_str(call, "id", param, "bad-tool-calls")
    _optional_str(call, "type", param, "bad-tool-calls")
    fn = _object(call.get("function"), f"{param}.function", "bad-tool-calls")
    if not isinstance(fn.get("name"), str) or not fn["name"]:
        raise _bad(f"{param}.function.name", "must be a non-empty string", "bad-tool-calls")
    arguments = fn.get("arguments")
    if arguments is not None and not isinstance(arguments, str | dict):
        raise _bad(f"{param}.function.arguments", "must be a JSON string or an object", "bad-tool-calls")


def check_message(msg: Any, i: int) -> dict[str, Any]:
    param = f"messages[{i}]"
    _object(msg, param, "bad-messages")
    role = msg.get("role")
    if not isinstance(role, str):
        raise _bad(f"{param}.role", "must be a string", "bad-messages")
    if role not in ROLES:
        raise _bad(f"{param}.role", f"is {role[:40]!r}, not one of {', '.join(ROLES)}", "bad-messages")
    check_content(msg.get("content"), f"{param}.content")
    calls = msg.get("tool_calls")
    if calls is not None:
        if role != "assistant":
            raise _bad(f"{param}.tool_calls", "is only for assistant messages", "bad-tool-calls")
        if not isinstance(calls, list):
            raise _bad(f"{param}.tool_calls", "must be a list", "bad-tool-calls")
        for j, call in enumerate(calls):
            check_tool_call(call, f"{param}.tool_calls[{j}]")
    _optional_str(msg, "tool_call_id", param, "bad-messages")
    _optional_str(msg, "name", param, "bad-messages")
    return msg


def check_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`messages`: a non-empty list of well-formed messages ending with a user or tool turn."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "must be a non-empty list", "bad-messages")
    for i, msg in enumerate(messages):
        check_message(msg, i)
    if messages[-1]["role"] not in ("user", "tool"):
        raise _bad(f"messages[{len(messages) - 1}].role", "must be user or tool: the last message is what gets answered", "bad-messages")
    return messages


def check_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`tools`: absent, or a list of `{type: "function", function: {name, description?, parameters?}}`."""
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _bad("tools", "must be a list", "bad-tools")
    for i, tool in enumerate(tools):
        param = f"tools[{i}]"
        _object(tool, param, "bad-tools")
        if tool.get("type", "function") != "function":
            raise _bad(f"{param}.type", "must be \"function\"", "bad-tools")
        fn = _object(tool.get("function"), f"{param}.function", "bad-tools")
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise _bad(f"{param}.function.name", "must be a non-empty string", "bad-tools")
        _optional_str(fn, "description", f"{param}.function", "bad-tools")
        if fn.get("parameters") is not None and not isinstance(fn["parameters"], dict):
            raise _bad(f"{param}.function.parameters", "must be a JSON Schema object", "bad-tools")
    return tools


_encode = msgspec.json.Encoder().encode
# For text msgspec refuses (a lone surrogate some worker let through): escaped, as json does.
_ESCAPING = json.JSONEncoder(separators=(",", ":"))


def _json(value: Any) -> bytes:
    try:
        return _encode(value)
    except UnicodeEncodeError:
        return _ESCAPING.encode(value).encode()


class ChunkFrames:
    """The SSE events of one streamed completion, `chat.completion.chunk` each.

    What every chunk repeats (id, created, model, object; `usage` when asked)
    is encoded once per request; a chunk encodes only its delta and reason.
    """

    def __init__(self, meta: dict[str, Any], include_usage: bool) -> None:
        self.meta = meta
        self.include_usage = include_usage
        self._head = b"data: " + _json({**meta, "object": "chat.completion.chunk"})[:-1] + b',"choices":[{"index":0,"delta":'
        self._tail = b',"logprobs":null}]' + (b',"usage":null' if include_usage else b"") + b"}\n\n"

    def chunk(self, delta: dict[str, Any], reason: str | None = None) -> bytes:
        return b"".join((self._head, _json(delta), b',"finish_reason":', _json(reason), self._tail))

    def usage(self, usage: dict[str, int]) -> bytes:
        """The last chunk when the client asked for usage: no choices, the token counts."""
        return b"data: " + _json({**self.meta, "object": "chat.completion.chunk", "choices": [], "usage": usage}) + b"\n\n"
