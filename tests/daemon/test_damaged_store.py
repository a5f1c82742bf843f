"""A damaged store, with real processes: what cannot be read is said, everything else is served."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from humd_helpers import HumUp, hum, init_home

# `hum show` on a hum of a few dozen petals answers in well under a second; a hang fails here.
SHOW_WITHIN = 20


def damage_petal(home: Path, sigil: str, wane: int) -> None:
    """Overwrite one stored petal's body with bytes that are not JSON (the humd is stopped)."""
    with sqlite3.connect(home / "hums.db") as db:
        db.execute("UPDATE petals SET body = '{not json' WHERE sigil = ? AND wane = ?", (sigil, wane))


def test_hum_show_prints_the_petals_before_a_damaged_one_and_says_which_cannot_be_read(tmp_path):
    home = init_home(tmp_path / "laptop")
    with HumUp(home) as laptop:
        done = hum("prompt", "--sid", "damaged", "hello", "--json", home=home)
        assert done.returncode == 0, done.stderr
        finish = json.loads(done.stdout.splitlines()[-1])
        sigil, tip = finish["sigil"], finish["wane"]
    damage_petal(home, sigil, 5)
    with HumUp(home, port=laptop.port):
        shown = hum("show", sigil, "--json", home=home, timeout=SHOW_WITHIN)
        assert shown.returncode == 1, shown.stderr
        answer = json.loads(shown.stdout)
        assert [p["wane"] for p in answer["petals"]] == [1, 2, 3, 4]
        assert answer["unreadable"]["qualifier"] == "cannot-read" and answer["unreadable"]["from"] == 5
        assert f"petals 5 to {tip} cannot be read" in shown.stderr
