"""Intruders for the identity-mismatch stories: one speaks the link handshake by hand to forge an identity;
over real TLS, a device of another operator tries too."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from hum.daemon.home import OPERATOR_KEY_FILE
from hum.demo.reach import Reach
from hum.ensemble.link.protocol import NONCE_BYTES, proof_payload
from hum.ensemble.trust.identity import Identity
from hum.ensemble.trust.keys import DeviceKey, OperatorKey
from hum.ensemble.trust.siblings import SiblingCheck
from hum.ensemble.trust.tls import client_context
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


async def _read_tones(reader: asyncio.StreamReader, quiet_after: float) -> list[Tone]:
    """Every tone until the other side closes (or goes quiet for a step)."""
    decoder = LineDecoder()
    tones: list[Tone] = []
    while True:
        try:
            data = await asyncio.wait_for(reader.read(65536), quiet_after)
        except (TimeoutError, ConnectionError, ssl.SSLError):
            return tones
        if not data:
            return tones
        tones += [t for t in decoder.receive_data(data) if isinstance(t, Tone)]


async def intrude_over_tls(
    info: dict[str, Any], home: Path, sigil: str, reach: Reach | None = None, *, quiet_after: float
) -> dict[str, str]:
    """Two strangers dial a real humd (its runtime `info`, its `home`) as a sibling would (its port, iroh
    ticket or relay door) over real TLS; what did each get? A stranger quiet for `quiet_after` s has heard all."""
    reach = reach or Reach("tcp")
    result: dict[str, str] = {}
    # a device of another operator: TLS itself refuses its certificate
    stranger = Identity.mint(OperatorKey.generate(), "stranger")
    context = client_context(stranger, SiblingCheck(stranger.operator))
    try:
        reader, writer = await reach.open_tls(info, context, stranger)
        tones = await _read_tones(reader, quiet_after)
        writer.close()
        result["foreign_operator"] = "tls-refused" if not tones else f"heard {len(tones)} tones"
    except (ssl.SSLError, ConnectionError):
        result["foreign_operator"] = "tls-refused"
    # a real sibling certificate whose holder claims to be another humd inside the link
    operator = OperatorKey.from_private_pem((home / OPERATOR_KEY_FILE).read_bytes())
    liar = Identity.mint(operator, "liar")
    claimed = Identity.mint(operator, "victim").humd_id
    reader, writer = await reach.open_tls(info, client_context(liar, SiblingCheck(liar.operator)), liar)
    tones = await intrude(
        lambda: reader.read(65536), writer.write,
        cert_pem=liar.certificate.pem(), claimed=claimed, signer=liar.device_key, target=info["humdId"], sigil=sigil,
    )
    writer.close()
    refusals = [i for i, t in enumerate(tones) if t.chi == "error"]
    after = tones[refusals[0] + 1 :] if refusals else tones
    leaked = [t for t in tones if t.get("sigil") == sigil]
    if refusals and tones[refusals[0]].get("qualifier") == "identity-mismatch" and not after and not leaked:
        result["forged_humd_id"] = "identity-mismatch, then nothing"
    else:
        result["forged_humd_id"] = f"heard {[t.chi for t in tones]}"
    return result
