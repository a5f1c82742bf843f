"""Blooms: prompts find their hum's home, open blooms there, and the worker's events fill them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from hum.brood.transcript import turns as transcript_turns
from hum.core.hum import Hum
from hum.core.petal import Petal
from hum.errors import WorkerError
from hum.interfaces import Delta, Done, PermissionAsk, Turn
from hum.node.effects import CancelBloom, QueuePrompt, SaveHum, StartBloom
from hum.node.facts import Facts
from hum.node.inbound import Fields, HumRequest, Prompt, read_prompt
from hum.node.journal import Journal
from hum.node.outbox import Outbox
from hum.node.owners import Owner
from hum.node.permits import Permits
from hum.node.projects import ProjectBook
from hum.node.replicas import Replicas
from hum.wire.tones import Tone, sigil


@dataclass(frozen=True)
class BloomRequest:
    """What a worker needs for the next bloom of a hum."""

    turns: list[Turn]
    model: str | None
    tools: list[Any] | None


class Blooms:
    """Minting, prompting (here or routed home), queued prompts, the worker's events, cancelling."""

    def __init__(
        self, facts: Facts, outbox: Outbox, journal: Journal, replicas: Replicas, permits: Permits, projects: ProjectBook
    ) -> None:
        self.facts = facts
        self.outbox = outbox
        self.journal = journal
        self.replicas = replicas
        self.permits = permits
        self.projects = projects

    def mint(self, sid: str, nest: str) -> Hum:
        """Create a hum homed here (or find it) and tell the ensemble."""
        sg = sigil(nest, sid)
        hum = self.facts.hums.get(sg)
        if hum is not None:
            return hum
        hum = self.facts.new_hum(sg, sid, nest, self.facts.me)
        hum.born = self.facts.next_born(sg)
        self.facts.announce(hum)
        self.facts.touch(sg)
        self.outbox.emit(SaveHum(hum))
        minted = Tone(chi="hums", hums=[hum.summary()])
        if sg in self.facts.awaiting_store:  # forgotten here, not stored yet: told after the forget (siblings keep their copies till then)
            self.journal.announce_when_saved(hum, minted)
        else:
            self.outbox.send_to_all(minted)
        return hum

    def restarted(self, hum: Hum) -> None:
        """A hum homed here, back from the store: a bloom the process died in is closed, queued prompts go on."""
        if hum.bloom_open:
            # the worker died with the process: close the bloom so the log says so
            self.journal.append(hum, "error", WorkerError("interrupted", "humd restarted mid-bloom").body())
        self._next_prompt(hum)

    # -- prompts ------------------------------------------------------------------

    def prompt(self, owner: Owner, prompt: Prompt) -> None:
        """A nestler's prompt: mint or find the hum, attach the nestler, route to the home."""
        if prompt.project is not None:
            placed = self._in_project(owner, prompt)
            if placed is None:
                return
            prompt = placed
        sg, rid = prompt.sigil, prompt.rid
        if sg is None:
            assert prompt.sid is not None
            nest = prompt.nest or self.facts.nest
            sg = sigil(nest, prompt.sid)
            if sg not in self.facts.hums and self.facts.entry(sg) is None:
                self.mint(prompt.sid, nest)
        home = self.facts.home_of(sg, rid)
        body = dict(prompt.body)
        if home == self.facts.me:
            hum = self.facts.hums[sg]
            if self.facts.taps.get(owner, sg) is None:
                self.replicas.open_tap(hum, owner, hum.tip, granted=True)
            self._at_home(hum, body, origin=owner.bee, device=self.facts.me)
            return
        if not self.facts.ensemble.is_linked(home):
            raise self.facts.no_route(sg, home, rid)
        if self.facts.taps.get(owner, sg) is None:
            hum, entry = self.facts.hums.get(sg), self.facts.entry(sg)
            known = max(hum.tip if hum is not None else 0, entry.wane if entry is not None else 0)
            self.replicas.attach(owner, sg, known, rid)
        routed = Tone(body)
        routed.update(chi="prompt", sigil=sg)
        if rid is not None:
            routed["rid"] = rid
        self.outbox.send(home, routed)

    def _in_project(self, owner: Owner, prompt: Prompt) -> Prompt | None:
        """A prompt that names a project starts a hum on the device that owns it: here (the plain prompt
        to go on with), or there (sent, with this nestler attached to the hum it will mint)."""
        home, placed = self.projects.place(prompt.as_tone(), self.facts.ensemble.is_linked)
        if home == self.facts.me:
            return read_prompt(Fields(placed))
        self.outbox.send(home, placed)  # the owner mints the hum and appends the prompt, then hears our attach
        self.replicas.attach(owner, sigil(str(placed["nest"]), str(placed["sid"])), 0, prompt.rid)
        return None

    def peer_prompt(self, peer: str, prompt: Prompt) -> None:
        if prompt.sigil is None and prompt.project is not None:  # a sibling starts a hum in one of our projects
            hum = self.mint(*self.projects.minted_here(prompt.as_tone()))
            prompt = replace(prompt, sigil=hum.sigil)
        hum = self.facts.homed_here(prompt.sigil or "")
        if hum is None:
            raise self.facts.not_homed_here(prompt.sigil, prompt.rid)
        self._at_home(hum, dict(prompt.body), origin=peer, device=peer)

    def _at_home(self, hum: Hum, body: dict[str, Any], origin: str, device: str) -> None:
        """A prompt at its home; `device` is where it was typed, which stays true after the hum moves home."""
        if self.facts.set_aside(hum.sigil):  # its log does not read whole: no bloom would see the conversation
            raise self.facts.aside_error(hum.sigil)
        body["from"], body["device"] = origin, device
        petal = hum.offer_prompt(body)
        if petal is not None:
            self.journal.appended(hum, petal)
            self.outbox.emit(StartBloom(hum.sigil))
        else:
            seq, queued = hum.pending_prompts[-1]
            self.outbox.emit(QueuePrompt(hum, seq, queued))

    def heard_queued(self, peer: str, tone: Tone) -> None:
        """The home queued a prompt of a hum we mirror: our nestlers on it hear so too."""
        hum = self.facts.hums.get(str(tone.get("sigil")))
        if hum is not None and hum.home == peer:
            self.outbox.notify_watchers(hum.sigil, tone)

    def _next_prompt(self, hum: Hum) -> None:
        """A bloom closed: the oldest queued prompt (if any) opens the next one."""
        if not hum.bloom_open and (nxt := hum.next_prompt()) is not None:
            seq, petal = nxt
            self.journal.appended(hum, petal, dequeued=seq)
            self.outbox.emit(StartBloom(hum.sigil))

    # -- the worker ------------------------------------------------------------------

    def request(self, sg: str) -> BloomRequest | None:
        """What the next bloom of `sg` needs, or None when no bloom is open."""
        hum = self.facts.homed_here(sg)
        if hum is None or not hum.bloom_open:
            return None
        blooms = hum.blooms()
        prompt = blooms[-1].prompt
        model, tools = prompt.body.get("modelId"), prompt.body.get("tools")
        if model is None:  # a hum started in one of this device's projects runs on the project's worker
            model = self.projects.worker_of(hum)
        return BloomRequest(
            transcript_turns(blooms), model if isinstance(model, str) else None, tools if isinstance(tools, list) else None
        )

    def worker_events(self, sg: str, events: Sequence[Delta | Done | PermissionAsk | WorkerError]) -> None:
        """What one read of the worker brought, in order, appended to the hum's log: its deltas as
        one run of chunks (one change to store, one look at the drone), its question, its finish or
        its failure each alone. Nothing is appended once the bloom closed or the hum moved away."""
        hum = self.facts.hums[sg]
        chunks: list[tuple[Petal, bytes | None]] = []
        for event in events:
            if not hum.bloom_open or hum.home != self.facts.me:  # closed already, or the hum moved away mid-bloom
                break
            if isinstance(event, Delta):
                chunks.append((hum.append("chunk", event.body()), None))
                continue
            if chunks:
                self.journal.appended_run(hum, chunks)
                chunks = []
            self._worker_event(hum, event)
        if chunks:
            self.journal.appended_run(hum, chunks)

    def _worker_event(self, hum: Hum, event: Done | PermissionAsk | WorkerError) -> None:
        """A worker's question, its finish, or its failure."""
        if isinstance(event, PermissionAsk):
            self.permits.asked(hum, event)
        elif isinstance(event, Done):
            self.journal.append(hum, "finish", {"finishReason": event.finish_reason, "usage": event.usage.as_wire()})
        else:
            self.journal.append(hum, "error", event.body())
        if not hum.bloom_open:
            self.permits.closed(hum.sigil)
            # siblings list the hum with its petal count as of now, not as of its mint (an adoption
            # here not stored yet is told once it is: Journal.saved)
            if hum.sigil not in self.facts.awaiting_store:
                self.outbox.send_to_all(Tone(chi="hums", hums=[hum.summary()]))
        self._next_prompt(hum)

    def cancel(self, request: HumRequest) -> None:
        home = self.facts.home_of(request.sigil, request.rid)
        if home == self.facts.me:
            self.outbox.emit(CancelBloom(request.sigil))
        else:
            self.outbox.send(home, Tone.make("cancel", sigil=request.sigil, rid=request.rid))
