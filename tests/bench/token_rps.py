"""Requests per second with an API token against with a session cookie, the
same calls on one keep-alive connection: GET /api/feed, GET /api/me, and
POST /api/posts (signed: a session signs with the seed it holds, a token
opens its sealed seed for each call). Short runs; the machine is shared.

    make && python3 tests/bench/token_rps.py [N_GETS] [N_POSTS]
"""

import http.client
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Node  # noqa: E402


def rate(port, headers, method, path, body, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    h = dict(headers)
    if data is not None:
        h["Content-Type"] = "application/json"
    t0 = time.perf_counter()
    for i in range(n):
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        r.read()
        if r.status not in (200, 201):
            raise SystemExit("%s %s answered %d" % (method, path, r.status))
    dt = time.perf_counter() - t0
    c.close()
    return n / dt


def main():
    gets = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    posts = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    with Node("paris") as n:
        pw = n.add_user("alice")
        n.set_limits(writes_per_minute=100000, writes_burst=100000)  # not what is measured
        n.start()
        s = n.client()
        s.login("alice", pw)
        tok = s.post("/api/tokens", {"name": "bench", "scopes": ["read", "write"]}).json["token"]
        for i in range(50):
            s.post("/api/posts", {"text": "warm-up %d" % i})
        sess = {"Cookie": "comptoir_session=" + s.cookie, "X-CSRF-Token": s.csrf}
        bear = {"Authorization": "Bearer " + tok}
        # session, token, session again: under a shared machine's load the two
        # session runs say how much the figures drift during one call's runs.
        print("%-22s %10s %10s %10s %7s" % ("call", "session/s", "token/s", "session/s",
                                             "ratio"))
        for method, path, body, k in (("GET", "/api/feed", None, gets),
                                      ("GET", "/api/me", None, gets),
                                      ("POST", "/api/posts", {"text": "bench"}, posts)):
            a = rate(n.http_port, sess, method, path, body, k)
            b = rate(n.http_port, bear, method, path, body, k)
            a2 = rate(n.http_port, sess, method, path, body, k)
            print("%-22s %10.0f %10.0f %10.0f %7.2f" % (method + " " + path, a, b, a2,
                                                      2 * b / (a + a2)))


if __name__ == "__main__":
    main()
