"""Healing after an outage: two sites holding the same N events (default
100,000) lose their link, each writes D new events (default 1,000) meanwhile,
and the link comes back. Printed: the time from the link being up (the TCP
connection of the dialing site accepted again) to both sites holding the
union, next to the target (<= 100 ms), for each of CYCLES cuts (default 3),
and their median.

Run from the repository root after `make build/comptoir build/tests/bench/fill`:
    python3 tests/bench/heal.py [N] [D]

The link runs through a TCP relay in this script (the cut: the relay closes
its connections and stops listening; the heal: it listens again). The new
events are written by `fill` while both nodes are stopped (fill wants the
store to itself); both nodes are then started with the link still cut, and
the link is healed once both answer. When each node holds the union is
taken from the node itself: `stored_us` in its /api/status, the moment its
last commit that stored events ended (wall clock, microseconds), read once
the node shows the union; the script polls every 25 ms only to see that it
does (HEAL_POLL_MS), which costs the nodes and this machine next to nothing,
and the figure does not depend on it. Before (and with HEAL_POLL=1, or a
binary without `stored_us`), it polled both nodes every ~2 ms and took the
time it saw the union: the figure was late by up to a poll, and the polls
(a new HTTP connection each, on both nodes, and this script's own CPU and
GIL, which the relay's threads need too) took CPU from the heal they timed.
HEAL_LIVE=1 makes the outage the one the issue describes: both nodes keep
running through it, and each writes its D events as its staff would, through
its HTTP API (a user added to each site before the start, logged in once;
80% posts, 10% comments, 10% reactions, in that order), while the relay is
cut: the events are stamped now, above the watermark each node keeps of what
its peer holds, and the nodes are warm (their first large transaction is
behind them). Without it, the events are written by `fill` with both nodes
stopped, stamped over the last day, and each heal is the first large
transaction of two freshly started processes.
Environment: HEAL_CACHE=DIR keeps the filled first site there and reuses it;
HEAL_ONE_SIDE=1 has only the first site write during the outage (the second
heals alone, the first's CPU nearly free: a site healing on a machine of its
own), and the heal is the second's;
CYCLES; COMPTOIR_BIN picks the binary (fill is taken from beside it, under
tests/bench/); COMPTOIR_KEEP=1 keeps the directories.

HEAL_DEBUG=1 runs both nodes at log level debug with millisecond stamps, keeps
their logs in /tmp/heal-*.log and prints, after each cut, the heal's timeline
per node from their trace lines (milliseconds after link-up: the handshake,
each reconciliation message in and out with its size and the CPU of its
answer, the events out, each put, its verification, the commit's building
and its commit with fsync, the put done and ACKed), then, by thread, the CPU
each node spent from the relay listening to the poll that saw the union (up
to HEAL_POLL_MS after it) and how long its threads waited for a CPU
(/proc/PID/task/*/schedstat). The debug lines cost
a little CPU themselves: compare figures taken the same way.
"""

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BIN, Client, Node, free_port, run_cli  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
D = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
CYCLES = int(os.environ.get("CYCLES", "3"))
BUILD = os.path.dirname(BIN) or "."
FILL = os.path.join(BUILD, "tests", "bench", "fill")
TARGET_MS = 100.0
# A node started on a copied store first builds its search index (the whole
# store, before it answers): minutes on a loaded machine.
START_S = int(os.environ.get("HEAL_START_S", "900"))


class Relay:
    """A TCP relay on loopback that can be cut and healed; records when it
    accepted its first connection after each heal."""

    def __init__(self, upstream_port):
        self.port = free_port()
        self.upstream = upstream_port
        self.lsock = None
        self.conns = []
        self.lock = threading.Lock()
        self.first_accept = None

    def heal(self):
        self.first_accept = None
        self.first_accept_wall = None
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self.lsock = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def cut(self):
        ls, self.lsock = self.lsock, None
        if ls:
            try:
                ls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            ls.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            if self.first_accept is None:
                self.first_accept_wall = time.time()
                self.first_accept = time.monotonic()
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                c.close()
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns += [c, u]
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                d = a.recv(1 << 16)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def fill(node, posts, comments, reactions, prefix, days="365", users="20"):
    r = subprocess.run([FILL, "--dir", node.data, "--posts", str(posts), "--comments",
                        str(comments), "--reactions", str(reactions), "--users", users,
                        "--days", days, "--prefix", prefix], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr)
        sys.exit(1)
    return r.stdout.strip().splitlines()[-1]


def thread_cpu(pid):
    """By thread name of a process: (ns on a CPU, ns waiting for one, minor
    page faults) from /proc/PID/task/*/schedstat and stat."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                run, wait = (int(x) for x in f.read().split()[:2])
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                flt = int(f.read().rsplit(")", 1)[1].split()[7])
        except (OSError, ValueError, IndexError):
            continue
        r, w, m = out.get(name, (0, 0, 0))
        out[name] = (r + run, w + wait, m + flt)
    return out


TRACE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z debug (\w+) (.*)$")
NAMES = {"1": "HELLO", "4": "EVENTS", "5": "ACK", "7": "WANT", "8": "RECON", "9": "STATUS",
         "10": "BACKLOG"}


def timeline(path, offset, up_wall, until_wall):
    """The trace lines of one node's log written from offset on, between
    link-up and the union (plus a second), as (ms after link-up, text)."""
    import calendar
    rows = []
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read().decode("utf-8", "replace")
    for line in data.splitlines():
        m = TRACE.match(line)
        if not m or "trace" not in m.group(3):
            continue
        t = calendar.timegm(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S"))
        t += int(m.group(1)[20:23]) / 1000.0
        if t < up_wall - 0.05 or t > until_wall + 1.0:
            continue
        text = m.group(3).replace("trace ", "")
        if " type=2 " in text or " type=3 " in text or " type=9 " in text or " type=10 " in text:
            continue  # heartbeats and status
        text = re.sub(r"type=(\d+)", lambda x: NAMES.get(x.group(1), "type " + x.group(1)), text)
        rows.append(((t - up_wall) * 1000, text))
    return rows


LIVE_PASSWORD = "heal-bench-password"


def add_user(node, handle):
    pf = os.path.join(node.dir, "pw-" + handle)
    fd = os.open(pf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(LIVE_PASSWORD + "\n")
    node.cli("user", "add", handle, "--password-file", pf)


def write_live(client, d, prefix):
    """d events through the API of a running node: 80% posts, then 10%
    comments and 10% reactions on them."""
    posts, n_posts, n_comments = [], int(d * 0.8), d // 10
    for i in range(n_posts):
        r = client.post("/api/posts", {"text": "%s: post %d written during the outage" % (prefix, i)})
        if r.status != 201:
            raise RuntimeError("post %d refused: %r" % (i, r))
        posts.append(r.json["id"])
    for i in range(n_comments):
        r = client.post("/api/posts/%s/comments" % posts[i % len(posts)],
                        {"text": "%s: comment %d" % (prefix, i)})
        if r.status != 201:
            raise RuntimeError("comment %d refused: %r" % (i, r))
    for i in range(d - n_posts - n_comments):
        r = client.post("/api/posts/%s/reactions" % posts[-1 - i % len(posts)],
                        {"reaction": "\U0001F44D"})
        if r.status not in (200, 201):
            raise RuntimeError("reaction %d refused: %r" % (i, r))


def events(client):
    r = client.get("/api/status")
    return r.json["events"] if r.status == 200 else -1


def events_at(client):
    """(events held, when the node last stored events: wall-clock seconds,
    0 when not since it started, None when the binary does not say)."""
    r = client.get("/api/status")
    if r.status != 200:
        return -1, None
    at = r.json.get("stored_us")
    return r.json["events"], (at / 1e6 if at is not None else None)


def main():
    rate = subprocess.run([os.path.join(BUILD, "tests", "bench", "verify_rate")],
                          capture_output=True, text=True).stdout.strip()
    print("binary %s; load average %s; single-core verify %s" %
          (BIN, open("/proc/loadavg").read().split()[0], rate))
    a = Node("alpha")
    cache = os.environ.get("HEAL_CACHE")
    if cache and os.path.isdir(os.path.join(cache, "store")):
        with open(a.config_path) as f:
            conf = f.read()
        shutil.rmtree(a.data)
        shutil.copytree(cache, a.data)
        with open(a.config_path) as f:
            old = f.read()
        for key in ("http", "listen"):
            line = re.search(r"^%s: .*$" % key, conf, re.M).group(0)
            old = re.sub(r"^%s: .*$" % key, line, old, flags=re.M)
        with open(a.config_path, "w") as f:
            f.write(old)
    else:
        t0 = time.monotonic()
        out = fill(a, int(N * 0.8), int(N * 0.1), int(N * 0.1), "u")
        print("first site filled: %s (%.0f s)" % (out, time.monotonic() - t0))
        if cache:
            shutil.copytree(a.data, cache)
    relay = Relay(a.listen_port)

    b = Node("beta", init=False)
    run_cli("init", "--dir", b.data, "--site", "beta", "--http", "127.0.0.1:%d" % b.http_port,
            "--listen", "tcp://127.0.0.1:%d" % b.listen_port, "--join")
    req, cert, acert = (os.path.join(b.dir, x) for x in ("b.req", "b.cert", "a.cert"))
    with open(req, "w") as f:
        f.write(b.cli("site", "request").stdout)
    root = os.path.join(a.data, "keys", "root.key")
    with open(cert, "w") as f:
        f.write(run_cli("root", "certify", "--key", root, "--dir", a.data, req).stdout)
    b.cli("site", "install", cert)
    areq = os.path.join(b.dir, "a.req")
    with open(areq, "w") as f:
        f.write(a.cli("site", "request", "--endpoint",
                      "tcp://127.0.0.1:%d" % relay.port).stdout)
    with open(acert, "w") as f:
        f.write(run_cli("root", "certify", "--key", root, areq).stdout)
    b.cli("peer", "add", acert)
    for n in (a, b):
        with open(n.config_path, "a") as f:
            f.write("sync:\n  heartbeat_ms: 500\n  reconcile_interval: 5\n")
            if os.environ.get("HEAL_LIVE"):
                # one person writes the whole outage's events at full speed
                f.write("limits:\n  writes_per_minute: 100000\n  writes_burst: 100000\n")
        if os.environ.get("HEAL_DEBUG"):
            os.environ["COMPTOIR_LOG_MS"] = "1"
            with open(n.config_path) as f:
                conf = f.read()
            with open(n.config_path, "w") as f:
                f.write(re.sub(r"^log_level: .*$", "log_level: debug", conf, flags=re.M))

    live = bool(os.environ.get("HEAL_LIVE"))
    if live:
        add_user(a, "walt")
        add_user(b, "wendy")
    relay.heal()
    a.start(timeout=START_S)
    b.start(timeout=START_S)
    ca, cb = Client(a.http_port), Client(b.http_port)
    if live:
        wa, wb = Client(a.http_port), Client(b.http_port)
        wa.login("walt", LIVE_PASSWORD)
        wb.login("wendy", LIVE_PASSWORD)
    total = events(ca)
    t0 = time.monotonic()
    while events(cb) < total:
        if time.monotonic() - t0 > 1200:
            print("the second site did not catch up")
            sys.exit(1)
        time.sleep(0.2)
    print("second site caught up: %d events in %.1f s" % (total, time.monotonic() - t0))
    # The second site's own events (its enrolments) reach the first: the
    # common set is what both hold once they agree.
    while True:
        na, nb = events(ca), events(cb)
        if na == nb:
            break
        time.sleep(0.2)
    total = na

    figures = []
    for cycle in range(CYCLES):
        if live:
            # In step before the outage, as a link that had been up a while
            # (each node moves its peer's watermark once a second).
            time.sleep(2.5)
        # The outage: the link cut, both sites write meanwhile.
        relay.cut()
        one_side = os.environ.get("HEAL_ONE_SIDE")
        if live:
            # Both nodes run through the outage; each side's staff write.
            writers = [threading.Thread(target=write_live, args=(wa, D, "alpha %d" % cycle))]
            if not one_side:
                writers.append(threading.Thread(target=write_live,
                                                args=(wb, D, "beta %d" % cycle)))
            for t in writers:
                t.start()
            for t in writers:
                t.join()
        else:
            b.stop()
            a.stop()
            fill(a, int(D * 0.8), D // 10, D - int(D * 0.8) - D // 10, "a%d" % cycle,
                 days="1", users="1")
            if not one_side:
                fill(b, int(D * 0.8), D // 10, D - int(D * 0.8) - D // 10, "b%d" % cycle,
                     days="1", users="1")
            a.start(timeout=START_S)
            b.start(timeout=START_S)
            ca, cb = Client(a.http_port), Client(b.http_port)
        na, nb = events(ca), events(cb)
        union = na + nb - total
        # The fill wrote to the stores with the node stopped: each node's
        # search index catches up with its store after the start, in the
        # background; measured apart from the heal (its CPU is the start's).
        for n in (a, b):
            while n.status().get("search", {}).get("behind", 0) > 0:
                time.sleep(0.05)
        time.sleep(1.0)  # both settled, the dialer knocking on a closed port
        # The heal.
        debug = os.environ.get("HEAL_DEBUG")
        if debug:
            offs = {n.site: os.path.getsize(n.log_path) for n in (a, b)}
            cpu0 = {n.site: thread_cpu(n.proc.pid) for n in (a, b)}
            wall_minus_mono = time.time() - time.monotonic()
        exact = not os.environ.get("HEAL_POLL") and events_at(ca)[1] is not None
        interval = float(os.environ.get("HEAL_POLL_MS", "25" if exact else "2")) / 1000
        t_open = time.monotonic()
        relay.heal()
        done = {}
        while len(done) < 2:
            now = time.monotonic()
            for name, c in (("alpha", ca), ("beta", cb)):
                if name in done:
                    continue
                n_ev, at = events_at(c)
                if n_ev >= union:
                    if n_ev != union:
                        print("  %s holds %d events, more than the union (%d)" %
                              (name, n_ev, union))
                    # exact: when its store came to hold them, on the
                    # monotonic clock of this script
                    done[name] = (at - (time.time() - time.monotonic()) if exact
                                  else time.monotonic())
                    if one_side and name == "alpha":
                        done[name] = 0.0  # it held the union before the link came up
            if now - t_open > 120:
                print("no union after 120 s: %d, %d of %d" % (events(ca), events(cb), union))
                sys.exit(1)
            time.sleep(interval)
        up = relay.first_accept or t_open
        if exact and relay.first_accept_wall:
            # both ends on the wall clock, as the nodes stamp it
            up = relay.first_accept_wall - (time.time() - time.monotonic())

        if os.environ.get("HEAL_DEBUG"):
            print("monotonic: open %.3f up %.3f alpha %.3f beta %.3f" % (t_open, up, done["alpha"], done["beta"]))
        if one_side:
            done["alpha"] = up
        t_union = max(done.values())
        ms = (t_union - up) * 1000
        figures.append(ms)
        print("cut %d: %d and %d new events (union %d); link up %.0f ms after the relay "
              "listened; alpha holds the union %.1f ms and beta %.1f ms after link-up (%s): "
              "heal %.1f ms [target <= %.0f ms]" %
              (cycle + 1, na - total, nb - total, union, (up - t_open) * 1000,
               (done["alpha"] - up) * 1000, (done["beta"] - up) * 1000,
               "exact, from the nodes' stored_us" if exact else
               "polled every %.0f ms" % (interval * 1000), ms, TARGET_MS))
        if debug:
            for n in (a, b):
                cpu1 = thread_cpu(n.proc.pid)
                spent = {k: tuple(v[i] - cpu0[n.site].get(k, (0, 0, 0))[i] for i in range(3))
                         for k, v in cpu1.items()}
                print("  %s, from the relay listening to the union, by thread: ms on a CPU "
                      "(+ ms waiting for one) page faults: %s" %
                      (n.site, ", ".join("%s %.1f (+%.1f) %d" % (k, v[0] / 1e6, v[1] / 1e6, v[2])
                                          for k, v in sorted(spent.items(), key=lambda x: -x[1][0])
                                          if v[0] >= 50000)))
                for ms, text in timeline(n.log_path, offs[n.site], up + wall_minus_mono,
                                         t_union + wall_minus_mono):
                    print("  %s %7.1f ms  %s" % (n.site, ms, text))
        total = union
    print("heal%s, N = %d, %d new on each side: median of %d cuts %.1f ms (runs %s) "
          "[target <= %.0f ms]; load average %s" %
          (" (nodes running through the outage, events written live)" if live else "",
           N, D, len(figures), statistics.median(figures),
           ", ".join("%.1f" % f for f in figures), TARGET_MS,
           open("/proc/loadavg").read().split()[0]))
    relay.cut()
    if os.environ.get("HEAL_DEBUG"):
        for n in (a, b):
            shutil.copy(n.log_path, "/tmp/heal-%s.log" % n.site)
    b.cleanup()
    a.cleanup()


if __name__ == "__main__":
    main()
