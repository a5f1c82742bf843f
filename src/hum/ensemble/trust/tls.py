"""TLS 1.3 contexts for humd <-> humd links, built from the identity chain as it is.

OpenSSL verifies the chain (device certificate signed by the one pinned
operator CA, within validity). It cannot know our revocation list or which
HumdId the peer claims to be, so after the handshake `peer_identity` runs the
full SiblingCheck; a link must not carry a hum tone before that returns.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from hum.ensemble.trust.certificates import HumdId
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.siblings import SiblingCheck
from hum.errors import IdentityError

__all__ = ["client_context", "pairing_client_context", "peer_identity", "server_context"]

# Our certificates are Ed25519, which TLS only signs with from 1.3 on; 1.3 also
# has no renegotiation and encrypts the certificates exchanged.
TLS_MIN_VERSION = ssl.TLSVersion.TLSv1_3

# Random passphrase that encrypts the private key during the instant it sits
# in a temporary file for load_cert_chain; 32 bytes of token_urlsafe ~ 256 bits.
_KEY_PASSPHRASE_BYTES = 32


def _load_identity(context: ssl.SSLContext, identity: Identity) -> None:
    """Load the device certificate and key into `context` without leaving them on disk.

    `ssl` only loads certificate chains from files, so they go to a private
    temporary directory that is removed as soon as OpenSSL has read them; the key
    is also encrypted there with a one-time passphrase that never touches disk.
    """
    passphrase = secrets.token_urlsafe(_KEY_PASSPHRASE_BYTES)
    # The device key object keeps its private key private; re-read it from PEM.
    private = serialization.load_pem_private_key(identity.device_key.private_pem(), None)
    encrypted_key = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("ascii")),
    )
    with tempfile.TemporaryDirectory(prefix="hum-tls-") as tmp:  # created 0700
        cert_path = Path(tmp) / "device.crt"
        key_path = Path(tmp) / "device.key"
        for path, data in ((cert_path, identity.certificate.pem()), (key_path, encrypted_key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        context.load_cert_chain(cert_path, key_path, password=passphrase)


def _context(purpose: int, identity: Identity, check: SiblingCheck) -> ssl.SSLContext:
    if identity.operator.fingerprint != check.operator.fingerprint:
        # Trusting another operator than the one that certified us would make a
        # link that this side could never pass itself: a configuration error.
        raise ValueError("identity and sibling check name different operators")
    context = ssl.SSLContext(purpose)
    context.minimum_version = TLS_MIN_VERSION
    # Peers are named by HumdId, checked by peer_identity, not by host name.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    # Strict RFC 5280 checks; our own certificates are built to satisfy them.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    # The only trust anchor is the operator CA: no system store, ever.
    context.load_verify_locations(cadata=check.operator.pem().decode("ascii"))
    _load_identity(context, identity)
    return context


def server_context(identity: Identity, check: SiblingCheck, *, pairing: bool = False) -> ssl.SSLContext:
    """A TLS 1.3 server context that requires a client certificate from the same operator.

    With `pairing`, a client without any certificate is let in too: a device
    that is still pairing has none yet. The listener must then hand such a
    connection to pairing alone (SPAKE2 authenticates it), never to a link.
    A client that does present a certificate is still verified against the CA.
    """
    context = _context(ssl.PROTOCOL_TLS_SERVER, identity, check)
    if pairing:
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def pairing_client_context() -> ssl.SSLContext:
    """TLS 1.3 for a device joining with a pairing code: it cannot verify the host yet.

    The code's SPAKE2 exchange authenticates both ends; TLS here only keeps the
    exchange private on the wire.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = TLS_MIN_VERSION
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def client_context(identity: Identity, check: SiblingCheck) -> ssl.SSLContext:
    """A TLS 1.3 client context that presents our device certificate and pins our operator."""
    return _context(ssl.PROTOCOL_TLS_CLIENT, identity, check)


def peer_identity(
    ssl_object: ssl.SSLObject | ssl.SSLSocket,
    check: SiblingCheck,
    claimed: str | None = None,
) -> HumdId:
    """The authenticated peer's HumdId; raises IdentityError if it is not a T1 sibling."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise IdentityError("bad-certificate", "peer presented no certificate")
    if ssl_object.version() != "TLSv1.3":
        raise IdentityError("bad-certificate", f"link is {ssl_object.version()}, not TLSv1.3")
    return check.check(der, claimed)
