"""The in-memory sim: the same Humd core on a virtual clock and an in-memory network."""
