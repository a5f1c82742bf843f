"""Durable storage of hums and petals."""
