"""The roam story with approvals, between two real processes (`hum demo roam --approvals --real`).

The laptop's worker (the scripted one, told to ask) wants to run a command
half-way through each answer. The operator has walked away; the phone sees
the open ask, answers it, and the laptop's worker goes on. Every answer goes
through a public surface: the thrum socket of either device.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hum.daemon.home import OPERATOR_KEY_FILE
from hum.demo.intruder import intrude as forge_link
from hum.demo.relay import LatencyRelay
from hum.demo.roam_real import (
    HumdProcess,
    Nestler,
    free_port,
    new_operator,
    pair_devices,
    story_log,
)
from hum.demo.roam_real import report as real_report
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck
from hum.ensemble.trust.tls import client_context
from hum.scenario import DEFAULT_RTT, LATENCY_MARGIN, WALK_AWAY_AT, Criterion
from hum.wire.tones import Tone

# The command the laptop's worker asks leave to run in every bloom.
ASKED_COMMAND = "touch approved.txt"
# Asks nobody answers are denied after this many seconds in the story: long
# enough for a forged device's try and the phone's answer (a few seconds on a
# busy machine), short enough that the story's unanswered ask is denied in it.
STORY_PERMIT_TIMEOUT = 8.0
# The denial of an unanswered ask is made on the home's next tick (1 s) after the timeout.
TIMEOUT_SLACK = 3.0


def _is_ask(t: Tone) -> bool:
    return t.chi == "permission-ask"


def _refusal(rid: str) -> Callable[[Tone], bool]:
    return lambda t: t.chi == "error" and t.get("rid") == rid


async def forged_answer(laptop: HumdProcess, sigil: str, permit_id: str) -> list[Tone]:
    """A device with a real sibling certificate, claiming another's id, tries to allow the ask."""
    operator = OperatorKey.from_private_pem((laptop.home / OPERATOR_KEY_FILE).read_bytes())
    liar = Identity.mint(operator, "liar")
    claimed = Identity.mint(operator, "victim").humd_id
    reader, writer = await asyncio.open_connection("127.0.0.1", laptop.port, ssl=client_context(liar, SiblingCheck(liar.operator)), server_hostname="127.0.0.1")
    answer = {"chi": "release-permit", "sigil": sigil, "permitId": permit_id, "decision": "allow", "rid": "forged"}
    tones = await forge_link(
        lambda: reader.read(65536), writer.write, cert_pem=liar.certificate.pem(), claimed=claimed,
        signer=liar.device_key, target=laptop.info["humdId"], sigil=sigil, then=[answer],
    )
    writer.close()
    return tones


async def run_approvals(workdir: Path, lines: list[str], rtt: float = DEFAULT_RTT) -> dict[str, Criterion]:
    """The story; the phone reaches the laptop through a link of `rtt`."""
    note = story_log(lines)

    out: dict[str, Criterion] = {}
    lhome, phome = workdir / "laptop", workdir / "phone"
    await new_operator(lhome)
    asking = {"HUM_SCRIPTED_ASK": ASKED_COMMAND, "HUM_PERMIT_TIMEOUT": f"{STORY_PERMIT_TIMEOUT:g}"}
    laptop = HumdProcess(lhome, free_port(), env=asking)
    phone = HumdProcess(phome, free_port())
    nestlers: list[Nestler] = []
    relay = LatencyRelay(("127.0.0.1", laptop.port), rtt / 2)
    try:
        await laptop.start()
        await relay.start()
        phone_id = await pair_devices(laptop, phome, via=relay.port)
        await phone.start()
        laptop_id = laptop.info["humdId"]
        await laptop.wait_peers(lambda p: p == [phone_id])
        await phone.wait_peers(lambda p: p == [laptop_id])
        note("both", f"linked through a {rtt * 1000:g} ms RTT relay; the laptop's worker asks before it runs `{ASKED_COMMAND}`")

        oc = await Nestler.open(laptop, "opencode")
        nestlers.append(oc)
        oc.client.send(Tone(chi="prompt", sid="approvals-roam", text="tidy up the project", rid="p1"))
        sg = (await oc.wait_for(lambda t: t.chi == "hello"))[1]["sigil"]
        await oc.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= WALK_AWAY_AT + 1)
        cursor = oc.wanes(sg)[-1]
        note("laptop", f"hum {sg} blooming; the operator walks away after wane {cursor}")
        asked_at, ask = await oc.wait_for(_is_ask)
        note("laptop", f"the worker asks: {ask['question']} (permit {ask['permitId']}, wane {ask['wane']})")

        ai = await Nestler.open(phone, "vercel-ai")
        nestlers.append(ai)
        ai.client.send(Tone(chi="attach", sigil=sg, since=cursor, rid="a1"))
        _, seen = await ai.wait_for(_is_ask)
        replayed = ai.wanes(sg)
        out["late_phone_sees_the_open_ask"] = Criterion(
            seen["permitId"] == ask["permitId"] and seen["input"] == {"command": ASKED_COMMAND} and seen["tool"] == "Bash"
            and replayed == list(range(cursor + 1, ask["wane"] + 1)),
            {"permitId": seen["permitId"], "tool": seen["tool"], "input": seen["input"], "replayed": len(replayed)},
        )
        note("phone", f"attached from wane {cursor}: sees the open ask {seen['permitId']}")

        heard = await forged_answer(laptop, sg, ask["permitId"])
        note("laptop", f"a forged device tried to allow it: heard {[t.get('qualifier') or t.chi for t in heard]}")

        sent = time.monotonic()
        ai.client.send(Tone(chi="release-permit", sigil=sg, permitId=ask["permitId"], decision="allow", rid="r1"))
        at, permit = await oc.wait_for(lambda t: t.chi == "permit")
        answer_ms = (at - sent) * 1000
        note("laptop", f"permit {permit['decision']} from {str(permit['from'])[:12]} after {answer_ms:.1f} ms")
        refusals = [i for i, t in enumerate(heard) if t.chi == "error"]
        out["forged_device_cannot_answer"] = Criterion(
            bool(refusals) and heard[refusals[0]].get("qualifier") == "identity-mismatch" and refusals[0] == len(heard) - 1
            and permit["from"] == phone_id,
            {"heard": [t.get("qualifier") or t.chi for t in heard], "first_answer_from": str(permit["from"])[:12]},
        )
        out["phone_answer_reaches_home_within_rtt_plus_50ms"] = Criterion(
            answer_ms <= (rtt + LATENCY_MARGIN) * 1000 and permit["decision"] == "allow", round(answer_ms, 3), (rtt + LATENCY_MARGIN) * 1000
        )

        oc.client.send(Tone(chi="release-permit", sigil=sg, permitId=ask["permitId"], decision="deny", rid="late-l"))
        _, late_here = await oc.wait_for(_refusal("late-l"))
        ai2 = await Nestler.open(phone, "phone-web")
        nestlers.append(ai2)
        ai2.client.send(Tone(chi="release-permit", sigil=sg, permitId=ask["permitId"], decision="deny", rid="late-p"))
        _, late_there = await ai2.wait_for(_refusal("late-p"))
        out["later_answers_refused_already_decided"] = Criterion(
            late_here.get("qualifier") == late_there.get("qualifier") == "already-decided",
            {"laptop": late_here.get("qualifier"), "phone": late_there.get("qualifier")},
        )

        _, fin_l = await oc.wait_for(lambda t: t.chi == "finish")
        _, fin_p = await ai.wait_for(lambda t: t.chi == "finish")
        _, permit_p = await ai.wait_for(lambda t: t.chi == "permit")
        laptop_text = "".join(t.get("delta", "") for _, t in oc.seen if t.chi == "chunk" and t["wane"] > cursor)
        out["allowed_bloom_finishes_on_both"] = Criterion(
            fin_l["wane"] == fin_p["wane"] and fin_l["usage"] == fin_p["usage"] and permit_p["from"] == phone_id
            and ai.text(sg) == laptop_text and f"(ran {ASKED_COMMAND})" in laptop_text,
            {"wane": fin_l["wane"], "usage": fin_l["usage"], "worker_was_told": f"(ran {ASKED_COMMAND})" in laptop_text},
        )

        mark = len(ai.seen)
        ai.client.send(Tone(chi="prompt", sigil=sg, text="and one more thing", rid="p2"))
        _, ask2 = await ai.wait_for(_is_ask, after=mark)
        ai.client.send(Tone(chi="release-permit", sigil=sg, permitId=ask["permitId"], decision="allow", rid="old"))
        _, old = await ai.wait_for(_refusal("old"), after=mark)
        ai.client.send(Tone(chi="release-permit", sigil=sg, permitId="no-such-ask", decision="allow", rid="none"))
        _, none = await ai.wait_for(_refusal("none"), after=mark)
        ai.client.send(Tone(chi="release-permit", sigil=sg, permitId=ask2["permitId"], decision="deny", message="not from the train", rid="r2"))
        _, permit2 = await ai.wait_for(lambda t: t.chi == "permit", after=mark)
        _, fin2 = await ai.wait_for(lambda t: t.chi == "finish", after=mark)
        told = "".join(t.get("delta", "") for _, t in ai.seen[mark:] if t.chi == "chunk")
        note("phone", f"denied {ask2['permitId']}: the worker said {told[told.find('('):told.find(')') + 1]!r}")
        out["a_decision_is_never_applied_to_another_ask"] = Criterion(
            ask2["permitId"] != ask["permitId"] and old.get("qualifier") == "already-decided" and none.get("qualifier") == "unknown-permit"
            and permit2["permitId"] == ask2["permitId"] and permit2["decision"] == "deny",
            {"old_answer": old.get("qualifier"), "made_up": none.get("qualifier"), "second_ask": permit2["decision"]},
        )
        out["deny_reaches_the_worker_with_its_reason"] = Criterion(
            f"(did not run {ASKED_COMMAND}: not from the train)" in told and permit2.get("message") == "not from the train" and fin2["usage"]["output_tokens"] > 0,
            {"from": str(permit2["from"])[:12], "message": permit2.get("message")},
        )

        mark = len(ai.seen)
        ai.client.send(Tone(chi="prompt", sigil=sg, text="and leave it running", rid="p3"))
        asked3, ask3 = await ai.wait_for(_is_ask, after=mark)
        note("phone", f"ask {ask3['permitId']} left unanswered")
        at3, permit3 = await ai.wait_for(lambda t: t.chi == "permit" and t.get("permitId") == ask3["permitId"], after=mark)
        await ai.wait_for(lambda t: t.chi == "finish", after=mark)
        waited = at3 - asked3
        note("laptop", f"denied by the home after {waited:.1f} s: {permit3.get('message')}")
        out["unanswered_ask_denied_after_timeout"] = Criterion(
            permit3["decision"] == "deny" and permit3["from"] == laptop_id and "nobody answered" in str(permit3.get("message"))
            and STORY_PERMIT_TIMEOUT - 1 <= waited <= STORY_PERMIT_TIMEOUT + TIMEOUT_SLACK,
            {"seconds": round(waited, 2), "message": permit3.get("message")}, STORY_PERMIT_TIMEOUT + TIMEOUT_SLACK,
        )
    finally:
        for n in nestlers:
            n.close()
        await laptop.stop()
        await phone.stop()
        await relay.close()
    return out


def report(rtt: float = DEFAULT_RTT) -> tuple[dict[str, Any], list[str]]:
    """Run the story; the same report shape as the other roam runs."""
    return real_report(rtt, story=run_approvals, extra={"story": "approvals"})
