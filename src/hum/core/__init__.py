"""The hum core: petals, wane, taps, the hum engine and the drone (no I/O)."""

from hum.core.bloom import Bloom
from hum.core.drone import Drone, Verdict
from hum.core.hum import Hum, HumError
from hum.core.petal import Petal
from hum.core.tap import Tap
from hum.core.wane import WaneTracker

__all__ = ["Bloom", "Drone", "Hum", "HumError", "Petal", "Tap", "Verdict", "WaneTracker"]
