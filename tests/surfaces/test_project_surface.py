"""The web chat's project doors: every project of the ensemble (never a directory), a hum started in one, and the refusals."""

from __future__ import annotations

import aiohttp
from surface_helpers import WAIT

from hum.node.projects import Project
from hum.sim.harness import until


async def test_the_web_chat_lists_projects_and_starts_a_hum_on_the_device_that_owns_one(sim, served, tmp_path):
    laptop = await sim.spawn("laptop")
    phone = await sim.spawn("phone")
    laptop.apply(laptop.router.set_projects([Project("api", "scripted", "plan", ("Read",), str(tmp_path))]))
    await sim.link(phone, laptop)
    await until(lambda: phone.router.projects.theirs.get(laptop.id), "the phone heard the laptop's projects", WAIT)
    srv = await served(phone)
    async with aiohttp.ClientSession() as http:
        async with http.get(srv.url + "/api/projects") as r:
            listed = (await r.json())["projects"]
        assert listed == [{"name": "api", "worker": "scripted", "permissionMode": "plan", "device": laptop.id, "deviceName": "laptop", "here": False, "linked": True}]
        async with http.post(srv.url + "/api/hums", json={"text": "run the tests", "project": "api"}) as r:
            assert r.status == 202
            started = await r.json()
        assert laptop.hums[started["sigil"]].home == laptop.id and started["wane"] == 1
        for name, status in (("nope", 404), ("../etc", 404), (7, 400)):
            async with http.post(srv.url + "/api/hums", json={"text": "x", "project": name}) as r:
                error = (await r.json())["error"]
                assert r.status == status and (str(name) in error["message"] or error["param"] == "project"), error
    assert len(laptop.hums) == 1 and len(phone.hums) <= 1  # nothing else started
