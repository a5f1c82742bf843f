"""Faults dealt to three real humd processes (SIGKILL, SIGSTOP, held relays, adoptions, forget and
re-mint, a damaged row, asks answered from two devices) linked over TCP, a transit relay with
squatters and iroh: every promise counted."""

import json
import subprocess
import sys

from hum.demo.chaos_check import CRITERIA
from hum.demo.chaos_real import run_real
from hum.ensemble.transports import iroh

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


def test_a_damaged_row_is_fetched_back_and_asks_answered_from_two_devices_get_one_decision():
    """Only the damage fault, twice: a stopped device's row (held the same by its home) stops reading,
    the device comes back, a reader meets the row and the node fetches it back from a sibling; every
    bloom asks leave and each ask is answered from two devices at once. The phone meets the laptop at
    a transit relay crowded with squatters; the tablet meets the phone over iroh where it is installed."""
    report = run_real(2, seed=3, devices=3, faults=("damage",))
    assert {name: c["value"] for name, c in report["criteria"].items()} == dict.fromkeys(CRITERIA, 0), report
    assert any(" wane " in fault for fault in report["faults"]), report["faults"]  # a row was damaged
    assert report["answers"] >= 2 and report["squats"] > 0, report
    assert report["links"] == {"laptop-phone": "relay", "laptop-tablet": "tcp", "phone-tablet": "iroh" if iroh.available() else "tcp"}
