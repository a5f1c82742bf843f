"""The wire: tones, the chi registry and NDJSON framing (no I/O)."""
