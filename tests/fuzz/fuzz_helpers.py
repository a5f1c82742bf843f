"""What every fuzz target shares: its budget and the inputs it is made of.

`HUM_FUZZ_EXAMPLES` sets how many inputs each target tries (`make fuzz` runs
100,000); without it each target runs its small default, seconds in the suite.
"""

from __future__ import annotations

import os
import string

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from hum.wire.tones import CHIS


def budget(default: int) -> settings:
    """Hypothesis settings for a target whose suite budget is `default` inputs."""
    examples = int(os.environ.get("HUM_FUZZ_EXAMPLES") or default)
    return settings(
        max_examples=examples,
        deadline=None,  # a real process answers in its own time; a hang is caught by socket timeouts
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        database=None,  # every run explores afresh; crashes found become regression tests
    )


def json_values(max_leaves: int = 12) -> st.SearchStrategy[object]:
    """Any JSON value, deep and odd enough to break code that assumes a shape."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=max_leaves,
    )


def maybe(plausible: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Mostly a plausible value for a field, sometimes any JSON value at all."""
    return st.one_of(plausible, plausible, json_values(4))


def shaped(fields: dict[str, st.SearchStrategy[object]]) -> st.SearchStrategy[dict[str, object]]:
    """An object with some of `fields` (each plausible or not) and now and then a stray key."""
    return st.fixed_dictionaries({}, optional={**{k: maybe(v) for k, v in fields.items()}, "stray": json_values(4)})


# Odd text: control characters, lone surrogates are impossible in UTF-8, so NUL, RTL marks and emoji instead.
odd_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(["", " ", "\x00", "\u202e", "🐝" * 3])
hexish = st.text(alphabet="0123456789abcdef", min_size=0, max_size=14) | st.text(alphabet=string.printable, max_size=14)

# NDJSON lines: tones with known chis and odd fields, or any JSON, or raw bytes.
tone_objects = st.builds(
    lambda chi, body: {"chi": chi, **body},
    st.sampled_from(sorted(CHIS)) | odd_text,
    shaped({
        "rid": json_values(2), "sid": odd_text, "sigil": hexish, "since": st.integers(-3, 10**20) | st.floats(),
        "text": odd_text, "content": json_values(6), "modelId": odd_text, "nest": odd_text, "system": odd_text,
        "limit": st.integers(-5, 10**6), "cursor": json_values(2), "dusk": st.integers(-1, 10**15) | st.floats(),
        "bee": odd_text, "from": odd_text, "to": odd_text, "tools": json_values(6), "toolResults": json_values(6),
        "project": odd_text | st.sampled_from(["../etc", "api", "/etc/passwd"]) | json_values(2), "projects": json_values(4),
    }),
)
raw_lines = st.binary(max_size=200).map(lambda b: b.replace(b"\n", b""))
