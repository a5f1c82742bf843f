"""A worker that keeps one long-lived Claude Code CLI process per hum (a claude-cli nest)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hum.brood.asks import ALLOW, new_permit_id
from hum.errors import WorkerError
from hum.interfaces import Delta, Done, PermissionAsk, Turn, Usage, Worker, WorkerEvent

# Session ids are uuid5(sigil) in this namespace: the same hum resumes the same
# claude session after a humd restart, and no two hums share one.
SESSION_NAMESPACE = uuid.UUID("5d1c8a52-3f7e-4b1e-9a67-68756d627264")

BASE_ARGS = (
    "-p",
    "--input-format",
    "stream-json",
    "--output-format",
    "stream-json",
    "--verbose",  # stream-json output requires it
    "--include-partial-messages",  # token-level `stream_event`s, not whole messages
    # Ask the host (us, over stdin/stdout control messages) before using a tool,
    # as the Agent SDK does: each ask becomes a `permission-ask` petal.
    "--permission-prompt-tool",
    "stdio",
)

# `--permission-mode` values the CLI accepts (HUM_CLAUDE_PERMISSION_MODE).
PERMISSION_MODES = ("acceptEdits", "auto", "bypassPermissions", "manual", "dontAsk", "plan")

# What claude tells its model when a person denied a tool without saying why.
DENIED_WITHOUT_REASON = "The user denied this tool use."

# A daemon-spawned CLI must not update itself or phone home on the user's behalf.
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
}

# One stdout line is one JSON event; the `init` line alone lists every tool and
# command, and an assistant message can carry a long answer, so 64 KiB is too small.
LINE_LIMIT_BYTES = 16 * 1024 * 1024

# Lines of stderr kept to explain a crash in one error petal.
STDERR_TAIL_LINES = 20

# How long `close` waits for claude to exit after stdin closes before killing it.
EXIT_GRACE_SECONDS = 5.0

# HTTP statuses claude keeps retrying (with backoff, for minutes) that will never succeed.
AUTH_STATUSES = (401, 403)

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def session_id_for(sigil: str) -> str:
    """The claude session id that belongs to a hum, stable across restarts."""
    return str(uuid.uuid5(SESSION_NAMESPACE, sigil))


class ClaudeCliWorker(Worker):
    """Drives `claude -p` in stream-json mode, one process and one claude session per hum."""

    kind = "claude-cli"

    def __init__(
        self,
        sigil: str,
        *,
        binary: str | Path = "claude",
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        model: str | None = None,
        permission_mode: str | None = None,
        allowed_tools: Sequence[str] = (),
        extra_args: Sequence[str] = (),
    ) -> None:
        self.sigil = sigil
        self.session_id = session_id_for(sigil)
        self.binary = str(binary)
        self.env = {**(os.environ if env is None else env), **QUIET_ENV}
        self.cwd = str(cwd) if cwd else None
        self.model = model
        self.permission_mode = permission_mode
        self.allowed_tools = list(allowed_tools)
        self.extra_args = list(extra_args)
        # Open asks of the running bloom: permit id -> (claude's request id, the input shown).
        self._asks: dict[str, tuple[str, dict[str, Any]]] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._readers: list[asyncio.Task[None]] = []
        # Transcript turns the claude session already holds; None: unknown (resumed).
        self._known_turns: int | None = None
        self._cancelled = False
        self._requests = 0

    # -- process

    def _session_files(self) -> list[Path]:
        home = self.env.get("CLAUDE_CONFIG_DIR") or str(
            Path(self.env.get("HOME", "~")).expanduser() / ".claude"
        )
        return list((Path(home) / "projects").glob(f"*/{self.session_id}.jsonl"))

    def _session_exists(self) -> bool:
        return bool(self._session_files())

    def _set_aside_empty_session(self) -> None:
        """claude found no conversation in its session file (it died before writing one):
        keep the file under another name, or a fresh start under the same id is refused as "in use"."""
        for path in self._session_files():
            path.rename(path.with_name(f"{path.name}.empty-{uuid.uuid4().hex[:8]}"))

    async def warm(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            await self._spawn(resume=self._session_exists())

    async def _spawn(self, *, resume: bool) -> None:
        args = [*BASE_ARGS, "--resume" if resume else "--session-id", self.session_id]
        if self.model:
            args += ["--model", self.model]
        if self.permission_mode:
            args += ["--permission-mode", self.permission_mode]
        if self.allowed_tools:
            args += ["--allowedTools", ",".join(self.allowed_tools)]
        args += self.extra_args
        try:
            self.proc = await asyncio.create_subprocess_exec(
                self.binary,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
                limit=LINE_LIMIT_BYTES,
            )
        except FileNotFoundError as exc:
            raise WorkerError(
                "claude-missing",
                f"the claude CLI is not installed ({self.binary} not found); "
                "install it with `npm install -g @anthropic-ai/claude-code`",
            ) from exc
        except PermissionError as exc:
            raise WorkerError("claude-missing", f"cannot run {self.binary}: {exc}") from exc
        self._known_turns = None if resume else 0
        self._events = asyncio.Queue()
        self._stderr.clear()
        self._readers = [
            asyncio.create_task(self._read_stdout(self.proc, self._events)),
            asyncio.create_task(self._read_stderr(self.proc)),
        ]

    @staticmethod
    async def _read_stdout(
        proc: asyncio.subprocess.Process, events: asyncio.Queue[dict[str, Any] | None]
    ) -> None:
        assert proc.stdout is not None
        try:
            async for line in proc.stdout:
                with contextlib.suppress(json.JSONDecodeError):
                    event = json.loads(line)
                    if isinstance(event, dict):
                        events.put_nowait(event)
        except (ValueError, ConnectionError):  # an over-long line: treat like a dead pipe
            pass
        finally:
            events.put_nowait(None)  # end of stream: the process is gone or going

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        with contextlib.suppress(ValueError, ConnectionError):
            async for line in proc.stderr:
                self._stderr.append(line.decode("utf-8", "replace").rstrip())

    def healthy(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise await self._crash("claude stopped reading its input") from exc

    async def _crash(self, what: str) -> WorkerError:
        if self.proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), EXIT_GRACE_SECONDS)
        code = self.proc.returncode if self.proc else None
        tail = " | ".join(line for line in self._stderr if line)[-400:]
        return WorkerError(
            "worker-crash", f"{what} (exit code {code}){': ' + tail if tail else ''}"
        )

    # -- blooms

    def _message_for(self, transcript: Sequence[Turn]) -> str:
        """The text to send: the new user turn, plus any history the claude session lacks."""
        last = transcript[-1].text if transcript and transcript[-1].role == "user" else ""
        known = len(transcript) - 1 if self._known_turns is None else self._known_turns
        missing = list(transcript[known:-1]) if transcript else []
        if not missing:
            return last
        # The hum moved here from another worker: give claude the part it has not seen.
        history = "\n\n".join(f"[{t.role}]\n{t.text}" for t in missing)
        return f"Earlier in this conversation:\n\n{history}\n\n[user]\n{last}"

    async def bloom(
        self, transcript: Sequence[Turn], *, model: str | None = None
    ) -> AsyncIterator[WorkerEvent]:
        await self.warm()
        self._cancelled = False
        self._asks.clear()
        await self._send(_user_message(self._message_for(transcript)))
        retried_fresh = False
        while True:
            event = await self._events.get()
            if event is None:
                raise await self._crash("claude exited mid-bloom")
            kind = event.get("type")
            if kind == "control_request":
                ask = await self._control_request(event)
                if ask is not None:
                    yield ask
            elif kind == "stream_event":
                delta = self._text_delta(event)
                if delta is not None:
                    yield delta
            elif kind == "system" and event.get("subtype") == "api_retry":
                await self._api_retry(event)
            elif kind == "result":
                if self._cancelled:
                    # The session kept the prompt and the partial answer; whether the hum
                    # kept that partial answer is the engine's call, so stop counting.
                    self._known_turns = None
                    yield Done("cancelled", _usage(event))
                    return
                if _session_lost(event) and not retried_fresh:
                    retried_fresh = True
                    await self._restart_fresh(transcript)
                    continue
                yield self._finished(event, transcript)
                return

    def _text_delta(self, event: dict[str, Any]) -> Delta | None:
        """A `stream_event` that carries answer text (and the bloom is not cancelled) as a Delta."""
        inner = event.get("event") or {}
        delta = inner.get("delta") or {}
        if (
            inner.get("type") == "content_block_delta"
            and delta.get("type") == "text_delta"
            and delta.get("text")
            and not self._cancelled
        ):
            return Delta(delta["text"], block_idx=int(inner.get("index") or 0))
        return None

    async def _api_retry(self, event: dict[str, Any]) -> None:
        """claude retries its API: a refused key ends the bloom now, anything else is waited out."""
        if event.get("error_status") in AUTH_STATUSES:
            await self.cancel()  # stop claude's minutes of futile retries
            await self._drain_to_result()
            raise WorkerError(
                "upstream-auth",
                f"claude's API refused the key ({event.get('error_status')}: {event.get('error')})",
            )

    async def _restart_fresh(self, transcript: Sequence[Turn]) -> None:
        """Its session file is gone (new machine, cleared HOME): start it afresh and say it all again."""
        await self._stop_process()
        self._set_aside_empty_session()
        await self._spawn(resume=False)
        await self._send(_user_message(self._message_for(transcript)))

    def _finished(self, event: dict[str, Any], transcript: Sequence[Turn]) -> Done:
        """The bloom's `result`: its Done, or a `claude-error` if claude reported one."""
        if event.get("is_error"):
            self._known_turns = None  # the session kept the prompt that failed
            errors = " ".join(str(e) for e in event.get("errors") or [])
            detail = errors or str(event.get("result") or event.get("subtype"))
            raise WorkerError("claude-error", f"claude: {detail[:300]}")
        self._known_turns = len(transcript) + 1  # the session now holds our reply too
        finish = _FINISH.get(event.get("stop_reason") or "end_turn", "stop")
        return Done(finish, _usage(event))

    async def _control_request(self, event: dict[str, Any]) -> PermissionAsk | None:
        """claude asks its host something: a `can_use_tool` becomes an ask; anything else is refused at once."""
        request_id = str(event.get("request_id") or "")
        request = event.get("request") or {}
        if request.get("subtype") != "can_use_tool" or self._cancelled:
            why = "the bloom was cancelled" if self._cancelled else f"hum does not answer {request.get('subtype')!r}"
            if request.get("subtype") == "can_use_tool":
                await self._answer(request_id, {"behavior": "deny", "message": why})
            else:
                await self._send({"type": "control_response", "response": {"subtype": "error", "request_id": request_id, "error": why}})
            return None
        tool = str(request.get("display_name") or request.get("tool_name") or "a tool")
        tool_input = request.get("input") if isinstance(request.get("input"), dict) else {}
        description = str(request.get("description") or "").strip()
        question = f"Claude wants to use {tool}" + (f": {description}" if description else "")
        permit_id = new_permit_id()
        self._asks[permit_id] = (request_id, tool_input)
        return PermissionAsk(permit_id, str(request.get("tool_name") or tool), tool_input, question)

    async def _answer(self, request_id: str, decision: dict[str, Any]) -> None:
        response = {"subtype": "success", "request_id": request_id, "response": decision}
        await self._send({"type": "control_response", "response": response})

    async def release(self, permit_id: str, decision: str, message: str | None) -> None:
        """A person answered: claude runs the tool with exactly the input shown, or tells its model why not."""
        asked = self._asks.pop(permit_id, None)
        if asked is None or not self.healthy():
            return
        request_id, shown = asked
        if decision == ALLOW:
            await self._answer(request_id, {"behavior": "allow", "updatedInput": shown})
        else:
            await self._answer(request_id, {"behavior": "deny", "message": message or DENIED_WITHOUT_REASON})

    async def _drain_to_result(self) -> None:
        while (event := await self._events.get()) is not None:
            if event.get("type") == "result":
                return

    async def cancel(self) -> None:
        self._cancelled = True
        if not self.healthy():
            return
        for permit_id in list(self._asks):  # claude waits on these: answer before interrupting
            with contextlib.suppress(WorkerError):
                await self.release(permit_id, "deny", "the bloom was cancelled")
        self._requests += 1
        # The SDK's interrupt: claude aborts the API request (hangs up) and ends the turn.
        interrupt = {
            "type": "control_request",
            "request_id": f"hum-interrupt-{self._requests}",
            "request": {"subtype": "interrupt"},
        }
        with contextlib.suppress(WorkerError):
            await self._send(interrupt)

    async def _stop_process(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.returncode is None:
            if proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), EXIT_GRACE_SECONDS)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in self._readers:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._readers, return_exceptions=True)

    async def close(self) -> None:
        await self._stop_process()


def _usage(result: dict[str, Any]) -> Usage:
    """Tokens of the turn from claude's `result` line; cached prompt tokens count as input too."""
    u = result.get("usage") or {}
    prompt = sum(
        int(u.get(key) or 0)
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return Usage(prompt, int(u.get("output_tokens") or 0))


def _user_message(text: str) -> dict[str, Any]:
    """A user turn in claude's stream-json input."""
    return {"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": text}]}}


def _session_lost(event: dict[str, Any]) -> bool:
    """A `result` saying claude has no session to resume (its file is gone)."""
    errors = " ".join(str(e) for e in event.get("errors") or [])
    return bool(event.get("is_error")) and "No conversation found" in errors
