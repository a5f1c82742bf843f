"""Choosing workers: `hum up --worker ...` plus env, and one-line start-up checks."""

from __future__ import annotations

import asyncio
import os

import pytest
from brood_helpers import TEST_TIMEOUT_SECONDS, collect, text_of

from hum.brood.config import build_brood, check
from hum.errors import WorkerError
from hum.interfaces import Turn


def test_the_named_worker_is_the_default_and_env_adds_the_others(tmp_path):
    env = {
        "HUM_OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "HUM_OPENAI_MODEL": "m",
        "HUM_ANTHROPIC_API_KEY": "k",
        "HUM_ANTHROPIC_MODEL": "claude-test",
        "HUM_CLAUDE_BIN": "/usr/bin/false",
        "HUM_CLAUDE_CWD": str(tmp_path),
        "HUM_BROOD_MAX_CELLS": "2",
    }
    brood = build_brood("scripted", env)
    assert brood.default == "scripted"
    assert brood.models() == ["anthropic", "claude-cli", "local", "openai", "scripted"]
    assert brood.max_cells == 2


def test_upstream_kinds_get_many_cells_and_model_kinds_few():
    env = {"HUM_OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "HUM_OPENAI_MODEL": "m"}
    brood = build_brood("local", env)
    assert brood.limit("openai") >= 64 and brood.limit("local") == 4
    brood = build_brood(
        "openai", {**env, "HUM_BROOD_MAX_UPSTREAM_CELLS": "3", "HUM_BROOD_MAX_CELLS": "1", "HUM_BROOD_MAX_QUEUE": "0"}
    )
    assert (brood.limit("openai"), brood.limit("local"), brood.line.max_queue) == (3, 1, 0)


def test_without_env_only_the_named_worker_and_the_local_model_exist():
    assert build_brood("local", {}).models() == ["local"]
    assert build_brood("scripted", {}).models() == ["local", "scripted"]


async def test_options_reach_the_default_worker():
    brood = build_brood("scripted", {}, tokens_per_second=10_000, max_cells=1)
    deltas, done = await asyncio.wait_for(
        collect(brood.bloom("s1", [Turn("user", "hi")])), TEST_TIMEOUT_SECONDS
    )
    assert text_of(deltas) and done.finish_reason == "stop"
    assert brood.max_cells == 1
    await brood.close()


@pytest.mark.parametrize(
    ("worker", "env", "qualifier", "words"),
    [
        ("gpt", {}, "unknown-worker", "local, openai, anthropic, claude-cli, scripted"),
        ("openai", {}, "bad-config", "HUM_OPENAI_BASE_URL"),
        ("openai", {"HUM_OPENAI_BASE_URL": "localhost:8080"}, "bad-config", "http(s) URL"),
        (
            "openai",
            {"HUM_OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"},
            "bad-config",
            "HUM_OPENAI_MODEL",
        ),
        ("anthropic", {"HUM_ANTHROPIC_MODEL": "m"}, "upstream-auth", "HUM_ANTHROPIC_API_KEY"),
        ("claude-cli", {"PATH": "/nonexistent"}, "claude-missing", "npm install"),
        (
            "local",
            {"HUM_LOCAL_MODEL": "/nonexistent/model.gguf"},
            "model-missing",
            "/nonexistent/model.gguf",
        ),
        ("scripted", {"HUM_BROOD_MAX_CELLS": "many"}, "bad-config", "HUM_BROOD_MAX_CELLS"),
        ("scripted", {"HUM_BROOD_MAX_UPSTREAM_CELLS": "0"}, "bad-config", "HUM_BROOD_MAX_UPSTREAM_CELLS"),
        ("scripted", {"HUM_BROOD_MAX_QUEUE": "-1"}, "bad-config", "HUM_BROOD_MAX_QUEUE"),
    ],
)
def test_check_names_the_cause_in_one_line(worker, env, qualifier, words):
    with pytest.raises(WorkerError) as err:
        check(worker, env)
    assert err.value.qualifier == qualifier
    assert words in err.value.message and "\n" not in err.value.message


def test_check_passes_for_a_working_setup():
    check("local", {})
    check("scripted", {})
    check("openai", {"HUM_OPENAI_BASE_URL": "http://127.0.0.1:8080/v1", "HUM_OPENAI_MODEL": "m"})
    check("anthropic", {"HUM_ANTHROPIC_API_KEY": "k", "HUM_ANTHROPIC_MODEL": "m"})
    check("claude-cli", {"PATH": os.environ["PATH"], "HUM_CLAUDE_BIN": "/bin/sh"})
