"""A hum's blooms as the transcript a worker reads: text turns, tool calls and tool results.

A native tool call is a `chunk` petal with `chunkType:"tool_call"` (its delta is
the JSON `{id, name, arguments}`); its result comes back in the next prompt
petal's `toolResults: [{toolCallId, content}]`. Clients know a call by the id
hum gives it (`call_id`), the worker by its own: a result may name either.

Workers without native tools read the same calls and results as text, in the
shape of the text protocol the OpenAI surface teaches models (`plain`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from hum.core.bloom import Bloom
from hum.interfaces import TOOL_CALL, ToolCall, Turn

# The text protocol's tool call block: how a model without native tools is
# asked to call a tool, and how such a model reads a call made earlier.
TOOL_OPEN = "<tool_call>"
TOOL_CLOSE = "</tool_call>"

# How the text protocol's tool list begins; the OpenAI surface appends it last
# to the system prompt, so a worker short of room can leave it out (`without_tools`).
TOOLS_INTRO = "You can call tools."

# What a model is told of a call the conversation went on from without its
# result: the native APIs refuse an assistant call that no tool turn answers.
NO_RESULT = "(no result: the conversation went on without one)"


def without_tools(system: str) -> str:
    """A system prompt without the text protocol's tool list (the whole text when it has none)."""
    at = system.find(TOOLS_INTRO)
    return system if at < 0 else system[:at].rstrip()


def call_id(sigil: str, wane: int, n: int) -> str:
    """The id hum gives the `n`th tool call of the bloom prompted at `wane`; it names the hum."""
    return f"call_{sigil}_{wane}_{n}"


def render_call(name: str, arguments: Any) -> str:
    """A tool call as text-protocol text (`arguments` as JSON text or already parsed)."""
    if isinstance(arguments, str):
        with contextlib.suppress(json.JSONDecodeError):
            arguments = json.loads(arguments) if arguments.strip() else {}
    return f"{TOOL_OPEN}{json.dumps({'name': name, 'arguments': arguments})}{TOOL_CLOSE}"


def render_result(name: str, call: str, content: str) -> str:
    """A tool result as the text a user turn carries it in."""
    return f"Tool result for {name} ({call}):\n{content}"


def tool_calls(bloom: Bloom) -> list[tuple[ToolCall, str]]:
    """The bloom's native tool calls, each with the id hum gave it, in the order they were made."""
    calls: list[tuple[ToolCall, str]] = []
    for petal in bloom.chunks:
        if petal.body.get("chunkType") != TOOL_CALL:
            continue
        try:
            call = json.loads(str(petal.body.get("delta", "")))
        except json.JSONDecodeError:
            continue
        # The same test the surface applies, so the nth call here is its nth call too.
        if not isinstance(call, dict) or not call.get("name"):
            continue
        ours = call_id(bloom.prompt.sigil, bloom.prompt.wane, len(calls))
        args = call.get("arguments", {})
        arguments = args if isinstance(args, str) else json.dumps(args)
        calls.append((ToolCall(str(call.get("id") or ours), str(call["name"]), arguments), ours))
    return calls


def _results(raw: Any) -> dict[str, str]:
    """A prompt's `toolResults` as call id -> content."""
    out: dict[str, str] = {}
    for result in raw if isinstance(raw, list) else []:
        if isinstance(result, dict) and result.get("toolCallId"):
            content = result.get("content", "")
            out[str(result["toolCallId"])] = (
                content if isinstance(content, str) else json.dumps(content)
            )
    return out


def turns(blooms: Iterable[Bloom]) -> list[Turn]:
    """The transcript of these blooms; for text-only blooms exactly `Hum.transcript()` as Turns.

    Each bloom gives: a tool turn for every native call of the bloom before
    (its result from `toolResults`, or `NO_RESULT`), the prompt's system text,
    its user text (left out when the prompt only answers calls), then what the
    bloom said and called. Results naming no native call were text-protocol
    results: the prompt's text already carries them.
    """
    out: list[Turn] = []
    asked: list[tuple[ToolCall, str]] = []
    for bloom in blooms:
        body = bloom.prompt.body
        results = _results(body.get("toolResults"))
        for call, ours in asked:
            content = results.get(call.id, results.get(ours, NO_RESULT))
            out.append(Turn("tool", content, tool_call_id=call.id))
        if body.get("system"):
            out.append(Turn("system", str(body["system"])))
        text = str(body.get("text", ""))
        if text or not asked:
            out.append(Turn("user", text))
        asked = tool_calls(bloom)
        said = bloom.text
        if said or asked:
            out.append(Turn("assistant", said, tool_calls=tuple(call for call, _ in asked)))
    return out


def plain(transcript: Sequence[Turn]) -> list[Turn]:
    """The transcript for a worker without native tools: calls and results as text.

    An assistant turn's calls follow its text as text-protocol blocks; tool
    results (with any user text right after them) become one user turn, as the
    OpenAI surface writes results for such workers. Text-only turns pass as they are.
    """
    names = {call.id: call.name for turn in transcript for call in turn.tool_calls}
    out: list[Turn] = []
    in_results = False  # whether out[-1] is a user turn made from tool results
    for turn in transcript:
        if turn.role == "tool":
            call = turn.tool_call_id or ""
            text = render_result(names.get(call, "tool"), call, turn.text)
        elif turn.role == "user" and in_results:
            text = turn.text
        else:
            if turn.tool_calls:
                calls = "".join(render_call(c.name, c.arguments) for c in turn.tool_calls)
                turn = Turn("assistant", turn.text + calls)
            out.append(turn)
            in_results = False
            continue
        if in_results:
            if text:
                out[-1] = Turn("user", f"{out[-1].text}\n\n{text}")
        else:
            out.append(Turn("user", text))
            in_results = True
    return out
