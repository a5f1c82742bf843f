"""Trust: who is a sibling. Certificates, device and operator keys, TLS contexts, pairing."""
