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
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hum.ensemble.trust.certificates import (
    CLOCK_SKEW,
    DEVICE_CERT_DAYS,
    ECHO_CHARS,
    FINGERPRINT_SHORT,
    OPERATOR_CERT_DAYS,
    DeviceCertificate,
    HumdId,
    OperatorCertificate,
    check_name,
    device_dns_name,
    fingerprint,
    load_private_key,
    new_serial,
    now_utc,
    private_pem_of,
    revocation_payload,
    verify_issued_by,
)
from hum.errors import IdentityError

_T = TypeVar("_T")


_DEVICE_KEY_FILE = "device.key"
_NAME_FILE = "name"
# The operator certificate's common name: the same for everyone, so it says nothing about anyone.
OPERATOR_COMMON_NAME = "hum operator"
_DEVICE_CERT_FILE = "device.crt"
_OPERATOR_CERT_FILE = "operator.crt"


class OperatorKey:
    """The operator's Ed25519 key: the certificate authority of one person's devices."""

    def __init__(self, private_key: Ed25519PrivateKey, certificate: OperatorCertificate) -> None:
        if fingerprint(private_key.public_key()) != certificate.fingerprint:
            raise IdentityError("id-mismatch", "operator certificate does not match operator key")
        self._key = private_key
        self.certificate = certificate
        self.fingerprint = certificate.fingerprint

    @classmethod
    def generate(cls) -> OperatorKey:
        key = Ed25519PrivateKey.generate()
        return cls(key, cls._self_sign(key))

    @staticmethod
    def _self_sign(key: Ed25519PrivateKey) -> OperatorCertificate:
        public = key.public_key()
        # No person's name: anyone who dials the ensemble port sees this
        # certificate. The fingerprint keeps every operator's DN distinct.
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, OPERATOR_COMMON_NAME),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, fingerprint(public)),
            ]
        )
        now = now_utc()
        ski = x509.SubjectKeyIdentifier.from_public_key(public)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(new_serial())
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
        valid_days: int = DEVICE_CERT_DAYS,
    ) -> DeviceCertificate:
        if not isinstance(device_public_key, Ed25519PublicKey):
            raise TypeError("device_public_key must be an Ed25519PublicKey")
        if valid_days <= 0:
            raise ValueError("valid_days must be positive")
        humd_id = HumdId.of_key(device_public_key)
        now = now_utc()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, str(humd_id)),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.x509.subject)
            .public_key(device_public_key)
            .serial_number(new_serial())
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
        return private_pem_of(self._key) + self.certificate.pem()

    @classmethod
    def from_private_pem(cls, data: bytes) -> OperatorKey:
        key = load_private_key(data, "operator key")
        if b"-----BEGIN CERTIFICATE-----" in data:
            start = data.index(b"-----BEGIN CERTIFICATE-----")
            certificate = OperatorCertificate.from_pem(data[start:])
        else:
            certificate = cls._self_sign(key, "hum operator")
        return cls(key, certificate)

    def __repr__(self) -> str:
        return f"OperatorKey(fingerprint={self.fingerprint[:FINGERPRINT_SHORT]}...)"


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
        return private_pem_of(self._key)

    @classmethod
    def from_private_pem(cls, data: bytes) -> DeviceKey:
        return cls(load_private_key(data, "device key"))

    def __repr__(self) -> str:
        return f"DeviceKey(humd={self.humd_id.short})"


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
    # The person's name for the device: kept in the home and told to siblings
    # inside the authenticated link, never written in a certificate.
    name: str = "humd"

    def __post_init__(self) -> None:
        if self.certificate.humd_id != self.device_key.humd_id:
            raise IdentityError("id-mismatch", "device certificate is for a different device key")
        verify_issued_by(self.certificate, self.operator)

    @property
    def humd_id(self) -> HumdId:
        return self.device_key.humd_id

    @classmethod
    def mint(cls, operator_key: OperatorKey, name: str = "humd") -> Identity:
        device_key = DeviceKey.generate()
        certificate = operator_key.certify(device_key.public_key)
        return cls(device_key, certificate, operator_key.certificate, check_name(name))

    def save(self, home: Path) -> None:
        home = Path(home)
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Certificates first, key last: a crash in between leaves an old key that
        # no longer matches, which load() reports, rather than a silent mix.
        atomic_write(home / _OPERATOR_CERT_FILE, self.operator.pem(), 0o644)
        atomic_write(home / _DEVICE_CERT_FILE, self.certificate.pem(), 0o644)
        atomic_write(home / _DEVICE_KEY_FILE, self.device_key.private_pem(), 0o600)
        atomic_write(home / _NAME_FILE, self.name.encode(), 0o600)

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
            verify_issued_by(certificate, operator)
        except IdentityError as exc:
            raise IdentityError(exc.qualifier, f"{cert_path}: {exc.message}") from exc
        name_path = home / _NAME_FILE
        name = check_name(name_path.read_text().strip()) if name_path.exists() else "humd"
        return cls(device_key, certificate, operator, name)


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
        verify_issued_by(cert, self.operator)
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
        when = now if now is not None else now_utc()
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
