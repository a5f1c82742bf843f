"""The router on its own: inputs in, effects and owed tones out; no event loop, no sockets, no sleeps."""

from __future__ import annotations

from router_helpers import Node, link, pump, wanes

from hum.errors import WorkerError
from hum.node.effects import (
    CutLink,
    PeersChanged,
    Persist,
    SaveHum,
    StartBloom,
)
from hum.wire.tones import Tone, sigil


def test_a_prompt_mints_the_hum_taps_the_nestler_and_starts_a_bloom(operator):
    laptop = Node(operator, "laptop")
    oc = laptop.nestler("opencode")
    effects = laptop.say(oc, "prompt", sid="s1", text="hello", rid="r1")
    sg = sigil("local", "s1")
    assert any(isinstance(e, SaveHum) and e.hum.sigil == sg for e in effects)
    assert StartBloom(sg) in effects
    tones = laptop.router.pull(oc)
    assert [t.chi for t in tones] == ["hello", "prompt"]
    assert tones[1]["from"] == "opencode" and tones[1]["text"] == "hello" and tones[1]["sid"] == "s1"


def test_fields_named_like_python_parameters_are_stored_as_data(operator):
    laptop = Node(operator, "laptop")
    cli = laptop.nestler()
    tone = Tone({"chi": "prompt", "sid": "s1", "text": "hi", "self": 1, "kwargs": 2, "body": 3, "hum": 4})
    laptop.settle(laptop.router.nestler_tone(cli, tone))
    (petal,) = laptop.router.hums[sigil("local", "s1")].petals
    assert {k: petal.body[k] for k in ("self", "kwargs", "body", "hum")} == {"self": 1, "kwargs": 2, "body": 3, "hum": 4}


def test_a_prompt_during_a_bloom_waits_and_opens_the_next_bloom(operator):
    laptop = Node(operator, "laptop")
    cli = laptop.nestler()
    laptop.say(cli, "prompt", sid="s1", text="one")
    sg = sigil("local", "s1")
    laptop.router.pull(cli)
    effects = laptop.say(cli, "prompt", sigil=sg, text="two", reqId="q2")
    assert not any(isinstance(e, (Persist, StartBloom)) for e in effects)  # stored in the queue, nothing appended yet
    (queued,) = laptop.router.pull(cli)
    assert (queued.chi, queued["position"], queued["reqId"], queued["from"]) == ("queued", 1, "q2", "cli")
    laptop.bloom(sg, "a", "b")
    hum = laptop.router.hums[sg]
    assert [p.chi for p in hum.petals] == ["prompt", "chunk", "chunk", "finish", "prompt"]
    assert hum.petals[-1].body["text"] == "two" and hum.bloom_open
    assert laptop.router.bloom_request(sg) is not None


def test_a_worker_error_closes_the_bloom_with_an_error_petal(operator):
    laptop = Node(operator, "laptop")
    cli = laptop.nestler()
    laptop.say(cli, "prompt", sid="s1", text="one")
    sg = sigil("local", "s1")
    laptop.settle(laptop.router.worker_event(sg, WorkerError("upstream-timeout", "too slow")))
    last = laptop.router.hums[sg].petals[-1]
    assert (last.chi, last.body["code"], last.body["qualifier"]) == ("error", "worker-error", "upstream-timeout")
    assert laptop.router.bloom_request(sg) is None


def test_attach_from_since_gets_hello_then_only_later_petals(operator):
    laptop = Node(operator, "laptop")
    cli = laptop.nestler()
    laptop.say(cli, "prompt", sid="s1", text="one")
    sg = sigil("local", "s1")
    laptop.bloom(sg, "a", "b", "c")  # wanes 1..5
    late = laptop.nestler("late")
    laptop.say(late, "attach", sigil=sg, since=2)
    tones = laptop.router.pull(late)
    assert tones[0].chi == "hello" and tones[0]["wane"] == 5
    assert wanes(tones) == [3, 4, 5]
    assert not laptop.router.owes(late)


def test_a_remote_hum_is_attached_through_its_home_and_mirrored_exactly(operator):
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    link(phone, laptop)
    oc = laptop.nestler("opencode")
    laptop.say(oc, "prompt", sid="s1", text="one")
    sg = sigil("local", "s1")
    laptop.bloom(sg, "a", "b")
    pump(laptop, phone)
    ai = phone.nestler("vercel-ai")
    phone.say(ai, "attach", sigil=sg, since=2)
    pump(laptop, phone)
    tones = phone.router.pull(ai)
    assert tones[0].chi == "hello" and tones[0]["home"] == laptop.id
    assert wanes(tones) == [3, 4]
    # the phone's prompt is routed to the home, stamped with the phone's HumdId there
    phone.say(ai, "prompt", sigil=sg, text="two")
    pump(laptop, phone)
    home_prompt = laptop.router.hums[sg].petals[-1]
    assert home_prompt.chi == "prompt" and home_prompt.body["from"] == phone.id
    assert wanes(phone.router.pull(ai)) == [5]


def test_a_gap_in_replication_re_attaches_from_the_replica_tip(operator):
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    link(phone, laptop)
    cli = laptop.nestler()
    laptop.say(cli, "prompt", sid="s1", text="one")
    sg = sigil("local", "s1")
    laptop.bloom(sg, "a", "b")
    pump(laptop, phone)
    ai = phone.nestler()
    phone.say(ai, "attach", sigil=sg, since=0)
    attach = phone.router.pull(phone.links[laptop.id])
    assert [t.chi for t in attach] == ["attach"]
    # the home's hello and wane 1 arrive, then wane 3: wane 2 was lost on the way
    laptop.settle(laptop.router.link_tone(laptop.links[phone.id], attach[0]))
    sent = laptop.router.pull(laptop.links[phone.id])
    hello, w1, _w2, w3 = sent[0], sent[1], sent[2], sent[3]
    for tone in (hello, w1, w3):
        phone.settle(phone.router.link_tone(phone.links[laptop.id], tone))
    (again,) = phone.router.pull(phone.links[laptop.id])
    assert again.chi == "attach" and again["since"] == 1
    assert phone.router.hums[sg].tip == 1


def test_crossing_dials_keep_exactly_the_link_dialled_by_the_lower_humd_id(operator):
    a, b = Node(operator, "a"), Node(operator, "b")
    first, _ = a.router.link_up(b.id, dialled=True)
    second, effects = a.router.link_up(b.id, dialled=False)
    lower_dialled_first = a.id < b.id
    if lower_dialled_first:
        assert second is None and effects == []
    else:
        assert second is not None and CutLink(first) in effects
    assert a.router.peers() == [b.id]


def test_a_second_link_dialled_the_same_way_is_refused_and_the_live_one_stays(operator):
    a, b = Node(operator, "a"), Node(operator, "b")
    first, _ = a.router.link_up(b.id, dialled=True)
    for _ in range(3):  # the peer dials a second address of ours, again and again
        second, effects = a.router.link_up(b.id, dialled=True)
        assert second is None and effects == []
    assert a.router.ensemble.owner(b.id) is first and not first.closed


def test_a_link_replaced_by_a_crossing_dial_is_not_a_loss_and_the_replica_goes_on(operator):
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    low, high = sorted((laptop, phone), key=lambda n: n.id)
    link(high, low)
    cli = laptop.nestler()
    laptop.say(cli, "prompt", sid="s1", text="one")
    sg = sigil("local", "s1")
    pump(laptop, phone)
    watcher = phone.nestler("w")
    phone.say(watcher, "attach", sigil=sg, since=0)
    pump(laptop, phone)
    assert [t.chi for t in phone.router.pull(watcher)] == ["hello", "prompt"]
    # the lower HumdId dials while the other's link is up: both ends keep the new link
    old_low, old_high = low.links[high.id], high.links[low.id]
    new_low, fx_low = low.router.link_up(high.id, dialled=True)
    new_high, fx_high = high.router.link_up(low.id, dialled=False)
    assert new_low is not None and new_high is not None
    assert CutLink(old_low) in fx_low and CutLink(old_high) in fx_high
    low.links[high.id], high.links[low.id] = new_low, new_high
    low.settle(fx_low)
    high.settle(fx_high)
    pump(laptop, phone)
    assert phone.router.pull(watcher) == []  # no peer-loss, no second hello
    laptop.bloom(sg, "two")
    pump(laptop, phone)
    assert [t.chi for t in phone.router.pull(watcher)] == ["chunk", "finish"]


def test_losing_the_home_is_said_on_every_local_tap_and_ends_it(operator):
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    link(phone, laptop)
    cli = laptop.nestler()
    laptop.say(cli, "prompt", sid="s1", text="one")
    sg = sigil("local", "s1")
    pump(laptop, phone)
    watchers = [phone.nestler("a"), phone.nestler("b")]
    for w in watchers:
        phone.say(w, "attach", sigil=sg)
    pump(laptop, phone)
    for w in watchers:
        phone.router.pull(w)
    effects = phone.settle(phone.router.link_down(phone.links[laptop.id]))
    assert PeersChanged() in effects and phone.router.peers() == []
    for w in watchers:
        (loss,) = phone.router.pull(w)
        assert (loss.chi, loss["code"], loss["qualifier"], loss["sigil"]) == ("error", "route-error", "peer-loss", sg)
        assert not phone.router.owes(w)


def test_a_revoked_peer_is_cut_and_refused_from_then_on(operator):
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    link(phone, laptop)
    owner = laptop.links[phone.id]
    _, effects = laptop.router.revoke(phone.id)
    assert CutLink(owner) in effects
    assert laptop.router.peers() == [] and phone.id in laptop.router.siblings.check.revoked


def test_a_bad_tone_from_a_peer_is_answered_and_the_link_stays_up(operator):
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    link(phone, laptop)
    laptop.router.pull(laptop.links[phone.id])
    laptop.settle(laptop.router.link_tone(laptop.links[phone.id], Tone(chi="breath", rid="x")))
    laptop.settle(laptop.router.link_tone(laptop.links[phone.id], Tone(chi="prompt", sigil=7, text="hi", rid="y")))
    answers = laptop.router.pull(laptop.links[phone.id])
    assert [(t["code"], t["qualifier"], t["rid"]) for t in answers] == [("bad-tone", "wrong-direction", "x"), ("route-error", "unknown-hum", "y")]
    assert laptop.router.peers() == [phone.id]


def test_an_unknown_sigil_is_asked_of_every_peer_then_refused(operator):
    phone, laptop, tablet = Node(operator, "phone"), Node(operator, "laptop"), Node(operator, "tablet")
    link(phone, laptop)
    link(phone, tablet)
    pump(phone, laptop, tablet)
    ai = phone.nestler()
    phone.say(ai, "attach", sigil="0123456789ab", rid="r")
    assert phone.router.pull(ai) == []  # a question, not yet an answer
    pump(phone, laptop, tablet)
    (refusal,) = phone.router.pull(ai)
    assert (refusal["code"], refusal["qualifier"], refusal["rid"]) == ("route-error", "unknown-hum", "r")


def test_tones_before_hello_and_bad_fields_get_bad_tone_answers(operator):
    laptop = Node(operator, "laptop")
    rude = laptop.router.open_nestler("rude")
    laptop.settle(laptop.router.nestler_tone(rude, Tone(chi="attach", sigil="x", rid=1)))
    cli = laptop.nestler()
    laptop.say(cli, "attach", sigil="x", since=-1, rid=2)
    laptop.say(cli, "chunk", sigil="x", rid=3)
    replies = laptop.router.pull(rude) + laptop.router.pull(cli)
    assert [(t["qualifier"], t["rid"]) for t in replies] == [("no-hello", 1), ("bad-field", 2), ("wrong-direction", 3)]


def test_a_local_hello_may_not_name_another_humd(operator):
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    liar = laptop.router.open_nestler("liar")
    laptop.settle(laptop.router.nestler_tone(liar, Tone(chi="hello", rid="h", **{"from": "humd_" + phone.id})))
    (refusal,) = laptop.router.pull(liar)
    assert (refusal["code"], refusal["qualifier"], refusal["rid"]) == ("bad-tone", "bad-field", "h")
    laptop.settle(laptop.router.nestler_tone(liar, Tone(chi="attach", sigil="x", rid="a")))
    assert laptop.router.pull(liar)[0]["qualifier"] == "no-hello"  # not greeted
    honest = laptop.router.open_nestler("honest")
    laptop.settle(laptop.router.nestler_tone(honest, Tone(chi="hello", **{"from": laptop.id})))
    assert laptop.router.pull(honest)[0].chi == "breath"
