"""The real Claude Code CLI against the Anthropic double, as the laptop's worker (shared by the approval tests)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from anthropic_double import AnthropicDouble, ToolUse, last_user_text


def claude_bin() -> Path:
    npm_dir = Path(os.environ.get("HUM_NPM_DIR", "~/.cache/hum/npm")).expanduser()
    binary = npm_dir / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make test`, which installs tools/package.json there")
    return binary


def touch_what_was_asked(body: Any) -> str | list[ToolUse]:
    """The double's model: `create X` asks to run `touch X`; a tool result is reported back."""
    last = (body.get("messages") or [{}])[-1]
    content = last.get("content")
    results = [b for b in content or [] if isinstance(b, dict) and b.get("type") == "tool_result"] if isinstance(content, list) else []
    if results:
        result = results[0]
        said = result.get("content")
        said = said if isinstance(said, str) else " ".join(str(b.get("text", "")) for b in said or [])
        return f"tool {'refused' if result.get('is_error') else 'ran'}: {said}"
    name = last_user_text(body).split()[-1]
    return [ToolUse("Bash", {"command": f"touch {name}", "description": f"Create {name}"})]


def claude_env(tmp_path: Path, double: AnthropicDouble) -> tuple[Path, dict[str, str]]:
    """A project folder for Claude Code to work in, and the laptop humd's environment to run it there."""
    work = tmp_path / "project"
    work.mkdir()
    # The real CLI in minimal mode (no plugin sync or prefetches: it talks only to the double).
    wrapper = tmp_path / "claude"
    wrapper.write_text(f'#!/bin/sh\nexec "{claude_bin()}" --bare "$@"\n')
    wrapper.chmod(0o755)
    scratch = tmp_path / "claude-home"
    scratch.mkdir()
    env = {
        "HUM_CLAUDE_BIN": str(wrapper), "HUM_CLAUDE_CWD": str(work), "HOME": str(scratch),
        "ANTHROPIC_BASE_URL": double.base_url, "ANTHROPIC_API_KEY": double.api_key,
    }
    return work, env
