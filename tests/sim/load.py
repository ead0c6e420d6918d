"""What the simulator does to a federation and what it reads back: the staff
workload through the HTTP API (Workload), each site's event stream
(Watcher: when each event reached each site), and the counters of the nodes
(sample_procs from /proc, sample_links from /api/status). Python 3 standard
library only; used by tests/sim/sim.py and tests/integration/test_sim.py.

The workload's mix, per 100 writes: 15 posts, 30 comments, 55 reactions;
plus a login (and logout) for every 10 writes and a feed read for every
write. Why these proportions: README.md, "The workload".
"""

import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor

MIX = {"post": 15, "comment": 30, "reaction": 55}
LOGINS_PER_WRITE = 0.1
READS_PER_WRITE = 1.0
EMOJI = ["\U0001F44D", "\U0001F389", "\u2764\ufe0f", "\U0001F602", "\U0001F64F", "\U0001F4A1"]
WORDS = ("the canteen meeting project deadline report shipment plant customer line quality "
         "audit safety training badge parking budget review team friday monday coffee server "
         "printer office holiday schedule update release invoice supplier warehouse forklift "
         "inventory roadmap workshop is will be closed open moved to on at for with please "
         "thanks reminder new again today tomorrow next week").split()
ID_RE = re.compile(r'"id":"([0-9a-f]{64})"')
POST_RE = re.compile(r'"post":"([0-9a-f]{64})"')
STORED_RE = re.compile(r'"stored_us":(\d+)')


def pct(values, p):
    """The p-th percentile (nearest rank) of values, or None."""
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(-(-p * len(v) // 100)) - 1))
    return v[k]


# ------------------------------------------------------------------ sessions

def login(site, handle=None, password=None, tries=20):
    """A harness Client of site logged in as its user (or the one given).
    Retries a busy node (503) or a rate limit (429) a few times."""
    handle = handle or site.handle
    password = password or site.password
    last = None
    for i in range(tries):
        c = site.client()
        try:
            r = c.login(handle, password, check=False)
        except OSError as e:
            last = e
            time.sleep(0.2 * (i + 1))
            continue
        if r.status == 200:
            return c
        last = r
        if r.status not in (429, 503, 401):
            break
        # 401: the user's key backup has not reached this site yet
        time.sleep(0.2 * (i + 1))
    raise RuntimeError("login of %s at %s failed: %r" % (handle, site.name, last))


def login_all(sites, jobs=3):
    """{site name: logged-in Client}, logins made jobs at a time (each costs
    the node an argon2id)."""
    with ThreadPoolExecutor(jobs) as ex:
        return dict(zip([s.name for s in sites], ex.map(login, sites)))


# ------------------------------------------------------------------ watcher

class Watcher:
    """Follows /api/stream at each site: arrivals[event id][site] is the
    monotonic time the event showed up there (the moment its line was read),
    stored[event id][site] the time that site says it stored it (the line's
    data.stored_us, its commit's end, moved onto the monotonic clock): what
    is left once the reader's own lag (one Python thread per site under one
    GIL, which may be far behind its stream on a busy machine) is taken out.
    posts[site] holds the newest posts seen at that site. resyncs counts the
    streams that fell more than the node's ring behind (their arrivals are
    incomplete from then on)."""

    def __init__(self):
        self.arrivals = {}
        self.stored = {}
        self.tids = {}       # site name -> the reader thread's id, for its CPU
        # wall clock (the nodes' stored_us) minus monotonic: one machine, one clock
        self._wall_off = time.time() - time.monotonic()
        self.kind = {}
        self.posts = {}
        self.resyncs = {}
        self.errors = {}
        self._lock = threading.Lock()
        self._streams = {}   # site name -> (thread, connection)

    def start(self, sites, clients):
        """Opens the streams of these sites (clients: {name: logged-in Client})
        and returns once each answered 200."""
        ready = []
        for s in sites:
            if s.name in self._streams:
                continue
            c = clients[s.name]
            conn = http.client.HTTPConnection(c.host, c.port, timeout=30)
            conn.request("GET", "/api/stream", headers={
                "Accept": "text/event-stream", "Cookie": "comptoir_session=" + c.cookie})
            resp = conn.getresponse()
            if resp.status != 200:
                raise RuntimeError("stream of %s: HTTP %d" % (s.name, resp.status))
            conn.sock.settimeout(None)
            self.posts.setdefault(s.name, deque(maxlen=200))
            t = threading.Thread(target=self._read, args=(s.name, resp), daemon=True)
            self._streams[s.name] = (t, conn)
            ready.append(t)
        for t in ready:
            t.start()

    def _read(self, name, resp):
        event = None
        posts = self.posts[name]
        arrivals, kinds, stored, off = self.arrivals, self.kind, self.stored, self._wall_off
        self.tids[name] = threading.get_native_id()
        try:
            while True:
                line = resp.readline()
                if not line:
                    break
                if line.startswith(b"event: "):
                    event = line[7:].strip().decode()
                elif line.startswith(b"data: ") and event:
                    now = time.monotonic()
                    if event == "resync":
                        self.resyncs[name] = self.resyncs.get(name, 0) + 1
                        continue
                    text = line[6:].decode("utf-8", "replace")
                    m = ID_RE.search(text)
                    if not m:
                        continue
                    eid = m.group(1)
                    # dict operations are atomic under the GIL: no lock per event
                    seen = arrivals.get(eid)
                    if seen is None:
                        seen = arrivals.setdefault(eid, {})
                    seen.setdefault(name, now)
                    m = STORED_RE.search(text, m.end())
                    if m:
                        at = stored.get(eid)
                        if at is None:
                            at = stored.setdefault(eid, {})
                        at.setdefault(name, int(m.group(1)) / 1e6 - off)
                    kinds.setdefault(eid, event)
                    if event == "post":
                        posts.append(eid)
                elif line == b"\n":
                    event = None
        except Exception as e:  # noqa: BLE001 (a stream closed under it by stop())
            if name in self._streams:
                self.errors[name] = repr(e)

    def stop(self, names=None):
        """Closes the streams of these sites (all by default)."""
        for name in list(self._streams if names is None else names):
            t, conn = self._streams.pop(name, (None, None))
            if conn is None:
                continue
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
            t.join(5)

    def watching(self):
        return set(self._streams)

    def cpu_s(self):
        """CPU-seconds the stream readers' threads used so far (those still
        running: /proc/self/task/TID/stat)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for tid in list(self.tids.values()):
            try:
                with open("/proc/self/task/%d/stat" % tid) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                total += (int(st[11]) + int(st[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return total

    def lag(self, eids, sites):
        """The readers' lag: for each (event, site) that both read and said
        when it stored: read time minus stored time, in seconds (the node's
        stream thread, the socket and the Python reader together)."""
        names = [s if isinstance(s, str) else s.name for s in sites]
        out = []
        for eid in eids:
            seen, at = self.arrivals.get(eid, {}), self.stored.get(eid, {})
            out += [seen[n] - at[n] for n in names if n in seen and n in at]
        return out

    def spread(self, eids, sites, t0=None, stamped=False):
        """For each event of eids: (t_all, missing) where t_all is the time
        from its first sight (or t0[eid] when given and earlier) until every
        one of sites had it, and missing how many of sites never showed it.
        stamped: the times the sites say they stored it instead of the times
        their lines were read (an event read without a stamp counts as
        missing)."""
        out = {}
        names = [s if isinstance(s, str) else s.name for s in sites]
        src = self.stored if stamped else self.arrivals
        for eid in eids:
            seen = src.get(eid, {})
            times = [seen[n] for n in names if n in seen]
            if not seen:
                out[eid] = (None, len(names))
                continue
            first = min(seen.values())
            if t0 and eid in t0:
                first = min(first, t0[eid])
            missing = len(names) - len(times)
            out[eid] = ((max(times) - first) if not missing else None, missing)
        return out


# ------------------------------------------------------------------ workload

_LIVE = weakref.WeakSet()  # every Workload made, for stop_all()


def stop_all():
    """Stops every workload's writers (on SIGTERM: a run() waiting for its
    writers would otherwise go on until its count is reached)."""
    for w in list(_LIVE):
        w.stop()


class Workload:
    """Staff writing through the HTTP API of the given sites: posts, comments
    and reactions in the proportions of MIX, logins and feed reads beside.

    run(rate=R, duration=D) keeps an open-loop schedule of R writes per
    second (a request that is late does not delay the next ones; up to
    `concurrency` requests at once); rate=0 writes as fast as the
    `concurrency` workers go. count= stops after that many writes.
    Each write makes exactly one event, so the counters say how many events
    the federation must hold."""

    def __init__(self, sites, clients, watcher=None, mix=None, logins=LOGINS_PER_WRITE,
                 reads=READS_PER_WRITE, seed=1):
        self.sites = list(sites)
        self.clients = clients
        self.watcher = watcher
        self.mix = dict(mix or MIX)
        self.logins = logins
        self.reads = reads
        self.rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.created = {}      # event id -> (monotonic start, site, kind) when the answer names it
        self.own_posts = {s.name: deque(maxlen=50) for s in self.sites}
        self.started = 0       # writes begun (each makes one event when it succeeds)
        self.ok = 0
        self.answered = []     # monotonic time of each write answered OK
        self.failed = 0
        self.fail_codes = {}
        self.by_kind = {k: 0 for k in self.mix}
        self.logins_done = 0
        self.reads_done = 0
        self.latency = []      # seconds of each write's HTTP answer
        self._lock = threading.Lock()
        self._stop = threading.Event()
        _LIVE.add(self)

    def _pick(self):
        with self._rng_lock:
            site = self.rng.choice(self.sites)
            kinds, weights = zip(*self.mix.items())
            kind = self.rng.choices(kinds, weights)[0]
            extra_login = self.rng.random() < self.logins
            reads = int(self.reads) + (1 if self.rng.random() < self.reads - int(self.reads) else 0)
            text = " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(4, 30)))
            emoji = self.rng.choice(EMOJI)
            pick = self.rng.random()
        return site, kind, extra_login, reads, text, emoji, pick

    def _target(self, site, pick):
        """A recent post that this site holds: one it made, or one its
        stream showed."""
        pool = list(self.own_posts[site.name])
        if self.watcher and site.name in self.watcher.posts:
            pool += list(self.watcher.posts[site.name])[-50:]
        if not pool:
            return None
        return pool[int(pick * len(pool)) % len(pool)]

    def _one(self):
        site, kind, extra_login, reads, text, emoji, pick = self._pick()
        c = self.clients[site.name]
        target = self._target(site, pick) if kind != "post" else None
        if target is None:
            kind = "post"
        with self._lock:
            self.started += 1
        t0 = time.monotonic()
        try:
            if kind == "post":
                r = c.post("/api/posts", {"text": text})
            elif kind == "comment":
                r = c.post("/api/posts/%s/comments" % target, {"text": text})
            else:
                r = c.post("/api/posts/%s/reactions" % target, {"reaction": emoji})
            good = r.status in (200, 201)
        except OSError as e:
            r, good = e, False
        t1 = time.monotonic()
        with self._lock:
            if good:
                self.ok += 1
                self.answered.append(t1)
                self.by_kind[kind] += 1
                self.latency.append(t1 - t0)
                if kind in ("post", "comment") and r.json and "id" in r.json:
                    self.created[r.json["id"]] = (t0, site.name, kind)
                    if kind == "post":
                        self.own_posts[site.name].append(r.json["id"])
            else:
                self.failed += 1
                code = getattr(r, "status", type(r).__name__)
                self.fail_codes[code] = self.fail_codes.get(code, 0) + 1
        for _ in range(reads):
            try:
                c.get("/api/feed?limit=20")
                with self._lock:
                    self.reads_done += 1
            except OSError:
                pass
        if extra_login:
            try:
                extra = site.client()
                if extra.login(site.handle, site.password, check=False).status == 200:
                    extra.logout()
                    with self._lock:
                        self.logins_done += 1
            except OSError:
                pass

    def stop(self):
        self._stop.set()

    def run(self, rate=20.0, duration=None, count=None, concurrency=8):
        """Runs until duration seconds passed, count writes were made, or
        stop(); returns the number of writes begun."""
        self._stop.clear()
        start = time.monotonic()
        begun = 0
        with ThreadPoolExecutor(concurrency) as ex:
            if rate and rate > 0:
                pending = deque()
                k = 0
                while not self._stop.is_set():
                    now = time.monotonic()
                    if duration is not None and now - start >= duration:
                        break
                    if count is not None and begun >= count:
                        break
                    due = start + k / rate
                    if due > now:
                        time.sleep(min(due - now, 0.05))
                        continue
                    # at most `concurrency` in flight: a late request delays nobody
                    while pending and pending[0].done():
                        pending.popleft()
                    if len(pending) >= 4 * concurrency:
                        time.sleep(0.005)
                        continue
                    pending.append(ex.submit(self._one))
                    begun += 1
                    k += 1
            else:
                lock = threading.Lock()
                left = [count if count is not None else float("inf")]

                def loop():
                    n = 0
                    while not self._stop.is_set():
                        if duration is not None and time.monotonic() - start >= duration:
                            break
                        with lock:
                            if left[0] <= 0:
                                break
                            left[0] -= 1
                        self._one()
                        n += 1
                    return n

                begun = sum(f.result() for f in [ex.submit(loop) for _ in range(concurrency)])
        return begun

    def run_background(self, **kw):
        t = threading.Thread(target=self.run, kwargs=kw, daemon=True)
        t.start()
        return t


# ------------------------------------------------------------------ counters

TICK = os.sysconf("SC_CLK_TCK")


def sample_pressure():
    """The kernel's pressure stall totals (/proc/pressure, microseconds):
    {"cpu": some, "io": some, "io_full": full}, empty where the kernel has
    none. "some": time at least one task waited for that resource."""
    out = {}
    for res in ("cpu", "io"):
        try:
            with open("/proc/pressure/" + res) as f:
                for line in f:
                    kind, _, rest = line.partition(" ")
                    total = int(rest.rsplit("total=", 1)[1])
                    out[res if kind == "some" else res + "_full"] = total
        except (OSError, ValueError, IndexError):
            pass
    return out


def pressure_percent(before, after, seconds):
    """Share of the time stalled, per resource, between two samples."""
    return {k: 100.0 * (after[k] - before[k]) / 1e6 / max(seconds, 1e-3)
            for k in after if k in before}


def sample_procs(sites):
    """{site name: (monotonic time, cpu seconds, rss KiB, anon KiB, hwm KiB,
    {thread name: cpu seconds})}
    from /proc, for the running sites."""
    out = {}
    for s in sites:
        pid = s.pid
        if pid is None:
            continue
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
            with open("/proc/%d/status" % pid) as f:
                status = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        mem = {}
        for line in status.splitlines():
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "VmHWM"):
                mem[k] = int(v.split()[0])
        out[s.name] = (time.monotonic(), cpu, mem.get("VmRSS", 0), mem.get("RssAnon", 0),
                       mem.get("VmHWM", 0), thread_cpu(pid))
    return out


def thread_cpu(pid):
    """{thread name: cpu seconds} of a process's live threads, those of one
    name summed (cpt-sync, cpt-writer, cpt-verify, ZMQbg/IO/0, MHD-connection,
    the main thread under the process's name...). A thread that ended is
    counted in the process's total only."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.find("(") + 1:stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2:].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def cpu_percent(before, after):
    """{site: percent of one core} between two sample_procs()."""
    out = {}
    for k, a in after.items():
        b = before.get(k)
        if b and a[0] > b[0]:
            out[k] = 100.0 * (a[1] - b[1]) / (a[0] - b[0])
    return out


def sample_links(fed, sites=None):
    """{(site, peer): counters} of every peer link the sites report, plus
    {site: events} — from /api/status."""
    st = fed.statuses(sites)
    links, events = {}, {}
    for name, s in st.items():
        if not s:
            continue
        events[name] = s["events"]
        for p in s.get("peers", []):
            links[(name, p.get("site", "?"))] = {k: p.get(k, 0) for k in (
                "sent", "received", "rejected", "bytes_in", "bytes_out", "reconciliations",
                "connected", "to_send", "to_receive", "msgs_in", "msgs_out")}
    return links, events


def link_delta(before, after):
    """Sums of the counters' growth over every link, and the largest growth
    of `sent + received-by-the-other-side` per undirected link."""
    tot = {k: 0 for k in ("sent", "received", "rejected", "bytes_in", "bytes_out",
                          "reconciliations", "msgs_in", "msgs_out")}
    per_edge = {}
    for key, a in after.items():
        b = before.get(key, {})
        for k in tot:
            tot[k] += max(0, a.get(k, 0) - b.get(k, 0))
        edge = frozenset(key)
        per_edge[edge] = per_edge.get(edge, 0) + max(0, a.get("sent", 0) - b.get("sent", 0))
    return tot, per_edge


def summary(values, scale=1000.0):
    """p50, p99 and max of values (seconds), scaled (to ms by default)."""
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None, "mean": None}
    return {"n": len(values), "p50": pct(values, 50) * scale, "p99": pct(values, 99) * scale,
            "max": max(values) * scale, "mean": statistics.mean(values) * scale}


# ------------------------------------------------------------------ probe

class Probe:
    """Writes posts at `rate` a second, each at one of the sites drawn at
    random, from a process of its own, and times each HTTP answer there: the
    simulator's own threads (a stream reader per site, under one GIL) wake
    together when an event reaches every site, and a write's answer read in
    the same moment waits for them (issue 24, session 13). start() returns
    at once; finish() waits for the end and returns (writes answered OK,
    [seconds of each answer])."""

    def __init__(self, sites, clients, rate, duration, seed=1):
        self.targets = [{"host": clients[s.name].host, "port": clients[s.name].port,
                         "cookie": clients[s.name].cookie, "csrf": clients[s.name].csrf}
                        for s in sites]
        self.rate, self.duration, self.seed = rate, duration, seed
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--probe"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write(json.dumps({"targets": self.targets, "rate": self.rate,
                                          "duration": self.duration, "seed": self.seed}))
        self.proc.stdin.close()

    def finish(self):
        if self.proc is None:
            return 0, []
        out = json.loads(self.proc.stdout.read() or "{}")
        self.proc.wait()
        return out.get("ok", 0), out.get("latency", [])


def _probe_main():
    """The probe's process (Probe): its arguments as JSON on stdin, its
    answers as JSON on stdout. One thread, one request at a time."""
    arg = json.loads(sys.stdin.read())
    rng = random.Random(arg["seed"])
    start = time.monotonic()
    ok, lat, k = 0, [], 0
    while time.monotonic() - start < arg["duration"]:
        due = start + k / arg["rate"]
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        k += 1
        t = rng.choice(arg["targets"])
        body = json.dumps({"text": "probe %d %s" % (k, " ".join(
            rng.choice(WORDS) for _ in range(rng.randint(4, 30))))}).encode()
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection(t["host"], t["port"], timeout=30)
            c.request("POST", "/api/posts", body=body, headers={
                "Content-Type": "application/json", "X-CSRF-Token": t["csrf"],
                "Cookie": "comptoir_session=" + t["cookie"]})
            r = c.getresponse()
            r.read()
            c.close()
        except OSError:
            continue
        if r.status in (200, 201):
            ok += 1
            lat.append(time.monotonic() - t0)
    json.dump({"ok": ok, "latency": lat}, sys.stdout)


if __name__ == "__main__" and sys.argv[1:] == ["--probe"]:
    _probe_main()
