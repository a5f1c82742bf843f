"""`hum bench` refuses what it cannot do before it starts anything."""

from __future__ import annotations

import subprocess
import sys


def test_a_profile_with_nowhere_to_go_is_a_one_line_error(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "hum.cli", "bench", "--quick", "--profile", str(tmp_path / "missing" / "humd.txt")],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("hum: --profile") and run.stderr.count("\n") == 1
    assert run.stdout == ""
