"""Who is a T1 sibling: same operator, not revoked, a certificate whose name matches its key.

Revocations are a JSON list of HumdIds in the humd's home; the check reads them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

from hum.ensemble.trust.certificates import (
    ECHO_CHARS,
    DeviceCertificate,
    HumdId,
    OperatorCertificate,
    now_utc,
    verify_issued_by,
)
from hum.ensemble.trust.identity import atomic_write
from hum.errors import IdentityError


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
