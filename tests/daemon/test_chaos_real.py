"""Faults dealt to two real humd processes (SIGKILL, SIGSTOP, a held relay): every promise counted."""

import json
import subprocess
import sys

# A few rounds keep the suite short; `hum chaos --real --rounds 20` is the long run.
ROUNDS = 4


def test_real_processes_lose_duplicate_reorder_and_hide_nothing_under_faults():
    out = subprocess.run(
        [sys.executable, "-m", "hum.cli", "chaos", "--real", "--rounds", str(ROUNDS), "--seed", "7", "--json"],
        capture_output=True, text=True, timeout=240,
    )
    report = json.loads(out.stdout)
    assert report["ok"], report
    assert {name: c["value"] for name, c in report["criteria"].items()} == {"lost": 0, "duplicated": 0, "out_of_order": 0, "unsurfaced": 0}
    assert len(report["faults"]) == ROUNDS and out.returncode == 0
