"""A replica's `petals` frame in the store: one change, kept whole or not at all, replayed as its home sent it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec

from hum.core.hum import Hum
from hum.core.petal import Petal, mirrored_petal
from hum.core.wane import WaneTracker
from hum.ensemble.link.envelope import petal_link_form
from hum.store.sqlite import SqliteStore
from hum.wire.tones import sigil

HOME = "b" * 64
SG = sigil("local", "frames")

# The frames the writer below commits: their sizes differ, so a tip between two boundaries
# would show a frame cut in two.
FRAME_SIZES = [40 + 13 * (k % 7) for k in range(400)]
BOUNDARIES = {sum(FRAME_SIZES[:k]) for k in range(len(FRAME_SIZES) + 1)}

# A process that mirrors frames from a home's lines into its store, one commit a frame, and says
# each tip it committed; the test kills it with SIGKILL while it writes.
WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import msgspec
    from hum.core.hum import Hum
    from hum.core.petal import Petal, mirrored_petal
    from hum.core.wane import WaneTracker
    from hum.store.sqlite import SqliteStore

    path, sg, home, sizes = Path(sys.argv[1]), sys.argv[2], sys.argv[3], [int(s) for s in sys.argv[4].split(",")]
    store = SqliteStore(path)
    replica = Hum(sg, "frames", "local", home, WaneTracker(), archive=store)
    store.save_hum(replica)
    store.flush()
    wane = 0
    for size in sizes:
        run = []
        for _ in range(size):
            wane += 1
            chi = "prompt" if wane == 1 else "chunk"
            line = Petal(sg, wane, chi, {"text": "go"} if wane == 1 else {"delta": f"w{wane} "}).line("frames")
            petal = mirrored_petal(sg, msgspec.Raw(line[:-1]))
            replica.receive(petal)
            run.append((petal, None))
        store.append_run(replica, run)
        store.flush()
        print(wane, flush=True)
    """
)


def frame_of(petals: list[Petal], sid: str) -> list[msgspec.Raw]:
    """The home's petals as a `petals` frame carries them: each its line in the link's form, as bytes."""
    return [msgspec.Raw(petal_link_form(p.line(sid))[1].rstrip(b"\n")) for p in petals]


def home_log() -> list[Petal]:
    """A home's log: two blooms, with bodies that are empty, not ASCII, or could shadow the head."""
    home = Hum(SG, "frames", "local", HOME, WaneTracker())
    home.append("prompt", {"text": 'say "wane": 3', "from": "me"})
    for i in range(300):
        home.append("chunk", {"chunkType": "text_delta", "delta": f"{i} é😀"} if i % 50 else {"delta": "x", "sid": "no"})
    home.append("finish", {})
    home.append("prompt", {"text": "again", "system": "brief"})
    home.append("chunk", {"delta": "ok"})
    home.append("finish", {"finishReason": "stop"})
    return home.petals


def mirror(replica: Hum, store: SqliteStore, frame: list[msgspec.Raw]) -> None:
    """What `Replicas.mirror` does with a frame: each petal cut from its bytes, the run stored as one change."""
    run = []
    for item in frame:
        petal = mirrored_petal(SG, item)
        if replica.receive(petal):
            run.append((petal, replica.transcript_key if petal.closes_bloom else None))
    store.append_run(replica, run)


def test_a_frame_is_kept_whole_or_not_at_all_when_its_process_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "phone.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [str(path), SG, HOME, ",".join(map(str, FRAME_SIZES))]
    writer = subprocess.Popen([sys.executable, "-c", WRITER, *args], stdout=subprocess.PIPE, text=True, env=env)
    try:
        said = [int(writer.stdout.readline()) for _ in range(5)]  # five frames committed: it is writing
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
    (hum,) = SqliteStore(path).load(WaneTracker())
    assert hum.tip in BOUNDARIES  # never part of a frame
    assert hum.tip >= said[-1]  # nothing it said was committed was lost
    wanes = [json.loads(line)["wane"] for line in SqliteStore(path).lines(SG, "frames", 0, hum.tip)]
    assert wanes == list(range(1, hum.tip + 1))


def test_a_replica_replays_after_a_restart_exactly_the_lines_its_home_sent(tmp_path: Path) -> None:
    petals = home_log()
    store = SqliteStore(tmp_path / "phone.db")
    replica = Hum(SG, "frames", "local", HOME, WaneTracker(), archive=store)
    store.save_hum(replica)
    for start in range(0, len(petals), 64):  # frames as a home sends them, one commit for them all
        mirror(replica, store, frame_of(petals[start : start + 64], "frames"))
    [(_, durable)] = store.flush().durable
    assert durable == len(petals)
    held = replica.petals  # as the replica holds them in memory (a body key the head shadows never travels)
    store.close()

    again = SqliteStore(tmp_path / "phone.db")
    (hum,) = again.load(WaneTracker())
    assert again.lines(SG, "frames", 0, hum.tip) == [p.line("frames") for p in petals]  # byte for byte
    assert again.petals(SG, 0, hum.tip) == held
    home = Hum(SG, "frames", "local", HOME, WaneTracker(), petals)
    assert (hum.tip, hum.last_prompt, hum.bloom_open) == (len(petals), home.last_prompt, False)
    assert hum.transcript_key == home.transcript_key  # kept with the frame's closing petal


def test_a_frame_mirrored_twice_adds_nothing_to_the_store(tmp_path: Path) -> None:
    petals = home_log()[:40]
    store = SqliteStore(tmp_path / "phone.db")
    replica = Hum(SG, "frames", "local", HOME, WaneTracker(), archive=store)
    store.save_hum(replica)
    mirror(replica, store, frame_of(petals, "frames"))
    mirror(replica, store, frame_of(petals, "frames"))  # the home sent it again (a re-attach)
    assert [wane for _, wane in store.flush().durable] == [40]
    assert [p.line("frames") for p in store.petals(SG, 0, 100)] == [p.line("frames") for p in petals]
