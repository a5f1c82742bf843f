"""A humd's identity: its device key, the certificate the operator gave it, and the operator's.

Two humds are T1 siblings when both device certificates chain to the same
operator key (`siblings.py` tells one from anything else). An identity lives in
a few files in the humd's home, written atomically.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hum.ensemble.trust.certificates import (
    DeviceCertificate,
    HumdId,
    OperatorCertificate,
    check_name,
    verify_issued_by,
)
from hum.ensemble.trust.keys import DeviceKey, OperatorKey
from hum.errors import IdentityError

_T = TypeVar("_T")


_DEVICE_KEY_FILE = "device.key"
_NAME_FILE = "name"
_DEVICE_CERT_FILE = "device.crt"
_OPERATOR_CERT_FILE = "operator.crt"


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
    def mint(cls, operator_key: OperatorKey, name: str = "humd", device_key: DeviceKey | None = None) -> Identity:
        device_key = device_key or DeviceKey.generate()
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
