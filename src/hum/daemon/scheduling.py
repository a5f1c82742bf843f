"""A short scheduler slice for humd: a petal is written to every tap before a reader it woke takes the CPU.

Each tap's write wakes its reader. On Linux (EEVDF, 6.12 and later) a woken
reader with the default slice often takes the CPU from the humd at once, so a
fan-out to 100 taps was cut by 7 to 13 such switches a chunk (the humd's
involuntary context switches, `hum bench`'s `fanout_home_preempted_per_chunk`),
and at one tap the second tap's write waited ~0.1 ms at p50 behind the first
tap's reader, and a full scheduler tick (4 ms at HZ=250) when other work held
the other core. A fair task may ask for a shorter slice (`sched_attr.sched_runtime`,
no privilege needed): it then wakes ahead of tasks with longer ones and is not
preempted by them mid-burst. It changes no one's share of the CPU, only who
runs first. A kernel before 6.12 ignores the request; elsewhere than Linux
nothing is asked.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import struct
import sys

log = logging.getLogger(__name__)

# The slice asked for, in microseconds (`HUM_SLICE_US`, 0: the kernel's default). 100 us is the
# shortest the kernel grants; a humd's burst per upstream read (read, commit, a write per tap)
# is about that long for a few taps, so it mostly ends before the slice does.
DEFAULT_SLICE_US = 100
# `sched_setattr`'s number where Linux gives it one (the generic table's on arm64 and riscv64).
_SYSCALL = {"x86_64": 314, "aarch64": 274, "riscv64": 274, "i686": 351, "armv7l": 380}
_SCHED_OTHER = 0
_ATTR_SIZE = 56  # SCHED_ATTR_SIZE_VER1: size, policy, flags, nice, priority, runtime, deadline, period, util min/max


def slice_us(environ: dict[str, str] | os._Environ[str]) -> int:
    """The slice `HUM_SLICE_US` asks for (0 keeps the kernel's); ValueError names a bad value."""
    raw = environ.get("HUM_SLICE_US", "").strip()
    if not raw:
        return DEFAULT_SLICE_US
    if not raw.isdigit() or (0 < int(raw) < 100) or int(raw) > 100_000:
        raise ValueError(f"HUM_SLICE_US={raw!r}: expected 0 (the kernel's slice) or 100 to 100000 microseconds")
    return int(raw)


def ask_short_slice(us: int) -> bool:
    """Ask the kernel for a `us`-microsecond slice for this thread and those it starts; True if granted."""
    number = _SYSCALL.get(platform.machine())
    if us <= 0 or not sys.platform.startswith("linux") or number is None:
        return False
    attr = ctypes.create_string_buffer(struct.pack("IIQiIQQQII", _ATTR_SIZE, _SCHED_OTHER, 0, os.nice(0), 0, us * 1000, 0, 0, 0, 0), _ATTR_SIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, 0, attr, 0) != 0:
        log.info("the kernel keeps its own scheduler slice (sched_setattr: %s)", os.strerror(ctypes.get_errno()))
        return False
    return True
