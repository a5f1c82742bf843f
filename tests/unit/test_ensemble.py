"""The ensemble registry: peers, the hum directory, routing by `to`."""

from __future__ import annotations

import pytest

from hum.ensemble.ensemble import ROUTE_QUALIFIERS, DirectoryEntry, Ensemble
from hum.errors import RouteError

ME = "a" * 64
LAPTOP = "b" * 64
PHONE = "c" * 64


def test_peers_registry_holds_one_entry_per_peer() -> None:
    ens = Ensemble(ME)
    assert ens.peers() == []
    assert ens.link_up(PHONE, 1.0) is True
    assert ens.link_up(LAPTOP, 2.0) is True
    assert ens.link_up(PHONE, 3.0) is False  # a second link to the same peer: still one entry
    assert ens.peers() == sorted([PHONE, LAPTOP])
    assert ens.is_linked(PHONE)


def test_link_down_removes_the_peer_and_leaves_no_stale_entry() -> None:
    ens = Ensemble(ME)
    ens.link_up(PHONE, 1.0)
    assert ens.link_down(PHONE) is True
    assert ens.link_down(PHONE) is False
    assert ens.peers() == []
    assert not ens.is_linked(PHONE)
    assert ens.link_up(PHONE, 5.0) is True  # may come back
    assert ens.peers() == [PHONE]


def test_route_by_to() -> None:
    ens = Ensemble(ME)
    ens.link_up(PHONE, 0.0)
    ens.link_up(LAPTOP, 0.0)
    assert ens.route({"chi": "chunk", "to": PHONE}) == PHONE
    assert ens.route({"chi": "prompt", "to": LAPTOP}) == LAPTOP


@pytest.mark.parametrize(
    "tone",
    [
        {"chi": "chunk", "rid": "r1"},  # no `to`
        {"chi": "chunk", "to": ME, "rid": "r1"},  # addressed to myself
        {"chi": "chunk", "to": 42, "rid": "r1"},  # not a HumdId
        {"chi": "chunk", "to": "d" * 64, "rid": "r1"},  # a humd not linked
    ],
    ids=["no-to", "to-me", "not-a-string", "not-linked"],
)
def test_unroutable_tone_is_no_route(tone: dict[str, object]) -> None:
    ens = Ensemble(ME)
    ens.link_up(PHONE, 0.0)
    with pytest.raises(RouteError) as exc:
        ens.route(tone)
    assert exc.value.qualifier == "no-route"
    assert exc.value.rid == "r1"
    reply = exc.value.tone(sigil="s")
    assert reply["chi"] == "error"
    assert reply["code"] == "route-error"
    assert reply["qualifier"] == "no-route"
    assert reply["rid"] == "r1"
    assert reply["sigil"] == "s"


def test_route_after_link_down_is_no_route() -> None:
    ens = Ensemble(ME)
    ens.link_up(PHONE, 0.0)
    ens.link_down(PHONE)
    with pytest.raises(RouteError) as exc:
        ens.route({"chi": "chunk", "to": PHONE})
    assert exc.value.qualifier == "no-route"


def test_unknown_hum() -> None:
    ens = Ensemble(ME)
    with pytest.raises(RouteError) as exc:
        ens.home_of("123456789abc", rid="r9")
    assert exc.value.qualifier == "unknown-hum"
    assert exc.value.tone()["rid"] == "r9"
    assert set(ROUTE_QUALIFIERS) == {"identity-mismatch", "unknown-hum", "no-route"}


def test_record_and_lookup_own_hums() -> None:
    ens = Ensemble(ME)
    ens.record({"sigil": "s1", "sid": "x", "home": ME, "wane": 0, "nest": "local"})
    assert ens.home_of("s1") == ME
    assert ens.lookup("s1") == DirectoryEntry(sigil="s1", sid="x", home=ME, wane=0, nest="local")
    assert ens.lookup("nope") is None


def test_learn_takes_a_peers_own_hums() -> None:
    ens = Ensemble(ME)
    fresh = ens.learn(
        [
            {"sigil": "s1", "sid": "x", "home": PHONE, "wane": 3, "nest": "local", "junk": 1},
            {"sigil": "s2", "sid": "y", "home": PHONE, "wane": 0},
        ],
        via=PHONE,
    )
    assert fresh == ["s1", "s2"]
    assert ens.home_of("s1") == PHONE
    assert ens.lookup("s1").as_wire() == {  # type: ignore[union-attr]
        "sigil": "s1",
        "sid": "x",
        "home": PHONE,
        "wane": 3,
        "nest": "local",
        "epoch": 0,  # the home's epoch: 0 until somebody adopts the hum
        "fork": 0,
        "born": 0,  # its incarnation: 0 when the home did not say
    }
    # a later announcement updates, and is not "fresh"
    assert ens.learn([{"sigil": "s1", "sid": "x", "home": PHONE, "wane": 9}], via=PHONE) == []
    assert ens.lookup("s1").wane == 9  # type: ignore[union-attr]
    assert [e.sigil for e in ens.directory()] == ["s1", "s2"]


def test_learn_ignores_entries_naming_another_home() -> None:
    ens = Ensemble(ME)
    fresh = ens.learn(
        [
            {"sigil": "lap", "sid": "l", "home": LAPTOP, "wane": 1},  # speaks for the laptop
            {"sigil": "me", "sid": "m", "home": ME, "wane": 1},  # speaks for me
            {"sigil": "none", "sid": "n", "wane": 1},  # names no home
            {"sigil": 7, "home": PHONE},  # not a sigil
            {"home": PHONE},  # no sigil
            {"sigil": "ok", "sid": "o", "home": PHONE, "wane": 2},
        ],
        via=PHONE,
    )
    assert fresh == ["ok"]
    assert [e.sigil for e in ens.directory()] == ["ok"]
    for sg in ("lap", "me", "none"):
        assert ens.lookup(sg) is None
        with pytest.raises(RouteError) as exc:
            ens.home_of(sg)
        assert exc.value.qualifier == "unknown-hum"


def test_learn_cannot_take_over_a_hum_known_to_live_elsewhere() -> None:
    # "the directory cannot be poisoned by a sibling": a peer announcing itself as the
    # home of a hum already known to live on this humd (or on another peer) must not
    # redirect prompts and attaches for that hum to itself.
    ens = Ensemble(ME)
    ens.record({"sigil": "mine", "sid": "x", "home": ME, "wane": 5, "nest": "local"})
    ens.learn([{"sigil": "lap", "sid": "l", "home": LAPTOP, "wane": 1}], via=LAPTOP)
    ens.learn(
        [
            {"sigil": "mine", "sid": "x", "home": PHONE, "wane": 99},
            {"sigil": "lap", "sid": "l", "home": PHONE, "wane": 99},
        ],
        via=PHONE,
    )
    assert ens.home_of("mine") == ME
    assert ens.home_of("lap") == LAPTOP
    assert ens.lookup("lap").wane == 1  # type: ignore[union-attr]


def test_directory_is_a_copy() -> None:
    ens = Ensemble(ME)
    ens.record({"sigil": "s1", "home": ME})
    ens.directory().clear()
    assert ens.home_of("s1") == ME


def test_a_hum_moves_only_to_a_higher_epoch_or_the_higher_id_at_the_same_epoch() -> None:
    ens = Ensemble(ME)
    ens.learn([{"sigil": "s1", "home": LAPTOP, "wane": 5, "epoch": 0}], via=LAPTOP)
    assert ens.learn([{"sigil": "s1", "home": PHONE, "wane": 5, "epoch": 0}], via=PHONE) == []  # same epoch, no claim
    assert ens.home_of("s1") == LAPTOP
    assert ens.learn([{"sigil": "s1", "home": PHONE, "wane": 6, "epoch": 1, "fork": 5}], via=PHONE) == ["s1"]  # adopted
    assert (ens.home_of("s1"), ens.lookup("s1").fork) == (PHONE, 5)  # type: ignore[union-attr]
    assert ens.learn([{"sigil": "s1", "home": LAPTOP, "wane": 9, "epoch": 0}], via=LAPTOP) == []  # the old home is out
    # two adoptions at the same epoch: the higher HumdId wins, whichever is heard first
    low, high = sorted([PHONE, LAPTOP])
    ens.learn([{"sigil": "s2", "home": low, "wane": 1, "epoch": 1}], via=low)
    assert ens.learn([{"sigil": "s2", "home": high, "wane": 1, "epoch": 1}], via=high) == ["s2"]
    assert ens.learn([{"sigil": "s2", "home": low, "wane": 2, "epoch": 1}], via=low) == []
    assert ens.home_of("s2") == high


def test_a_newer_incarnation_outranks_any_epoch_so_every_device_settles_on_it() -> None:
    adopted = {"sigil": "s1", "sid": "x", "home": PHONE, "epoch": 2, "born": 100}
    minted_again = {"sigil": "s1", "sid": "x", "home": LAPTOP, "epoch": 0, "born": 200}
    for first, second in ((adopted, minted_again), (minted_again, adopted)):
        ens = Ensemble(ME)
        ens.learn([first], via=first["home"])
        ens.learn([second], via=second["home"])
        assert ens.home_of("s1") == LAPTOP  # whichever is heard first
