"""The phone-laptop-roam scenario, run in the sim, measured criterion by criterion.

`hum demo roam` prints this report; the scenario tests check the same story
with their own assertions. See ../shared/seeds/phone-laptop-roam.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hum.demo.intruder import intrude
from hum.ensemble.link.protocol import LINK_TIMEOUT
from hum.ensemble.trust.certificates import HumdId
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import DeviceKey, OperatorKey
from hum.node.humd import Humd
from hum.scenario import DEFAULT_RTT, LATENCY_MARGIN, PEER_LOSS_LIMIT, WALK_AWAY_AT, Criterion
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim, SimNestler
from hum.wire.tones import Tone, is_petal


@dataclass
class Timeline:
    """Who saw what, when (virtual milliseconds), for the readable demo."""

    lines: list[tuple[float, str, str]] = field(default_factory=list)
    started: float = 0.0

    def section(self, title: str) -> None:
        """A new story, in a fresh sim: times restart from zero."""
        self.started = asyncio.get_running_loop().time()
        self.lines.append((0.0, "--", title))

    def note(self, device: str, what: str) -> None:
        self.lines.append(((asyncio.get_running_loop().time() - self.started) * 1000, device, what))


@dataclass
class Roam:
    """Step 1 done: two linked siblings, and opencode on the laptop blooming a fresh hum."""

    sim: Sim
    laptop: Humd
    phone: Humd
    oc: SimNestler  # opencode, on the laptop
    sigil: str


async def laptop_blooming(rtt: float = DEFAULT_RTT, *, sid: str = "roam", text: str = "walk me through the roam story", eager_drone: bool = False) -> Roam:
    """Spawn laptop and phone, link them, and have opencode on the laptop prompt a new hum."""
    sim = Sim(rtt=rtt)
    laptop = await sim.spawn("laptop")
    phone = await sim.spawn("phone")
    if eager_drone:
        phone.router.drone.stall_after = 0.2  # it must still wait for peer-loss
    await sim.link(phone, laptop)
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid=sid, text=text)
    hello = await oc.wait_for(lambda t: t.chi == "hello")
    return Roam(sim, laptop, phone, oc, hello.tone["sigil"])


async def phone_watching(r: Roam, *, after_wane: int = 0, name: str = "vercel-ai") -> SimNestler:
    """The phone's chat app attached to the hum, once it has seen the petal at `after_wane`."""
    ai = r.sim.nestler(r.phone, name)
    ai.send("attach", sigil=r.sigil)
    if after_wane:
        await ai.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= after_wane)
    return ai


def _wanes(nestler: SimNestler, sigil: str) -> list[int]:
    return [t["wane"] for t in nestler.tones(sigil=sigil) if is_petal(t)]


def _text(tones: list[Tone]) -> str:
    return "".join(t.get("delta", "") for t in tones if t.chi == "chunk")


def _consecutive(wanes: list[int], first: int, last: int) -> bool:
    return wanes == list(range(first, last + 1))


async def happy_path(rtt: float, timeline: Timeline) -> dict[str, Criterion]:
    """Steps 1 to 7 of the scenario, and every success criterion they promise."""
    timeline.section("the happy path, steps 1 to 7")
    sim = Sim(rtt=rtt)
    out: dict[str, Criterion] = {}
    try:
        laptop = await sim.spawn("laptop")
        phone = await sim.spawn("phone")
        await sim.link(phone, laptop)
        peers_ok = [laptop.peers() == [phone.id] and phone.peers() == [laptop.id]]
        timeline.note("both", "humd-L and humd-P linked (T1 siblings)")

        # 1. opencode on the laptop mints the hum and prompts
        oc = sim.nestler(laptop, "opencode")
        oc.send("prompt", sid="roam", text="walk me through the roam story")
        hello_l = (await oc.wait_for(lambda t: t.chi == "hello")).tone
        sg = hello_l["sigil"]
        timeline.note("laptop", f"hum {sg} minted; opencode tap says hello")
        # 2. walk away mid-bloom
        await oc.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= WALK_AWAY_AT + 1)
        laptop_cursor = _wanes(oc, sg)[-1]
        timeline.note("laptop", f"operator walks away after wane {laptop_cursor}")
        peers_ok.append(laptop.peers() == [phone.id] and phone.peers() == [laptop.id])

        # 3. the phone wakes and attaches through humd-P
        ai = sim.nestler(phone, "vercel-ai")
        breath = (await ai.wait_for(lambda t: t.chi == "breath")).tone
        listed = any(h["sigil"] == sg for h in breath["hums"])
        t0 = asyncio.get_running_loop().time()
        ai.send("attach", sigil=sg, since=laptop_cursor)
        hello_p = await ai.wait_for(lambda t: t.chi == "hello")
        hello_ms = (hello_p.at - t0) * 1000
        timeline.note("phone", f"hello for {sg} after {hello_ms:.1f} ms")
        out["hello_within_rtt_plus_50ms"] = Criterion(
            listed and hello_p.tone["sigil"] == sg and hello_ms <= (rtt + LATENCY_MARGIN) * 1000,
            round(hello_ms, 3),
            round((rtt + LATENCY_MARGIN) * 1000, 3),
        )

        # 4-5. replication until the first bloom finishes on both
        fin_l = await oc.wait_for(lambda t: t.chi == "finish")
        fin_p = await ai.wait_for(lambda t: t.chi == "finish")
        timeline.note("phone", f"first bloom finished at wane {fin_p.tone['wane']}")
        replica = phone.hums[sg]
        home = laptop.hums[sg]
        replica_chunks = [p.wane for p in replica.petals if p.chi == "chunk"]
        home_chunks = [p.wane for p in home.petals[: fin_l.tone["wane"]] if p.chi == "chunk"]
        same_text = _text([p.tone(sg) for p in replica.petals]) == _text([p.tone(sg) for p in home.petals])
        out["phone_sees_full_ordered_chunks"] = Criterion(
            replica_chunks == home_chunks and same_text and bool(replica_chunks),
            {"chunks": len(replica_chunks), "text_equal": same_text},
        )
        phone_wanes = _wanes(ai, sg)
        out["no_petal_twice_none_missing"] = Criterion(
            _consecutive(phone_wanes, laptop_cursor + 1, fin_p.tone["wane"])
            and len(set(phone_wanes)) == len(phone_wanes),
            {"first": phone_wanes[0] if phone_wanes else None, "last": phone_wanes[-1] if phone_wanes else None, "count": len(phone_wanes)},
        )
        out["late_attach_replays_missing_slice"] = Criterion(
            bool(phone_wanes) and phone_wanes[0] == laptop_cursor + 1,
            {"laptop_cursor": laptop_cursor, "phone_first": phone_wanes[0] if phone_wanes else None},
        )
        peers_ok.append(laptop.peers() == [phone.id] and phone.peers() == [laptop.id])

        # 6. a follow-up typed on the phone reaches the home
        mark_l, mark_p = len(oc.seen), len(ai.seen)
        t1 = asyncio.get_running_loop().time()
        ai.send("prompt", sigil=sg, text="and what happens when the laptop closes?")
        prompt_l = await oc.wait_for(lambda t: t.chi == "prompt", after=mark_l)
        prompt_ms = (prompt_l.at - t1) * 1000
        timeline.note("laptop", f"prompt from humd-P after {prompt_ms:.1f} ms")
        out["prompt_within_rtt_plus_50ms"] = Criterion(
            prompt_ms <= (rtt + LATENCY_MARGIN) * 1000, round(prompt_ms, 3), round((rtt + LATENCY_MARGIN) * 1000, 3)
        )
        out["prompt_from_is_humd_p"] = Criterion(prompt_l.tone.get("from") == phone.id, prompt_l.tone.get("from"), phone.id)
        fin2_l = (await oc.wait_for(lambda t: t.chi == "finish", after=mark_l)).tone
        fin2_p = (await ai.wait_for(lambda t: t.chi == "finish", after=mark_p)).tone
        timeline.note("both", f"second bloom finished on both taps at wane {fin2_p['wane']}")
        out_l, out_p = fin2_l["usage"]["output_tokens"], fin2_p["usage"]["output_tokens"]
        out["finish_on_both_taps_same_usage"] = Criterion(
            out_l == out_p and out_l > 0 and fin2_l["wane"] == fin2_p["wane"],
            {"laptop": fin2_l["usage"], "phone": fin2_p["usage"]},
        )
        peers_ok.append(laptop.peers() == [phone.id] and phone.peers() == [laptop.id])

        # 7. the laptop closes: its nestler detaches, the hum lives on from the phone
        oc.send("detach", sigil=sg)
        oc.close()
        timeline.note("laptop", "lid closed: opencode detached")
        mark_p = len(ai.seen)
        ai.send("prompt", sigil=sg, text="still there?")
        fin3 = (await ai.wait_for(lambda t: t.chi == "finish", after=mark_p)).tone
        timeline.note("phone", f"third bloom, driven from the phone alone, finished at wane {fin3['wane']}")
        out["hum_lives_on_from_phone"] = Criterion(
            [t.owner.name for t in laptop.router.facts.taps.of_hum(sg)] == [phone.id] and fin3["usage"]["output_tokens"] > 0,
            {"home_taps": sorted(t.owner.name for t in laptop.router.facts.taps.of_hum(sg)), "wane": fin3["wane"]},
        )
        peers_ok.append(laptop.peers() == [phone.id] and phone.peers() == [laptop.id])
        out["peers_listed_throughout_no_stale"] = Criterion(
            all(peers_ok), {"checks": len(peers_ok), "laptop": [p[:8] for p in laptop.peers()], "phone": [p[:8] for p in phone.peers()]}
        )
    finally:
        await sim.close()
    return out


async def divergent_wane(rtt: float, timeline: Timeline) -> Criterion:
    """The home keeps appending while the phone's attach is in flight; catch-up closes the gap."""
    timeline.section("divergent wane: the home keeps blooming while the attach flies (RTT 400 ms)")
    r = await laptop_blooming(max(rtt, 0.4), sid="divergent", text="count the petals")  # several petals are born in flight
    sim, laptop, phone, sg = r.sim, r.laptop, r.phone, r.sigil
    try:
        await r.oc.wait_for(lambda t: t.chi == "chunk" and t["wane"] >= 3)
        ai = sim.nestler(phone, "vercel-ai")
        wane_at_send = laptop.router.facts.tracker.get(sg)
        ai.send("attach", sigil=sg)
        hello = (await ai.wait_for(lambda t: t.chi == "hello")).tone
        granted_at = hello["wane"]
        caught_up = await ai.wait_for(lambda t: t.get("wane") == granted_at and t.chi != "hello")
        behind_after_catch_up = phone.router.facts.tracker.is_behind(sg, granted_at)
        await ai.wait_for(lambda t: t.chi == "finish")
        settled_behind = phone.router.facts.tracker.is_behind(sg, laptop.router.facts.tracker.get(sg))
        timeline.note("phone", f"divergent wane: sent at {wane_at_send}, granted at {granted_at}, settled at {phone.router.facts.tracker.get(sg)}")
        return Criterion(
            granted_at > wane_at_send and caught_up is not None and not behind_after_catch_up and not settled_behind
            and phone.router.facts.tracker.get(sg) == laptop.router.facts.tracker.get(sg),
            {"wane_when_sent": wane_at_send, "wane_at_grant": granted_at, "phone": phone.router.facts.tracker.get(sg), "laptop": laptop.router.facts.tracker.get(sg), "is_behind": settled_behind},
        )
    finally:
        await sim.close()


async def reconnect_resumes(rtt: float, timeline: Timeline) -> Criterion:
    """A device whose link drops mid-bloom re-attaches from its cursor: nothing lost, nothing twice."""
    timeline.section("a phone whose link drops mid-bloom comes back")
    r = await laptop_blooming(rtt, sid="reconnect", text="keep going")
    sim, laptop, phone, sg = r.sim, r.laptop, r.phone, r.sigil
    try:
        ai = await phone_watching(r, after_wane=8)
        assert laptop.address and phone.address
        sim.network.partition(laptop.address, phone.address)
        await ai.wait_for(lambda t: t.chi == "error")
        cursor = _wanes(ai, sg)[-1]
        sim.network.heal(laptop.address, phone.address)
        await asyncio.wait_for(phone.wait_peers(lambda p: laptop.id in p), 30)
        ai2 = sim.nestler(phone, "vercel-ai-reopened")
        ai2.send("attach", sigil=sg, since=cursor)
        await ai2.wait_for(lambda t: t.chi == "finish")
        wanes = _wanes(ai2, sg)
        tip = laptop.router.facts.tracker.get(sg)
        timeline.note("phone", f"reconnected: resumed from wane {cursor + 1} to {tip}")
        return Criterion(_consecutive(wanes, cursor + 1, tip), {"cursor": cursor, "resumed": wanes[:1] + wanes[-1:], "tip": tip})
    finally:
        await sim.close()


async def stuck_home(rtt: float, timeline: Timeline) -> dict[str, Criterion]:
    """The home dies mid-bloom (process death): the phone hears peer-loss, not silence."""
    timeline.section("stuck home: killed, then partitioned, mid-bloom")
    r = await laptop_blooming(rtt, sid="stuck", text="do not stop", eager_drone=True)
    sim, laptop, phone = r.sim, r.laptop, r.phone
    try:
        ai = await phone_watching(r, after_wane=6)
        t_kill = asyncio.get_running_loop().time()
        await sim.kill(laptop)
        timeline.note("laptop", "humd-L killed mid-bloom")
        err = await ai.wait_for(lambda t: t.chi in ("error", "drone"))
        loss_ms = (err.at - t_kill) * 1000
        before = [s.tone for s in ai.seen if s.at <= err.at and s.tone.chi == "drone"]
        await asyncio.wait_for(phone.wait_peers(lambda p: laptop.id not in p), 30)
        timeline.note("phone", f"{err.tone.chi} {err.tone.get('qualifier')} after {loss_ms:.1f} ms")

        # partition (no reset): only heartbeats can tell; the eager drone must stay quiet
        timeline.section("stuck home, partitioned: no reset, only heartbeats can tell")
        r2 = await laptop_blooming(rtt, sid="partition", text="do not stop", eager_drone=True)
        sim2, l2, p2 = r2.sim, r2.laptop, r2.phone
        try:
            ai2 = await phone_watching(r2, after_wane=6)
            assert l2.address and p2.address
            t_cut = asyncio.get_running_loop().time()
            sim2.network.partition(l2.address, p2.address)
            first = await ai2.wait_for(lambda t: t.chi in ("error", "drone"))
            cut_ms = (first.at - t_cut) * 1000
        finally:
            await sim2.close()
        timeline.note("phone", f"partitioned home: {first.tone.get('qualifier')} after {cut_ms:.1f} ms")
        return {
            "stuck_home_surfaces_peer_loss": Criterion(
                err.tone.chi == "error" and err.tone.get("qualifier") == "peer-loss" and loss_ms <= PEER_LOSS_LIMIT * 1000
                and laptop.id not in phone.peers(),
                {"ms": round(loss_ms, 3), "qualifier": err.tone.get("qualifier")},
                PEER_LOSS_LIMIT * 1000,
            ),
            "drone_quiet_until_loss_surfaced": Criterion(
                not before and first.tone.chi == "error" and first.tone.get("qualifier") == "peer-loss" and cut_ms <= PEER_LOSS_LIMIT * 1000,
                {"drone_tones_before": len(before), "partition_ms": round(cut_ms, 3), "heartbeat_timeout_ms": LINK_TIMEOUT * 1000},
                PEER_LOSS_LIMIT * 1000,
            ),
        }
    finally:
        await sim.close()


async def sim_intrude(sim: Sim, address: str, target: Humd, cert_pem: bytes, claimed: str, signer: DeviceKey, sigil_: str) -> list[Tone]:
    """The intruder, dialling `target` from `address` on the sim's network; every tone it heard."""
    assert target.address is not None
    conn = await sim.network.transport(address).connect(target.address)
    try:
        return await intrude(conn.read, conn.write, cert_pem=cert_pem, claimed=claimed, signer=signer, target=target.id, sigil=sigil_)
    finally:
        conn.close()


async def identity_mismatch(rtt: float, timeline: Timeline) -> dict[str, Criterion]:
    """Forged or foreign identities are refused with a route error, and not one petal leaks."""
    timeline.section("identity mismatch: three intruders dial the laptop")
    sim = Sim(rtt=rtt)
    out: dict[str, Criterion] = {}
    try:
        laptop = await sim.spawn("laptop")
        phone_identity = sim.identity("phone")
        oc = sim.nestler(laptop, "opencode")
        oc.send("prompt", sid="secret", text="only my devices may read this")
        sg = (await oc.wait_for(lambda t: t.chi == "hello")).tone["sigil"]
        await oc.wait_for(lambda t: t.chi == "chunk")

        stranger_op = OperatorKey.generate()
        stranger = Identity.mint(stranger_op, "stranger")
        thief = DeviceKey.generate()
        cases = {
            # claims humd-P's HumdId, with a key certified by another operator
            "forged_humd_id": (stranger.certificate.pem(), phone_identity.humd_id, stranger.device_key),
            # a different operator's device, honest about its own id
            "foreign_operator": (stranger.certificate.pem(), stranger.humd_id, stranger.device_key),
            # humd-P's real certificate, replayed without humd-P's device key
            "stolen_certificate": (phone_identity.certificate.pem(), phone_identity.humd_id, thief),
        }
        for name, (cert, claimed, signer) in cases.items():
            heard = await sim_intrude(sim, f"mem://intruder-{name}", laptop, cert, HumdId.parse(claimed), signer, sg)
            refusals = [i for i, t in enumerate(heard) if t.chi == "error" and t.get("code") == "route-error"]
            after = heard[refusals[0] + 1 :] if refusals else heard
            leaked = [t for t in heard if t.get("sigil") == sg or t.chi in ("chunk", "prompt", "finish", "hello", "hums")]
            refused_ok = bool(refusals) and heard[refusals[0]].get("qualifier") == "identity-mismatch"
            out[f"identity_mismatch_{name}"] = Criterion(
                refused_ok and not after and not leaked and laptop.peers() == [] and all(not t.owner.is_peer for t in laptop.router.facts.taps.of_hum(sg)),
                {"refusal": heard[refusals[0]].get("qualifier") if refusals else None, "tones_after_refusal": len(after), "hum_tones_leaked": len(leaked)},
            )
            timeline.note("laptop", f"{name}: refused ({heard[refusals[0]].get('detail') if refusals else 'NOT refused'})")
    finally:
        await sim.close()
    return out


async def run_roam(rtt: float = DEFAULT_RTT) -> tuple[dict[str, Criterion], Timeline]:
    """Every criterion of the scenario, each measured in its own sim."""
    timeline = Timeline()
    criteria: dict[str, Criterion] = {}
    criteria.update(await happy_path(rtt, timeline))
    criteria["divergent_wane_closes"] = await divergent_wane(rtt, timeline)
    criteria["reconnect_resumes_without_loss_or_duplicate"] = await reconnect_resumes(rtt, timeline)
    criteria.update(await stuck_home(rtt, timeline))
    criteria.update(await identity_mismatch(rtt, timeline))
    return criteria, timeline


def report(rtt: float = DEFAULT_RTT) -> tuple[dict[str, Any], Timeline]:
    """Run the scenario on virtual time; the JSON report of `hum demo roam --json`."""
    criteria, timeline = run_virtual(run_roam(rtt))
    return {
        "rtt_ms": rtt * 1000,
        "criteria": {k: c.as_json() for k, c in criteria.items()},
        "ok": all(c.ok for c in criteria.values()),
    }, timeline
