"""A page of the store damaged while humd runs (real processes, a real SQLite file): the hum it holds
is set aside and said, every other hum is served, and repair plus a sibling bring its log back."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from page_damage import (
    damage_a_page_of,
    damage_first_page,
    damage_the_table,
    lengthen,
    read_all,
    stored_hum,
)

from hum.core.hum import Hum
from hum.core.wane import WaneTracker
from hum.daemon.home import Home
from hum.demo.roam_real import HumdProcess, Nestler, free_port, pair_devices
from hum.store.sqlite import SqliteStore
from hum.wire.tones import Tone, sigil

pytestmark = pytest.mark.slow

HUM = [sys.executable, "-m", "hum.cli"]
# Every CLI answer here comes in about a second; a hang fails at this.
WAIT = 30.0
# The long hum's turns of 20 petals: 3,000 petals, over a hundred 4 KiB pages.
TURNS = 150


async def hum(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    run = [*HUM, *args, "--home", str(home)]
    return await asyncio.to_thread(subprocess.run, run, capture_output=True, text=True, timeout=WAIT)


async def prompt(home: Path, sid: str, text: str) -> subprocess.CompletedProcess[str]:
    return await hum("prompt", "--sid", sid, text, "--json", home=home)


def sigil_of(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])["sigil"]


async def attached(humd: HumdProcess, sg: str, since: int) -> Nestler:
    nestler = await Nestler.open(humd, "follower")
    nestler.client.send(Tone(chi="attach", sigil=sg, since=since))
    await nestler.wait_for(lambda t: t.chi == "hello")
    return nestler


async def whole_again(laptop: HumdProcess, sg: str) -> list:
    """Attach from 0 until the whole log reads (the laptop fetches what it lacks from the phone)."""
    deadline = time.monotonic() + WAIT
    while True:
        petals, error = await read_all(laptop, sg)
        if error is None:
            return petals
        assert time.monotonic() < deadline, f"the damaged page's petals never came back: {error}"
        await asyncio.sleep(0.1)


def test_a_page_damaged_under_a_running_humd_sets_its_hum_aside_and_repair_with_a_sibling_brings_it_all_back(tmp_path):
    async def story() -> None:
        assert (await hum("operator", "init", "--name", "laptop", home=tmp_path / "laptop")).returncode == 0
        laptop = HumdProcess(tmp_path / "laptop", free_port())
        store = Home(laptop.home).store_path
        me = Home(laptop.home).identity().humd_id
        (long, tip), (other, _) = stored_hum(store, me, "long", TURNS), stored_hum(store, me, "other", 1)
        await laptop.start()
        await pair_devices(laptop, tmp_path / "phone")
        phone = HumdProcess(tmp_path / "phone", free_port())
        try:
            await phone.start()
            await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
            whole, _ = await read_all(phone, long)  # the phone holds every petal of it
            assert len(whole) == tip

            follower = await attached(laptop, long, tip)  # follows it live, from its tip
            damage_a_page_of(store, long)
            shown = await hum("show", long, "--json", home=laptop.home)  # an answer, not a hang
            assert shown.returncode == 1, shown.stderr
            cut = json.loads(shown.stdout)["unreadable"]
            assert cut["qualifier"] == "cannot-read" and 1 < cut["from"] < tip
            status = await asyncio.to_thread(laptop.get, "/hum/status")
            assert [d["sigil"] for d in status["store"]["damaged"]] == [long]
            assert f"hum {long} is set aside" in (await hum("status", home=laptop.home)).stdout
            for nestler in (follower, await attached(laptop, long, tip)):  # told, whenever it attached: no silent wait
                _, told = await nestler.wait_for(lambda t: t.chi == "error")
                assert told["qualifier"] == "cannot-read" and "set aside" in told["message"]
                nestler.close()
            refused = await prompt(laptop.home, "long", "go on")
            assert refused.returncode != 0 and "set aside" in refused.stderr + refused.stdout

            answered = await prompt(laptop.home, "other", "still here")  # every other hum: prompted, answered
            assert answered.returncode == 0 and json.loads(answered.stdout.splitlines()[-1])["chi"] == "finish", answered.stderr
            await phone.stop()
            await laptop.stop()
            said = laptop.said()
            assert said.count(f"hum {long} is set aside") == 1 and "Traceback" not in said, said[-2000:]

            checked = json.loads((await hum("store", "check", "--json", home=laptop.home)).stdout)
            named = [p["detail"] for p in checked["problems"] if (p["sigil"], p["problem"]) == (long, "unreadable-page")]
            assert named and named[0].startswith(f"wanes {cut['from']} to "), checked
            repaired = json.loads((await hum("store", "repair", "--json", home=laptop.home)).stdout)
            assert 0 < repaired["lost"]["petals"] < 100 and repaired["kept"]["hums"] == 2

            await laptop.start()  # alone: the gap is said, the rest read
            alone = await hum("show", long, "--json", home=laptop.home)
            assert alone.returncode == 1 and json.loads(alone.stdout)["unreadable"]["from"] == cut["from"], alone.stderr
            after, _ = await read_all(laptop, other)
            assert any(p.chi == "prompt" and p.get("text") == "still here" for p in after)  # durable across the restart
            assert (await asyncio.to_thread(laptop.get, "/hum/status"))["store"]["damaged"] == []

            await phone.start()
            await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
            assert await whole_again(laptop, long) == whole
        finally:
            await phone.stop()
            await laptop.stop()

    asyncio.new_event_loop().run_until_complete(story())


def test_a_commit_that_meets_a_damaged_page_under_a_running_humd_sets_that_hum_aside_and_every_other_is_answered(tmp_path):
    async def story() -> None:
        assert (await hum("operator", "init", "--name", "laptop", home=tmp_path / "laptop")).returncode == 0
        laptop = HumdProcess(tmp_path / "laptop", free_port())
        store, me = Home(laptop.home).store_path, Home(laptop.home).identity().humd_id
        (busy, _), (quiet, _) = stored_hum(store, me, "busy", 60), stored_hum(store, me, "quiet", 1)
        assert quiet < busy  # busy's rows are the b-tree's last: its last page, where its next petal goes, is its own
        await laptop.start()
        try:
            damage_a_page_of(store, busy, last=True)
            refused = await prompt(laptop.home, "busy", "go on")  # its petals cannot be stored: told, not left waiting
            assert refused.returncode != 0 and "set aside" in refused.stderr + refused.stdout, refused
            assert [d["sigil"] for d in (await asyncio.to_thread(laptop.get, "/hum/status"))["store"]["damaged"]] == [busy]
            answered = await prompt(laptop.home, "quiet", "still here")  # the committer goes on for every other hum
            assert answered.returncode == 0 and json.loads(answered.stdout.splitlines()[-1])["chi"] == "finish", answered.stderr
            await laptop.stop()
            await laptop.start()
            after, error = await read_all(laptop, quiet)
            assert error is None and any(p.chi == "prompt" and p.get("text") == "still here" for p in after)
            assert [d["sigil"] for d in (await asyncio.to_thread(laptop.get, "/hum/status"))["store"]["damaged"]] == [busy]
        finally:
            await laptop.stop()

    asyncio.new_event_loop().run_until_complete(story())


def test_a_commit_that_meets_a_damaged_page_stores_every_other_hum_and_sets_that_one_aside(tmp_path):
    path = tmp_path / "hums.db"
    store, tracker = SqliteStore(path), WaneTracker()
    # the damaged hum's rows come last in the b-tree: its last page is its own, and the other's pages are far from it
    kept, damaged = (Hum(sg, sg, "local", "me", tracker) for sg in sorted(sigil("local", sid) for sid in ("one", "two")))
    for hum in (damaged, kept):  # a few dozen pages each
        store.save_hum(hum)
        for _ in range(300):
            store.append(hum, hum.append("prompt", {"text": "a turn of some length " * 3}))
            store.append(hum, hum.append("finish", {"finishReason": "stop"}))
    store.flush()
    damage_a_page_of(path, damaged.sigil, last=True)  # where its next petal goes
    for hum in (damaged, kept):
        store.append(hum, hum.append("prompt", {"text": "after"}))
    durable = store.flush().durable  # no exception: the committer goes on
    assert [(h.sigil, wane) for h, wane in durable] == [(kept.sigil, 601)]
    assert [d.sigil for d in store.damaged] == [damaged.sigil]
    store.append(kept, kept.append("finish", {"finishReason": "stop"}))
    store.append(damaged, damaged.append("finish", {"finishReason": "stop"}))
    assert [(h.sigil, wane) for h, wane in store.flush().durable] == [(kept.sigil, 602)]  # one commit, nothing retried
    assert len(store.damaged) == 1
    store.close()
    again = SqliteStore(path)
    loaded = {h.sigil: h for h in again.load(WaneTracker())}
    assert loaded[kept.sigil].tip == 602 and loaded[kept.sigil].petal(601).body["text"] == "after"
    again.close()


def test_a_store_whose_schema_page_does_not_read_is_kept_aside_and_humd_starts_on_a_new_one(tmp_path):
    home = tmp_path / "laptop"
    async def story() -> None:
        assert (await hum("operator", "init", "--name", "laptop", home=home)).returncode == 0
        laptop = HumdProcess(home, free_port())
        await laptop.start()
        try:
            sigil_of(await prompt(home, "before", "hello"))
            await laptop.stop()
            damage_first_page(Home(home).store_path)
            await laptop.start()  # starts: nothing of the old file reads, and it says so
            damaged = (await asyncio.to_thread(laptop.get, "/hum/status"))["store"]["damaged"]
            assert [d["kind"] for d in damaged] == ["file"] and "does not open" in damaged[0]["reason"]
            said = (await hum("status", home=home)).stdout
            assert "the store hums.db is set aside" in said and "kept as" in said
            assert list(home.glob("hums.db.damaged-*"))  # the old file, kept for whoever investigates
            assert (await prompt(home, "after", "hello")).returncode == 0  # new hums are served and stored
        finally:
            await laptop.stop()

    asyncio.new_event_loop().run_until_complete(story())


def test_a_store_with_damaged_pages_at_start_loads_every_hum_that_reads_and_names_what_it_set_aside(tmp_path):
    path = tmp_path / "hums.db"
    store, tracker = SqliteStore(path), WaneTracker()
    kept, damaged = (Hum(sg, sg, "local", "me", tracker) for sg in sorted(sigil("local", sid) for sid in ("one", "two")))
    for hum in (kept, damaged):
        store.save_hum(hum, touched=1_000)
        store.append(hum, hum.append("prompt", {"text": "a turn of some length " * 3}))
        store.append(hum, hum.append("finish", {"finishReason": "stop"}))
    store.queue_prompt(kept, 1, {"text": "later"})
    store.flush()
    store.close()
    assert lengthen(path, damaged.sigil, 600) == 1202  # its last turn's transcript key is reckoned from its whole log at load
    damage_a_page_of(path, damaged.sigil)
    damage_the_table(path, "queued")
    again = SqliteStore(path)
    loaded = again.load(WaneTracker())  # no exception: the device starts
    assert [h.sigil for h in loaded] == [kept.sigil] and loaded[0].tip == 2
    assert {(d.sigil, d.kind) for d in again.damaged} == {(damaged.sigil, "hum"), ("the queued prompts", "table")}
    assert again.touched() == {kept.sigil: 1_000, damaged.sigil: 1_000} and again.tombstones() == []
    with sqlite3.connect(path) as db:  # no key reckoned from half a log was stored
        assert db.execute("SELECT transcript FROM petals WHERE sigil = ? AND wane = ?", (damaged.sigil, 1202)).fetchone() == (None,)
    again.close()
