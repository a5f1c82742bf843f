"""The keys of a hum ensemble: the operator key (a tiny certificate authority) and a device key.

One operator (a person) owns an Ed25519 operator key that acts as a tiny X.509
certificate authority. Each humd has its own Ed25519 device key, certified by
that operator key. A humd is named by its HumdId, the sha256 of its raw device
public key, so the name cannot be chosen independently of the key.

Everything here is plain objects; no sockets, no files.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hum.ensemble.trust.certificates import (
    CLOCK_SKEW,
    DEVICE_CERT_DAYS,
    FINGERPRINT_SHORT,
    OPERATOR_CERT_DAYS,
    DeviceCertificate,
    HumdId,
    OperatorCertificate,
    device_dns_name,
    fingerprint,
    load_private_key,
    new_serial,
    now_utc,
    private_pem_of,
    revocation_payload,
)
from hum.errors import IdentityError

# The operator certificate's common name: the same for everyone, so it says nothing about anyone.
OPERATOR_COMMON_NAME = "hum operator"


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
