"""The phone while the laptop is away, with real humd processes: what it holds is readable, and a
`hum attach` left waiting at the loss follows the hum when the phone adopts it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from humd_helpers import HUM, hum, laptop_and_phone

from hum.demo.roam_real import HumdProcess, Nestler
from hum.wire.tones import Tone, is_petal

pytestmark = pytest.mark.slow

WAIT = 30.0


async def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(hum, *args, home=home)


class Lines:
    """A child's stream, read line by line as it comes, so a test can wait for one with a deadline."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream
        self.seen: list[str] = []

    async def until(self, text: str) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            found = next((line for line in self.seen if text in line), None)
            if found is not None:
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"never printed {text!r}; printed: {self.seen}"
            line = await asyncio.wait_for(self.stream.readline(), left)
            assert line, f"ended before printing {text!r}; printed: {self.seen}"
            self.seen.append(line.decode())


async def replicated(phone: HumdProcess, sg: str) -> None:
    reader = await Nestler.open(phone, "reader")
    reader.client.send(Tone(chi="attach", sigil=sg, since=0))
    _, hello = await reader.wait_for(lambda t: t.chi == "hello")
    await reader.wait_for(lambda t: is_petal(t) and t["wane"] == hello["wane"])
    reader.close()


def messages(humd: HumdProcess, sg: str) -> tuple[int, dict]:
    with urllib.request.urlopen(f"{humd.info['http']}/api/chat/{sg}/messages", timeout=WAIT) as response:
        return response.status, json.loads(response.read())


def test_with_the_laptop_away_the_phone_reads_its_copy_and_a_waiting_attach_follows_the_adoption(tmp_path):
    async def story() -> None:
        follower = None
        async with laptop_and_phone(tmp_path) as (laptop, phone):
            try:
                out = await cli("prompt", "--sid", "away", "written on the laptop", "--json", home=laptop.home)
                sg = json.loads(out.stdout.splitlines()[-1])["sigil"]
                await replicated(phone, sg)
                follower = await asyncio.create_subprocess_exec(
                    *HUM, "attach", sg, "--home", str(phone.home), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
                )
                shown, said = Lines(follower.stdout), Lines(follower.stderr)  # type: ignore[arg-type]
                await shown.until("written on the laptop")

                await laptop.stop()  # the laptop is away
                await said.until("lost hum")
                # what the phone holds is readable: the HTTP history, and an attach started now
                status, body = await asyncio.to_thread(messages, phone, sg)
                assert status == 200 and "written on the laptop" in json.dumps(body["messages"])
                late = await cli("attach", sg, "--no-follow", "--json", home=phone.home)
                tones = [json.loads(line) for line in late.stdout.splitlines() if line.startswith("{")]
                assert [t["chi"] for t in tones][:2] == ["hello", "prompt"] and tones[1]["text"] == "written on the laptop"
                assert "peer-loss" in late.stderr and late.returncode != 0

                # the phone adopts it: the waiting attach follows, and shows the phone's own answers
                adopted = await cli("adopt", sg, home=phone.home)
                assert adopted.returncode == 0, adopted.stderr
                await said.until("now lives on this device")
                prompt = await cli("prompt", "--sigil", sg, "written on the phone", home=phone.home)
                assert prompt.returncode == 0, prompt.stderr
                await shown.until("written on the phone")
            finally:
                if follower is not None and follower.returncode is None:
                    follower.terminate()
                    await follower.wait()

    asyncio.new_event_loop().run_until_complete(story())
