"""The Ollama door: its own listener (`hum up --ollama 127.0.0.1:11434`), for clients that default to Ollama's port.

Its paths collide with the AI SDK's `/api/chat`, so it is a second aiohttp
app on a second port: `/api/chat` and `/api/generate` (NDJSON streaming, or
one object with `"stream": false`), `/api/tags` and `/api/show` (hum's workers
as models), `/api/version`, and the OpenAI `/v1` door too (Ollama serves it).
A chat finds its hum as on `/v1` (`X-Hum-Sigil`, a session header, else the
transcript key); a generate without a header is a hum of its own.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hum.surfaces import openai
from hum.surfaces.access import make_auth, same_origin_writes
from hum.surfaces.answers import Answer, StopCutter
from hum.surfaces.app import Served
from hum.surfaces.http import (
    DEFAULT_MAX_BODY,
    HUMD_KEY,
    MAX_BODY_KEY,
    Handler,
    HumTap,
    HumTarget,
    SurfaceError,
    body_limit,
    json_errors,
    new_sid,
    read_json,
    write_or_gone,
)
from hum.surfaces.ollama_shapes import (
    check_chat,
    check_settings,
    check_tools,
    ollama_error,
    worker_of,
)
from hum.surfaces.openai import SIGIL_HEADER, choose_hum, petal_error, plan_prompt
from hum.surfaces.openai_messages import ToolSieve
from hum.wire.addresses import is_loopback
from hum.wire.tones import Tone

if TYPE_CHECKING:
    from hum.node.humd import Humd

log = logging.getLogger(__name__)

# What `/api/version` says: the Ollama API version whose shapes this door speaks (clients gate features on it).
OLLAMA_VERSION = "0.12.0"
# The default Ollama port, where clients look first.
DEFAULT_PORT = 11434
_DONE_REASON = {"length": "length", "max_tokens": "length", "tool_calls": "stop", "tool_use": "stop"}


@web.middleware
async def ollama_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Ollama's error shape (`{"error": "..."}`) for its own paths; `/v1` keeps OpenAI's."""
    if request.path.startswith("/v1"):
        return await handler(request)
    try:
        return await handler(request)
    except SurfaceError as exc:
        return ollama_error(exc)
    except web.HTTPRequestEntityTooLarge:
        return ollama_error(SurfaceError(413, f"request body is over the limit of {request.app[MAX_BODY_KEY]} bytes"))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return ollama_error(SurfaceError(exc.status, exc.reason))


def make_ollama_app(humd: Humd, *, token: str | None = None, max_body: int = DEFAULT_MAX_BODY, loopback_only: bool = True) -> web.Application:
    if not loopback_only and not token:
        raise ValueError("serving off loopback needs a bearer token")
    app = web.Application(client_max_size=max_body, middlewares=[json_errors, ollama_errors, same_origin_writes, make_auth(token, loopback_only), body_limit])
    app[HUMD_KEY] = humd
    app[MAX_BODY_KEY] = max_body
    app.router.add_get("/", running)
    app.router.add_get("/api/version", version)
    app.router.add_get("/api/tags", tags)
    app.router.add_get("/api/ps", tags)
    app.router.add_post("/api/show", show)
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/api/generate", generate)
    openai.add_routes(app)
    return app


async def serve_ollama(humd: Humd, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, token: str | None = None, max_body: int = DEFAULT_MAX_BODY, **runner: Any) -> Served:
    """Serve the Ollama door of `humd` on `host:port` (0 picks a free port)."""
    loopback = is_loopback(host)
    app = make_ollama_app(humd, token=None if loopback else token, max_body=max_body, loopback_only=loopback)
    run = web.AppRunner(app, access_log=None, **({"shutdown_timeout": 1.0} | runner))
    await run.setup()
    site = web.TCPSite(run, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    shown = f"[{host}]" if ":" in host else host
    return Served(f"http://{shown}:{bound}", run)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def running(request: web.Request) -> web.Response:
    return web.Response(text="Ollama is running (hum)")


async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": OLLAMA_VERSION})


def _model_entry(name: str) -> dict[str, Any]:
    details = {"format": "hum", "family": "hum", "families": ["hum"], "parameter_size": "", "quantization_level": ""}
    return {"name": name, "model": name, "modified_at": _now(), "size": 0, "digest": "", "details": details}


async def tags(request: web.Request) -> web.Response:
    return web.json_response({"models": [_model_entry(m) for m in request.app[HUMD_KEY].brood.models()]})


async def show(request: web.Request) -> web.Response:
    humd = request.app[HUMD_KEY]
    body = await read_json(request)
    name = worker_of(body.get("model") or body.get("name"), humd.brood.models())
    entry = _model_entry(name)
    return web.json_response(
        {"modelfile": f"# hum worker {name}", "parameters": "", "template": "", "details": entry["details"], "model_info": {}, "capabilities": ["completion", "tools"], "modified_at": entry["modified_at"]}
    )


def _loaded(model: str, key: str, text_field: Any) -> web.Response:
    """Ollama's answer to an empty request (load or unload the model): hum's brood keeps its workers itself."""
    return web.json_response({"model": model, "created_at": _now(), key: text_field, "done": True, "done_reason": "load"})


async def chat(request: web.Request) -> web.StreamResponse:
    humd = request.app[HUMD_KEY]
    body = await read_json(request)
    model = worker_of(body.get("model"), humd.brood.models())
    messages, tools = check_chat(body), check_tools(body)
    stops, asked_format = check_settings(body)
    if not messages:
        return _loaded(model, "message", {"role": "assistant", "content": ""})
    if asked_format:
        messages = [*messages[:-1], {"role": "system", "content": asked_format}, messages[-1]]
    target = await choose_hum(humd, request, messages)
    text, fields, native = plan_prompt(humd, target, messages, tools, model)
    return await _bloom(request, target, text, fields, AnswerShape("message", model, stops, bool(tools) and not native), body.get("stream", True) is not False)


async def generate(request: web.Request) -> web.StreamResponse:
    humd = request.app[HUMD_KEY]
    body = await read_json(request)
    model = worker_of(body.get("model"), humd.brood.models())
    stops, asked_format = check_settings(body)
    prompt, system = body.get("prompt", ""), body.get("system")
    if not isinstance(prompt, str):
        raise SurfaceError(400, "prompt: must be a string", code="bad-request")
    if system is not None and not isinstance(system, str):
        raise SurfaceError(400, "system: must be a string", code="bad-request")
    if not prompt:
        return _loaded(model, "response", "")
    messages = [*([{"role": "system", "content": system}] if system else []), *([{"role": "system", "content": asked_format}] if asked_format else []), {"role": "user", "content": prompt}]
    named = any(request.headers.get(h) for h in (SIGIL_HEADER, *openai.SESSION_HEADERS))
    target = await choose_hum(humd, request, messages) if named else HumTarget.for_sid(humd, new_sid("ollama"))
    text, fields, _ = plan_prompt(humd, target, messages, [], model)
    return await _bloom(request, target, text, fields, AnswerShape("response", model, stops, False), body.get("stream", True) is not False)


class AnswerShape:
    """How an Ollama answer is written: `message` objects (chat) or `response` text (generate)."""

    def __init__(self, key: str, model: str, stops: list[str], text_tools: bool) -> None:
        self.key, self.model, self.stops, self.text_tools = key, model, stops, text_tools
        self.started = time.monotonic_ns()

    def piece(self, text: str) -> dict[str, Any]:
        value: Any = {"role": "assistant", "content": text} if self.key == "message" else text
        return {"model": self.model, "created_at": _now(), self.key: value, "done": False}

    def last(self, answer: Answer, text: str = "") -> dict[str, Any]:
        out = self.piece(text)
        calls = [{"id": cid, "function": {"name": name, "arguments": args}} for cid, name, args in answer.tool_calls()]
        if calls and self.key == "message":
            out["message"]["tool_calls"] = calls
        usage, took = answer.usage(), time.monotonic_ns() - self.started
        reason = "stop" if answer.cutter.hit else _DONE_REASON.get(answer.finish_reason(), "stop")
        return out | {"done": True, "done_reason": reason, "total_duration": took, "load_duration": 0, "prompt_eval_count": usage["input_tokens"], "prompt_eval_duration": 0, "eval_count": usage["output_tokens"], "eval_duration": took}


async def _bloom(request: web.Request, target: HumTarget, text: str, fields: dict[str, Any], shape: AnswerShape, stream: bool) -> web.StreamResponse:
    humd = request.app[HUMD_KEY]
    tap = HumTap(humd, "ollama")
    try:
        req = tap.prompt(target, text, **fields)
        petals = tap.bloom(req)
        prompt = await anext(petals)
        answer = Answer(str(prompt["sigil"]), int(prompt["wane"]), shape.model, ToolSieve(shape.text_tools), StopCutter(shape.stops), tap)
        if not stream:
            said = ""
            async for tone in petals:
                if tone.chi == "error":
                    raise petal_error(tone)
                said += answer.text(tone)
            return web.json_response(shape.last(answer, said), headers={SIGIL_HEADER: answer.sigil})
        return await _ndjson(request, answer, petals, shape)
    finally:
        tap.close()


async def _ndjson(request: web.Request, answer: Answer, petals: AsyncIterator[Tone], shape: AnswerShape) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", SIGIL_HEADER: answer.sigil})
    await resp.prepare(request)

    async def line(obj: dict[str, Any]) -> bool:
        return await write_or_gone(resp, (json.dumps(obj, separators=(",", ":")) + "\n").encode())

    said = ""
    async for tone in petals:
        if tone.chi == "error":
            await line({"error": petal_error(tone).message})  # Ollama's mid-stream error: one object with `error`
            await resp.write_eof()
            return resp
        said = answer.text(tone)
        if tone.chi == "finish":
            break
        if said and not await line(shape.piece(said)):
            return resp  # the client left; the bloom goes on in the hum
    await line(shape.last(answer, said if answer.finish is not None else ""))
    await resp.write_eof()
    return resp
