"""Webhook deliveries (issue 22) on one node on loopback, to a receiver in
this process (http.server, answering 200 at once):

- delay: N posts one after the other (default 300), each sent when the
  previous one's delivery arrived; the time from sending the POST to the
  delivery's arrival. Prints p50, p90, p99 and the largest, in ms.
- rate: a burst of M posts (default 1000) from 4 writers, then the
  deliveries per second from the first to the last arrival, and how long
  the last one waited after its post was acknowledged.

    python3 tests/bench/webhook_delay.py [N] [M]    (from the repository root)

A benchmark, not a test: it asserts nothing. The signature is checked on
every delivery, so the figures include it.
"""

import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Node, free_port  # noqa: E402

arrived = {}  # post text -> arrival time
cv = threading.Condition()
secret = [b""]
bad = [0]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        now = time.perf_counter()
        ts = self.headers["X-Comptoir-Timestamp"]
        mac = hmac.new(secret[0], ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if "v1=" + mac != self.headers["X-Comptoir-Signature"]:
            bad[0] += 1
        text = json.loads(body).get("post", {}).get("text", "")
        with cv:
            arrived[text] = now
            cv.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    with Node("paris") as node:
        pw = node.add_user("root", admin=True)
        node.set_limits(writes_per_minute=100000, writes_burst=100000)  # not what is measured
        node.start()
        c = node.client()
        c.login("root", pw)
        r = c.post("/api/hooks", {"url": "http://127.0.0.1:%d/" % port, "events": ["post"]})
        secret[0] = r.json["secret"].encode()
        delays = []
        for i in range(n):
            text = "delay %d" % i
            t0 = time.perf_counter()
            c.post("/api/posts", {"text": text})
            with cv:
                cv.wait_for(lambda: text in arrived, timeout=30)
            delays.append((arrived[text] - t0) * 1000)
        print("delay, post sent to delivery received, %d posts one at a time:" % n)
        print("  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms" % (
            pct(delays, 0.5), pct(delays, 0.9), pct(delays, 0.99), max(delays)))
        acked = {}

        def writer(k):
            w = node.client()
            w.login("root", pw)
            for i in range(k, m, 4):
                text = "burst %d" % i
                w.post("/api/posts", {"text": text})
                acked[text] = time.perf_counter()
        ths = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        t0 = time.perf_counter()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        t_acked = time.perf_counter()
        with cv:
            cv.wait_for(lambda: all("burst %d" % i in arrived for i in range(m)), timeout=600)
        times = [arrived["burst %d" % i] for i in range(m) if "burst %d" % i in arrived]
        first, last = min(times), max(times)
        waits = [(arrived[k] - acked[k]) * 1000 for k in acked if k in arrived]
        print("rate, %d posts from 4 writers (%.0f posts/s acknowledged):" % (m, m / (t_acked - t0)))
        print("  %d delivered, %.0f deliveries/s from the first to the last" % (
            len(times), (len(times) - 1) / (last - first) if last > first else float("nan")))
        print("  wait after the post's 201: p50 %.0f ms  p99 %.0f ms  max %.0f ms" % (
            pct(waits, 0.5), pct(waits, 0.99), max(waits)))
        print("  bad signatures: %d" % bad[0])
    srv.shutdown()


if __name__ == "__main__":
    main()
