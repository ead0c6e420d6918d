"""Comptoir and PouchDB side by side, in one run on this machine: a full
replication of N documents (default 100,000) between two servers on
loopback, and a catch-up after d new documents on each side (default
1,000), with the ratios.

PouchDB: two express-pouchdb servers (PouchDB 9, LevelDB), installed under
tests/bench/pouchdb/ by `npm install` there (this script runs it when
node_modules is missing; it needs node and npm, and a registry). N documents
of about 300 bytes (the size of a Comptoir post's envelope: an id, a kind,
an author, a time and a text) are written to the first with _bulk_docs; the
second pulls them with POST /_replicate (the replication runs in its server).
Catch-up: after the full replication the first server also replicates from
the second once (both then hold a checkpoint of the other, as two servers in
sync would), d new documents on each side, then both replicate from the other
at once; the time is until both calls return and both hold the union. No
signatures anywhere.

Comptoir: tests/bench/catchup.py N (an empty site fills from one holding N
events: every signature verified) and tests/bench/heal.py N d (from the link
being up to both sites holding the union), run as they are; their figures
are read from their output.

    make build/comptoir build/tests/bench/fill build/tests/bench/verify_rate
    python3 tests/bench/sidebyside.py [N] [d]

SIDE=pouchdb or SIDE=comptoir runs one side only. Goals (issue 23): Comptoir
>= 10x PouchDB's docs/s on the full replication, and a faster catch-up.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import free_port  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
D = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
SIDE = os.environ.get("SIDE", "both")
POUCH = os.path.join(HERE, "pouchdb")

WORDS = ("the canteen meeting project deadline report shipment plant customer welding line "
         "quality audit safety training badge parking budget review team friday").split()


def http(method, url, body=None, timeout=3600):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def doc(rng, i, side):
    text = " ".join(rng.choice(WORDS) for _ in range(28))
    return {"_id": "%s%032x" % (side, rng.getrandbits(128)), "kind": "post",
            "author": "u%04d" % (i % 20), "ts": 1765000000000 + i, "text": text[:190]}


class Server:
    def __init__(self, name, root):
        self.port = free_port()
        self.dir = os.path.join(root, name)
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen(["node", os.path.join(POUCH, "server.js"), str(self.port),
                                      self.dir], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        if self.proc.stdout.readline().strip() != "listening":
            raise RuntimeError("express-pouchdb did not start: %s" % self.proc.stderr.read())
        http("PUT", self.url + "/bench")

    def count(self):
        return http("GET", self.url + "/bench")["doc_count"]

    def bytes(self):
        total = 0
        for d, _, files in os.walk(self.dir):
            total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
        return total

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def load(server, n, side, seed):
    import random
    rng = random.Random(seed)
    for at in range(0, n, 1000):
        http("POST", server.url + "/bench/_bulk_docs",
             {"docs": [doc(rng, i, side) for i in range(at, min(n, at + 1000))]})


def pouchdb_side():
    if not os.path.isdir(os.path.join(POUCH, "node_modules", "express-pouchdb")):
        print("installing pouchdb and express-pouchdb with npm in %s" % POUCH)
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=POUCH,
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("npm install failed (no registry reachable?): %s" % r.stderr[-400:])
            return None
    root = tempfile.mkdtemp(prefix="pouch-bench-")
    a = b = None
    try:
        a, b = Server("a", root), Server("b", root)
        t0 = time.monotonic()
        load(a, N, "a", 1)
        print("pouchdb: %d documents written to the first server in %.1f s" %
              (N, time.monotonic() - t0))
        t0 = time.monotonic()
        http("POST", b.url + "/_replicate", {"source": a.url + "/bench", "target": "bench"})
        full = time.monotonic() - t0
        assert b.count() == N, (b.count(), N)
        disk = b.bytes()
        print("pouchdb: full replication of %d documents in %.2f s = %.0f docs/s; the "
              "receiving server holds %.1f MiB (%.0f bytes per document)" %
              (N, full, N / full, disk / 1048576, disk / N))
        # The other direction once, as a site pair that was in sync would
        # have done: each side then holds a checkpoint of the other.
        http("POST", a.url + "/_replicate", {"source": b.url + "/bench", "target": "bench"})
        load(a, D, "c", 2)
        load(b, D, "d", 3)
        t0 = time.monotonic()
        errs = []

        def pull(dst, src):
            try:
                http("POST", dst.url + "/_replicate", {"source": src.url + "/bench",
                                                      "target": "bench"})
            except Exception as e:  # noqa: BLE001 (reported below)
                errs.append(e)

        th = [threading.Thread(target=pull, args=(a, b)), threading.Thread(target=pull,
                                                                           args=(b, a))]
        for t in th:
            t.start()
        for t in th:
            t.join()
        catch = time.monotonic() - t0
        if errs or a.count() != N + 2 * D or b.count() != N + 2 * D:
            print("pouchdb: catch-up incomplete: %r, %d and %d of %d" %
                  (errs, a.count(), b.count(), N + 2 * D))
        print("pouchdb: catch-up, %d new on each side, N = %d: %.0f ms" % (D, N, catch * 1000))
        return {"full_s": full, "docs_s": N / full, "catch_ms": catch * 1000,
                "bytes_per_doc": disk / N}
    finally:
        for s in (a, b):
            if s:
                s.stop()
        shutil.rmtree(root, ignore_errors=True)


def comptoir_side():
    env = dict(os.environ)
    r = subprocess.run([sys.executable, os.path.join(HERE, "catchup.py"), str(N)],
                       capture_output=True, text=True, env=env)
    out = r.stdout
    m = re.search(r"filled an empty site with (\d+) events in ([\d.]+) s: (\d+) events/s", out)
    s = re.search(r"receiving store: [\d.]+ MiB for \d+ events \((\d+) bytes per event\)", out)
    v = re.search(r"verify_per_s=(\d+)", out)
    if not m:
        print("catchup.py gave no figure:\n%s%s" % (out[-2000:], r.stderr[-2000:]))
        return None
    print("comptoir: full replication of %s events in %s s = %s events/s, every signature "
          "verified (single-core verify %s/s); %s bytes per event" %
          (m.group(1), m.group(2), m.group(3), v.group(1) if v else "?",
           s.group(1) if s else "?"))
    r = subprocess.run([sys.executable, os.path.join(HERE, "heal.py"), str(N), str(D)],
                       capture_output=True, text=True, env=env)
    h = re.search(r"median of \d+ cuts ([\d.]+) ms", r.stdout)
    if h:
        print("comptoir: catch-up, %d new on each side, N = %d: %s ms from link-up "
              "(median of 3 cuts)" % (D, N, h.group(1)))
    else:
        print("heal.py gave no figure:\n%s%s" % (r.stdout[-2000:], r.stderr[-2000:]))
    return {"docs_s": float(m.group(3)), "catch_ms": float(h.group(1)) if h else None,
            "bytes_per_doc": float(s.group(1)) if s else None}


def main():
    print("N = %d, d = %d; load average %s" % (N, D, open("/proc/loadavg").read().split()[0]))
    p = pouchdb_side() if SIDE in ("both", "pouchdb") else None
    c = comptoir_side() if SIDE in ("both", "comptoir") else None
    if p and c:
        print("full replication: comptoir %.0f events/s, pouchdb %.0f docs/s: %.1fx "
              "[goal >= 10x]" % (c["docs_s"], p["docs_s"], c["docs_s"] / p["docs_s"]))
        if c["catch_ms"]:
            print("catch-up: comptoir %.0f ms, pouchdb %.0f ms: %.2fx pouchdb's time "
                  "[goal < 1]" % (c["catch_ms"], p["catch_ms"], c["catch_ms"] / p["catch_ms"]))
        if c["bytes_per_doc"]:
            print("disk: comptoir %.0f bytes per event, pouchdb %.0f per document" %
                  (c["bytes_per_doc"], p["bytes_per_doc"]))
    print("load average at the end %s" % open("/proc/loadavg").read().split()[0])


if __name__ == "__main__":
    main()
