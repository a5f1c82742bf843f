"""Blooms read off a log: what the operator sees as turns."""

from hum.core.bloom import blooms
from hum.core.hum import Hum
from hum.core.wane import WaneTracker


def test_a_log_reads_as_its_turns_with_the_open_one_last():
    hum = Hum("s", "sid", "local", "home", WaneTracker())
    hum.append("prompt", dict(text="one"))
    hum.append("chunk", dict(chunkType="text_delta", delta="Hel"))
    hum.append("chunk", dict(chunkType="note", delta="[trimmed]"))
    hum.append("chunk", dict(chunkType="text_delta", delta="lo"))
    hum.append("finish", dict(finishReason="stop", usage={"input_tokens": 1, "output_tokens": 2}))
    hum.append("prompt", dict(text="two"))
    hum.append("error", dict(code="worker-error", qualifier="worker-crash", message="boom"))
    hum.append("prompt", dict(text="three"))
    hum.append("chunk", dict(chunkType="text_delta", delta="so far"))

    turns = list(blooms(hum.petals))
    assert [b.prompt.body["text"] for b in turns] == ["one", "two", "three"]
    assert [b.text for b in turns] == ["Hello", "", "so far"]  # a note is not the answer
    assert [b.close.chi if b.close else None for b in turns] == ["finish", "error", None]
    assert [b.is_open for b in turns] == [False, False, True]
    assert hum.transcript() == [
        ("user", "one"), ("assistant", "Hello"), ("user", "two"), ("user", "three"), ("assistant", "so far")
    ]
