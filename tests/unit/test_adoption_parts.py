"""Adoption at the router, with no sim, daemon or event loop: epochs, who wins, the branch cut at the fork, the loser following."""

from __future__ import annotations

from router_helpers import Node, follow, link, pump

from hum.ensemble.trust.keys import OperatorKey
from hum.errors import StoreError
from hum.node.effects import Forget, Orphan
from hum.node.owners import Owner
from hum.wire.tones import Tone, sigil


def cut(a: Node, b: Node) -> None:
    """The link between `a` and `b` is gone at both ends (a lid closed, a tunnel)."""
    for node, other in ((a, b), (b, a)):
        node.settle(node.router.link_down(node.links.pop(other.id)))


def home_with_one_bloom(operator: OperatorKey) -> tuple[Node, Owner, str]:
    laptop = Node(operator, "laptop")
    cli = laptop.nestler("cli")
    laptop.say(cli, "prompt", sid="roam", text="one")
    sg = sigil("local", "roam")
    laptop.bloom(sg, "a", "b")
    laptop.router.pull(cli)
    return laptop, cli, sg


def adopt(device: Node, sg: str) -> Tone:
    owner = device.nestler("cli")
    device.say(owner, "adopt", sigil=sg, rid="a1")
    (answer,) = [t for t in device.router.pull(owner) if t.get("rid") == "a1"]
    return answer


def test_adopting_takes_the_next_epoch_from_the_replicas_last_wane(operator):
    laptop, _, sg = home_with_one_bloom(operator)
    phone = Node(operator, "phone")
    link(phone, laptop)
    follow(phone, laptop, sg)
    cut(phone, laptop)
    answer = adopt(phone, sg)
    assert answer.chi == "adopted" and (answer["home"], answer["epoch"], answer["wane"]) == (phone.id, 1, 4)
    hum = phone.router.hums[sg]
    assert (hum.home, hum.epoch, hum.fork) == (phone.id, 1, 4)


def test_the_old_home_follows_the_new_epoch_and_keeps_its_own_petals_past_the_fork_as_a_branch(operator):
    laptop, cli, sg = home_with_one_bloom(operator)
    phone = Node(operator, "phone")
    link(phone, laptop)
    follow(phone, laptop, sg)
    cut(phone, laptop)
    laptop.say(cli, "prompt", sigil=sg, text="on the laptop, cut off")  # wanes 5..7 on the laptop alone
    laptop.bloom(sg, "c")
    adopt(phone, sg)
    pc = phone.nestler("pc")
    phone.say(pc, "prompt", sigil=sg, text="on the phone")  # wanes 5..7 on the phone, a different story
    phone.bloom(sg, "d")

    link(phone, laptop)
    pump(laptop, phone)

    moved, kept = laptop.router.hums[sg], phone.router.hums[sg]
    assert (moved.home, moved.epoch) == (phone.id, 1)  # the higher epoch wins
    assert moved.petals == kept.petals  # every petal is the new home's, none of the branch
    (orphan,) = [e for e in laptop.effects if isinstance(e, Orphan)]
    assert (orphan.keep, orphan.epoch) == (4, 0)  # cut at the fork; written under epoch 0
    note = kept.petals[-1]
    assert note.chi == "note" and note.body["orphaned"]["count"] == 3
    assert (note.body["orphaned"]["first"], note.body["orphaned"]["last"]) == (5, 7)
    assert [p.body.get("delta") for p in kept.petals if p.chi == "chunk"] == ["a", "b", "d"]


def test_two_devices_adopting_at_once_settle_on_the_higher_humd_id_and_the_loser_follows(operator):
    laptop, _, sg = home_with_one_bloom(operator)
    phone, tablet = Node(operator, "phone"), Node(operator, "tablet")
    for device in (phone, tablet):
        link(device, laptop)
        follow(device, laptop, sg)
        cut(device, laptop)
        assert adopt(device, sg)["epoch"] == 1  # the same epoch on both: neither knows of the other
    winner, loser = (phone, tablet) if phone.id > tablet.id else (tablet, phone)
    winner.say(winner.nestler("w"), "prompt", sigil=sg, text="the winner goes on")
    winner.bloom(sg, "w")

    link(phone, tablet)
    pump(phone, tablet)

    for device in (phone, tablet):
        assert device.router.hums[sg].home == winner.id
    assert loser.router.hums[sg].petals == winner.router.hums[sg].petals
    assert loser.router.ensemble.lookup(sg).epoch == 1  # type: ignore[union-attr]

    link(laptop, winner)  # the old home comes back at epoch 0: the adopted home outranks it
    pump(laptop, phone, tablet)
    assert laptop.router.hums[sg].home == winner.id
    assert laptop.router.hums[sg].petals == winner.router.hums[sg].petals


def test_a_device_that_holds_no_petal_cannot_adopt_and_a_linked_home_needs_force(operator):
    laptop, _, sg = home_with_one_bloom(operator)
    phone = Node(operator, "phone")
    link(phone, laptop)
    pump(laptop, phone)  # the phone knows of the hum, holds none of it
    refused = adopt(phone, sg)
    assert refused.chi == "error" and refused["qualifier"] == "unknown-hum"
    follow(phone, laptop, sg)
    refused = adopt(phone, sg)
    assert refused.chi == "error" and refused["qualifier"] == "home-alive"
    owner = phone.nestler("cli")
    phone.say(owner, "adopt", sigil=sg, force=True, rid="f")
    assert [t for t in phone.router.pull(owner) if t.get("rid") == "f"][0].chi == "adopted"


def test_an_old_home_holding_a_branch_keeps_it_when_a_device_that_lost_the_hum_no_longer_lists_it(operator):
    laptop, cli, sg = home_with_one_bloom(operator)
    phone, tablet = Node(operator, "phone"), Node(operator, "tablet")
    link(phone, laptop)
    follow(phone, laptop, sg)
    cut(phone, laptop)
    laptop.say(cli, "prompt", sigil=sg, text="on the laptop, cut off")  # a branch only the laptop has
    laptop.bloom(sg, "c")
    adopt(phone, sg)  # epoch 1 on the phone
    link(phone, laptop)
    pump(laptop, phone)
    assert [e for e in laptop.effects if isinstance(e, Orphan)]  # the laptop keeps its branch aside
    cut(phone, laptop)
    link(tablet, phone)
    follow(tablet, phone, sg)
    cut(tablet, phone)
    adopt(tablet, sg)  # epoch 2 on the tablet; the phone learns it when they meet
    link(tablet, phone)
    pump(phone, tablet)
    assert phone.router.hums[sg].home == tablet.id
    cut(tablet, phone)

    link(laptop, phone)  # the phone's listing no longer names the hum: it is not home any more
    pump(laptop, phone)
    assert sg in laptop.router.hums and not any(isinstance(e, Forget) for e in laptop.effects)


def test_a_replica_is_readable_while_its_home_is_away_and_then_says_peer_loss(operator):
    laptop, _, sg = home_with_one_bloom(operator)
    phone = Node(operator, "phone")
    link(phone, laptop)
    follow(phone, laptop, sg)
    cut(phone, laptop)
    reader = phone.nestler("reader")
    phone.say(reader, "attach", sigil=sg, since=0)
    tones = phone.router.pull(reader)
    assert [t.chi for t in tones] == ["hello", "prompt", "chunk", "chunk", "finish", "error"]
    assert tones[0]["wane"] == 4 and tones[0]["home"] == laptop.id
    assert (tones[-1]["qualifier"], tones[-1]["held"]) == ("peer-loss", 4)
    never = phone.nestler("never")
    phone.say(never, "attach", sigil=sigil("local", "unknown"), since=0)
    (refused,) = phone.router.pull(never)
    assert refused["qualifier"] == "unknown-hum"


def test_a_tap_left_waiting_at_a_loss_follows_the_hum_when_this_device_adopts_it(operator):
    laptop, _, sg = home_with_one_bloom(operator)
    phone = Node(operator, "phone")
    link(phone, laptop)
    ai = follow(phone, laptop, sg)
    cut(phone, laptop)
    (loss,) = phone.router.pull(ai)
    assert loss["qualifier"] == "peer-loss"
    assert adopt(phone, sg)["chi"] == "adopted"
    phone.say(phone.nestler("pc"), "prompt", sigil=sg, text="on the phone now")
    phone.bloom(sg, "d")
    tones = phone.router.pull(ai)
    assert [t.chi for t in tones] == ["hello", "prompt", "chunk", "finish"]
    assert tones[0]["home"] == phone.id and tones[1]["text"] == "on the phone now" and tones[1]["wane"] == 5


def test_an_old_home_that_missed_an_epoch_compares_from_its_own_fork_and_keeps_no_silent_difference(operator):
    laptop, cli, sg = home_with_one_bloom(operator)  # epoch 0 on the laptop, wanes 1-4
    phone, tablet = Node(operator, "phone"), Node(operator, "tablet")
    link(phone, laptop)
    follow(phone, laptop, sg)
    cut(phone, laptop)
    laptop.say(cli, "prompt", sigil=sg, text="the laptop alone")  # wanes 5-7, only on the laptop
    laptop.bloom(sg, "l")
    adopt(phone, sg)  # epoch 1, fork 4
    phone.say(phone.nestler("pc"), "prompt", sigil=sg, text="the phone's turn")  # wanes 5-7 on the phone
    phone.bloom(sg, "p")
    link(tablet, phone)
    follow(tablet, phone, sg)
    cut(tablet, phone)
    adopt(tablet, sg)  # epoch 2, fork 7: the laptop never saw epoch 1
    tablet.say(tablet.nestler("tc"), "prompt", sigil=sg, text="typed on the tablet")
    tablet.bloom(sg, "t")

    link(laptop, tablet)
    pump(laptop, tablet)
    moved, home = laptop.router.hums[sg], tablet.router.hums[sg]
    assert moved.home == tablet.id and moved.petals == home.petals  # no wane differs
    (orphan,) = [e for e in laptop.effects if isinstance(e, Orphan)]
    assert (orphan.keep, orphan.epoch) == (4, 0)  # its own wanes 5-7 are kept aside, reported
    assert home.petals[-1].chi == "note" and home.petals[-1].body["orphaned"]["count"] == 3


def test_adopted_is_answered_only_once_the_new_epoch_is_stored_and_a_full_disk_is_said(operator):
    laptop, _, sg = home_with_one_bloom(operator)
    phone = Node(operator, "phone")
    link(phone, laptop)
    follow(phone, laptop, sg)
    cut(phone, laptop)
    phone.stored = False  # the store has not committed the hum's row yet
    cli = phone.nestler("cli")
    phone.say(cli, "adopt", sigil=sg, rid="a1")
    assert phone.router.pull(cli) == []  # not told "adopted" before it is durable
    phone.settle(phone.router.saved(phone.router.hums[sg]))
    (answer,) = phone.router.pull(cli)
    assert (answer.chi, answer["rid"], answer["epoch"]) == ("adopted", "a1", 1)

    # on a full disk: the answer says so, in the adopted answer's place
    phone.say(cli, "adopt", sigil=sg, rid="a2")
    phone.settle(phone.router.store_fault(StoreError("disk-full", "cannot write the hum store: database or disk is full")))
    (refused,) = phone.router.pull(cli)
    assert (refused.chi, refused["code"], refused["qualifier"], refused["rid"]) == ("error", "store-error", "disk-full", "a2")
    assert "not stored" in refused["message"]
    phone.say(cli, "adopt", sigil=sg, rid="a3")  # while the fault lasts: said at once
    (again,) = phone.router.pull(cli)
    assert (again["qualifier"], again["rid"]) == ("disk-full", "a3")
