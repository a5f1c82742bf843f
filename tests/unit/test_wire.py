"""Wire: tones, sigils, dusk, and NDJSON framing with its `bad-tone` verdicts (PROTOCOL.md Framing)."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hum.errors import RouteError
from hum.wire.framing import DEFAULT_MAX_LINE, BadTone, LineDecoder, encode, parse_tone
from hum.wire.tones import CHIS, SIGIL_LENGTH, Tone, is_past_dusk, sigil


def one(decoder: LineDecoder, data: bytes) -> Tone | BadTone:
    items = decoder.receive_data(data)
    assert len(items) == 1, items
    return items[0]


def bad(item: Tone | BadTone) -> BadTone:
    assert isinstance(item, BadTone), f"expected a bad-tone verdict, got {item!r}"
    return item


# -- sigil, tones, dusk ---------------------------------------------------------------


def test_sigil_matches_the_known_vector() -> None:
    # hex(sha256("claude-cli:sess-1"))[:12], computed once outside the code under test
    assert sigil("claude-cli", "sess-1") == "b924a62e37dc"
    assert sigil("local", "0f9c") == "a2c6d2ee4e08"


@given(st.text(max_size=20), st.text(max_size=40))
def test_sigil_is_the_truncated_sha256_of_nest_colon_sid(nest: str, sid: str) -> None:
    expected = hashlib.sha256(f"{nest}:{sid}".encode()).hexdigest()[:12]
    assert sigil(nest, sid) == expected
    assert len(sigil(nest, sid)) == SIGIL_LENGTH


def test_sigil_depends_on_the_nest() -> None:
    assert sigil("local", "s") != sigil("claude-cli", "s")


def test_tone_make_drops_none_fields_and_keeps_unknown_ones() -> None:
    tone = Tone.make("prompt", sigil="abc", rid=None, custom={"x": 1})
    assert tone == {"chi": "prompt", "sigil": "abc", "custom": {"x": 1}}
    assert tone.chi == "prompt"


def test_error_tone_shape() -> None:
    tone = RouteError("no-route", "nope", rid="r1").tone()
    assert tone == {
        "chi": "error",
        "code": "route-error",
        "qualifier": "no-route",
        "message": "nope",
        "rid": "r1",
    }


@pytest.mark.parametrize(
    ("dusk", "now", "past"),
    [
        (1000, 999, False),
        (1000, 1000, False),  # dusk is the last valid instant
        (1000, 1001, True),
        (1000.5, 1000.6, True),
        (None, 10**12, False),
        ("1000", 10**12, False),  # not a number: no expiry
        (True, 10**12, False),  # a bool is not a time
    ],
)
def test_dusk_expiry(dusk: object, now: float, past: bool) -> None:
    tone = Tone.make("prompt", dusk=dusk)
    assert is_past_dusk(tone, now) is past


# -- parse_tone: one line -------------------------------------------------------------


def test_valid_tone_is_parsed_with_unknown_fields_preserved() -> None:
    tone = parse_tone(b'{"chi":"prompt","rid":"r","text":"hi","ext":{"k":1},"weird":[1,2]}')
    assert isinstance(tone, Tone)
    assert tone == {"chi": "prompt", "rid": "r", "text": "hi", "ext": {"k": 1}, "weird": [1, 2]}


def test_every_registered_chi_parses() -> None:
    for chi in CHIS:
        assert isinstance(parse_tone(json.dumps({"chi": chi})), Tone)


@pytest.mark.parametrize(
    ("line", "qualifier", "rid"),
    [
        (b"not json at all", "not-json", None),
        (b'{"chi":"hello"', "not-json", None),
        (b"[1,2,3]", "not-object", None),
        (b'"chi"', "not-object", None),
        (b"42", "not-object", None),
        (b"null", "not-object", None),
        (b'{"rid":"r7"}', "no-chi", "r7"),
        (b'{"chi":5,"rid":"r8"}', "no-chi", "r8"),
        (b'{"chi":null}', "no-chi", None),
        (b'{"chi":["hello"],"rid":9}', "no-chi", 9),
        (b'{"chi":"sing","rid":"r9"}', "unknown-chi", "r9"),
        (b'{"chi":"HELLO"}', "unknown-chi", None),
        (b'{"chi":"hello","x":"\xff\xfe"}', "not-utf8", None),
        (b"\xc3\x28", "not-utf8", None),
    ],
)
def test_malformed_lines_get_the_right_qualifier(line: bytes, qualifier: str, rid: object) -> None:
    verdict = bad(parse_tone(line))
    assert verdict.qualifier == qualifier
    assert verdict.rid == rid
    reply = verdict.tone()
    assert reply["chi"] == "error"
    assert reply["code"] == "bad-tone"
    assert reply["qualifier"] == qualifier
    assert isinstance(reply["message"], str) and reply["message"]
    if rid is None:
        assert "rid" not in reply
    else:
        assert reply["rid"] == rid


def test_bad_tone_reply_is_itself_a_valid_tone_on_the_wire() -> None:
    reply = bad(parse_tone(b'{"chi":"nope","rid":"x"}')).tone()
    back = LineDecoder().receive_data(encode(reply))
    assert back == [reply]


@pytest.mark.parametrize(
    "line",
    [
        '{"chi":"hello"}'.encode("utf-16"),  # with a BOM
        '{"chi":"hello"}'.encode("utf-32"),
    ],
    ids=["utf-16", "utf-32"],
)
def test_a_line_in_another_unicode_encoding_is_not_a_tone(line: bytes) -> None:
    # "One UTF-8 JSON object per line": a UTF-16/32 line must be refused, not guessed at.
    verdict = bad(parse_tone(line))
    assert verdict.qualifier in ("not-utf8", "not-json")


def test_deeply_nested_json_is_a_bad_tone_not_a_crash() -> None:
    # Well inside the 1 MiB limit; the connection must stay open (bad-tone), not
    # have the decoder raise RecursionError out of receive_data.
    decoder = LineDecoder()
    items = decoder.receive_data(b"[" * 100_000 + b"\n" + b'{"chi":"hello","rid":"after"}\n')
    assert len(items) == 2
    assert bad(items[0]).qualifier == "not-json"
    assert items[1] == {"chi": "hello", "rid": "after"}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_constants_are_refused(constant: str) -> None:
    # NaN/Infinity are not JSON; accepting them lets one nestler push a petal that
    # JSON.parse in every other (JS) nestler rejects, since unknown fields are forwarded.
    verdict = bad(parse_tone(f'{{"chi":"prompt","rid":"r","temperature":{constant}}}'))
    assert verdict.qualifier == "not-json"
    assert verdict.rid is None or verdict.rid == "r"


# -- LineDecoder: a stream of lines ---------------------------------------------------


def test_tones_split_across_chunk_boundaries_reassemble() -> None:
    data = encode({"chi": "prompt", "text": "héllo wörld ✓"}) + encode({"chi": "finish"})
    for cut in range(1, len(data)):
        decoder = LineDecoder()
        got = decoder.receive_data(data[:cut]) + decoder.receive_data(data[cut:])
        assert got == [{"chi": "prompt", "text": "héllo wörld ✓"}, {"chi": "finish"}], cut


def test_byte_at_a_time_delivery() -> None:
    data = encode({"chi": "chunk", "delta": "→ ünïcode"}) + encode({"chi": "hello"})
    decoder = LineDecoder()
    got = []
    for i in range(len(data)):
        got += decoder.receive_data(data[i : i + 1])
    assert got == [{"chi": "chunk", "delta": "→ ünïcode"}, {"chi": "hello"}]


def test_many_tones_in_one_chunk_keep_their_order() -> None:
    tones = [{"chi": "chunk", "wane": i} for i in range(50)]
    data = b"".join(encode(t) for t in tones)
    assert LineDecoder().receive_data(data) == tones


def test_blank_lines_are_skipped_silently() -> None:
    data = b'\n\n   \n\t\r\n{"chi":"hello"}\n\n{"chi":"finish"}\r\n\n'
    assert LineDecoder().receive_data(data) == [{"chi": "hello"}, {"chi": "finish"}]


def test_partial_line_is_held_until_its_newline() -> None:
    decoder = LineDecoder()
    assert decoder.receive_data(b'{"chi":"hel') == []
    assert decoder.receive_data(b'lo"}') == []
    assert decoder.receive_data(b"\n") == [{"chi": "hello"}]


def test_bad_line_in_the_middle_does_not_disturb_its_neighbours() -> None:
    data = b'{"chi":"hello"}\nnope\n{"chi":"x","rid":1}\n[]\n{"chi":"finish"}\n'
    items = LineDecoder().receive_data(data)
    assert items[0] == {"chi": "hello"}
    assert bad(items[1]).qualifier == "not-json"
    assert bad(items[2]).qualifier == "unknown-chi" and items[2].rid == 1
    assert bad(items[3]).qualifier == "not-object"
    assert items[4] == {"chi": "finish"}


def test_default_max_line_is_one_mebibyte() -> None:
    assert DEFAULT_MAX_LINE == 1024 * 1024
    assert LineDecoder().max_line == DEFAULT_MAX_LINE


def _line_of(size: int) -> bytes:
    """A valid tone of exactly `size` bytes, without its newline."""
    head = b'{"chi":"prompt","text":"'
    tail = b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def test_line_at_the_limit_is_accepted_and_one_byte_over_is_too_long() -> None:
    decoder = LineDecoder(max_line=100)
    assert isinstance(one(decoder, _line_of(100) + b"\n"), Tone)
    assert bad(one(decoder, _line_of(101) + b"\n")).qualifier == "too-long"
    # and the stream carries on
    assert one(decoder, b'{"chi":"hello"}\n') == {"chi": "hello"}


def test_over_long_line_in_one_chunk_then_next_line_is_parsed() -> None:
    decoder = LineDecoder(max_line=64)
    items = decoder.receive_data(_line_of(500) + b'\n{"chi":"hello","rid":"next"}\n')
    assert len(items) == 2
    assert bad(items[0]).qualifier == "too-long"
    assert items[1] == {"chi": "hello", "rid": "next"}


def test_over_long_line_across_many_receive_data_calls_gives_one_verdict() -> None:
    decoder = LineDecoder(max_line=64)
    verdicts: list[Tone | BadTone] = []
    verdicts += decoder.receive_data(b'{"chi":"prompt","text":"')
    for _ in range(200):  # 200 * 50 bytes, never a newline
        verdicts += decoder.receive_data(b"x" * 50)
    assert [bad(v).qualifier for v in verdicts] == ["too-long"]
    # the tail of the long line, its newline and the next line in one chunk
    rest = decoder.receive_data(b'xxxx"}\n{"chi":"finish","rid":"r2"}\n')
    assert rest == [{"chi": "finish", "rid": "r2"}]
    # memory is not held for the discarded line
    assert len(decoder._buffer) == 0


def test_over_long_line_whose_newline_arrives_in_a_later_small_chunk() -> None:
    decoder = LineDecoder(max_line=16)
    assert [bad(v).qualifier for v in decoder.receive_data(b"y" * 17)] == ["too-long"]
    assert decoder.receive_data(b"yy") == []
    assert decoder.receive_data(b"\n") == []  # the end of the refused line: no second verdict
    assert decoder.receive_data(b'{"chi":"hello"}\n') == [{"chi": "hello"}]


def test_over_long_line_exactly_filling_the_buffer_before_its_newline() -> None:
    # the buffer holds max_line bytes (not yet over) and the newline comes next
    decoder = LineDecoder(max_line=20)
    assert decoder.receive_data(b"z" * 20) == []
    items = decoder.receive_data(b"z\n" + b'{"chi":"hello"}\n')
    assert bad(items[0]).qualifier == "too-long"
    assert items[1:] == [{"chi": "hello"}]


def test_invalid_utf8_line_in_a_stream() -> None:
    decoder = LineDecoder()
    items = decoder.receive_data(b'{"chi":"prompt","text":"\xff"}\n{"chi":"hello"}\n')
    assert bad(items[0]).qualifier == "not-utf8"
    assert items[1] == {"chi": "hello"}


def test_multibyte_character_split_across_chunks() -> None:
    data = encode({"chi": "chunk", "delta": "€"})
    cut = data.index("€".encode()) + 1  # in the middle of the 3-byte sequence
    decoder = LineDecoder()
    assert decoder.receive_data(data[:cut]) == []
    assert decoder.receive_data(data[cut:]) == [{"chi": "chunk", "delta": "€"}]


@settings(max_examples=150, deadline=None)
@given(
    tones=st.lists(
        st.fixed_dictionaries(
            {"chi": st.sampled_from(sorted(CHIS)), "text": st.text(max_size=30)},
            optional={"rid": st.text(max_size=8), "wane": st.integers(0, 10**6)},
        ),
        max_size=12,
    ),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
)
def test_any_chunking_of_a_tone_stream_gives_the_same_tones(
    tones: list[dict[str, object]], cuts: list[int]
) -> None:
    data = b"".join(encode(t) for t in tones)
    points = sorted({c % (len(data) + 1) for c in cuts})
    decoder = LineDecoder()
    got: list[Tone | BadTone] = []
    prev = 0
    for p in [*points, len(data)]:
        got += decoder.receive_data(data[prev:p])
        prev = p
    assert got == tones


def test_encode_is_one_compact_utf8_line() -> None:
    data = encode({"chi": "chunk", "delta": "ä\nb"})
    assert data.endswith(b"\n") and data.count(b"\n") == 1  # the inner newline is escaped
    assert "ä".encode() in data
    assert json.loads(data) == {"chi": "chunk", "delta": "ä\nb"}
