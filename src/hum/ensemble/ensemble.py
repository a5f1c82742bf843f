"""The ensemble as one humd sees it: linked peers, and which humd is home to which hum."""

from __future__ import annotations

from typing import Any

from hum.errors import RouteError

ROUTE_QUALIFIERS = ("identity-mismatch", "unknown-hum", "no-route")


def outranks(home: tuple[int, str], known: dict[str, Any]) -> bool:
    """True when (epoch, HumdId) `home` beats the home a directory entry names.

    A later epoch wins; at the same epoch only adoptions (epoch 1 and up)
    compete, and the higher HumdId wins, so two devices that adopted the hum
    at once agree on one home. Two humds never fight over an epoch-0 hum.
    """
    epoch, via = home
    known_epoch = int(known.get("epoch") or 0)
    return epoch > known_epoch or (epoch == known_epoch > 0 and via > str(known.get("home")))


class Ensemble:
    """Registry of linked peers and directory of hums by sigil; routes by `to: <HumdId>`."""

    def __init__(self, me: str) -> None:
        self.me = me
        self._peers: dict[str, tuple[float, Any, str]] = {}  # peer -> (time linked, its link's owner, its name)
        self._directory: dict[str, dict[str, Any]] = {}  # sigil -> hum summary
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
        or the winner of two adoptions at once.
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
            if known is not None and known.get("home") != via and not outranks((epoch, via), known):
                continue
            if known is None or known.get("home") != via:
                changed.append(sigil)
            self._directory[sigil] = {k: entry.get(k) for k in ("sigil", "sid", "home", "wane", "nest")}
            self._directory[sigil].update(epoch=epoch, fork=entry.get("fork") if isinstance(entry.get("fork"), int) else 0)
        return changed

    def record(self, summary: dict[str, Any]) -> None:
        """Note a hum this humd is home to (or already knows)."""
        self._directory[summary["sigil"]] = dict(summary)

    def forget(self, sigil: str) -> None:
        """Drop a hum from the directory: its home forgot it."""
        self._directory.pop(sigil, None)

    def lookup(self, sigil: str) -> dict[str, Any] | None:
        return self._directory.get(sigil)

    def directory(self) -> list[dict[str, Any]]:
        return [dict(v) for _, v in sorted(self._directory.items())]

    def home_of(self, sigil: str, rid: Any = None) -> str:
        entry = self._directory.get(sigil)
        if entry is None:
            raise RouteError("unknown-hum", f"no humd in the ensemble hosts hum {sigil}", rid)
        return str(entry["home"])

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
