"""The delivery rule, as a property: every tap gets every petal after `since`, once, in order.

Two levels:

* sans I/O (`Hum`/`Tap` directly): random home appends, taps attaching (any
  `since`, also past the tip), detaching and re-attaching from their cursor,
  pulls with small limits, replicas fed the home's petals with duplicates,
  reordering and link drops;
* through two `Humd`s on the sim (virtual time): random attach / detach /
  partition / heal timing, checking what each nestler actually receives.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from hum.core.hum import Hum
from hum.core.petal import Petal
from hum.core.tap import Tap
from hum.core.wane import WaneTracker
from hum.ensemble.link.protocol import LINK_TIMEOUT
from hum.errors import LogError
from hum.sim.clock import run_virtual
from hum.sim.harness import Sim, SimNestler
from hum.wire.tones import Tone, sigil

HOME = "h" * 64
SID = "roam"
SG = sigil("local", SID)
N_REPLICAS = 2
N_NESTLERS = 4
HOME_AT = -1  # a nestler's location: the home, or a replica index


@dataclass
class Nestler:
    """One watcher, possibly across several attach sessions (re-attaching from its cursor)."""

    where: int = HOME_AT
    tap: Tap | None = None
    first_since: int | None = None  # since of the first session of this lineage
    next_wane: int = 1  # the wane the current session must deliver next
    hello_due: bool = False
    lineage: list[int] = field(default_factory=list)  # every petal wane delivered, in order
    sessions: int = 0
    detached_at: int | None = None  # the tap's cursor when it detached


@dataclass
class Replica:
    """A humd mirroring the home: its hum, the home's tap toward it, and the link in flight."""

    hum: Hum
    feed: Tap
    in_flight: list[Tone] = field(default_factory=list)
    feeds: int = 0


def granted_tap(hum: Hum, since: int, owner: str) -> Tap:
    """A tap whose attach the home granted at its current tip."""
    tap = Tap(hum.sigil, since, owner)
    tap.grant(hum.home_tip)
    return tap


class DeliveryMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.home = Hum(SG, SID, "local", HOME, WaneTracker())
        self.replicas = []
        for r in range(N_REPLICAS):
            hum = Hum(SG, SID, "local", HOME, WaneTracker())
            feed = granted_tap(self.home, 0, f"peer:{r}")
            self.replicas.append(Replica(hum, feed))
        self.nestlers = [Nestler() for _ in range(N_NESTLERS)]
        self.taps_made = 0

    # -- the home authors petals ------------------------------------------------

    @rule(choice=st.integers(0, 9))
    def home_appends(self, choice: int) -> None:
        home = self.home
        if not home.bloom_open:
            if choice == 9:
                home.append("error", dict(code="worker-error", qualifier="x", message="idle error"))
            else:
                home.offer_prompt(dict(text=f"p{home.tip}", **{"from": "n"}))
        elif choice < 6:
            home.append("chunk", dict(chunkType="text_delta", delta=f"d{home.tip}", blockIdx=0))
        elif choice < 8:
            home.append("finish", {"finishReason": "stop", "usage": {"input_tokens": 1, "output_tokens": 1}})
            home.next_prompt()
        elif choice == 8:
            home.offer_prompt(dict(text=f"queued{home.tip}"))  # queued behind the open bloom
        else:
            home.append("error", dict(code="worker-error", qualifier="x", message="y"))
            home.next_prompt()

    # -- nestler taps -----------------------------------------------------------------

    def _hum_at(self, where: int) -> Hum:
        return self.home if where == HOME_AT else self.replicas[where].hum

    def _open(self, n: Nestler, since: int) -> None:
        hum = self._hum_at(n.where)
        self.taps_made += 1
        n.tap = granted_tap(hum, since, "nestler")
        n.next_wane = since + 1
        n.hello_due = True
        n.sessions += 1

    @rule(
        k=st.integers(0, N_NESTLERS - 1),
        where=st.integers(HOME_AT, N_REPLICAS - 1),
        extra=st.integers(-2, 3),
    )
    def attach_fresh(self, k: int, where: int, extra: int) -> None:
        """A new watcher (or a watcher starting over) attaches with some `since`, even past the tip."""
        n = self.nestlers[k]
        since = max(0, self._hum_at(where).tip + extra)
        self.nestlers[k] = n = Nestler(where=where)
        n.first_since = since
        self._open(n, since)

    @rule(k=st.integers(0, N_NESTLERS - 1))
    def detach(self, k: int) -> None:
        n = self.nestlers[k]
        if n.tap is None:
            return
        n.detached_at = n.tap.cursor
        n.tap = None

    @rule(k=st.integers(0, N_NESTLERS - 1), where=st.integers(HOME_AT, N_REPLICAS - 1))
    def reattach_from_cursor(self, k: int, where: int) -> None:
        """A detached watcher comes back (maybe on another humd) from its last cursor."""
        n = self.nestlers[k]
        if n.tap is not None or n.first_since is None:
            return
        cursor = n.detached_at
        assert cursor == n.next_wane - 1
        n.where = where
        self._open(n, cursor)

    @rule(k=st.integers(0, N_NESTLERS - 1), limit=st.integers(1, 4))
    def pull(self, k: int, limit: int) -> None:
        n = self.nestlers[k]
        if n.tap is None:
            return
        self._pull(n, limit)

    def _pull(self, n: Nestler, limit: int) -> list[Tone]:
        assert n.tap is not None
        hum = self._hum_at(n.where)
        tones = hum.read(n.tap, limit)
        assert len(tones) <= limit
        for tone in tones:
            if n.hello_due:
                assert tone["chi"] == "hello", f"first tone of a tap must be hello, got {tone}"
                assert tone["sigil"] == SG and tone["sid"] == SID and tone["home"] == HOME
                n.hello_due = False
                continue
            assert tone["chi"] != "hello", "a second hello"
            assert tone["wane"] == n.next_wane, (
                f"expected wane {n.next_wane}, got {tone['wane']} (lineage {n.lineage})"
            )
            assert tone == self.home.petals[tone["wane"] - 1].tone(SID)
            assert tone["sid"] == SID
            n.lineage.append(tone["wane"])
            n.next_wane += 1
        if len(tones) < limit:
            # nothing was held back: the tap is caught up with its hum
            assert n.next_wane > hum.tip or n.next_wane - 1 >= hum.tip
            assert not hum.owes(n.tap)
        else:
            assert hum.owes(n.tap) == (n.next_wane <= hum.tip or n.hello_due)
        assert n.tap.cursor == n.next_wane - 1
        return tones

    # -- replication --------------------------------------------------------------------

    @rule(r=st.integers(0, N_REPLICAS - 1), limit=st.integers(1, 5))
    def home_sends(self, r: int, limit: int) -> None:
        rep = self.replicas[r]
        for tone in self.home.read(rep.feed, limit):
            if tone["chi"] != "hello":
                rep.in_flight.append(tone)

    @rule(
        r=st.integers(0, N_REPLICAS - 1),
        pick=st.integers(0, 3),
        duplicate=st.booleans(),
    )
    def replica_receives(self, r: int, pick: int, duplicate: bool) -> None:
        """The next (or a later: reordering) tone in flight arrives; maybe it stays (duplicate)."""
        rep = self.replicas[r]
        if not rep.in_flight:
            return
        index = min(pick, len(rep.in_flight) - 1)
        tone = rep.in_flight[index] if duplicate else rep.in_flight.pop(index)
        self._deliver(rep, tone)

    def _deliver(self, rep: Replica, tone: Tone) -> None:
        petal = Petal.from_tone(tone)
        before = rep.hum.tip
        try:
            took = rep.hum.receive(petal)
        except LogError as exc:
            assert exc.qualifier == "gap"
            assert petal.wane > before + 1
            assert rep.hum.tip == before
            self._refeed(rep)  # what humd does: attach again from the replica's tip
            return
        assert took == (petal.wane == before + 1)
        assert rep.hum.tip == (before + 1 if took else before)

    def _refeed(self, rep: Replica) -> None:
        rep.feeds += 1
        rep.feed = granted_tap(self.home, rep.hum.tip, rep.feed.owner)

    @rule(r=st.integers(0, N_REPLICAS - 1))
    def link_drops(self, r: int) -> None:
        """The link to a replica drops: what was in flight is lost; it re-attaches from its tip."""
        rep = self.replicas[r]
        rep.in_flight.clear()
        self._refeed(rep)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def replicas_hold_a_prefix_of_the_home_log(self) -> None:
        for rep in self.replicas:
            assert rep.hum.tip <= self.home.tip
            assert rep.hum.petals == self.home.petals[: rep.hum.tip]
            assert rep.hum.tracker.get(SG) == rep.hum.tip
            assert rep.hum.bloom_open == _open_after(rep.hum.petals)

    @invariant()
    def lineages_are_gap_free_and_duplicate_free(self) -> None:
        for n in self.nestlers:
            if n.first_since is None:
                continue
            expected = list(range(n.first_since + 1, n.first_since + 1 + len(n.lineage)))
            assert n.lineage == expected

    def teardown(self) -> None:
        if not hasattr(self, "home"):
            return
        # settle: every replica catches up in order, every watcher drains
        for rep in self.replicas:
            rep.in_flight.clear()
            self._refeed(rep)
            for tone in self.home.read(rep.feed, 10_000):
                if tone["chi"] != "hello":
                    self._deliver(rep, tone)
            assert rep.hum.petals == self.home.petals
        for n in self.nestlers:
            if n.tap is None:
                continue
            self._pull(n, 10_000)
            hum = self._hum_at(n.where)
            assert n.first_since is not None
            assert n.lineage == list(range(n.first_since + 1, hum.tip + 1))


def _open_after(petals: list[Petal]) -> bool:
    open_ = False
    for p in petals:
        if p.chi == "prompt":
            open_ = True
        elif p.closes_bloom:
            open_ = False
    return open_


DeliveryMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDeliveryProperty = DeliveryMachine.TestCase


# -- through Humd on the sim ----------------------------------------------------------------


def _petal_wanes(tones: list[Tone]) -> list[int]:
    return [
        t["wane"] for t in tones if t.chi in ("prompt", "chunk", "finish", "error") and "wane" in t
    ]


def _check_stream(nestler: SimNestler, sg: str, home_petals: list[Petal], sid: str) -> None:
    """Split a nestler's tones into tap sessions (each starts with hello) and check each one."""
    sessions: list[list[Tone]] = []
    for tone in nestler.tones(sigil=sg):
        if tone.chi == "hello":
            sessions.append([])
        elif sessions:
            sessions[-1].append(tone)
        else:
            # a tone before any hello may only be a refusal (no petal leaks)
            assert "wane" not in tone, f"petal before hello: {tone}"
    for session in sessions:
        wanes = _petal_wanes(session)
        if wanes:
            assert wanes == list(range(wanes[0], wanes[0] + len(wanes))), (
                f"gap or duplicate: {wanes}"
            )
        for tone in session:
            assert tone.get("sid") == sid, tone
            if "wane" in tone and tone.chi != "hello":
                expected = home_petals[tone["wane"] - 1]
                assert tone.chi == expected.chi
                assert tone.get("delta") == expected.body.get("delta")
                assert tone.get("text") == expected.body.get("text")
        # a terminal peer-loss ends the session: nothing after it
        for i, tone in enumerate(session):
            if tone.chi == "error" and tone.get("qualifier") == "peer-loss":
                assert session[i + 1 :] == [], "a tone after peer-loss"


@dataclass
class SimPlan:
    steps: list[tuple[str, float]]
    seed: int


async def _run_sim(plan: SimPlan) -> None:
    sim = Sim(rtt=0.06, tokens_per_second=40.0)
    rng = random.Random(plan.seed)
    laptop = await sim.spawn("laptop")
    phone = await sim.spawn("phone")
    await sim.link(phone, laptop)
    driver = sim.nestler(laptop, "oc")
    driver.send("prompt", sid="roam", text="first question")
    first = await driver.wait_for(lambda t: t.chi == "hello")
    sg = first.tone["sigil"]
    home_hum = laptop.hums[sg]
    # the phone learns of the hum from the laptop's announcement (the attach-while-seeking
    # path has its own test below)
    while phone.ensemble.lookup(sg) is None:
        await asyncio.sleep(0.01)
    nestlers: list[SimNestler] = [driver]
    since_of: dict[str, int] = {}
    detached_after: dict[str, int] = {}  # nestler -> how many tones it had seen at detach
    watching: dict[int, SimNestler] = {}
    partitioned = False
    prompts = 1

    def detach(n: SimNestler) -> None:
        n.send("detach", sigil=sg)
        detached_after[n.session.name] = len(n.tones(sigil=sg))

    for action, delay in plan.steps:
        await asyncio.sleep(delay)  # virtual time: advances the sim's clock, not a sync point
        if action == "attach":
            slot = rng.randrange(3)
            if slot in watching:
                detach(watching[slot])
            n = sim.nestler(phone, f"phone-{len(nestlers)}")
            nestlers.append(n)
            since = rng.randrange(0, home_hum.tip + 3)
            since_of[n.session.name] = since
            n.send("attach", sigil=sg, since=since)
            watching[slot] = n
        elif action == "detach" and watching:
            detach(watching.pop(rng.choice(sorted(watching))))
        elif action == "partition" and not partitioned:
            sim.network.partition(laptop.address, phone.address)
            partitioned = True
        elif action == "heal" and partitioned:
            sim.network.heal(laptop.address, phone.address)
            partitioned = False
        elif action == "prompt" and prompts < 4:
            prompts += 1
            driver.send("prompt", sigil=sg, text=f"follow-up {prompts}")
    if partitioned:
        sim.network.heal(laptop.address, phone.address)
    # let everything settle: the blooms finish and any link comes back
    await asyncio.sleep(LINK_TIMEOUT * 4)
    await asyncio.wait_for(phone.wait_peers(lambda p: laptop.id in p), 60)
    while home_hum.bloom_open or home_hum.pending_prompts:
        await asyncio.sleep(0.5)
    # a late watcher from 0 must see the whole log
    late = sim.nestler(phone, "late")
    late.send("attach", sigil=sg, since=0)
    since_of["late"] = 0
    nestlers.append(late)
    tip = home_hum.tip
    await late.wait_for(lambda t: t.get("wane") == tip and t.chi != "hello", timeout=60)
    await asyncio.sleep(1.0)
    assert home_hum.tip == tip

    for n in nestlers:
        name = n.session.name
        _check_stream(n, sg, home_hum.petals, "roam")
        tones = n.tones(sigil=sg)
        wanes = _petal_wanes(tones)
        if name in since_of:
            assert [t.chi for t in tones].count("hello") <= 1
            if wanes:
                assert wanes[0] == since_of[name] + 1, (name, since_of[name], wanes[:3])
        if name in detached_after:
            assert len(tones) == detached_after[name], f"{name} got tones after detach"
        elif tones and tones[0].chi == "hello":
            # still attached: caught up with the home, or told the home was lost (never silence)
            lost = tones[-1].chi == "error" and tones[-1].get("qualifier") == "peer-loss"
            assert lost or (wanes and wanes[-1] == tip) or since_of.get(name, 0) >= tip, (
                name,
                wanes[-3:],
                tones[-1],
            )
    assert _petal_wanes(late.tones(sigil=sg)) == list(range(1, tip + 1))
    replica = phone.hums[sg]
    assert replica.petals == home_hum.petals
    for n in nestlers:
        n.close()
    await sim.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["attach", "attach", "detach", "partition", "heal", "prompt"]),
            st.floats(0.0, 4.0, allow_nan=False),
        ),
        min_size=3,
        max_size=16,
    ),
    seed=st.integers(0, 2**16),
)
def test_humd_taps_get_wane_ordered_gap_free_petals_under_churn(
    steps: list[tuple[str, float]], seed: int
) -> None:
    run_virtual(_run_sim(SimPlan(steps, seed)))


def test_detach_while_the_attach_is_still_seeking_the_home_stops_delivery() -> None:
    """A nestler that detaches must get nothing more, even if its attach was still in flight.

    On the phone, an attach to a sigil it has not heard announced yet is a
    question to every peer (`_seek`); a detach sent before the home answers
    must cancel that nestler's part of the question.
    """

    async def main() -> None:
        sim = Sim(rtt=0.06, tokens_per_second=40.0)
        laptop = await sim.spawn("laptop")
        phone = await sim.spawn("phone")
        await sim.link(phone, laptop)
        hum = laptop.mint("roam")
        assert phone.ensemble.lookup(hum.sigil) is None  # the announcement is still in flight
        stays = sim.nestler(phone, "stays")
        leaves = sim.nestler(phone, "leaves")
        stays.send("attach", sigil=hum.sigil, since=0)
        leaves.send("attach", sigil=hum.sigil, since=0)
        leaves.send("detach", sigil=hum.sigil)
        driver = sim.nestler(laptop, "oc")
        driver.send("prompt", sigil=hum.sigil, text="hello?")
        await driver.wait_for(lambda t: t.chi == "finish")
        await stays.wait_for(lambda t: t.chi == "finish")  # the seek itself works
        await asyncio.sleep(1.0)
        assert leaves.tones(sigil=hum.sigil) == [], [t.chi for t in leaves.tones(sigil=hum.sigil)]
        for n in (stays, leaves, driver):
            n.close()
        await sim.close()

    run_virtual(main())
