"""HTTPS and what goes with it (issue 13, item 10), with real processes and
certificates made here by the openssl command, as site IT would with the
company's CA: a CA, a key and a certificate signing request, the certificate
signed by the CA.

- a real TLS handshake from Python's ssl module, verifying the chain and the
  name: login works, the session cookie is Secure, HSTS is sent, the event
  stream works; plain HTTP to the TLS port fails without harming the node;
- the plain port of tls.redirect_http answers 308 to https;
- a missing, unreadable, unparsable, encrypted or mismatched certificate or
  key is an error naming file:line:column, in `run --check` and in `run`;
- plain HTTP off loopback is refused at start, unless insecure_plain_http or
  trusted_proxies say otherwise, and then only loopback and the proxies may
  connect;
- `comptoir init --tls-cert --tls-key`;
- X-Forwarded-For and X-Forwarded-Proto are believed from trusted_proxies
  only: the login rate limit follows the client a proxy names, and a proxy
  is spared the per-address connection cap.
"""

import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Client, Node, Runner, free_port, run_cli  # noqa: E402

t = Runner()
NAME = "intranet.paris.corp"
TMP = tempfile.mkdtemp(prefix="comptoir-tls-")


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


def make_ca(d):
    """The company's CA: a key and a self-signed CA certificate."""
    key, crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-days", "2", "-subj", "/O=Test Corp/CN=Test Corp CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return crt, key


def make_cert(d, stem, sans, ca):
    """A site key, its request, and the certificate the CA signs for it
    (the commands of docs/OPERATIONS.md)."""
    key, csr, crt = (os.path.join(d, stem + e) for e in (".key", ".csr", ".crt"))
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=%s" % sans[0].split(":", 1)[1],
            "-addext", "subjectAltName=" + ",".join(sans))
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
            "-days", "2", "-copy_extensions", "copy", "-out", crt)
    os.chmod(key, 0o600)
    return crt, key


class NamedHTTPS(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1, verifying the certificate for the name in Host."""

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class TLSClient(Client):
    """harness.Client over TLS, as a browser that trusts the company's CA."""

    def __init__(self, port, ca_file, name=NAME, **kw):
        super().__init__(port, host=name, **kw)
        self.ctx = ssl.create_default_context(cafile=ca_file)

    def _conn(self, timeout=None):
        return NamedHTTPS(self.host, self.port, context=self.ctx, timeout=timeout or self.timeout)


def set_top(node, text):
    """Appends top-level YAML to the node's config."""
    with open(node.config_path, "a") as f:
        f.write("\n" + text + "\n")


def check_fails(node, want, name):
    """`run --check` and `run` both fail, saying want (a regex) on stderr."""
    p = node.cli("run", "--check", check=False)
    t.check(p.returncode == 1 and re.search(want, p.stderr),
            "run --check refuses: %s" % name, (p.returncode, p.stderr))
    env = dict(os.environ, COMPTOIR_ALLOW_ROOT="1")
    p = subprocess.run([BIN, "run", "--dir", node.data], capture_output=True, text=True,
                       timeout=30, env=env)
    t.check(p.returncode != 0 and re.search(want, p.stderr),
            "run refuses to start: %s" % name, (p.returncode, p.stderr[-600:]))


def line_of(node, key):
    """1-based line of the first line of the config starting with key."""
    with open(node.config_path) as f:
        for i, l in enumerate(f.read().split("\n"), 1):
            if l.lstrip().startswith(key):
                return i
    raise KeyError(key)


def tls_yaml(crt, key, extra=""):
    return "tls:\n  cert: %s\n  key: %s\n%s" % (crt, key, extra)


def test_https(ca, site):
    redirect = free_port()
    with Node("paris") as n:
        alice = n.add_user("alice", "alice-password")
        set_top(n, tls_yaml(site[0], site[1], "  redirect_http: 127.0.0.1:%d\n" % redirect))
        p = n.cli("run", "--check", check=False)
        t.check(p.returncode == 0 and "configuration is valid" in p.stdout,
                "run --check accepts the certificate", p)
        start(n, ca)
        c = TLSClient(n.http_port, ca)
        r = c.get("/api/status")
        t.eq(r.status, 200, "a verified TLS handshake for %s, then /api/status" % NAME)
        t.eq(r.headers.get("strict-transport-security"), "max-age=31536000", "HSTS is sent")
        r = c.login("alice", alice, check=False)
        t.eq(r.status, 200, "login over HTTPS")
        cookie = r.headers.get("set-cookie", "")
        t.check(re.search(r"(^|;)\s*Secure(;|$)", cookie) and "HttpOnly" in cookie and
                "SameSite=Strict" in cookie, "the session cookie is Secure, HttpOnly, SameSite",
                cookie)
        t.eq(c.get("/api/me").status, 200, "the session works")
        s = c.stream()
        t.eq(s.status, 200, "the event stream opens over HTTPS")
        t.eq(c.post("/api/posts", {"text": "over tls"}).status, 201, "a post over HTTPS")
        ev = s.wait_for(lambda e: e["event"] == "post", timeout=10)
        t.check(ev is not None, "the stream delivers over HTTPS", ev)
        s.close()
        r = c.post("/api/logout")
        t.check("Secure" in r.headers.get("set-cookie", ""), "the logout cookie is Secure too")

        # A name of the certificate is accepted without being in http_names;
        # another name is not, even over TLS.
        t.eq(TLSClient(n.http_port, ca, name="localhost").get("/api/status").status, 200,
             "localhost (also in the certificate)")
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        conn = NamedHTTPS("127.0.0.1", n.http_port, context=ctx, timeout=10)
        conn.request("GET", "/api/status", headers={"Host": "rebind.attacker.example"})
        t.eq(conn.getresponse().status, 421, "a rebinding name is refused over TLS too")
        conn.close()

        # Plain HTTP to the TLS port: the handshake fails, the node lives on.
        conn = http.client.HTTPConnection("127.0.0.1", n.http_port, timeout=10)
        try:
            conn.request("GET", "/api/status")
            got = conn.getresponse().status
        except (http.client.HTTPException, OSError) as e:
            got = type(e).__name__
        conn.close()
        t.check(not isinstance(got, int), "plain HTTP to the TLS port gets no answer", got)
        t.check(n.running(), "the node survives plain HTTP on its TLS port")
        t.eq(c.get("/api/status").status, 200, "and still serves HTTPS")

        # The redirect port.
        for host, want, loc in [
                ("%s:%d" % (NAME, redirect), 308, "https://%s:%d/api/feed" % (NAME, n.http_port)),
                ("127.0.0.1:%d" % redirect, 308, "https://127.0.0.1:%d/api/feed" % n.http_port),
                ("rebind.attacker.example", 421, None)]:
            conn = http.client.HTTPConnection("127.0.0.1", redirect, timeout=10)
            conn.request("GET", "/api/feed?x=1", headers={"Host": host})
            r = conn.getresponse()
            r.read()
            t.eq((r.status, r.getheader("Location")), (want, loc),
                 "the plain port redirects Host %s" % host)
            conn.close()


def start(n, ca):
    """Node.start over TLS: waits for /api/status with the CA."""
    env = dict(os.environ, COMPTOIR_ALLOW_ROOT="1")
    n._log = open(n.log_path, "ab")
    n.proc = subprocess.Popen([BIN, "run", "--dir", n.data], stdout=n._log, stderr=n._log,
                              stdin=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if n.proc.poll() is not None:
            raise RuntimeError("comptoir run exited:\n" + n.log_tail())
        try:
            if TLSClient(n.http_port, ca, timeout=1).get("/api/status").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("no HTTPS answer:\n" + n.log_tail())


def test_bad_files(ca, site):
    other = make_cert(TMP, "other", ["DNS:other.paris.corp"], (ca, os.path.join(TMP, "ca.key")))
    garbage = os.path.join(TMP, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("this is not a certificate\n")
    os.chmod(garbage, 0o600)  # as a key, it must pass the mode check first
    enc = os.path.join(TMP, "enc.key")
    openssl("pkey", "-in", site[1], "-out", enc, "-aes256", "-passout", "pass:secret")
    os.chmod(enc, 0o600)
    open_key = os.path.join(TMP, "open.key")
    shutil.copy(site[1], open_key)
    os.chmod(open_key, 0o644)
    missing = os.path.join(TMP, "missing.pem")
    cases = [
        ("a missing certificate", missing, site[1], "cert",
         r"tls\.cert: cannot read %s: No such file or directory" % re.escape(missing)),
        ("a missing key", site[0], missing, "key",
         r"tls\.key: cannot read %s: No such file or directory" % re.escape(missing)),
        ("a certificate that is not PEM", garbage, site[1], "cert",
         r"tls\.cert: %s holds no PEM certificate" % re.escape(garbage)),
        ("a key that is not PEM", site[0], garbage, "key",
         r"tls\.key: %s holds no PEM private key" % re.escape(garbage)),
        ("the key of another certificate", site[0], other[1], "key",
         r"tls\.key: %s is not the key of the certificate in %s" % (re.escape(other[1]),
                                                                      re.escape(site[0]))),
        ("an encrypted key", site[0], enc, "key", r"tls\.key: %s is encrypted" % re.escape(enc)),
        ("a key readable by everyone", site[0], open_key, "key",
         r"tls\.key: %s is readable by every user" % re.escape(open_key)),
    ]
    for name, crt, key, which, want in cases:
        with Node("paris") as n:
            set_top(n, tls_yaml(crt, key))
            ln = line_of(n, which + ":")
            check_fails(n, r"comptoir\.yaml:%d:%d: %s" % (ln, len("  %s: " % which) + 1, want),
                        name)
    with Node("paris") as n:
        set_top(n, "tls:\n  cert: %s\n" % site[0])
        check_fails(n, r"comptoir\.yaml:%d:3: \"tls\" needs both \"cert\" and \"key\"" %
                    (line_of(n, "tls:") + 1), "a certificate without its key")
    with Node("paris") as n:
        set_top(n, "tls:\n  redirect_http: 127.0.0.1:1\n")
        check_fails(n, r"comptoir\.yaml:%d:18: \"redirect_http\" needs \"cert\" and \"key\"" %
                    (line_of(n, "tls:") + 1), "a redirect without a certificate")
    # Relative paths are relative to the config file.
    with Node("paris") as n:
        shutil.copy(site[0], os.path.join(n.data, "site.crt"))
        shutil.copy(site[1], os.path.join(n.data, "site.key"))
        set_top(n, tls_yaml("site.crt", "site.key"))
        p = run_cli("run", "--check", "--dir", n.data, check=False)
        t.check(p.returncode == 0, "relative tls paths are read beside comptoir.yaml", p)


def global_address():
    """A non-loopback IPv4 address of this machine, or None."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                             capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return None
    m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    return m.group(1) if m else None


def test_plain_off_loopback():
    port = free_port()
    with Node("paris", http_port=port, init=False) as n:
        run_cli("init", "--dir", n.data, "--site", "paris", "--http", "0.0.0.0:%d" % port,
                "--listen", "tcp://127.0.0.1:%d" % n.listen_port)
        ln = line_of(n, "http:")
        check_fails(n, r"comptoir\.yaml:%d:7: http: 0\.0\.0\.0:%d is not a loopback address "
                    r"and no tls is configured: .*in clear: set tls\.cert and tls\.key" % (ln, port),
                    "plain HTTP on 0.0.0.0")
        # Behind a reverse proxy: plain HTTP, but to loopback and the proxy only.
        set_top(n, "trusted_proxies:\n  - 192.0.2.200\n")
        n.start()
        t.eq(n.client().get("/api/status").status, 200, "with trusted_proxies it starts")
        lan = global_address()
        if lan is None:
            print("note: no non-loopback address here; the refusal from the LAN is not tried")
        else:
            c = Client(port, host=lan, source=lan, timeout=5)
            try:
                got = c.get("/api/status").status
            except (http.client.HTTPException, OSError) as e:
                got = type(e).__name__
            t.check(not isinstance(got, int), "a LAN client (%s) that is no proxy is refused"
                    % lan, got)
            m = n.client().get("/metrics").body.decode()
            t.check(re.search(r'comptoir_http_refused_total\{reason="not_proxy"\} [1-9]', m),
                    "the refusal is counted")
        n.stop()
    with Node("paris", http_port=port, init=False) as n:
        run_cli("init", "--dir", n.data, "--site", "paris", "--http", "0.0.0.0:%d" % port,
                "--listen", "tcp://127.0.0.1:%d" % n.listen_port)
        set_top(n, "insecure_plain_http: true\n")
        n.start()
        t.eq(n.client().get("/api/status").status, 200, "insecure_plain_http: it starts")
        t.check("insecure_plain_http: serving plain HTTP on 0.0.0.0" in n.log_tail(),
                "and says loudly what it does", n.log_tail())
        lan = global_address()
        if lan:
            t.eq(Client(port, host=lan, source=lan).get("/api/status").status, 200,
                 "to the LAN too")


def test_init_tls(ca, site):
    with Node("paris", init=False) as n:
        p = run_cli("init", "--dir", n.data, "--site", "paris", "--http",
                    "127.0.0.1:%d" % n.http_port, "--listen", "tcp://127.0.0.1:%d" % n.listen_port,
                    "--tls-cert", site[0], "--tls-key", site[1], check=False)
        t.check(p.returncode == 0 and "https://127.0.0.1:%d/" % n.http_port in p.stdout,
                "init --tls-cert --tls-key", p)
        with open(n.config_path) as f:
            text = f.read()
        t.check("\ntls:\n  cert: %s\n  key: %s\n" % (site[0], site[1]) in text,
                "init writes the tls section", text)
        start(n, ca)
        t.eq(TLSClient(n.http_port, ca).get("/api/status").status, 200, "and the node speaks HTTPS")
    other = make_cert(TMP, "other2", ["DNS:x.paris.corp"], (ca, os.path.join(TMP, "ca.key")))
    d = os.path.join(TMP, "init-mismatch")
    p = run_cli("init", "--dir", d, "--tls-cert", site[0], "--tls-key", other[1], check=False)
    t.check(p.returncode == 1 and "is not the key of the certificate" in p.stderr,
            "init refuses a key that is not the certificate's", p)
    t.check(not os.path.exists(d), "and creates nothing")
    p = run_cli("init", "--dir", d, "--tls-cert", site[0], check=False)
    t.check(p.returncode == 2 and "go together" in p.stderr, "init wants both files", p)


def test_proxies():
    with Node("paris") as n:
        alice = n.add_user("alice", "alice-password")
        n.set_limits(login_per_minute=2, max_connections_per_address=2)
        set_top(n, "trusted_proxies:\n  - 127.0.0.1\n")
        n.start()

        guesses = iter(range(1000))

        def login(src, xff=None, proto=None, pw="wrong-password"):
            # Wrong passwords go to a new handle each time: these checks are
            # of the per-address buckets, and one account's own back-off
            # (after five failures) would answer 429 first.
            handle = "alice" if pw != "wrong-password" else "guess%d" % next(guesses)
            h = {}
            if xff:
                h["X-Forwarded-For"] = xff
            if proto:
                h["X-Forwarded-Proto"] = proto
            return Client(n.http_port, source=src).post(
                "/api/login", {"handle": handle, "password": pw}, headers=h)

        got = [login("127.0.0.1", "203.0.113.7").status for _ in range(3)]
        t.eq(got, [401, 401, 429], "through the proxy, the limit is 203.0.113.7's")
        t.eq(login("127.0.0.1", "203.0.113.8").status, 401, "another client behind it is not limited")
        t.eq(login("127.0.0.1", "203.0.113.8, 203.0.113.7").status, 429,
             "the rightmost untrusted entry counts, not what the client wrote to its left")
        t.eq(login("127.0.0.1", "[::ffff:203.0.113.7]:5123").status, 429,
             "an IPv4-mapped address with a port is the same client")
        t.eq(login("127.0.0.1", "198.51.100.1, 127.0.0.1").status, 401,
             "a proxy in the chain is skipped")
        got = [login("127.0.0.2", "203.0.113.%d" % (20 + i)).status for i in range(3)]
        t.eq(got, [401, 401, 429], "from an address that is no proxy, X-Forwarded-For is ignored")
        r = login("127.0.0.1", "198.51.100.9", proto="https", pw=alice)
        t.eq(r.status, 200, "login through the proxy")
        t.check("Secure" in r.headers.get("set-cookie", "") and
                "strict-transport-security" in r.headers,
                "X-Forwarded-Proto: https from the proxy: Secure cookie and HSTS", r.headers)
        t.check(re.search(r"login of alice from 198\.51\.100\.9", n.log_tail()),
                "the log names the client the proxy named", n.log_tail(5))
        r = login("127.0.0.3", proto="https", pw=alice)
        t.check(r.status == 200 and "Secure" not in r.headers.get("set-cookie", "") and
                "strict-transport-security" not in r.headers,
                "X-Forwarded-Proto from elsewhere is ignored", r.headers)

        # The proxy carries many clients: the per-address cap spares it.
        def held(src, k):
            """Opens k connections, then asks on each: how many answer?
            Keep-alive requests: no answer frees a slot before the last
            connection was accepted or refused."""
            socks = [socket.create_connection(("127.0.0.1", n.http_port), timeout=5,
                                              source_address=(src, 0)) for _ in range(k)]
            ok = 0
            for s in socks:
                try:
                    s.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                except OSError:
                    pass
            for s in socks:
                try:
                    ok += s.recv(12).startswith(b"HTTP/1.1 200")
                except OSError:
                    pass
            for s in socks:
                s.close()
            return ok

        t.eq(held("127.0.0.1", 5), 5, "five connections at once from the proxy")
        t.eq(held("127.0.0.4", 5), 2, "two from another address (max_connections_per_address: 2)")


ca_crt, ca_key = make_ca(TMP)
site_cert = make_cert(TMP, "site", ["DNS:" + NAME, "DNS:localhost", "IP:127.0.0.1"],
                      (ca_crt, ca_key))
t.test(test_https, ca_crt, site_cert)
t.test(test_bad_files, ca_crt, site_cert)
t.test(test_plain_off_loopback)
t.test(test_init_tls, ca_crt, site_cert)
t.test(test_proxies)
shutil.rmtree(TMP, ignore_errors=True)
t.finish()
