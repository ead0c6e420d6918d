"""A federation of real `comptoir` processes on this machine, for the simulator
(tests/sim/sim.py) and its small version in make check (tests/integration/test_sim.py).

Python 3 standard library only. Every site is certified by one root (the first
site's, "hq"), exactly as an operator does it: `init --join`, `site request`,
`root certify --dir hq` (which publishes the certificate through hq),
`site install --seed` from a backup of hq (so that every site starts holding
every certificate and no handshake is refused while they spread), then
`peer add` on the dialing side of each link of the topology.

    fed = Federation(topology("two-level", 30), netns=False)
    fed.build(); fed.start_all(); fed.wait_linked()
    fed.cut(fed.group("r01"), "stop"); ...; fed.heal(...)
    fed.cleanup()

Topologies (topology()): star around hq; two-level (hq, regions, branches:
each branch dials its region, each region dials hq); ring (each site dials the
next); mesh (a ring plus random chords up to degree k). Every link is dialed by
one side, named by `peer add` there.

Sites run on loopback with free ports, or (netns=True, root only) each in a
network namespace of its own with two interfaces: "lan", where its HTTP API
answers (the simulator's process joins the LAN namespace to reach them), and
"wan", where the sites reach each other through bridges — a core bridge, and
one bridge per group of sites (a region, or a block of branches of a star)
joined to the core by an uplink. A tbf qdisc limits each site's WAN link
(both directions) when rate is given. This kernel has no netem: no delay,
jitter or loss can be simulated (README.md says what that leaves untested).

Cuts: "stop" (SIGTERM, started again at heal: an outage of the site),
"freeze" (SIGSTOP/SIGCONT: the process hangs, its peers hear nothing), and
"net" (netns only: the group's uplink port, or a lone site's port, stops
forwarding — a WAN that silently drops packets while the sites keep working
for their own staff).
"""

import atexit
import ctypes
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BIN, Client, free_port, run_cli  # noqa: E402

KEEP = os.environ.get("COMPTOIR_KEEP") == "1"
CLONE_NEWNET = 0x40000000


# ------------------------------------------------------------------ topology

class Spec:
    """A topology: site names in order (hq first), the links as (dialer,
    dialee) pairs, each site's group (for cuts and the WAN's bridges) and
    role (hq, region, branch, site)."""

    def __init__(self, kind, names, links, groups, roles):
        self.kind = kind
        self.names = names
        self.links = links
        self.groups = groups
        self.roles = roles

    def neighbours(self, name):
        return [b for a, b in self.links if a == name] + [a for a, b in self.links if b == name]


def topology(kind, n, regions=None, degree=4, seed=1, block=10):
    """The Spec of n sites. two-level: `regions` regions (default: about one
    per 11 sites, so regions of ~10 branches), branches spread evenly. star:
    branches grouped in blocks of `block` (groups only matter for cuts).
    mesh: a ring plus random chords until every site has `degree` links."""
    if n < 2:
        raise ValueError("a federation needs at least 2 sites")
    links, groups, roles = [], {}, {}
    if kind == "star":
        names = ["hq"] + ["b%03d" % i for i in range(1, n)]
        for i, b in enumerate(names[1:]):
            links.append((b, "hq"))
            groups[b] = "g%02d" % (i // block + 1)
            roles[b] = "branch"
    elif kind == "two-level":
        r = regions or max(1, round((n - 1) / 11))
        if n < 1 + 2 * r:
            raise ValueError("two-level with %d regions needs at least %d sites" % (r, 1 + 2 * r))
        regs = ["r%02d" % (i + 1) for i in range(r)]
        names = ["hq"] + regs
        for g in regs:
            links.append((g, "hq"))
            groups[g] = g
            roles[g] = "region"
        for i in range(n - 1 - r):
            b = "b%03d" % (i + 1)
            g = regs[i % r]
            names.append(b)
            links.append((b, g))
            groups[b] = g
            roles[b] = "branch"
    elif kind in ("ring", "mesh"):
        names = ["hq"] + ["s%03d" % i for i in range(1, n)]
        for i in range(n):
            a, b = names[i], names[(i + 1) % n]
            if n == 2 and i == 1:
                break
            links.append((a, b))
        if kind == "mesh":
            rng = random.Random(seed)
            deg = {x: 0 for x in names}
            have = set()
            for a, b in links:
                deg[a] += 1
                deg[b] += 1
                have.add(frozenset((a, b)))
            tries = 0
            while min(deg.values()) < degree and tries < 100 * n * degree:
                tries += 1
                low = [x for x in names if deg[x] < degree]
                a = rng.choice(low)
                b = rng.choice(names)
                if a == b or frozenset((a, b)) in have or deg[b] >= degree + 1:
                    continue
                have.add(frozenset((a, b)))
                # the site listed first dials: a stable, arbitrary choice
                pair = (a, b) if names.index(a) < names.index(b) else (b, a)
                links.append(pair)
                deg[a] += 1
                deg[b] += 1
        for x in names[1:]:
            groups[x] = x
            roles[x] = "site"
    else:
        raise ValueError("unknown topology %r (star, two-level, ring, mesh)" % kind)
    groups["hq"] = "hq"
    roles["hq"] = "hq"
    return Spec(kind, names, links, groups, roles)


# ------------------------------------------------------------------ sites

class Site:
    """One node: its directory, addresses, process and login."""

    def __init__(self, fed, name, index):
        self.fed = fed
        self.name = name
        self.index = index
        self.role = fed.spec.roles[name]
        self.dir = os.path.join(fed.root, name)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "node.log")
        self.proc = None
        self.frozen = False
        self.cert = os.path.join(self.dir, "site.cert")
        self.handle = "u-" + name
        self.password = "pw-%s-%s" % (name, os.urandom(6).hex())
        if fed.netns:
            g, h = divmod(index, 250)
            self.wan_ip = "10.77.%d.%d" % (g, h + 1)
            self.lan_ip = "10.78.%d.%d" % (g, h + 1)
            self.http_host, self.http_port = self.lan_ip, 8080
            self.listen = "tcp://%s:7400" % self.wan_ip
            self.ns = "%ss%d" % (fed.prefix, index)
        else:
            self.http_host, self.http_port = "127.0.0.1", free_port()
            self.listen = "tcp://127.0.0.1:%d" % free_port()
            self.ns = None
        self.moved = 0  # web ports taken by another program meanwhile (move_http)

    def __repr__(self):
        return "<site %s>" % self.name

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def cli(self, *args, check=True, timeout=120):
        return run_cli(*args, "--dir", self.data, check=check, timeout=timeout)

    def client(self, timeout=30.0, source=None):
        return Client(self.http_port, host=self.http_host, timeout=timeout, source=source)

    def status(self, timeout=10.0):
        r = self.client(timeout=timeout).get("/api/status")
        if r.status != 200:
            raise RuntimeError("%s: status %r" % (self.name, r))
        return r.json

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def spawn(self):
        """Starts `comptoir run` without waiting for it (see Federation.start)."""
        assert self.proc is None, "%s is running" % self.name
        # COMPTOIR_LOG_MS: each log line stamped to the ms, to order the sites' logs.
        env = dict(os.environ, COMPTOIR_ALLOW_ROOT="1", COMPTOIR_LOG_MS="1")
        wrap = ["ip", "netns", "exec", self.ns] if self.ns else []
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(wrap + [BIN, "run", "--dir", self.data], stdout=log,
                                         stderr=log, stdin=subprocess.DEVNULL, env=env)
        finally:
            log.close()
        self.frozen = False

    def up(self):
        """True once it answers /api/status; raises if it exited."""
        if self.proc is None:
            return False
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self.proc = None
            if self.ns is None and self.moved < 3 and "cannot listen on 127.0.0.1:%d" % (
                    self.http_port) in self.log_tail(5):
                # Another program on this shared machine took the free port
                # picked minutes ago (at 100 sites, set-up takes that long):
                # a new one in the config, and again. Only the web port: the
                # sync port is in the peers' records.
                self.move_http()
                self.spawn()
                return False
            raise RuntimeError("%s: comptoir run exited with %d:\n%s" % (self.name, rc,
                                                                         self.log_tail()))
        try:
            return self.client(timeout=2.0).get("/api/status").status == 200
        except OSError:
            return False

    def move_http(self):
        old = "http: 127.0.0.1:%d" % self.http_port
        path = os.path.join(self.data, "comptoir.yaml")
        with open(path) as f:
            text = f.read()
        if old not in text:
            raise RuntimeError("%s: %r not in %s" % (self.name, old, path))
        self.http_port = free_port()
        with open(path, "w") as f:
            f.write(text.replace(old, "http: 127.0.0.1:%d" % self.http_port))
        self.moved += 1

    def stop(self, timeout=20.0):
        if self.proc is None:
            return None
        if self.frozen:
            self.thaw()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def freeze(self):
        if self.proc is not None and not self.frozen:
            self.proc.send_signal(signal.SIGSTOP)
            self.frozen = True

    def thaw(self):
        if self.proc is not None and self.frozen:
            self.proc.send_signal(signal.SIGCONT)
            self.frozen = False

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().split(b"\n")[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def export_lines(self):
        """Every event this site holds, as `comptoir export` prints it (one
        JSON line each, signed bytes included), sorted."""
        return sorted(l for l in self.cli("export", timeout=600).stdout.splitlines() if l.strip())

    def export_ids(self):
        out = self.cli("export", timeout=600).stdout
        ids = set()
        for line in out.splitlines():
            # {"id":"<64 hex>",... : the id is the first field
            i = line.find('"id":"')
            if i >= 0:
                ids.add(line[i + 6:i + 70])
        return ids


# ------------------------------------------------------------------ network

def _sh(*args, check=True):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(map(str, args)), (p.stderr or p.stdout).strip()))
    return p


class Wan:
    """The namespaces: PREFIXlan (the simulator and each site's LAN side),
    PREFIXwan (the bridges), PREFIXsI (site I). Removed by destroy()."""

    def __init__(self, prefix, sites, groups, rate=None, hub_rate=None):
        self.prefix = prefix
        self.lan = prefix + "lan"
        self.wan = prefix + "wan"
        self.sites = sites
        self.groups = groups          # site name -> group name
        self.rate = rate
        self.hub_rate = hub_rate or rate
        self.made = []                # namespaces made, for destroy()
        self.uplink = {}              # group -> uplink port name on the core bridge
        self.port = {}                # site name -> its port on its group's bridge
        self.cut_ports = set()

    def _ns(self, name):
        _sh("ip", "netns", "add", name)
        self.made.append(name)
        _sh("ip", "-n", name, "link", "set", "dev", "lo", "up")

    def _tbf(self, ns, dev, rate):
        if not rate:
            return
        bits = _rate_bits(rate)
        # 20 ms worth of bytes, at least 5,000: a smaller bucket caps the rate below itself.
        burst = max(5000, bits // 8 // 50)
        _sh("tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate,
            "burst", burst, "latency", "400ms")

    def create(self):
        if os.geteuid() != 0:
            raise RuntimeError("network namespaces need root (run without --netns on loopback)")
        for t in ("ip", "tc", "bridge"):
            if shutil.which(t) is None:
                raise RuntimeError("%s not found: install iproute2" % t)
        for name in (self.lan, self.wan):
            self._ns(name)
        _sh("ip", "-n", self.lan, "link", "add", "name", "lanbr", "type", "bridge")
        _sh("ip", "-n", self.lan, "addr", "add", "10.78.255.254/16", "dev", "lanbr")
        _sh("ip", "-n", self.lan, "link", "set", "dev", "lanbr", "up")
        _sh("ip", "-n", self.wan, "link", "add", "name", "core", "type", "bridge")
        _sh("ip", "-n", self.wan, "link", "set", "dev", "core", "up")
        gnames = sorted(set(self.groups.values()))
        for k, g in enumerate(gnames):
            br, up, down = "g%d" % k, "u%d" % k, "d%d" % k
            _sh("ip", "-n", self.wan, "link", "add", "name", br, "type", "bridge")
            _sh("ip", "-n", self.wan, "link", "set", "dev", br, "up")
            _sh("ip", "-n", self.wan, "link", "add", "name", up, "type", "veth", "peer", "name", down)
            _sh("ip", "-n", self.wan, "link", "set", "dev", up, "master", "core", "up")
            _sh("ip", "-n", self.wan, "link", "set", "dev", down, "master", br, "up")
            self.uplink[g] = (up, br)
        for s in self.sites:
            self._ns(s.ns)
            w, l = "w%d" % s.index, "l%d" % s.index
            _sh("ip", "-n", self.wan, "link", "add", "name", w, "type", "veth", "peer", "name", "wan",
                "netns", s.ns)
            _sh("ip", "-n", self.wan, "link", "set", "dev", w, "master", self.uplink[self.groups[s.name]][1],
                "up")
            _sh("ip", "-n", s.ns, "addr", "add", s.wan_ip + "/16", "dev", "wan")
            _sh("ip", "-n", s.ns, "link", "set", "dev", "wan", "up")
            _sh("ip", "-n", self.lan, "link", "add", "name", l, "type", "veth", "peer", "name", "lan",
                "netns", s.ns)
            _sh("ip", "-n", self.lan, "link", "set", "dev", l, "master", "lanbr", "up")
            _sh("ip", "-n", s.ns, "addr", "add", s.lan_ip + "/16", "dev", "lan")
            _sh("ip", "-n", s.ns, "link", "set", "dev", "lan", "up")
            rate = self.hub_rate if s.role in ("hq", "region") else self.rate
            self._tbf(s.ns, "wan", rate)
            self._tbf(self.wan, w, rate)
            self.port[s.name] = w

    def enter_lan(self):
        """Moves this process (its main thread, and every thread made after)
        into the LAN namespace, where every site's HTTP API answers."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/run/netns/" + self.lan, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into %s" % self.lan)
        finally:
            os.close(fd)

    def set_port(self, port, forwarding):
        _sh("ip", "netns", "exec", self.wan, "bridge", "link", "set", "dev", port, "state",
            "3" if forwarding else "0")
        if forwarding:
            self.cut_ports.discard(port)
        else:
            self.cut_ports.add(port)

    def destroy(self):
        for name in reversed(self.made):
            _sh("ip", "netns", "del", name, check=False)
        self.made = []


def _rate_bits(rate):
    """tc rate syntax ("10mbit", "512kbit", "1gbit") as bits per second."""
    r = rate.strip().lower()
    for suffix, mult in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3), ("bit", 1)):
        if r.endswith(suffix):
            return int(float(r[:-len(suffix)]) * mult)
    raise ValueError("rate %r: use tc syntax such as 10mbit" % rate)


# ------------------------------------------------------------------ federation

_feds = []


class Federation:
    """N sites of one federation wired in a topology (a Spec).

    heartbeat_ms and reconcile_s go into every site's sync: section (the
    defaults, 1000 and 60, are what a real site runs). netns puts each site in
    its own namespace (root only), rate limits each WAN link with tbf (hub_rate
    the links of hq and the regions, when it differs)."""

    def __init__(self, spec, netns=False, rate=None, heartbeat_ms=None, reconcile_s=None,
                 workdir=None, log=None, hub_rate=None):
        self.spec = spec
        self.netns = netns
        self.rate = rate
        self.hub_rate = hub_rate
        self.heartbeat_ms = heartbeat_ms
        self.reconcile_s = reconcile_s
        self.root = tempfile.mkdtemp(prefix="comptoir-sim-", dir=workdir)
        self.prefix = "comptoir-sim%d-" % (os.getpid() % 100000)
        self.log = log or (lambda msg: None)
        self.sites = [Site(self, name, i) for i, name in enumerate(spec.names)]
        self.by_name = {s.name: s for s in self.sites}
        self.wan = None
        self.cut_now = {}  # cut id -> (sites, mode)
        self._lock = threading.Lock()
        _feds.append(self)

    @property
    def hq(self):
        return self.sites[0]

    def site(self, name):
        return self.by_name[name]

    def group(self, g):
        """The sites of group g (a region and its branches, a block of a
        star's branches, or one site)."""
        return [s for s in self.sites if self.spec.groups[s.name] == g]

    # -- building

    def _conf(self, s):
        lines = ["", "# written by tests/sim/fed.py",
                 "limits:",
                 # The workload logs in often, all from one address.
                 "  login_per_minute: 1000",
                 # One user per site writes for all its staff: a cut's bulk at
                 # full speed went past 600 a minute each (429).
                 "  writes_per_minute: 100000",
                 "  max_connections_per_address: 1000",
                 "  max_connections: 2000"]
        sync = []
        if self.heartbeat_ms:
            sync.append("  heartbeat_ms: %d" % self.heartbeat_ms)
        if self.reconcile_s:
            sync.append("  reconcile_interval: %d" % self.reconcile_s)
        if sync:
            lines += ["sync:"] + sync
        if self.netns:
            lines += ["# an isolated test network (tests/sim)", "insecure_plain_http: true"]
        with open(os.path.join(s.data, "comptoir.yaml"), "a") as f:
            f.write("\n".join(lines) + "\n")

    def build(self, users="site", jobs=4):
        """Creates every site, certifies it, seeds it, links it, and enrols
        users: "site" one user per site, at that site (u-NAME); "one" a
        single user, enrolled at hq before the seed so that every site holds
        it from the start, whom every site's workload logs in as (quicker:
        one argon2id for the lot); None no user."""
        t0 = time.monotonic()
        if self.netns:
            self.wan = Wan(self.prefix, self.sites, self.spec.groups, self.rate, self.hub_rate)
            self.wan.create()
            # Threads made from now on (HTTP clients, streams) reach the sites' LANs.
            self.wan.enter_lan()
            self.log("namespaces and links made in %.1f s" % (time.monotonic() - t0))
        hq = self.hq
        os.makedirs(hq.dir)
        run_cli("init", "--dir", hq.data, "--site", hq.name, "--http",
                "%s:%d" % (hq.http_host, hq.http_port), "--listen", hq.listen)
        root_key = os.path.join(hq.data, "keys", "root.key")

        def init(s):
            os.makedirs(s.dir)
            run_cli("init", "--dir", s.data, "--site", s.name, "--http",
                    "%s:%d" % (s.http_host, s.http_port), "--listen", s.listen, "--join")
            req = os.path.join(s.dir, "site.req")
            with open(req, "w") as f:
                f.write(s.cli("site", "request").stdout)
            return req

        with ThreadPoolExecutor(jobs) as ex:
            reqs = list(ex.map(init, self.sites[1:]))
        # The certificates go into hq's store (published through it), one at a time.
        for s, req in zip(self.sites[1:], reqs):
            with open(s.cert, "w") as f:
                f.write(run_cli("root", "certify", "--key", root_key, "--dir", hq.data, req).stdout)
        # hq is certified by init; this copy is what the sites that dial it add.
        req = os.path.join(hq.dir, "site.req")
        with open(req, "w") as f:
            f.write(hq.cli("site", "request").stdout)
        with open(hq.cert, "w") as f:
            f.write(run_cli("root", "certify", "--key", root_key, req).stdout)
        if users == "one":
            self._enrol([(hq, hq.handle, hq.password)], jobs)
            for s in self.sites[1:]:
                s.handle, s.password = hq.handle, hq.password
        backup = os.path.join(self.root, "hq-backup")
        hq.cli("backup", backup)

        def install(s):
            s.cli("site", "install", s.cert, "--seed", backup)

        with ThreadPoolExecutor(jobs) as ex:
            list(ex.map(install, self.sites[1:]))
        for a, b in self.spec.links:
            self.site(a).cli("peer", "add", self.site(b).cert)
        for s in self.sites:
            self._conf(s)
        if users == "site":
            self._enrol([(s, s.handle, s.password) for s in self.sites], jobs)
        self.log("%d sites built in %.1f s" % (len(self.sites), time.monotonic() - t0))

    def _enrol(self, todo, jobs):
        def add(item):
            site, handle, pw = item
            pf = os.path.join(site.dir, "pw-" + handle)
            fd = os.open(pf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(pw + "\n")
            site.cli("user", "add", handle, "--password-file", pf)

        # One store takes one writer at a time: several users of one site go in order.
        by_site = {}
        for item in todo:
            by_site.setdefault(item[0].name, []).append(item)
        with ThreadPoolExecutor(jobs) as ex:
            list(ex.map(lambda items: [add(i) for i in items], by_site.values()))

    # -- running

    def start(self, sites=None, timeout=60.0):
        """Starts the sites (all by default) and waits until each answers."""
        sites = list(self.sites if sites is None else sites)
        for s in sites:
            s.spawn()
        deadline = time.monotonic() + timeout
        left = list(sites)
        while left:
            left = [s for s in left if not s.up()]
            if not left:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("%d sites did not answer within %.0f s: %s\n%s" % (
                    len(left), timeout, [s.name for s in left[:5]], left[0].log_tail()))
            time.sleep(0.1)

    def stop(self, sites=None):
        sites = list(self.sites if sites is None else sites)
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda s: s.stop(), sites))

    def statuses(self, sites=None, jobs=8):
        """{site name: /api/status} of the running sites (None when it does
        not answer)."""
        sites = [s for s in (self.sites if sites is None else sites) if s.running() and not s.frozen]

        def get(s):
            try:
                return s.status()
            except (OSError, RuntimeError, ValueError):
                return None

        with ThreadPoolExecutor(jobs) as ex:
            return dict(zip([s.name for s in sites], ex.map(get, sites)))

    def links_up(self, st):
        """(up, missing): the links of the topology both of whose ends show
        the other connected, and those that do not."""
        up, missing = [], []
        for a, b in self.spec.links:
            sa, sb = st.get(a), st.get(b)

            def conn(x, other):
                return bool(x) and any(p.get("site") == other and p.get("connected")
                                       for p in x.get("peers", []))
            (up if conn(sa, b) and conn(sb, a) else missing).append((a, b))
        return up, missing

    def wait_linked(self, timeout=60.0, sites=None):
        """Waits until every link of the topology is up at both ends; returns
        the links still down at the timeout (empty when all came up)."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.statuses(sites)
            _, missing = self.links_up(st)
            if sites is not None:
                names = {s.name for s in sites}
                missing = [m for m in missing if m[0] in names and m[1] in names]
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.25)

    def counts(self, sites=None):
        st = self.statuses(sites)
        return {k: (v["events"] if v else None) for k, v in st.items()}

    def wait_equal(self, sites=None, timeout=120.0, at_least=0):
        """Waits until the sites (all by default) hold the same number of
        events, at least at_least, with nothing pending; returns (ok,
        counts)."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.statuses(sites)
            counts = {k: (v["events"] if v else None) for k, v in st.items()}
            vals = set(counts.values())
            if (len(vals) == 1 and None not in vals and min(vals) >= at_least and
                    not any(v["pending"] for v in st.values())):
                return True, counts
            if time.monotonic() > deadline:
                return False, counts
            time.sleep(0.2)

    # -- cuts

    def cut(self, sites, mode="stop"):
        """Cuts the sites off the rest; returns an id for heal(). A group's
        links among themselves stay up in "net" mode when the sites are one
        group of the WAN (a region); in "stop" and "freeze" modes the sites
        are down."""
        sites = list(sites)
        if mode == "stop":
            self.stop(sites)
        elif mode == "freeze":
            for s in sites:
                s.freeze()
        elif mode == "net":
            if not self.wan:
                raise RuntimeError("a net cut needs --netns")
            groups = {self.spec.groups[s.name] for s in sites}
            whole = len(groups) == 1 and set(self.group(next(iter(groups)))) == set(sites)
            if whole and len(sites) > 1:
                self.wan.set_port(self.wan.uplink[next(iter(groups))][0], False)
            else:
                for s in sites:
                    self.wan.set_port(self.wan.port[s.name], False)
        else:
            raise ValueError("cut mode %r (stop, freeze, net)" % mode)
        cid = len(self.cut_now) + 1
        while cid in self.cut_now:
            cid += 1
        self.cut_now[cid] = (sites, mode)
        return cid

    def heal(self, cid, wait=True):
        sites, mode = self.cut_now.pop(cid)
        if mode == "stop":
            if wait:
                self.start(sites)
            else:
                for s in sites:
                    s.spawn()
        elif mode == "freeze":
            for s in sites:
                s.thaw()
        elif mode == "net":
            groups = {self.spec.groups[s.name] for s in sites}
            whole = len(groups) == 1 and set(self.group(next(iter(groups)))) == set(sites)
            if whole and len(sites) > 1:
                self.wan.set_port(self.wan.uplink[next(iter(groups))][0], True)
            else:
                for s in sites:
                    self.wan.set_port(self.wan.port[s.name], True)

    # -- the end

    def cleanup(self):
        for s in self.sites:
            try:
                s.stop(timeout=10)
            except Exception:
                pass
        if self.wan:
            self.wan.destroy()
            self.wan = None
        if self in _feds:
            _feds.remove(self)
        if KEEP:
            print("kept %s" % self.root, file=sys.stderr)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


@atexit.register
def _cleanup_all():
    for f in list(_feds):
        try:
            f.cleanup()
        except Exception:
            pass


def _on_signal(sig, frame):
    # atexit runs on SystemExit: the nodes and namespaces go with us.
    raise SystemExit(128 + sig)


signal.signal(signal.SIGTERM, _on_signal)
# A closed terminal too (its default kills us without atexit: every node and
# namespace would stay).
signal.signal(signal.SIGHUP, _on_signal)
