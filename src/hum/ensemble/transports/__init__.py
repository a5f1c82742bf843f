"""Transports: how bytes cross between humds (TLS over TCP, iroh, a transit relay, the sim's memory)."""
