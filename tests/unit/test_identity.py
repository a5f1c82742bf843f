"""The identity chain: HumdId, operator CA, device certificates, sibling checks, files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.x509.oid import NameOID

from hum.ensemble.trust.certificates import (
    HUMD_ID_PREFIX,
    DeviceCertificate,
    HumdId,
    OperatorCertificate,
    fingerprint,
)
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import DeviceKey, OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck, load_revocations, save_revocations
from hum.errors import IdentityError


@pytest.fixture(scope="module")
def stranger() -> OperatorKey:
    return OperatorKey.generate()  # certificates name no person: only the key tells operators apart


def _raw(key) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- HumdId -----------------------------------------------------------------


def test_humd_id_is_sha256_of_raw_public_key() -> None:
    key = DeviceKey.generate()
    assert key.humd_id == hashlib.sha256(_raw(key.public_key)).hexdigest()
    assert HumdId.of_key(key.public_key) == key.humd_id
    assert fingerprint(key.public_key) == key.humd_id
    assert key.humd_id.short == key.humd_id[:8]


def test_humd_id_parse_accepts_both_forms_and_case() -> None:
    hid = DeviceKey.generate().humd_id
    assert HumdId.parse(hid) == hid
    assert HumdId.parse(HUMD_ID_PREFIX + hid) == hid
    assert HumdId.parse(hid.upper()) == hid
    assert HumdId.parse(HUMD_ID_PREFIX + hid.upper()) == hid
    parsed = HumdId.parse(HUMD_ID_PREFIX + hid.upper())
    assert type(parsed) is HumdId and str(parsed) == hid


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "humd_",
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "HUMD_" + "a" * 64,
        "humd-" + "a" * 64,
        " " + "a" * 64,
        "a" * 64 + "\n",
        "humd_humd_" + "a" * 64,
    ],
)
def test_humd_id_parse_rejects_junk(junk: str) -> None:
    with pytest.raises(IdentityError) as err:
        HumdId.parse(junk)
    assert err.value.qualifier == "bad-humd-id"


def test_humd_id_parse_rejects_non_string() -> None:
    with pytest.raises(IdentityError) as err:
        HumdId.parse(b"a" * 64)  # type: ignore[arg-type]
    assert err.value.qualifier == "bad-humd-id"


# --- certificates --------------------------------------------------------------


def test_operator_certificate_is_a_self_signed_ed25519_ca(operator: OperatorKey) -> None:
    cert = operator.certificate.x509
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert bc.ca and bc.path_length == 0
    assert ku.key_cert_sign and ku.crl_sign
    assert cert.issuer == cert.subject
    assert operator.fingerprint == fingerprint(operator.certificate.public_key)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > dt.timedelta(days=365 * 19)


def test_device_certificate_names_the_key_it_certifies_and_no_person(operator: OperatorKey) -> None:
    key = DeviceKey.generate()
    cert = operator.certify(key.public_key)
    assert cert.humd_id == key.humd_id
    assert cert.subject_id == key.humd_id
    # a stranger who dials the ensemble port reads these: a key's hash and nothing a person chose
    assert [a.value for a in cert.x509.subject] == [key.humd_id]
    assert [a.value for a in operator.certificate.x509.subject] == ["hum operator", operator.fingerprint]
    assert cert.x509.issuer == operator.certificate.x509.subject
    bc = cert.x509.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert not bc.ca
    san = cert.x509.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    (dns,) = san.get_values_for_type(x509.DNSName)
    assert all(len(label) <= 63 for label in dns.split("."))
    assert key.humd_id[:32] in dns and key.humd_id[32:] in dns
    other = operator.certify(key.public_key)
    assert other.serial != cert.serial


def test_pem_round_trips(operator: OperatorKey) -> None:
    ident = Identity.mint(operator, "phone")
    assert DeviceCertificate.from_pem(ident.certificate.pem()) == ident.certificate
    assert DeviceCertificate.from_pem(ident.certificate.der()) == ident.certificate
    assert OperatorCertificate.from_pem(operator.certificate.pem()) == operator.certificate
    again = DeviceKey.from_private_pem(ident.device_key.private_pem())
    assert again.humd_id == ident.humd_id
    reloaded = OperatorKey.from_private_pem(operator.private_pem())
    assert reloaded.certificate == operator.certificate
    # the reloaded key still issues certificates the original CA vouches for
    cert = reloaded.certify(DeviceKey.generate().public_key)
    SiblingCheck(operator.certificate).check(cert)


def test_device_signatures_verify_only_for_their_data(operator: OperatorKey) -> None:
    ident = Identity.mint(operator)
    sig = ident.device_key.sign(b"hello")
    ident.certificate.verify(b"hello", sig)
    with pytest.raises(IdentityError) as err:
        ident.certificate.verify(b"hellO", sig)
    assert err.value.qualifier == "bad-signature"


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_garbage_certificates_are_bad_certificate(data: bytes) -> None:
    for loader in (DeviceCertificate.from_pem, OperatorCertificate.from_pem):
        with pytest.raises(IdentityError) as err:
            loader(data)
        assert err.value.qualifier == "bad-certificate"


def _ec_self_signed(ca: bool) -> bytes:
    key = generate_private_key(SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_non_ed25519_and_wrong_role_certificates_are_refused(operator: OperatorKey) -> None:
    with pytest.raises(IdentityError) as err:
        OperatorCertificate.from_pem(_ec_self_signed(ca=True))
    assert err.value.qualifier == "bad-certificate"
    with pytest.raises(IdentityError) as err:
        DeviceCertificate.from_pem(_ec_self_signed(ca=False))
    assert err.value.qualifier == "bad-certificate"
    # a device certificate is not a CA, and the CA is not a device
    with pytest.raises(IdentityError) as err:
        OperatorCertificate.from_pem(Identity.mint(operator).certificate.pem())
    assert err.value.qualifier == "bad-certificate"
    with pytest.raises(IdentityError) as err:
        DeviceCertificate.from_pem(operator.certificate.pem())
    assert err.value.qualifier == "bad-certificate"


# --- SiblingCheck ----------------------------------------------------------------


def test_sibling_passes_and_returns_its_id(operator: OperatorKey) -> None:
    ident = Identity.mint(operator)
    check = SiblingCheck(operator.certificate)
    assert check.check(ident.certificate) == ident.humd_id
    assert check.check(ident.certificate.der(), claimed=HUMD_ID_PREFIX + ident.humd_id) == (
        ident.humd_id
    )
    assert check.check(ident.certificate.pem(), claimed=ident.humd_id.upper()) == ident.humd_id


def test_other_operator_is_foreign(operator: OperatorKey, stranger: OperatorKey) -> None:
    foreign = Identity.mint(stranger)
    with pytest.raises(IdentityError) as err:
        SiblingCheck(operator.certificate).check(foreign.certificate)
    assert err.value.qualifier == "foreign-operator"


def test_forged_issuer_name_is_still_foreign(operator: OperatorKey) -> None:
    """Copying the operator's subject into the issuer field proves nothing without its key."""
    fake_ca = Ed25519PrivateKey.generate()
    device = DeviceKey.generate()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device.humd_id)]))
        .issuer_name(operator.certificate.x509.subject)
        .public_key(device.public_key)
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(fake_ca, algorithm=None)
    )
    with pytest.raises(IdentityError) as err:
        SiblingCheck(operator.certificate).check(cert.public_bytes(serialization.Encoding.DER))
    assert err.value.qualifier == "foreign-operator"


def test_swapped_public_key_breaks_the_operator_signature(operator: OperatorKey) -> None:
    """Splice an attacker key into a genuine certificate: the signature no longer covers it."""
    genuine = operator.certify(DeviceKey.generate().public_key)
    attacker = DeviceKey.generate()
    der = genuine.der()
    old, new = _raw(genuine.public_key), _raw(attacker.public_key)
    assert der.count(old) == 1
    spliced = der.replace(old, new)
    cert = DeviceCertificate.from_pem(spliced)
    assert cert.humd_id == attacker.humd_id  # the id follows the key, never the CN
    with pytest.raises(IdentityError) as err:
        SiblingCheck(operator.certificate).check(cert)
    assert err.value.qualifier == "foreign-operator"


def test_claimed_id_of_another_device_is_id_mismatch(operator: OperatorKey) -> None:
    mine, theirs = Identity.mint(operator), Identity.mint(operator)
    with pytest.raises(IdentityError) as err:
        SiblingCheck(operator.certificate).check(mine.certificate, claimed=theirs.humd_id)
    assert err.value.qualifier == "id-mismatch"


def test_cn_that_disagrees_with_key_is_id_mismatch(operator: OperatorKey) -> None:
    """Even an operator-signed certificate must name the key it carries."""
    victim, attacker = DeviceKey.generate(), DeviceKey.generate()
    cert = operator.certify(attacker.public_key)
    forged_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, victim.humd_id)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(forged_subject)
        .issuer_name(cert.x509.issuer)
        .public_key(attacker.public_key)
        .serial_number(cert.serial)
        .not_valid_before(cert.not_before)
        .not_valid_after(cert.not_after)
    )
    signed = builder.sign(operator._key, algorithm=None)  # the operator itself erred
    check = SiblingCheck(operator.certificate)
    with pytest.raises(IdentityError) as err:
        check.check(signed.public_bytes(serialization.Encoding.PEM), claimed=victim.humd_id)
    assert err.value.qualifier == "id-mismatch"


def test_revoked_sibling_is_refused(operator: OperatorKey) -> None:
    lost, kept = Identity.mint(operator), Identity.mint(operator)
    check = SiblingCheck(operator.certificate, revoked=[HUMD_ID_PREFIX + lost.humd_id.upper()])
    assert check.revoked == frozenset({lost.humd_id})
    with pytest.raises(IdentityError) as err:
        check.check(lost.certificate)
    assert err.value.qualifier == "revoked"
    assert check.check(kept.certificate) == kept.humd_id
    check.revoke(kept.humd_id)
    with pytest.raises(IdentityError) as err:
        check.check(kept.certificate)
    assert err.value.qualifier == "revoked"


def test_expired_and_not_yet_valid(operator: OperatorKey) -> None:
    key = DeviceKey.generate()
    cert = operator.certify(key.public_key, valid_days=30)
    check = SiblingCheck(operator.certificate)
    now = dt.datetime.now(dt.UTC)
    assert check.check(cert, now=now + dt.timedelta(days=29)) == key.humd_id
    with pytest.raises(IdentityError) as err:
        check.check(cert, now=now + dt.timedelta(days=31))
    assert err.value.qualifier == "expired"
    with pytest.raises(IdentityError) as err:
        check.check(cert, now=now - dt.timedelta(days=1))
    assert err.value.qualifier == "expired"


# --- files -------------------------------------------------------------------------


def test_save_load_round_trip_with_private_key_mode(operator: OperatorKey, tmp_path) -> None:
    ident = Identity.mint(operator, "laptop")
    home = tmp_path / "home"
    ident.save(home)
    assert stat.S_IMODE((home / "device.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert sorted(p.name for p in home.iterdir()) == ["device.crt", "device.key", "name", "operator.crt"]
    loaded = Identity.load(home)
    assert loaded.humd_id == ident.humd_id
    assert loaded.certificate == ident.certificate
    assert loaded.operator == ident.operator
    assert loaded.name == "laptop"
    sig = loaded.device_key.sign(b"x")
    ident.certificate.verify(b"x", sig)
    # saving again over an existing identity keeps the mode and leaves no temp files
    loaded.save(home)
    assert stat.S_IMODE((home / "device.key").stat().st_mode) == 0o600
    assert len(list(home.iterdir())) == 4
    assert Identity.load(home).name == "laptop"


@pytest.mark.parametrize(
    ("name", "qualifier"),
    [
        ("device.key", "bad-key"),
        ("device.crt", "bad-certificate"),
        ("operator.crt", "bad-certificate"),
    ],
)
def test_corrupt_or_missing_file_names_the_file(
    operator: OperatorKey, tmp_path, name: str, qualifier: str
) -> None:
    Identity.mint(operator).save(tmp_path)
    (tmp_path / name).write_bytes(b"-----BEGIN nonsense-----\n")
    with pytest.raises(IdentityError) as err:
        Identity.load(tmp_path)
    assert err.value.qualifier == qualifier
    assert name in err.value.message
    (tmp_path / name).unlink()
    with pytest.raises(IdentityError) as err:
        Identity.load(tmp_path)
    assert err.value.qualifier == qualifier
    assert name in err.value.message and "missing" in err.value.message


def test_load_refuses_mismatched_key_and_foreign_operator(
    operator: OperatorKey, stranger: OperatorKey, tmp_path
) -> None:
    Identity.mint(operator).save(tmp_path)
    (tmp_path / "device.key").write_bytes(DeviceKey.generate().private_pem())
    with pytest.raises(IdentityError) as err:
        Identity.load(tmp_path)
    assert err.value.qualifier == "id-mismatch"

    Identity.mint(operator).save(tmp_path)
    (tmp_path / "operator.crt").write_bytes(stranger.certificate.pem())
    with pytest.raises(IdentityError) as err:
        Identity.load(tmp_path)
    assert err.value.qualifier == "foreign-operator"
    assert "device.crt" in err.value.message


def test_identity_refuses_parts_that_do_not_fit(
    operator: OperatorKey, stranger: OperatorKey
) -> None:
    ident = Identity.mint(operator)
    with pytest.raises(IdentityError) as err:
        Identity(DeviceKey.generate(), ident.certificate, ident.operator)
    assert err.value.qualifier == "id-mismatch"
    with pytest.raises(IdentityError) as err:
        Identity(ident.device_key, ident.certificate, stranger.certificate)
    assert err.value.qualifier == "foreign-operator"


def test_revocations_file_round_trip(tmp_path) -> None:
    a, b = DeviceKey.generate().humd_id, DeviceKey.generate().humd_id
    path = tmp_path / "revoked.json"
    assert load_revocations(path) == set()
    save_revocations(path, [HUMD_ID_PREFIX + a, b.upper(), a])
    assert sorted(json.loads(path.read_text())) == sorted([a, b])
    assert load_revocations(path) == {a, b}


@pytest.mark.parametrize("body", ["{not json", '{"a": 1}', '["nope"]'])
def test_corrupt_revocations_file(tmp_path, body: str) -> None:
    path = tmp_path / "revoked.json"
    path.write_text(body)
    with pytest.raises(IdentityError) as err:
        load_revocations(path)
    assert err.value.qualifier == "bad-revocations"
    assert str(path) in err.value.message
