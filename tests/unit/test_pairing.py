"""Pairing a new device with SPAKE2 over a short one-time code (sans-I/O)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from spake2 import SPAKE2_A, SPAKE2_B

from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import DeviceKey, OperatorKey
from hum.ensemble.trust.pairing import PAIRING_CONFIRM_TIMEOUT, PairingGuest, PairingHost
from hum.ensemble.trust.pairing_code import PAIRING_CODE_BITS, PAIRING_CODE_TTL, PairingCode
from hum.ensemble.trust.siblings import SiblingCheck
from hum.errors import PairingError

T0 = 1_000_000.0


@pytest.fixture(scope="module")
def operator() -> OperatorKey:
    return OperatorKey.generate()


def _wire(msg: dict[str, Any]) -> dict[str, Any]:
    """Every message must survive the NDJSON transport unchanged."""
    return json.loads(json.dumps(msg))


def run(host: PairingHost, guest: PairingGuest, now: float = T0, tamper=None) -> list[dict]:
    """Shuttle messages until both sides go quiet; returns the transcript."""
    transcript: list[dict] = []
    to_host = [guest.start()]
    while to_host:
        to_guest: list[dict] = []
        for msg in to_host:
            msg = _wire(tamper(msg) if tamper else msg)
            transcript.append(msg)
            to_guest += host.receive(msg, now)
        to_host = []
        for msg in to_guest:
            msg = _wire(tamper(msg) if tamper else msg)
            transcript.append(msg)
            to_host += guest.receive(msg)
    return transcript


def test_code_shape_and_entropy() -> None:
    code = PairingCode.generate(T0)
    assert len(code.text) == 9 and code.text[4] == "-"
    assert PAIRING_CODE_BITS >= 40
    assert len({PairingCode.generate(T0).text for _ in range(50)}) == 50
    # typing is forgiving: lower case, spaces, no dash, O for 0
    typed = code.text.lower().replace("-", " ").replace("0", "o")
    assert PairingGuest(typed).code == code.text


@pytest.mark.parametrize("typed", ["", "ABC", "ABCD-EFGHJ", "ABCD-EFG!", "UUUU-UUUU"])
def test_malformed_code_is_refused_up_front(typed: str) -> None:
    with pytest.raises(PairingError) as err:
        PairingGuest(typed)
    assert err.value.qualifier == "bad-code"


def test_happy_path_yields_a_certified_sibling(operator: OperatorKey) -> None:
    code = PairingCode.generate(T0)
    host = PairingHost(operator, code)
    device_key = DeviceKey.generate()
    guest = PairingGuest(code.text, device_key, name="phone")
    transcript = run(host, guest, now=T0 + PAIRING_CODE_TTL - 1)

    assert [m["chi"] for m in transcript] == [
        "pair-hello",
        "pair-reply",
        "pair-confirm",
        "pair-certificate",
    ]
    assert host.done and host.error is None
    assert guest.done and guest.error is None
    identity = guest.result
    assert isinstance(identity, Identity)
    assert identity.device_key is device_key
    assert identity.humd_id == device_key.humd_id
    assert identity.operator == operator.certificate
    assert identity.name == "phone"
    assert host.issued == identity.certificate
    assert SiblingCheck(operator.certificate).check(identity.certificate) == device_key.humd_id


def test_nothing_secret_or_identifying_travels_in_clear(operator: OperatorKey) -> None:
    code = PairingCode.generate(T0)
    device_key = DeviceKey.generate()
    guest = PairingGuest(code.text, device_key, name="phone")
    transcript = json.dumps(run(PairingHost(operator, code), guest))
    assert guest.done
    assert code.text not in transcript and code.text.replace("-", "") not in transcript
    assert device_key.humd_id not in transcript
    assert "phone" not in transcript
    raw = guest.result.certificate.public_key.public_bytes_raw()
    assert base64.b64encode(raw).decode() not in transcript


def test_wrong_code_fails_on_both_sides_without_a_certificate(operator: OperatorKey) -> None:
    code = PairingCode.generate(T0)
    wrong = "ZZZZ-ZZZZ" if code.text != "ZZZZ-ZZZZ" else "YYYY-YYYY"
    host = PairingHost(operator, code)
    guest = PairingGuest(wrong)
    transcript = run(host, guest)

    assert guest.error is not None and guest.error.qualifier == "bad-code"
    assert host.error is not None and host.error.qualifier == "bad-code"
    assert host.issued is None and not host.done
    assert not any(m["chi"] == "pair-certificate" for m in transcript)
    # the guest never sealed its device key under a key it could not confirm
    confirm = next(m for m in transcript if m["chi"] == "pair-confirm")
    assert "box" not in confirm
    with pytest.raises(PairingError) as err:
        _ = guest.result
    assert err.value.qualifier == "bad-code"
    # and the code is spent: the right code now gets nowhere
    retry_host = PairingHost(operator, code)
    retry = PairingGuest(code.text)
    run(retry_host, retry)
    assert retry.error is not None and retry.error.qualifier == "used-code"
    assert retry_host.issued is None


def test_expired_code(operator: OperatorKey) -> None:
    code = PairingCode.generate(T0)
    host = PairingHost(operator, code)
    guest = PairingGuest(code.text)
    run(host, guest, now=T0 + PAIRING_CODE_TTL)
    assert host.error is not None and host.error.qualifier == "expired-code"
    assert guest.error is not None and guest.error.qualifier == "expired-code"
    assert host.issued is None


def test_str_code_expires_relative_to_now(operator: OperatorKey) -> None:
    code = PairingCode.generate(T0)
    host = PairingHost(operator, code.text, now=T0 + 100)
    guest = PairingGuest(code.text)
    run(host, guest, now=T0 + 100 + PAIRING_CODE_TTL - 1)
    assert guest.done


def test_second_use_of_a_code_is_refused(operator: OperatorKey) -> None:
    code = PairingCode.generate(T0)
    first = PairingHost(operator, code)
    run(first, PairingGuest(code.text))
    assert first.done

    # another connection presenting the same code
    second = PairingHost(operator, code)
    guest = PairingGuest(code.text)
    run(second, guest)
    assert second.error is not None and second.error.qualifier == "used-code"
    assert guest.error is not None and guest.error.qualifier == "used-code"
    assert second.issued is None

    # the same session asked again
    replay = first.receive(PairingGuest(code.text).start(), T0)
    assert [m["qualifier"] for m in replay] == ["used-code"]
    assert first.done  # and the finished session is not disturbed


# Side byte plus a 32-byte encoding that is off the curve / not in the prime-order group.
_NOT_ON_CURVE = base64.b64encode(b"A" + bytes([2]) + bytes(31)).decode()
_NOT_IN_GROUP = base64.b64encode(b"B" + bytes(32)).decode()


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _other_pake(side: str) -> str:
    """A well-formed SPAKE2 message made from some other password."""
    spake = SPAKE2_A(b"another code") if side == "A" else SPAKE2_B(b"another code")
    return base64.b64encode(spake.start()).decode()


@pytest.mark.parametrize(
    ("chi", "key", "replace", "host_sees", "guest_sees"),
    [
        # a substituted SPAKE2 value or an altered confirmation looks exactly like a wrong code
        ("pair-hello", "pake", lambda v: _other_pake("A"), "bad-code", "bad-code"),
        ("pair-reply", "pake", lambda v: _other_pake("B"), "bad-code", "bad-code"),
        ("pair-reply", "confirm", _flip, "bad-code", "bad-code"),
        ("pair-confirm", "confirm", _flip, "bad-code", "bad-code"),
        # points that are not group elements are malformed, not a wrong code
        ("pair-hello", "pake", lambda v: _NOT_ON_CURVE, "bad-message", "bad-message"),
        ("pair-reply", "pake", lambda v: _NOT_IN_GROUP, "bad-message", "bad-message"),
        # an altered sealed box fails authentication
        ("pair-confirm", "box", _flip, "bad-message", "bad-message"),
        ("pair-certificate", "box", _flip, None, "bad-message"),
    ],
)
def test_tampered_message_is_rejected(
    operator: OperatorKey,
    chi: str,
    key: str,
    replace: Callable[[str], str],
    host_sees: str | None,
    guest_sees: str,
) -> None:
    def tamper(msg: dict) -> dict:
        if msg["chi"] == chi:
            msg = dict(msg, **{key: replace(msg[key])})
        return msg

    code = PairingCode.generate(T0)
    host = PairingHost(operator, code)
    guest = PairingGuest(code.text)
    run(host, guest, tamper=tamper)

    assert guest.error is not None and guest.error.qualifier == guest_sees
    with pytest.raises(PairingError):
        _ = guest.result
    if host_sees is None:
        assert host.done  # it issued, but the guest never accepted what arrived
    else:
        assert host.error is not None and host.error.qualifier == host_sees
        assert host.issued is None


@pytest.mark.parametrize(
    "msg",
    [
        "not a dict",
        {},
        {"chi": 7},
        {"chi": "pair-hello", "pairVersion": 1},
        {"chi": "pair-hello", "pairVersion": 1, "pake": "!!!"},
        {"chi": "pair-hello", "pairVersion": 1, "pake": "A" * 10_000},
        {"chi": "pair-hello", "pairVersion": 99, "pake": base64.b64encode(b"A" * 33).decode()},
        {"chi": "pair-confirm", "confirm": "AAAA"},
    ],
)
def test_malformed_first_message_spends_the_code(operator: OperatorKey, msg: Any) -> None:
    code = PairingCode.generate(T0)
    host = PairingHost(operator, code)
    replies = host.receive(msg, T0)
    assert host.error is not None and host.error.qualifier in {"bad-message", "bad-code"}
    assert [r["chi"] for r in replies] == ["pair-error"]
    if isinstance(msg, dict) and msg.get("chi") == "pair-hello":
        assert code.used


def test_slow_confirmation_times_out(operator: OperatorKey) -> None:
    code = PairingCode.generate(T0)
    host = PairingHost(operator, code)
    guest = PairingGuest(code.text)
    (reply,) = host.receive(guest.start(), T0)
    (confirm,) = guest.receive(reply)
    (answer,) = host.receive(confirm, T0 + PAIRING_CONFIRM_TIMEOUT + 1)
    assert answer["qualifier"] == "timeout"
    assert host.error is not None and host.error.qualifier == "timeout" and host.issued is None
    guest.receive(answer)
    assert guest.error is not None and guest.error.qualifier == "timeout"


def test_certificate_for_another_key_is_refused_by_guest(
    operator: OperatorKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that certifies some other key does not get its certificate adopted."""
    code = PairingCode.generate(T0)
    host = PairingHost(operator, code)
    guest = PairingGuest(code.text)
    real_certify = operator.certify
    stolen = DeviceKey.generate()
    monkeypatch.setattr(
        operator, "certify", lambda key, **kw: real_certify(stolen.public_key, **kw)
    )
    run(host, guest)
    assert host.done
    assert guest.error is not None and guest.error.qualifier == "bad-certificate"


def test_guest_api_misuse() -> None:
    guest = PairingGuest(PairingCode.generate(T0).text)
    with pytest.raises(RuntimeError):
        guest.receive({"chi": "pair-reply"})
    guest.start()
    with pytest.raises(RuntimeError):
        guest.start()
    with pytest.raises(RuntimeError):
        _ = guest.result
