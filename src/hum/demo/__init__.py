"""Demos and their harnesses: the roam story in the sim and with real processes (not part of humd)."""
