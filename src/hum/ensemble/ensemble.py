"""The ensemble as one humd sees it: linked peers, and which humd is home to which hum."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hum.errors import RouteError

ROUTE_QUALIFIERS = ("identity-mismatch", "unknown-hum", "no-route")


def _count(value: Any) -> int:
    """A wane, epoch or fork as announced: a whole number >= 0, anything else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """What the ensemble knows of one hum: its home (with the epoch it was adopted in), and how far it is."""

    sigil: str
    home: str
    sid: str = ""
    nest: str = ""
    wane: int = 0  # the home's tip as last announced
    epoch: int = 0  # 0 until somebody adopts the hum; each adoption takes the next
    fork: int = 0  # the wane the current epoch's home continued from
    born: int = 0  # the incarnation: the wall ms its first home minted it (0: unknown)
    # the (epoch, home) the current epoch was adopted from (None: epoch 0, or a humd from before it was said)
    prior: tuple[int, str] | None = None

    @classmethod
    def from_wire(cls, entry: dict[str, Any]) -> DirectoryEntry:
        """An announced (or locally summarised) hum; fields of the wrong type read as empty."""
        sid, nest = entry.get("sid"), entry.get("nest")
        return cls(
            sigil=str(entry["sigil"]),
            home=str(entry["home"]),
            sid=sid if isinstance(sid, str) else "",
            nest=nest if isinstance(nest, str) else "",
            wane=_count(entry.get("wane")),
            epoch=_count(entry.get("epoch")),
            fork=_count(entry.get("fork")),
            born=_count(entry.get("born")),
            prior=_prior(entry.get("prior")),
        )

    def as_wire(self) -> dict[str, Any]:
        """The entry as `breath` and `hums` list it."""
        wire = asdict(self)
        prior = wire.pop("prior")
        return wire if prior is None else {**wire, "prior": {"epoch": prior[0], "home": prior[1]}}


def _prior(value: Any) -> tuple[int, str] | None:
    """An announced `prior`, {epoch, home}; anything else is unknown (None)."""
    if not isinstance(value, dict) or not isinstance(value.get("home"), str):
        return None
    epoch = value.get("epoch")
    return (epoch, value["home"]) if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 else None


def outranks(home: tuple[int, str], known: DirectoryEntry, born: int = 0) -> bool:
    """True when (epoch, HumdId) `home`, announcing incarnation `born`, beats the home a directory entry names.

    A newer incarnation (a later `born`: the sigil forgotten and minted again,
    or minted apart on two devices) wins whatever its epoch; within one
    incarnation a later epoch wins; at the same epoch only adoptions (epoch 1
    and up) compete, and the higher HumdId wins, so two devices that adopted
    the hum at once agree on one home. Every device ranks alike, so all agree.
    """
    epoch, via = home
    if born and known.born and born != known.born:
        return born > known.born
    return epoch > known.epoch or (epoch == known.epoch > 0 and via > known.home)


class Ensemble:
    """Registry of linked peers and directory of hums by sigil; routes by `to: <HumdId>`."""

    def __init__(self, me: str) -> None:
        self.me = me
        self._peers: dict[str, tuple[float, Any, str]] = {}  # peer -> (time linked, its link's owner, its name)
        self._directory: dict[str, DirectoryEntry] = {}
        self.names: dict[str, str] = {me: ""}  # HumdId -> the name its person gave it (kept after a link drops)

    # -- peers -------------------------------------------------------------

    def link_up(self, peer: str, now: float, owner: Any = None, name: str = "") -> bool:
        """Record a live link, whoever stands for it and the peer's name; False when already linked."""
        if peer in self._peers:
            return False
        self._peers[peer] = (now, owner, name)
        self.names[peer] = name or self.names.get(peer, "")
        return True

    def owner(self, peer: str) -> Any:
        """Whoever stands for the live link to `peer` (the node's tap owner)."""
        return self._peers[peer][1]

    def link_down(self, peer: str) -> bool:
        return self._peers.pop(peer, None) is not None

    def peers(self) -> list[str]:
        return sorted(self._peers)

    def is_linked(self, peer: str) -> bool:
        return peer in self._peers

    # -- directory ---------------------------------------------------------

    def learn(self, hums: list[dict[str, Any]], via: str) -> list[str]:
        """Take a peer's announcement of the hums it is home to; returns the sigils new or moved to it.

        A peer may only speak for its own hums, so entries naming another home
        are ignored: the directory cannot be poisoned by a sibling. A hum known
        at another home moves only to a higher (epoch, HumdId): an adoption,
        or the winner of two adoptions at once, or a newer incarnation (`outranks`).
        """
        changed = []
        for entry in hums:
            sigil = entry.get("sigil")
            if not isinstance(sigil, str) or entry.get("home") != via:
                continue
            epoch = entry.get("epoch") or 0
            if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
                continue
            known = self._directory.get(sigil)
            if known is not None and known.home != via and not outranks((epoch, via), known, _count(entry.get("born"))):
                continue
            if known is None or known.home != via:
                changed.append(sigil)
            self._directory[sigil] = DirectoryEntry.from_wire(entry)
        return changed

    def record(self, entry: DirectoryEntry | dict[str, Any]) -> None:
        """Note a hum this humd is home to (or already knows)."""
        if not isinstance(entry, DirectoryEntry):
            entry = DirectoryEntry.from_wire(entry)
        self._directory[entry.sigil] = entry

    def forget(self, sigil: str) -> None:
        """Drop a hum from the directory: its home forgot it."""
        self._directory.pop(sigil, None)

    def lookup(self, sigil: str) -> DirectoryEntry | None:
        return self._directory.get(sigil)

    def directory(self) -> list[DirectoryEntry]:
        return [v for _, v in sorted(self._directory.items())]

    def home_of(self, sigil: str, rid: Any = None) -> str:
        entry = self._directory.get(sigil)
        if entry is None:
            raise RouteError("unknown-hum", f"no humd in the ensemble hosts hum {sigil}", rid)
        return entry.home

    # -- routing -----------------------------------------------------------

    def route(self, tone: dict[str, Any]) -> str:
        """The peer a tone addressed `to: <HumdId>` goes out on."""
        to = tone.get("to")
        if not isinstance(to, str) or to == self.me:
            raise RouteError(
                "no-route", f"tone is not addressed to another humd (to={to!r})", tone.get("rid")
            )
        if to not in self._peers:
            raise RouteError("no-route", f"humd {to[:8]} is not linked", tone.get("rid"))
        return to
