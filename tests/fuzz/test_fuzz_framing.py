"""Fuzz the NDJSON decoder: any bytes, cut anywhere, give one verdict per line and never raise."""

from __future__ import annotations

import json

from fuzz_helpers import budget, json_values, raw_lines, tone_objects
from hypothesis import given
from hypothesis import strategies as st

from hum.wire.framing import BadTone, LineDecoder, encode
from hum.wire.tones import Tone

# Small enough that the over-long path is taken often, large enough for real tones.
MAX_LINE = 256

lines = st.one_of(
    tone_objects.map(lambda t: json.dumps(t).encode()),
    json_values().map(lambda v: json.dumps(v).encode()),
    raw_lines,
    st.integers(1, 40).map(lambda n: b"[" * n * 20),  # nesting, and lines over MAX_LINE
)


def decode(stream: bytes, cuts: list[int]) -> list[Tone | BadTone]:
    decoder = LineDecoder(MAX_LINE)
    out: list[Tone | BadTone] = []
    start = 0
    for cut in sorted({c % (len(stream) + 1) for c in cuts}) + [len(stream)]:
        out.extend(decoder.receive_data(stream[start:cut]))
        start = cut
    return out


@budget(300)
@given(st.lists(lines, max_size=8), st.lists(st.integers(0, 10**6), max_size=6))
def test_any_bytes_cut_anywhere_give_one_verdict_per_line(items, cuts):
    stream = b"".join(line + b"\n" for line in items)
    verdicts = decode(stream, cuts)
    # how the stream was cut never matters
    assert verdicts == decode(stream, [])
    # one verdict per non-blank line (an over-long line is one too-long verdict)
    assert len(verdicts) == sum(1 for line in items if line.strip())
    for verdict in verdicts:
        if isinstance(verdict, BadTone):
            reply = verdict.tone()
            assert reply["chi"] == "error" and reply["code"] == "bad-tone" and reply["qualifier"]
            assert json.loads(encode(reply))["qualifier"] == verdict.qualifier  # the answer itself is a valid line
        else:
            assert isinstance(verdict["chi"], str)
            assert json.loads(encode(verdict)) == json.loads(json.dumps(verdict))


@budget(100)
@given(st.binary(max_size=2000))
def test_raw_bytes_never_raise(data):
    LineDecoder(MAX_LINE).receive_data(data + b"\n")
