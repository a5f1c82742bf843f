"""Fuzz the HTTP surfaces of a real humd: every request gets a status and a JSON word, never a 500, a hang or silence."""

from __future__ import annotations

import http.client
import json
from urllib.parse import quote

import pytest
from fuzz_helpers import budget, hexish, json_values, maybe, odd_text, shaped
from humd_helpers import HumUp, init_home
from hypothesis import event, given
from hypothesis import strategies as st

# A refusal is quick, a scripted bloom takes well under a second; anything near this is a hang.
ANSWER_TIMEOUT = 30.0

ROLES = st.sampled_from(["system", "developer", "user", "assistant", "tool"])
tool_call = shaped({"id": odd_text, "type": st.just("function"), "function": shaped({"name": odd_text, "arguments": odd_text | json_values(4)})})
openai_message = shaped({
    "role": ROLES,
    "content": odd_text | st.lists(shaped({"type": st.sampled_from(["text", "image_url", "input_text"]), "text": odd_text}), max_size=3),
    "tool_calls": st.lists(tool_call, max_size=2),
    "tool_call_id": odd_text,
    "name": odd_text,
})
chat_completions = shaped({
    "model": odd_text,
    "messages": st.lists(openai_message, min_size=1, max_size=4),
    "tools": st.lists(shaped({"type": st.just("function"), "function": shaped({"name": odd_text, "description": odd_text, "parameters": json_values(4)})}), max_size=2),
    "stream": st.booleans(),
    "stream_options": shaped({"include_usage": st.booleans()}),
})
# Requests that are right in every field but their words, so the fuzz also reaches blooms and streams.
well_formed_completions = st.fixed_dictionaries(
    {
        "model": odd_text,
        "messages": st.tuples(
            st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": odd_text}), max_size=3),
            st.fixed_dictionaries({"role": st.just("user"), "content": odd_text}),
        ).map(lambda ms: [*ms[0], ms[1]]),
        "stream": st.booleans(),
    },
    optional={
        "tools": st.lists(st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=10)})}), max_size=2),
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    },
)
ui_message = shaped({
    "id": odd_text,
    "role": st.sampled_from(["user", "assistant", "system"]),
    "parts": st.lists(shaped({"type": st.sampled_from(["text", "reasoning", "file"]), "text": odd_text}), max_size=3),
    "content": odd_text,
})
ai_sdk_chat = shaped({"id": odd_text, "messages": st.lists(ui_message, min_size=1, max_size=3), "trigger": st.sampled_from(["submit-message", "regenerate-message"])})
web_prompt = shaped({"text": odd_text})
project_prompt = shaped({"text": odd_text, "project": odd_text})
push_subscription = shaped({
    "endpoint": odd_text | st.sampled_from(["https://push.example.com/x", "http://127.0.0.1:9/push", "http://10.0.0.1/push"]),
    "keys": shaped({"p256dh": odd_text, "auth": odd_text}),
    "notify": st.sampled_from(["asks", "all", "none"]) | odd_text,
})
push_choices = shaped({
    "level": st.sampled_from(["none", "asks", "all"]) | odd_text,
    "hums": st.dictionaries(odd_text, st.sampled_from(["none", "asks", "all", None]) | odd_text, max_size=2),
    "quiet": shaped({"start": odd_text | st.just("22:00"), "end": odd_text | st.just("07:00")}) | st.none(),
    "homes": st.booleans() | odd_text,
    "subscription": shaped({"id": odd_text, "notify": st.sampled_from(["none", "asks", "all"])}),
})


def body_of(plausible: st.SearchStrategy[object]) -> st.SearchStrategy[bytes]:
    """A body as a client might send it: mostly JSON of the route's shape, sometimes anything at all."""
    return st.one_of(
        plausible.map(lambda v: json.dumps(v).encode()),
        plausible.map(lambda v: json.dumps(v).encode()),
        json_values().map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=300),
        st.integers(1, 3000).map(lambda n: b"[" * n),
    )


segment = (hexish | odd_text).map(lambda s: quote(s, safe="") or "x")
requests = st.one_of(
    st.tuples(st.just("POST"), st.just("/v1/chat/completions"), body_of(chat_completions | well_formed_completions)),
    st.tuples(st.just("POST"), st.just("/api/chat"), body_of(ai_sdk_chat)),
    st.tuples(st.just("POST"), st.just("/api/hums"), body_of(web_prompt)),
    st.tuples(st.just("POST"), segment.map(lambda s: f"/api/hums/{s}/prompt"), body_of(web_prompt)),
    st.tuples(st.just("POST"), segment.map(lambda s: f"/api/hums/{s}/cancel"), body_of(maybe(json_values()))),
    st.tuples(st.just("GET"), st.tuples(segment, st.text(max_size=12)).map(lambda a: f"/v1/hums/{a[0]}x/events?since={quote(a[1])}"), st.just(b"")),
    st.tuples(st.just("GET"), segment.map(lambda s: f"/api/chat/{s}/stream"), st.just(b"")),
    st.tuples(st.just("GET"), st.sampled_from(["/", "/api/hums", "/v1/models", "/v1/hums", "/api/projects", "/api/browser", "/hum/push/key", "/hum/push/choices", "/hum/push/unread"]), st.just(b"")),
    st.tuples(st.just("POST"), st.just("/api/hums"), body_of(project_prompt)),
    st.tuples(st.just("PUT"), st.just("/api/browser"), body_of(shaped({"name": odd_text}))),
    st.tuples(st.just("GET"), segment.map(lambda s: f"/join/{s}"), st.just(b"")),
    st.tuples(st.just("POST"), st.just("/hum/push/subscriptions"), body_of(push_subscription)),
    st.tuples(st.just("POST"), st.just("/hum/push/choices"), body_of(push_choices)),
    st.tuples(st.just("DELETE"), segment.map(lambda s: f"/hum/push/subscriptions/{s}"), st.just(b"")),
    st.tuples(st.just("POST"), st.tuples(segment, segment).map(lambda a: f"/hum/push/answers/{a[0]}/{a[1]}"), st.just(b"")),
    st.tuples(st.just("POST"), segment.map(lambda s: f"/hum/seen/{s}"), body_of(shaped({"wane": st.integers(-2, 10**20) | odd_text}))),
    st.tuples(st.just("GET"), segment.map(lambda s: f"/hum/push/hums/{s}"), st.just(b"")),
)
content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", "", "application/json; charset=latin-1"])


@pytest.fixture(scope="module")
def humd(tmp_path_factory):
    with HumUp(init_home(tmp_path_factory.mktemp("fuzz-http") / "laptop")) as running:
        yield running


@budget(120)
@given(requests, content_types)
def test_every_request_gets_a_status_and_a_json_word(humd, request, content_type):
    method, path, body = request
    host, port = humd.http.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=ANSWER_TIMEOUT)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        conn.request(method, path, body=body if method in ("POST", "PUT") else None, headers=headers)
        response = conn.getresponse()  # a closed connection without an answer raises here
        data = response.read()
    finally:
        conn.close()
    event(f"{method} {path.split('/')[1]}/{path.split('/')[2] if path.count('/') > 1 else ''} -> {response.status}")  # how far inputs got (--hypothesis-show-statistics)
    # 500 is a crash; 502-504 are honest answers (a busy brood, an unreachable home) and say so in JSON
    assert response.status != 500 and response.status < 600, (method, path, body[:200], response.status, data[:300])
    if path.startswith("/join/"):  # an enrolment link is opened by a person: a page, never a cookie, for a code nobody issued
        assert response.status == 410 and response.getheader("Content-Type", "").startswith("text/html") and not response.getheader("Set-Cookie")
    elif response.status >= 400:
        error = json.loads(data)["error"]
        assert isinstance(error["message"], str) and error["message"], data
    assert humd.proc.poll() is None
