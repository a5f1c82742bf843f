"""Stopping an answer from the CLI, with real processes: `hum cancel SIGIL`, and Ctrl-C on `hum prompt`
(the first detaches and says how to cancel, a second one cancels)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import pytest
from cli_devices import Device, Running, free_port, one_line_error

# The scripted worker's pace: its 40-token answer takes 8 s, so every step below happens mid-answer.
SLOW_TPS = "5"


@pytest.fixture
def laptop(tmp_path) -> Iterator[Device]:
    device = Device(tmp_path / "laptop", HUM_SCRIPTED_TPS=SLOW_TPS)
    device.up("--init", "--listen", f"127.0.0.1:{free_port()}", "--http", "127.0.0.1:0", "--worker", "scripted")
    yield device
    device.stop_all()


def answering(laptop: Device, sid: str) -> tuple[Running, str]:
    """`hum prompt --json` left running until the answer's first words are shown; it and the sigil."""
    prompt = laptop.start("prompt", "--sid", sid, "tell me a long story", "--json")
    chunk = prompt.wait_json(lambda t: t.get("chi") == "chunk")
    return prompt, str(chunk["sigil"])


def closing_petal(laptop: Device, sigil: str) -> dict:
    """The petal that closed the hum's (only) bloom, as `hum show` reads the log."""
    shown = laptop.run("show", sigil, "--json")
    assert shown.returncode == 0, shown.stderr
    petals = json.loads(shown.stdout)["petals"]
    return next(p for p in petals if p["chi"] in ("finish", "error"))


def test_ctrl_c_on_hum_prompt_detaches_says_how_to_cancel_and_the_answer_goes_on(laptop):
    prompt, sigil = answering(laptop, "detached")
    prompt.proc.send_signal(signal.SIGINT)
    said = prompt.wait_line(lambda line: "detached" in line, stderr=True)
    assert f"hum cancel {sigil}" in said and "Ctrl-C again" in said
    assert prompt.wait() == 130
    follow = laptop.run("attach", sigil, "--until-finish", "--json")
    finish = [json.loads(line) for line in follow.stdout.splitlines() if '"finish"' in line][-1]
    assert finish["finishReason"] == "stop"  # nobody cancelled it: the whole answer was given


def test_a_second_ctrl_c_cancels_the_answer(laptop):
    prompt, sigil = answering(laptop, "twice")
    prompt.proc.send_signal(signal.SIGINT)
    prompt.wait_line(lambda line: "detached" in line, stderr=True)
    prompt.proc.send_signal(signal.SIGINT)
    said = prompt.wait_line(lambda line: "cancelled" in line, stderr=True)
    assert sigil in said
    assert prompt.wait() == 130
    assert closing_petal(laptop, sigil)["finishReason"] == "cancelled"


def test_hum_cancel_stops_an_answer_and_says_when_there_is_none(laptop):
    started = laptop.run("prompt", "--sid", "cancelled", "a long story", "--no-wait", "--json")
    sigil = json.loads(started.stdout)["sigil"]
    watching = laptop.start("attach", sigil, "--json")
    watching.wait_json(lambda t: t.get("chi") == "chunk")  # it is answering now
    done = laptop.run("cancel", sigil, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["cancelled"] is True and result["reason"] == "cancelled"
    assert closing_petal(laptop, sigil)["finishReason"] == "cancelled"
    again = laptop.run("cancel", sigil)
    assert again.returncode == 0 and "nothing to cancel" in again.stdout
    assert "unknown-hum" in one_line_error(laptop.run("cancel", "0123456789ab"))
