"""Connections refused on the peer port are logged with a rate limit: the
first refusal of an address and key in full, the next ones of its window
(sync.refused_log_s: a minute by default, WINDOW seconds here) counted in one
line at the end of the window; past 64 of them, one line a window counts the
rest. A real node, and the hostile peer tool dialing it
with a key no one certified, from several loopback addresses.

    make && make build/tests/tools/hostile_peer
    python3 tests/integration/test_refused.py
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Node, Runner, run_cli  # noqa: E402

HOSTILE = os.path.join(os.environ.get("COMPTOIR_BUILD") or os.path.dirname(BIN) or ".",
                       "tests", "tools", "hostile_peer")

t = Runner()
# The summaries' window: short, so that the test does not wait a minute for
# them, and long enough that the first addresses' slots are not freed (a
# window with no refusal frees one) before the table is seen full.
WINDOW = 15


def log_of(node):
    with open(node.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def refusal_lines(node):
    return [l for l in log_of(node).splitlines() if "refused" in l and "ZAP" in l]


def full_lines(node):
    """The refusals logged one by one (the first of an address and key)."""
    return [l for l in refusal_lines(node) if "refused a connection from " in l]


def counted(node):
    """{address: refusals summed up in "refused N more connections from A"
    lines}, and those summed up for the addresses past the table."""
    per, other = {}, 0
    for l in refusal_lines(node):
        m = re.search(r"refused (\d+) more connections from (\S+) ", l)
        if m:
            per[m.group(2)] = per.get(m.group(2), 0) + int(m.group(1))
        m = re.search(r"refused (\d+) connections at the ZAP stage .* past the ", l)
        if m:
            other += int(m.group(1))
    return per, other


def windows_since(t0):
    """How many windows may have ended since t0 (before the first refusal):
    at most one summary line each per address. Called after the lines are
    read, so that it counts every window they may show."""
    return int((time.monotonic() - t0) // WINDOW)


def wait_until(fn, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    return fn()


def main():
    with Node("paris") as n, Node("stranger", init=False) as x:
        run_cli("init", "--dir", x.data, "--site", "stranger", "--join")
        with open(n.config_path, "a") as f:
            f.write("\nsync:\n  refused_log_s: %d\n" % WINDOW)
        req = n.cli("site", "request").stdout
        curve = re.search(r"curve_key: ([0-9a-f]{64})", req).group(1)
        n.start()

        def hostile(source, count):
            ep = "tcp://%s:0;127.0.0.1:%d" % (source, n.listen_port) if source else \
                "tcp://127.0.0.1:%d" % n.listen_port
            return subprocess.Popen([HOSTILE, ep, curve, os.path.join(x.data, "keys", "site.curve"),
                                     os.path.join(x.data, "keys", "site.key"), "refused", str(count)],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        # Many refusals from a few addresses. A loaded machine may take over
        # window for them: the windows that end meanwhile each add their
        # summary line, so the lines are counted in full and summed up apart.
        runs = {"127.0.0.1": 200, "127.0.0.2": 50, "127.0.0.3": 50}
        t0 = time.monotonic()
        procs = {a: hostile(None if a == "127.0.0.1" else a, k) for a, k in runs.items()}
        for a, p in procs.items():
            out, _ = p.communicate(timeout=300)
            t.eq(p.returncode, 0, "%d handshakes from %s refused (%s)" % (runs[a], a, out.strip()))
        lines = refusal_lines(n)
        full = full_lines(n)
        for a in runs:
            first = [l for l in full if "refused a connection from %s " % a in l]
            t.eq(len(first), 1, "one line for the %d refusals from %s" % (runs[a], a))
        t.check(len(full) == 3 and len(lines) <= 3 + 3 * windows_since(t0),
                "300 refusals wrote 3 lines, and a summary a window", lines[:10])
        t.check(n.running() and n.client().get("/api/status").status == 200,
                "the node serves meanwhile")

        # More addresses than the table holds: 61 are named, the rest counted.
        extra = ["127.0.1.%d" % i for i in range(1, 81)]
        procs = [hostile(a, 1) for a in extra]
        refused = sum(1 for p in procs if p.wait(timeout=120) == 0)
        t.eq(refused, len(extra), "a refusal from each of %d more addresses" % len(extra))
        lines = refusal_lines(n)
        full = full_lines(n)
        named = [l for l in full if "refused a connection from 127.0.1." in l]
        t.eq(len(named), 64 - 3, "the addresses the table has room for are named")
        t.check(len(full) == 64 and len(lines) <= 64 + 4 * windows_since(t0),
                "380 refusals from 83 addresses wrote 64 lines, and a summary a window",
                len(lines))

        # At the end of each window, one line per address says how many more:
        # together, every refusal not logged one by one.
        def summaries():
            per, other = counted(n)
            return all(per.get(a) == k - 1 for a, k in runs.items()) and other == 80 - 61
        t.check(wait_until(summaries, 120), "a line a window counts what was not logged",
                (counted(n), refusal_lines(n)[-6:]))
        per, _ = counted(n)
        t.check(set(per) == set(runs), "no summary for an address refused once", per)
        t.check(len(refusal_lines(n)) <= 64 + 4 * windows_since(t0), "and no more lines than that",
                len(refusal_lines(n)))
    t.finish()


if __name__ == "__main__":
    main()
