"""Bell delay (issue 18): the time from a post mentioning bob, sent by alice
to the node, to the "bell" event on bob's open event stream, on one node on
loopback; N posts one after the other (default 300). Prints p50, p90, p99
and the largest, in ms.

    python3 tests/bench/bell_delay.py [N]        (from the repository root)

A benchmark, not a test: it asserts nothing.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Node  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with Node("paris") as node:
        pa = node.add_user("alice")
        pb = node.add_user("bob")
        node.set_limits(writes_per_minute=100000, writes_burst=100000)  # not what is measured
        node.start()
        a = node.client()
        a.login("alice", pa)
        b = node.client()
        b.login("bob", pb)
        s = b.stream()
        delays = []
        for i in range(n):
            t0 = time.monotonic()
            r = a.post("/api/posts", {"text": "@bob item %d" % i})
            if r.status != 201:
                raise SystemExit("post refused: %r" % r)
            ev = s.wait_for(lambda e: e["event"] == "bell" and e["data"].get("unread") == i + 1,
                            timeout=10)
            if ev is None:
                raise SystemExit("no bell for post %d" % i)
            delays.append((time.monotonic() - t0) * 1000)
        s.close()
    delays.sort()

    def pct(p):
        return delays[min(len(delays) - 1, int(p / 100 * len(delays)))]
    print("bell delay over %d posts (post sent -> bell received): p50 %.1f ms, p90 %.1f ms, "
          "p99 %.1f ms, max %.1f ms" % (n, pct(50), pct(90), pct(99), delays[-1]))


main()
