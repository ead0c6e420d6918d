#!/bin/sh
# Checks tests/vectors/events.txt, tests/vectors/rules.txt and tests/vectors/spaces.txt
# with the independent Python verifier, replayer and space checker, which know only
# docs/PROTOCOL.md: they prove the document is enough to implement.
python3 tests/vectors/verify_vectors.py || exit 1
python3 tests/vectors/verify_spaces.py || exit 1
exec python3 tests/vectors/replay_rules.py
