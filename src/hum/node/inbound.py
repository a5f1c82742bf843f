"""Tones as they enter the router, parsed once into typed records, every field checked one way.

A nestler's bad field is answered `bad-tone` naming the field (`missing-field`
when a required one is absent or empty, `bad-field` when it has the wrong
shape); a peer's tones are read the same way, and what a peer may leave out
is optional here. Past this module the router's parts read attributes, never
`tone.get`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hum.errors import BadTone, RouteError
from hum.wire.tones import Tone, is_petal

# Keys of an incoming prompt tone that are envelope or routing, not the prompt
# petal's body (everything else, known or not, is kept as data).
PROMPT_ENVELOPE = frozenset({"chi", "rid", "sid", "sigil", "wane", "to", "from", "dusk", "bee", "nest"})
DECISIONS = ("allow", "deny")
# A `hums` page: by default enough for a screen, at most what keeps a reply far
# below the 1 MiB line limit (an entry is about 200 bytes).
HUMS_PAGE_DEFAULT = 100
HUMS_PAGE_MAX = 1000


class Fields:
    """The one way a tone's fields are checked: each accessor names the field it refuses."""

    def __init__(self, tone: Tone) -> None:
        self.tone = tone
        self.rid = tone.get("rid")

    def text(self, key: str) -> str:
        """A required, non-empty string."""
        value = self.tone.get(key)
        if not isinstance(value, str) or not value:
            raise BadTone("missing-field", f"{self.tone.chi} needs a string {key!r}", self.rid)
        return value

    def optional_text(self, key: str) -> str | None:
        """A string, or nothing (absent, null or empty)."""
        value = self.tone.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise BadTone("bad-field", f"`{key}` is text", self.rid)
        return value

    def count(self, key: str, default: int = 0) -> int:
        """A wane or a count: a whole number >= 0 (absent or null: `default`)."""
        value = self.tone.get(key, default)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BadTone("bad-field", f"`{key}` is a wane: a whole number >= 0", self.rid)
        return value

    def lenient_count(self, key: str) -> int:
        """A peer's count: anything but a whole number >= 0 reads as 0."""
        value = self.tone.get(key, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    def flag(self, key: str) -> bool:
        return self.tone.get(key) is True


# -- a nestler's requests --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    rid: Any
    bee: str | None  # who the client says it is (`bee`, or `from` naming the client itself)
    claimed: str | None  # a `from` that may name a humd


@dataclass(frozen=True, slots=True)
class HumRequest:
    """attach, detach, cancel, forget, adopt: a request about one hum."""

    sigil: str
    rid: Any = None
    since: int = 0  # attach: the wane to follow from
    force: bool = False  # adopt: even while the home is linked
    born: int = 0  # a home's forget: the incarnation it forgot (0: unknown)


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt toward a hum named by `sigil`, or by `sid` (minted in `nest` on first use), or started in a `project`."""

    sigil: str | None
    sid: str | None
    nest: str | None
    body: dict[str, Any]
    rid: Any = None
    project: Any = None  # a project's name (checked where projects are known)

    def as_tone(self) -> Tone:
        """The prompt as a tone again (a project prompt is placed, then sent on as a plain one)."""
        routing = {"sigil": self.sigil, "sid": self.sid, "nest": self.nest, "rid": self.rid}
        return Tone(chi="prompt", **self.body, **{k: v for k, v in routing.items() if v is not None})


@dataclass(frozen=True, slots=True)
class HumsPage:
    limit: int
    cursor: str | None
    rid: Any = None


@dataclass(frozen=True, slots=True)
class PeersRequest:
    watch: bool
    rid: Any = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A `release-permit`: the answer to a worker's permission ask."""

    sigil: str
    permit_id: str
    decision: str
    message: str | None
    rid: Any = None


def prompt_body(tone: Tone) -> dict[str, Any]:
    """The petal body of a prompt tone: every field but the envelope, `content` read as `text`."""
    body = {k: v for k, v in tone.items() if k not in PROMPT_ENVELOPE}
    if "text" not in body and "content" in body:
        body["text"] = body.pop("content")
    return body


def read_hello(f: Fields) -> Hello:
    bee, claimed = f.tone.get("bee"), f.tone.get("from")
    return Hello(f.rid, str(bee or claimed) if bee or claimed else None, claimed if isinstance(claimed, str) else None)


def read_hum_request(f: Fields) -> HumRequest:
    return HumRequest(f.text("sigil"), f.rid, since=f.count("since") if f.tone.chi == "attach" else 0)


def read_fetch(f: Fields) -> HumRequest:
    """A sibling's `fetch`: the petal at `wane` (carried as `since`) of hum `sigil`, with its neighbours."""
    return HumRequest(f.text("sigil"), f.rid, since=f.lenient_count("wane"))


# Petals of a `fetched` looked at: the run a sibling sends (node/repairs.py: one before, the one asked
# for and up to 64 after, a damaged page's worth), with room to spare; the rest are ignored.
FETCHED_MAX = 80


def read_fetched(f: Fields) -> PetalRun:
    """A sibling's `fetched`: the petals it holds around the one asked for (each checked as it is used)."""
    items = f.tone.get("petals")
    return PetalRun(str(f.tone.get("sigil")), items[:FETCHED_MAX] if isinstance(items, list) else [])


def read_peer_forget(f: Fields) -> HumRequest:
    """A home's `forget` on a link, with the incarnation it forgot when it says."""
    return HumRequest(f.text("sigil"), f.rid, born=f.lenient_count("born"))


def read_adopt(f: Fields) -> HumRequest:
    sg = f.tone.get("sigil")
    if not isinstance(sg, str) or not sg:
        raise RouteError("unknown-hum", "adopt needs the `sigil` of a hum", f.rid)
    return HumRequest(sg, f.rid, force=f.flag("force"))


def read_prompt(f: Fields) -> Prompt:
    if not isinstance(f.tone.get("text", f.tone.get("content")), str):
        raise BadTone("missing-field", "prompt needs a string `text` (or `content`)", f.rid)
    sg, project = f.tone.get("sigil"), f.tone.get("project")
    if project is not None:  # where it goes, and whether `sigil` or `sid` may come with it, is the project book's word
        sid, nest = f.tone.get("sid"), f.tone.get("nest")
        return Prompt(sg, sid, str(nest) if nest else None, prompt_body(f.tone), f.rid, project)  # type: ignore[arg-type]
    if isinstance(sg, str) and sg:
        return Prompt(sg, None, None, prompt_body(f.tone), f.rid)
    sid = f.tone.get("sid")
    if not isinstance(sid, str) or not sid:
        raise BadTone("missing-field", "prompt needs a `sigil` or a `sid`", f.rid)
    nest = f.tone.get("nest")
    return Prompt(None, sid, str(nest) if nest else None, prompt_body(f.tone), f.rid)


def read_hums_page(f: Fields) -> HumsPage:
    limit, cursor = f.tone.get("limit", HUMS_PAGE_DEFAULT), f.tone.get("cursor")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= HUMS_PAGE_MAX:
        raise BadTone("bad-field", f"`limit` is a whole number from 1 to {HUMS_PAGE_MAX}", f.rid)
    if cursor is not None and not isinstance(cursor, str):
        raise BadTone("bad-field", "`cursor` is the `next` of the page before", f.rid)
    return HumsPage(limit, cursor, f.rid)


def read_peers(f: Fields) -> PeersRequest:
    return PeersRequest(f.flag("watch"), f.rid)


def read_answer(f: Fields) -> Answer:
    sg, permit_id = f.tone.get("sigil"), f.tone.get("permitId")
    if not isinstance(sg, str) or not sg or not isinstance(permit_id, str) or not permit_id:
        raise BadTone("missing-field", "release-permit needs a string `sigil` and `permitId`", f.rid)
    decision = f.tone.get("decision")
    if decision not in DECISIONS:
        raise BadTone("bad-field", "`decision` is `allow` or `deny`", f.rid)
    message = f.tone.get("message")
    if message is not None and not isinstance(message, str):
        raise BadTone("bad-field", "`message` is text", f.rid)
    return Answer(sg, permit_id, decision, message, f.rid)


# -- a peer's tones ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Granted:
    """A home's `hello`: our attach is granted from its tip `wane`."""

    sigil: str
    sid: str | None
    wane: int
    born: int = 0  # the incarnation the home holds (0: unknown)
    epoch: int = 0  # the home's epoch


@dataclass(frozen=True, slots=True)
class Announcement:
    """`hums` on a link: hums the peer is home to; a link-up listing comes in numbered parts, with
    the (sigil, born) of hums forgotten at that home (`forgotten`, its tombstones)."""

    hums: list[dict[str, Any]]
    part: int | None = None
    parts: int | None = None
    forgotten: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Refusal:
    """An `error` from a peer: it refused something we sent (`rid` names what, when it can)."""

    sigil: str | None
    rid: Any
    tone: Tone


@dataclass(frozen=True, slots=True)
class Revocation:
    humd_id: str
    signature: str


@dataclass(frozen=True, slots=True)
class BranchReport:
    """`orphaned`: a device set aside petals `first`..`last` of a hum homed here."""

    sigil: str
    count: int
    first: int
    last: int
    epoch: Any


@dataclass(frozen=True, slots=True)
class PetalRun:
    """Petals of one hum from its home: one replicated `petal`, or a `petals` frame."""

    sigil: str
    items: list[dict[str, Any]] = field(default_factory=list)


def read_granted(f: Fields) -> Granted:
    sid = f.tone.get("sid")
    return Granted(str(f.tone.get("sigil")), str(sid) if sid is not None else None, f.lenient_count("wane"), f.lenient_count("born"), f.lenient_count("epoch"))


def read_announcement(f: Fields) -> Announcement:
    hums, part, parts = f.tone.get("hums"), f.tone.get("part"), f.tone.get("parts")
    entries = [h for h in hums if isinstance(h, dict)] if isinstance(hums, list) else []
    numbered = all(isinstance(n, int) and not isinstance(n, bool) for n in (part, parts)) and isinstance(hums, list)
    return Announcement(entries, part if numbered else None, parts if numbered else None, _tombstones(f.tone.get("forgotten")))


def _tombstones(value: Any) -> tuple[tuple[str, int], ...]:
    """A listing's `forgotten`: [{sigil, born}]; malformed entries are left out."""
    if not isinstance(value, list):
        return ()
    out = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("sigil"), str):
            born = item.get("born")
            out.append((item["sigil"], born if isinstance(born, int) and not isinstance(born, bool) and born >= 0 else 0))
    return tuple(out)


def read_refusal(f: Fields) -> Refusal:
    sg = f.tone.get("sigil")
    return Refusal(sg if isinstance(sg, str) else None, f.rid, f.tone)


def read_revocation(f: Fields) -> Revocation:
    return Revocation(str(f.tone.get("humdId", "")), str(f.tone.get("signature", "")))


def read_branch_report(f: Fields) -> BranchReport | None:
    count, first, last = (f.tone.get(k) for k in ("count", "first", "last"))
    if not all(isinstance(v, int) for v in (count, first, last)):
        return None
    return BranchReport(str(f.tone.get("sigil")), count, first, last, f.tone.get("epoch"))


def read_petal_run(f: Fields, batch_max: int) -> PetalRun:
    """A single petal is a run of one; a frame is checked for shape (each item again as it is applied)."""
    if f.tone.chi != "petals":
        return PetalRun(str(f.tone.get("sigil")), [f.tone])
    items = f.tone.get("petals")
    if not isinstance(items, list) or not items:
        raise BadTone("bad-petal", "`petals` is a non-empty list of petals", f.rid)
    if len(items) > batch_max:
        raise BadTone("bad-petal", f"a `petals` frame carries at most {batch_max} petals", f.rid)
    return PetalRun(str(f.tone.get("sigil")), items)


def link_key(tone: Tone) -> str:
    """What a peer's tone is, for dispatch: its chi, or `petal` for an appended petal (a prompt with a
    wane is a replicated petal, without one a request to the home)."""
    return "petal" if is_petal(tone) else tone.chi


def read_peer_prompt(f: Fields) -> Prompt:
    """A prompt a peer routed to this home: its body is kept as sent (it was checked where it was typed)."""
    sg, sid = f.tone.get("sigil"), f.tone.get("sid")
    return Prompt(sg if isinstance(sg, str) else None, sid, None, prompt_body(f.tone), f.rid, f.tone.get("project"))


def read_peer_hum(f: Fields) -> HumRequest | None:
    """A peer's attach or detach; None (ignored) for a detach naming no hum."""
    sg = f.tone.get("sigil")
    if not isinstance(sg, str):
        if f.tone.chi == "attach":
            return HumRequest(str(sg), f.rid)  # refused as not homed here, naming what it said
        return None
    return HumRequest(sg, f.rid, since=f.lenient_count("since"))
