"""Tones: the JSON objects hum components exchange, and the chi registry."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

PROTO_VERSION = 1

# Every chi a hum component understands. A tone naming any other chi is
# answered with `bad-tone` (`unknown-chi`); see PROTOCOL.md.
CHIS: dict[str, str] = {
    # local handshake
    "hello": "nestler greets humd; humd greets a tap when attach is granted",
    "breath": "humd's answer to a nestler's hello",
    # hum tones
    "prompt": "a user turn, in toward the home or out as the appended petal",
    "attach": "open a tap on a hum from a wane",
    "detach": "close a tap; the hum keeps living",
    "cancel": "stop the running bloom at the worker",
    "chunk": "a piece of a bloom's output",
    "finish": "the end of a bloom, with usage",
    "error": "a refusal or a failure, with code and qualifier",
    # extensions (documented in docs/PROTOCOL-EXTENSIONS.md)
    "hums": "list the hums a humd knows (request from a nestler, announcement on a link)",
    "peers": "list the humds this humd is linked with",
    "link-hello": "first tone on an ensemble link: certificate and nonce",
    "link-proof": "second tone on an ensemble link: signature over both nonces",
    "heartbeat": "keeps an idle ensemble link observably alive",
    "goodbye": "a humd leaving on purpose (clean shutdown)",
    "drone": "a drone verdict about a hum (e.g. a stalled bloom)",
    "revoke": "an operator-signed revocation of a device, spread across the ensemble",
    "queued": "a prompt is stored and waits behind the running bloom (its position in line)",
    "permission-ask": "a petal: the worker asks before it uses a tool (permitId, tool, input, question)",
    "permit": "a petal: the answer to a permission-ask (permitId, decision, from)",
    "release-permit": "a nestler's answer to a permission-ask, routed to the hum's home",
    # attention (issue 20): who watches a hum, how far it was read
    "watch": "a nestler shows a hum in the foreground (watching: true) or stops (false)",
    "watching": "a humd tells its peers every hum watched on it now",
    "seen": "a nestler (or a humd, toward the home) says a hum was read up to a wane",
    "seen-marks": "a hum's home tells its peers the furthest read marks of its hums",
    "adopt": "make this humd the home of a hum whose home is gone (it holds a replica)",
    "adopted": "the answer to adopt: this humd is the hum's home now, in a new epoch",
    "orphaned": "a humd set aside petals its hum's new home never had (an orphaned branch)",
    "fetch": "a humd asks a sibling for a petal its own store cannot read, with its neighbours",
    "fetched": "a sibling's answer to fetch: the petals it holds around the one asked for",
    "forget": "remove a hum: at its home from every device (nestler request, and home -> humd on a link); elsewhere this device's copy",
    "forgotten": "the answer to forget: where the hum was removed (everywhere, or this device's copy)",
    "note": "a petal: the home's word about the hum itself (e.g. an orphaned branch), not a model's",
    "petals": "many petals of one hum in one link frame, from its home to a replica (in wane order)",
    "projects": "a humd's registered projects (name, worker, permission mode), to its siblings after link-up",
}

# Petal chis: the tones that are appended to a hum's log and take a wane.
PETAL_CHIS = frozenset({"prompt", "chunk", "finish", "error", "permission-ask", "permit", "note"})

SIGIL_LENGTH = 12  # hex chars of sha256; 48 bits names one owner's hums without collision


class Tone(dict[str, Any]):
    """One JSON object on the wire; `chi` says what it is, unknown keys ride along."""

    @classmethod
    def make(cls, chi: str, **fields: Any) -> Tone:
        tone = cls(chi=chi)
        tone.update({k: v for k, v in fields.items() if v is not None})
        return tone

    @property
    def chi(self) -> str:
        return self["chi"]


def sigil(nest: str, sid: str) -> str:
    """The name of a hum everywhere: `hex(sha256(nest + ":" + sid))[:12]`."""
    return hashlib.sha256(f"{nest}:{sid}".encode()).hexdigest()[:SIGIL_LENGTH]


def rid() -> str:
    """A fresh request id, unique enough to pair a reply with its request."""
    return secrets.token_hex(8)


def is_past_dusk(tone: Tone, now_ms: float) -> bool:
    """True when the tone carries a `dusk` (absolute ms expiry) that has passed."""
    dusk = tone.get("dusk")
    return isinstance(dusk, int | float) and not isinstance(dusk, bool) and now_ms > dusk


def is_petal(tone: dict[str, Any]) -> bool:
    """True for a tone that is an appended petal (it has a `wane`), not a request or a notice."""
    return tone.get("chi") in PETAL_CHIS and "wane" in tone


# On a link, `from` names the sending humd (PROTOCOL.md), so a petal's own
# `from` (where its prompt entered) travels under this key instead.
PETAL_FROM = "petalFrom"


def petal_content(item: Any) -> Any:
    """One petal of a `petals` frame out of the link's form, like a single petal's content: no
    envelope `from`/`to`, its own `from` back from `petalFrom` (a copy: the frame is left as it came)."""
    if not isinstance(item, dict) or not ("from" in item or "to" in item or PETAL_FROM in item):
        return item
    out = {k: v for k, v in item.items() if k not in ("from", "to")}
    if PETAL_FROM in out:
        out["from"] = out.pop(PETAL_FROM)
    return out
