"""An intruder for the identity-mismatch stories: speaks the link handshake by hand to forge an identity."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hum.ensemble.link.protocol import NONCE_BYTES, proof_payload
from hum.ensemble.trust.keys import DeviceKey
from hum.wire.framing import LineDecoder, encode
from hum.wire.tones import Tone

# Quiet this long and the target has said all it will say.
QUIET_AFTER = 5.0


async def intrude(
    read: Callable[[], Awaitable[bytes]],
    write: Callable[[bytes], None],
    *,
    cert_pem: bytes,
    claimed: str,
    signer: DeviceKey,
    target: str,
    sigil: str,
    then: Sequence[dict[str, Any]] = (),
) -> list[Tone]:
    """Handshake as `claimed` with `cert_pem`, prove with `signer`, try to attach to `sigil` (and send `then`); every tone heard."""
    decoder = LineDecoder()
    heard: list[Tone] = []
    nonce = bytes(NONCE_BYTES)
    write(encode({"chi": "link-hello", "from": claimed, "cert": cert_pem.decode(), "nonce": nonce.hex(), "protoVersion": 1}))
    proof_sent = False
    while True:
        try:
            data = await asyncio.wait_for(read(), QUIET_AFTER)
        except (TimeoutError, ConnectionError, OSError):
            return heard
        if not data:
            return heard
        for tone in decoder.receive_data(data):
            if not isinstance(tone, Tone):
                continue
            heard.append(tone)
            if tone.chi == "link-hello" and not proof_sent:
                proof = signer.sign(proof_payload(nonce, bytes.fromhex(tone["nonce"]), claimed, target))
                write(encode({"chi": "link-proof", "from": claimed, "signature": proof.hex()}))
                write(encode({"chi": "attach", "from": claimed, "to": target, "sigil": sigil, "since": 0, "rid": "intruder"}))
                for tone in then:
                    write(encode({**tone, "from": claimed, "to": target}))
                proof_sent = True
