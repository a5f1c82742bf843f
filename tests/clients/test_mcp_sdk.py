"""The official `mcp` SDK's client against hum's MCP server: streamable HTTP at `/mcp`, and `hum mcp` over stdio."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import mcp.types as types
import pytest
from client_helpers import over_http
from humd_helpers import HumUp, init_home
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from surface_helpers import FAST_TPS, WAIT, asked_on_laptop, assistant_texts

TOOLS = {"list_hums", "read_hum", "prompt_hum", "start_hum", "answer_permit", "adopt_hum", "forget_hum"}


async def laptop_hum(sim, laptop, sid: str = "trip") -> str:
    """A hum homed on the laptop, one bloom long."""
    nestler = sim.nestler(laptop, "opencode")
    nestler.send("prompt", sid=sid, text="plan the trip")
    finish = (await nestler.wait_for(lambda t: t.chi == "finish", timeout=WAIT)).tone
    nestler.close()
    return str(finish["sigil"])


async def test_from_the_phone_list_read_and_prompt_a_hum_homed_on_the_laptop(sim, served):
    laptop, phone = await sim.spawn("laptop"), await sim.spawn("phone")
    await sim.link(laptop, phone)
    sg = await laptop_hum(sim, laptop)
    srv = await served(phone)
    async with over_http(srv.url) as mcp:
        assert {t.name for t in (await mcp.list_tools()).tools} >= TOOLS
        listed = (await mcp.call_tool("list_hums", {})).structured_content
        (entry,) = [h for h in listed["hums"] if h["sigil"] == sg]
        assert entry["device"] == "laptop" and not entry["here"] and entry["unread"] and not entry["blooming"]

        answered = await mcp.call_tool("prompt_hum", {"sigil": sg, "text": "and the way back?"})
        assert not answered.is_error
        assert answered.content[0].text == assistant_texts(laptop, sg)[1]
        assert answered.structured_content["sigil"] == sg and answered.structured_content["wane"] == laptop.hums[sg].tip
        prompt = [p for p in laptop.hums[sg].petals if p.chi == "prompt"][-1]
        assert prompt.body["from"] == phone.id  # routed to the home, from this device

        read = (await mcp.call_tool("read_hum", {"sigil": sg, "since": 0, "limit": 5})).structured_content
        assert [p["wane"] for p in read["petals"]] == [1, 2, 3, 4, 5] and read["more"]
        listed = (await mcp.call_tool("list_hums", {})).structured_content
        assert [h["unread"] for h in listed["hums"] if h["sigil"] == sg] == [False]  # the answer was read by this client


async def test_bad_arguments_are_mcp_errors_naming_the_field(sim, served):
    laptop = await sim.spawn("laptop")
    srv = await served(laptop)
    async with over_http(srv.url) as mcp:
        for name, args, field in (
            ("prompt_hum", {"sigil": "0123456789ab"}, "text"),
            ("prompt_hum", {"text": "hi"}, "sigil"),
            ("read_hum", {"sigil": "0123456789ab", "limit": 0}, "limit"),
            ("answer_permit", {"sigil": "0123456789ab", "permitId": "p", "decision": "maybe"}, "decision"),
            ("no_such_tool", {}, "name"),
        ):
            with pytest.raises(MCPError) as bad:
                await mcp.call_tool(name, args)
            assert bad.value.code == types.INVALID_PARAMS and bad.value.message.startswith(f"{field}:"), (name, bad.value.message)
        unknown = await mcp.call_tool("prompt_hum", {"sigil": "0123456789ab", "text": "hi"})
        assert unknown.is_error and "0123456789ab" in unknown.content[0].text
    assert not laptop.hums


async def test_an_ask_on_the_laptop_is_answered_over_mcp_from_the_phone(sim, served):
    asked = await asked_on_laptop(sim, FAST_TPS)
    sg, permit_id = asked.ask["sigil"], asked.ask["permitId"]
    srv = await served(asked.phone)
    async with over_http(srv.url) as mcp:
        done = await mcp.call_tool("answer_permit", {"sigil": sg, "permitId": permit_id, "decision": "allow"})
        assert not done.is_error and done.structured_content["decision"] == "allow"
        again = await mcp.call_tool("answer_permit", {"sigil": sg, "permitId": permit_id, "decision": "deny"})
        assert again.is_error and "already" in again.content[0].text
    permit = (await asked.nestler.wait_for(lambda t: t.chi == "permit", timeout=WAIT)).tone
    assert permit["decision"] == "allow" and permit["from"] == asked.phone.id
    await asked.nestler.wait_for(lambda t: t.chi == "finish", timeout=WAIT)


async def test_a_handshake_era_client_subscribes_and_hears_when_petals_arrive(sim, served):
    """`resources/subscribe`, as clients of the 2025 protocol (Claude Code's) do it."""
    laptop, phone = await sim.spawn("laptop"), await sim.spawn("phone")
    await sim.link(laptop, phone)
    sg = await laptop_hum(sim, laptop)
    srv = await served(phone)
    updates: list[str] = []
    heard = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            heard.set()

    async with over_http(srv.url, on_message) as mcp:
        uris = [str(r.uri) for r in (await mcp.list_resources()).resources]
        assert f"hum://{sg}" in uris
        text = (await mcp.read_resource(f"hum://{sg}")).contents[0].text
        assert "plan the trip" in text
        with pytest.warns(MCPDeprecationWarning):  # the SDK's note that 2026 clients listen instead (next test)
            await mcp.subscribe_resource(f"hum://{sg}")
        assert not updates  # nothing new yet
        nestler = sim.nestler(laptop, "opencode")
        nestler.send("prompt", sigil=sg, text="one more thing")
        await asyncio.wait_for(heard.wait(), WAIT)
        await nestler.wait_for(lambda t: t.chi == "finish" and t["wane"] > 42, timeout=WAIT)
        nestler.close()
        assert set(updates) == {f"hum://{sg}"}
        assert "one more thing" in (await mcp.read_resource(f"hum://{sg}")).contents[0].text


@pytest.mark.slow
async def test_hum_mcp_over_stdio_prompts_the_running_humd(tmp_path):
    home = init_home(tmp_path / "laptop")
    with HumUp(home):
        server = StdioServerParameters(command=sys.executable, args=["-m", "hum.cli", "mcp", "--home", str(home)], env=dict(os.environ))
        async with stdio_client(server) as (read, write), ClientSession(read, write) as mcp:
            await mcp.initialize()
            assert {t.name for t in (await mcp.list_tools()).tools} >= TOOLS
            started = await asyncio.wait_for(mcp.call_tool("prompt_hum", {"sid": "from-an-agent", "text": "hello"}), WAIT)
            assert not started.is_error and len(started.content[0].text.split()) == 40
            sg = started.structured_content["sigil"]
            listed = (await mcp.call_tool("list_hums", {})).structured_content
            assert [h["sid"] for h in listed["hums"] if h["sigil"] == sg] == ["from-an-agent"]
            with pytest.raises(MCPError) as bad:
                await mcp.call_tool("read_hum", {"since": 0})
            assert bad.value.message.startswith("sigil:")


async def test_a_2026_client_calls_tools_and_listens_for_a_hum(sim, served):
    from mcp.client import Client

    laptop = await sim.spawn("laptop")
    sg = await laptop_hum(sim, laptop)
    srv = await served(laptop)
    async with Client(f"{srv.url}/mcp") as mcp:
        assert {t.name for t in (await mcp.list_tools()).tools} >= TOOLS
        async with mcp.listen(resource_subscriptions=[f"hum://{sg}"]) as events:
            nestler = sim.nestler(laptop, "opencode")
            nestler.send("prompt", sigil=sg, text="one more thing")
            event = await asyncio.wait_for(anext(aiter(events)), WAIT)
            assert getattr(event, "uri", None) == f"hum://{sg}"
            await nestler.wait_for(lambda t: t.chi == "finish" and t["wane"] > 42, timeout=WAIT)
            nestler.close()
        answered = await mcp.call_tool("prompt_hum", {"sigil": sg, "text": "and then?"})
        assert answered.structured_content["sigil"] == sg and answered.content[0].text == assistant_texts(laptop, sg)[-1]


async def test_adopt_start_and_forget_over_mcp(sim, served):
    laptop, phone = await sim.spawn("laptop"), await sim.spawn("phone")
    await sim.link(laptop, phone)
    sg = await laptop_hum(sim, laptop)
    srv = await served(phone)
    async with over_http(srv.url) as mcp:
        unheld = await mcp.call_tool("adopt_hum", {"sigil": sg})
        assert unheld.is_error and "attach to it first" in unheld.content[0].text
        await mcp.call_tool("read_hum", {"sigil": sg})  # the phone holds the hum's petals now
        alive = await mcp.call_tool("adopt_hum", {"sigil": sg})
        assert alive.is_error and alive.structured_content["error"] == "home-alive"
        await sim.kill(laptop)
        await asyncio.wait_for(phone.wait_peers(lambda peers: laptop.id not in peers), WAIT)
        adopted = await mcp.call_tool("adopt_hum", {"sigil": sg})
        assert not adopted.is_error and adopted.structured_content["home"] == phone.id and adopted.structured_content["epoch"] == 1

        started = await mcp.call_tool("start_hum", {"text": "something new", "wait": False})
        new = started.structured_content["sigil"]
        assert started.structured_content["answer"] is None and started.structured_content["wane"] == 1
        assert phone.hums[new].home == phone.id

        gone = await mcp.call_tool("forget_hum", {"sigil": sg})
        assert not gone.is_error and sg not in phone.hums
        again = await mcp.call_tool("forget_hum", {"sigil": sg})
        assert again.is_error


async def test_junk_and_oversized_bodies_at_mcp_are_answered_never_a_500(sim, served):
    import httpx

    laptop = await sim.spawn("laptop")
    srv = await served(laptop, max_body=64 * 1024)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=srv.url) as http:
        junk = await http.post("/mcp", content=b"{not json", headers=headers)
        assert junk.status_code == 400 and "error" in junk.json()
        big = await http.post("/mcp", content=b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "' + b"x" * 100_000 + b'"}}', headers=headers)
        assert big.status_code == 413
    assert not laptop.hums
