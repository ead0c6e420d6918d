"""Catch-up after an outage, with real processes: two sites apart while each
receives 5,000 posts, then rejoined, end with equal event sets; a third site
started empty fills up from one of them; a site killed with SIGKILL in the
middle of a catch-up restarts and finishes it. The posts are made by
tests/bench/fill, which signs and ingests them through the node's own path.

Run from the repository root: python3 tests/integration/test_catchup.py
POSTS=N changes the 5,000.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Node, Runner, run_cli  # noqa: E402

POSTS = int(os.environ.get("POSTS", "5000"))
FILL = os.path.join(os.path.dirname(BIN) or ".", "tests", "bench", "fill")


def fast_sync(node):
    """Short heartbeats and reconciliations, so the test does not wait."""
    with open(node.config_path, "a") as f:
        f.write("sync:\n  heartbeat_ms: 200\n  reconcile_interval: 2\n")


def fill(node, prefix, posts, root=None):
    """root: the node holding the root key (a joined site has none; the fill
    certifies the site back in time with it)."""
    r = subprocess.run([FILL, "--dir", node.data, "--posts", str(posts), "--users", "3",
                        "--prefix", prefix, "--comments", str(posts // 10),
                        "--reactions", str(posts // 10),
                        "--root", os.path.join((root or node).data, "keys", "root.key")],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("fill failed: %s" % r.stderr[-500:])


def ids(node):
    out = node.cli("export", timeout=120).stdout
    return {json.loads(line)["id"] for line in out.splitlines() if line.strip()}


def event_count(node):
    return node.status()["events"]


def join(root_node, name, seed=None):
    """A site made with --join and certified by root_node's root key."""
    n = Node(name, init=False)
    run_cli("init", "--dir", n.data, "--site", name, "--http", "127.0.0.1:%d" % n.http_port,
            "--listen", "tcp://127.0.0.1:%d" % n.listen_port, "--join")
    req = os.path.join(n.dir, "site.req")
    cert = os.path.join(n.dir, "site.cert")
    with open(req, "w") as f:
        f.write(n.cli("site", "request").stdout)
    with open(cert, "w") as f:
        f.write(run_cli("root", "certify", "--key", os.path.join(root_node.data, "keys",
                                                                 "root.key"),
                        "--dir", root_node.data, req).stdout)
    if seed:
        out = n.cli("site", "install", cert, "--seed", seed).stdout
        print(out.strip())
    else:
        n.cli("site", "install", cert)
    return n


def cert_of(node, root_node):
    req = os.path.join(node.dir, "self.req")
    cert = os.path.join(node.dir, "self.cert")
    with open(req, "w") as f:
        f.write(node.cli("site", "request").stdout)
    with open(cert, "w") as f:
        f.write(run_cli("root", "certify", "--key", os.path.join(root_node.data, "keys",
                                                                 "root.key"), req).stdout)
    return cert


def wait_equal(t, nodes, name, at_least, timeout=120):
    """Waits until every node holds the same number of events (at least
    at_least) and nothing pending, then compares the id sets."""
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    counts = []
    while time.monotonic() < deadline:
        sts = [n.status() for n in nodes]
        counts = [s["events"] for s in sts]
        if len(set(counts)) == 1 and counts[0] >= at_least and not any(s["pending"] for s in sts):
            break
        time.sleep(0.2)
    took = time.monotonic() - t0
    sets = [ids(n) for n in nodes]
    ok = all(s == sets[0] for s in sets)
    t.check(ok, "%s: equal event sets (%s events, %.1f s)" % (name, counts, took),
            [len(s) for s in sets])
    print("%s: %d events each after %.1f s" % (name, len(sets[0]), took))
    return sets[0]


def main():
    t = Runner()
    paris = Node("paris")
    lyon = join(paris, "lyon")
    fast_sync(paris)
    fast_sync(lyon)
    lyon.cli("peer", "add", cert_of(paris, paris))

    # Apart: each site receives its own posts while the other is away.
    before = event_count_offline(paris)
    fill(paris, "pa", POSTS)
    fill(lyon, "ly", POSTS, root=paris)
    a, b = event_count_offline(paris), event_count_offline(lyon)
    t.check(a - before > POSTS, "paris holds its posts")
    paris.start()
    lyon.start()
    # Both hold the certificates made before the fills (shared); the rest differs.
    union = wait_equal(t, [paris, lyon], "rejoined after apart", a + b - before - 1)
    t.check(len(union) >= 2 * POSTS, "nothing lost: both sides' posts are there (%d)" % len(union))
    for n in (paris, lyon):
        t.eq(n.status()["pending"], 0, "%s: nothing left pending" % n.site)

    # A third site, empty, fills up from paris; killed half-way, it finishes.
    nantes = join(paris, "nantes")
    fast_sync(nantes)
    nantes.cli("peer", "add", cert_of(paris, paris))
    nantes.start()
    deadline = time.monotonic() + 60
    seen_in, seen_out = 0, 0  # largest backlog shown by nantes, and by paris for nantes
    samples = []  # nantes's view of paris while it catches up
    while time.monotonic() < deadline and event_count(nantes) < len(union) // 4:
        for p in nantes.status().get("peers", []):
            if p.get("site") == "paris":
                seen_in = max(seen_in, p.get("to_receive", 0))
                samples.append(p)
        for p in paris.status().get("peers", []):
            if p.get("site") == "nantes":
                seen_out = max(seen_out, p.get("to_send", 0))
        time.sleep(0.02)
    mid = event_count(nantes)
    nantes.kill()
    t.check(mid < len(union), "nantes was killed during its catch-up (%d of %d)" %
            (mid, len(union)))
    # What remains of the catch-up is shown on both sides (BACKLOG): most of
    # the history, not just the few ids asked for one by one.
    t.check(seen_in > len(union) // 2, "nantes showed the events it still had to receive "
            "(%d of %d)" % (seen_in, len(union)))
    t.check(seen_out > len(union) // 2, "paris showed the events it still had to send to "
            "nantes (%d of %d)" % (seen_out, len(union)))
    # The time left, from the same figures: unknown (null) when nothing is
    # coming or nothing is being stored yet.
    bad = [p for p in samples if "eta_s" not in p or p["eta_s"] != (
        None if not p["to_receive"] or not p["rate_in"] else -(-p["to_receive"] // p["rate_in"]))]
    t.check(samples and not bad, "status shows the time a catch-up has left (%d samples, %d with "
            "a time)" % (len(samples), sum(p.get("eta_s") is not None for p in samples)), bad[:3])
    # comptoir status says it in words, from the status the node writes.
    with open(os.path.join(nantes.data, "status.json"), "w") as f:
        json.dump({"written_ms": int(time.time() * 1000), "pid": 1, "peers": [
            {"site": "paris", "connected": True, "since_ms": 0, "last_exchange_ms": 0, "sent": 0,
             "received": 5, "to_send": 0, "to_receive": 120000, "rate_in": 1000, "eta_s": 120}]}, f)
    out = nantes.cli("status").stdout
    t.check("catching up from paris: 120000 events to receive at 1000 events/s, about 2 min left"
            in out, "comptoir status shows the time left of a catch-up", out[-600:])
    v = nantes.cli("verify", check=False)
    t.check(v.returncode == 0, "the half-filled store verifies after kill -9", v.stderr[-300:])
    nantes.start()
    wait_equal(t, [paris, lyon, nantes], "nantes restarted and finished", len(union) + 1)
    # A fourth site starts from a hot backup of paris and fetches only the tail.
    backup = os.path.join(paris.dir, "backup")
    paris.cli("backup", backup)
    c = paris.client()
    pw = paris.add_user("late", admin=False)
    c.login("late", pw)
    r = c.post("/api/posts", {"text": "made after the backup"})
    t.eq(r.status, 201, "a post after the backup")
    brest = join(paris, "brest", seed=backup)
    fast_sync(brest)
    brest.cli("peer", "add", cert_of(paris, paris))
    t.check(event_count_offline(brest) >= len(union), "brest starts with the backup's events")
    brest.start()
    final = wait_equal(t, [paris, brest], "brest seeded from a backup caught up", len(union) + 3)
    t.check(r.json["id"] in final, "the post made after the backup reached brest")
    peers = [p for p in brest.status().get("peers", []) if p.get("site") == "paris"]
    t.check(peers and peers[0].get("received", 1e9) < 100,
            "brest fetched only the tail, not the whole history", peers)
    brest.stop()
    brest.cleanup()

    st = nantes.status()
    peers = st.get("peers", [])
    t.check(any(p.get("connected") for p in peers), "nantes shows its link up")
    t.check(all("rate_in" in p and "to_receive" in p for p in peers),
            "status shows events remaining and the rate")
    for n in (paris, lyon, nantes):
        n.stop()
        v = n.cli("verify", check=False)
        t.check(v.returncode == 0, "%s: comptoir verify passes" % n.site, v.stderr[-300:])
    for n in (paris, lyon, nantes):
        n.cleanup()
    t.finish()


def event_count_offline(node):
    out = node.cli("status").stdout
    for line in out.splitlines():
        if line.startswith("events:"):
            return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
