"""The journal: every petal a hum appends (authored here or mirrored) on its way to the store, and back."""

from __future__ import annotations

from hum.core.drone import Drone
from hum.core.hum import Hum
from hum.core.petal import Petal
from hum.errors import HumError, StoreError
from hum.node.effects import Persist, PersistRun
from hum.node.facts import Facts
from hum.node.outbox import Outbox
from hum.node.owners import Owner
from hum.node.retention import Retention
from hum.wire.tones import Tone


class Journal:
    """Petals go to the store first; taps see them once durable. A store that cannot commit is said once."""

    def __init__(self, facts: Facts, outbox: Outbox, drone: Drone, retention: Retention) -> None:
        self.facts = facts
        self.outbox = outbox
        self.drone = drone
        self.retention = retention
        self.fault: HumError | None = None  # the store cannot commit, and why
        self._fault_said: set[str] = set()  # hums whose taps were told of the fault
        # sigil -> answers owed once its row is stored (owner None: an announcement to every peer)
        self.unsaved: dict[str, list[tuple[Owner | None, Tone]]] = {}

    def appended(self, hum: Hum, petal: Petal, dequeued: int | None = None) -> None:
        """A petal joined the log: the store makes it durable before any tap reads it."""
        # a bloom waiting on a person's answer, or one that said it is reading a long prompt, is not
        # stalled: its clock stops at the ask or the note
        waiting = petal.chi == "permission-ask" or (petal.chi == "chunk" and petal.chunk_text()[0] == "note")
        self.drone.bloom_seen(hum.sigil, hum.home, self.facts.clock.monotonic(), open_=hum.bloom_open and not waiting)
        self.facts.touch(hum.sigil)
        transcript = None
        if petal.closes_bloom:
            transcript = hum.transcript_key
            self.facts.transcripts.index(hum)
        elif petal.chi == "prompt":
            self.retention.mark(hum)
        self.outbox.emit(Persist(hum, petal, dequeued, transcript))

    def appended_run(self, hum: Hum, run: list[tuple[Petal, bytes | None]]) -> None:
        """A run of petals joined the log (a replica's frame, each with the transcript key it closed
        if it closed a bloom; a home's chunks of one upstream read): as `appended` for each, once for
        the run, and stored as one change."""
        if not run:
            return
        last = run[-1][0]
        waiting = last.chi == "permission-ask" or (last.chi == "chunk" and last.chunk_text()[0] == "note")
        self.drone.bloom_seen(hum.sigil, hum.home, self.facts.clock.monotonic(), open_=hum.bloom_open and not waiting)
        self.facts.touch(hum.sigil)
        if any(transcript is not None for _, transcript in run):
            self.facts.transcripts.index(hum)
        if any(petal.chi == "prompt" for petal, _ in run):
            self.retention.mark(hum)
        self.outbox.emit(PersistRun(hum, run))

    def append(self, hum: Hum, chi: str, body: dict) -> Petal:
        """Author a petal at the home, on its way to the store."""
        petal = hum.append(chi, body)
        self.appended(hum, petal)
        return petal

    def announce_when_saved(self, hum: Hum, announcement: Tone) -> None:
        """Tell every peer once the hum's row is stored (a new epoch: a restart must not take it back)."""
        self.unsaved.setdefault(hum.sigil, []).append((None, announcement))
        self.facts.awaiting_store.add(hum.sigil)

    def answer_when_saved(self, hum: Hum, owner: Owner, answer: Tone) -> None:
        """`answer` says something is done (an adoption): it goes out once the store committed the hum's
        row; a store that cannot commit is said instead, in the answer's place."""
        if self.fault is not None:
            self._not_saved(hum.sigil, owner, answer)
            return
        self.unsaved.setdefault(hum.sigil, []).append((owner, answer))

    def saved(self, hum: Hum) -> None:
        self.facts.awaiting_store.discard(hum.sigil)
        for owner, answer in self.unsaved.pop(hum.sigil, []):
            if owner is None:
                self.outbox.send_to_all(answer)
            else:
                self.outbox.reply(owner, answer)

    def _not_saved(self, sg: str, owner: Owner, answer: Tone) -> None:
        assert self.fault is not None
        text = f"{answer.chi} hum {sg}, but it is not stored: {self.fault.message}; it is kept here and stored once the store can write"
        self.outbox.reply(owner, StoreError(self.fault.qualifier, text, answer.get("rid")).tone(sigil=sg))

    def durable(self, hum: Hum, wane: int) -> None:
        """The store made `hum`'s log durable up to `wane`: its taps may now have it."""
        hum.mark_durable(wane)
        self.outbox.wake_taps(hum.sigil)

    def queued(self, hum: Hum, seq: int) -> None:
        """A queued prompt is stored: every tap of the hum hears that it waits, and where in line."""
        position = next((i + 1 for i, (s, _) in enumerate(hum.pending_prompts) if s == seq), None)
        if position is None:
            return
        body = dict(hum.pending_prompts[position - 1][1])
        notice = Tone.make("queued", sigil=hum.sigil, sid=hum.sid, position=position, reqId=body.get("reqId"))
        notice["from"] = body.get("from")
        for tap in self.facts.taps.of_hum(hum.sigil):
            tap.notify(Tone(notice), hum.tip)
            self.outbox.wake(tap.owner)

    def store_fault(self, fault: HumError | None) -> None:
        """Commits fail (`fault`), or work again (None): said once on the taps of every hum left waiting."""
        self.fault = fault
        if fault is None:
            self._fault_said.clear()
            return
        for sg, waiting in list(self.unsaved.items()):
            for owner, answer in waiting:
                if owner is not None:
                    self._not_saved(sg, owner, answer)
            self.unsaved[sg] = [(None, a) for o, a in waiting if o is None]  # announcements wait for the commit
            if not self.unsaved[sg]:
                del self.unsaved[sg]
        for hum in self.facts.hums.values():
            if hum.tip > hum.durable_tip and hum.sigil not in self._fault_said:
                self._fault_said.add(hum.sigil)
                for tap in self.facts.taps.of_hum(hum.sigil):
                    if not tap.owner.is_peer:
                        tap.notify(fault.tone(sigil=hum.sigil, sid=hum.sid), hum.durable_tip)
                        self.outbox.wake(tap.owner)

    def drop(self, sg: str) -> None:
        self._fault_said.discard(sg)
        self.unsaved.pop(sg, None)
        self.facts.awaiting_store.discard(sg)
        self.drone.forget(sg)
