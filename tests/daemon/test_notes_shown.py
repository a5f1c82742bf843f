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
