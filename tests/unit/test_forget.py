"""Forgetting a hum: the router (at its home, on a replica, by retention) and the store (every row in one commit)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from router_helpers import Node, follow, link, pump

from hum.core.hum import Hum
from hum.core.wane import WaneTracker
from hum.ensemble.trust.keys import OperatorKey
from hum.node.effects import Forget, SaveHum
from hum.node.owners import Owner
from hum.node.retention import DAY_MS, RETENTION_SWEEP_EVERY
from hum.store.sqlite import SqliteStore
from hum.wire.tones import Tone, sigil


def said(node: Node, owner: Owner, chi: str) -> list[Tone]:
    return [t for t in node.router.pull(owner) if t.chi == chi]


def prompted(node: Node, sid: str = "s1") -> tuple[str, Owner]:
    """A hum homed on `node` whose first bloom is open, and the nestler that prompted it (attached, read)."""
    cli = node.nestler("cli")
    node.say(cli, "prompt", sid=sid, text="one")
    node.router.pull(cli)
    return sigil("local", sid), cli


def finished_hum(node: Node, sid: str = "s1") -> tuple[str, Owner]:
    """A hum homed on `node` with one finished bloom, and the nestler that prompted it (still attached)."""
    sg, cli = prompted(node, sid)
    node.bloom(sg, "a", "b")
    node.router.pull(cli)
    return sg, cli


def followed(operator: OperatorKey) -> tuple[Node, Node, str, Owner, Owner]:
    """A laptop homing a finished hum its nestler still follows, and a linked phone whose nestler follows it too."""
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    link(phone, laptop)
    sg, cli = finished_hum(laptop)
    return laptop, phone, sg, cli, follow(phone, laptop, sg)


def forgets(node: Node, sg: str) -> bool:
    return any(isinstance(e, Forget) and e.hum.sigil == sg for e in node.effects)


def listed(node: Node, sg: str) -> bool:
    return any(h["sigil"] == sg for h in node.router.list_hums())


def test_forgetting_at_the_home_removes_the_hum_on_every_linked_device_and_tells_every_tap(
    operator,
):
    laptop, phone, sg, cli, ai = followed(operator)
    asker = laptop.nestler("asker")
    laptop.say(asker, "forget", sigil=sg, rid="f1")
    (reply,) = laptop.router.pull(asker)
    assert (reply.chi, reply["rid"], reply["where"], reply["home"]) == (
        "forgotten",
        "f1",
        "everywhere",
        laptop.id,
    )
    assert forgets(laptop, sg) and sg not in laptop.router.hums and not listed(laptop, sg)
    (ended,) = laptop.router.pull(cli)  # the nestler attached at the home hears why its hum ended
    assert (ended.chi, ended["qualifier"], ended["sigil"]) == ("error", "forgotten", sg)
    pump(laptop, phone)
    assert forgets(phone, sg) and sg not in phone.router.hums and not listed(phone, sg)
    (ended,) = phone.router.pull(ai)
    assert (ended.chi, ended["qualifier"]) == ("error", "forgotten") and "every device" in ended[
        "message"
    ]
    # afterwards the sigil is unknown everywhere
    laptop.say(asker, "prompt", sigil=sg, text="again?", rid="p")
    assert [(t.chi, t["qualifier"]) for t in laptop.router.pull(asker)] == [
        ("error", "unknown-hum")
    ]
    laptop.say(asker, "forget", sigil=sg, rid="f2")
    assert [(t.chi, t["qualifier"]) for t in laptop.router.pull(asker)] == [
        ("error", "unknown-hum")
    ]


def test_a_minted_again_sid_starts_a_fresh_log_at_wane_one(operator):
    laptop = Node(operator, "laptop")
    sg, cli = finished_hum(laptop)
    laptop.say(cli, "forget", sigil=sg)
    laptop.router.pull(cli)
    laptop.say(cli, "prompt", sid="s1", text="fresh")
    assert [p.wane for p in laptop.router.hums[sg].petals] == [1]


def test_forgetting_on_a_replica_drops_only_this_devices_copy_and_it_can_be_attached_again(
    operator,
):
    laptop, phone, sg, _, ai = followed(operator)
    assert (
        laptop.router.facts.taps.get(laptop.links[phone.id], sg) is not None
    )  # the phone's replica follows the home
    phone.say(ai, "forget", sigil=sg, rid="f")
    reply = said(phone, ai, "forgotten")[0]
    assert (reply["where"], reply["home"]) == ("this-device", laptop.id)
    assert forgets(phone, sg) and sg not in phone.router.hums
    assert listed(phone, sg)  # it still lives at its home, and the directory says so
    pump(laptop, phone)
    assert (
        sg in laptop.router.hums
        and laptop.router.facts.taps.get(laptop.links[phone.id], sg) is None
        and not forgets(laptop, sg)
    )
    phone.say(ai, "attach", sigil=sg, since=0)
    pump(laptop, phone)
    assert [t["wane"] for t in phone.router.pull(ai) if t.chi != "hello"] == [1, 2, 3, 4]
    assert phone.router.hums[sg].tip == 4


def test_forgetting_a_hum_this_device_does_not_know_is_unknown_hum(operator):
    laptop = Node(operator, "laptop")
    cli = laptop.nestler()
    laptop.say(cli, "forget", sigil="abcdefabcdef", rid="f")
    (answer,) = laptop.router.pull(cli)
    assert (answer.chi, answer["code"], answer["qualifier"], answer["rid"]) == (
        "error",
        "route-error",
        "unknown-hum",
        "f",
    )
    laptop.say(cli, "forget", rid="g")
    (answer,) = laptop.router.pull(cli)
    assert (answer["code"], answer["qualifier"]) == ("bad-tone", "missing-field")


def test_a_blooming_hum_is_not_forgotten_until_its_bloom_ends(operator):
    laptop = Node(operator, "laptop")
    sg, cli = prompted(laptop)
    laptop.say(cli, "forget", sigil=sg, rid="f")
    (answer,) = laptop.router.pull(cli)
    assert (answer.chi, answer["qualifier"]) == ("error", "bloom-open") and "cancel" in answer[
        "message"
    ]
    assert sg in laptop.router.hums and not forgets(laptop, sg)
    laptop.bloom(sg, "done")
    laptop.say(cli, "forget", sigil=sg, rid="f2")
    assert said(laptop, cli, "forgotten")[0]["where"] == "everywhere"


def test_a_device_away_when_its_home_forgot_a_hum_drops_it_at_the_next_link_up(operator):
    laptop, phone, tablet = (
        Node(operator, "laptop"),
        Node(operator, "phone"),
        Node(operator, "tablet"),
    )
    link(phone, laptop)
    keep, _ = finished_hum(laptop, "keep")
    sg, cli = finished_hum(laptop, "drop")
    ai = follow(phone, laptop, sg)
    for node, other in ((laptop, phone), (phone, laptop)):
        node.settle(node.router.link_down(node.links.pop(other.id)))
    phone.router.pull(ai)  # the peer-loss
    laptop.say(cli, "forget", sigil=sg)
    link(phone, laptop)
    pump(laptop, phone)
    assert forgets(phone, sg) and sg not in phone.router.hums and not listed(phone, sg)
    assert listed(phone, keep) and not forgets(phone, keep)
    # a humd that never knew the hum drops nothing
    link(tablet, laptop)
    pump(laptop, phone, tablet)
    assert listed(tablet, keep) and not any(isinstance(e, Forget) for e in tablet.effects)


def test_retention_forgets_a_hum_untouched_for_its_days_everywhere_on_the_clock(operator):
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    link(phone, laptop)
    laptop.router.config.retain_days = 2
    clock = laptop.router.facts.clock
    sg, cli = finished_hum(laptop)
    laptop.router.close_owner(cli)
    pump(laptop, phone)
    assert listed(phone, sg)
    clock.now += 1.5 * DAY_MS / 1000
    laptop.settle(laptop.router.tick())
    assert sg in laptop.router.hums  # touched a day and a half ago
    # an attach touches it again: the two days start over
    look = laptop.nestler("look")
    laptop.say(look, "attach", sigil=sg, since=4)
    assert any(isinstance(e, SaveHum) and e.touched is not None for e in laptop.effects[-3:])
    laptop.router.close_owner(look)
    clock.now += 1.5 * DAY_MS / 1000
    laptop.settle(laptop.router.tick())
    assert sg in laptop.router.hums and laptop.router.retention.status() == {"days": 2, "forgotten": 0}
    clock.now += 0.6 * DAY_MS / 1000
    laptop.settle(laptop.router.tick())
    assert sg not in laptop.router.hums and forgets(laptop, sg)
    assert laptop.router.retention.status() == {"days": 2, "forgotten": 1}
    pump(laptop, phone)
    assert not listed(phone, sg)


def test_retention_leaves_a_followed_hum_and_keeps_everything_by_default(operator):
    laptop = Node(operator, "laptop")
    sg, cli = finished_hum(laptop)
    laptop.router.facts.clock.now += 365 * DAY_MS / 1000
    laptop.settle(laptop.router.tick())
    assert sg in laptop.router.hums and laptop.router.retention.status() == {"days": None, "forgotten": 0}
    laptop.router.config.retain_days = 1
    laptop.settle(laptop.router.tick())
    assert sg in laptop.router.hums  # a nestler still follows it
    laptop.router.close_owner(cli)
    laptop.router.facts.clock.now += RETENTION_SWEEP_EVERY
    laptop.settle(laptop.router.tick())
    assert sg not in laptop.router.hums


def test_the_store_forgets_a_hums_petals_queue_branches_and_row_and_keeps_the_others(
    tmp_path: Path,
):
    db = tmp_path / "hums.db"
    store, tracker = SqliteStore(db), WaneTracker()
    gone, kept = (
        Hum("aaaaaaaaaaaa", "gone", "local", "me", tracker),
        Hum("bbbbbbbbbbbb", "kept", "local", "me", tracker),
    )
    for hum in (gone, kept):
        store.save_hum(hum, touched=1_000)
        for text in ("one", "two"):
            store.append(hum, hum.append("prompt", {"text": text}))
            store.append(hum, hum.append("finish", {"finishReason": "stop"}))
    store.queue_prompt(gone, 1, {"text": "later"})
    store.orphan(gone, 2, 0)
    store.flush()
    assert len(store.orphans(gone.sigil)) == 2
    store.append(gone, gone.append("prompt", {"text": "three"}))
    store.forget(gone)
    durable = [(hum.sigil, wane) for hum, wane in store.flush().durable]
    assert durable == []  # nobody is owed a petal of a hum that is gone
    assert store.orphans(gone.sigil) == [] and store.touched() == {kept.sigil: 1_000}
    store.close()
    again = SqliteStore(db)
    (loaded,) = again.load(WaneTracker())
    assert (loaded.sigil, loaded.tip, list(loaded.pending_prompts)) == (kept.sigil, 4, [])
    again.close()


def test_a_store_from_before_retention_opens_with_no_touched_times_and_keeps_its_hums(
    tmp_path: Path,
):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as old:
        old.execute(
            "CREATE TABLE hums (sigil TEXT PRIMARY KEY, sid TEXT NOT NULL, nest TEXT NOT NULL, home TEXT NOT NULL)"
        )
        old.execute("INSERT INTO hums VALUES ('aaaaaaaaaaaa', 'old', 'local', 'me')")
    store = SqliteStore(db)
    assert store.touched() == {} and [h.sigil for h in store.load(WaneTracker())] == [
        "aaaaaaaaaaaa"
    ]
    store.close()


def test_a_hum_forgotten_and_minted_again_is_a_new_hum_the_away_device_drops_the_old_one(operator):
    laptop, phone = Node(operator, "laptop"), Node(operator, "phone")
    link(phone, laptop)
    sg, cli = finished_hum(laptop)
    ai = follow(phone, laptop, sg)
    old_born = phone.router.hums[sg].born
    for node, other in ((laptop, phone), (phone, laptop)):
        node.settle(node.router.link_down(node.links.pop(other.id)))
    phone.router.pull(ai)  # the peer-loss
    laptop.say(cli, "forget", sigil=sg)
    laptop.router.facts.clock.now += 0.001  # the same sid, prompted again a moment later: the same sigil
    laptop.say(cli, "prompt", sid="s1", text="a new conversation")
    assert laptop.router.hums[sg].born > old_born
    link(phone, laptop)
    pump(laptop, phone)
    assert forgets(phone, sg)  # the old conversation is gone from the phone
    again = phone.nestler("again")
    phone.say(again, "attach", sigil=sg, since=0)
    pump(laptop, phone)
    tones = phone.router.pull(again)
    assert [t.chi for t in tones][:2] == ["hello", "prompt"] and tones[1]["text"] == "a new conversation"
    assert phone.router.hums[sg].petals == laptop.router.hums[sg].petals


def test_the_home_keeps_its_tombstones_across_a_restart(tmp_path: Path):
    store = SqliteStore(tmp_path / "hum.db")
    hum = Hum("abc", "s1", "local", "me", WaneTracker())
    hum.born = 1234
    store.save_hum(hum)
    store.flush()
    store.forget(hum, tombstone=99)
    store.flush()
    store.close()
    again = SqliteStore(tmp_path / "hum.db")
    assert again.tombstones() == [("abc", 1234)] and again.load(WaneTracker()) == []
