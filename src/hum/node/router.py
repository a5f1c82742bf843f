"""The router: every protocol decision of one humd, as inputs in and effects out, with no I/O.

Its inputs are a nestler's tone, a peer's tone, a link coming up or going
down, a petal made durable, a worker's event and a clock tick; each returns
the `Effect`s the shell must carry out. Tones for an owner wait in the
router (its outbox, its taps' cursors) until the shell pulls them, so the
router never blocks and never writes. The clock is passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hum.brood.transcript import turns as transcript_turns
from hum.core.hum import Hum
from hum.ensemble.certificates import HumdId, looks_like_humd_id
from hum.errors import BadTone, HumError, LogError, RouteError, WorkerError
from hum.interfaces import Delta, Done, PermissionAsk, Turn
from hum.node.attention import Attention
from hum.node.effects import CancelBloom, Effect, QueuePrompt, SaveHum, StartBloom
from hum.node.forgetting import Forgetting
from hum.node.owners import Owner, OwnerKind
from hum.node.state import not_homed_here
from hum.wire.tones import PROTO_VERSION, Tone, is_past_dusk, is_petal, sigil

log = logging.getLogger(__name__)

# A breath lists this many of the most recently active hums (PROTOCOL.md: at
# most 20), so it stays a few KB however many hums a humd knows.
BREATH_HUMS = 20
# A `hums` page: by default enough for a screen, at most what keeps a reply far
# below the 1 MiB line limit (an entry is about 200 bytes).
HUMS_PAGE_DEFAULT = 100
HUMS_PAGE_MAX = 1000

# Keys of an incoming prompt tone that are envelope or routing, not the prompt
# petal's body (everything else, known or not, is kept as data).
PROMPT_ENVELOPE = frozenset({"chi", "rid", "sid", "sigil", "wane", "to", "from", "dusk", "bee", "nest"})


@dataclass(frozen=True)
class BloomRequest:
    """What a worker needs for the next bloom of a hum."""

    turns: list[Turn]
    model: str | None
    tools: list[Any] | None


def prompt_body(tone: Tone) -> dict[str, Any]:
    """The petal body of a prompt tone: every field but the envelope, `content` read as `text`."""
    body = {k: v for k, v in tone.items() if k not in PROMPT_ENVELOPE}
    if "text" not in body and "content" in body:
        body["text"] = body.pop("content")
    return body


def need_str(tone: Tone, key: str) -> str:
    value = tone.get(key)
    if not isinstance(value, str) or not value:
        raise BadTone("missing-field", f"{tone.chi} needs a string {key!r}")
    return value


def need_since(tone: Tone) -> int:
    since = tone.get("since", 0)
    if since is None:
        return 0
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise BadTone("bad-field", "`since` is a wane: a whole number >= 0")
    return since


class Router(Forgetting):
    """One humd's hums, taps, replicas and peers, and every decision about them.

    The decisions are layered by concern: `NodeState` (the facts and the
    effect helpers) <- `Replication` (attach, seek, mirror) <- `Linking`
    (links, loss, revocation) <- `Router` (the inputs: nestler and link
    tones, prompts, blooms, durability).
    """

    # -- attention (issue 20): watchers and read marks, kept by their own object -----------

    @cached_property
    def attention(self) -> Attention:
        return Attention(self.me, self._send, self.peers, self._home_or_none)

    def _home_or_none(self, sg: str) -> str | None:
        hum = self.hums.get(sg)
        entry = self.ensemble.lookup(sg) if hum is None else None
        return hum.home if hum is not None else (str(entry["home"]) if entry else None)

    def link_up(self, peer: HumdId, *, dialled: bool, name: str = "") -> tuple[Owner | None, list[Effect]]:
        owner, effects = super().link_up(peer, dialled=dialled, name=name)
        if owner is not None:
            self.attention.link_up(peer)  # attention hook: the new peer hears what is watched and read here
            effects += self._done()
        return owner, effects

    def _link_lost(self, owner: Owner) -> None:
        if self.ensemble.is_linked(owner.name) and self.ensemble.owner(owner.name) is owner:
            self.attention.link_down(owner.name)  # attention hook: what that peer watched no longer counts
        super()._link_lost(owner)

    # -- nestlers -----------------------------------------------------------

    def open_nestler(self, name: str | None = None) -> Owner:
        return Owner(OwnerKind.NESTLER, name or f"nestler-{next(self._names)}")

    def nestler_tone(self, owner: Owner, item: Tone | BadTone) -> list[Effect]:
        """One tone (or framing verdict) from a nestler."""
        if isinstance(item, BadTone):
            self._reply(owner, item.tone())
            return self._done()
        tone, rid = item, item.get("rid")
        try:
            if is_past_dusk(tone, self.clock.wall_ms()):
                if rid is not None:
                    raise BadTone("past-dusk", "the tone arrived after its dusk")
            elif not owner.greeted and tone.chi != "hello":
                raise BadTone("no-hello", "say hello first")
            else:
                handler = _NESTLER_TONES.get(tone.chi)
                if handler is None:
                    raise BadTone("wrong-direction", f"a nestler does not send {tone.chi!r}")
                handler(self, owner, tone)
        except (RouteError, LogError) as exc:
            exc.rid = rid
            self._reply(owner, exc.tone(sigil=tone.get("sigil")))
        except BadTone as exc:
            exc.rid = rid
            self._reply(owner, exc.tone())
        return self._done()

    def _hello(self, owner: Owner, tone: Tone) -> None:
        claimed = tone.get("from")
        if isinstance(claimed, str) and looks_like_humd_id(claimed) and HumdId.parse(claimed) != self.me:
            # a local client may name itself, never another device: prompts would carry its id
            raise BadTone("bad-field", "`from` may name this humd or the client itself, not another humd")
        owner.greeted = True
        owner.bee = str(tone.get("bee") or tone.get("from") or owner.name)
        self._reply(
            owner,
            Tone(
                chi="breath",
                rid=tone.get("rid"),
                humdId=self.me,
                protoVersion=PROTO_VERSION,
                humCount=self.hum_count(),
                hums=self.recent_hums(BREATH_HUMS),
            ),
        )

    def _attach_tone(self, owner: Owner, tone: Tone) -> None:
        self._attach(owner, need_str(tone, "sigil"), need_since(tone), tone.get("rid"))

    def _detach_tone(self, owner: Owner, tone: Tone) -> None:
        self._detach(owner, need_str(tone, "sigil"))

    def _cancel_tone(self, owner: Owner, tone: Tone) -> None:
        self._cancel(need_str(tone, "sigil"), tone.get("rid"))

    def _hums_tone(self, owner: Owner, tone: Tone) -> None:
        limit, cursor = tone.get("limit", HUMS_PAGE_DEFAULT), tone.get("cursor")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= HUMS_PAGE_MAX:
            raise BadTone("bad-field", f"`limit` is a whole number from 1 to {HUMS_PAGE_MAX}")
        if cursor is not None and not isinstance(cursor, str):
            raise BadTone("bad-field", "`cursor` is the `next` of the page before")
        page, nxt = self.hums_page(cursor, limit)
        self._reply(owner, Tone(chi="hums", rid=tone.get("rid"), hums=page, next=nxt))

    def _peers_tone(self, owner: Owner, tone: Tone) -> None:
        self._reply(owner, self._peers_reply(tone.get("rid")))
        if tone.get("watch") is True:
            # a fresh `peers` tone at every change, so a nestler can tell when a home is back
            self.peer_watchers[owner] = self.peers()

    def close_owner(self, owner: Owner) -> list[Effect]:
        """A nestler went away (or a link's owner is retired): its taps go, the hums live on."""
        owner.closed = True
        self.peer_watchers.pop(owner, None)
        self.attention.gone(owner)  # attention hook: a nestler that went away watches nothing
        for tap in self.taps.of_owner(owner):
            self._drop_tap(owner, tap.sigil)
        for seek in self.seeks.values():
            seek.waiting = [w for w in seek.waiting if w[0] is not owner]
        return self._done()

    # -- hums ---------------------------------------------------------------

    def load(self, hums: list[Hum]) -> list[Effect]:
        """Take back hums read from the store after a restart."""
        for hum in hums:
            self.hums[hum.sigil] = hum
            self.ensemble.record(hum.summary())
            self._touch(hum.sigil)
            self._index_transcript(hum)
            if hum.home == self.me and hum.bloom_open:
                # the worker died with the process: close the bloom so the log says so
                error = WorkerError("interrupted", "humd restarted mid-bloom")
                self._appended(hum, hum.append("error", error.body()))
            if hum.home == self.me:
                self._next_prompt(hum)  # prompts that waited when the process died go on
            elif hum.epoch > 0:
                # an adopted hum: what this replica holds past the fork may be a branch; compare on attach
                self.unverified[hum.sigil] = min(hum.tip, hum.fork)
        return self._done()

    def mint(self, sid: str, nest: str | None = None) -> tuple[Hum, list[Effect]]:
        """Create a hum homed here (or find it) and tell the ensemble."""
        return self._mint(sid, nest or self.nest), self._done()

    def _mint(self, sid: str, nest: str) -> Hum:
        sg = sigil(nest, sid)
        hum = self.hums.get(sg)
        if hum is not None:
            return hum
        hum = self._new_hum(sg, sid, nest, self.me)
        self.ensemble.record(hum.summary())
        self._touch(sg)
        self._emit(SaveHum(hum))
        for peer in self.ensemble.peers():
            self._send(peer, Tone(chi="hums", hums=[hum.summary()]))
        return hum

    def store_fault(self, fault: HumError | None) -> list[Effect]:
        """Commits fail (`fault`), or work again (None): said once on the taps of every hum left waiting."""
        self.fault = fault
        if fault is None:
            self._fault_said.clear()
            return self._done()
        for hum in self.hums.values():
            if hum.tip > hum.durable_tip and hum.sigil not in self._fault_said:
                self._fault_said.add(hum.sigil)
                for tap in self.taps.of_hum(hum.sigil):
                    if not tap.owner.is_peer:
                        tap.notify(fault.tone(sigil=hum.sigil, sid=hum.sid), hum.durable_tip)
                        self._wake(tap.owner)
        return self._done()

    def durable(self, hum: Hum, wane: int) -> list[Effect]:
        """The store made `hum`'s log durable up to `wane`: its taps may now have it."""
        hum.mark_durable(wane)
        for tap in self.taps.of_hum(hum.sigil):
            self._wake(tap.owner)
        return self._done()

    # -- prompts and blooms --------------------------------------------------

    def _prompt_tone(self, owner: Owner, tone: Tone) -> None:
        """A nestler's prompt: mint or find the hum, attach the nestler, route to the home."""
        rid = tone.get("rid")
        if not isinstance(tone.get("text", tone.get("content")), str):
            raise BadTone("missing-field", "prompt needs a string `text` (or `content`)")
        sg = tone.get("sigil")
        if not isinstance(sg, str) or not sg:
            sid = tone.get("sid")
            if not isinstance(sid, str) or not sid:
                raise BadTone("missing-field", "prompt needs a `sigil` or a `sid`")
            nest = tone.get("nest") or self.nest
            sg = sigil(str(nest), sid)
            if sg not in self.hums and self.ensemble.lookup(sg) is None:
                self._mint(sid, str(nest))
        hum = self.hums.get(sg)
        home = hum.home if hum is not None else self.ensemble.home_of(sg, rid)
        body = prompt_body(tone)
        if home == self.me:
            assert hum is not None
            if self.taps.get(owner, sg) is None:
                self._open_tap(hum, owner, hum.tip, granted=True)
            self._home_prompt(hum, body, origin=owner.bee, device=self.me)
            return
        if not self.ensemble.is_linked(home):
            raise self._no_route(sg, home, rid)
        if self.taps.get(owner, sg) is None:
            entry = self.ensemble.lookup(sg) or {}
            known = max(hum.tip if hum is not None else 0, int(entry.get("wane") or 0))
            self._attach(owner, sg, known, rid)
        routed = Tone(body)
        routed.update(chi="prompt", sigil=sg)
        if rid is not None:
            routed["rid"] = rid
        self._send(home, routed)

    def _home_prompt(self, hum: Hum, body: dict[str, Any], origin: str, device: str) -> None:
        """A prompt at its home; `device` is where it was typed, which stays true after the hum moves home."""
        body["from"], body["device"] = origin, device
        petal = hum.offer_prompt(body)
        if petal is not None:
            self._appended(hum, petal)
            self._emit(StartBloom(hum.sigil))
        else:
            seq, queued = hum.pending_prompts[-1]
            self._emit(QueuePrompt(hum, seq, queued))

    def queued(self, hum: Hum, seq: int) -> list[Effect]:
        """A queued prompt is stored: every tap of the hum hears that it waits, and where in line."""
        position = next((i + 1 for i, (s, _) in enumerate(hum.pending_prompts) if s == seq), None)
        if position is not None:
            body = dict(hum.pending_prompts[position - 1][1])
            notice = Tone.make("queued", sigil=hum.sigil, sid=hum.sid, position=position, reqId=body.get("reqId"))
            notice["from"] = body.get("from")
            for tap in self.taps.of_hum(hum.sigil):
                tap.notify(Tone(notice), hum.tip)
                self._wake(tap.owner)
        return self._done()

    def _next_prompt(self, hum: Hum) -> None:
        """A bloom closed: the oldest queued prompt (if any) opens the next one."""
        if not hum.bloom_open and (nxt := hum.next_prompt()) is not None:
            seq, petal = nxt
            self._appended(hum, petal, dequeued=seq)
            self._emit(StartBloom(hum.sigil))

    def bloom_request(self, sg: str) -> BloomRequest | None:
        """What the next bloom of `sg` needs, or None when no bloom is open."""
        hum = self.hums.get(sg)
        if hum is None or hum.home != self.me or not hum.bloom_open:
            return None
        blooms = hum.blooms()
        prompt = blooms[-1].prompt
        model, tools = prompt.body.get("modelId"), prompt.body.get("tools")
        return BloomRequest(
            transcript_turns(blooms), model if isinstance(model, str) else None, tools if isinstance(tools, list) else None
        )

    def worker_event(self, sg: str, event: Delta | Done | PermissionAsk | WorkerError) -> list[Effect]:
        """A worker's delta, its question, its finish, or its failure, appended to the hum's log."""
        hum = self.hums[sg]
        if not hum.bloom_open or hum.home != self.me:  # closed already, or the hum moved away mid-bloom
            return self._done()
        if isinstance(event, Delta):
            body = {"chunkType": event.chunk_type, "delta": event.text, "blockIdx": event.block_idx}
            self._appended(hum, hum.append("chunk", body))
        elif isinstance(event, PermissionAsk):
            self._asked(hum, event)
        elif isinstance(event, Done):
            self._appended(hum, hum.append("finish", {"finishReason": event.finish_reason, "usage": event.usage.as_wire()}))
        else:
            self._appended(hum, hum.append("error", event.body()))
        if not hum.bloom_open:
            self._asks_closed(hum)
            # siblings list the hum with its petal count as of now, not as of its mint
            for peer in self.peers():
                self._send(peer, Tone(chi="hums", hums=[hum.summary()]))
        self._next_prompt(hum)
        return self._done()

    def _cancel(self, sg: str, rid: Any = None) -> None:
        hum = self.hums.get(sg)
        home = hum.home if hum is not None else self.ensemble.home_of(sg, rid)
        if home == self.me:
            self._emit(CancelBloom(sg))
        else:
            self._send(home, Tone.make("cancel", sigil=sg, rid=rid))

    # -- links ----------------------------------------------------------------

    def link_tone(self, owner: Owner, tone: Tone) -> list[Effect]:
        """A tone from a linked peer, out of its envelope (`ToneIn.content`)."""
        peer = owner.name
        if owner.closed:
            return self._done()
        if is_past_dusk(tone, self.clock.wall_ms()):
            if tone.get("rid") is not None and tone.chi not in ("error", "hello"):
                self._send(peer, BadTone("past-dusk", "the tone arrived after its dusk", tone.get("rid")).tone(sigil=tone.get("sigil")))
            return self._done()
        handler = _LINK_TONES.get("petal" if is_petal(tone) else tone.chi)
        try:
            if handler is None:
                raise BadTone("wrong-direction", f"a humd does not send {tone.chi!r} on a link", tone.get("rid"))
            handler(self, peer, tone)
        except HumError as exc:
            # answered on the link, which stays up; an error is never answered (no ping-pong)
            if tone.chi != "error":
                exc.rid = tone.get("rid")
                self._send(peer, exc.tone(sigil=tone.get("sigil") if isinstance(tone.get("sigil"), str) else None))
        return self._done()

    def _heard_queued(self, peer: str, tone: Tone) -> None:
        """The home queued a prompt of a hum we mirror: our nestlers on it hear so too."""
        hum = self.hums.get(str(tone.get("sigil")))
        if hum is None or hum.home != peer:
            return
        for tap in self.taps.of_hum(hum.sigil):
            if not tap.owner.is_peer:
                tap.notify(Tone(tone), hum.tip)
                self._wake(tap.owner)

    def _peer_prompt(self, peer: str, tone: Tone) -> None:
        sg = tone.get("sigil")
        hum = self.hums.get(sg) if isinstance(sg, str) else None
        if hum is None or hum.home != self.me:
            raise not_homed_here(hum, sg, self.me, tone.get("rid"))
        self._home_prompt(hum, prompt_body(tone), origin=peer, device=peer)

    def _peer_cancel(self, peer: str, tone: Tone) -> None:
        self._cancel(need_str(tone, "sigil"), tone.get("rid"))

    # -- revocation --------------------------------------------------------------





# What each tone means, by who sent it. A link tone's key is its chi, or
# "petal" for an appended petal (`is_petal`): a prompt with a wane is a
# replicated petal, without one a request to the home.
_NESTLER_TONES: dict[str, Callable[[Router, Owner, Tone], None]] = {
    "hello": Router._hello,
    "attach": Router._attach_tone,
    "detach": Router._detach_tone,
    "prompt": Router._prompt_tone,
    "cancel": Router._cancel_tone,
    "hums": Router._hums_tone,
    "peers": Router._peers_tone,
    "release-permit": Router._release_tone,
    "adopt": Router._adopt_tone,
    "forget": Router._forget_tone,
    "watch": lambda r, o, t: r.attention.watch_tone(o, t),  # attention hook (issue 20)
    "seen": lambda r, o, t: r.attention.seen_tone(o, t),  # attention hook (issue 20)
}

_LINK_TONES: dict[str, Callable[[Router, str, Tone], None]] = {
    "hums": Router._peer_hums,
    "attach": Router._peer_attach,
    "detach": Router._peer_detach,
    "prompt": Router._peer_prompt,
    "cancel": Router._peer_cancel,
    "hello": Router._replica_granted,
    "petal": Router._replica_petal,
    "petals": Router._replica_petals,
    "error": Router._route_refused,
    "revoke": Router._heard_revocation,
    "queued": Router._heard_queued,
    "release-permit": Router._peer_release,
    "orphaned": Router._heard_orphaned,
    "forget": Router._peer_forget,
    "watching": lambda r, p, t: r.attention.heard_watching(p, t),  # attention hook (issue 20)
    "seen": lambda r, p, t: r.attention.heard_seen(p, t),  # attention hook (issue 20)
    "seen-marks": lambda r, p, t: r.attention.heard_marks(p, t),  # attention hook (issue 20)
}
