"""The federation simulator in small (issue 24): 10 real sites of one root, in a
star around hq and in a ring, each under staff writes through the HTTP API,
then cut in two or more pieces that keep writing, then healed; every site must
end with exactly the same events, checked by comparing every site's
`comptoir export`. The full runs and their figures are tests/sim/sim.py.

    python3 tests/integration/test_sim.py      (from the repository root)

The cuts stop the nodes (no root needed): in the star, hq stops and every
branch is alone; in the ring, two sites stop and the ring falls in two arcs.
Waits for conditions, never a fixed time. Ends with "N passed, M failed".
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "sim"))
from harness import Runner  # noqa: E402
import fed as fedmod  # noqa: E402
import load  # noqa: E402

SITES = 10
WRITES = 30          # per phase
DEADLINE = 60.0      # seconds for anything that crosses the federation

t = Runner()


def held(client, post_id):
    """Does the client's site hold the post? (GET /api/posts/ID: 200 or 404)"""
    r = client.get("/api/posts/" + post_id)
    if r.status not in (200, 404):
        raise RuntimeError("GET /api/posts/%s: %r" % (post_id, r))
    return r.status == 200


def writes(fed, sites, clients, seed):
    """WRITES writes spread over sites; returns the Workload."""
    w = load.Workload(sites, clients, None, seed=seed, logins=0.0, reads=0.0)
    w.run(rate=0, count=WRITES, concurrency=4)
    t.eq((w.ok, w.failed), (WRITES, 0), "%s: %d writes answered 2xx at %d sites" % (
        fed.spec.kind, WRITES, len(sites)))
    return w


def check_exports(fed, name, created):
    ok, counts = fed.wait_equal(timeout=DEADLINE)
    t.check(ok, "%s: every site holds as many events after %s" % (fed.spec.kind, name), counts)
    exports = {s.name: s.export_lines() for s in fed.sites}
    ref = exports["hq"]
    differ = [k for k, v in exports.items() if v != ref]
    t.check(not differ, "%s: the %d exports are identical after %s (%d events)" % (
        fed.spec.kind, len(exports), name, len(ref)), differ)
    ids = {line[7:71] for line in ref}
    lost = [e for e in created if e not in ids]
    t.check(not lost, "%s: every post and comment written is there after %s" % (
        fed.spec.kind, name), lost[:5])


def check_stamps(fed, watcher, created):
    """Every site's stream said when it stored each post and comment written
    (data.stored_us), no later than its line was read, and the spread timed
    from those stamps is the simulator's figure (tests/sim/README.md)."""
    deadline = time.monotonic() + DEADLINE
    names = [s.name for s in fed.sites]
    while time.monotonic() < deadline and any(
            n not in watcher.stored.get(e, {}) for e in created for n in names):
        time.sleep(0.1)
    lacking = [(e[:8], n) for e in created for n in names if n not in watcher.stored.get(e, {})]
    t.check(not lacking, "%s: every site's stream stamped each of the %d posts and comments" % (
        fed.spec.kind, len(created)), lacking[:5])
    lag = watcher.lag(created, fed.sites)
    t.check(lag and min(lag) > -0.002, "%s: no stamp is later than its line was read" %
            fed.spec.kind, min(lag) if lag else None)
    t0 = {e: v[0] for e, v in created.items()}
    spread = watcher.spread(created, fed.sites, t0, stamped=True)
    t.check(all(v[0] is not None and 0 <= v[0] < DEADLINE for v in spread.values()),
            "%s: each one's time until every site held it, from the stamps" % fed.spec.kind,
            [v for v in spread.values()][:5])


def scenario(kind, cut_names, apart):
    spec = fedmod.topology(kind, SITES)
    fed = fedmod.Federation(spec, heartbeat_ms=200, reconcile_s=2)
    try:
        fed.build(users="one", jobs=3)
        fed.start()
        missing = fed.wait_linked(timeout=DEADLINE)
        t.check(not missing, "%s: all %d links up" % (kind, len(spec.links)), missing)
        clients = load.login_all(fed.sites, jobs=3)
        watcher = load.Watcher()
        watcher.start(fed.sites, clients)

        # Linked: what any site writes reaches every other, relayed.
        w1 = writes(fed, fed.sites, clients, seed=1)
        check_exports(fed, "the first writes", w1.created)
        check_stamps(fed, watcher, w1.created)
        watcher.stop()
        far = fed.sites[-1]
        post = clients[far.name].post("/api/posts", {"text": "from the far end"}).json["id"]
        ok, _ = fed.wait_equal(timeout=DEADLINE)
        t.check(ok and all(held(clients[s.name], post) for s in fed.sites),
                "%s: a post at %s reached every site" % (kind, far.name))

        # Cut: the pieces keep writing, each on its own.
        cut = [fed.site(n) for n in cut_names]
        up = [s for s in fed.sites if s not in cut]
        cid = fed.cut(cut, "stop")
        w2 = writes(fed, up, clients, seed=2)
        a, b = fed.site(apart[0]), fed.site(apart[1])
        lonely = clients[a.name].post("/api/posts", {"text": "during the cut"}).json["id"]
        t.check(held(clients[a.name], lonely) and not held(clients[b.name], lonely),
                "%s: cut in pieces (%s's post is not at %s)" % (kind, a.name, b.name))

        # Heal: everything everywhere, and the same everywhere.
        fed.heal(cid)
        missing = fed.wait_linked(timeout=DEADLINE)
        t.check(not missing, "%s: all links up again after the heal" % kind, missing)
        created = dict(w1.created)
        created.update(w2.created)
        created[lonely] = None
        created[post] = None
        check_exports(fed, "the heal", created)
    finally:
        fed.cleanup()


# star: hq stops, nine branches alone; ring: s003 and s007 stop, leaving the
# arcs s004..s006 and s008..s002 (through hq).
t.test(scenario, "star", ["hq"], ("b001", "b009"))
t.test(scenario, "ring", ["s003", "s007"], ("hq", "s005"))
t.finish()
