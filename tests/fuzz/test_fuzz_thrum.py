"""Fuzz a real humd's thrum socket: every line gets its answer, the connection stays open, the humd lives."""

from __future__ import annotations

import json
import socket

import pytest
from fuzz_helpers import budget, json_values, raw_lines, tone_objects
from humd_helpers import HumUp, init_home
from hypothesis import given
from hypothesis import strategies as st

from hum.wire.framing import BadTone, parse_tone

# A wrong answer is quick; a silent one is a hang. Far above a loaded machine's round trip.
ANSWER_TIMEOUT = 10.0
PROBE = b'{"chi":"hums","rid":"fuzz-probe","limit":1}\n'

lines = st.one_of(
    tone_objects.map(lambda t: json.dumps(t, ensure_ascii=False).encode()),
    json_values().map(lambda v: json.dumps(v).encode()),
    raw_lines,
)


@pytest.fixture(scope="module")
def humd(tmp_path_factory):
    with HumUp(init_home(tmp_path_factory.mktemp("fuzz-thrum") / "laptop")) as running:
        yield running


def converse(path: str, payload: bytes) -> list[dict]:
    """Hello, the fuzz lines, then a probe; every tone up to the probe's answer."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(ANSWER_TIMEOUT)
        s.connect(path)
        s.sendall(b'{"chi":"hello","bee":"fuzz","rid":0}\n' + payload + PROBE)
        buf = b""
        tones: list[dict] = []
        while True:
            chunk = s.recv(65536)
            assert chunk, f"the humd closed the connection; answered so far: {tones[-3:]}"
            buf += chunk
            *done, buf = buf.split(b"\n")
            for line in done:
                tone = json.loads(line)
                tones.append(tone)
                if tone.get("rid") == "fuzz-probe" and tone["chi"] == "hums":
                    return tones


@budget(150)
@given(st.lists(lines, min_size=1, max_size=4))
def test_every_line_is_answered_and_the_connection_stays_open(humd, items):
    payload = b"".join(line + b"\n" for line in items)
    tones = converse(str(humd.thrum), payload)
    assert tones[0]["chi"] == "breath"
    bad = sum(1 for line in items if line.strip() and isinstance(parse_tone(line), BadTone))
    refusals = [t for t in tones if t["chi"] == "error" and t.get("code") == "bad-tone"]
    assert len(refusals) >= bad, (items, tones)
    assert all(t["chi"] != "error" or t.get("code") != "internal" for t in tones), tones
    assert humd.proc.poll() is None
