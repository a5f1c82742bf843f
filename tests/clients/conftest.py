"""Fixtures for the real-client tests: in-process humds served on loopback, and the npm clients."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "surfaces"))
sys.path.insert(0, str(Path(__file__).parent.parent / "daemon"))  # real `hum up` processes

from surface_helpers import local_laptop, served, sim  # noqa: E402, F401 - fixtures
