"""Filling an empty site from a site holding N events (default 1,000,000),
end to end with real `comptoir` processes on loopback: events per second next
to this machine's single-core Ed25519 verify rate measured in the same run,
and the receiving node's peak memory (anonymous, i.e. heap: LMDB's mapped
pages are file-backed and not counted).

Run from the repository root after `make bench` (or make build/tests/bench/fill
build/tests/bench/verify_rate):  python3 tests/bench/catchup.py [N]
Targets: >= 25,000 events/s on 2 cores; peak heap <= 64 MiB.

Also printed: events the source sent per event stored (1.00: nothing sent
twice) and the CPU seconds of each thread of both nodes. Environment:
CATCHUP_CACHE=DIR keeps the filled source there and reuses it later;
CATCHUP_PERF=FILE records a perf profile of the receiving node
(CATCHUP_PERF_HZ, default 400); CATCHUP_TRACE=FILE a `perf trace -s` summary
of its writes and fsyncs; CATCHUP_CPUS=R:S pins the receiving node to the
cores R and the source to S (taskset lists, e.g. 0:1), to see how the rate
scales with the receiver's cores; COMPTOIR_KEEP=1 keeps both nodes'
directories (their paths are printed on stderr). The source always runs
without search; COMPTOIR_NO_SEARCH=1 runs the receiver without it too (the
search index's cost in a catch-up is the difference; with search, the time
until the index also holds every event is printed). CATCHUP_BACKDATE=1
spreads the source's events over a year (fill --backdate: the root key
certifies the new site back); without it they go in the seconds since the
source's certificate, and the reconciliation index holds a few buckets.
CATCHUP_NO_INDEX_WAIT=1 ends the run once the store holds everything,
without waiting for the search index (the heap's peak is in the fill).
CATCHUP_SLICES=K prints each thread's CPU per event stored every K events.
Per thread of the receiving node, per event stored: the bytes its write
syscalls wrote (the writer's: LMDB's dirty pages of each commit) and its
voluntary context switches (waits for work: the hand-offs between threads).
CATCHUP_LOG=debug runs the receiver at that log level (its trace lines: each
commit's size and time, in its log, kept with COMPTOIR_KEEP=1).
"""

import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BIN, Node, run_cli  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
BUILD = os.path.dirname(BIN) or "."
# A source started on a copied store first builds its search index (the
# whole store, before it answers): minutes on a loaded machine.
START_S = int(os.environ.get("CATCHUP_START_S", "900"))


def proc_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def anon_maps(pid):
    """Anonymous resident KiB of a process by kind of mapping: glibc's main
    arena ([heap]), its thread arenas (64 MiB-aligned heaps), thread stacks,
    and the other anonymous mappings (large allocations, libraries' own)."""
    out = {"main arena": 0, "thread arenas": 0, "stacks": 0, "other anon": 0}
    arenas = {}  # KiB by arena (its first heap's address)
    cur = None
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                if not line[0].isupper():  # a mapping's first line
                    parts = line.split()
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    name = parts[5] if len(parts) > 5 else ""
                    if name == "[heap]":
                        cur = "main arena"
                    elif name.startswith("[stack"):
                        cur = "stacks"
                    elif name:
                        cur = None  # file-backed or [vdso] etc.
                    elif lo % (64 << 20) == 0 and hi - lo <= (64 << 20):
                        cur = "thread arenas"
                        arena = lo
                    elif hi - lo == (8 << 20):
                        cur = "stacks"
                    else:
                        cur = "other anon"
                elif cur and line.startswith("Anonymous:"):
                    out[cur] += int(line.split()[1])
                    if cur == "thread arenas":
                        arenas[arena] = arenas.get(arena, 0) + int(line.split()[1])
    except OSError:
        return None
    # The largest arenas (glibc gives each thread its own, up to 8 per core).
    out["largest arenas"] = sorted(arenas.values(), reverse=True)[:6]
    return out


def tasks(pid):
    """The thread ids of a process (none once it is gone)."""
    try:
        return os.listdir("/proc/%d/task" % pid)
    except OSError:
        return []


def thread_cpu(pid):
    """CPU seconds (user + system) per thread name of a process."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for t in tasks(pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        u, k = out.get(name, (0, 0))
        out[name] = (u + int(fields[11]) / tick, k + int(fields[12]) / tick)
    return out


def thread_io(pid):
    """Per thread name: bytes handed to write syscalls (wchar: LMDB's page
    writes for the writer), write syscalls, and voluntary context switches
    (the waits: each batch handed on between threads is one)."""
    out = {}
    for t in tasks(pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/io" % (pid, t)) as f:
                io = dict(line.split(": ") for line in f.read().splitlines())
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                vol = [int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt")]
        except (OSError, ValueError):
            continue
        w, c, v = out.get(name, (0, 0, 0))
        out[name] = (w + int(io.get("wchar", 0)), c + int(io.get("syscw", 0)),
                     v + (vol[0] if vol else 0))
    return out


def cpu_line(before, after):
    """Per thread: total (user + system) CPU seconds between two samples."""
    d = {k: (after[k][0] - before.get(k, (0, 0))[0], after[k][1] - before.get(k, (0, 0))[1])
         for k in after}
    names = sorted(d, key=lambda k: -sum(d[k]))
    return ", ".join("%s %.1f s (%.1f user + %.1f system)" % (k, sum(d[k]), d[k][0], d[k][1])
                     for k in names if sum(d[k]) >= 0.05)


def main():
    rate1 = subprocess.run([os.path.join(BUILD, "tests", "bench", "verify_rate")],
                           capture_output=True, text=True).stdout.strip()
    print("single-core Ed25519 verify (this run): %s" % rate1)
    src = Node("source")
    t0 = time.monotonic()
    cache = os.environ.get("CATCHUP_CACHE")  # reuse a filled source between runs
    if cache and os.path.isdir(os.path.join(cache, "store")):
        import shutil
        with open(src.config_path) as f:
            conf = f.read()
        shutil.rmtree(src.data)
        shutil.copytree(cache, src.data)
        with open(src.config_path) as f:
            old = f.read()
        # the cached site with this run's ports
        for key in ("http", "listen"):
            line = re.search(r"^%s: .*$" % key, conf, re.M).group(0)
            old = re.sub(r"^%s: .*$" % key, line, old, flags=re.M)
        with open(src.config_path, "w") as f:
            f.write(old)
        print("source copied from %s" % cache)
    else:
        # Posts with some comments and reactions, by 20 users, spread over a
        # year with CATCHUP_BACKDATE=1 (else over the seconds since the new
        # site's certificate: fill's --backdate).
        r = subprocess.run([os.path.join(BUILD, "tests", "bench", "fill"), "--dir", src.data,
                            "--posts", str(int(N * 0.8)), "--comments", str(int(N * 0.1)),
                            "--reactions", str(int(N * 0.1)), "--users", "20", "--days", "365"]
                           + (["--backdate"] if os.environ.get("CATCHUP_BACKDATE") else []),
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr)
            sys.exit(1)
        print("source filled: %s (%.0f s)" % (r.stdout.strip().splitlines()[-1],
                                              time.monotonic() - t0))
        if cache:
            import shutil
            shutil.copytree(src.data, cache)
    with open(src.config_path, "a") as f:
        f.write("sync:\n  heartbeat_ms: 500\n  reconcile_interval: 5\n")
    pins = os.environ.get("CATCHUP_CPUS", "")
    # The source runs without search: a cached source has no index and would
    # build one during the run, on the cores the receiver is measured on.
    # The receiver has search unless COMPTOIR_NO_SEARCH is set for the run.
    src.wrap = ["env", "COMPTOIR_NO_SEARCH=1"]
    if pins:
        recv_cpus, send_cpus = pins.split(":")
        src.wrap += ["taskset", "-c", send_cpus]
        print("receiving node on cores %s, source on cores %s" % (recv_cpus, send_cpus))
    src.start(timeout=START_S)
    total = src.status()["events"]

    dst = Node("empty", init=False)
    run_cli("init", "--dir", dst.data, "--site", "empty", "--http",
            "127.0.0.1:%d" % dst.http_port, "--listen", "tcp://127.0.0.1:%d" % dst.listen_port,
            "--join")
    req, cert, scert = (os.path.join(dst.dir, x) for x in ("d.req", "d.cert", "s.cert"))
    with open(req, "w") as f:
        f.write(dst.cli("site", "request").stdout)
    root = os.path.join(src.data, "keys", "root.key")
    with open(cert, "w") as f:
        f.write(run_cli("root", "certify", "--key", root, "--dir", src.data, req).stdout)
    dst.cli("site", "install", cert)
    sreq = os.path.join(dst.dir, "s.req")
    with open(sreq, "w") as f:
        f.write(src.cli("site", "request").stdout)
    with open(scert, "w") as f:
        f.write(run_cli("root", "certify", "--key", root, sreq).stdout)
    dst.cli("peer", "add", scert)
    with open(dst.config_path, "a") as f:
        f.write("sync:\n  heartbeat_ms: 500\n  reconcile_interval: 5\n")
    if os.environ.get("CATCHUP_LOG"):
        # CATCHUP_LOG=debug: the receiver's trace lines (each commit's size
        # and time) in its log, kept with COMPTOIR_KEEP=1
        with open(dst.config_path) as f:
            conf = f.read()
        with open(dst.config_path, "w") as f:
            f.write(re.sub(r"^log_level: .*$", "log_level: " + os.environ["CATCHUP_LOG"],
                           conf, flags=re.M))

    peak = {"hwm": 0, "anon": 0, "maps": None}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if dst.proc:
                anon = proc_kb(dst.proc.pid, "RssAnon")
                if anon > peak["anon"]:
                    peak["anon"] = anon
                    peak["maps"] = anon_maps(dst.proc.pid)
                peak["hwm"] = max(peak["hwm"], proc_kb(dst.proc.pid, "VmHWM"))
            time.sleep(0.2)

    w = threading.Thread(target=watch)
    w.start()
    src_cpu0 = thread_cpu(src.proc.pid)
    t0 = time.monotonic()
    if pins:
        dst.wrap = ["taskset", "-c", recv_cpus]
    if os.environ.get("CATCHUP_WRAP"):  # e.g. "heaptrack -o /tmp/ht"
        dst.wrap = getattr(dst, "wrap", []) + os.environ["CATCHUP_WRAP"].split()
    dst.start(timeout=60)
    perf = None
    if os.environ.get("CATCHUP_PERF"):
        # Profile of the receiving node: CATCHUP_PERF=/tmp/perf.data
        perf = subprocess.Popen(["perf", "record", "-F", os.environ.get("CATCHUP_PERF_HZ", "400"),
                                 "--call-graph", "dwarf,8192", "-p", str(dst.proc.pid),
                                 "-o", os.environ["CATCHUP_PERF"]],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trace = None
    if os.environ.get("CATCHUP_TRACE"):
        trace = subprocess.Popen(["perf", "trace", "-s", "-p", str(dst.proc.pid), "-e",
                                  "fdatasync,pwrite64,pwritev,writev", "-o", os.environ["CATCHUP_TRACE"]],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = 0
    samples = []
    halfway = None
    # CATCHUP_SLICES=K: each thread's CPU per event stored, every K events
    # (what grows with N, in one run).
    slice_k = int(os.environ.get("CATCHUP_SLICES", "0"))
    sl = (0, thread_cpu(dst.proc.pid), thread_cpu(src.proc.pid))
    while True:
        st = dst.status()
        got = st["events"]
        if slice_k and (got >= sl[0] + slice_k or got >= total):
            d, s_ = thread_cpu(dst.proc.pid), thread_cpu(src.proc.pid)
            n_ = max(got - sl[0], 1)
            per = lambda a, b: ", ".join("%s %.1f" % (k, (sum(a[k]) - sum(b.get(k, (0, 0)))) * 1e6 / n_)
                                         for k in sorted(a) if sum(a[k]) - sum(b.get(k, (0, 0))) >= 0.05)
            print("events %d-%d (load %.1f): us per event, receiving node: %s; source: %s" %
                  (sl[0], got, os.getloadavg()[0], per(d, sl[1]), per(s_, sl[2])), flush=True)
            sl = (got, d, s_)
        if got >= total:
            break
        if halfway is None and got >= total // 2:
            # What site IT sees half-way: the backlog and the rate.
            p = [x for x in st.get("peers", []) if x.get("site") == "source"]
            if p:
                halfway = (total - got, p[0].get("to_receive", 0), p[0].get("rate_in", 0))
        if time.monotonic() - t0 > 3600:
            print("timed out at %d of %d" % (got, total))
            break
        if got != last:
            samples.append((time.monotonic() - t0, got))
            last = got
        time.sleep(0.1)
    took = time.monotonic() - t0
    filled_cpu = thread_cpu(dst.proc.pid)  # each thread's CPU until the store held everything
    # The search index follows the store in the background (its backlog
    # file): the time until it holds everything too.
    indexed = None
    if "search" in dst.status() and not os.environ.get("CATCHUP_NO_INDEX_WAIT"):
        while dst.status().get("search", {}).get("behind", 0) > 0 and \
                time.monotonic() - t0 < 3600:
            time.sleep(0.1)
        indexed = time.monotonic() - t0
    src_cpu, dst_cpu = thread_cpu(src.proc.pid), thread_cpu(dst.proc.pid)
    dst_io = thread_io(dst.proc.pid)
    sent = sum(p.get("sent", 0) for p in src.status().get("peers", []))
    for p in (perf, trace):
        if p:
            p.send_signal(2)
            p.wait()
    stop.set()
    w.join()
    rate = total / took if took > 0 else 0
    print("filled an empty site with %d events in %.1f s: %.0f events/s end to end "
          "[target >= 25,000/s on 2 cores; single-core verify %s]" % (total, took, rate, rate1))
    if indexed is not None:
        print("search index: holds every event %.1f s after the start (%.1f s after the store): "
              "%.0f events/s stored and indexed" % (indexed, indexed - took, total / indexed))
    print("receiving node: peak anonymous memory (heap) %.1f MiB, VmHWM %.1f MiB incl. mapped "
          "store pages [target heap <= 64 MiB]" % (peak["anon"] / 1024, peak["hwm"] / 1024))
    if peak["maps"]:
        print("  at the peak, by mapping: %s (the largest arenas: %s MiB)" % (", ".join(
            "%s %.1f MiB" % (k, v / 1024) for k, v in peak["maps"].items()
            if k != "largest arenas"), ", ".join(
            "%.1f" % (v / 1024) for v in peak["maps"]["largest arenas"])))
    if halfway:
        print("half-way, the receiving node's status showed %d events to receive at %d "
              "events/s (%d actually remained)" % (halfway[1], halfway[2], halfway[0]))
    print("events sent by the source: %d (%.2f per event stored)" % (sent, sent / max(total, 1)))
    print("CPU of the receiving node by thread: %s" % cpu_line({}, dst_cpu))
    if indexed is not None:
        print("  of which until the store held every event: %s" % cpu_line({}, filled_cpu))
    print("CPU of the sending node by thread: %s" % cpu_line(src_cpu0, src_cpu))
    print("receiving node by thread, per event stored: %s" % ", ".join(
        "%s %.0f bytes written in %.3f writes, %.4f waits" %
        (k, w / max(total, 1), c / max(total, 1), v / max(total, 1))
        for k, (w, c, v) in sorted(dst_io.items(), key=lambda x: -x[1][0])
        if w or v > total / 10000))
    # The CPU budget: what both nodes spent per event, and the rate those
    # costs would allow with every core busy all the time (a ceiling).
    cores = len(os.sched_getaffinity(0))
    d_cpu = sum(sum(v) for v in dst_cpu.values())
    s_cpu = sum(sum(v) for k, v in src_cpu.items()) - sum(sum(v) for v in src_cpu0.values())
    m = re.search(r"verify_per_s=(\d+)", rate1)
    per = (d_cpu + s_cpu) * 1e6 / max(total, 1)
    print("CPU per event: receiving node %.1f us (Ed25519 verify alone %s), source %.1f us; "
          "the %d cores were %.0f%% busy; with every core busy all the time these costs "
          "would allow at most %.0f events/s" %
          (d_cpu * 1e6 / max(total, 1), "%.1f us" % (1e6 / int(m.group(1))) if m else "?",
           s_cpu * 1e6 / max(total, 1), cores, 100 * (d_cpu + s_cpu) / (cores * took),
           cores * 1e6 / per if per > 0 else 0))
    # The verify pool against its own work on one core (verify_rate's
    # path_us: decode, parse, verify, free of distinct envelopes): what the
    # pool adds (hand-offs, other threads' caches and interrupts) is the gap.
    p_ = re.search(r"path_us=([\d.]+)", rate1)
    d_ = re.search(r"distinct_per_s=(\d+)", rate1)
    if "cpt-verify" in filled_cpu and p_:
        print("verify pool: %.1f us of cpt-verify CPU per event stored; one core's path %s us "
              "(Ed25519 of distinct envelopes alone %s)" %
              (sum(filled_cpu["cpt-verify"]) * 1e6 / max(total, 1), p_.group(1),
               "%.1f us" % (1e6 / int(d_.group(1))) if d_ else "?"))
    size = os.path.getsize(os.path.join(dst.data, "store", "data.mdb"))
    print("receiving store: %.1f MiB for %d events (%.0f bytes per event)" %
          (size / 1048576, total, size / max(total, 1)))
    dst.cleanup()  # COMPTOIR_KEEP=1 keeps both nodes' directories (paths on stderr)
    src.cleanup()


if __name__ == "__main__":
    main()
