"""Seeded fault schedules in the sim: nothing lost, duplicated, reordered, left unsaid or diverged."""

from hum.demo.chaos import run_many
from hum.demo.chaos_check import CRITERIA

# Enough schedules to meet every kind of fault many times over, in under a minute of real time.
SCHEDULES = 200


def test_random_fault_schedules_on_three_devices_keep_every_promise():
    report = run_many(SCHEDULES, seed=1000, devices=3)
    failed = [(f["seed"], {n: f[n] for n in CRITERIA}) for f in report["failures"]]
    assert report["ok"], f"schedules that broke a promise (seed, counts): {failed}"
    assert set(report["criteria"]) == set(CRITERIA) and "diverged" in CRITERIA
