"""The shape of an Anthropic Messages request, checked, and read as the OpenAI-form messages hum's chat doors share.

Every field the door reads is checked here first, so a malformed block, a
`tool_result` without its `tool_use` or a bad `tools` entry is a 400 naming the
field (`messages.2.content.0.tool_use_id`, as the Messages API names them),
never a 500 and never a prompt. Fields hum has no use for (`thinking`,
`cache_control`, `metadata`, `output_config`, `context_management`, images,
documents...) are accepted and left out.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from hum.surfaces.http import SurfaceError

# The Messages API's error types by HTTP status (its docs' table).
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error", 408: "timeout_error", 409: "invalid_request_error", 410: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 504: "timeout_error"}

# A Messages request's `stop_sequences` are short markers; more than this is a mistake, not a use.
MAX_STOP_SEQUENCES = 16

# `count_tokens` is an estimate (hum's workers each count their own way): this many characters a token.
CHARS_PER_TOKEN = 4

# Blocks a user or assistant message may carry that hum reads; any other block type is skipped.
_USER_BLOCKS = ("text", "tool_result")
_ASSISTANT_BLOCKS = ("text", "tool_use")


def anthropic_error(exc: SurfaceError) -> web.Response:
    """A `SurfaceError` as the Messages API shapes its errors."""
    kind = "api_error" if exc.status >= 500 else _ERROR_TYPES.get(exc.status, "invalid_request_error")
    return web.json_response({"type": "error", "error": {"type": kind, "message": exc.message}}, status=exc.status)


def _bad(param: str, message: str) -> SurfaceError:
    return SurfaceError(400, f"{param}: {message}", code="bad-request", param=param)


def _text_of(content: Any, param: str) -> str:
    """A string, or a list of blocks of which the text ones count (a `tool_result`'s or `system`'s content)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(param, "must be a string or a list of content blocks")
    parts = []
    for j, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _bad(f"{param}.{j}", "must be a content block with a `type`")
        if block["type"] == "text":
            if not isinstance(block.get("text"), str):
                raise _bad(f"{param}.{j}.text", "must be a string")
            parts.append(block["text"])
    return "\n\n".join(parts)


def _blocks(msg: dict[str, Any], param: str) -> list[dict[str, Any]]:
    content = msg.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise _bad(f"{param}.content", "must be a string or a list of content blocks")
    for j, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _bad(f"{param}.content.{j}", "must be a content block with a `type`")
    return content


def _assistant(msg: dict[str, Any], param: str) -> tuple[dict[str, Any], list[str]]:
    """An assistant message in OpenAI form, and the ids of its `tool_use` blocks."""
    text, calls = [], []
    for j, block in enumerate(_blocks(msg, param)):
        where = f"{param}.content.{j}"
        if block["type"] == "text":
            text.append(_text_of([block], f"{param}.content"))
        elif block["type"] == "tool_use":
            for key in ("id", "name"):
                if not isinstance(block.get(key), str) or not block[key]:
                    raise _bad(f"{where}.{key}", "must be a non-empty string")
            if not isinstance(block.get("input"), dict):
                raise _bad(f"{where}.input", "must be an object")
            calls.append({"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": json.dumps(block["input"])}})
        elif block["type"] == "tool_result":
            raise _bad(f"{where}.type", "`tool_result` blocks belong in user messages")
    out: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if calls:
        out["tool_calls"] = calls
    return out, [c["id"] for c in calls]


def _user(msg: dict[str, Any], param: str, asked: list[str]) -> list[dict[str, Any]]:
    """A user message in OpenAI form: a tool message per `tool_result` (each answering a `tool_use` just before), then the text."""
    results, text = [], []
    for j, block in enumerate(_blocks(msg, param)):
        where = f"{param}.content.{j}"
        if block["type"] == "text":
            text.append(_text_of([block], f"{param}.content"))
        elif block["type"] == "tool_result":
            use = block.get("tool_use_id")
            if not isinstance(use, str) or not use:
                raise _bad(f"{where}.tool_use_id", "must be a non-empty string")
            if use not in asked:
                raise _bad(f"{where}.tool_use_id", f"unexpected `tool_use_id` {use[:60]!r}: each `tool_result` block must have a corresponding `tool_use` block in the previous message")
            body = _text_of(block.get("content"), f"{where}.content")
            results.append({"role": "tool", "tool_call_id": use, "content": ("(error) " if block.get("is_error") else "") + body})
        elif block["type"] == "tool_use":
            raise _bad(f"{where}.type", "`tool_use` blocks belong in assistant messages")
    missing = [i for i in asked if i not in {r["tool_call_id"] for r in results}]
    if missing:
        raise _bad(f"{param}.content", f"`tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(missing)}")
    return [*results, *([{"role": "user", "content": "\n\n".join(text)}] if text else [])]


def check_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`system` and `messages`, checked, as OpenAI-form messages (system first) ending with the user's turn."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "must be a non-empty list")
    systems = [_text_of(body.get("system"), "system")]
    out: list[dict[str, Any]] = []
    asked: list[str] = []
    for i, msg in enumerate(messages):
        param = f"messages.{i}"
        if not isinstance(msg, dict):
            raise _bad(param, "must be an object")
        role = msg.get("role")
        if role == "system":  # the mid-conversation system beta: more instructions, not a turn
            systems.append(_text_of(msg.get("content"), f"{param}.content"))
            continue
        if role == "assistant":
            if asked:
                raise _bad(f"{param}.role", f"the `tool_use` ids {', '.join(asked)} need their `tool_result` blocks in a user message first")
            converted, asked = _assistant(msg, param)
            out.append(converted)
        elif role == "user":
            out.extend(_user(msg, param, asked))
            asked = []
        else:
            raise _bad(f"{param}.role", f"is {str(role)[:40]!r}, not `user` or `assistant`")
    if not out or out[-1]["role"] == "assistant":
        raise _bad(f"messages.{len(messages) - 1}.role", "must be `user`: the last message is what gets answered (prefilled answers are not supported)")
    system = "\n\n".join(s for s in systems if s)
    return ([{"role": "system", "content": system}] if system else []) + out


def check_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`tools` (`{name, description?, input_schema}`) as OpenAI function specs; server tools (with a `type`) are skipped."""
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _bad("tools", "must be a list")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _bad(f"tools.{i}", "must be an object")
        if tool.get("type") not in (None, "custom"):
            continue  # Anthropic's own server tools (web search, ...): hum's workers have none
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise _bad(f"tools.{i}.name", "must be a non-empty string")
        if tool.get("description") is not None and not isinstance(tool["description"], str):
            raise _bad(f"tools.{i}.description", "must be a string")
        if not isinstance(tool.get("input_schema"), dict):
            raise _bad(f"tools.{i}.input_schema", "must be a JSON Schema object")
        spec = {"name": tool["name"], "description": tool.get("description") or "", "parameters": tool["input_schema"]}
        out.append({"type": "function", "function": spec})
    return out


def check_limits(body: dict[str, Any], *, counting: bool = False) -> list[str]:
    """`model`, `max_tokens` (not when only counting) and `stop_sequences`, checked; returns the stop sequences."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _bad("model", "must be a non-empty string")
    max_tokens = body.get("max_tokens")
    if not counting and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise _bad("max_tokens", "must be a whole number of at least 1")
    stops = body.get("stop_sequences")
    if stops is None:
        return []
    if not isinstance(stops, list) or len(stops) > MAX_STOP_SEQUENCES or not all(isinstance(s, str) and s for s in stops):
        raise _bad("stop_sequences", f"must be a list of at most {MAX_STOP_SEQUENCES} non-empty strings")
    return stops


def estimate_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
    """An estimate of a request's input tokens: hum's workers count their own way, so this is characters / 4."""
    chars = sum(len(str(m.get("content") or "")) + len(json.dumps(m.get("tool_calls") or "")) for m in messages)
    chars += len(json.dumps(tools)) if tools else 0
    return max(1, math.ceil(chars / CHARS_PER_TOKEN))
