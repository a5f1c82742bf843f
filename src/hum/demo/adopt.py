"""The roam story, continued past its end: the laptop dies for good mid-bloom, the phone adopts the hum and
carries on with the full history on its own worker, and the laptop, back at last, follows the phone.

`hum demo roam --adopt [--real] --json` runs it in the sim (virtual clock) or
with two real humd processes, and reports a criterion for each step with
what was measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from hum.demo.roam import Timeline
from hum.demo.roam_real import (
    HumdProcess,
    Nestler,
    free_port,
    new_operator,
    pair_devices,
    run_cli,
    story_log,
)
from hum.scenario import DEFAULT_RTT, PEER_LOSS_LIMIT, WALK_AWAY_AT, Criterion
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim
from hum.store.sqlite import SqliteStore
from hum.wire.tones import Tone, is_petal

# How long the real laptop may take to follow the phone once it is back.
FOLLOW_SECONDS = 30.0


def _criteria(lost_ms: float, adopted: Tone, fork: int, fin: Tone, question_tokens: int, same_log: bool, laptop_home: str, phone_id: str, kept: int, noted: int) -> dict[str, Criterion]:
    return {
        "peer_loss_said_on_the_phone": Criterion(lost_ms <= PEER_LOSS_LIMIT * 1000, round(lost_ms, 1), PEER_LOSS_LIMIT * 1000),
        "phone_adopts_in_the_next_epoch": Criterion(
            adopted.chi == "adopted" and adopted.get("epoch") == 1 and adopted.get("home") == phone_id,
            {"epoch": adopted.get("epoch"), "fork": fork, "wane": adopted.get("wane")},
        ),
        "conversation_goes_on_with_the_whole_history": Criterion(
            fin.chi == "finish" and int(fin.get("usage", {}).get("input_tokens", 0)) > question_tokens,
            {"input_tokens": fin.get("usage", {}).get("input_tokens"), "question_tokens": question_tokens},
        ),
        "old_home_follows_with_the_same_log": Criterion(same_log and laptop_home == phone_id, {"same_log": same_log, "laptop_says_home": laptop_home[:8]}),
        "orphaned_petals_kept_and_said": Criterion(kept == noted, {"kept_on_laptop": kept, "said_in_note": noted}),
    }


async def sim_story(rtt: float, timeline: Timeline, workdir: Path) -> dict[str, Criterion]:
    timeline.section("adoption: the laptop dies for good mid-bloom; the phone carries on")
    sim = Sim(rtt=rtt)
    laptop = await sim.spawn("laptop", store=SqliteStore(workdir / "laptop.db"))
    phone = await sim.spawn("phone", store=SqliteStore(workdir / "phone.db"))
    await sim.link(phone, laptop)
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="adopt", text="walk me through the roam story")
    sg = (await oc.wait_for(lambda t: t.chi == "hello")).tone["sigil"]
    while phone.ensemble.lookup(sg) is None:
        await asyncio.sleep(0.01)
    ai = sim.nestler(phone, "vercel-ai")
    ai.send("attach", sigil=sg, since=0)
    await ai.wait_for(lambda t: t.chi == "chunk" and t["wane"] > WALK_AWAY_AT)
    laptop_identity = laptop.identity
    killed = asyncio.get_running_loop().time()
    await sim.kill(laptop)
    timeline.note("laptop", "killed mid-bloom, for good")
    lost = await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
    timeline.note("phone", f"peer-loss after {(lost.at - killed) * 1000:.0f} ms")
    fork = phone.hums[sg].tip
    mark = len(ai.seen)
    ai.send("adopt", sigil=sg)
    adopted = (await ai.wait_for(lambda t: t.chi in ("adopted", "error") and not is_petal(t) or t.chi == "adopted", after=mark)).tone
    timeline.note("phone", f"adopted the hum: epoch {adopted.get('epoch')}, from wane {fork}")
    mark = len(ai.seen)
    question = "and where do we go from here?"
    ai.send("prompt", sigil=sg, text=question)
    fin = (await ai.wait_for(lambda t: t.chi == "finish", after=mark)).tone
    timeline.note("phone", f"its own worker answered, reading {fin['usage']['input_tokens']} tokens of history")
    back = await sim.spawn("laptop", identity=laptop_identity, store=SqliteStore(workdir / "laptop.db"))
    await sim.link(phone, back)
    deadline = asyncio.get_running_loop().time() + FOLLOW_SECONDS

    def kept() -> int:
        return len(back.store.orphans(sg)) if back.store is not None else 0

    def noted() -> int:
        return sum(int(p.body["orphaned"]["count"]) for p in phone.hums[sg].petals if p.chi == "note")

    # the old home follows, and the new home says what was kept aside (one link latency after the cut)
    while (back.hums[sg].petals != phone.hums[sg].petals or kept() != noted()) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    timeline.note("laptop", f"back: follows the phone; {kept} petals of its cut-off tail kept aside")
    result = _criteria(
        (lost.at - killed) * 1000, adopted, fork, fin, len(question.split()),
        back.hums[sg].petals == phone.hums[sg].petals, back.hums[sg].home, phone.id, kept(), noted(),
    )
    for n in (oc, ai):
        n.close()
    await sim.close()
    return result


def sim_report(rtt: float = DEFAULT_RTT) -> tuple[dict[str, Any], Timeline]:
    timeline = Timeline()
    with tempfile.TemporaryDirectory(prefix="hum-adopt-") as tmp:
        criteria = run_virtual(sim_story(rtt, timeline, Path(tmp)))
    return {"rtt_ms": rtt * 1000, "criteria": {k: c.as_json() for k, c in criteria.items()}, "ok": all(c.ok for c in criteria.values())}, timeline


async def _log(humd: HumdProcess, sg: str) -> list[Tone]:
    """A humd's whole log of `sg`, read by a fresh nestler."""
    reader = await Nestler.open(humd, "auditor")
    reader.client.send(Tone(chi="attach", sigil=sg, since=0))
    _, hello = await reader.wait_for(lambda t: t.chi in ("hello", "error"))
    if hello.chi == "hello" and hello["wane"]:
        await reader.wait_for(lambda t: is_petal(t) and t["wane"] == hello["wane"])
    reader.close()
    return [t for _, t in reader.seen if is_petal(t)]


async def real_story(workdir: Path, lines: list[str]) -> dict[str, Criterion]:
    note = story_log(lines)

    await new_operator(workdir / "laptop")
    laptop = HumdProcess(workdir / "laptop", free_port())
    phone = HumdProcess(workdir / "phone", free_port())
    nestlers: list[Nestler] = []
    try:
        await laptop.start()
        await pair_devices(laptop, phone.home)
        await phone.start()
        await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
        oc = await Nestler.open(laptop, "opencode")
        nestlers.append(oc)
        oc.client.send(Tone(chi="prompt", sid="adopt", text="walk me through the roam story"))
        sg = (await oc.wait_for(lambda t: t.chi == "hello"))[1]["sigil"]
        ai = await Nestler.open(phone, "vercel-ai")
        nestlers.append(ai)
        ai.client.send(Tone(chi="attach", sigil=sg, since=0))
        await ai.wait_for(lambda t: t.chi == "chunk" and t["wane"] > WALK_AWAY_AT)
        killed = time.monotonic()
        laptop.kill()
        assert laptop.proc is not None
        await laptop.proc.wait()
        note("laptop", "SIGKILL mid-bloom, for good")
        lost_at, _ = await ai.wait_for(lambda t: t.get("qualifier") == "peer-loss")
        note("phone", f"peer-loss after {(lost_at - killed) * 1000:.0f} ms")
        fork = max(t["wane"] for _, t in ai.seen if is_petal(t))
        code, out, err = await run_cli("adopt", sg, "--home", str(phone.home), "--json")
        adopted = Tone(json.loads(out)) if code == 0 else Tone(chi="error", message=err.strip())
        note("phone", f"hum adopt: epoch {adopted.get('epoch')}, from wane {adopted.get('wane')}")
        question = "and where do we go from here?"
        mark = len(ai.seen)
        ai.client.send(Tone(chi="prompt", sigil=sg, text=question))
        _, fin = await ai.wait_for(lambda t: t.chi == "finish", after=mark)
        note("phone", f"its own worker answered, reading {fin['usage']['input_tokens']} tokens of history")
        laptop.proc = None
        await laptop.start()
        note("laptop", "back")
        deadline = time.monotonic() + FOLLOW_SECONDS
        while True:
            phone_log, laptop_log = await _log(phone, sg), await _log(laptop, sg)
            kept = len(laptop.get(f"/hum/hums/{sg}/orphans")["orphans"])
            noted = sum(int(t["orphaned"]["count"]) for t in phone_log if t.chi == "note")
            if (laptop_log == phone_log and kept == noted) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        lines.append(f"           laptop log {len(laptop_log)} petals, phone log {len(phone_log)} petals")
        entry = next(h for h in laptop.get("/hum/hums")["hums"] if h["sigil"] == sg)
        note("laptop", f"follows the phone; {kept} petals of its cut-off tail kept aside")
        return _criteria(
            (lost_at - killed) * 1000, adopted, fork, fin, len(question.split()),
            laptop_log == phone_log, entry["home"], phone.info["humdId"], kept, noted,
        )
    finally:
        for n in nestlers:
            n.close()
        for humd in (phone, laptop):
            await humd.stop()


def real_report() -> tuple[dict[str, Any], list[str]]:
    lines: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="hum-adopt-"))
    os.chmod(workdir, 0o700)
    try:
        criteria = asyncio.run(real_story(workdir, lines))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"mode": "real", "criteria": {k: c.as_json() for k, c in criteria.items()}, "ok": all(c.ok for c in criteria.values())}, lines
