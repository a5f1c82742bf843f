"""Projects in the sim: a device announces its projects at link-up, and a prompt naming one starts its hum there."""

from __future__ import annotations

from hum.brood.pool import Brood
from hum.brood.scripted import ScriptedWorker
from hum.daemon.projects import project_aware
from hum.node.projects import Project
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim, until
from hum.wire.tones import sigil

TPS = 200.0


def project_brood(seen_options: list[dict]) -> Brood:
    """A scripted default worker, and a `claude-cli` kind that records the options each of its cells was made with."""

    def cli_cell(sg: str, **options) -> ScriptedWorker:
        seen_options.append({"sigil": sg, **options})
        return ScriptedWorker(tokens_per_second=TPS)

    return Brood({"scripted": lambda: ScriptedWorker(tokens_per_second=TPS), "claude-cli": cli_cell}, "scripted")


def test_a_prompt_naming_a_project_mints_its_hum_on_the_device_that_owns_it(tmp_path):
    run_virtual(_project_prompt_story(tmp_path))


async def _project_prompt_story(tmp_path) -> None:
    sim = Sim(tokens_per_second=TPS)
    options: list[dict] = []
    laptop = await sim.spawn("laptop", brood=project_brood(options))
    project_aware(laptop.brood, laptop)  # as `hum up` does
    phone = await sim.spawn("phone")
    laptop.apply(laptop.router.set_projects([Project("api", "claude-cli", "plan", ("Read",), str(tmp_path))]))
    await sim.link(phone, laptop)
    await until(lambda: "api" in phone.router.projects.theirs.get(laptop.id, {}), "the phone heard the laptop's projects")

    nestler = sim.nestler(phone, "cli")
    nestler.send("prompt", project="api", text="run the tests", rid="p1", reqId="mine")
    hello = (await nestler.wait_for(lambda t: t.chi == "hello")).tone
    assert hello["home"] == laptop.id
    finish = (await nestler.wait_for(lambda t: t.chi == "finish")).tone
    sg = hello["sigil"]
    assert finish["sigil"] == sg == sigil("claude-cli", hello["sid"])
    hum = laptop.hums[sg]
    assert hum.home == laptop.id and hum.nest == "claude-cli"
    (prompt,) = [p for p in hum.petals if p.chi == "prompt"]
    assert prompt.body["project"] == "api" and prompt.body["device"] == phone.id
    assert str(tmp_path) not in str([p.body for p in phone.hums[sg].petals])  # the directory stayed on the laptop
    # the project's worker ran with its directory, mode and allowed tools
    assert options == [{"sigil": sg, "cwd": str(tmp_path), "permission_mode": "plan", "allowed_tools": ["Read"]}]

    # a second prompt to the same hum runs in the same project
    nestler.send("prompt", sigil=sg, text="and again")
    await nestler.wait_for(lambda t: t.chi == "finish" and t["wane"] > finish["wane"])
    assert laptop.brood.live()[sg] == "claude-cli"
    await sim.close()


def test_a_project_added_later_reaches_linked_siblings_and_a_removed_one_is_refused(tmp_path):
    run_virtual(_added_later_story(tmp_path))


async def _added_later_story(tmp_path) -> None:
    sim = Sim(tokens_per_second=TPS)
    laptop = await sim.spawn("laptop")
    phone = await sim.spawn("phone")
    await sim.link(phone, laptop)
    laptop.apply(laptop.router.set_projects([Project("blog", "scripted", None, (), str(tmp_path))]))
    await until(lambda: "blog" in phone.router.projects.theirs.get(laptop.id, {}), "the phone heard the new project")
    laptop.apply(laptop.router.set_projects([]))
    await until(lambda: not phone.router.projects.theirs.get(laptop.id), "the phone heard it was removed")
    nestler = sim.nestler(phone, "cli")
    nestler.send("prompt", project="blog", text="x", rid="gone")
    refused = (await nestler.wait_for(lambda t: t.chi == "error")).tone
    assert (refused["code"], refused["qualifier"], refused["rid"]) == ("route-error", "unknown-project", "gone")
    assert "'blog'" in refused["message"]
    assert not laptop.hums and not phone.hums
    await sim.close()
