"""Faults dealt to three real humd processes (SIGKILL, SIGSTOP, held relays, adoptions, forget and
re-mint): every promise counted."""

import json
import subprocess
import sys

from hum.demo.chaos_check import CRITERIA

# A few rounds keep the suite short; `hum chaos --real --rounds 20 --devices 3` is the long run.
ROUNDS = 4


def test_real_processes_lose_duplicate_reorder_hide_and_diverge_nothing_under_faults():
    out = subprocess.run(
        [sys.executable, "-m", "hum.cli", "chaos", "--real", "--rounds", str(ROUNDS), "--devices", "3", "--seed", "7", "--json"],
        capture_output=True, text=True, timeout=400,
    )
    report = json.loads(out.stdout)
    assert report["ok"], report
    assert {name: c["value"] for name, c in report["criteria"].items()} == dict.fromkeys(CRITERIA, 0)
    assert len(report["faults"]) == ROUNDS and out.returncode == 0
