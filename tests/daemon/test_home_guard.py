"""One humd per home, and a home only its owner can read: real `hum up` processes."""

from __future__ import annotations

import json
import os

from humd_helpers import HumUp, file_mode, hum, init_home, one_line_error


def test_a_second_hum_up_on_the_same_home_exits_2_naming_the_first_and_changes_nothing(tmp_path):
    home = init_home(tmp_path / "laptop")
    with HumUp(home) as first:
        out = hum("prompt", "--sid", "before", "hello", "--json", home=home)
        assert out.returncode == 0, out.stderr
        sigil = json.loads(out.stdout.splitlines()[-1])["sigil"]
        runtime = (home / "humd.json").read_bytes()
        files = {p.name: p.stat().st_mtime_ns for p in home.iterdir()}

        # the same thrum socket, and another one: both refused before touching the home
        for extra in ([], ["--thrum", str(tmp_path / "other.sock")]):
            line = one_line_error(hum("up", "--worker", "scripted", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", *extra, home=home))
            assert f"pid {first.pid}" in line and "already running" in line

        assert (home / "humd.json").read_bytes() == runtime
        assert {p.name: p.stat().st_mtime_ns for p in home.iterdir()} == files
        assert not (tmp_path / "other.sock").exists()
        # the CLI still finds the first humd, and its hum is whole
        status = json.loads(hum("status", "--json", home=home).stdout)
        assert status["pid"] == first.pid
        assert first.thrum_hello()["chi"] == "breath"
        shown = json.loads(hum("show", sigil, "--json", home=home).stdout)
        assert shown["petals"][-1]["chi"] == "finish"


def test_the_home_is_taken_again_once_its_humd_is_gone(tmp_path):
    home = init_home(tmp_path / "laptop")
    first = HumUp(home)
    first.proc.kill()  # SIGKILL: no clean-up ran, the kernel dropped the lock
    first.proc.wait()
    with HumUp(home) as second:
        assert json.loads(hum("status", "--json", home=home).stdout)["pid"] == second.pid


def test_an_open_home_is_made_private_at_start_and_the_store_is_owner_only(tmp_path):
    home = init_home(tmp_path / "laptop")
    os.chmod(home, 0o755)
    (home / "hums.db").touch()
    os.chmod(home / "hums.db", 0o644)  # as an older humd left it
    with HumUp(home) as humd:
        out = hum("prompt", "--sid", "secret", "my diary", home=home)
        assert out.returncode == 0, out.stderr
        assert file_mode(home) == 0o700
        for name in ("hums.db", "hums.db-wal", "hums.db-shm", "device.key", "operator.key", "humd.json"):
            assert file_mode(home / name) == 0o600, name
        _, err = humd.stop()
    assert err.count("made it private") == 1, err


def test_a_new_home_is_private_from_the_first_start(tmp_path):
    home = init_home(tmp_path / "phone")
    with HumUp(home):
        assert hum("prompt", "--sid", "x", "hi", home=home).returncode == 0
        assert file_mode(home) == 0o700
        assert file_mode(home / "hums.db") == 0o600 and file_mode(home / "hums.db-wal") == 0o600
