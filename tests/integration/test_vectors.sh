#!/bin/sh
# Checks tests/vectors/events.txt and tests/vectors/rules.txt with the independent
# Python verifier and replayer, which know only docs/PROTOCOL.md: they prove the
# document is enough to implement.
python3 tests/vectors/verify_vectors.py || exit 1
exec python3 tests/vectors/replay_rules.py
