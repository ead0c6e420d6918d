"""Search with real processes: two sites linked over ZeroMQ CURVE (Lyon dials
Paris), a post written at Lyon found at Paris once it has arrived, a deleted
post gone from every site's search; a private space's posts, comments and
name found by its members only (not once they leave), a deleted space post
gone at once, the index equal to a rebuild; a private space with members at
two of three sites, searched at each; and kill -9 during heavy posting: after
the restart the search index equals one rebuilt from the store, and every
acknowledged post is found.

    make && python3 tests/integration/test_search.py

Ends with "N passed, M failed" and exits 1 on failure.
"""
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner, run_cli  # noqa: E402
from test_federation import certify, fast_sync, join_node, linked, wait_until  # noqa: E402

t = Runner()
DEADLINE = 20.0


def search(client, q, **kw):
    args = dict(kw, q=q)
    r = client.get("/api/search?" + urllib.parse.urlencode(args))
    if r.status != 200:
        raise RuntimeError("search %r: %r" % (q, r))
    return r.json


def found_ids(client, q):
    return {i["id"] for i in search(client, q, type="posts")["posts"]["items"]}


def login(node, handle):
    c = node.client()
    c.login(handle, node.passwords[handle])
    return c


def dump(path):
    """Every row of a search index file: (key, hash, title, body), in order."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return db.execute("SELECT d.key, hex(d.hash), coalesce(f.title, p.title),"
                          " coalesce(f.body, p.body) FROM docs d"
                          " LEFT JOIN fts f ON f.rowid = d.rid"
                          " LEFT JOIN pfts p ON p.rowid = d.rid ORDER BY d.key").fetchall()
    finally:
        db.close()


def thread_nice(node, name):
    """The nice value of node's thread called name (field 19 of its stat)."""
    task = "/proc/%d/task" % node.proc.pid
    for tid in os.listdir(task):
        try:
            with open("%s/%s/comm" % (task, tid)) as f:
                if f.read().strip() != name:
                    continue
            with open("%s/%s/stat" % (task, tid)) as f:
                return int(f.read().rsplit(")", 1)[1].split()[16])
        except OSError:
            continue
    return None


def test_two_sites():
    A = Node("paris")
    A.add_user("alice", admin=True, name="Aurélie Lefèvre")
    fast_sync(A)
    B = join_node("lyon")
    certify(A, B)
    paris_cert = certify(A, A, publish=False, install=False)
    fast_sync(B)
    B.add_user("dave", name="Dave Martin")
    B.cli("peer", "add", paris_cert)
    A.start()
    B.start()
    t.check(wait_until(lambda: linked(A, "lyon") and linked(B, "paris"), DEADLINE),
            "paris and lyon link")
    a, d = login(A, "alice"), login(B, "dave")

    # A post written at Lyon, found at Paris once it has arrived there.
    r = d.post("/api/posts", {"text": "Les réunions d'inventaire de Lyon commencent lundi"})
    t.check(r.status == 201, "dave posts at lyon", r)
    pid = r.json["id"]
    arrived = wait_until(lambda: a.get("/api/posts/" + pid).status == 200, DEADLINE)
    t0 = time.monotonic()
    t.check(arrived, "the post arrives at paris")
    found = wait_until(lambda: pid in found_ids(a, "réunion inventaire"), DEADLINE, 0.02)
    t.check(found, "paris finds the lyon post by its words (réunion, inventaire)")
    print("info: found at paris %.0f ms after it could be read there" %
          ((time.monotonic() - t0) * 1000))
    t.check(pid in found_ids(a, "REUNIONS"), "accents, case and plural do not count")
    t.check(wait_until(lambda: A.status().get("search", {}).get("behind") == 0, DEADLINE),
            "paris's status says its index is not behind at rest", A.status().get("search"))
    t.eq(thread_nice(A, "cpt-search"), 10,
         "the index writer runs below the threads that store events (nice 10)")
    t.eq(thread_nice(A, "cpt-writer"), 0, "the store's writer does not")
    hits = search(a, "inventaire")["posts"]["items"]
    snip = hits[0]["snippet"] if hits else []
    t.check(len(snip) >= 2 and snip[1].lower() == "inventaire", "the snippet marks the match",
            snip)
    # The people of the other site too, typo and accents forgiven.
    people = wait_until(lambda: [p["handle"] for p in
                                 search(a, "martn", type="people")["people"]["items"]], DEADLINE)
    t.check(people == ["dave"], "paris finds dave (lyon) by his name with a typo", people)
    t.check(wait_until(lambda: [p["handle"] for p in
                            search(d, "lefevre", type="people")["people"]["items"]] == ["alice"],
                       DEADLINE), "lyon finds Lefèvre typed without accents")
    # The filters: author and site.
    t.check(pid in found_ids(a, "inventaire") and
            not search(a, "inventaire", author="alice")["posts"]["items"],
            "the author filter keeps only that author's posts")
    # Deleted at Lyon: gone from the search of every site.
    r = d.delete("/api/posts/" + pid)
    t.check(r.status in (200, 204), "dave deletes his post", r)
    t.check(pid not in found_ids(d, "inventaire"), "lyon no longer finds it, at once")
    gone = wait_until(lambda: pid not in found_ids(a, "inventaire"), DEADLINE, 0.05)
    t.check(gone, "paris no longer finds it once the deletion arrives")
    # Bad searches are answered, not crashed on.
    r = a.get("/api/search?q=")
    t.check(r.status == 400, "an empty search is a 400", r)
    r = a.get("/api/search?q=" + "x" * 300)
    t.check(r.status == 400 and r.json.get("code") == "too_long", "a long search is a 400", r)
    r = a.get("/api/search?q=a&type=nope")
    t.check(r.status == 400, "an unknown type is a 400", r)
    r = A.client().get("/api/search?q=a")
    t.check(r.status == 401, "search needs a session", r)
    A.stop()
    B.stop()
    A.cleanup()
    B.cleanup()


def test_kill_during_posting():
    A = Node("paris")
    A.add_user("alice", admin=True)
    A.start()
    acked = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n):
        c = login(A, "alice")
        i = 0
        while not stop.is_set():
            word = "mot%dx%d" % (n, i)
            try:
                r = c.post("/api/posts", {"text": "charge %s pendant la panne" % word})
            except OSError:
                return
            if r.status == 201:
                with lock:
                    acked.append(word)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for th in threads:
        th.start()
    wait_until(lambda: len(acked) >= 150, 60, 0.05)
    A.kill()
    stop.set()
    for th in threads:
        th.join()
    t.check(len(acked) >= 150, "posts acknowledged before the kill: %d" % len(acked))
    A.start()
    # The index is reconciled with the store by its writer after the start
    # (the site answers at once): the status says when it holds it all.
    t.check(wait_until(lambda: A.status().get("search", {}).get("behind") == 0, DEADLINE),
            "the index catches up after the restart", A.status().get("search"))
    c = login(A, "alice")
    missing = [w for w in acked if not search(c, w)["posts"]["items"]]
    t.check(not missing, "every acknowledged post is found after the restart",
            missing[:5])
    A.stop()
    live = dump(os.path.join(A.data, "search.db"))
    r = A.cli("verify", check=False)
    t.check(r.returncode == 0, "comptoir verify passes (search index included)", r.stderr)
    copy = tempfile.mkdtemp(prefix="search-rebuilt-")
    try:
        shutil.copytree(A.data, os.path.join(copy, "data"))
        run_cli("reindex", "--dir", os.path.join(copy, "data"))
        rebuilt = dump(os.path.join(copy, "data", "search.db"))
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    t.check(len(live) >= len(acked) and live == rebuilt,
            "the index after kill -9 and restart equals a rebuild (%d rows)" % len(live))
    A.cleanup()


def test_spaces():
    A = Node("paris")
    A.add_user("alice", admin=True)
    A.add_user("bob")
    A.add_user("carol")
    A.start()
    a, b, c = login(A, "alice"), login(A, "bob"), login(A, "carol")
    r = a.post("/api/spaces", {"name": "Budget secret", "description": "Chiffres zébrés",
                               "visibility": "private", "join": "invite"})
    t.check(r.status == 201, "alice makes a private space", r)
    priv = r.json["id"]
    r = a.post("/api/spaces", {"name": "Randonnée", "visibility": "open", "join": "open"})
    t.check(r.status == 201, "alice makes an open space", r)
    open_id = r.json["id"]
    r = a.post("/api/posts", {"text": "le budget des ornithorynques", "space": priv})
    t.check(r.status == 201, "alice posts in the private space", r)
    ppost = r.json["id"]
    r = a.post("/api/posts", {"text": "la cascade de dimanche", "space": open_id})
    t.check(r.status == 201, "alice posts in the open space", r)
    opost = r.json["id"]
    t.check(a.post("/api/spaces/%s/invite" % priv, {"user": "bob"}).status == 200 and
            b.post("/api/spaces/%s/join" % priv).status == 200, "bob is invited and joins")
    r = b.post("/api/posts/%s/comments" % ppost, {"text": "un ornithorynque de plus"})
    t.check(r.status == 201, "bob comments in the private space", r)
    cid = r.json["id"]

    def posts(cl, q):
        return {i["id"] for i in search(cl, q, type="posts")["posts"]["items"]}

    def spaces(cl, q):
        return {i["id"] for i in search(cl, q, type="spaces")["spaces"]["items"]}

    t.check(wait_until(lambda: posts(b, "ornithorynque") == {ppost, cid}, DEADLINE, 0.05),
            "bob (a member) finds the private post and his comment", posts(b, "ornithorynque"))
    t.check(posts(c, "ornithorynque") == set() and posts(c, "cascade") == {opost},
            "carol finds the open space's post, nothing of the private space",
            (posts(c, "ornithorynque"), posts(c, "cascade")))
    t.check(spaces(b, "budget") == {priv} and spaces(c, "budget") == set() and
            spaces(c, "randonnee") == {open_id}, "a private space's name: its members only",
            (spaces(b, "budget"), spaces(c, "budget")))
    hit = [h for h in search(b, "ornithorynque", type="posts")["posts"]["items"]
           if h["type"] == "post"]
    t.check(len(hit) == 1 and hit[0].get("space") == priv and
            hit[0].get("space_name") == "Budget secret", "a hit says its space", hit)
    # Carol asks the private space by id: nothing either.
    t.check(search(c, "ornithorynque", type="posts", space=priv)["posts"]["items"] == [],
            "the space filter does not open a private space")
    # Bob leaves: he no longer finds it, at once.
    r = b.post("/api/spaces/%s/leave" % priv)
    t.check(r.status == 200, "bob leaves", r)
    t.check(posts(b, "ornithorynque") == set() and spaces(b, "budget") == set(),
            "bob, gone, finds nothing of it", posts(b, "ornithorynque"))
    t.check(posts(a, "ornithorynque") == {ppost, cid}, "alice still does")
    # Deleted: gone at once, and from the index once applied.
    r = a.delete("/api/posts/" + ppost)
    t.check(r.status in (200, 204), "alice deletes her private post", r)
    t.check(posts(a, "ornithorynque") == set(), "the deleted post and its comment are gone at once")
    A.stop()
    live = dump(os.path.join(A.data, "search.db"))
    copy = tempfile.mkdtemp(prefix="search-rebuilt-")
    try:
        shutil.copytree(A.data, os.path.join(copy, "data"))
        run_cli("reindex", "--dir", os.path.join(copy, "data"))
        rebuilt = dump(os.path.join(copy, "data", "search.db"))
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    keys = [row[0] for row in live]
    if live != rebuilt:
        print("live:", [r[:2] for r in live], "\nrebuilt:", [r[:2] for r in rebuilt])
    t.check(live == rebuilt and ("s" + open_id) in keys and ("p" + opost) in keys
            and ("p" + ppost) not in keys,
            "the live index (spaces, a leave, a deletion) equals a rebuild", len(live))
    A.cleanup()


def test_private_space_sites():
    """A private space with members at paris and lyon: its post, written at
    paris, is found by lyon's member at lyon, by nobody else at lyon or at
    nantes (which relays it sealed), and no longer once the member leaves."""
    A = Node("paris")
    fast_sync(A)
    paris_cert = certify(A, A, publish=False, install=False)
    A.add_user("alice", admin=True)
    B, C = join_node("lyon"), join_node("nantes")
    certify(A, B)
    certify(A, C)
    for n in (B, C):
        fast_sync(n)
        n.cli("peer", "add", paris_cert)
    B.add_user("dave")
    B.add_user("erin")
    C.add_user("carol")
    for n in (A, B, C):
        n.start()
    t.check(wait_until(lambda: linked(A, "lyon") and linked(A, "nantes"), DEADLINE),
            "lyon and nantes link to paris")
    a, d, e, c = login(A, "alice"), login(B, "dave"), login(B, "erin"), login(C, "carol")
    r = a.post("/api/spaces", {"name": "Projet Zéphyr", "visibility": "private",
                               "join": "invite"})
    t.check(r.status == 201, "alice makes a private space at paris", r)
    sid = r.json["id"]
    t.check(a.post("/api/spaces/%s/invite" % sid, {"user": "dave"}).status == 200,
            "alice invites dave of lyon")
    t.check(wait_until(lambda: d.get("/api/spaces/%s" % sid).json.get("my_pending") == "invited",
                       DEADLINE) and d.post("/api/spaces/%s/join" % sid).status == 200,
            "dave joins at lyon")
    r = a.post("/api/posts", {"text": "les tarifs confidentiels du pangolin", "space": sid})
    t.check(r.status == 201, "alice posts in the private space at paris", r)
    pid = r.json["id"]
    # Once lyon holds the key (sealed to it on paris's timer), its index has the post.
    t.check(wait_until(lambda: found_ids(d, "pangolin tarif") == {pid}, DEADLINE, 0.05),
            "dave (a member) finds it at lyon", found_ids(d, "pangolin"))
    t.check(found_ids(e, "pangolin") == set(), "erin (no member) does not, at lyon")
    t.check(wait_until(lambda: pid in export_ids(C), DEADLINE), "nantes stores the sealed post")
    t.check(found_ids(c, "pangolin") == set() and
            search(c, "pangolin", type="posts", space=sid)["posts"]["items"] == [],
            "carol does not find it at nantes, even asking for the space")
    r = d.post("/api/spaces/%s/leave" % sid)
    t.check(r.status == 200, "dave leaves", r)
    t.check(found_ids(d, "pangolin") == set(), "dave, gone, no longer finds it at lyon")
    t.check(found_ids(a, "pangolin") == {pid}, "alice still does at paris")
    for n in (A, B, C):
        n.stop()
        n.cleanup()


def export_ids(node):
    p = run_cli("export", "--dir", node.data)
    return {json.loads(x)["id"] for x in p.stdout.splitlines() if x.strip()}


t.test(test_two_sites)
t.test(test_spaces)
t.test(test_private_space_sites)
t.test(test_kill_during_posting)
t.finish()
