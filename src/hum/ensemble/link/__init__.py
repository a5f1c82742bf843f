"""The link protocol: one authenticated humd-to-humd connection, sans I/O."""
