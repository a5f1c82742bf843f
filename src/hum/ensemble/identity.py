"""The identity chain of a hum ensemble: operator key -> device certificate -> HumdId.

One operator (a person) owns an Ed25519 operator key that acts as a tiny X.509
certificate authority. Each humd has its own Ed25519 device key, certified by
that operator key. A humd is named by its HumdId, the sha256 of its raw device
public key, so the name cannot be chosen independently of the key. Two humds
are T1 siblings when both device certificates chain to the same operator key.

Everything here is plain objects and files; no sockets.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hum.errors import IdentityError

_T = TypeVar("_T")

__all__ = [
    "CLOCK_SKEW",
    "DEVICE_CERT_DAYS",
    "ECHO_CHARS",
    "HUMD_ID_PREFIX",
    "MAX_NAME_CHARS",
    "OPERATOR_CERT_DAYS",
    "DeviceCertificate",
    "DeviceKey",
    "HumdId",
    "Identity",
    "IdentityError",
    "OperatorCertificate",
    "OperatorKey",
    "SiblingCheck",
    "check_name",
    "device_dns_name",
    "fingerprint",
    "load_revocations",
    "save_revocations",
]

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
_FP_SHORT = 16

# HumdId.short: 8 hex chars, enough to tell one person's few devices apart in a UI.
_SHORT_ID = 8

# A DNS label holds at most 63 characters, so the 64-hex HumdId is split in two.
_DNS_LABEL_SPLIT = 32

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

_DEVICE_KEY_FILE = "device.key"
_DEVICE_CERT_FILE = "device.crt"
_OPERATOR_CERT_FILE = "operator.crt"


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

    @property
    def wire(self) -> str:
        """The prefixed form, `humd_<hex>`."""
        return HUMD_ID_PREFIX + self


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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _serial() -> int:
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


def _load_private_key(data: bytes, what: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(
            "bad-key", f"{what}: not an unencrypted PEM private key ({exc})"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError("bad-key", f"{what}: private key is not Ed25519")
    return key


def _private_pem(key: Ed25519PrivateKey) -> bytes:
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
        return f"OperatorCertificate(fingerprint={self.fingerprint[:_FP_SHORT]}...)"


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

    from_der = from_pem

    def pem(self) -> bytes:
        return self.x509.public_bytes(serialization.Encoding.PEM)

    def der(self) -> bytes:
        return self.x509.public_bytes(serialization.Encoding.DER)

    @property
    def name(self) -> str | None:
        """The human device name the operator certified, if any."""
        attrs = self.x509.subject.get_attributes_for_oid(NameOID.PSEUDONYM)
        return str(attrs[0].value) if attrs else None

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


class OperatorKey:
    """The operator's Ed25519 key: the certificate authority of one person's devices."""

    def __init__(self, private_key: Ed25519PrivateKey, certificate: OperatorCertificate) -> None:
        if fingerprint(private_key.public_key()) != certificate.fingerprint:
            raise IdentityError("id-mismatch", "operator certificate does not match operator key")
        self._key = private_key
        self.certificate = certificate
        self.fingerprint = certificate.fingerprint

    @classmethod
    def generate(cls, name: str = "hum operator") -> OperatorKey:
        key = Ed25519PrivateKey.generate()
        return cls(key, cls._self_sign(key, check_name(name)))

    @staticmethod
    def _self_sign(key: Ed25519PrivateKey, name: str) -> OperatorCertificate:
        public = key.public_key()
        # The fingerprint in the DN keeps operator names distinct even when two
        # people both keep the default name, so chain building never confuses them.
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, name),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, fingerprint(public)),
            ]
        )
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(public)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(_serial())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(days=OPERATOR_CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, algorithm=None)
        )
        return OperatorCertificate(cert)

    def sign_revocation(self, humd_id: str) -> bytes:
        """The operator's word that `humd_id` is revoked; every sibling can check it."""
        return self._key.sign(revocation_payload(HumdId.parse(humd_id)))

    def certify(
        self,
        device_public_key: Ed25519PublicKey,
        *,
        name: str = "humd",
        valid_days: int = DEVICE_CERT_DAYS,
    ) -> DeviceCertificate:
        if not isinstance(device_public_key, Ed25519PublicKey):
            raise TypeError("device_public_key must be an Ed25519PublicKey")
        if valid_days <= 0:
            raise ValueError("valid_days must be positive")
        humd_id = HumdId.of_key(device_public_key)
        now = _now()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, str(humd_id)),
                x509.NameAttribute(NameOID.PSEUDONYM, check_name(name)),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.x509.subject)
            .public_key(device_public_key)
            .serial_number(_serial())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + dt.timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(device_dns_name(humd_id))]),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(device_public_key), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, algorithm=None)
        )
        return DeviceCertificate(cert)

    def private_pem(self) -> bytes:
        """The private key followed by the operator certificate, both PEM.

        The certificate travels with the key: re-signing a fresh CA certificate on
        load would change the serial and validity that every sibling has pinned.
        """
        return _private_pem(self._key) + self.certificate.pem()

    @classmethod
    def from_private_pem(cls, data: bytes) -> OperatorKey:
        key = _load_private_key(data, "operator key")
        if b"-----BEGIN CERTIFICATE-----" in data:
            start = data.index(b"-----BEGIN CERTIFICATE-----")
            certificate = OperatorCertificate.from_pem(data[start:])
        else:
            certificate = cls._self_sign(key, "hum operator")
        return cls(key, certificate)

    def __repr__(self) -> str:
        return f"OperatorKey(fingerprint={self.fingerprint[:_FP_SHORT]}...)"


class DeviceKey:
    """One humd's Ed25519 device key; its HumdId is derived from it."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.humd_id = HumdId.of_key(self.public_key)

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def private_pem(self) -> bytes:
        return _private_pem(self._key)

    @classmethod
    def from_private_pem(cls, data: bytes) -> DeviceKey:
        return cls(_load_private_key(data, "device key"))

    def __repr__(self) -> str:
        return f"DeviceKey(humd={self.humd_id.short})"


def _verify_issued_by(cert: DeviceCertificate, operator: OperatorCertificate) -> None:
    try:
        cert.x509.verify_directly_issued_by(operator.x509)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise IdentityError(
            "foreign-operator",
            f"humd {cert.humd_id.short} is not certified by operator {operator.fingerprint[:_FP_SHORT]}",
        ) from exc


def atomic_write(path: Path, data: bytes, mode: int) -> None:
    # mkstemp creates the file 0600, so a key is never readable by others,
    # even for the instant before chmod.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _load_file(path: Path, qualifier: str, parse: Callable[[bytes], _T]) -> _T:
    """Read and parse one identity file; every failure names the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise IdentityError(qualifier, f"{path}: missing") from exc
    except OSError as exc:
        raise IdentityError(qualifier, f"{path}: unreadable ({exc.strerror})") from exc
    try:
        return parse(data)
    except IdentityError as exc:
        raise IdentityError(exc.qualifier, f"{path}: {exc.message}") from exc


@dataclass
class Identity:
    """What a humd holds to prove who it is: device key, its certificate, the operator certificate."""

    device_key: DeviceKey
    certificate: DeviceCertificate
    operator: OperatorCertificate

    def __post_init__(self) -> None:
        if self.certificate.humd_id != self.device_key.humd_id:
            raise IdentityError("id-mismatch", "device certificate is for a different device key")
        _verify_issued_by(self.certificate, self.operator)

    @property
    def humd_id(self) -> HumdId:
        return self.device_key.humd_id

    @classmethod
    def mint(cls, operator_key: OperatorKey, name: str = "humd") -> Identity:
        device_key = DeviceKey.generate()
        certificate = operator_key.certify(device_key.public_key, name=name)
        return cls(device_key, certificate, operator_key.certificate)

    def save(self, home: Path) -> None:
        home = Path(home)
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Certificates first, key last: a crash in between leaves an old key that
        # no longer matches, which load() reports, rather than a silent mix.
        atomic_write(home / _OPERATOR_CERT_FILE, self.operator.pem(), 0o644)
        atomic_write(home / _DEVICE_CERT_FILE, self.certificate.pem(), 0o644)
        atomic_write(home / _DEVICE_KEY_FILE, self.device_key.private_pem(), 0o600)

    @classmethod
    def load(cls, home: Path) -> Identity:
        home = Path(home)
        key_path = home / _DEVICE_KEY_FILE
        cert_path = home / _DEVICE_CERT_FILE
        device_key = _load_file(key_path, "bad-key", DeviceKey.from_private_pem)
        certificate = _load_file(cert_path, "bad-certificate", DeviceCertificate.from_pem)
        operator = _load_file(
            home / _OPERATOR_CERT_FILE, "bad-certificate", OperatorCertificate.from_pem
        )
        if certificate.humd_id != device_key.humd_id:
            raise IdentityError(
                "id-mismatch",
                f"{cert_path}: certifies humd {certificate.humd_id.short}, "
                f"but {key_path} is humd {device_key.humd_id.short}",
            )
        try:
            _verify_issued_by(certificate, operator)
        except IdentityError as exc:
            raise IdentityError(exc.qualifier, f"{cert_path}: {exc.message}") from exc
        return cls(device_key, certificate, operator)


class SiblingCheck:
    """Tells a T1 sibling (same operator, not revoked, id matches key) from anything else."""

    def __init__(self, operator: OperatorCertificate, revoked: Iterable[str] = ()) -> None:
        self.operator = operator
        self._revoked: set[HumdId] = {HumdId.parse(r) for r in revoked}

    @property
    def revoked(self) -> frozenset[HumdId]:
        return frozenset(self._revoked)

    def revoke(self, humd_id: str) -> None:
        self._revoked.add(HumdId.parse(humd_id))

    def check(
        self,
        certificate: DeviceCertificate | bytes,
        claimed: str | None = None,
        *,
        now: dt.datetime | None = None,
    ) -> HumdId:
        """Return the certificate's HumdId if it belongs to a T1 sibling, else raise IdentityError.

        `certificate` may be a DeviceCertificate or its PEM/DER bytes (as TLS hands it over).
        """
        cert = (
            certificate
            if isinstance(certificate, DeviceCertificate)
            else DeviceCertificate.from_pem(certificate)
        )
        _verify_issued_by(cert, self.operator)
        humd_id = cert.humd_id
        # Only the operator could have signed a CN that disagrees with the key,
        # but such a certificate is still not a coherent identity.
        if cert.subject_id != humd_id:
            raise IdentityError(
                "id-mismatch",
                f"certificate names {str(cert.subject_id)[:ECHO_CHARS]!r} but its key is humd {humd_id.short}",
            )
        if humd_id in self._revoked:
            raise IdentityError("revoked", f"humd {humd_id.short} is revoked")
        when = now if now is not None else _now()
        if when.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if when > cert.not_after:
            raise IdentityError(
                "expired", f"humd {humd_id.short}: certificate expired {cert.not_after:%Y-%m-%d}"
            )
        if when < cert.not_before:
            # Same qualifier as expired: both mean "outside the validity window".
            raise IdentityError(
                "expired",
                f"humd {humd_id.short}: certificate not valid before {cert.not_before:%Y-%m-%d %H:%M}",
            )
        if claimed is not None and HumdId.parse(claimed) != humd_id:
            raise IdentityError(
                "id-mismatch",
                f"peer claims {str(claimed)[:ECHO_CHARS]!r} but its key is humd {humd_id.short}",
            )
        return humd_id


def load_revocations(path: Path) -> set[HumdId]:
    """Read a JSON list of revoked HumdIds; a missing file means nothing is revoked."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        raise IdentityError("bad-revocations", f"{path}: not a JSON list ({exc})") from exc
    if not isinstance(data, list):
        raise IdentityError("bad-revocations", f"{path}: expected a JSON list of HumdIds")
    try:
        return {HumdId.parse(item) for item in data}
    except IdentityError as exc:
        raise IdentityError("bad-revocations", f"{path}: {exc.message}") from exc


def save_revocations(path: Path, ids: Iterable[str]) -> None:
    path = Path(path)
    body = json.dumps(sorted({HumdId.parse(i) for i in ids}), indent=1) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, body.encode("utf-8"), 0o644)
