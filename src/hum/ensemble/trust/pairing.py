"""Pairing: certify a new device's key with the operator key, without copying the operator key.

The host (the humd holding the OperatorKey) shows a short one-time code; the
operator types it on the guest (the new device). Both run SPAKE2 over the code,
confirm they derived the same key, and then the guest sends its device public
key and the host returns a DeviceCertificate plus the OperatorCertificate, both
sealed with ChaCha20Poly1305 under keys derived from the SPAKE2 key.

Why SPAKE2: the code has only ~40 bits, so anything computed from the code alone
(a hash, an HMAC) could be brute-forced offline from a captured exchange. SPAKE2
messages are code-masked Diffie-Hellman values: testing a guess takes a fresh
online run, and the code is consumed by the first run, so an attacker gets one guess.

Sans-I/O: hosts and guests are plain state machines exchanging JSON-able dicts
(kebab-case `chi`, camelCase keys, bytes as base64); the transport is elsewhere.

    guest -> host   {"chi":"pair-hello","pairVersion":1,"pake":b64}
    host  -> guest  {"chi":"pair-reply","pake":b64,"confirm":b64}
    guest -> host   {"chi":"pair-confirm","confirm":b64,"box":b64}    (box: device key, name, proof)
    host  -> guest  {"chi":"pair-certificate","box":b64}               (box: both certificates)
    either          {"chi":"pair-error","qualifier":..,"message":..}
"""

from __future__ import annotations

import base64
import binascii
import enum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hum.ensemble.trust.certificates import (
    ECHO_CHARS,
    DeviceCertificate,
    HumdId,
    OperatorCertificate,
    check_name,
)
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import DeviceKey, OperatorKey
from hum.ensemble.trust.pairing_code import (
    USED_CODE,
    WRONG_CODE,
    PairingCode,
    normalize_code,
)
from hum.ensemble.trust.pairing_keys import (
    KEY_BYTES,
    PAKE_MESSAGE_BYTES,
    PairingKeys,
    b64,
    finish_spake,
    guest_spake,
    host_spake,
    unb64,
)
from hum.ensemble.trust.siblings import SiblingCheck
from hum.errors import IdentityError, PairingError

PAIRING_VERSION = 1


# Once the code is consumed, the guest must finish within a minute: every step
# after the first is automatic, so a slower session is stalled or being played with.
PAIRING_CONFIRM_TIMEOUT = 60.0

# A peer's free-text error message is shown and logged, so it is cut to one line.
_MAX_PEER_MESSAGE = 200

# What the guest signs to prove it holds the device key it asks to have certified.
_PROOF_LABEL = b"hum-pair-v1 device proof"

QUALIFIERS = frozenset(
    {
        "bad-code",  # key confirmation failed: the codes differ (or a message was altered)
        "expired-code",
        "used-code",
        "bad-message",  # malformed, oversized, undecryptable or out-of-order message
        "bad-certificate",  # the host returned certificates that do not fit the guest
        "timeout",
        "no-pairing",  # the host has no code open: nothing was shown, or it was withdrawn
        "no-operator-key",  # the host cannot add devices: it is not the device holding the operator key
        "aborted",  # the peer gave up for a reason it did not name in our vocabulary
    }
)


class HostState(enum.StrEnum):
    """Where a host's pairing attempt stands; the value is what error messages say."""

    AWAIT_HELLO = "await-hello"
    AWAIT_CONFIRM = "await-confirm"
    DONE = "done"
    FAILED = "failed"


class GuestState(enum.StrEnum):
    """Where a guest's pairing attempt stands; the value is what error messages say."""

    NEW = "new"
    AWAIT_REPLY = "await-reply"
    AWAIT_CERTIFICATE = "await-certificate"
    DONE = "done"
    FAILED = "failed"


def _error(exc: PairingError) -> dict[str, Any]:
    return {"chi": "pair-error", "qualifier": exc.qualifier, "message": exc.message}


def _peer_error(msg: dict[str, Any]) -> PairingError:
    qualifier = msg.get("qualifier")
    text = msg.get("message")
    text = text[:_MAX_PEER_MESSAGE] if isinstance(text, str) else ""
    if not isinstance(qualifier, str) or qualifier not in QUALIFIERS:
        named = f"the other device gave up ({str(qualifier)[:ECHO_CHARS]})"
        return PairingError("aborted", f"{named}: {text}" if text else named)
    # the peer's own words: they say what happened there and what to do next
    return PairingError(qualifier, text or "reported by the other device")


def _chi(msg: object) -> str:
    if not isinstance(msg, dict) or not isinstance(msg.get("chi"), str):
        raise PairingError("bad-message", "not a tone with a chi")
    return msg["chi"]


class PairingHost:
    """The operator-key side of one pairing attempt: checks the code, issues one certificate."""

    def __init__(
        self, operator_key: OperatorKey, code: PairingCode | str, now: float | None = None, relay_key: bytes | None = None
    ) -> None:
        """`now` is when a str code was shown; a PairingCode carries its own issue time.

        Share one PairingCode object between hosts (one per incoming connection)
        so that the code is consumed by the first attempt across all of them.
        """
        if isinstance(code, str):
            if now is None:
                raise TypeError("now is required with a str code")
            code = PairingCode.parse(code, now)
        self.operator_key = operator_key
        self.relay_key = relay_key  # the relay door secret, given to the new device in the sealed box
        self.code = code
        self.issued: DeviceCertificate | None = None
        self.error: PairingError | None = None
        self._state = HostState.AWAIT_HELLO
        self._keys: PairingKeys | None = None
        self._started_at = 0.0

    @property
    def done(self) -> bool:
        return self._state is HostState.DONE

    @property
    def finished(self) -> bool:
        return self._state in (HostState.DONE, HostState.FAILED)

    def receive(self, msg: dict[str, Any], now: float) -> list[dict[str, Any]]:
        """Feed one message from the guest; returns the messages to send back."""
        if self.finished:
            # A finished session never restarts; a new hello means a reused code.
            if isinstance(msg, dict) and msg.get("chi") == "pair-hello":
                return [_error(PairingError("used-code", USED_CODE))]
            return []
        try:
            chi = _chi(msg)
            if chi == "pair-error":
                self._fail(_peer_error(msg))
                return []
            if self._state is HostState.AWAIT_HELLO and chi == "pair-hello":
                return [self._on_hello(msg, now)]
            if self._state is HostState.AWAIT_CONFIRM and chi == "pair-confirm":
                return [self._on_confirm(msg, now)]
            raise PairingError(
                "bad-message", f"unexpected {chi[:ECHO_CHARS]!r} while {self._state}"
            )
        except PairingError as exc:
            self._fail(exc)
            return [_error(exc)]

    def _fail(self, exc: PairingError) -> None:
        self.error = exc
        self._state = HostState.FAILED
        self._keys = None

    def _on_hello(self, msg: dict[str, Any], now: float) -> dict[str, Any]:
        # Consumed before anything else, so even a malformed attempt spends the code.
        self.code.consume(now)
        self._started_at = now
        if msg.get("pairVersion") != PAIRING_VERSION:
            raise PairingError("bad-message", f"unsupported pairVersion {msg.get('pairVersion')!r}")
        guest_msg = unb64(msg, "pake", PAKE_MESSAGE_BYTES, exact=True)
        spake = host_spake(self.code.text)
        host_msg = spake.start()
        shared = finish_spake(spake, guest_msg)
        self._keys = PairingKeys.derive(shared, guest_msg, host_msg)
        self._state = HostState.AWAIT_CONFIRM
        return {
            "chi": "pair-reply",
            "pake": b64(host_msg),
            "confirm": b64(self._keys.mac(self._keys.host_confirm)),
        }

    def _on_confirm(self, msg: dict[str, Any], now: float) -> dict[str, Any]:
        keys = self._keys
        assert keys is not None
        if not self._started_at <= now <= self._started_at + PAIRING_CONFIRM_TIMEOUT:
            raise PairingError("timeout", "guest took too long to confirm")
        if not keys.check_mac(keys.guest_confirm, unb64(msg, "confirm", KEY_BYTES, exact=True)):
            raise PairingError("bad-code", "the pairing code does not match")
        if "box" not in msg:
            # The guest holds our key but could not verify our confirmation: it
            # was altered on the way, which the guest reports as a wrong code too.
            raise PairingError("bad-code", "the guest could not confirm the pairing key")
        payload = keys.open(keys.guest_box, "pair-confirm", msg)
        raw_key = payload.get("devicePublicKey")
        name = payload.get("name")
        proof = payload.get("proof")
        if not (isinstance(raw_key, str) and isinstance(name, str) and isinstance(proof, str)):
            raise PairingError("bad-message", "devicePublicKey, name and proof are required")
        try:
            device_public = Ed25519PublicKey.from_public_bytes(
                base64.b64decode(raw_key, validate=True)
            )
            # Proof of possession: the sender holds the private half of the key it asks us to certify.
            device_public.verify(
                base64.b64decode(proof, validate=True), _PROOF_LABEL + keys.transcript
            )
            check_name(name)  # the guest keeps its name; it is not written in the certificate
            certificate = self.operator_key.certify(device_public)
        except (ValueError, binascii.Error, InvalidSignature) as exc:
            raise PairingError("bad-message", f"device key or name rejected ({exc})") from exc
        reply = {
            "chi": "pair-certificate",
            "box": keys.seal(
                keys.host_box,
                "pair-certificate",
                {
                    "deviceCertificate": certificate.pem().decode("ascii"),
                    "operatorCertificate": self.operator_key.certificate.pem().decode("ascii"),
                    **({"relayKey": b64(self.relay_key)} if self.relay_key else {}),
                },
            ),
        }
        self.issued = certificate
        self._state = HostState.DONE
        self._keys = None
        return reply


class PairingGuest:
    """The new device's side of a pairing: ends holding an Identity certified by the host's operator."""

    def __init__(self, code: str, device_key: DeviceKey | None = None, name: str = "humd") -> None:
        self.code = normalize_code(code)
        self.device_key = device_key if device_key is not None else DeviceKey.generate()
        self.name = check_name(name)
        self.error: PairingError | None = None
        self.relay_key: bytes | None = None  # the relay door secret the host gave, once done
        self._result: Identity | None = None
        self._state = GuestState.NEW
        self._spake = guest_spake(self.code)
        self._guest_msg = b""
        self._keys: PairingKeys | None = None

    @property
    def done(self) -> bool:
        return self._state is GuestState.DONE

    @property
    def finished(self) -> bool:
        return self._state in (GuestState.DONE, GuestState.FAILED)

    @property
    def humd_id(self) -> HumdId:
        return self.device_key.humd_id

    @property
    def result(self) -> Identity:
        if self._result is not None:
            return self._result
        if self.error is not None:
            raise self.error
        raise RuntimeError("pairing has not finished")

    def start(self) -> dict[str, Any]:
        if self._state is not GuestState.NEW:
            raise RuntimeError("start() is called once per pairing attempt")
        self._guest_msg = self._spake.start()
        self._state = GuestState.AWAIT_REPLY
        return {"chi": "pair-hello", "pairVersion": PAIRING_VERSION, "pake": b64(self._guest_msg)}

    def receive(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        """Feed one message from the host; returns the messages to send back."""
        if self.finished:
            return []
        if self._state is GuestState.NEW:
            raise RuntimeError("call start() first")
        try:
            chi = _chi(msg)
            if chi == "pair-error":
                self._fail(_peer_error(msg))
                return []
            if self._state is GuestState.AWAIT_REPLY and chi == "pair-reply":
                return [self._on_reply(msg)]
            if self._state is GuestState.AWAIT_CERTIFICATE and chi == "pair-certificate":
                self._on_certificate(msg)
                return []
            raise PairingError(
                "bad-message", f"unexpected {chi[:ECHO_CHARS]!r} while {self._state}"
            )
        except PairingError as exc:
            self._fail(exc)
            return [_error(exc)]

    def _fail(self, exc: PairingError) -> None:
        self.error = exc
        self._state = GuestState.FAILED
        self._keys = None

    def _on_reply(self, msg: dict[str, Any]) -> dict[str, Any]:
        host_msg = unb64(msg, "pake", PAKE_MESSAGE_BYTES, exact=True)
        shared = finish_spake(self._spake, host_msg)
        keys = PairingKeys.derive(shared, self._guest_msg, host_msg)
        confirm = {"chi": "pair-confirm", "confirm": b64(keys.mac(keys.guest_confirm))}
        if not keys.check_mac(keys.host_confirm, unb64(msg, "confirm", KEY_BYTES, exact=True)):
            # Still send our own confirmation (never the box): the host then detects
            # the mismatch with its own key instead of trusting our word for it.
            self._fail(PairingError("bad-code", WRONG_CODE))
            return confirm
        raw = self.device_key.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        confirm["box"] = keys.seal(
            keys.guest_box,
            "pair-confirm",
            {
                "devicePublicKey": b64(raw),
                "name": self.name,
                "proof": b64(self.device_key.sign(_PROOF_LABEL + keys.transcript)),
            },
        )
        self._keys = keys
        self._state = GuestState.AWAIT_CERTIFICATE
        return confirm

    def _on_certificate(self, msg: dict[str, Any]) -> None:
        keys = self._keys
        assert keys is not None
        payload = keys.open(keys.host_box, "pair-certificate", msg)
        device_pem = payload.get("deviceCertificate")
        operator_pem = payload.get("operatorCertificate")
        if not (isinstance(device_pem, str) and isinstance(operator_pem, str)):
            raise PairingError("bad-message", "deviceCertificate and operatorCertificate required")
        try:
            operator = OperatorCertificate.from_pem(operator_pem.encode("ascii"))
            certificate = DeviceCertificate.from_pem(device_pem.encode("ascii"))
            if certificate.humd_id != self.device_key.humd_id:
                raise IdentityError("id-mismatch", "host certified a different key")
            SiblingCheck(operator).check(certificate)
            identity = Identity(self.device_key, certificate, operator, self.name)
        except (IdentityError, UnicodeEncodeError) as exc:
            raise PairingError("bad-certificate", str(exc)) from exc
        relay_key = payload.get("relayKey")  # absent from hosts that predate relay door secrets
        self.relay_key = unb64(payload, "relayKey", KEY_BYTES, exact=True) if isinstance(relay_key, str) else None
        self._result = identity
        self._state = GuestState.DONE
        self._keys = None
