"""What one SPAKE2 run of a pairing derives: confirmation MACs and the keys of two sealed boxes.

Both sides run SPAKE2 over the pairing code, bound to this protocol and role;
from the shared key and the transcript of both SPAKE2 messages, HKDF derives
one key per purpose. Each sealed box (ChaCha20Poly1305) is opened with the
transcript as associated data, so a box cannot be moved to another run.
Plain objects; no sockets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from spake2 import SPAKE2_A, SPAKE2_B
from spake2.ed25519_basic import NotOnCurve
from spake2.spake2 import SPAKEError

from hum.errors import PairingError

# A SPAKE2 message on the Ed25519 group is one side byte plus a 32-byte point.
PAKE_MESSAGE_BYTES = 33
KEY_BYTES = 32

# Two PEM certificates of ~700 bytes each plus JSON; a bound keeps a hostile peer
# from making us base64-decode and decrypt megabytes.
_MAX_BOX_BYTES = 8192

# SPAKE2 identities bind the run to this protocol, version and role.
_ID_GUEST = b"hum-pair-v1-guest"
_ID_HOST = b"hum-pair-v1-host"
_KDF_INFO = b"hum-pair-v1 keys"

# Each derived AEAD key seals exactly one message, so a constant nonce is safe.
_NONCE = bytes(12)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(msg: dict[str, Any], key: str, max_bytes: int, *, exact: bool = False) -> bytes:
    """`msg[key]` decoded from base64, refused as `bad-message` if missing, too long or not base64."""
    value = msg.get(key)
    # base64 expands 3 bytes to 4 chars; reject before decoding anything large.
    if not isinstance(value, str) or len(value) > (max_bytes + 2) // 3 * 4:
        raise PairingError("bad-message", f"{key}: missing or too long")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PairingError("bad-message", f"{key}: not base64") from exc
    if exact and len(data) != max_bytes:
        raise PairingError("bad-message", f"{key}: expected {max_bytes} bytes")
    return data


def guest_spake(code: str) -> SPAKE2_A:
    """The guest's side of SPAKE2 over the (normalized) pairing code."""
    return SPAKE2_A(code.encode("ascii"), idA=_ID_GUEST, idB=_ID_HOST)


def host_spake(code: str) -> SPAKE2_B:
    """The host's side of SPAKE2 over the pairing code."""
    return SPAKE2_B(code.encode("ascii"), idA=_ID_GUEST, idB=_ID_HOST)


def finish_spake(spake: SPAKE2_A | SPAKE2_B, peer_msg: bytes) -> bytes:
    """The shared key from the peer's SPAKE2 message; a malformed one is a `bad-message`."""
    try:
        return spake.finish(peer_msg)
    # spake2 reports off-curve points with NotOnCurve and foreign or small-order
    # elements with ValueError, outside its SPAKEError hierarchy.
    except (SPAKEError, NotOnCurve, ValueError) as exc:
        raise PairingError("bad-message", "invalid SPAKE2 message") from exc


@dataclass(frozen=True)
class PairingKeys:
    """Everything derived from one SPAKE2 run."""

    transcript: bytes
    host_confirm: bytes
    guest_confirm: bytes
    guest_box: bytes
    host_box: bytes

    @classmethod
    def derive(cls, shared: bytes, guest_msg: bytes, host_msg: bytes) -> PairingKeys:
        h = hashlib.sha256()
        for part in (_ID_GUEST, _ID_HOST, guest_msg, host_msg):
            h.update(struct.pack(">I", len(part)) + part)
        transcript = h.digest()
        okm = HKDF(
            algorithm=hashes.SHA256(), length=4 * KEY_BYTES, salt=transcript, info=_KDF_INFO
        ).derive(shared)
        k = [okm[i : i + KEY_BYTES] for i in range(0, len(okm), KEY_BYTES)]
        return cls(transcript, k[0], k[1], k[2], k[3])

    def mac(self, key: bytes) -> bytes:
        m = hmac.HMAC(key, hashes.SHA256())
        m.update(self.transcript)
        return m.finalize()

    def check_mac(self, key: bytes, tag: bytes) -> bool:
        m = hmac.HMAC(key, hashes.SHA256())
        m.update(self.transcript)
        try:
            m.verify(tag)
        except InvalidSignature:
            return False
        return True

    def seal(self, key: bytes, chi: str, payload: dict[str, Any]) -> str:
        plain = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        aad = chi.encode("ascii") + self.transcript
        return b64(ChaCha20Poly1305(key).encrypt(_NONCE, plain, aad))

    def open(self, key: bytes, chi: str, msg: dict[str, Any]) -> dict[str, Any]:
        sealed = unb64(msg, "box", _MAX_BOX_BYTES)
        aad = chi.encode("ascii") + self.transcript
        try:
            plain = ChaCha20Poly1305(key).decrypt(_NONCE, sealed, aad)
        except InvalidTag as exc:
            raise PairingError("bad-message", "sealed box does not authenticate") from exc
        try:
            payload = json.loads(plain)
        except ValueError as exc:
            raise PairingError("bad-message", "sealed box is not JSON") from exc
        if not isinstance(payload, dict):
            raise PairingError("bad-message", "sealed box is not an object")
        return payload
