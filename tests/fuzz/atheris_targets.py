"""Coverage-guided fuzzing (atheris, libFuzzer) of the pure parsers; `make fuzz` runs each.

    python tests/fuzz/atheris_targets.py framing|pairing|openai -runs=100000

Each target turns bytes into the input its parser reads off the wire and
checks what the hypothesis targets check: a verdict, never an exception.
atheris is not a dependency of hum; `make fuzz` installs it when it can.
"""

from __future__ import annotations

import sys
import time

import atheris

with atheris.instrument_imports(include=["hum"]):
    from hum.ensemble.trust.keys import OperatorKey
    from hum.ensemble.trust.pairing import QUALIFIERS, PairingGuest, PairingHost
    from hum.ensemble.trust.pairing_code import PairingCode
    from hum.surfaces.http import SurfaceError
    from hum.surfaces.openai_shapes import check_messages, check_tools
    from hum.wire.framing import BadTone, LineDecoder

# Small, so libFuzzer reaches the over-long path as well as real tones.
MAX_LINE = 512
OPERATOR = OperatorKey.generate()


# Keys and words the parsers look for: libFuzzer cannot see inside json.loads
# (C code), so values are built from the bytes directly, with these in reach.
WORDS = [
    "messages", "role", "content", "tool_calls", "tool_call_id", "function", "name", "arguments", "id",
    "type", "tools", "parameters", "description", "text", "user", "assistant", "tool", "system",
    "chi", "pake", "confirm", "box", "qualifier", "pairVersion", "message",
    "pair-hello", "pair-reply", "pair-confirm", "pair-certificate", "pair-error", "bad-code",
]


def _value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> object:
    kind = fdp.ConsumeIntInRange(0, 8 if depth < 4 else 4)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(4)
    if kind == 3:
        return WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)]
    if kind == 4:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40))
    if kind in (5, 6):
        return {str(_value(fdp, 99)): _value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 5))}
    return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]


def _json(data: bytes) -> object:
    return _value(atheris.FuzzedDataProvider(data))


def framing(data: bytes) -> None:
    split = data[0] % (len(data) + 1) if data else 0
    whole = LineDecoder(MAX_LINE).receive_data(data + b"\n")
    decoder = LineDecoder(MAX_LINE)
    cut = decoder.receive_data(data[:split]) + decoder.receive_data(data[split:] + b"\n")
    if whole != cut:
        raise AssertionError("where the stream was cut changed the verdicts")
    for verdict in whole:
        if isinstance(verdict, BadTone):
            verdict.tone()


def pairing(data: bytes) -> None:
    messages = _json(data)
    if not isinstance(messages, list):
        messages = [messages]
    now = time.time()
    host = PairingHost(OPERATOR, PairingCode.generate(now))
    guest = PairingGuest("ABCD-1234")
    guest.start()
    for msg in messages[:4]:
        for reply in host.receive(msg, now) + guest.receive(msg):  # type: ignore[arg-type]
            if reply["chi"] == "pair-error" and reply["qualifier"] not in QUALIFIERS:
                raise AssertionError(f"qualifier outside the vocabulary: {reply}")
    if host.issued is not None:
        raise AssertionError("a certificate without the code")


def openai(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    body = {"messages": _value(fdp, 1), "tools": _value(fdp, 1)}
    try:
        check_messages(body)
        check_tools(body)
    except SurfaceError as exc:
        if exc.status != 400 or not exc.param:
            raise


TARGETS = {"framing": framing, "pairing": pairing, "openai": openai}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(TARGETS)} [libFuzzer options]")
    target = TARGETS[sys.argv.pop(1)]
    # also this file's own input builders: their branches are what lead libFuzzer to deeper shapes
    atheris.instrument_all()
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
