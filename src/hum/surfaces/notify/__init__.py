"""Notifications: what deserves one (policy), what is kept (book), how it is sent (delivery), and the shell (notifier)."""
