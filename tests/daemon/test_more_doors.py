"""A real `hum up` with its other doors: the Ollama listener (`--ollama`), and the Anthropic door beside `/v1` in `hum bench`."""

from __future__ import annotations

import json
import urllib.request

from humd_helpers import HumUp, free_port, init_home

from hum.demo.bench import anthropic_ttft


def _post(url: str, body: dict) -> list[dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


def test_hum_up_serves_the_ollama_api_on_its_own_port(tmp_path):
    port = free_port()
    with HumUp(init_home(tmp_path / "laptop"), "--ollama", f"127.0.0.1:{port}") as humd:
        base = humd.info["ollama"]
        assert base == f"http://127.0.0.1:{port}" and humd.info["urls"]["ollama"] == base
        with urllib.request.urlopen(f"{base}/api/tags", timeout=10) as response:
            assert "scripted" in [m["name"] for m in json.loads(response.read())["models"]]
        streamed = _post(f"{base}/api/chat", {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]})
        assert [p["done"] for p in streamed] == [False] * (len(streamed) - 1) + [True]
        assert streamed[-1]["eval_count"] == 40 and all("content" in p["message"] for p in streamed)
        (whole,) = _post(f"{base}/api/chat", {"model": "scripted", "stream": False, "messages": [{"role": "user", "content": "hi again"}]})
        assert whole["done"] and len(whole["message"]["content"].split()) == 40
        assert len(humd.get("/hum/hums")["hums"]) == 2
        # the AI SDK's /api/chat stays where it was, on the HTTP port
        assert humd.request("POST", "/api/chat", b"{}", {"Content-Type": "application/json"})[0] == 400


async def test_the_bench_times_the_anthropic_door_beside_v1(upstream, tmp_path):
    raw: dict = {}
    await anthropic_ttft.measure(tmp_path, upstream.base_url, 5, raw)
    assert {door: len(times) for door, times in raw["anthropic_ttft"].items()} == {"anthropic": 5, "openai": 5, "direct": 5}
    metric = anthropic_ttft.metric(raw)
    assert metric.unit == "ms (p99 added)" and metric.baseline is not None
