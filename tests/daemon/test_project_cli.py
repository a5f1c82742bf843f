"""`hum project add|list|remove` with no humd running: the home's registry, and a one-line error for each bad input."""

from __future__ import annotations

import json

from humd_helpers import file_mode, hum, init_home, one_line_error


def test_projects_are_kept_in_the_home_and_bad_ones_are_one_line(tmp_path):
    home = init_home(tmp_path / "laptop")
    api = tmp_path / "src" / "api"
    api.mkdir(parents=True)
    added = hum("project", "add", str(api), "--worker", "claude-cli", "--permission-mode", "plan", "--allow", "Read, Bash(git status)", "--json", home=home)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"name": "api", "worker": "claude-cli", "permissionMode": "plan", "dir": str(api), "here": True, "linked": True}
    assert file_mode(home / "projects.json") == 0o600
    assert json.loads((home / "projects.json").read_text())["projects"][0]["allow"] == ["Read", "Bash(git status)"]

    before = (home / "projects.json").read_text()
    assert "not a directory" in one_line_error(hum("project", "add", str(tmp_path / "nowhere"), home=home))
    assert "cannot name a project" in one_line_error(hum("project", "add", str(api), "--name", "../etc", home=home))
    assert "registered here already" in one_line_error(hum("project", "add", str(api), home=home))
    assert "--permission-mode is one of" in one_line_error(hum("project", "add", str(api), "--name", "x", "--permission-mode", "yolo", home=home))
    assert "no project named 'blog'" in one_line_error(hum("project", "remove", "blog", home=home))
    assert (home / "projects.json").read_text() == before  # nothing stored was changed

    listed = json.loads(hum("project", "list", "--json", home=home).stdout)["projects"]
    assert [p["name"] for p in listed] == ["api"]
    assert hum("project", "remove", "api", home=home).returncode == 0
    assert json.loads(hum("project", "list", "--json", home=home).stdout)["projects"] == []
