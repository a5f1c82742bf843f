"""The pairing door of a real `hum up`: whatever a stranger sends while a code is open, it gets words back.

Regressions found by tests/fuzz/test_fuzz_pairing.py.
"""

from __future__ import annotations

import json
import socket
import ssl

import pytest
from humd_helpers import HumUp, init_home

from hum.ensemble.trust.pairing import PairingGuest
from hum.ensemble.trust.tls import pairing_client_context
from hum.errors import PairingError

ANSWER_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def humd(tmp_path_factory):
    with HumUp(init_home(tmp_path_factory.mktemp("pairing-door") / "laptop")) as running:
        yield running


def pairing_exchange(humd: HumUp, payload: bytes) -> list[dict]:
    """Open a code, send `payload` as a cert-less TLS guest, read until the humd hangs up."""
    status, _ = humd.request("POST", "/hum/pair", b"{}", {"Content-Type": "application/json"})
    assert status == 200
    raw = socket.create_connection(("127.0.0.1", humd.port), timeout=ANSWER_TIMEOUT)
    with pairing_client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(payload)
        buf = b""
        try:
            while chunk := tls.recv(65536):
                buf += chunk
        except (ssl.SSLError, ConnectionError):
            pass
    return [json.loads(line) for line in buf.splitlines()]


@pytest.mark.parametrize("payload", [b"\n", b"not json\n", b"[1, 2]\n", b"[" * 5000 + b"\n", b'{"chi": "pair-hello", "pake": ' + b"9" * 5000 + b"}\n"],
                         ids=["blank", "not-json", "not-object", "deep-nesting", "huge-number"])
def test_a_line_that_is_not_a_pairing_message_is_answered_bad_message(humd, payload):
    replies = pairing_exchange(humd, payload)
    assert [(r["chi"], r["qualifier"]) for r in replies] == [("pair-error", "bad-message")], replies
    assert humd.proc.poll() is None


def test_a_guest_reads_a_malformed_pair_error_as_aborted():
    guest = PairingGuest("ABCD-1234")
    guest.start()
    assert guest.receive({"chi": "pair-error", "qualifier": ["used-code"]}) == []
    assert guest.finished and not guest.done
    assert isinstance(guest.error, PairingError) and guest.error.qualifier == "aborted"
