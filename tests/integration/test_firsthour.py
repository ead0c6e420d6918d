"""What site IT meets in its first hour, with real `comptoir` processes on
loopback (issue 14): a revoked site is shown as revoked, not as an outage,
at the sites that revoked it and at the site itself; what is waiting to be
sent to a cut-off site grows during the outage, survives a restart and
drains once the link is back; sites have display names; `site request`
refuses an endpoint nobody can dial; `status` says plainly when the node is
not running.

    python3 tests/integration/test_firsthour.py

Ends with "N passed, M failed" and exits 1 on failure.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BIN, Client, Node, Runner, free_port, run_cli  # noqa: E402

t = Runner()
DEADLINE = 30.0
FAST_SYNC = "sync:\n  heartbeat_ms: 200\n  reconcile_interval: 5\n"


def wait_until(fn, timeout=DEADLINE, interval=0.1):
    return harness.wait_until(fn, timeout, interval)


def fast_sync(node):
    with open(node.config_path, "a") as f:
        f.write("\n" + FAST_SYNC)


def federation(first, second, first_title=None, second_title=None):
    """Two sites: `first` is a lone site whose root certifies `second`, which
    joins and dials it. Returns (root, joiner, joiner's cert path)."""
    a = Node(first, init=False)
    args = ["init", "--dir", a.data, "--site", first, "--http", "127.0.0.1:%d" % a.http_port,
            "--listen", "tcp://127.0.0.1:%d" % a.listen_port]
    if first_title:
        args += ["--title", first_title]
    run_cli(*args)
    b = Node(second, init=False)
    run_cli("init", "--dir", b.data, "--site", second, "--http", "127.0.0.1:%d" % b.http_port,
            "--listen", "tcp://127.0.0.1:%d" % b.listen_port, "--join")
    root = os.path.join(a.data, "keys", "root.key")
    req_args = ["site", "request"] + (["--title", second_title] if second_title else [])
    with open(os.path.join(b.dir, "b.req"), "w") as f:
        f.write(b.cli(*req_args).stdout)
    with open(os.path.join(a.dir, "a.req"), "w") as f:
        f.write(a.cli("site", "request").stdout)
    bcert = os.path.join(b.dir, "b.cert")
    with open(bcert, "w") as f:
        f.write(run_cli("root", "certify", "--key", root, "--dir", a.data,
                        os.path.join(b.dir, "b.req")).stdout)
    acert = os.path.join(a.dir, "a.cert")
    with open(acert, "w") as f:
        f.write(run_cli("root", "certify", "--key", root, os.path.join(a.dir, "a.req")).stdout)
    b.cli("site", "install", bcert)
    b.cli("peer", "add", acert)
    fast_sync(a)
    fast_sync(b)
    return a, b, bcert


def peer(node, site):
    """The peer entry for site in node's /api/status, or None."""
    for p in node.status().get("peers", []):
        if p.get("site") == site:
            return p
    return None


def linked(node, site):
    p = peer(node, site)
    return bool(p and p.get("connected"))


def export_ids(node):
    p = run_cli("export", "--dir", node.data)
    return {json.loads(l)["id"] for l in p.stdout.splitlines() if l.strip()}


def status_row(node, site):
    """The words of site's line in `comptoir status`'s peer table."""
    out = node.cli("status").stdout
    for line in out.splitlines():
        words = line.split()
        if words and words[0] == site:
            return words
    return None


# ------------------------------------------------------------------ bug 1

def test_titles():
    """Display names (bug 13): in the certificates, shown by status and the API."""
    paris, lyon, _ = federation("paris", "lyon", "Paris HQ", "Lyon warehouse")
    paris.start()
    lyon.start()
    t.check(wait_until(lambda: linked(paris, "lyon") and linked(lyon, "paris")),
            "paris and lyon link up")
    st = paris.status()
    t.eq(st.get("title"), "Paris HQ", "paris's status carries its title")
    titles = {s["site"]: s.get("title") for s in st.get("sites", [])}
    t.eq(titles, {"paris": "Paris HQ", "lyon": "Lyon warehouse"}, "the sites list names both sites")
    t.eq(peer(paris, "lyon").get("title"), "Lyon warehouse", "the peer entry carries the title")
    t.check(wait_until(lambda: lyon.status().get("title") == "Lyon warehouse"),
            "lyon's status carries the title from its certificate", lyon.status().get("title"))
    t.check(re.search(r"(?m)^site: +lyon \(Lyon warehouse\)$", lyon.cli("status").stdout),
            "comptoir status shows the site's title")
    # A new request keeps the title of the current certificate unless told.
    t.check("title: Lyon warehouse" in lyon.cli("site", "request").stdout,
            "site request keeps the certificate's title")
    paris.cleanup()
    lyon.cleanup()


def test_revoked():
    paris, lyon, _ = federation("paris", "lyon")
    paris.start()
    lyon.start()
    t.check(wait_until(lambda: linked(paris, "lyon") and linked(lyon, "paris")),
            "paris and lyon link up")
    t.eq(peer(paris, "lyon").get("state"), "connected", "a linked peer's state is connected")

    run_cli("root", "revoke", "--key", os.path.join(paris.data, "keys", "root.key"),
            "--dir", paris.data, "lyon")

    # At the revoking site: revoked, not an outage.
    t.check(wait_until(lambda: peer(paris, "lyon")["state"] == "revoked"),
            "paris shows lyon as revoked", peer(paris, "lyon"))
    p = peer(paris, "lyon")
    t.check(not p["connected"] and p["to_send"] == 0, "a revoked peer is down with nothing to send", p)
    t.check(wait_until(lambda: any(s["site"] == "lyon" and s["revoked"] for s in paris.status()["sites"])),
            "the sites list marks lyon revoked (it may be a second old)")
    t.check(wait_until(lambda: (status_row(paris, "lyon") or [None, None])[1] == "revoked"),
            "comptoir status at paris says revoked", paris.cli("status").stdout)
    out = paris.cli("status").stdout
    t.check("unreachable" not in out and "lyon is revoked" in out,
            "comptoir status at paris does not call lyon unreachable", out)
    metrics = paris.client().get("/metrics").body.decode()
    t.check('comptoir_peers{state="revoked"} 1' in metrics and 'comptoir_peers{state="down"} 0' in metrics,
            "/metrics counts lyon as revoked, not down",
            [l for l in metrics.splitlines() if l.startswith("comptoir_peers")])

    # At the revoked site: it holds its revocation and says so; the peer
    # refuses its handshakes, and its status says that rather than
    # "unreachable".
    t.check(wait_until(lambda: lyon.status().get("revoked") is True),
            "lyon's status says its certificate is revoked", lyon.status().get("revoked"))
    out = lyon.cli("status").stdout
    t.check(re.search(r"(?m)^REVOKED: ", out), "comptoir status at lyon says it is revoked", out)
    t.check(wait_until(lambda: peer(lyon, "paris")["state"] == "refused"),
            "lyon shows paris as refusing it", peer(lyon, "paris"))
    t.check(wait_until(lambda: peer(lyon, "paris")["to_send"] == 0),
            "a revoked site has nothing waiting to send: nothing will go", peer(lyon, "paris"))
    t.check(wait_until(lambda: "refused by paris: not admitted" in lyon.cli("status").stdout),
            "comptoir status at lyon says refused by paris: not admitted", lyon.cli("status").stdout)
    t.check("refused by paris: not admitted" in lyon.log_tail(200),
            "lyon's log says why its handshakes fail")
    paris.cleanup()
    lyon.cleanup()


# ------------------------------------------------------------------ bug 4

def test_waiting_to_send():
    paris, lyon, _ = federation("paris", "lyon")
    paris.add_user("alice", admin=True)
    paris.start()
    lyon.start()
    t.check(wait_until(lambda: linked(paris, "lyon") and linked(lyon, "paris")), "linked")
    c = paris.client()
    c.login("alice", paris.passwords["alice"])
    first = c.post("/api/posts", {"text": "before the cut"}).json["id"]
    t.check(wait_until(lambda: first in export_ids(lyon)), "a post reaches lyon while linked")
    t.check(wait_until(lambda: peer(paris, "lyon")["to_send"] == 0), "nothing waits while in step")
    # Long enough in step for the watermark to follow (it moves once a second).
    time.sleep(2.5)

    lyon.stop()
    t.check(wait_until(lambda: not linked(paris, "lyon")), "the link to lyon is down")
    for i in range(5):
        t.eq(c.post("/api/posts", {"text": "during the outage %d" % i}).status, 201, "post %d" % i)
    t.check(wait_until(lambda: peer(paris, "lyon")["to_send"] >= 5),
            "waiting to send grows with the posts made during the outage", peer(paris, "lyon"))
    t.eq(peer(paris, "lyon")["to_send"], 5, "waiting to send counts exactly those five posts")
    row = status_row(paris, "lyon")
    t.check(row is not None and row[1] == "unreachable" and "5" in row,
            "TO SEND in comptoir status shows them too", row)

    # A restart of paris during the outage still knows.
    paris.stop()
    paris.start()
    t.check(wait_until(lambda: (peer(paris, "lyon") or {}).get("to_send") == 5, timeout=10),
            "after a restart during the outage the count is still 5", peer(paris, "lyon"))
    c = paris.client()
    c.login("alice", paris.passwords["alice"])
    c.post("/api/posts", {"text": "after the restart"})
    t.check(wait_until(lambda: peer(paris, "lyon")["to_send"] == 6),
            "and grows again with the next post", peer(paris, "lyon"))

    lyon.start()
    t.check(wait_until(lambda: linked(paris, "lyon")), "the link is back")
    t.check(wait_until(lambda: peer(paris, "lyon")["to_send"] == 0),
            "waiting to send drains to 0 once the link is back", peer(paris, "lyon"))
    texts = run_cli("export", "--dir", lyon.data).stdout
    t.check(all("during the outage %d" % i in texts for i in range(5)) and "after the restart" in texts,
            "lyon holds every post made during the outage")
    paris.cleanup()
    lyon.cleanup()


# ------------------------------------------------------------ site IT's CLI

def test_site_request_endpoint():
    n = Node("nantes", init=False)
    run_cli("init", "--dir", n.data, "--site", "nantes", "--http", "127.0.0.1:%d" % n.http_port,
            "--listen", "tcp://0.0.0.0:%d" % n.listen_port, "--join")
    r = n.cli("site", "request", check=False)
    t.check(r.returncode != 0 and r.stdout == "", "site request refuses a wildcard listen endpoint", r)
    t.check("--endpoint" in r.stderr and "0.0.0.0" in r.stderr, "and says to give --endpoint", r.stderr)
    r = n.cli("site", "request", "--endpoint", "tcp://nantes.corp:%d" % n.listen_port, check=False)
    t.check(r.returncode == 0 and "endpoint: tcp://nantes.corp:" in r.stdout,
            "site request with --endpoint writes the endpoint given", r)
    r = n.cli("site", "request", "--endpoint", "tcp://nantes.corp:1", "--title", "bad\ttitle", check=False)
    t.check(r.returncode == 2 and "--title" in r.stderr, "a title with a control character is refused", r)
    r = run_cli("init", "--dir", os.path.join(n.dir, "other"), "--site", "x", "--title", "X", "--join",
                check=False)
    t.check(r.returncode == 2 and "site request" in r.stderr,
            "init --join --title says the title goes to site request", r)
    n.cleanup()


def test_status_not_running():
    n = Node("brest")
    out = n.cli("status").stdout
    t.check(re.search(r"(?m)^node: +not running$", out), "status says plainly: not running", out)
    t.check("comptoir run --dir" in out and "log" in out, "and how to start it, and where to look", out)
    n.start()
    t.check(wait_until(lambda: re.search(r"(?m)^node: +running, pid \d+$", n.cli("status").stdout)),
            "status says running once it runs")
    log = n.log_tail(50)
    t.check(re.search(r"listening on http://127\.0\.0\.1:%d$" % n.http_port, log, re.M),
            "the http log line names the address once, with its port", log)
    t.check(re.search(r"running http=http://127\.0\.0\.1:%d/ listen=tcp://" % n.http_port, log),
            "the node's start line labels the listen endpoint listen=", log)
    n.cleanup()


def test_usage():
    r = run_cli("user", check=False)
    t.check(r.returncode == 2 and "comptoir user list" in r.stderr and "|" not in r.stderr,
            "user usage lists each form on its own line, no shell-like bars", r.stderr)


# ---------------------------------------------------------------- make run

MAKE_RUN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "deploy", "make-run.sh")


def make_run(work, **env):
    """Starts deploy/make-run.sh as `make run` does; returns the process."""
    e = dict(os.environ, COMPTOIR_DIR=os.path.join(work, "var"), **env)
    return subprocess.Popen(["sh", MAKE_RUN, os.path.abspath(BIN)], cwd=work, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def answers(port):
    try:
        return Client(port, timeout=1.0).get("/api/status").status == 200
    except OSError:
        return False


def stop_run(p):
    os.killpg(p.pid, signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    return out


make_run_0 = make_run


def test_make_run():
    work = tempfile.mkdtemp(prefix="comptoir-makerun-")
    started = []  # every make run, stopped in the end whatever failed

    def make_run(*a, **kw):
        started.append(make_run_0(*a, **kw))
        return started[-1]

    try:
        p1, p2, listen = free_port(), free_port(), free_port()
        p = make_run(work, COMPTOIR_HTTP="127.0.0.1:%d" % p1, COMPTOIR_SITE="trial",
                     COMPTOIR_TITLE="Trial site", COMPTOIR_LISTEN="tcp://127.0.0.1:%d" % listen)
        t.check(wait_until(lambda: answers(p1)), "make run serves on COMPTOIR_HTTP")
        st = Client(p1).get("/api/status").json
        t.check(st["site"] == "trial" and st.get("title") == "Trial site",
                "COMPTOIR_SITE and COMPTOIR_TITLE name the new site", st)
        out = stop_run(p)
        t.check("password: " in out and "user passwd admin" in out,
                "the admin password is shown once, with how to get a new one", out)
        t.check("next:" not in out, "init's hint to add an admin and run is not repeated", out)
        pw = re.search(r"password: (\S+)", out).group(1)

        # ./var exists now: COMPTOIR_HTTP still applies, and says so.
        p = make_run(work, COMPTOIR_HTTP="127.0.0.1:%d" % p2, COMPTOIR_SITE="other")
        t.check(wait_until(lambda: answers(p2)), "a later COMPTOIR_HTTP moves the node")
        c = Client(p2)
        t.eq(c.login("admin", pw, check=False).status, 200, "the admin logs in with that password")
        out = stop_run(p)
        t.check("is now 127.0.0.1:%d" % p2 in out, "make run says it changed the address", out)
        t.check("COMPTOIR_SITE=other is not applied" in out, "and that COMPTOIR_SITE is not applied", out)

        # The password printed once is lost: user passwd gives a new one.
        r = run_cli("user", "passwd", "admin", "--dir", os.path.join(work, "var"))
        new = re.search(r"password: (\S+)", r.stdout).group(1)
        p = make_run(work)
        t.check(wait_until(lambda: answers(p2)), "make run again, with no variables")
        t.eq(Client(p2).login("admin", new, check=False).status, 200,
             "the admin logs in with the password from user passwd")
        stop_run(p)
    finally:
        for q in started:
            if q.poll() is None:
                try:
                    stop_run(q)
                except (OSError, subprocess.TimeoutExpired):
                    os.killpg(q.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


t.test(test_site_request_endpoint)
t.test(test_status_not_running)
t.test(test_usage)
t.test(test_make_run)
t.test(test_titles)
t.test(test_revoked)
t.test(test_waiting_to_send)
t.finish()
