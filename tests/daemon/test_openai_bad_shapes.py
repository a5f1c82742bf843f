"""Every malformed chat-completions shape is a 400 naming its field, from a real `hum up`."""

from __future__ import annotations

import json

import pytest
from humd_helpers import HumUp, init_home

USER = {"role": "user", "content": "hi"}


def _assistant(**fields: object) -> dict[str, object]:
    return {"role": "assistant", "content": None, **fields}


MALFORMED = [
    # (what the client sent, the param the answer must name)
    ({"messages": [USER, _assistant(tool_calls="call_1"), USER]}, "messages[1].tool_calls"),
    ({"messages": [USER, _assistant(tool_calls=[1]), USER]}, "messages[1].tool_calls[0]"),
    ({"messages": [USER, _assistant(tool_calls=[{"id": "c", "function": "f"}]), USER]}, "messages[1].tool_calls[0].function"),
    ({"messages": [USER, _assistant(tool_calls=[{"id": "c", "function": {"arguments": "{}"}}]), USER]}, "messages[1].tool_calls[0].function.name"),
    ({"messages": [USER, _assistant(tool_calls=[{"id": "c", "function": {"name": "f", "arguments": 7}}]), USER]}, "messages[1].tool_calls[0].function.arguments"),
    ({"messages": [USER, _assistant(tool_calls=[{"id": ["c"], "function": {"name": "f"}}]), USER]}, "messages[1].tool_calls[0].id"),
    ({"messages": [USER, _assistant(tool_calls={"id": "c"}), USER]}, "messages[1].tool_calls"),
    ({"messages": [{"role": "user", "content": "x", "tool_calls": []}]}, "messages[0].tool_calls"),
    ({"messages": [{"role": "tool", "tool_call_id": {"x": 1}, "content": "r"}]}, "messages[0].tool_call_id"),
    ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": ["text"]}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": {"a": 1}}]}]}, "messages[0].content[0].text"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"messages": ["hi"]}, "messages[0]"),
    ({"messages": []}, "messages"),
    ({"messages": [USER], "tools": {"name": "f"}}, "tools"),
    ({"messages": [USER], "tools": ["f"]}, "tools[0]"),
    ({"messages": [USER], "tools": [{"type": "function", "function": "f"}]}, "tools[0].function"),
    ({"messages": [USER], "tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools[0].function.name"),
    ({"messages": [USER], "tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]}, "tools[0].function.parameters"),
]


@pytest.fixture(scope="module")
def humd(tmp_path_factory):
    with HumUp(init_home(tmp_path_factory.mktemp("bad-shapes") / "laptop")) as running:
        yield running


@pytest.mark.parametrize(("body", "param"), MALFORMED, ids=[p for _, p in MALFORMED])
def test_a_malformed_request_is_a_400_naming_the_field_and_mints_nothing(humd, body, param):
    before = humd.get("/hum/hums")["hums"]
    status, answer = humd.request("POST", "/v1/chat/completions", json.dumps({"model": "default", **body}).encode(), {"Content-Type": "application/json"})
    assert status == 400, answer
    assert answer["error"]["param"] == param
    assert param in answer["error"]["message"]
    assert humd.get("/hum/hums")["hums"] == before


def test_a_well_formed_tool_conversation_still_blooms(humd):
    body = {
        "model": "default",
        "messages": [
            USER,
            _assistant(tool_calls=[{"id": "call_x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]),
            {"role": "tool", "tool_call_id": "call_x", "content": "42"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    }
    status, answer = humd.request("POST", "/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert status == 200, answer
    assert answer["choices"][0]["finish_reason"] in ("stop", "tool_calls")
