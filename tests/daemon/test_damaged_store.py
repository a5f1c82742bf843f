"""A damaged store, with real processes: what cannot be read is said, everything else is served."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from humd_helpers import HumUp, hum, init_home, one_line_error

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


def test_a_hums_row_that_does_not_read_is_set_aside_and_every_other_hum_served(tmp_path):
    home = init_home(tmp_path / "laptop")
    with HumUp(home) as laptop:
        sigils = {}
        for sid in ("good", "bad"):
            done = hum("prompt", "--sid", sid, "hello", "--json", home=home)
            assert done.returncode == 0, done.stderr
            sigils[sid] = json.loads(done.stdout.splitlines()[-1])["sigil"]
    with sqlite3.connect(home / "hums.db") as db:  # a value of the wrong type where text belongs
        db.execute("UPDATE hums SET sid = x'00ff' WHERE sigil = ?", (sigils["bad"],))
    with HumUp(home, port=laptop.port) as again:
        status = json.loads(hum("status", "--json", home=home).stdout)
        assert [d["sigil"] for d in status["store"]["damaged"]] == [sigils["bad"]]
        assert "not text" in status["store"]["damaged"][0]["reason"]
        said = hum("status", home=home).stdout
        assert f"hum {sigils['bad']} is set aside" in said
        shown = hum("show", sigils["good"], "--json", home=home)
        assert shown.returncode == 0 and json.loads(shown.stdout)["petals"], shown.stderr
    _, err = again.stop()
    assert f"hum {sigils['bad']} does not read" in err and "Traceback" not in err


def test_store_check_names_each_problem_and_repair_rebuilds_what_reads(tmp_path):
    home = init_home(tmp_path / "laptop")
    with HumUp(home) as laptop:
        sigils = {}
        for sid in ("good", "bad", "torn"):
            done = hum("prompt", "--sid", sid, "hello", "--json", home=home)
            assert done.returncode == 0, done.stderr
            sigils[sid] = json.loads(done.stdout.splitlines()[-1])["sigil"]
        busy = hum("store", "repair", home=home)
        assert "stop it" in one_line_error(busy)  # never under a running humd
    with sqlite3.connect(home / "hums.db") as db:
        db.execute("UPDATE hums SET sid = x'626164' WHERE sigil = ?", (sigils["bad"],))  # 'bad', as a blob
        db.execute("DELETE FROM petals WHERE sigil = ? AND wane = 3", (sigils["torn"],))
    checked = hum("store", "check", "--json", home=home)
    assert checked.returncode == 1
    found = {(p["sigil"], p["problem"]) for p in json.loads(checked.stdout)["problems"]}
    assert found == {(sigils["bad"], "hum-row"), (sigils["torn"], "gap")}
    repaired = hum("store", "repair", "--json", home=home)
    assert repaired.returncode == 0, repaired.stderr
    result = json.loads(repaired.stdout)
    assert result["kept"]["hums"] == 3 and Path(result["old"]).exists()
    with HumUp(home, port=laptop.port):
        status = json.loads(hum("status", "--json", home=home).stdout)
        assert status["store"]["damaged"] == []
        shown = hum("show", sigils["bad"], "--json", home=home)
        assert shown.returncode == 0 and json.loads(shown.stdout)["petals"], shown.stderr
