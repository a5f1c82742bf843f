"""The notifier: the shell around `Policy`. It follows every hum as a nestler, and delivers what the policy decides.

It is a nestler on its own humd: one session with a tap on each hum the
ensemble knows, from where it last read that hum (kept in the book), so a
restart resumes where it was. Each petal goes through `event_of`; the
policy says which channels get the event; each delivery is claimed in the
book before it is sent (exactly once per channel, across restarts) and
released again if the push did not get through. Asks carry one-time
capabilities, one per decision and channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hum.surfaces.notify.book import Capability, NotifyBook, Subscription
from hum.surfaces.notify.delivery import Outcome, WebPusher, redacted, send_apprise
from hum.surfaces.notify.policy import ASK, WITHDRAW, Channel, Event, Policy, event_of, home_event
from hum.wire.tones import PROTO_VERSION, Tone, is_petal

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from hum.node.humd import Humd

log = logging.getLogger(__name__)

# How often the notifier looks for hums it does not follow yet (a new hum is
# among the most recent ones; the whole list is read when peers change).
SCAN_SECONDS = 0.25
RECENT_HUMS = 20
# A capability outlives the ask's ten-minute default with room for a longer HUM_PERMIT_TIMEOUT.
CAPABILITY_SECONDS = 3600.0
# The latest failed pushes kept for a person to read (and tests to wait on); older ones are in the log.
FAILURES_KEPT = 100


def local_minute(now: float) -> int:
    t = time.localtime(now)
    return t.tm_hour * 60 + t.tm_min


class Notifier:
    """Follows the hums, asks the policy, delivers to browsers (Web Push) and apprise URLs."""

    def __init__(
        self,
        humd: Humd,
        book: NotifyBook,
        key: ec.EllipticCurvePrivateKey,
        *,
        apprise_urls: list[str] | None = None,
        public_url: Callable[[], str] = lambda: "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.humd = humd
        self.book = book
        self.policy = Policy(book.choices())
        self.pusher = WebPusher(key)
        self.key = key
        self.apprise = list(apprise_urls or [])
        self.public_url = public_url
        self.clock = clock
        self.session = humd.open_nestler("hum-notify")
        self.session.receive(Tone(chi="hello", bee="hum-notify", protoVersion=PROTO_VERSION))
        self.followed: set[str] = set()
        self.titles: dict[str, str] = {}
        self._peers: list[str] | None = None
        self._known: set[str] | None = None  # every hum seen since following began (None: not following)
        self._tasks: list[asyncio.Task[Any]] = []
        self._sends: set[asyncio.Task[Any]] = set()
        self.delivered = 0  # pushes that got through since start (status and tests)
        self.failures: deque[tuple[str, str]] = deque(maxlen=FAILURES_KEPT)  # (channel, why) of pushes that did not get through
        attention = humd.attention
        attention.load(book.marks())
        attention.on_mark = book.save_mark
        attention.on_marked = lambda sg, wane: self._spawn(self.withdraw_read(sg, wane))

    def channels(self) -> list[Channel]:
        return [s.channel() for s in self.book.subscriptions()] + [Channel(apprise_id(u)) for u in self.apprise]

    # -- running -------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._scan()), asyncio.create_task(self._read())]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._sends]:
            task.cancel()
        for task in [*self._tasks, *self._sends]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.session.close()
        await self.pusher.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _scan(self) -> None:
        while True:
            self.scan()
            await asyncio.sleep(SCAN_SECONDS)

    def scan(self) -> None:
        """Follow the hums not followed yet (all of them when peers changed, else the most recent); nothing without a channel."""
        if not self.channels():
            self._peers = self._known = None  # nobody to tell: follow nothing; the whole list is read when one appears
            return
        peers = self.humd.peers()
        entries = self.humd.list_hums() if peers != self._peers or self._known is None else self.humd.recent_hums(RECENT_HUMS)
        if self._peers is not None and peers != self._peers:
            self._homes_moved(entries, set(self._peers) - set(peers), set(peers) - set(self._peers))
        self._peers = peers
        first, known = self._known is None, self._known or set()
        self._known = known
        for entry in entries:
            sg = str(entry["sigil"])
            new = not first and sg not in known  # minted since we began: its whole (short) log is news
            known.add(sg)
            if sg in self.followed or (entry.get("home") != self.humd.id and entry.get("home") not in peers):
                continue
            self.followed.add(sg)
            since = self.book.cursor(sg)
            if since is None:
                since = 0 if new else self._first_since(entry)
            self.session.receive(Tone(chi="attach", sigil=sg, since=since))

    def _homes_moved(self, entries: list[dict[str, Any]], lost: set[str], back: set[str]) -> None:
        """Peers went or came back: the hums followed here that live there make home events (if asked for)."""
        if not self.policy.choices.homes:
            return
        at = int(self.clock())
        for entry in entries:
            sg, home = str(entry["sigil"]), str(entry.get("home"))
            if (home in lost or home in back) and self.book.cursor(sg) is not None:
                device = self.humd.device_names().get(home) or f"device {home[:8]}"
                event = home_event(home in back, sg, int(entry.get("wane") or 0), title=self._title(sg), device=device, at=at)
                self._spawn(self.deliver(event))

    def _first_since(self, entry: dict[str, Any]) -> int:
        """Where to start following a hum never followed: its open bloom (an ask may be waiting), else its tip."""
        hum = self.humd.hum(str(entry["sigil"]))
        if hum is None:
            return int(entry.get("wane") or 0)
        return hum.last_prompt - 1 if hum.bloom_open and hum.last_prompt else hum.tip

    def _title(self, sg: str) -> str:
        """What the hum is about: the prompt its latest bloom answers."""
        if sg not in self.titles and (hum := self.humd.hum(sg)) is not None and hum.last_prompt:
            prompts = [p for p in hum.since(hum.last_prompt - 1, hum.last_prompt) if p.chi == "prompt"]
            self.titles[sg] = str(prompts[0].body.get("text") or "") if prompts else ""
        return self.titles.get(sg, "")

    async def _read(self) -> None:
        while True:
            for tone in await self.session.next_tones():
                sg = tone.get("sigil")
                if tone.chi == "error" and not is_petal(tone) and isinstance(sg, str):
                    self.followed.discard(sg)  # its home is gone (or it was forgotten): attach again when it is back
                elif is_petal(tone):
                    await self.petal(tone)

    async def petal(self, tone: Tone) -> None:
        """One petal of a followed hum: its event, if it makes one, delivered."""
        sg, wane = str(tone["sigil"]), int(tone["wane"])
        if tone.chi == "prompt":
            self.titles[sg] = str(tone.get("text") or "")
        attention = self.humd.attention
        if tone.chi == "chunk":
            return  # never an event, and not worth a write: a restart reads a bloom's chunks again, harmlessly
        event = event_of(tone.chi, sg, wane, dict(tone), title=self._title(sg), watched=attention.watched(sg), seen=attention.mark(sg))
        self.book.advance(sg, wane)
        if event is not None:
            self._spawn(self.deliver(event))

    # -- delivering ----------------------------------------------------------------------

    async def deliver(self, event: Event) -> list[tuple[str, Outcome]]:
        """Send `event` to every channel the policy names, once each; returns what each said."""
        if event.kind == WITHDRAW:
            targets = Policy.withdrawals(event, {event.tag: self.book.shown_with(event.tag)}, self.book.delivered(event.id))
        else:
            targets = self.policy.recipients(event, self.channels(), self.book.delivered(event.id), local_minute(self.clock()))
        subs = {s.id: s for s in self.book.subscriptions()}
        claimed = [ch for ch in targets if self.book.claim(ch, event.id, event.tag, event.sigil, event.wane)]
        outcomes = await asyncio.gather(*(self._send(ch, event, subs.get(ch)) for ch in claimed))
        for ch, outcome in zip(claimed, outcomes, strict=True):
            if outcome.ok:
                self.delivered += 1
                continue
            self.book.unclaim(ch, event.id)
            self.failures.append((ch, outcome.reason))
            if outcome.gone:
                self.book.unsubscribe(ch)
                log.warning("push subscription %s is gone (%s): dropped", ch, outcome.reason)
            else:
                log.warning("notification %s to %s failed: %s", event.id, ch, outcome.reason)
        return list(zip(claimed, outcomes, strict=True))

    async def _send(self, channel: str, event: Event, sub: Subscription | None) -> Outcome:
        base = sub.origin if sub is not None else self.public_url()
        payload = self.payload(event, channel, base)
        if sub is not None:
            return await self.pusher.send(sub.info(), payload, urgent=event.is_ask)
        url = next((u for u in self.apprise if apprise_id(u) == channel), None)
        if url is None or event.kind == WITHDRAW:
            return Outcome(True)  # apprise cannot take a notification back: nothing to send
        return await send_apprise(url, event.title, event.body, payload["url"], payload.get("actions", []))

    def payload(self, event: Event, channel: str, base: str) -> dict[str, Any]:
        """The JSON a push carries (the contract of `GET /hum/push/key`'s users), with capabilities for an ask."""
        out: dict[str, Any] = {
            "kind": event.kind, "sigil": event.sigil, "wane": event.wane, "title": event.title, "body": event.body,
            "url": f"{base}/#/hum/{event.sigil}", "tag": event.tag,
        }
        if event.permit_id is not None:
            out["permitId"] = event.permit_id
        if event.kind == ASK and event.permit_id is not None:
            out["actions"] = [
                {"action": d, "title": d.capitalize(), "url": f"{base}/hum/push/answers/{event.permit_id}/{self.grant(event, d, channel)}"}
                for d in ("allow", "deny")
            ]
        return out

    def grant(self, event: Event, decision: str, channel: str) -> str:
        assert event.permit_id is not None
        now = self.clock()
        self.book.drop_expired(now)
        return self.book.grant(Capability(event.sigil, event.permit_id, event.wane, decision, channel, now + CAPABILITY_SECONDS))

    async def withdraw_read(self, sg: str, wane: int) -> None:
        """A hum was read up to `wane` somewhere: its finished-notifications up to there are taken back."""
        subs = {s.id: s for s in self.book.subscriptions()}
        for channel, tag, shown in Policy.read_up_to(wane, self.book.shown_of(sg)):
            event = Event(WITHDRAW, sg, shown, "", "read", tag)
            if channel in subs and self.book.claim(channel, event.id, tag, sg, shown):
                await self._send(channel, event, subs[channel])

    async def test(self) -> list[dict[str, Any]]:
        """One test notification to every channel, now: which failed and why."""
        event = Event("test", "hum", 0, "hum: test notification", "Notifications from this device work.", "hum-test")
        results = []
        for sub in self.book.subscriptions():
            outcome = await self.pusher.send(sub.info(), self.payload(event, sub.id, sub.origin), urgent=False)
            results.append({"channel": sub.id, "kind": "web-push", "ok": outcome.ok, "reason": outcome.reason})
        for url in self.apprise:
            outcome = await send_apprise(url, event.title, event.body, self.public_url() + "/", [])
            results.append({"channel": redacted(url), "kind": "apprise", "ok": outcome.ok, "reason": outcome.reason})
        return results


def apprise_id(url: str) -> str:
    return "apprise-" + hashlib.sha256(url.encode()).hexdigest()[:12]
