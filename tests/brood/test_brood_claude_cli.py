"""The claude-cli worker driving the real Claude Code CLI against the local Anthropic double."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from anthropic_double import ToolUse
from brood_helpers import TEST_TIMEOUT_SECONDS, collect, text_of

from hum.brood.claude_cli import ClaudeCliWorker, session_id_for
from hum.brood.pool import Brood
from hum.errors import WorkerError
from hum.interfaces import Delta, PermissionAsk, Turn

pytestmark = pytest.mark.slow

SIGIL = "hum-claude-test"


@pytest.fixture(scope="module")
def claude_bin() -> Path:
    """The npm-installed CLI; its absence fails the test (the suite installs it), never skips."""
    npm_dir = Path(os.environ.get("HUM_NPM_DIR", "~/.cache/hum/npm")).expanduser()
    binary = npm_dir / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        pytest.fail(
            f"{binary} is missing: run `make test`, which installs tools/package.json there"
        )
    return binary


@pytest.fixture
def claude_env(tmp_path, anthropic_double) -> dict[str, str]:
    """An offline CLI: scratch HOME, the double as its API, a key the double accepts."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": anthropic_double.base_url,
        "ANTHROPIC_API_KEY": anthropic_double.api_key,
    }


def brood_for(claude_bin, claude_env, tmp_path, **kw) -> Brood:
    def factory(sigil: str) -> ClaudeCliWorker:
        return ClaudeCliWorker(
            sigil,
            binary=claude_bin,
            env=kw.get("env", claude_env),
            cwd=tmp_path,
            extra_args=["--bare"],
        )

    return Brood({"claude-cli": factory}, "claude-cli")


def texts(request_body) -> list[tuple[str, str]]:
    """(role, text) of a Messages request, without Claude Code's own empty system items."""
    out = []
    for m in request_body["messages"]:
        content = m["content"]
        text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
        if text:
            out.append((m["role"], text))
    return out


async def bloom(brood, transcript):
    return await asyncio.wait_for(collect(brood.bloom(SIGIL, transcript)), TEST_TIMEOUT_SECONDS)


async def test_one_process_holds_a_multi_turn_hum(
    claude_bin, claude_env, anthropic_double, tmp_path
):
    brood = brood_for(claude_bin, claude_env, tmp_path)
    first = [Turn("user", "hello hum")]
    deltas, done = await bloom(brood, first)
    assert text_of(deltas) == "you said: hello hum"
    assert len(deltas) == 4  # one chunk per streamed text_delta
    assert done.finish_reason == "stop"
    assert done.usage.output_tokens == 4 and done.usage.input_tokens > 0
    pid = (await brood.cell(SIGIL)).proc.pid

    second = first + [Turn("assistant", text_of(deltas)), Turn("user", "and again")]
    deltas, done = await bloom(brood, second)
    assert text_of(deltas) == "you said: and again"
    assert (await brood.cell(SIGIL)).proc.pid == pid
    assert texts(anthropic_double.message_requests()[-1]) == [
        ("user", "hello hum"),
        ("assistant", "you said: hello hum"),
        ("user", "and again"),
    ]
    await brood.close()


async def test_the_session_survives_a_humd_restart(
    claude_bin, claude_env, anthropic_double, tmp_path
):
    brood = brood_for(claude_bin, claude_env, tmp_path)
    deltas, _ = await bloom(brood, [Turn("user", "remember me")])
    await brood.close()  # humd goes away; the claude session stays on disk

    sessions = list(
        Path(claude_env["HOME"], ".claude", "projects").glob(f"*/{session_id_for(SIGIL)}.jsonl")
    )
    assert sessions, "claude did not store the session under the sigil's id"

    reborn = brood_for(claude_bin, claude_env, tmp_path)
    transcript = [
        Turn("user", "remember me"),
        Turn("assistant", text_of(deltas)),
        Turn("user", "do you?"),
    ]
    deltas, done = await bloom(reborn, transcript)
    assert text_of(deltas) == "you said: do you?"
    # claude resumed: the upstream got the earlier turns from claude's session, sent once.
    assert texts(anthropic_double.message_requests()[-1]) == [
        ("user", "remember me"),
        ("assistant", "you said: remember me"),
        ("user", "do you?"),
    ]
    await reborn.close()


async def test_a_hum_from_another_worker_brings_its_history(
    claude_bin, claude_env, anthropic_double, tmp_path
):
    brood = brood_for(claude_bin, claude_env, tmp_path)
    transcript = [
        Turn("user", "what is a hum?"),
        Turn("assistant", "a conversation that follows you"),
        Turn("user", "say more"),
    ]
    await bloom(brood, transcript)
    sent = texts(anthropic_double.message_requests()[-1])[-1][1]
    assert "what is a hum?" in sent and "a conversation that follows you" in sent
    assert sent.endswith("say more")
    await brood.close()


async def test_cancel_interrupts_claude_and_it_hangs_up(
    claude_bin, claude_env, anthropic_double, tmp_path
):
    anthropic_double.endless = True
    brood = brood_for(claude_bin, claude_env, tmp_path)
    stream = brood.bloom(SIGIL, [Turn("user", "talk forever")])
    first = await asyncio.wait_for(anext(stream), TEST_TIMEOUT_SECONDS)
    assert isinstance(first, Delta)
    await brood.cancel(SIGIL)
    rest, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    assert rest == []
    assert done.finish_reason == "cancelled"
    await asyncio.wait_for(anthropic_double.disconnected.wait(), TEST_TIMEOUT_SECONDS)
    # The same process serves the next bloom.
    anthropic_double.endless = False
    deltas, done = await bloom(brood, [Turn("user", "talk forever"), Turn("user", "short now")])
    assert text_of(deltas) == "you said: short now"
    await brood.close()


async def test_a_killed_claude_is_worker_crash_and_the_next_bloom_recovers(
    claude_bin, claude_env, anthropic_double, tmp_path
):
    anthropic_double.endless = True
    brood = brood_for(claude_bin, claude_env, tmp_path)
    stream = brood.bloom(SIGIL, [Turn("user", "go on")])
    await asyncio.wait_for(anext(stream), TEST_TIMEOUT_SECONDS)
    (await brood.cell(SIGIL)).proc.kill()
    with pytest.raises(WorkerError) as err:
        await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    assert err.value.qualifier == "worker-crash"
    anthropic_double.endless = False
    deltas, done = await bloom(brood, [Turn("user", "go on"), Turn("user", "still there?")])
    # A fresh process answers; whatever the killed one failed to save is re-sent as history.
    assert text_of(deltas).startswith("you said: ") and text_of(deltas).endswith("still there?")
    assert done.finish_reason == "stop"
    await brood.close()


async def test_a_wrong_key_is_upstream_auth_not_minutes_of_retries(
    claude_bin, claude_env, anthropic_double, tmp_path
):
    brood = brood_for(
        claude_bin, claude_env, tmp_path, env=claude_env | {"ANTHROPIC_API_KEY": "wrong"}
    )
    with pytest.raises(WorkerError) as err:
        await bloom(brood, [Turn("user", "hello")])
    assert err.value.qualifier == "upstream-auth"
    await brood.close()


async def test_an_error_result_is_an_error_petal(
    claude_bin, claude_env, anthropic_double, tmp_path
):
    anthropic_double.reject = "prompt is too long: 999999 tokens > 200000 maximum"
    brood = brood_for(claude_bin, claude_env, tmp_path)
    with pytest.raises(WorkerError) as err:
        await bloom(brood, [Turn("user", "hello")])
    assert err.value.qualifier == "claude-error"
    assert "prompt is too long" in err.value.message.lower()
    # The process is still fine for the next prompt.
    anthropic_double.reject = None
    deltas, _ = await bloom(brood, [Turn("user", "hello"), Turn("user", "shorter")])
    assert text_of(deltas) == "you said: shorter"
    await brood.close()


async def test_a_missing_claude_is_claude_missing(tmp_path):
    brood = Brood(
        {"claude-cli": lambda s: ClaudeCliWorker(s, binary=tmp_path / "no-claude")}, "claude-cli"
    )
    with pytest.raises(WorkerError) as err:
        await bloom(brood, [Turn("user", "hello")])
    assert err.value.qualifier == "claude-missing"
    assert "npm install" in err.value.message


def touch_then_report(body) -> str | list[ToolUse]:
    """The double's model: ask to run `touch approved.txt`, then say what the tool answered."""
    last = (body.get("messages") or [{}])[-1]
    results = [b for b in last.get("content") or [] if isinstance(b, dict) and b.get("type") == "tool_result"]
    if not results:
        return [ToolUse("Bash", {"command": "touch approved.txt", "description": "Create approved.txt"})]
    result = results[0]
    content = result.get("content")
    text = content if isinstance(content, str) else " ".join(str(b.get("text", "")) for b in content or [])
    return f"tool {'refused' if result.get('is_error') else 'ran'}: {text}"


async def ask_of(stream) -> PermissionAsk:
    async for event in stream:
        if isinstance(event, PermissionAsk):
            return event
    raise AssertionError("claude never asked")


async def test_claude_asks_before_it_runs_a_command_and_runs_it_once_allowed(
    claude_bin, claude_env, anthropic_double, tmp_path
):
    anthropic_double.reply = touch_then_report
    brood = brood_for(claude_bin, claude_env, tmp_path)
    stream = brood.bloom(SIGIL, [Turn("user", "make the file")])
    ask = await asyncio.wait_for(ask_of(stream), TEST_TIMEOUT_SECONDS)
    assert ask.tool == "Bash" and ask.input["command"] == "touch approved.txt"
    assert "Create approved.txt" in ask.question
    assert not (tmp_path / "approved.txt").exists()  # nothing runs before the answer
    await brood.release(SIGIL, ask.permit_id, "allow", None)
    deltas, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    assert (tmp_path / "approved.txt").exists()
    assert text_of(deltas).startswith("tool ran")
    assert done.finish_reason == "stop"
    await brood.close()


async def test_a_denied_command_does_not_run_and_the_model_is_told_why(
    claude_bin, claude_env, anthropic_double, tmp_path
):
    anthropic_double.reply = touch_then_report
    brood = brood_for(claude_bin, claude_env, tmp_path)
    stream = brood.bloom(SIGIL, [Turn("user", "make the file")])
    ask = await asyncio.wait_for(ask_of(stream), TEST_TIMEOUT_SECONDS)
    await brood.release(SIGIL, ask.permit_id, "deny", "not from the train")
    deltas, done = await asyncio.wait_for(collect(stream), TEST_TIMEOUT_SECONDS)
    assert not (tmp_path / "approved.txt").exists()
    assert text_of(deltas) == "tool refused: not from the train"
    (result,) = [b for b in anthropic_double.message_requests()[-1]["messages"][-1]["content"] if b.get("type") == "tool_result"]
    assert result["is_error"] is True
    await brood.close()
