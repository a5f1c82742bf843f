"""hum's notes to the reader reach the CLI: `hum prompt` shows why nothing is answered yet (real processes)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cli_devices import Device, free_port


@pytest.fixture
def laptop(tmp_path) -> Iterator[Device]:
    # one cell, a slow worker: a second hum's prompt waits in line, and a note says so
    device = Device(tmp_path / "laptop", HUM_SCRIPTED_TPS="5", HUM_BROOD_MAX_CELLS="1", HUM_BROOD_MAX_UPSTREAM_CELLS="1")
    device.up("--init", "--listen", f"127.0.0.1:{free_port()}", "--http", "127.0.0.1:0", "--worker", "scripted")
    yield device
    device.stop_all()


def test_hum_prompt_shows_the_note_that_it_waits_for_a_cell(laptop):
    first = laptop.run("prompt", "--sid", "first", "a long story", "--no-wait", "--json")
    assert first.returncode == 0, first.stderr
    watching = laptop.start("attach", json.loads(first.stdout)["sigil"], "--json")
    watching.wait_json(lambda t: t.get("chi") == "chunk")  # the only cell is blooming now
    second = laptop.start("prompt", "--sid", "second", "another story")
    note = second.wait_line(lambda line: "waiting for a free cell" in line, stderr=True)
    assert note.startswith("hum: ")
    assert second.wait() == 0
    assert "waiting for a free cell" not in "\n".join(second.out)  # apart from the answer


def test_a_bloom_that_said_it_waits_is_not_called_stalled(tmp_path):
    # the first answer takes 20 s at 2 tokens a second: the second hum waits past the drone's 10 s
    device = Device(tmp_path / "slow", HUM_SCRIPTED_TPS="2", HUM_BROOD_MAX_CELLS="1", HUM_BROOD_MAX_UPSTREAM_CELLS="1")
    device.up("--init", "--listen", f"127.0.0.1:{free_port()}", "--http", "127.0.0.1:0", "--worker", "scripted")
    try:
        first = device.run("prompt", "--sid", "first", "a long story", "--no-wait", "--json")
        watching = device.start("attach", json.loads(first.stdout)["sigil"], "--json")
        watching.wait_json(lambda t: t.get("chi") == "chunk")
        second = device.start("prompt", "--sid", "second", "another story", "--json")
        second.wait_json(lambda t: t.get("chunkType") == "note")
        second.wait_json(lambda t: t.get("chi") == "finish", timeout=60)
        assert not [t for t in second.json_lines() if t.get("chi") == "drone"], second.json_lines()
    finally:
        device.stop_all()


# A prompt the embedded model takes a while to read (about 700 tokens; a read of 512 or more is said).
LONG_PROMPT = " ".join(f"Rule {i}: the keeper climbs the stairs at night." for i in range(60)) + " Which rule is about the stairs?"
# Loading the model and reading 700 tokens on a busy 2-core machine.
LONG_READ_WAIT = 120.0


@pytest.mark.slow
def test_hum_prompt_says_how_far_a_long_read_got_then_answers(tmp_path):
    device = Device(tmp_path / "laptop")
    device.up("--init", "--listen", f"127.0.0.1:{free_port()}", "--http", "127.0.0.1:0", "--worker", "local")
    try:
        prompt = device.start("prompt", "--sid", "long", LONG_PROMPT)
        started = prompt.wait_line(lambda line: line.startswith("hum: reading ") and "before answering" in line, stderr=True, timeout=LONG_READ_WAIT)
        unread = int(started.split()[2].replace(",", ""))
        assert unread >= 512
        prompt.wait_line(lambda line: line.startswith(f"hum: read {unread:,} earlier tokens in "), stderr=True, timeout=LONG_READ_WAIT)
        assert prompt.wait(LONG_READ_WAIT) == 0
        # between the first and the last word of the read, lines saying how far it got (one a second)
        counts = [int(line.split()[4].replace(",", "")) for line in prompt.err if "reading the conversation" in line]
        assert counts == sorted(set(counts)) and all(0 < c < unread for c in counts)
        assert all(f"of {unread:,} tokens" in line for line in prompt.err if "reading the conversation" in line)
        answer = "\n".join(prompt.out)
        assert "hum:" not in answer and ("-- stop" in answer or "-- length" in answer)
        assert "stalled" not in answer  # the drone knows a read is under way
    finally:
        device.stop_all()
