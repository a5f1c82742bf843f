"""A damaged row in one device's store is fetched back from a sibling that holds the petal (real processes)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import pytest
from humd_helpers import hum, laptop_and_phone
from page_damage import read_all

from hum.daemon.home import Home

pytestmark = pytest.mark.slow

WAIT = 30.0


def test_a_petal_that_does_not_read_at_the_home_is_fetched_back_from_the_phone_and_the_log_reads_again(tmp_path):
    async def story() -> None:
        async with laptop_and_phone(tmp_path) as (laptop, phone):
            out = await asyncio.to_thread(hum, "prompt", "--sid", "damaged", "hello", "--json", home=laptop.home)
            sg = json.loads(out.stdout.splitlines()[-1])["sigil"]
            whole, _ = await read_all(phone, sg)  # the phone holds every petal
            await laptop.stop()
            with sqlite3.connect(Home(laptop.home).store_path) as db:  # one row no longer reads
                db.execute("UPDATE petals SET body = '{not json' WHERE sigil = ? AND wane = 5", (sg,))
            await laptop.start()
            await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
            cut, error = await read_all(laptop, sg)
            assert len(cut) == 4 and error is not None and error["qualifier"] == "cannot-read"  # said, not hidden
            deadline = time.monotonic() + WAIT
            while True:  # the laptop asks the phone for wane 5 and writes it again
                again, error = await read_all(laptop, sg)
                if error is None:
                    break
                assert time.monotonic() < deadline, "the damaged petal was never fetched back"
                await asyncio.sleep(0.1)
            assert again == whole

    asyncio.new_event_loop().run_until_complete(story())
