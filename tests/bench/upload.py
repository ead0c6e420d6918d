"""Upload throughput and the node's memory while one large file is uploaded
(issue 20): a real `comptoir` node on loopback, one client sending SIZE_MB
of incompressible bytes (a PDF header, then random) to POST /api/files with
a Content-Length, in 256 KiB writes; the node's RSS is sampled every 50 ms
from /proc during the upload. Prints MB/s (time from the first byte to the
201, which includes the final fsync and rename) and the RSS before, at its
peak, and after. Not part of `make check`.

    make && python3 tests/bench/upload.py            (SIZE_MB=500 RUNS=3)
"""

import http.client
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Node  # noqa: E402

SIZE_MB = int(os.environ.get("SIZE_MB", "500"))
RUNS = int(os.environ.get("RUNS", "3"))
STEP = 256 * 1024


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one(n, c, block):
    size = SIZE_MB * 1024 * 1024
    pid = n.proc.pid
    before = rss_kb(pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.05)
    th = threading.Thread(target=sample)
    th.start()
    conn = http.client.HTTPConnection("127.0.0.1", n.http_port, timeout=600)
    conn.putrequest("POST", "/api/files?name=big-%d.pdf" % time.time_ns())
    conn.putheader("Cookie", "comptoir_session=" + c.cookie)
    conn.putheader("X-CSRF-Token", c.csrf)
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    t0 = time.monotonic()
    head = b"%PDF-1.7\n"
    conn.send(head + block[len(head):])
    sent = STEP
    salt = 0
    while sent < size:
        # a different block each time: no two chunks alike (no help from dedup)
        salt += 1
        b = salt.to_bytes(8, "big") + block[8:]
        k = min(STEP, size - sent)
        conn.send(b[:k])
        sent += k
    r = conn.getresponse()
    body = r.read()
    t1 = time.monotonic()
    done.set()
    th.join()
    if r.status != 201:
        raise SystemExit("upload failed: %d %s" % (r.status, body[:200]))
    after = rss_kb(pid)
    return size / (t1 - t0) / 1e6, before, peak[0], after


def main():
    block = os.urandom(STEP)
    with Node("paris") as n:
        n.set_limits(max_file_mb=SIZE_MB + 1, request_timeout=3600, max_blobs_gb=1000)
        n.add_user("alice")
        n.start()
        c = n.client()
        c.login("alice", n.passwords["alice"])
        res = [one(n, c, block) for _ in range(RUNS)]
        for i, (mbs, b, p, a) in enumerate(res):
            print("run %d: %.0f MB/s, RSS %d MiB before, %d MiB peak, %d MiB after"
                  % (i + 1, mbs, b // 1024, p // 1024, a // 1024))
        print("upload of %d MB: median %.0f MB/s; peak RSS growth %d MiB (median of runs)"
              % (SIZE_MB * 1024 * 1024 // 1000000, statistics.median(r[0] for r in res),
                 statistics.median((r[2] - r[1]) // 1024 for r in res)))


if __name__ == "__main__":
    main()
