"""Helpers for integration tests that run real `comptoir` processes on loopback.

Python 3 standard library only. A test script imports this module (tests run
with the repository root as cwd: `python3 tests/integration/test_x.py`):

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from harness import Node, Runner

    t = Runner()
    with Node("paris") as n:
        n.add_user("alice", "alice-password", admin=True)
        n.start()
        c = n.client()
        c.login("alice", "alice-password")
        r = c.post("/api/posts", {"text": "hello"})
        t.check(r.status == 201, "post created", r)
    t.finish()   # prints "N passed, M failed", exits 1 on failure

The binary is $COMPTOIR_BIN (default build/comptoir). Each node lives in
its own temporary directory, removed at exit; its stderr goes to node.log
there, and the tail of it is shown when a start fails. Set
COMPTOIR_KEEP=1 to keep the directories for a post-mortem.
"""

import atexit
import email
import email.policy
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

BIN = os.environ.get("COMPTOIR_BIN", "build/comptoir")
KEEP = os.environ.get("COMPTOIR_KEEP") == "1"

_nodes = []
_ports = set()


def free_port(host="127.0.0.1"):
    """A TCP port free on host now, never the same one twice in a run."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((host, 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _ports:
            _ports.add(port)
            return port
    raise RuntimeError("no free port found")


def wait_until(fn, timeout, interval=0.1):
    """Polls fn() until it returns a true value; returns it, or None after
    timeout seconds. An error of fn (a node still starting, an answer not
    yet there) counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = fn()
        except (OSError, RuntimeError, ValueError, KeyError, TypeError):
            v = None
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def join_site(site):
    """A new site made with `init --join` (no root key of its own), not started."""
    n = Node(site, init=False)
    run_cli("init", "--dir", n.data, "--site", site, "--http", "127.0.0.1:%d" % n.http_port,
            "--listen", "tcp://127.0.0.1:%d" % n.listen_port, "--join")
    return n


def certify_site(root, node, into=None, install=True):
    """Certifies node with root's root key; the certificate is published
    through the store of into (a Node; None: nowhere) and, with install,
    installed at node. Returns the certificate's path."""
    req = os.path.join(node.dir, "site.req")
    with open(req, "w") as f:
        f.write(node.cli("site", "request").stdout)
    args = ["root", "certify", "--key", os.path.join(root.data, "keys", "root.key")]
    if into is not None:
        args += ["--dir", into.data]
    path = os.path.join(node.dir, "site.cert")
    with open(path, "w") as f:
        f.write(run_cli(*(args + [req])).stdout)
    if install:
        node.cli("site", "install", path)
    return path


def export_ids(node):
    """The ids of every event node's store holds (`comptoir export`)."""
    p = run_cli("export", "--dir", node.data)
    return {json.loads(line)["id"] for line in p.stdout.splitlines() if line.strip()}


def run_cli(*args, check=True, timeout=60, input=None):
    """Runs `comptoir ARGS...`; returns the CompletedProcess (text mode)."""
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True,
                       errors="replace", timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError("comptoir %s: exit %d\n%s%s" % (" ".join(map(str, args)),
                                                           p.returncode, p.stdout, p.stderr))
    return p


class Response:
    """One HTTP answer: status, headers (lowercase names), raw body, parsed JSON."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.json = None
        if body and headers.get("content-type", "").startswith("application/json"):
            try:
                self.json = json.loads(body)
            except ValueError:
                pass

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300].decode("utf-8", "replace"))


class Stream:
    """A Server-Sent Events connection. next_event() returns a dict with
    "id", "event" and "data" (parsed JSON when it parses), or None when
    nothing arrives in time. Comments (": ping") are skipped."""

    def __init__(self, conn, resp):
        self.conn = conn
        self.resp = resp
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.getheaders()}

    def next_event(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        ev = {"id": None, "event": "message", "data": None}
        data = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.conn.sock.settimeout(left)
            try:
                line = self.resp.readline()
            except (socket.timeout, TimeoutError):
                return None
            if not line:
                return None
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data:
                    text = "\n".join(data)
                    try:
                        ev["data"] = json.loads(text)
                    except ValueError:
                        ev["data"] = text
                    return ev
                ev = {"id": None, "event": "message", "data": None}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name in ("id", "event", "retry"):
                ev[name] = value

    def wait_for(self, pred, timeout=5.0):
        """The first event for which pred(event) is true, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ev = self.next_event(deadline - time.monotonic())
            if ev is None:
                return None
            if pred(ev):
                return ev
        return None

    def close(self):
        try:
            self.conn.close()
        except OSError:
            pass


class Client:
    """An HTTP client of one node that keeps the session cookie and the CSRF
    token, as a browser tab would. source binds the client to a local
    address (e.g. "127.0.0.2"): each loopback address counts separately in
    the node's per-address login rate limit."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=10.0):
        self.host = host
        self.port = port
        self.source = source
        self.timeout = timeout
        self.cookie = None
        self.device = None  # the comptoir_device cookie a login left, as a browser keeps it
        self.csrf = None
        self.handle = None

    def _conn(self, timeout=None):
        src = (self.source, 0) if self.source else None
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout,
                                          source_address=src)

    def _headers(self, headers, csrf, path=""):
        h = {}
        cookies = []
        if self.cookie:
            cookies.append("comptoir_session=" + self.cookie)
        if self.device and path.startswith("/api/login"):  # its Path
            cookies.append("comptoir_device=" + self.device)
        if cookies:
            h["Cookie"] = "; ".join(cookies)
        if csrf and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        return h

    def _take_cookie(self, resp):
        for k, v in resp.getheaders():
            if k.lower() != "set-cookie":
                continue
            d = re.match(r"\s*comptoir_device=([^;]*)", v)
            if d:
                self.device = d.group(1) or None
                continue
            m = re.match(r"\s*comptoir_session=([^;]*)", v)
            if not m:
                continue
            if m.group(1) == "" or re.search(r"max-age=0", v, re.I):
                self.cookie = None
            else:
                self.cookie = m.group(1)

    def request(self, method, path, body=None, raw=None, headers=None, csrf=True,
                content_type="application/json", chunked=False):
        """body: a JSON value to send; raw: bytes sent as is. csrf=False leaves
        the X-CSRF-Token header out. Returns a Response."""
        h = self._headers(headers, csrf, path)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
        elif raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
        if data is not None and content_type is not None:
            h.setdefault("Content-Type", content_type)
        c = self._conn()
        try:
            if chunked:
                c.putrequest(method, path)
                for k, v in h.items():
                    c.putheader(k, v)
                c.putheader("Transfer-Encoding", "chunked")
                c.endheaders()
                step = 65536
                try:
                    for i in range(0, len(data), step):
                        part = data[i:i + step]
                        c.send(b"%x\r\n" % len(part) + part + b"\r\n")
                    c.send(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
            else:
                c.request(method, path, body=data, headers=h)
            resp = c.getresponse()
            payload = resp.read()
            self._take_cookie(resp)
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def login(self, handle, password, check=True):
        """Logs in; keeps the cookie and the CSRF token. Returns the Response."""
        r = self.post("/api/login", {"handle": handle, "password": password})
        if r.status == 200:
            self.csrf = r.json["csrf_token"]
            self.handle = handle
        elif check:
            raise RuntimeError("login of %s failed: %r" % (handle, r))
        return r

    def logout(self):
        r = self.post("/api/logout")
        self.csrf = None
        self.handle = None
        return r

    def stream(self, path="/api/stream", last_event_id=None, timeout=5.0):
        """Opens the event stream; returns a Stream (check .status)."""
        c = self._conn(timeout)
        h = self._headers({"Accept": "text/event-stream"}, False)
        if last_event_id is not None:
            h["Last-Event-ID"] = str(last_event_id)
        c.request("GET", path, headers=h)
        return Stream(c, c.getresponse())


class Node:
    """One `comptoir` site in a temporary directory: init, users, run, stop."""

    def __init__(self, site="paris", http_port=None, listen_port=None, init=True):
        self.site = site
        self.dir = tempfile.mkdtemp(prefix="comptoir-%s-" % site)
        self.http_port = http_port or free_port()
        self.listen_port = listen_port or free_port()
        self.proc = None
        self.log_path = os.path.join(self.dir, "node.log")
        self._log = None
        self.passwords = {}
        _nodes.append(self)
        if init:
            self.init()

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def config_path(self):
        return os.path.join(self.data, "comptoir.yaml")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def cli(self, *args, check=True, timeout=60):
        """Runs `comptoir ARGS... --dir DATA`."""
        return run_cli(*args, "--dir", self.data, check=check, timeout=timeout)

    def init(self):
        run_cli("init", "--dir", self.data, "--site", self.site, "--http",
                "127.0.0.1:%d" % self.http_port, "--listen",
                "tcp://127.0.0.1:%d" % self.listen_port)

    def set_limits(self, **limits):
        """Sets keys of the limits: section of the config (before start)."""
        with open(self.config_path) as f:
            lines = f.read().split("\n")
        start = next((i for i, l in enumerate(lines) if re.match(r"limits:\s*$", l)), None)
        if start is None:
            lines += ["limits:"]
            start = len(lines) - 1
        end = start + 1
        while end < len(lines) and re.match(r"\s+\S", lines[end]):
            end += 1
        body = {}
        for l in lines[start + 1:end]:
            k, _, v = l.strip().partition(":")
            body[k.strip()] = v.strip()
        body.update({k: str(v) for k, v in limits.items()})
        lines[start + 1:end] = ["  %s: %s" % (k, v) for k, v in body.items()]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def add_user(self, handle, password=None, admin=False, name=None, management=False):
        """Enrols a user; returns the password (generated when not given)."""
        password = password or ("pw-%s-%s" % (handle, os.urandom(6).hex()))
        pf = os.path.join(self.dir, "pw-%s" % handle)
        fd = os.open(pf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        args = ["user", "add", handle, "--password-file", pf]
        if admin:
            args.append("--admin")
        if management:
            args.append("--management")
        if name:
            args += ["--name", name]
        self.cli(*args)
        self.passwords[handle] = password
        return password

    def start(self, timeout=15.0):
        """Starts `comptoir run` and waits until GET /api/status answers."""
        assert self.proc is None, "node already running"
        self._log = open(self.log_path, "ab")
        # Test machines often run as root, which `comptoir run` refuses
        # unless told; the variable is ignored when not root.
        env = dict(os.environ, COMPTOIR_ALLOW_ROOT="1")
        # env: variables of this node's own; bin: another binary for `run`
        # (a test tool built on the same library: tests/tools/commit_delay).
        env.update(getattr(self, "env", {}))
        binary = getattr(self, "bin", None) or BIN
        # wrap: a command to run the node under (a bench pins it with taskset).
        self.proc = subprocess.Popen(getattr(self, "wrap", []) + [binary, "run", "--dir", self.data],
                                     stdout=self._log,
                                     stderr=self._log, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise RuntimeError("comptoir run exited with %d:\n%s" % (rc, self.log_tail()))
            try:
                if self.client(timeout=1.0).get("/api/status").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("comptoir run did not answer within %.0f s:\n%s" % (timeout,
                                                                              self.log_tail()))

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after timeout. Returns the exit code."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self._close_log()
        return rc

    def kill(self):
        """kill -9, as a power cut would."""
        if self.proc is None:
            return None
        self.proc.kill()
        rc = self.proc.wait()
        self.proc = None
        self._close_log()
        return rc

    def _close_log(self):
        if self._log:
            self._log.close()
            self._log = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().split(b"\n")[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def client(self, **kw):
        return Client(self.http_port, **kw)

    def status(self):
        """GET /api/status as a dict."""
        r = self.client().get("/api/status")
        if r.status != 200:
            raise RuntimeError("status: %r" % r)
        return r.json

    def cleanup(self):
        self.stop()
        if self in _nodes:
            _nodes.remove(self)
        if KEEP:
            print("kept %s" % self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


@atexit.register
def _cleanup_all():
    for n in list(_nodes):
        try:
            n.cleanup()
        except Exception:
            pass


class Inbox:
    """What an SMTP server on loopback (aiosmtpd's Controller, started by the
    test) received: (envelope recipients, parsed message)."""

    def __init__(self):
        self.mails = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.mails.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def to(self, addr):
        with self.lock:
            return [m for rc, m in self.mails if addr in rc]

    def count(self):
        with self.lock:
            return len(self.mails)


class Runner:
    """Counts checks. check() records one; test() runs a function as a group
    of checks and counts an exception as a failure. finish() prints the last
    line "N passed, M failed" and exits 1 when something failed."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, name, detail=None):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, "" if detail is None else ": %r" % (detail,)))
        sys.stdout.flush()
        return cond

    def eq(self, got, want, name):
        return self.check(got == want, name, "got %r, want %r" % (got, want))

    def test(self, fn, *args):
        try:
            fn(*args)
        except Exception:
            self.failed += 1
            print("FAIL %s raised:\n%s" % (fn.__name__, traceback.format_exc()))
            sys.stdout.flush()

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.stdout.flush()
        sys.exit(1 if self.failed else 0)
