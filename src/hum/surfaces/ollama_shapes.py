"""The shape of an Ollama API request, checked, and read as the OpenAI-form messages hum's chat doors share.

Ollama's errors are `{"error": "..."}` with an HTTP status; its tool calls
carry no ids (arguments are objects), so each result is matched to the call
before it by order, as Ollama itself does.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hum.surfaces.http import SurfaceError

ROLES = ("system", "user", "assistant", "tool")

# A model name with Ollama's default tag names the same worker.
DEFAULT_TAG = ":latest"

# `options` hum carries out itself; every other option is a setting of the worker, which keeps its own.
HONOURED_OPTIONS = ("stop",)


def ollama_error(exc: SurfaceError) -> web.Response:
    return web.json_response({"error": exc.message}, status=exc.status)


def _bad(param: str, message: str) -> SurfaceError:
    return SurfaceError(400, f"{param}: {message}", code="bad-request", param=param)


def worker_of(name: Any, models: list[str]) -> str:
    """The worker an Ollama model name names (`scripted` or `scripted:latest`), or Ollama's 404."""
    if not isinstance(name, str) or not name:
        raise _bad("model", "must be a non-empty string")
    plain = name.removesuffix(DEFAULT_TAG)
    if plain not in models:
        raise SurfaceError(404, f"model {name[:80]!r} not found: the workers of this humd are {', '.join(models)}", code="unknown-model")
    return plain


def _calls(msg: dict[str, Any], param: str, ids: list[str]) -> list[dict[str, Any]]:
    calls = msg.get("tool_calls")
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise _bad(f"{param}.tool_calls", "must be a list")
    out = []
    for j, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise _bad(f"{param}.tool_calls[{j}].function.name", "must be a non-empty string")
        args = fn.get("arguments", {})
        if not isinstance(args, dict | str):
            raise _bad(f"{param}.tool_calls[{j}].function.arguments", "must be an object")
        cid = str(call.get("id") or f"{param}-{j}")
        ids.append(cid)
        out.append({"id": cid, "type": "function", "function": {"name": fn["name"], "arguments": args if isinstance(args, str) else json.dumps(args)}})
    return out


def check_chat(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`messages` as OpenAI-form messages; an empty list (Ollama's "load the model") gives []."""
    messages = body.get("messages", [])
    if not isinstance(messages, list):
        raise _bad("messages", "must be a list")
    out: list[dict[str, Any]] = []
    open_calls: list[str] = []
    for i, msg in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _bad(param, "must be an object")
        role = msg.get("role")
        if role not in ROLES:
            raise _bad(f"{param}.role", f"is {str(role)[:40]!r}, not one of {', '.join(ROLES)}")
        content = msg.get("content", "")
        if not isinstance(content, str):
            raise _bad(f"{param}.content", "must be a string")
        converted: dict[str, Any] = {"role": role, "content": content}
        if role == "assistant":
            open_calls = []
            calls = _calls(msg, param, open_calls)
            if calls:
                converted["tool_calls"] = calls
        elif role == "tool":
            if not open_calls:
                raise _bad(f"{param}.role", "a tool message must answer a tool call of the assistant message before it")
            converted["tool_call_id"] = open_calls.pop(0)
        out.append(converted)
    if out and out[-1]["role"] not in ("user", "tool"):
        raise _bad(f"messages[{len(out) - 1}].role", "must be user or tool: the last message is what gets answered")
    return out


def check_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`tools`: OpenAI-style function specs, as Ollama takes them."""
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _bad("tools", "must be a list")
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise _bad(f"tools[{i}].function.name", "must be a non-empty string")
    return tools


def check_settings(body: dict[str, Any]) -> tuple[list[str], str]:
    """`options`, `format` and `keep_alive`, checked: the stop sequences, and what `format` asks of the model."""
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise _bad("options", "must be an object")
    stops = options.get("stop") or []
    if isinstance(stops, str):
        stops = [stops]
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise _bad("options.stop", "must be a list of non-empty strings")
    keep = body.get("keep_alive")
    if keep is not None and not isinstance(keep, str | int | float):
        raise _bad("keep_alive", "must be a duration such as \"5m\" or a number of seconds")
    fmt = body.get("format")
    if fmt in (None, ""):
        return stops, ""
    if fmt == "json":
        return stops, "Answer with one JSON value and nothing else."
    if isinstance(fmt, dict):
        return stops, f"Answer with one JSON value matching this JSON Schema, and nothing else: {json.dumps(fmt)}"
    raise _bad("format", "must be \"json\" or a JSON Schema object")
