"""Permission asks at the router: any device answers, the first answer wins, an unanswered ask is denied."""

from __future__ import annotations

from router_helpers import Node, link, pump

from hum.interfaces import PermissionAsk
from hum.node.effects import ReleasePermit
from hum.wire.tones import sigil


def test_a_permission_ask_is_answered_from_the_phone_and_the_first_answer_wins(operator):
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    link(phone, laptop)
    oc = laptop.nestler("opencode")
    laptop.say(oc, "prompt", sid="s1", text="make a file")
    sg = sigil("local", "s1")
    laptop.settle(laptop.router.worker_event(sg, PermissionAsk("p1", "Bash", {"command": "touch x"}, "Run `touch x`?")))
    pump(laptop, phone)
    ai, other = phone.nestler("vercel-ai"), phone.nestler("web")
    for n in (ai, other):
        phone.say(n, "attach", sigil=sg)
    pump(laptop, phone)
    ask = [t for t in phone.router.pull(ai) if t.chi == "permission-ask"]
    assert [(t["permitId"], t["tool"], t["input"]) for t in ask] == [("p1", "Bash", {"command": "touch x"})]
    phone.router.pull(other)
    phone.say(ai, "release-permit", sigil=sg, permitId="p1", decision="allow", rid="a1")
    phone.say(other, "release-permit", sigil=sg, permitId="p1", decision="deny", rid="a2")
    pump(laptop, phone)
    assert ReleasePermit(sg, "p1", "allow", None) in laptop.effects
    assert not any(isinstance(e, ReleasePermit) and e.decision == "deny" for e in laptop.effects)
    permits = [p for p in laptop.router.hums[sg].petals if p.chi == "permit"]
    assert [(p.body["permitId"], p.body["decision"], p.body["from"]) for p in permits] == [("p1", "allow", phone.id)]
    # the late answer is refused, and the refusal reaches the nestler that sent it
    late = phone.router.pull(other)
    assert [(t["code"], t["qualifier"], t["rid"]) for t in late if t.chi == "error"] == [("bad-tone", "already-decided", "a2")]
    assert [t["decision"] for t in phone.router.pull(ai) if t.chi == "permit"] == ["allow"]


def test_an_unanswered_ask_is_denied_after_the_timeout(operator):
    laptop = Node(operator, "laptop")
    cli = laptop.nestler()
    laptop.say(cli, "prompt", sid="s1", text="make a file")
    sg = sigil("local", "s1")
    laptop.settle(laptop.router.worker_event(sg, PermissionAsk("p1", "Bash", {"command": "touch x"}, "Run it?")))
    laptop.router.facts.clock.now += laptop.router.config.permit_timeout - 1
    laptop.settle(laptop.router.tick())
    assert not any(isinstance(e, ReleasePermit) for e in laptop.effects)
    laptop.router.facts.clock.now += 1
    laptop.settle(laptop.router.tick())
    assert ReleasePermit(sg, "p1", "deny", "nobody answered within 10 minutes") in laptop.effects
    (permit,) = [p for p in laptop.router.hums[sg].petals if p.chi == "permit"]
    assert permit.body["from"] == laptop.id and permit.body["decision"] == "deny"


def test_answers_to_no_open_ask_and_bad_decisions_are_refused(operator):
    laptop = Node(operator, "laptop")
    cli = laptop.nestler()
    laptop.say(cli, "prompt", sid="s1", text="hi")
    sg = sigil("local", "s1")
    laptop.router.pull(cli)
    laptop.say(cli, "release-permit", sigil=sg, permitId="nope", decision="allow", rid=1)
    laptop.say(cli, "release-permit", sigil=sg, permitId="nope", decision="maybe", rid=2)
    laptop.settle(laptop.router.worker_event(sg, PermissionAsk("p1", "Bash", {}, "?")))
    laptop.bloom(sg, "done")  # the bloom closes: its ask can no longer be answered
    laptop.say(cli, "release-permit", sigil=sg, permitId="p1", decision="allow", rid=3)
    errors = [(t["qualifier"], t["rid"]) for t in laptop.router.pull(cli) if t.chi == "error"]
    assert errors == [("unknown-permit", 1), ("bad-field", 2), ("unknown-permit", 3)]
