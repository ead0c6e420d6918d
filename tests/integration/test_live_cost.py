"""What a live event costs the threads it does not concern (issue 24): a
node's own commits no longer wake its main thread, whose watch on the store
is for other processes' writes (the CLI), and those are still announced; the
webhooks' worker is not woken per event while no webhook is registered; the
search writer takes live changes in windows, not one by one.

A real node on loopback ports; the wake-ups are counted by the kernel
(voluntary context switches of the main thread), not timed.

    make && python3 tests/integration/test_live_cost.py
"""

import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402

t = Runner()
POSTS = 150


def people(client, q):
    r = client.get("/api/search?" + urllib.parse.urlencode({"q": q, "type": "people"}))
    if r.status != 200:
        raise RuntimeError("search %r: %r" % (q, r))
    return r.json["people"]["items"]


def switches(pid, name=None):
    """Voluntary context switches of the process's main thread, or of its
    thread called name: each is a wait that ended (a wake-up)."""
    tid = pid
    if name is not None:
        tid = None
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                if f.read().strip() == name:
                    tid = int(t)
        if tid is None:
            raise RuntimeError("no thread called %s in %d" % (name, pid))
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise RuntimeError("no voluntary_ctxt_switches for %d" % tid)


def test_own_commits_do_not_wake_the_loop():
    n = Node("paris")
    try:
        pw = n.add_user("alice", admin=True)
        n.set_limits(writes_per_minute=100000, writes_burst=100000)  # not what is tested
        n.start()
        c = n.client()
        c.login("alice", pw)
        time.sleep(0.5)  # the start's own work (its first polls) is over
        threads = (None, "cpt-hook", "cpt-search")
        before = [switches(n.proc.pid, x) for x in threads]
        t0 = time.monotonic()
        for i in range(POSTS):
            r = c.post("/api/posts", {"text": "relevé %d du compteur" % i})
            if r.status != 201:
                t.check(False, "post %d answered 201" % i, r)
                return
        seconds = time.monotonic() - t0
        woke = [switches(n.proc.pid, x) - b for x, b in zip(threads, before)]
        print("info: %d posts in %.1f s woke the main thread %d times, the webhooks' worker "
              "%d, the search writer %d" % (POSTS, seconds, woke[0], woke[1], woke[2]))
        # The main thread's timers: once a second (status.json, held
        # events), and the sweeps; a watch woken by every commit's writes
        # woke it 2-3 times per post (~400 here). Bounded by time, not by
        # posts.
        allowed = 10 + 4 * seconds
        t.check(woke[0] <= allowed,
                "the main thread woke %d times for %d posts in %.1f s (at most %d: "
                "not once per commit)" % (woke[0], POSTS, seconds, allowed))
        # No webhook here: the worker takes the changes each second; it
        # was woken for each post (and made two read transactions).
        t.check(woke[1] <= allowed,
                "the webhooks' worker woke %d times for %d posts in %.1f s (at most "
                "%d)" % (woke[1], POSTS, seconds, allowed))
        # Windows of SEARCH_WINDOW_MS (1 s): a few, not one per post.
        allowed = 10 + 8 * seconds
        t.check(woke[2] <= allowed,
                "the search writer woke %d times for %d posts in %.1f s (at most "
                "%d)" % (woke[2], POSTS, seconds, allowed))

        # Another process's write is still seen and announced: the CLI
        # enrols someone, the node's search (a listener of announced
        # changes) finds them.
        n.add_user("zoe", name="Zoé Quenouille")
        found = False
        deadline = time.monotonic() + 10
        while not found and time.monotonic() < deadline:
            found = any(p.get("handle") == "zoe" for p in people(c, "Quenouille"))
            if not found:
                time.sleep(0.1)
        t.check(found, "the CLI's enrolment reached the running node's search")
    finally:
        n.stop()
        n.cleanup()


t.test(test_own_commits_do_not_wake_the_loop)
t.finish()
