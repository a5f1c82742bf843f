"""`hum up` runs on the event loop HUM_LOOP names (asyncio's own unless told), and says which."""

from __future__ import annotations

import pytest
from humd_helpers import HumUp, hum, init_home, one_line_error


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_hum_up_runs_on_the_loop_hum_loop_names_and_status_says_it(tmp_path, monkeypatch, loop):
    monkeypatch.setenv("HUM_LOOP", loop)
    home = init_home(tmp_path / "laptop")
    with HumUp(home) as humd:
        assert humd.info["eventLoop"] == loop
        status = humd.get("/hum/status")
        assert status["eventLoop"] == loop
        assert set(status["gc"]) >= {"collections", "cpuMs", "longestPauseMs", "frozenAfterFull"}


def test_without_hum_loop_hum_up_runs_on_asyncios_loop(tmp_path, monkeypatch):
    monkeypatch.delenv("HUM_LOOP", raising=False)
    home = init_home(tmp_path / "laptop")
    with HumUp(home) as humd:
        assert humd.info["eventLoop"] == "asyncio"  # uvloop only when asked (src/hum/daemon/event_loop.py says why)


def test_a_loop_hum_does_not_know_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HUM_LOOP", "tokio")
    home = init_home(tmp_path / "laptop")
    line = one_line_error(hum("up", "--listen", "none", "--http", "none", home=home))
    assert "HUM_LOOP='tokio'" in line and "uvloop, asyncio" in line
