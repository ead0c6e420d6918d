"""The HTTP server's front door, against a real node over raw sockets:

- connection exhaustion (issue 13, item 3): 600 slow connections from ten
  loopback addresses, a byte a second each, as the audit did. Each address
  gets max_connections_per_address of them, a normal client is still
  served, and every slow one is cut by request_timeout although it keeps
  sending; an event stream outlives that deadline, and streams are capped
  per person;
- the Host header (item 11): DNS rebinding names are answered 421 on every
  route, the configured names, localhost and the node's own address pass;
- request smuggling (item 12): two different Content-Length headers,
  Content-Length with Transfer-Encoding, and the like are answered 400 (or
  501), the connection is closed, and the bytes after them are never served
  as a second request.

Every address of 127.0.0.0/8 reaches loopback on Linux, so 127.0.0.2 ...
127.0.0.11 are ten clients.
"""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402

t = Runner()
DEADLINE = 3          # limits.request_timeout of the node under test, seconds
PER_ADDRESS = 16      # limits.max_connections_per_address (the default)


def add_config(node, text):
    """Appends top-level YAML to the node's config (before start)."""
    with open(node.config_path, "a") as f:
        f.write("\n" + text + "\n")


def metrics(node):
    """/metrics as {"name{labels}": value}."""
    r = node.client().get("/metrics")
    out = {}
    for line in r.body.decode().split("\n"):
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def wait_for(cond, timeout, step=0.2):
    """Polls cond() until it is true or timeout passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def raw(port, data, src="127.0.0.1", timeout=5.0):
    """Sends data on a fresh connection and reads until the server closes it
    (or timeout passes: then what came, and a note)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                return out + b"<the server kept the connection open>"
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


def statuses(out):
    """The status codes of every response in a byte stream."""
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", out)]


class Slow:
    """A client that sends a request one byte at a time and never ends it."""

    def __init__(self, port, src):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((src, 0))
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.pending = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        self.closed = False
        self.src = src

    def trickle(self):
        """Sends one more byte; notices when the server has closed."""
        if self.closed:
            return
        try:
            if self.sock.recv(1) == b"":
                self.close()
                return
        except BlockingIOError:
            pass
        except OSError:
            self.close()
            return
        try:
            self.sock.send(self.pending[:1] or b"a")
            self.pending = self.pending[1:]
        except BlockingIOError:
            pass
        except OSError:
            self.close()

    def close(self):
        self.closed = True
        self.sock.close()


def test_exhaustion(n):
    """The audit's 600 slow connections from ten addresses."""
    sources = ["127.0.0.%d" % i for i in range(2, 12)]
    slow = []
    for src in sources:
        for _ in range(60):
            try:
                slow.append(Slow(n.http_port, src))
            except OSError:
                pass  # a refused connect counts as refused
    # libmicrohttpd accepts them one by one: wait until it has seen them all.
    want_refused = len(sources) * (60 - PER_ADDRESS)
    m = wait_for(lambda: (lambda m: m if m.get(
        'comptoir_http_refused_total{reason="per_address"}', 0) >= want_refused else None)(
        metrics(n)), 30)
    t.check(m is not None, "the connections beyond %d per address are refused" % PER_ADDRESS,
            metrics(n))
    for s in slow:
        s.trickle()
    # The refused ones were closed at once; the others are still open.
    for src in sources:
        held = sum(1 for s in slow if not s.closed and s.src == src)
        t.eq(held, PER_ADDRESS, "%d connections held from %s" % (PER_ADDRESS, src))
    # While they hold every slot they may, the site still serves its staff.
    c = n.client()
    r = c.get("/api/status")
    t.eq(r.status, 200, "a normal client is served during the flood")
    r = c.login("alice", n.passwords["alice"], check=False)
    t.eq(r.status, 200, "and can log in")
    r = c.get("/api/feed")
    t.eq(r.status, 200, "and read the feed")

    # Every slow one is cut by the deadline, although it keeps sending.
    open_after = sum(1 for s in slow if not s.closed)
    t.check(open_after > 0, "slow connections were held open", open_after)
    deadline = time.monotonic() + DEADLINE * 10 + 30
    while time.monotonic() < deadline and any(not s.closed for s in slow):
        for s in slow:
            s.trickle()
        time.sleep(0.5)
    left = sum(1 for s in slow if not s.closed)
    t.eq(left, 0, "every slow connection is cut while it still trickles")
    m = metrics(n)
    t.check(m.get("comptoir_http_cut_total", 0) >= open_after,
            "the cuts are the deadline's", (m.get("comptoir_http_cut_total"), open_after))
    for s in slow:
        s.close()
    t.eq(n.client().get("/api/status").status, 200, "the node serves after the flood")


def test_streams(n):
    """A stream outlives request_timeout; streams are capped per person."""
    c = n.client()
    c.login("bob", n.passwords["bob"])
    s1 = c.stream(timeout=DEADLINE * 6)
    s2 = c.stream(timeout=DEADLINE * 6)
    t.eq((s1.status, s2.status), (200, 200), "two streams open for bob")
    s3 = c.stream()
    t.eq(s3.status, 429, "a third stream for bob is refused (max_streams_per_person: 2)")
    s3.close()
    other = n.client()
    other.login("alice", n.passwords["alice"])
    s4 = other.stream()
    t.eq(s4.status, 200, "another person still opens one")
    s4.close()

    # A slow connection opened after the streams: once it is cut, the
    # streams have lived past their own deadline too.
    before = metrics(n).get("comptoir_http_cut_total", 0)
    probe = Slow(n.http_port, "127.0.0.20")
    cut = wait_for(lambda: probe.trickle() or probe.closed, DEADLINE * 10)
    t.check(cut, "the probe was cut")
    t.check(metrics(n).get("comptoir_http_cut_total", 0) > before, "by the deadline")
    r = c.post("/api/posts", {"text": "after the deadline"})
    t.eq(r.status, 201, "bob posts")
    ev = s1.wait_for(lambda e: e["event"] == "post", timeout=10)
    t.check(ev is not None and ev["data"]["view"]["text"] == "after the deadline",
            "the first stream, older than the deadline, still delivers", ev)
    s1.close()
    s2.close()
    # A closed stream frees its place.
    s5 = wait_for(lambda: (lambda s: s if s.status == 200 else s.close())(c.stream()), 40)
    t.check(s5 is not None, "a stream opens again once the others closed")
    if s5:
        s5.close()

    # A client that has gone ends its stream at once, not at the next write
    # (a ping, 15 s later at most): its place is free for the reloaded tab.
    # Half-closed, the client could still read that ping: it must see the
    # end of the stream first.
    sock = socket.create_connection(("127.0.0.1", n.http_port), timeout=30)
    sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: comptoir_session=%s\r\n"
                 b"\r\n" % other.cookie.encode())
    got = b""
    while b": comptoir" not in got:
        b = sock.recv(4096)
        if not b:
            break
        got += b
    t.check(got.startswith(b"HTTP/1.1 200"), "a raw stream opens", got[:100])
    sock.shutdown(socket.SHUT_WR)
    rest = b""
    try:
        while b": ping" not in rest:
            b = sock.recv(4096)
            if not b:
                break
            rest += b
    except socket.timeout:
        rest += b"<timeout>"
    sock.close()
    t.check(b": ping" not in rest and b"<timeout>" not in rest,
            "a stream whose client left ends before its next ping", rest)


def test_host(n):
    """DNS rebinding: a name the node was not told is refused on every route."""
    p = n.http_port
    for path in ("/api/status", "/metrics", "/", "/app.js", "/api/feed"):
        out = raw(p, b"GET %s HTTP/1.1\r\nHost: rebind.attacker.example:%d\r\n\r\n"
                  % (path.encode(), p))
        t.eq(statuses(out), [421], "Host rebind.attacker.example on %s" % path)
    out = raw(p, b"POST /api/login HTTP/1.1\r\nHost: rebind.attacker.example\r\n"
              b"Content-Type: application/json\r\nContent-Length: 41\r\n\r\n"
              b'{"handle":"alice","password":"whatever1"}')
    t.eq(statuses(out), [421], "Host rebind.attacker.example on /api/login")
    t.check(b"http_names" in out, "the answer says where names are configured", out[:400])
    for host, want in [(b"intranet.paris.corp", 200), (b"INTRANET.Paris.Corp.", 200),
                       (b"intranet.paris.corp:%d" % p, 200), (b"localhost:%d" % p, 200),
                       (b"127.0.0.1:%d" % p, 200), (b"127.0.0.1", 200),
                       (b"10.9.9.9:%d" % p, 421), (b"127.0.0.2", 421),
                       (b"paris.corp", 421), (b"x.intranet.paris.corp", 421),
                       (b"evil.example\r\nHost: intranet.paris.corp", 400),
                       (b"bad host", 400), (b"intranet.paris.corp:80x", 400), (b"", 400)]:
        out = raw(p, b"GET /api/status HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host)
        t.eq(statuses(out), [want], "Host %r" % host)
    out = raw(p, b"GET /api/status HTTP/1.0\r\n\r\n")
    t.eq(statuses(out), [400], "HTTP/1.0 without Host")
    m = metrics(n)
    t.check(m.get('comptoir_http_rejected_total{reason="host"}', 0) >= 10,
            "refusals are counted", m)


def test_smuggling(n):
    """Requests whose end is in doubt are refused and the connection closed."""
    p = n.http_port
    host = b"Host: 127.0.0.1:%d\r\n" % p
    second = b"GET /api/status HTTP/1.1\r\n" + host + b"\r\n"
    cases = [
        ("two different Content-Length",
         b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(second) + second, 400),
        ("two different Content-Length, the long one first",
         b"Content-Length: %d\r\nContent-Length: 0\r\n\r\n" % len(second) + second, 400),
        ("Content-Length and Transfer-Encoding: chunked",
         b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (5 + len(second))
         + second, 400),
        ("Transfer-Encoding: chunked and Content-Length",
         b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + second, 400),
        ("two Transfer-Encoding headers",
         b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + second,
         400),
        ("Transfer-Encoding other than chunked",
         b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + second, 501),
        ("a space before the colon",
         b"Content-Length : %d\r\n\r\n" % len(second) + second, 400),
        ("Content-Length as a list",
         b"Content-Length: %d, %d\r\n\r\n" % (len(second), len(second)) + second, 400),
        ("Content-Length with a sign",
         b"Content-Length: +%d\r\n\r\n" % len(second) + second, 400),
    ]
    for name, rest, want in cases:
        req = b"POST /api/login HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n" + rest
        out = raw(p, req)
        got = statuses(out)
        # libmicrohttpd refuses a malformed length itself, and 0.9.75 writes
        # its status line twice then: what matters is a refusal and nothing
        # served after it.
        t.check(got and all(g in (want, 400) for g in got) and b'"site"' not in out,
                "%s: refused, the rest never served" % name, (got, out[:300]))
    # Identical repeated lengths are one length (RFC 9112, 6.3), and the
    # connection goes on to the next request.
    body = b'{"handle":"nobody","password":"wrong-password"}'
    req = (b"POST /api/login HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
           b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body)) + body
           + b"GET /api/status HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
    t.eq(statuses(raw(p, req)), [401, 200], "the same Content-Length twice is one request")
    # A well-formed chunked body still works.
    req = (b"POST /api/login HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    t.eq(statuses(raw(p, req)), [401], "a chunked body is read as one request")


with Node("paris") as node:
    node.set_limits(request_timeout=DEADLINE, max_streams_per_person=2, login_per_minute=1000)
    add_config(node, "http_names:\n  - intranet.paris.corp\n")
    node.add_user("alice", "alice-password")
    node.add_user("bob", "bob-password")
    node.start()
    t.test(test_host, node)
    t.test(test_smuggling, node)
    t.test(test_streams, node)
    t.test(test_exhaustion, node)
    t.check(node.running(), "the node is still running")
t.finish()
