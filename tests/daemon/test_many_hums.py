"""A humd that knows thousands of hums: the breath stays small, paging reads them all, every CLI command answers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from hum.core.hum import Hum
from hum.core.wane import WaneTracker
from hum.daemon.home import Home
from hum.demo.roam_real import HumdProcess, free_port
from hum.store.sqlite import SqliteStore
from hum.surfaces.thrum import ThrumClient
from hum.wire.tones import Tone, sigil

HUM = [sys.executable, "-m", "hum.cli"]
# Well past the ~7,500 hums at which a breath listing every hum outgrew the 1 MiB line limit.
MANY = 10_000
CLI_TIMEOUT = 60


def hum(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUM, *args, "--home", str(home)], capture_output=True, text=True, timeout=CLI_TIMEOUT)


def fill(home: Path, count: int) -> None:
    """`count` finished hums homed on this device, written through the daemon's own store."""
    me = Home(home).identity().humd_id
    store = SqliteStore(Home(home).store_path)
    tracker = WaneTracker()
    for i in range(count):
        sid = f"old-{i}"
        hum_ = Hum(sigil("local", sid), sid, "local", me, tracker)
        store.save_hum(hum_)
        store.append(hum_, hum_.append("prompt", {"text": f"question {i}", "from": "test"}))
        store.append(hum_, hum_.append("finish", {"finishReason": "stop", "usage": {"input_tokens": 1, "output_tokens": 1}}))
    store.flush()
    store.close()


async def read_all_pages(client: ThrumClient) -> list[dict]:
    hums, cursor = [], None
    while True:
        client.send(Tone.make("hums", rid="p", limit=1000, cursor=cursor))
        page = await client.receive()
        assert page.chi == "hums", page
        hums += page["hums"]
        cursor = page["next"]
        if cursor is None:
            return hums


def test_ten_thousand_hums_keep_the_breath_small_and_every_command_answering(tmp_path):
    home = tmp_path / "laptop"
    assert hum("operator", "init", "--name", "laptop", home=home).returncode == 0
    fill(home, MANY)
    laptop = HumdProcess(home, free_port())
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(laptop.start())

        async def thrum_checks() -> None:
            reader, writer = await asyncio.open_unix_connection(str(laptop.thrum))
            writer.write(b'{"chi":"hello","rid":"h","bee":"probe"}\n')
            line = await reader.readline()
            writer.close()
            breath = json.loads(line)
            assert len(line) < 4096 and breath["humCount"] == MANY and len(breath["hums"]) == 20
            client, _ = await ThrumClient.connect(laptop.thrum)
            listed = await read_all_pages(client)
            client.close()
            assert len(listed) == MANY and len({h["sigil"] for h in listed}) == MANY

        loop.run_until_complete(thrum_checks())
        assert hum("status", "--json", home=home).returncode == 0
        assert hum("peers", "--json", home=home).returncode == 0
        assert len(json.loads(hum("hums", "--json", home=home).stdout)["hums"]) == MANY
        prompted = hum("prompt", "--sid", "new", "hello after ten thousand", "--json", home=home)
        assert prompted.returncode == 0, prompted.stderr
        finish = json.loads(prompted.stdout.splitlines()[-1])
        assert finish["chi"] == "finish"
        # attach shows the new hum from its first petal
        attach = subprocess.Popen([*HUM, "attach", finish["sigil"], "--json", "--home", str(home)], stdout=subprocess.PIPE, text=True)
        try:
            assert attach.stdout is not None
            first = json.loads(attach.stdout.readline())
            second = json.loads(attach.stdout.readline())
            assert first["chi"] == "hello" and (second["chi"], second["wane"]) == ("prompt", 1)
        finally:
            attach.terminate()
            attach.wait(10)
        # show reads a hum's whole log; forget removes one of the ten thousand
        shown = hum("show", finish["sigil"], "--json", home=home)
        assert shown.returncode == 0 and json.loads(shown.stdout)["petals"][0]["chi"] == "prompt", shown.stderr
        forgot = hum("forget", finish["sigil"], home=home)
        assert forgot.returncode == 0 and "everywhere" in forgot.stdout, forgot.stderr
        assert len(json.loads(hum("hums", "--json", home=home).stdout)["hums"]) == MANY
    finally:
        loop.run_until_complete(laptop.stop())
        loop.close()
