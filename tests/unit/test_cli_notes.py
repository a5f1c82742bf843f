"""How `hum prompt` and `hum attach` show hum's notes: on stderr, apart from the answer; a long
read's notes as one line that moves on a terminal, every line to a pipe or a log."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from hum.cli import nestling
from hum.wire.tones import Tone

READ = [(0, 900), (64, 900), (128, 900), (900, 900)]
TEXTS = [
    "hum: reading 900 earlier tokens before answering",
    "hum: reading the conversation: 64 of 900 tokens",
    "hum: reading the conversation: 128 of 900 tokens",
    "hum: read 900 earlier tokens in 5.1 s",
]


def notes() -> list[Tone]:
    return [
        Tone.make("chunk", sigil="0123456789ab", wane=2 + i, chunkType="note", delta=text, progress={"read": r, "of": of})
        for i, (text, (r, of)) in enumerate(zip(TEXTS, READ, strict=True))
    ]


def shown(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> str:
    err = io.StringIO()
    monkeypatch.setattr(nestling, "err_console", Console(file=err, force_terminal=terminal, color_system=None, width=200))
    view = nestling.HumView(as_json=False, me=None)
    for tone in notes():
        view.show(tone)
    return err.getvalue()


def test_on_a_terminal_a_long_read_is_one_line_that_moves_and_stays_on_its_last_word(monkeypatch):
    out = shown(monkeypatch, terminal=True)
    # each note goes back to the start of the line and clears it; only the last ends the line
    assert out.count("\n") == 1 and out.endswith(TEXTS[-1] + "\n")
    assert out.split("\r\x1b[2K")[1:] == [*TEXTS[:-1], TEXTS[-1] + "\n"]


def test_to_a_pipe_every_note_of_a_long_read_is_a_line(monkeypatch):
    assert shown(monkeypatch, terminal=False).splitlines() == TEXTS
