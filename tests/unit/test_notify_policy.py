"""What deserves a notification, decided without an event loop: petals in, events and recipients out."""

from __future__ import annotations

import pytest

from hum.surfaces.notify.policy import (
    ASK,
    FINISH,
    INTERRUPTED,
    WITHDRAW,
    Channel,
    Choices,
    Policy,
    event_of,
    home_event,
    parse_clock,
)

ASK_BODY = {"permitId": "p1", "tool": "Bash", "input": {"command": "ls"}, "question": "May I run ls?"}
PHONE, TABLET = Channel("sub-phone"), Channel("sub-tablet", "asks")


def ev(chi: str, wane: int, body: dict | None = None, *, watched: bool = False, seen: int = 0):
    return event_of(chi, "abc123abc123", wane, body or {}, title="tidy up the project", watched=watched, seen=seen)


def test_an_ask_is_an_event_at_once_even_while_watched():
    event = ev("permission-ask", 7, ASK_BODY, watched=True, seen=9)
    assert event is not None and event.kind == ASK and event.permit_id == "p1"
    assert event.id == "abc123abc123:7" and "May I run ls?" in event.body and event.title == "tidy up the project needs you"


def test_a_finish_is_an_event_only_while_nobody_watches_or_has_read_past_it():
    assert ev("finish", 9, {"finishReason": "stop"}).kind == FINISH
    assert ev("finish", 9, {"finishReason": "stop"}, watched=True) is None
    assert ev("finish", 9, {"finishReason": "stop"}, seen=9) is None
    assert ev("finish", 9, {"finishReason": "cancelled"}) is None  # somebody pressed Stop
    assert ev("error", 9, {"code": "worker-error", "qualifier": "interrupted"}).kind == INTERRUPTED
    assert ev("chunk", 8, {"delta": "hi"}) is None and ev("prompt", 1, {"text": "hi"}) is None


def test_a_permit_withdraws_its_ask_by_the_same_tag():
    ask = ev("permission-ask", 7, ASK_BODY)
    withdrawal = ev("permit", 8, {"permitId": "p1", "decision": "allow"})
    assert withdrawal.kind == WITHDRAW and withdrawal.tag == ask.tag and withdrawal.id != ask.id


def test_each_channel_gets_an_event_once_and_only_what_it_asked_for():
    policy = Policy()
    finish, ask = ev("finish", 9, {}), ev("permission-ask", 7, ASK_BODY)
    assert policy.recipients(finish, [PHONE, TABLET], set(), 600) == ["sub-phone"]
    assert policy.recipients(ask, [PHONE, TABLET], set(), 600) == ["sub-phone", "sub-tablet"]
    assert policy.recipients(ask, [PHONE, TABLET], {("sub-phone", ask.id)}, 600) == ["sub-tablet"]


def test_device_and_per_hum_choices_and_quiet_hours():
    finish, ask = ev("finish", 9, {}), ev("permission-ask", 7, ASK_BODY)
    asks_only = Policy(Choices(level="asks"))
    assert asks_only.recipients(finish, [PHONE], set(), 600) == [] and asks_only.recipients(ask, [PHONE], set(), 600) == ["sub-phone"]
    this_hum_all = Policy(Choices(level="asks", hums={"abc123abc123": "all"}))
    assert this_hum_all.recipients(finish, [PHONE], set(), 600) == ["sub-phone"]
    silent = Policy(Choices(hums={"abc123abc123": "none"}))
    assert silent.recipients(ask, [PHONE], set(), 600) == []
    night = Policy(Choices(quiet=(parse_clock("22:00"), parse_clock("07:00"))))
    assert night.recipients(finish, [PHONE], set(), parse_clock("23:30")) == []
    assert night.recipients(finish, [PHONE], set(), parse_clock("06:59")) == []
    assert night.recipients(ask, [PHONE], set(), parse_clock("03:00")) == ["sub-phone"]
    assert night.recipients(finish, [PHONE], set(), parse_clock("07:00")) == ["sub-phone"]


def test_withdrawals_go_where_the_ask_was_shown_once_and_reading_withdraws_finishes_only():
    ask = ev("permission-ask", 7, ASK_BODY)
    withdrawal = ev("permit", 8, {"permitId": "p1", "decision": "deny"})
    assert Policy.withdrawals(withdrawal, {ask.tag: {"sub-phone"}}, set()) == ["sub-phone"]
    assert Policy.withdrawals(withdrawal, {ask.tag: {"sub-phone"}}, {("sub-phone", withdrawal.id)}) == []
    assert Policy().recipients(withdrawal, [PHONE], set(), 600) == []
    shown = [("sub-phone", "hum-abc123abc123", 9), ("sub-phone", ask.tag, 7), ("sub-phone", "hum-abc123abc123", 20)]
    assert Policy.read_up_to(12, shown) == [("sub-phone", "hum-abc123abc123", 9)]


@pytest.mark.parametrize("text", ["7", "24:00", "12:60", "ab:cd", "12:5"])
def test_a_bad_time_of_day_is_refused_with_its_text(text):
    with pytest.raises(ValueError, match="HH:MM|00:00"):
        parse_clock(text)


def test_a_homes_loss_and_return_are_told_only_when_asked_once_per_occurrence():
    lost = home_event(False, "abc123abc123", 9, title="tidy", device="laptop", at=100)
    back = home_event(True, "abc123abc123", 9, title="tidy", device="laptop", at=160)
    assert (lost.title, lost.body, lost.tag == back.tag) == ("tidy lost its home", "laptop cannot be reached.", True)
    assert lost.id != back.id != home_event(False, "abc123abc123", 9, title="tidy", device="laptop", at=200).id
    assert Policy().recipients(lost, [PHONE], set(), 600) == []  # off by default
    told = Policy(Choices(homes=True))
    assert told.recipients(lost, [PHONE, TABLET], set(), 600) == ["sub-phone"]  # like a finish: not to asks-only channels
