"""How long a failed login takes for a handle that exists (an argon2id run
opens nothing) and for one that does not (no KDF: acct_kdf_pause waits for a
slot and sleeps about a KDF's time): the two should not tell which handles
exist. One node on loopback, sequential attempts, each handle tried fewer
times than the per-account limit allows.

    make && python3 tests/bench/login_timing.py [--handles 10] [--rounds 4]

Prints the median, p10 and p90 of each. A benchmark: it never fails on
timing (exit 1 only when an answer is not 401). $COMPTOIR_BIN picks the binary.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Node  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--handles", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=4, help="attempts per handle (at most 4)")
    a = ap.parse_args()
    rounds = min(a.rounds, 4)  # the fifth failure would start the back-off
    with Node("timing") as n:
        n.set_limits(login_per_minute=1000)
        for i in range(a.handles):
            n.add_user("known%d" % i)
        n.start()
        c = n.client()
        times = {"exists": [], "does not exist": []}
        for _ in range(rounds):
            for i in range(a.handles):
                for what, h in (("exists", "known%d" % i), ("does not exist", "ghost%d" % i)):
                    t0 = time.monotonic()
                    st = c.post("/api/login", {"handle": h, "password": "wrong"}).status
                    times[what].append((time.monotonic() - t0) * 1000)
                    if st != 401:
                        print("login_timing: %s answered %d" % (h, st), file=sys.stderr)
                        return 1
        for what, v in times.items():
            q = statistics.quantiles(v, n=10)
            print("handle %-15s n=%d median_ms=%.1f p10_ms=%.1f p90_ms=%.1f"
                  % (what, len(v), statistics.median(v), q[0], q[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
