"""Seeded fault schedules in the sim: nothing lost, duplicated, reordered or left unsaid."""

from hum.demo.chaos import CRITERIA, run_many

# Enough schedules to meet every kind of fault many times over, in seconds of real time.
SCHEDULES = 200


def test_random_fault_schedules_keep_every_promise():
    report = run_many(SCHEDULES, seed=1000)
    failed = [(f["seed"], {n: f[n] for n in CRITERIA}) for f in report["failures"]]
    assert report["ok"], f"schedules that broke a promise (seed, counts): {failed}"
    assert set(report["criteria"]) == set(CRITERIA)
