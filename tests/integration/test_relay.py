"""A node relays a live event once its writer has admitted it, before its own
commit is durable (issue 24, session 12), and never an event it refuses or
keeps: three real sites in a chain, paris <- lyon <- nantes (lyon dials
paris, nantes dials lyon; paris and nantes are not linked), their periodic
reconciliation an hour away so that only relays carry events.

lyon runs tests/tools/commit_delay, the same node whose writer thread waits
before each commit for as long as a file says (the daemon has no such knob).

1. With lyon's commits held for HOLD_S seconds, a post at paris reaches
   nantes while lyon's store does not hold it yet (its commit is still
   waiting); lyon holds it once the wait is over.
2. A peer of lyon sends, one per message as live events come, events lyon
   must refuse (forged), keep pending (unknown authors) or hold (dated an
   hour ahead): lyon decides them all, and sends nantes none of them.
3. lyon's commit of a post fails after it relayed the post: nantes holds it,
   lyon does not, and nothing is lost: once lyon's links come up again (a
   restart), reconciliation brings the post back to lyon.

    make && make build/tests/tools/commit_delay build/tests/tools/hostile_peer
    python3 tests/integration/test_relay.py      (from the repository root)

Waits for conditions, never a fixed time. Ends with "N passed, M failed".
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BIN, Node, Runner, certify_site, export_ids, join_site, run_cli  # noqa: E402

TOOLS = os.path.join(os.environ.get("COMPTOIR_BUILD") or os.path.dirname(BIN) or ".",
                     "tests", "tools")
DELAY_BIN = os.path.join(TOOLS, "commit_delay")
HOSTILE = os.path.join(TOOLS, "hostile_peer")
DEADLINE = 30.0
# lyon's commits wait this long in step 1: nantes must verify and commit
# the relayed post within it, on a machine that may be busy.
HOLD_S = 8
SYNC = "sync:\n  heartbeat_ms: 300\n  reconcile_interval: 3600\n"

t = Runner()


def wait_until(fn, timeout=DEADLINE, interval=0.05):
    return harness.wait_until(fn, timeout, interval)


def peer(node, site):
    return next((p for p in node.status()["peers"] if p["site"] == site), None)


def linked(node, site):
    p = peer(node, site)
    return bool(p and p["connected"])




def field(path, name):
    with open(path) as f:
        return next(l.split(": ", 1)[1].strip() for l in f if l.startswith(name + ": "))


def log_of(node):
    with open(node.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def before_the_commit(A, B, C, hold_file):
    a, b, c = (n.client() for n in (A, B, C))
    for cl, n, h in ((a, A, "alice"), (b, B, "bruno"), (c, C, "claire")):
        cl.login(h, n.passwords[h])
    with open(hold_file, "w") as f:
        f.write("%d\n" % (HOLD_S * 1000))
    holds = log_of(B).count("commit_delay: holding")
    r = a.post("/api/posts", {"text": "paris, relayed before lyon's commit"})
    t.eq(r.status, 201, "post at paris")
    pid = r.json["id"]
    t0 = time.monotonic()
    # As soon as nantes shows the post, lyon must not yet: its commit of the
    # post is still waiting, and it relayed the post all the same.
    at_c = wait_until(lambda: c.get("/api/posts/%s" % pid).status == 200, timeout=HOLD_S * 3)
    seen = time.monotonic() - t0
    at_b = b.get("/api/posts/%s" % pid).status
    t.check(at_c, "nantes receives the post through lyon")
    t.eq(at_b, 404, "lyon does not hold the post yet when nantes does (its commit waits)")
    t.check(log_of(B).count("commit_delay: holding") > holds,
            "lyon's writer commit was held (the test's hook ran)", B.log_tail())
    print("  nantes held the post %.2f s after it was made at paris (lyon's commit held %d s)"
          % (seen, HOLD_S))
    with open(hold_file, "w") as f:
        f.write("0\n")
    t.check(wait_until(lambda: b.get("/api/posts/%s" % pid).status == 200, timeout=HOLD_S * 3),
            "lyon holds the post once its commit went through")
    t.check(wait_until(lambda: export_ids(A) == export_ids(B) == export_ids(C)),
            "the three sites hold the same events")
    # Each crossed its link once: lyon did not send the post again after
    # its commit, nantes did not send it back.
    t.eq(peer(B, "nantes")["sent"], sent_before["lyon->nantes"] + 1,
         "lyon sent nantes the post once (before its commit, not again after it)")


sent_before = {}


def refused_not_relayed(A, B, C):
    if not os.path.exists(HOSTILE):
        t.check(False, "hostile peer tool built at %s (make %s)" % (HOSTILE, HOSTILE))
        return
    X = join_site("h-live")
    # Published through lyon, which must know its certificate to admit it.
    certify_site(A, X, into=B, install=False)
    # The certificate, written into lyon's store by the CLI, goes to the
    # other sites first: it is not among what is counted below.
    t.check(wait_until(lambda: export_ids(A) == export_ids(B) == export_ids(C)),
            "the peer's certificate reaches every site")
    root_hex = field(os.path.join(B.dir, "site.cert"), "root")
    lyon_curve = next(l.split(": ", 1)[1].strip() for l in B.cli("site", "request").stdout
                      .splitlines() if l.startswith("curve_key: "))
    sent0 = peer(B, "nantes")["sent"]
    c0 = peer(C, "lyon")
    ids0 = export_ids(C)
    pending0, c_pending0 = B.status()["pending"], C.status()["pending"]
    args = [HOSTILE, "tcp://127.0.0.1:%d" % B.listen_port, lyon_curve,
            os.path.join(X.data, "keys", "site.curve"), os.path.join(X.data, "keys", "site.key"),
            "live", root_hex]
    # lyon learns the certificate through its store poll: retried until then.
    p = None
    for _ in range(20):
        p = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if p.returncode != 3:
            break
        time.sleep(0.5)
    t.eq(p.returncode, 0, "the peer sent lyon its events (%s)" % p.stdout.strip().replace("\n", "; "))
    t.check("ack=" in p.stdout and "ack=0 " not in p.stdout, "lyon acknowledged them", p.stdout)
    # lyon decided them: refused the forged, kept the rest aside.
    t.check(wait_until(lambda: (peer(B, "h-live") or {}).get("rejected", 0) >= 3),
            "lyon refused the 3 forged events", peer(B, "h-live"))
    t.check(wait_until(lambda: B.status()["pending"] >= pending0 + 3),
            "lyon keeps the events of unknown authors pending", B.status()["pending"])
    # A post after them, relayed as usual, proves the link carried what
    # came before it: nantes got nothing else from lyon.
    a = A.client()
    a.login("alice", A.passwords["alice"])
    pid = a.post("/api/posts", {"text": "paris, after the peer's events"}).json["id"]
    t.check(wait_until(lambda: pid in export_ids(C)), "a later post reaches nantes")
    c1 = peer(C, "lyon")
    t.eq(peer(B, "nantes")["sent"] - sent0, 1, "lyon sent nantes the later post and nothing else")
    t.eq(c1["received"] - c0["received"], 1, "nantes stored nothing else from lyon")
    t.eq(c1["rejected"], c0["rejected"], "nantes refused nothing from lyon")
    t.eq(export_ids(C) - ids0, {pid}, "nantes holds none of the peer's events")
    t.eq(C.status()["pending"], c_pending0, "nantes keeps none of them pending")


def commit_fails(A, B, C, hold_file):
    a, b, c = (n.client() for n in (A, B, C))
    for cl, n, h in ((a, A, "alice"), (b, B, "bruno"), (c, C, "claire")):
        cl.login(h, n.passwords[h])
    with open(hold_file, "w") as f:
        f.write("fail\n")
    r = a.post("/api/posts", {"text": "paris, relayed by lyon, whose commit fails"})
    t.eq(r.status, 201, "post at paris")
    pid = r.json["id"]
    t.check(wait_until(lambda: c.get("/api/posts/%s" % pid).status == 200),
            "nantes receives the post through lyon")
    t.check(wait_until(lambda: "commit_delay: failing a writer commit" in log_of(B)),
            "lyon's commit of the post failed (the test's hook ran)", B.log_tail())
    t.check(wait_until(lambda: "store error while ingesting" in log_of(B)),
            "lyon logs the failed commit", B.log_tail())
    t.eq(b.get("/api/posts/%s" % pid).status, 404, "lyon does not hold the post it relayed")
    t.check(B.running(), "lyon still runs")
    # Its links come up again: reconciliation finds what lyon lacks.
    t.eq(B.stop(), 0, "lyon stops cleanly")
    B.start()
    t.check(wait_until(lambda: linked(B, "paris") and linked(B, "nantes")), "lyon is linked again")
    t.check(wait_until(lambda: pid in export_ids(B)), "lyon holds the post again")
    t.check(wait_until(lambda: export_ids(A) == export_ids(B) == export_ids(C)),
            "the three sites hold the same events")


def main():
    if not os.path.exists(DELAY_BIN):
        t.check(False, "commit delay tool built at %s (make %s)" % (DELAY_BIN, DELAY_BIN))
        t.finish()
    A = Node("paris")
    B, C = join_site("lyon"), join_site("nantes")
    certify_site(A, B, into=A)
    certify_site(A, C, into=A)
    paris_cert = certify_site(A, A, into=A, install=False)
    B.cli("peer", "add", paris_cert)
    C.cli("peer", "add", os.path.join(B.dir, "site.cert"))
    hold_file = os.path.join(B.dir, "commit-hold")
    B.bin = DELAY_BIN
    B.env = {"COMPTOIR_TEST_COMMIT_DELAY_FILE": hold_file}
    for n, h in ((A, "alice"), (B, "bruno"), (C, "claire")):
        with open(n.config_path, "a") as f:
            f.write("\n" + SYNC)
        n.add_user(h)
    for n in (A, B, C):
        n.start()
    ok = wait_until(lambda: linked(A, "lyon") and linked(B, "paris") and linked(B, "nantes")
                    and linked(C, "lyon"))
    t.check(ok, "chain paris <- lyon <- nantes comes up")
    ok = wait_until(lambda: (lambda x, y, z: x == y == z and x)(
        export_ids(A), export_ids(B), export_ids(C)))
    t.check(ok, "the three sites hold the same events")
    if ok:
        sent_before["lyon->nantes"] = peer(B, "nantes")["sent"]
        t.test(before_the_commit, A, B, C, hold_file)
        t.test(refused_not_relayed, A, B, C)
        t.test(commit_fails, A, B, C, hold_file)
    t.finish()


if __name__ == "__main__":
    main()
