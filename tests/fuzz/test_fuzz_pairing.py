"""Fuzz the pairing exchange: the host and guest state machines, and the desk that reads them off the network."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from fuzz_helpers import budget, json_values, maybe, raw_lines, shaped
from hypothesis import given
from hypothesis import strategies as st

from hum.daemon.pairing import PairingDesk, PairingTicket
from hum.ensemble.trust.keys import OperatorKey
from hum.ensemble.trust.pairing import QUALIFIERS, PairingGuest, PairingHost
from hum.ensemble.trust.pairing_code import PairingCode

# The desk answers within a step; a silent desk is a hang.
ANSWER_TIMEOUT = 10.0
REPLY_CHIS = {"pair-reply", "pair-certificate", "pair-error"}


def b64(size: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=size, max_size=size).map(lambda b: base64.b64encode(b).decode())


messages = st.builds(
    lambda chi, body: {"chi": chi, **body},
    maybe(st.sampled_from(["pair-hello", "pair-reply", "pair-confirm", "pair-certificate", "pair-error"])),
    shaped({
        "pairVersion": st.sampled_from([1, 2, "1", None]),
        "pake": b64(33) | b64(32) | st.text(max_size=50),
        "confirm": b64(32) | st.text(max_size=50),
        "box": b64(80) | st.text(max_size=50),
        "qualifier": st.sampled_from(sorted(QUALIFIERS)) | st.text(max_size=20),
        "message": st.text(max_size=300),
    }),
) | json_values()


@pytest.fixture(scope="module")
def operator() -> OperatorKey:
    return OperatorKey.generate()


def check_replies(replies: list[object]) -> None:
    for reply in replies:
        assert isinstance(reply, dict) and reply["chi"] in REPLY_CHIS, reply
        json.dumps(reply)  # it can go on the wire
        if reply["chi"] == "pair-error":
            assert reply["qualifier"] in QUALIFIERS, reply


@budget(300)
@given(st.lists(messages, min_size=1, max_size=4))
def test_the_host_answers_any_message_sequence_in_its_vocabulary(operator, sequence):
    now = time.time()
    code = PairingCode.generate(now)
    host = PairingHost(operator, code)
    for msg in sequence:
        check_replies(host.receive(msg, now))  # type: ignore[arg-type]
    assert host.issued is None  # nobody without the code gets a certificate


@budget(300)
@given(st.lists(messages, min_size=1, max_size=4))
def test_the_guest_answers_any_message_sequence_in_its_vocabulary(sequence):
    guest = PairingGuest("ABCD-1234")
    guest.start()
    for msg in sequence:
        for reply in guest.receive(msg):  # type: ignore[arg-type]
            assert reply["chi"] in ("pair-confirm", "pair-error"), reply
    assert not guest.done


lines = st.one_of(
    messages.map(lambda m: json.dumps(m).encode()),
    raw_lines,
    st.integers(1, 3000).map(lambda n: b"[" * n),
)


async def desk_conversation(operator: OperatorKey, payload: bytes) -> tuple[list[dict], PairingTicket]:
    """A desk with a code open serving one connection on loopback TCP; every line it sent, and its ticket."""
    desk = PairingDesk(operator)
    ticket = desk.open()
    served: list[asyncio.Task[None]] = []

    async def on_guest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await desk.serve(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_guest, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(payload)
        writer.write_eof()  # nothing more is coming: the desk must not wait for it
        raw = await asyncio.wait_for(reader.read(), ANSWER_TIMEOUT)
        writer.close()
        await asyncio.wait_for(asyncio.gather(*served), ANSWER_TIMEOUT)  # and it ended without raising
    finally:
        server.close()
    return [json.loads(line) for line in raw.splitlines()], ticket


def _guest_gave_up(line: bytes) -> bool:
    try:
        msg = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(msg, dict) and msg.get("chi") == "pair-error"


@budget(150)
@given(st.lists(lines, min_size=1, max_size=3))
def test_the_desk_answers_every_connection_in_words(operator, items):
    replies, ticket = asyncio.run(desk_conversation(operator, b"".join(line + b"\n" for line in items)))
    if not _guest_gave_up(items[0]):  # a guest that opens with pair-error has said the last word
        assert replies, "the desk hung up without a word"
    check_replies(replies)
    if ticket.code.used:  # a spent code has an outcome the operator can see
        assert ticket.done.done()
