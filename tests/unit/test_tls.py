"""TLS 1.3 links between humds over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from hum.ensemble.trust.certificates import HUMD_ID_PREFIX, HumdId
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck
from hum.ensemble.trust.tls import client_context, peer_identity, server_context
from hum.errors import IdentityError

# Only a guard against a hung test; every wait below ends on an event, never on time.
GUARD = 10.0


@pytest.fixture(scope="module")
def operator() -> OperatorKey:
    return OperatorKey.generate()


@pytest.fixture(scope="module")
def home(operator: OperatorKey) -> Identity:
    return Identity.mint(operator, "laptop")




async def _serve(identity: Identity, check: SiblingCheck, claimed: str | None = None):
    """Start a server that upgrades with start_tls so handshake failures reach the handler."""
    outcomes: asyncio.Queue = asyncio.Queue()
    context = server_context(identity, check)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(context)
            peer = peer_identity(writer.get_extra_info("ssl_object"), check, claimed)
            writer.write(f"{peer}\n".encode())
            await writer.drain()
            await outcomes.put(peer)
        except (OSError, IdentityError) as exc:
            await outcomes.put(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], outcomes


async def _connect(port: int, context: ssl.SSLContext):
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=context), GUARD)


async def test_siblings_authenticate_each_other(home: Identity, phone: Identity) -> None:
    """Plain start_server(ssl=...) as the daemon would run it."""
    home_check = SiblingCheck(home.operator)
    phone_check = SiblingCheck(phone.operator)
    seen: asyncio.Queue = asyncio.Queue()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        await seen.put((ssl_object.version(), peer_identity(ssl_object, home_check)))
        writer.write(b"ok\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(
        handle, "127.0.0.1", 0, ssl=server_context(home, home_check)
    )
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await _connect(port, client_context(phone, phone_check))
        ssl_object = writer.get_extra_info("ssl_object")
        assert ssl_object.version() == "TLSv1.3"
        assert peer_identity(ssl_object, phone_check) == home.humd_id
        assert peer_identity(ssl_object, phone_check, HUMD_ID_PREFIX + home.humd_id) == (
            home.humd_id
        )
        assert await asyncio.wait_for(reader.readline(), GUARD) == b"ok\n"
        version, peer = await asyncio.wait_for(seen.get(), GUARD)
        assert (version, peer) == ("TLSv1.3", phone.humd_id)
        assert isinstance(peer, HumdId)
        writer.close()


async def test_foreign_client_fails_handshake_on_server(
    home: Identity, foreign: Identity, tmp_path: Path
) -> None:
    """A device certified by another operator, even one that trusts our CA, is refused by TLS."""
    check = SiblingCheck(home.operator)
    server, port, outcomes = await _serve(home, check)
    async with server:
        # The intruder pins our operator so that only the server's verdict is tested.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cadata=home.operator.pem().decode())
        cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
        cert.write_bytes(foreign.certificate.pem())
        key.write_bytes(foreign.device_key.private_pem())
        context.load_cert_chain(cert, key)
        try:
            reader, writer = await _connect(port, context)
        except (OSError, ssl.SSLError):
            pass  # also acceptable: the alert arrived during the handshake
        else:
            # TLS 1.3 clients finish before the server judges their certificate;
            # the server's alert then surfaces on the first read.
            with pytest.raises((ssl.SSLError, ConnectionResetError, asyncio.IncompleteReadError)):
                line = await asyncio.wait_for(reader.readuntil(b"\n"), GUARD)
                pytest.fail(f"foreign client read {line!r}")
            writer.close()
        outcome = await asyncio.wait_for(outcomes.get(), GUARD)
        assert isinstance(outcome, ssl.SSLCertVerificationError), outcome


async def test_foreign_server_fails_handshake_on_client(home: Identity, foreign: Identity) -> None:
    server, port, outcomes = await _serve(foreign, SiblingCheck(foreign.operator))
    async with server:
        with pytest.raises(ssl.SSLCertVerificationError):
            await _connect(port, client_context(home, SiblingCheck(home.operator)))
        outcome = await asyncio.wait_for(outcomes.get(), GUARD)
        assert isinstance(outcome, OSError), outcome


async def test_revoked_sibling_completes_tls_but_is_refused(
    home: Identity, phone: Identity
) -> None:
    check = SiblingCheck(home.operator, revoked=[phone.humd_id])
    server, port, outcomes = await _serve(home, check)
    async with server:
        reader, writer = await _connect(port, client_context(phone, SiblingCheck(phone.operator)))
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        outcome = await asyncio.wait_for(outcomes.get(), GUARD)
        assert isinstance(outcome, IdentityError) and outcome.qualifier == "revoked"
        assert await asyncio.wait_for(reader.read(), GUARD) == b""  # closed, no tone crossed
        writer.close()


async def test_mismatched_claim_is_refused(
    operator: OperatorKey, home: Identity, phone: Identity
) -> None:
    impostor_claim = Identity.mint(operator).humd_id
    check = SiblingCheck(home.operator)
    server, port, outcomes = await _serve(home, check, claimed=impostor_claim)
    async with server:
        reader, writer = await _connect(port, client_context(phone, SiblingCheck(phone.operator)))
        outcome = await asyncio.wait_for(outcomes.get(), GUARD)
        assert isinstance(outcome, IdentityError) and outcome.qualifier == "id-mismatch"
        writer.close()


def test_contexts_are_tls13_mutual_and_pinned(home: Identity) -> None:
    check = SiblingCheck(home.operator)
    for context in (server_context(home, check), client_context(home, check)):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_3
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is False
        anchors = context.get_ca_certs(binary_form=True)
        assert anchors == [home.operator.x509.public_bytes(Encoding.DER)]


def test_context_refuses_check_for_another_operator(home: Identity, foreign: Identity) -> None:
    with pytest.raises(ValueError):
        server_context(home, SiblingCheck(foreign.operator))


def test_no_key_material_left_on_disk(home: Identity, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    client_context(home, SiblingCheck(home.operator))
    assert list(tmp_path.iterdir()) == []
