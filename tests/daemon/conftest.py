"""Each test's humds keep their thrum sockets in their own homes, whatever the desktop session says."""

import pytest


@pytest.fixture(autouse=True)
def private_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("HUM_THRUM_SOCK", raising=False)
    monkeypatch.delenv("HUM_HOME", raising=False)
