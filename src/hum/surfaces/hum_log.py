"""A hum's log as a surface reads it whole: through a tap, from where it attached up to the tip its `hello` names."""

from __future__ import annotations

from hum.surfaces.http import FIRST_TONE_SECONDS, HumTap, SurfaceError, tone_error
from hum.wire.tones import Tone, is_petal


async def read_log(tap: HumTap, since: int = 0, limit: int | None = None) -> tuple[list[Tone], int]:
    """The petals after `since` of the hum `tap` is attached to (from `since`), up to its tip or
    `limit` petals, and the tip its home named; an error the home sent, or its silence, is raised."""
    tip: int | None = None
    petals: list[Tone] = []
    while tip is None or (since + len(petals) < tip and (limit is None or len(petals) < limit)):
        tone = await tap.next(FIRST_TONE_SECONDS)
        if tone is None:
            raise SurfaceError(504, "the hum's home did not answer in time", code="timeout")
        if tone.chi == "hello":
            tip = int(tone.get("wane") or 0)
        elif tone.chi == "error" and not is_petal(tone):
            raise tone_error(tone)
        elif is_petal(tone):
            petals.append(tone)
    return petals, tip
