"""The hum core: petals, wane, taps, the hum log and the drone (no I/O)."""
