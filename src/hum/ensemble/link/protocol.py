"""One ensemble link's protocol, sans I/O: mutual proof of identity, heartbeats, `from` checks.

Both ends run the same code whichever side dialled: each sends `link-hello`
(its device certificate and a fresh nonce), checks the peer's certificate
against the operator key, then proves possession of its device key by
signing both nonces and both HumdIds (`link-proof`). Fresh nonces make an
old, captured handshake useless. Over TLS this runs inside the encrypted
channel, and the peer's TLS certificate must name the same HumdId.
"""

from __future__ import annotations

import enum
import logging
import secrets
from typing import Any

from hum.ensemble.link.envelope import BATCH_BYTES, BATCH_PETALS, petal_link_form
from hum.ensemble.link.events import LinkDown, LinkEvent, LinkUp, ToneIn
from hum.ensemble.trust.certificates import (
    HUMD_ID_PREFIX,
    MAX_NAME_CHARS,
    DeviceCertificate,
    HumdId,
)
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.siblings import SiblingCheck
from hum.errors import BadTone, IdentityError, RouteError
from hum.wire.framing import DEFAULT_MAX_LINE, LineDecoder, SealedTone, encode, parse_frame, quoted
from hum.wire.tones import PETAL_FROM, PROTO_VERSION, Tone, is_petal

log = logging.getLogger(__name__)

# Idle links send a heartbeat this often, so silence means trouble.
HEARTBEAT_INTERVAL = 0.5
# Three missed heartbeats: a lost home is surfaced well inside the 2 s promise,
# while one late packet on a busy Wi-Fi link is not mistaken for a loss.
LINK_TIMEOUT = 1.5
# A handshake is two tones each way; this allows slow links and slow CPUs.
HANDSHAKE_TIMEOUT = 10.0
NONCE_BYTES = 32
# Domain separation: a link proof can never be confused with another signature.
PROOF_CONTEXT = b"hum-link-proof-v1"

# asyncio fires a timer up to its clock resolution early; a deadline this
# close counts as reached, or the ticker would spin without time moving on.
TIMER_SLACK = 1e-6

HANDSHAKE_CHIS = frozenset({"link-hello", "link-proof"})


class LinkState(enum.StrEnum):
    """Where a link stands: proving identities, carrying hum tones, or over for good."""

    HANDSHAKE = "handshake"
    UP = "up"
    CLOSED = "closed"


def proof_payload(signer_nonce: bytes, verifier_nonce: bytes, signer: str, verifier: str) -> bytes:
    """What a `link-proof` signs: both nonces and both HumdIds, under the proof context."""
    return b"|".join(
        [PROOF_CONTEXT, verifier_nonce, signer_nonce, signer.encode(), verifier.encode()]
    )


class Link:
    """The state of one humd-to-humd connection, fed bytes and time, giving events and bytes."""

    def __init__(
        self,
        identity: Identity,
        check: SiblingCheck,
        now: float,
        *,
        tls_peer: str | None = None,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        self.identity = identity
        self.me = identity.humd_id
        self.check = check
        self.tls_peer = HumdId.parse(tls_peer) if tls_peer else None
        self.peer: HumdId | None = None
        self.peer_name = ""
        self.peer_batches = False  # the peer reads `petals` frames (it said so in its link-hello)
        self._envelope = b""  # `{"from":<us>,"to":<peer>,` once the peer is known
        self.state = LinkState.HANDSHAKE  # -> UP -> CLOSED
        self._peer_cert: DeviceCertificate | None = None
        self._peer_nonce: bytes | None = None
        self._nonce = secrets.token_bytes(NONCE_BYTES)
        self._decoder = LineDecoder(max_line, parse_frame)  # a `petals` frame's petals stay bytes
        self._out = bytearray()
        self._opened = now
        self._last_heard = now
        self._last_sent = now
        self._write(
            Tone(
                chi="link-hello",
                protoVersion=PROTO_VERSION,
                cert=identity.certificate.pem().decode(),
                nonce=self._nonce.hex(),
                name=identity.name,
                batches=True,
            )
        )

    # -- bytes in and out --------------------------------------------------

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def _write(self, tone: dict[str, Any]) -> None:
        tone["from"] = self.me
        self._out += encode(tone)

    def send(self, tone: dict[str, Any] | bytes) -> None:
        """Queue a tone to the peer, in the link's envelope (`from` us, `to` the peer); only once up.
        A petal may come as its tap line (`bytes`, as `Hum.read(lines=True)` gives it)."""
        self._check_up()
        if isinstance(tone, bytes) or (isinstance(tone, SealedTone) and is_petal(tone)):
            self._out += self._envelope + petal_link_form(tone)[1][1:]  # the cached object, the envelope spliced in
            return
        out = dict(tone)
        if is_petal(out) and "from" in out:
            out[PETAL_FROM] = out.pop("from")
        out["to"] = self.peer
        self._write(out)

    def _check_up(self) -> None:
        if self.state is not LinkState.UP:
            raise RouteError("no-route", f"link is {self.state}; no hum tone may cross it")

    def send_all(self, tones: list[Tone | bytes]) -> None:
        """Queue tones in order; when the peer reads them, each run of petals of one hum (sealed,
        or as their tap lines) crosses as `petals` frames built from the petals' link lines."""
        run: list[tuple[str, bytes]] = []
        for tone in tones:
            batchable = self.peer_batches and (isinstance(tone, bytes) or (isinstance(tone, SealedTone) and is_petal(tone)))
            form = petal_link_form(tone) if batchable else None  # type: ignore[arg-type]
            if run and (form is None or form[0] != run[0][0]):
                self._send_run(run)
                run = []
            if form is not None:
                run.append(form)
            else:
                self.send(tone)
        if run:
            self._send_run(run)

    def _send_run(self, run: list[tuple[str, bytes]]) -> None:
        self._check_up()
        if len(run) == 1:
            self._out += self._envelope + run[0][1][1:]
            return
        head = self._envelope + b'"chi":"petals","sigil":' + quoted(run[0][0]) + b',"petals":['
        items: list[bytes] = []
        size = 0
        for _, line in run:
            item = line[:-1]  # without its newline
            if items and (len(items) == BATCH_PETALS or size + len(item) > BATCH_BYTES):
                self._out += head + b",".join(items) + b"]}\n"
                items, size = [], 0
            items.append(item)
            size += len(item) + 1
        self._out += head + b",".join(items) + b"]}\n"

    def receive_data(self, data: bytes, now: float) -> list[LinkEvent]:
        if self.state is LinkState.CLOSED:
            return []
        self._last_heard = now
        events: list[LinkEvent] = []
        for item in self._decoder.receive_data(data):
            if self.state is LinkState.CLOSED:
                break
            if isinstance(item, BadTone):
                log.warning("bad tone on link from %s: %s", self.peer, item.message)
                if self.state is LinkState.UP:
                    self._write(item.tone())
                else:
                    events.append(self._refuse("bad-handshake", item.message))
                continue
            events.extend(self._on_tone(item))
        return events

    def tick(self, now: float) -> list[LinkEvent]:
        """Heartbeats out, and a verdict on silence in."""
        if self.state is LinkState.CLOSED:
            return []
        if self.state is LinkState.HANDSHAKE and now + TIMER_SLACK >= self._opened + HANDSHAKE_TIMEOUT:
            return [self._close("handshake-timeout", "the peer did not finish the handshake")]
        if self.state is LinkState.UP:
            if now + TIMER_SLACK >= self._last_heard + LINK_TIMEOUT:
                return [
                    self._close("peer-loss", f"nothing heard for {now - self._last_heard:.2f}s")
                ]
            if now + TIMER_SLACK >= self._last_sent + HEARTBEAT_INTERVAL:
                self._write(Tone(chi="heartbeat"))
                self._last_sent = now
        return []

    def next_deadline(self) -> float:
        if self.state is LinkState.HANDSHAKE:
            return self._opened + HANDSHAKE_TIMEOUT
        return min(self._last_sent + HEARTBEAT_INTERVAL, self._last_heard + LINK_TIMEOUT)

    def sent(self, now: float) -> None:
        """The shell wrote our bytes out at `now` (heartbeats count from here)."""
        self._last_sent = now

    def goodbye(self) -> None:
        """Leave on purpose: the peer is told, so it need not wait for heartbeats."""
        if self.state is LinkState.UP:
            self._write(Tone(chi="goodbye"))
        self.state = LinkState.CLOSED

    def closed_by_transport(self, message: str) -> LinkDown | None:
        """The connection ended under us (reset, EOF)."""
        if self.state is LinkState.CLOSED:
            return None
        return self._close("peer-loss", message)

    # -- the protocol ------------------------------------------------------

    def _close(self, qualifier: str, message: str) -> LinkDown:
        self.state = LinkState.CLOSED
        return LinkDown(qualifier, message)

    def _refuse(self, qualifier: str, message: str) -> LinkDown:
        """Tell the peer why (as a route error) and end the link before any hum tone."""
        log.warning("refusing link: %s", message)
        self._write(RouteError("identity-mismatch", message).tone(detail=qualifier))
        return self._close("identity-mismatch", message)

    def _on_tone(self, tone: Tone) -> list[LinkEvent]:
        if self.state is LinkState.HANDSHAKE:
            return self._on_handshake(tone)
        for key in ("from", "to"):  # the wire may say `humd_<hex>`; we compare plain hex
            value = tone.get(key)
            if isinstance(value, str) and value.startswith(HUMD_ID_PREFIX):
                tone[key] = value.removeprefix(HUMD_ID_PREFIX).lower()
        if tone.get("from") != self.peer:
            log.warning(
                "dropped %s tone claiming from=%r on link to %s",
                tone.chi,
                tone.get("from"),
                self.peer,
            )
            return []
        if tone.get("to") not in (None, self.me):
            log.warning("dropped %s addressed to %s", tone.chi, tone.get("to"))
            return []
        if tone.chi == "heartbeat":
            return []
        if tone.chi == "goodbye":
            return [self._close("goodbye", "the peer left")]
        if tone.chi in HANDSHAKE_CHIS:
            return []
        return [ToneIn(tone)]

    def _on_handshake(self, tone: Tone) -> list[LinkEvent]:
        if tone.chi == "link-hello" and self._peer_cert is None:
            try:
                cert = DeviceCertificate.from_pem(str(tone.get("cert", "")).encode())
                peer = self.check.check(cert, claimed=str(tone.get("from", "")))
                if peer == self.me:
                    raise IdentityError("id-mismatch", "link-hello names this humd itself")
                if self.tls_peer is not None and peer != self.tls_peer:
                    raise IdentityError("id-mismatch", "link-hello names another humd than TLS")
                nonce = bytes.fromhex(str(tone.get("nonce", "")))
                if len(nonce) != NONCE_BYTES:
                    raise IdentityError("bad-nonce", "link-hello nonce has the wrong size")
            except (IdentityError, ValueError) as exc:
                return [self._refuse(getattr(exc, "qualifier", "bad-handshake"), str(exc))]
            self._peer_cert, self._peer_nonce, self.peer = cert, nonce, peer
            self.peer_batches = tone.get("batches") is True
            self._envelope = b'{"from":' + quoted(self.me) + b',"to":' + quoted(peer) + b","
            name = tone.get("name")
            # only a label for people; a bad one is dropped, never a reason to refuse a sibling
            self.peer_name = name if isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS else ""
            signature = self.identity.device_key.sign(
                proof_payload(self._nonce, nonce, self.me, peer)
            )
            self._write(Tone(chi="link-proof", signature=signature.hex()))
            return []
        if tone.chi == "link-proof" and self._peer_cert is not None and self.peer is not None:
            if tone.get("from") != self.peer:
                return [self._refuse("id-mismatch", "link-proof from another humd")]
            try:
                self._peer_cert.verify(
                    proof_payload(self._peer_nonce or b"", self._nonce, self.peer, self.me),
                    bytes.fromhex(str(tone.get("signature", ""))),
                )
            except (IdentityError, ValueError) as exc:
                return [self._refuse("bad-signature", f"link proof does not verify: {exc}")]
            self.state = LinkState.UP
            return [LinkUp(self.peer, self.peer_name)]
        if tone.chi == "error":
            return [
                self._close(str(tone.get("qualifier", "refused")), str(tone.get("message", "")))
            ]
        return [self._refuse("no-handshake", f"{tone.chi!r} before the link handshake finished")]

