"""What HTTPS costs a request: GET /api/status against one node on loopback,
plain HTTP and then native TLS (an ECDSA P-256 certificate made by openssl),
each on a new connection per request (TCP, and the TLS handshake) and on one
kept-alive connection. Python's http.client and ssl are the client, so the
figures include its own time; they compare, they do not rate the server.

    python3 tests/bench/https.py            (N=300 requests per case)

Not part of `make check` (no timed assertions there).
"""

import http.client
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BIN, Node  # noqa: E402

N = int(os.environ.get("N", "300"))


def measure(port, ctx, keep):
    def conn():
        if ctx:
            return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        return http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    c = conn()
    for _ in range(N):
        t0 = time.perf_counter()
        if not keep:
            c = conn()
        c.request("GET", "/api/status")
        c.getresponse().read()
        if not keep:
            c.close()
        times.append((time.perf_counter() - t0) * 1000)
    c.close()
    times.sort()
    return statistics.median(times), times[int(N * 0.99) - 1]


def main():
    d = tempfile.mkdtemp(prefix="comptoir-bench-tls-")
    crt, key = os.path.join(d, "site.crt"), os.path.join(d, "site.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    try:
        with Node("bench") as n:
            n.start()
            for keep in (False, True):
                print("plain %-22s median %.2f ms  p99 %.2f ms"
                      % ("kept-alive:" if keep else "new connection each:",
                         *measure(n.http_port, None, keep)))
        with Node("bench") as n:
            with open(n.config_path, "a") as f:
                f.write("\ntls:\n  cert: %s\n  key: %s\n" % (crt, key))
            env = dict(os.environ, COMPTOIR_ALLOW_ROOT="1")
            n.proc = subprocess.Popen([BIN, "run", "--dir", n.data], stderr=subprocess.DEVNULL,
                                      env=env)
            ctx = ssl.create_default_context(cafile=crt)
            deadline = time.monotonic() + 15
            while True:
                try:
                    c = http.client.HTTPSConnection("127.0.0.1", n.http_port, context=ctx,
                                                    timeout=1)
                    c.request("GET", "/api/status")
                    c.getresponse().read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            for keep in (False, True):
                print("tls   %-22s median %.2f ms  p99 %.2f ms"
                      % ("kept-alive:" if keep else "new connection each:",
                         *measure(n.http_port, ctx, keep)))
    finally:
        shutil.rmtree(d, ignore_errors=True)


main()
