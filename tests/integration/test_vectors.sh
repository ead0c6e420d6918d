#!/bin/sh
# Checks tests/vectors/events.txt with the independent Python verifier, which
# knows only docs/PROTOCOL.md: it proves the document is enough to implement.
exec python3 tests/vectors/verify_vectors.py
