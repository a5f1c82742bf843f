"""The node: one device's hums, taps and links. `router` decides (no I/O); `humd` carries it out."""
