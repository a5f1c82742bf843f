"""What deserves a notification, decided once: petals and marks in, events and deliveries out, no I/O.

An event is named by the petal that made it (`sigil:wane`), so every device
that sees the petal names the event alike, and a subscription that has it in
its delivered set is never given it again, whoever sees it next and after
any restart (the shell keeps that set durable). The choices are a person's:
per device (this humd's default), per hum, per subscription, and quiet hours
during which only asks are pushed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What a channel is pushed, from least to most.
LEVELS = ("none", "asks", "all")
ASK, FINISH, ERROR, INTERRUPTED, WITHDRAW = "ask", "finish", "error", "interrupted", "withdraw"
HOME_LOST, HOME_BACK = "home-lost", "home-back"
# How much of a hum's title or an ask's question a notification carries: a lock screen shows two lines.
TITLE_CHARS = 60
BODY_CHARS = 160
MINUTES_A_DAY = 24 * 60


def event_id(sigil: str, wane: int) -> str:
    return f"{sigil}:{wane}"


def ask_tag(sigil: str, permit_id: str) -> str:
    """The tag an ask's notification carries: its withdrawal names the same one."""
    return f"hum-{sigil}-ask-{permit_id}"


def hum_tag(sigil: str) -> str:
    """The tag of a hum's latest finish: a newer one replaces it, reading the hum withdraws it."""
    return f"hum-{sigil}"


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Event:
    """One thing worth telling: an ask, a bloom's end, or the withdrawal of an earlier notification."""

    kind: str
    sigil: str
    wane: int
    title: str
    body: str
    tag: str
    permit_id: str | None = None

    at: int = 0  # for a home's loss or return: when (wall seconds), which names that occurrence

    @property
    def id(self) -> str:
        """The petal's `sigil:wane`; a withdrawal's, or a home's loss or return, is marked apart, so it is delivered once as well."""
        if self.kind in (HOME_LOST, HOME_BACK):
            return f"{event_id(self.sigil, self.wane)}!{self.kind}@{self.at}"
        return event_id(self.sigil, self.wane) + ("!w" if self.kind == WITHDRAW else "")

    @property
    def is_ask(self) -> bool:
        return self.kind == ASK


@dataclass
class Choices:
    """What this device pushes: its default level, per-hum levels, quiet hours (local minutes of the day)."""

    level: str = "all"
    hums: dict[str, str] = field(default_factory=dict)
    quiet: tuple[int, int] | None = None  # (start, end) minutes; may wrap past midnight
    homes: bool = False  # also tell when a followed hum's home is lost, and when it is back

    def level_for(self, sigil: str) -> str:
        return self.hums.get(sigil, self.level)

    def is_quiet(self, minute: int) -> bool:
        if self.quiet is None:
            return False
        start, end = self.quiet
        return start <= minute < end if start <= end else minute >= start or minute < end

    def as_json(self) -> dict[str, Any]:
        quiet = None if self.quiet is None else {"start": clock_text(self.quiet[0]), "end": clock_text(self.quiet[1])}
        return {"level": self.level, "hums": dict(self.hums), "quiet": quiet, "homes": self.homes}


def clock_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_clock(text: str) -> int:
    """`HH:MM` as minutes of the day, or a ValueError saying what is wrong."""
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"a time of day is HH:MM, not {text!r}")
    value = int(hours) * 60 + int(minutes)
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f"a time of day is from 00:00 to 23:59, not {text!r}")
    return value


def check_level(level: Any) -> str:
    if level not in LEVELS:
        raise ValueError(f"what to push is one of {', '.join(LEVELS)}, not {level!r}")
    return str(level)


@dataclass(frozen=True)
class Channel:
    """Somewhere to push: a browser's subscription or an apprise URL, with its own level."""

    id: str
    level: str = "all"


def event_of(chi: str, sigil: str, wane: int, body: dict[str, Any], *, title: str, watched: bool, seen: int) -> Event | None:
    """The event a petal makes, if any.

    An ask: at once, watched or not (somebody must answer it). A bloom's end:
    only while nobody watches the hum and nobody has read past it. A permit:
    the withdrawal of its ask's notification (answered, wherever).
    """
    name = _cut(title or sigil, TITLE_CHARS)
    if chi == "permission-ask":
        permit_id = str(body.get("permitId") or "")
        what = _cut(f"{body.get('question') or 'A tool wants to run'}: {body.get('tool')}", BODY_CHARS)
        return Event(ASK, sigil, wane, f"{name} needs you", what, ask_tag(sigil, permit_id), permit_id)
    if chi == "permit":
        permit_id = str(body.get("permitId") or "")
        verb = "allowed" if body.get("decision") == "allow" else "denied"
        return Event(WITHDRAW, sigil, wane, name, f"answered: {verb}", ask_tag(sigil, permit_id), permit_id)
    if watched or seen >= wane:
        return None
    if chi == "finish":
        if body.get("finishReason") == "cancelled":
            return None  # somebody pressed Stop: they know
        return Event(FINISH, sigil, wane, f"{name} is done", "The answer is ready.", hum_tag(sigil))
    if chi == "error":
        qualifier = body.get("qualifier")
        if qualifier == "interrupted":
            return Event(INTERRUPTED, sigil, wane, f"{name} was interrupted", "Its device restarted mid-answer.", hum_tag(sigil))
        return Event(ERROR, sigil, wane, f"{name} failed", _cut(str(body.get("message") or qualifier or "the worker failed"), BODY_CHARS), hum_tag(sigil))
    return None


def home_event(back: bool, sigil: str, wane: int, *, title: str, device: str, at: int) -> Event:
    """A followed hum's home was lost (or is back): one event per occurrence, replacing the last one (same tag)."""
    name = _cut(title or sigil, TITLE_CHARS)
    if back:
        return Event(HOME_BACK, sigil, wane, f"{name} is back", f"{device} is reachable again.", f"hum-{sigil}-home", at=at)
    return Event(HOME_LOST, sigil, wane, f"{name} lost its home", f"{device} cannot be reached.", f"hum-{sigil}-home", at=at)


class Policy:
    """Who gets which event: the choices, the quiet hours, and what each channel already had."""

    def __init__(self, choices: Choices | None = None) -> None:
        self.choices = choices or Choices()

    def recipients(self, event: Event, channels: list[Channel], delivered: set[tuple[str, str]], minute: int) -> list[str]:
        """The channels `event` goes to now: each at most once, ever (`delivered` holds (channel, event id) pairs)."""
        if event.kind == WITHDRAW:
            return []  # a withdrawal goes only where its ask went: `withdrawals`
        if event.kind in (HOME_LOST, HOME_BACK) and not self.choices.homes:
            return []  # off unless asked for
        level = self.choices.level_for(event.sigil)
        if level == "none" or (not event.is_ask and (level == "asks" or self.choices.is_quiet(minute))):
            return []
        return [
            ch.id for ch in channels
            if (ch.id, event.id) not in delivered and ch.level != "none" and (event.is_ask or ch.level == "all")
        ]

    @staticmethod
    def withdrawals(event: Event, tagged: dict[str, set[str]], delivered: set[tuple[str, str]]) -> list[str]:
        """The channels to withdraw `event`'s tag from: those shown it (`tagged`: tag -> channels), once each."""
        return [ch for ch in sorted(tagged.get(event.tag, set())) if (ch, event.id) not in delivered]

    @staticmethod
    def read_up_to(wane: int, shown: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
        """Of a hum's (channel, tag, wane) shown, those a read mark at `wane` withdraws: its ends, not its open asks."""
        return [(ch, tag, w) for ch, tag, w in shown if w <= wane and "-ask-" not in tag]
