"""Each test's humds keep their thrum sockets in their own homes, whatever the desktop session says."""

import pytest


@pytest.fixture(autouse=True)
def private_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("HUM_THRUM_SOCK", raising=False)
    monkeypatch.delenv("HUM_HOME", raising=False)


@pytest.fixture
async def upstream(monkeypatch: pytest.MonkeyPatch):
    """The bench's fake OpenAI upstream on loopback, named in the environment every `hum up` inherits."""
    from hum.demo.bench.upstream import FakeUpstream

    fake = FakeUpstream()
    monkeypatch.setenv("HUM_OPENAI_BASE_URL", await fake.start())
    monkeypatch.setenv("HUM_OPENAI_MODEL", "bench")
    yield fake
    await fake.stop()
