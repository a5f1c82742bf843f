"""Who a humd is, on paper: HumdIds, and the X.509 certificates of the operator and each device.

The operator certificate is a self-signed Ed25519 CA; a device certificate
names its HumdId and is issued by the operator. Parsing and checking only:
keys that sign live in `identity.py`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.x509.oid import NameOID

from hum.errors import IdentityError

_T = TypeVar("_T")


HUMD_ID_PREFIX = "humd_"

# An operator certificate is the root of trust every sibling pins; replacing it
# means re-pairing every device, so it lives about as long as the hardware will.
OPERATOR_CERT_DAYS = 20 * 365

# There is no renewal protocol yet and revocation is the kill switch for a lost
# device, so device certificates are long-lived; still bounded so a forgotten,
# never-revoked device eventually drops out of the ensemble on its own.
DEVICE_CERT_DAYS = 5 * 365

# Certificates are back-dated by this much so a freshly paired device whose
# clock runs a little behind the operator's still accepts its own certificate.
CLOCK_SKEW = dt.timedelta(hours=1)

# RFC 5280 caps CommonName at 64 characters; the same cap keeps device and
# operator names short enough for a UI line.
MAX_NAME_CHARS = 64

# Random serials: RFC 5280 allows at most 20 octets and requires them positive;
# 159 bits stays below that bound while being unguessable.
_SERIAL_BITS = 159

# Untrusted text quoted in an error message is cut to this length, so a hostile
# peer cannot flood logs through our error messages.
ECHO_CHARS = 24

# Fingerprints in logs and reprs: 16 hex chars (64 bits) tell operators apart at a glance.
FINGERPRINT_SHORT = 16

# HumdId.short: 8 hex chars, enough to tell one person's few devices apart in a UI.
_SHORT_ID = 8

# A DNS label holds at most 63 characters, so the 64-hex HumdId is split in two.
_DNS_LABEL_SPLIT = 32

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

class HumdId(str):
    """A humd's name: lowercase hex sha256 of its raw 32-byte Ed25519 device public key."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> HumdId:
        if not isinstance(text, str):
            raise IdentityError(
                "bad-humd-id", f"HumdId must be a string, not {type(text).__name__}"
            )
        body = text[len(HUMD_ID_PREFIX) :] if text.startswith(HUMD_ID_PREFIX) else text
        if not _HEX64.fullmatch(body):
            raise IdentityError(
                "bad-humd-id", f"not a HumdId (64 hex chars): {text[:ECHO_CHARS]!r}"
            )
        return cls(body.lower())

    @classmethod
    def of_key(cls, public_key: Ed25519PublicKey) -> HumdId:
        return cls(fingerprint(public_key))

    @property
    def short(self) -> str:
        return self[:_SHORT_ID]



def looks_like_humd_id(text: str) -> bool:
    """True for 64 hex characters, with or without the `humd_` prefix."""
    return bool(_HEX64.fullmatch(text.removeprefix(HUMD_ID_PREFIX)))


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """sha256 of the raw 32-byte public key, lowercase hex."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def check_name(name: str) -> str:
    """Return `name` if it is fit to be certified as a device or operator name, else ValueError."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name must be a non-empty string")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"name longer than {MAX_NAME_CHARS} characters")
    if any(not ch.isprintable() for ch in name):
        raise ValueError("name must not contain control characters")
    return name


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_serial() -> int:
    # Never zero: RFC 5280 requires a positive serial.
    return secrets.randbits(_SERIAL_BITS) | 1


def _load_x509(data: bytes, what: str) -> x509.Certificate:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise IdentityError("bad-certificate", f"{what}: expected bytes")
    data = bytes(data)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise IdentityError("bad-certificate", f"{what}: not an X.509 certificate ({exc})") from exc


def _ed25519_key(cert: x509.Certificate, what: str) -> Ed25519PublicKey:
    try:
        key = cert.public_key()
    except (ValueError, TypeError) as exc:  # unsupported key algorithms
        raise IdentityError("bad-certificate", f"{what}: unreadable public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise IdentityError("bad-certificate", f"{what}: public key is not Ed25519")
    return key


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        ext = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return ext.value.ca


def load_private_key(data: bytes, what: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(
            "bad-key", f"{what}: not an unencrypted PEM private key ({exc})"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError("bad-key", f"{what}: private key is not Ed25519")
    return key


def private_pem_of(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# Domain separation: a revocation signature can never pass for another signature.
REVOCATION_CONTEXT = b"hum-revoke-v1"


def revocation_payload(humd_id: HumdId) -> bytes:
    """What the operator signs to revoke a device."""
    return REVOCATION_CONTEXT + b"|" + humd_id.encode()


class OperatorCertificate:
    """The operator's self-signed CA certificate, which every sibling holds."""

    def __init__(self, certificate: x509.Certificate) -> None:
        what = "operator certificate"
        self.x509 = certificate
        self.public_key = _ed25519_key(certificate, what)
        if not _is_ca(certificate):
            raise IdentityError("bad-certificate", f"{what}: not a CA certificate")
        if certificate.issuer != certificate.subject:
            raise IdentityError("bad-certificate", f"{what}: not self-signed")
        try:
            certificate.verify_directly_issued_by(certificate)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise IdentityError("bad-certificate", f"{what}: bad self-signature") from exc
        self.fingerprint = fingerprint(self.public_key)

    @classmethod
    def from_pem(cls, data: bytes) -> OperatorCertificate:
        return cls(_load_x509(data, "operator certificate"))

    def verify_revocation(self, humd_id: str, signature: bytes) -> HumdId:
        """Check a revocation came from this operator; raises IdentityError("bad-signature")."""
        hid = HumdId.parse(humd_id)
        try:
            self.public_key.verify(signature, revocation_payload(hid))
        except InvalidSignature as exc:
            raise IdentityError("bad-signature", f"revocation of {hid.short} is not signed by this operator") from exc
        return hid

    def pem(self) -> bytes:
        return self.x509.public_bytes(serialization.Encoding.PEM)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OperatorCertificate) and self.x509 == other.x509

    def __hash__(self) -> int:
        return hash(self.x509)

    def __repr__(self) -> str:
        return f"OperatorCertificate(fingerprint={self.fingerprint[:FINGERPRINT_SHORT]}...)"


class DeviceCertificate:
    """A device key certified by an operator key: one link of the identity chain."""

    def __init__(self, certificate: x509.Certificate) -> None:
        what = "device certificate"
        self.x509 = certificate
        self.public_key = _ed25519_key(certificate, what)
        if _is_ca(certificate):
            raise IdentityError("bad-certificate", f"{what}: is a CA certificate")
        # Derived from the key, never from the CN, so a certificate cannot name
        # itself after another device; the CN is checked against it separately.
        self.humd_id = HumdId.of_key(self.public_key)
        self.serial: int = certificate.serial_number
        self.not_before: dt.datetime = certificate.not_valid_before_utc
        self.not_after: dt.datetime = certificate.not_valid_after_utc

    @classmethod
    def from_pem(cls, data: bytes) -> DeviceCertificate:
        """Load a device certificate from PEM (DER is accepted too)."""
        return cls(_load_x509(data, "device certificate"))


    def pem(self) -> bytes:
        return self.x509.public_bytes(serialization.Encoding.PEM)

    def der(self) -> bytes:
        return self.x509.public_bytes(serialization.Encoding.DER)

    @property
    def subject_id(self) -> str | None:
        attrs = self.x509.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else None

    def verify(self, data: bytes, signature: bytes) -> None:
        try:
            self.public_key.verify(signature, data)
        except InvalidSignature as exc:
            raise IdentityError(
                "bad-signature", f"signature does not verify for humd {self.humd_id.short}"
            ) from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DeviceCertificate) and self.x509 == other.x509

    def __hash__(self) -> int:
        return hash(self.x509)

    def __repr__(self) -> str:
        return f"DeviceCertificate(humd={self.humd_id.short}, serial={self.serial:x})"


def device_dns_name(humd_id: HumdId) -> str:
    """The SAN DNS name of a device certificate (HumdId split across two DNS labels)."""
    cut = _DNS_LABEL_SPLIT
    return f"{humd_id[:cut]}.{humd_id[cut:]}.humd.hum.invalid"


def verify_issued_by(cert: DeviceCertificate, operator: OperatorCertificate) -> None:
    try:
        cert.x509.verify_directly_issued_by(operator.x509)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise IdentityError(
            "foreign-operator",
            f"humd {cert.humd_id.short} is not certified by operator {operator.fingerprint[:FINGERPRINT_SHORT]}",
        ) from exc


