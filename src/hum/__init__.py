"""hum: one conversation that follows you across your devices."""
