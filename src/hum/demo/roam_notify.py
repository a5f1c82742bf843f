"""The roam story with notifications, between two real processes (`hum demo roam --notify --real`).

The laptop's worker asks before it runs a command; the operator has walked
away with the phone. The phone's browser holds a push subscription at the
phone's humd (made as a browser's would be, with the loopback push service of
`push_service.py`, which checks VAPID and decrypts). The phone gets exactly
one push, with Allow and Deny; Allow is pressed from the push (its one-time
capability), the laptop's worker runs the command, and the rest of the bloom
finishes with nothing pushed, because the phone opened the hum and is
watching. Every step is measured, and the push-to-decision path (ask petal on
the home, push delivered, action, permit petal on the home) against 1 s.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from hum.demo.push_service import PushService
from hum.demo.relay import LatencyRelay
from hum.demo.roam_approvals import ASKED_COMMAND
from hum.demo.roam_real import (
    HumdProcess,
    Nestler,
    free_port,
    new_operator,
    pair_devices,
    story_log,
)
from hum.demo.roam_real import report as real_report
from hum.scenario import DEFAULT_RTT, Criterion
from hum.wire.tones import Tone

# The whole path from the ask petal on the home to the permit petal on the home, on loopback.
PUSH_TO_DECISION_LIMIT = 1.0
# Any single wait of the story.
STEP_TIMEOUT = 30.0


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=STEP_TIMEOUT) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


async def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    return await asyncio.to_thread(_http, method, url, body)


async def _watch(url: str, opened: asyncio.Event) -> None:
    """The phone's web chat showing the hum: its watch stream, held open until cancelled."""
    reader, writer = await asyncio.open_connection(*url.removeprefix("http://").split("/", 1)[0].split(":"))
    path = "/" + url.split("/", 3)[3]
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    try:
        await reader.readuntil(b"event: seen")
        opened.set()
        await asyncio.Event().wait()
    finally:
        writer.close()


async def _until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + STEP_TIMEOUT
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)
    return value


async def run_notify(workdir: Path, lines: list[str], rtt: float = DEFAULT_RTT) -> dict[str, Criterion]:
    """The story; the phone reaches the laptop through a link of `rtt`."""
    note = story_log(lines)

    out: dict[str, Criterion] = {}
    lhome, phome = workdir / "laptop", workdir / "phone"
    await new_operator(lhome)
    laptop = HumdProcess(lhome, free_port(), env={"HUM_SCRIPTED_ASK": ASKED_COMMAND})
    phone = HumdProcess(phome, free_port())
    relay = LatencyRelay(("127.0.0.1", laptop.port), rtt / 2)
    push = await PushService().start()
    nestlers: list[Nestler] = []
    watching: asyncio.Task[None] | None = None
    try:
        await laptop.start()
        await relay.start()
        phone_id = await pair_devices(laptop, phome, via=relay.port)
        await phone.start()
        await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
        at_phone = phone.info["http"]
        push.vapid_key = (await http("GET", f"{at_phone}/hum/push/key"))[1]["publicKey"]
        status, sub = await http("POST", f"{at_phone}/hum/push/subscriptions", push.subscription("phone"))
        if status != 201:
            raise RuntimeError(f"the phone refused the subscription: {sub}")
        note("phone", f"the browser subscribed ({sub['id']}); linked to the laptop through a {rtt * 1000:g} ms RTT relay")

        oc = await Nestler.open(laptop, "opencode")
        nestlers.append(oc)
        oc.client.send(Tone(chi="prompt", sid="notify-roam", text="tidy up the project", rid="p1"))
        asked_at, ask = await oc.wait_for(lambda t: t.chi == "permission-ask")
        sg, permit_id = ask["sigil"], ask["permitId"]
        note("laptop", f"the worker asks: {ask['question']} (permit {permit_id}, wane {ask['wane']}); the operator is away")

        await push.wait_for(lambda got: any(g["payload"]["kind"] == "ask" for g in got), STEP_TIMEOUT)
        pushed = next(g for g in push.received if g["payload"]["kind"] == "ask")
        payload = pushed["payload"]
        allow, deny = (a["url"] for a in payload.get("actions", []))
        status, said = await http("POST", allow)
        decided_at, permit = await oc.wait_for(lambda t: t.chi == "permit")
        note("phone", f"one push ({(pushed['at'] - asked_at) * 1000:.0f} ms after the ask), Allow pressed on it: {status}")
        opened = asyncio.Event()
        watching = asyncio.create_task(_watch(f"{at_phone}/hum/watch/{sg}", opened))
        await asyncio.wait_for(opened.wait(), STEP_TIMEOUT)
        note("phone", "tapped the notification: the hum is open on the phone (watching)")
        total = decided_at - asked_at
        out["phone_gets_one_push_with_actions"] = Criterion(
            payload["permitId"] == permit_id and [a["action"] for a in payload["actions"]] == ["allow", "deny"] and push.refused == [],
            {"title": payload["title"], "actions": [a["title"] for a in payload["actions"]], "vapid_and_rfc8291_checked": push.refused == []},
        )
        out["allow_from_the_push_decides"] = Criterion(
            status == 200 and permit["decision"] == "allow" and permit["from"] == phone_id,
            {"status": status, "decision": permit["decision"], "from": str(permit["from"])[:12]},
        )
        out["push_to_decision_under_1s"] = Criterion(
            total <= PUSH_TO_DECISION_LIMIT,
            {"total_ms": round(total * 1000, 1), "ask_to_push_ms": round((pushed["at"] - asked_at) * 1000, 1), "push_to_permit_ms": round((decided_at - pushed["at"]) * 1000, 1)},
            PUSH_TO_DECISION_LIMIT * 1000,
        )
        again, forged = await http("POST", deny), await http("POST", allow.rsplit("/", 1)[0] + "/forged")
        out["second_answer_and_forged_capability_refused"] = Criterion(
            again[0] == 409 and again[1]["error"]["code"] == "already-decided" and forged[0] == 404,
            {"second": again[0], "forged": forged[0]},
        )

        _, fin = await oc.wait_for(lambda t: t.chi == "finish")
        told = "".join(t.get("delta", "") for _, t in oc.seen if t.chi == "chunk" and t["wane"] > ask["wane"])
        out["tool_runs_and_bloom_finishes"] = Criterion(f"(ran {ASKED_COMMAND})" in told, {"finish_wane": fin["wane"], "worker_was_told": f"(ran {ASKED_COMMAND})" in told})
        note("laptop", f"the worker ran `{ASKED_COMMAND}`; the bloom finished at wane {fin['wane']}")

        async def read_by_the_phones_notifier() -> dict[str, Any] | None:
            _, state = await http("GET", f"{at_phone}/hum/push/hums/{sg}")
            # the watching page reads the hum as it goes (its mark follows the tip within a second)
            return state if (state.get("notifiedTo") or 0) >= fin["wane"] and state["seen"] >= fin["wane"] else None

        state = await _until(read_by_the_phones_notifier, "the phone's notifier never read the finish")
        kinds = [g["payload"]["kind"] for g in push.received]
        out["finish_not_pushed_while_watching"] = Criterion(
            "finish" not in kinds and state["watched"] and state["seen"] >= fin["wane"],
            {"pushes": kinds, "watched": state["watched"], "seen": state["seen"]},
        )
        out["ask_withdrawn_once_answered"] = Criterion(
            [g["payload"]["tag"] for g in push.received if g["payload"]["kind"] == "withdraw"] == [payload["tag"]],
            {"withdrawn": payload["tag"]},
        )
        note("phone", f"pushes received: {kinds}")
    finally:
        if watching is not None:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
        for n in nestlers:
            n.close()
        await laptop.stop()
        await phone.stop()
        await relay.close()
        await push.close()
    return out


def report(rtt: float = DEFAULT_RTT) -> tuple[dict[str, Any], list[str]]:
    """Run the story; the same report shape as the other roam runs."""
    return real_report(rtt, story=run_notify, extra={"story": "notify"})
