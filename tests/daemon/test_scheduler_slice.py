"""humd asks the kernel for a short scheduler slice (HUM_SLICE_US), so a fan-out is not cut by the readers it wakes."""

from __future__ import annotations

from pathlib import Path

from humd_helpers import HumUp, hum, init_home, one_line_error


def slices(pid: int | str) -> set[int]:
    """The scheduler slice (ns) of every thread of process `pid`, as /proc shows it."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "sched").read_text().splitlines():
            if line.startswith("se.slice"):
                found.add(int(line.split(":")[1]))
    return found


def test_every_thread_of_humd_runs_with_a_100_us_slice(tmp_path, monkeypatch):
    monkeypatch.delenv("HUM_SLICE_US", raising=False)
    shown = bool(slices("self"))  # a kernel before 6.12 has no slice to ask for (or to show): humd just runs
    with HumUp(init_home(tmp_path / "laptop")) as humd:
        assert slices(humd.pid) == ({100_000} if shown else set())


def test_hum_slice_us_0_keeps_the_kernels_slice(tmp_path, monkeypatch):
    monkeypatch.setenv("HUM_SLICE_US", "0")
    with HumUp(init_home(tmp_path / "laptop")) as humd:
        assert slices(humd.pid) == slices("self")


def test_a_slice_the_kernel_cannot_grant_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HUM_SLICE_US", "50")
    home = init_home(tmp_path / "laptop")
    line = one_line_error(hum("up", "--listen", "none", "--http", "none", home=home))
    assert "HUM_SLICE_US='50'" in line and "100 to 100000 microseconds" in line
