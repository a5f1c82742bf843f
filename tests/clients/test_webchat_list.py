"""The phone's list of hums in Chromium at 360×640: grouped by project and device, the running and waiting hums
first, with this browser's unread counts."""

from __future__ import annotations

from client_helpers import TEST_OUTPUT, need_chromium, run_node
from surface_helpers import ASKED_COMMAND, WAIT

from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.node.projects import Project

# Slow enough that the project's hum is still running while the page looks; quick for the finished ones.
SLOW_TPS, FAST_TPS = 2.0, 200.0
# Chromium start-up, one list, one hum read.
BROWSER_TIMEOUT = 60.0


def laptop_brood() -> Brood:
    return Brood(
        {
            "scripted": lambda: ScriptedWorker(tokens_per_second=FAST_TPS),
            "slow": lambda: ScriptedWorker(tokens_per_second=SLOW_TPS),
            "asker": lambda: ScriptedWorker(tokens_per_second=FAST_TPS, ask=ASKED_COMMAND),
        },
        "scripted",
    )


async def test_hums_are_grouped_by_project_and_device_with_the_busy_ones_first(sim, served, tmp_path):
    need_chromium()
    laptop = await sim.spawn("laptop", brood=laptop_brood())
    phone = await sim.spawn("phone")
    laptop.apply(laptop.router.set_projects([Project("api", "slow", None, (), str(tmp_path))]))
    await sim.link(phone, laptop)
    on_phone, on_laptop = sim.nestler(phone, "cli"), sim.nestler(laptop, "opencode")

    on_phone.send("prompt", sid="here", text="a hum on the phone")
    here = (await on_phone.wait_for(lambda t: t.chi == "finish", timeout=WAIT)).tone["sigil"]
    on_laptop.send("prompt", sid="done", text="a finished hum on the laptop")
    done = (await on_laptop.wait_for(lambda t: t.chi == "finish", timeout=WAIT)).tone["sigil"]
    on_laptop.send("prompt", sid="ask", text="one that asks", modelId="asker")
    asking = (await on_laptop.wait_for(lambda t: t.chi == "permission-ask", timeout=WAIT)).tone["sigil"]
    for sg in (done, asking):  # the phone follows them (it holds their petals)
        on_phone.send("attach", sigil=sg, since=0)
    await on_phone.wait_for(lambda t: t.chi == "permission-ask" and t["sigil"] == asking, timeout=WAIT)
    await on_phone.wait_for(lambda t: t.chi == "finish" and t["sigil"] == done, timeout=WAIT)
    on_phone.send("prompt", project="api", text="run the tests")
    running = (await on_phone.wait_for(lambda t: t.chi == "hello" and t["sigil"] not in (here, done, asking), timeout=WAIT)).tone["sigil"]
    await on_phone.wait_for(lambda t: t.chi == "chunk" and t["sigil"] == running, timeout=WAIT)

    srv = await served(phone)
    TEST_OUTPUT.mkdir(exist_ok=True)
    out = await run_node("webchat_list.mjs", {"HUM_URL": srv.url, "HUM_READ": done, "HUM_SHOTS": str(TEST_OUTPUT), "HUM_USER_DATA": str(tmp_path / "chromium")}, BROWSER_TIMEOUT)

    grouped = [(g["label"], [h["sigil"] for h in g["hums"]]) for g in out["before"]]
    # the two groups with a running or waiting hum come first (in the humd's order), inside a group the busy hum first
    assert sorted(grouped[:2]) == [("api · laptop", [running]), ("no project · laptop", [asking, done])]
    assert grouped[2:] == [("no project · this device", [here])]
    shown = {h["sigil"]: h for g in out["before"] for h in g["hums"]}
    assert shown[running]["meta"].startswith("running") and shown[asking]["meta"].startswith("waiting for you")
    assert shown[done]["unread"] == str(phone.hums[done].tip)  # never opened in this browser: all of it is new
    after = {h["sigil"]: h for g in out["after"] for h in g["hums"]}
    assert after[done]["unread"] == "" and after[here]["unread"] == shown[here]["unread"]  # read: its count is gone
    assert out["fits"]  # nothing wider than a 360 px phone
