"""`hum forget` and retention between real humd processes: gone everywhere, gone here only, gone after a restart."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from humd_helpers import hum, laptop_and_phone

from hum.core.hum import Hum
from hum.core.wane import WaneTracker
from hum.daemon.home import Home
from hum.demo.roam_real import HumdProcess, Nestler, free_port
from hum.store.sqlite import SqliteStore
from hum.wire.tones import Tone, is_petal, sigil

pytestmark = pytest.mark.slow

WAIT = 30.0
POLL = 0.05
DAY_MS = 86_400_000


async def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(hum, *args, home=home)


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """A refused command: one line on stderr, exit status 2."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("hum: "), (
        result.returncode,
        result.stderr,
    )
    return lines[0]


def sigils(humd: HumdProcess) -> set[str]:
    return {h["sigil"] for h in humd.get("/hum/hums")["hums"]}


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll a condition with a deadline (a state change in another process has no event to wait on)."""
    deadline = time.monotonic() + WAIT
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(POLL)


async def prompted(laptop: HumdProcess, sid: str) -> str:
    out = await cli("prompt", "--sid", sid, "hello", "--json", home=laptop.home)
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout.splitlines()[-1])["sigil"])


async def replicate(humd: HumdProcess, sg: str) -> None:
    """Read the whole hum on `humd`, so it holds a replica of it."""
    reader = await Nestler.open(humd, "reader")
    reader.client.send(Tone(chi="attach", sigil=sg, since=0))
    _, hello = await reader.wait_for(lambda t: t.chi == "hello")
    await reader.wait_for(lambda t: is_petal(t) and t["wane"] == hello["wane"])
    reader.close()


def test_hum_forget_at_the_home_reaches_every_device_even_one_away_and_survives_a_restart(tmp_path):
    async def story() -> None:
        async with laptop_and_phone(tmp_path) as (laptop, phone):
            keep, gone, away = [await prompted(laptop, sid) for sid in ("keep", "gone", "away")]
            for sg in (keep, gone, away):
                await replicate(phone, sg)

            # on the phone: only its copy goes; the hum still lives on the laptop
            here = await cli("forget", keep, home=phone.home)
            assert (
                here.returncode == 0
                and here.stdout.strip()
                == f"forgot this device's copy of hum {keep}; it still lives on laptop ({laptop.info['humdId'][:8]})"
            )
            assert keep in sigils(phone) and keep in sigils(laptop)
            await replicate(phone, keep)  # and it can be followed again, from wane 0

            # at the home: gone everywhere
            done = await cli("forget", gone, home=laptop.home)
            assert (
                done.returncode == 0
                and done.stdout.strip() == f"forgot hum {gone} everywhere (it lived here)"
            )
            listed = json.loads((await cli("hums", "--json", home=laptop.home)).stdout)["hums"]
            assert {h["sigil"] for h in listed} == {keep, away}
            await until(
                lambda: gone not in sigils(phone), "the phone never dropped the forgotten hum"
            )
            for args in (
                ("show", gone),
                ("attach", gone, "--no-follow"),
                ("forget", gone),
                ("prompt", "--sigil", gone, "again?"),
            ):
                assert "unknown-hum" in refusal(await cli(*args, home=laptop.home)), args
            assert "unknown-hum" in refusal(await cli("show", gone, home=phone.home))

            # a device away when the home forgot learns it when it links again
            await phone.stop()
            assert (await cli("forget", away, home=laptop.home)).returncode == 0
            await phone.start()
            await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
            await until(
                lambda: away not in sigils(phone),
                "the phone kept a hum forgotten while it was away",
            )
            assert keep in sigils(phone)

            # forgotten stays forgotten across a restart of the home
            await laptop.stop()
            await laptop.start()
            assert sigils(laptop) == {keep}
            assert "unknown-hum" in refusal(await cli("show", away, home=laptop.home))
            status = await cli("status", home=laptop.home)
            assert "retain    keep everything" in status.stdout

    asyncio.new_event_loop().run_until_complete(story())


async def prompts_on(humd: HumdProcess, sg: str) -> list[str]:
    """The prompts of hum `sg` as `humd` serves it, from wane 0 to the home's tip."""
    reader = await Nestler.open(humd, "reader")
    reader.client.send(Tone(chi="attach", sigil=sg, since=0))
    _, hello = await reader.wait_for(lambda t: t.chi == "hello")
    await reader.wait_for(lambda t: is_petal(t) and t["wane"] == hello["wane"])
    reader.close()
    return [t["text"] for _, t in reader.seen if t.chi == "prompt"]


def test_a_hum_forgotten_and_minted_again_while_a_device_was_away_is_the_new_one_there_too(tmp_path):
    async def story() -> None:
        async with laptop_and_phone(tmp_path) as (laptop, phone):
            sg = await prompted(laptop, "again")
            assert await prompts_on(phone, sg) == ["hello"]
            await phone.stop()
            assert (await cli("forget", sg, home=laptop.home)).returncode == 0
            out = await cli("prompt", "--sid", "again", "a new conversation", "--json", home=laptop.home)
            assert out.returncode == 0 and json.loads(out.stdout.splitlines()[-1])["sigil"] == sg  # the same sigil
            await phone.start()
            await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
            # the phone serves the new conversation, never the forgotten one
            assert await prompts_on(phone, sg) == ["a new conversation"]

    asyncio.new_event_loop().run_until_complete(story())


def delete(humd: HumdProcess, sg: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"{humd.info['http']}/hum/hums/{sg}", method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def stored_hums(home: Path, touched_days_ago: dict[str, float]) -> dict[str, str]:
    """Hums homed on this device, each with one finished bloom and a last-touched time this many days ago."""
    me = Home(home).identity().humd_id
    store, tracker, now = SqliteStore(Home(home).store_path), WaneTracker(), time.time() * 1000
    made = {}
    for sid, days in touched_days_ago.items():
        made[sid] = sigil("local", sid)
        hum_ = Hum(made[sid], sid, "local", me, tracker)
        store.save_hum(hum_, touched=int(now - days * DAY_MS))
        store.append(hum_, hum_.append("prompt", {"text": "long ago", "from": "test"}))
        store.append(
            hum_,
            hum_.append(
                "finish", {"finishReason": "stop", "usage": {"input_tokens": 1, "output_tokens": 1}}
            ),
        )
    store.flush()
    store.close()
    return made


def test_retention_forgets_hums_untouched_for_its_days_and_hum_status_says_so(tmp_path):
    home = tmp_path / "laptop"
    assert hum("operator", "init", "--name", "laptop", home=home).returncode == 0
    made = stored_hums(home, {"old": 10, "recent": 1})

    async def story() -> None:
        laptop = HumdProcess(home, free_port(), extra=["--retain-days", "5"])
        await laptop.start()
        try:
            await until(
                lambda: laptop.get("/hum/status")["retention"] == {"days": 5, "forgotten": 1},
                "retention never forgot the old hum",
            )
            assert sigils(laptop) == {made["recent"]}
            status = await cli("status", home=home)
            assert (
                "retain    forget hums untouched for 5 days (1 forgotten since start)"
                in status.stdout
            )
            # the HTTP door forgets as `hum forget` does
            gone = {
                "sigil": made["recent"],
                "where": "everywhere",
                "home": laptop.info["humdId"],
                "homeName": "laptop",
            }
            assert delete(laptop, made["recent"]) == (200, gone)
            status_code, body = delete(laptop, made["recent"])
            assert status_code == 404 and body["error"]["code"] == "unknown-hum"
            assert sigils(laptop) == set()
        finally:
            await laptop.stop()
        # the setting comes from HUM_RETAIN_DAYS too, and a bad one is a one-line error
        bad = HumdProcess(home, free_port(), env={"HUM_RETAIN_DAYS": "soon"})
        with pytest.raises(RuntimeError, match="HUM_RETAIN_DAYS must be a number of days"):
            await bad.start()
        await bad.stop()

    asyncio.new_event_loop().run_until_complete(story())
