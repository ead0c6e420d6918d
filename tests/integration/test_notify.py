"""Notifications across sites: real `comptoir` processes on loopback, Lyon
dialing Paris through a TCP relay of this test that can cut the link.

    python3 tests/integration/test_notify.py

A mention written at Lyon for a person of Paris shows in their notifications
at Paris; written while the link is cut, it shows when it heals, unread even
though they marked everything read meanwhile; read at Paris, it is read at
Lyon, and the other way round. Also the calls' answers to bad input, mutes,
follows and the For you feed, announcements and who may make them, the bell
over the event stream. Ends with "N passed, M failed"; exit 1 on failure.
"""

import os
import shutil
import socket
import sys
import tempfile
import threading
import atexit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import KEEP, Node, Runner, certify_site, free_port, run_cli  # noqa: E402

tempfile.tempdir = tempfile.mkdtemp(prefix="notifytest-")
if not KEEP:
    atexit.register(shutil.rmtree, tempfile.tempdir, True)

DEADLINE = 20.0
FAST_SYNC = "sync:\n  heartbeat_ms: 200\n  reconcile_interval: 5\n"
t = Runner()
PW = {}


def wait_until(fn, timeout=DEADLINE, interval=0.1):
    import time
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


class Relay:
    """A TCP relay on loopback that can be cut (every connection closed,
    new ones refused) and healed."""

    def __init__(self, to_port):
        self.to_port = to_port
        self.port = free_port()
        self.up = True
        self.conns = []
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", self.port))
        self.srv.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _pipe(self, a, b):
        try:
            while True:
                d = a.recv(65536)
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

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            if not self.up:
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.to_port))
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    def cut(self):
        self.up = False
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.conns = []

    def heal(self):
        self.up = True


def linked(node, site):
    p = {p["site"]: p for p in node.status()["peers"]}.get(site)
    return bool(p and p["connected"])


def login(node, handle):
    c = node.client()
    c.login(handle, PW[handle])
    return c


def groups(c, **q):
    path = "/api/notifications"
    if q:
        path += "?" + "&".join("%s=%s" % kv for kv in q.items())
    r = c.get(path)
    return r.json if r.status == 200 else None


def group_of(c, post):
    j = groups(c)
    for g in (j or {}).get("items", []):
        if g["group"] == post:
            return g
    return None


def setup():
    P = Node("paris")
    PW["alice"] = P.add_user("alice", admin=True, name="Alice")
    PW["bob"] = P.add_user("bob", name="Bob")
    PW["erin"] = P.add_user("erin", name="Erin")
    with open(P.config_path, "a") as f:
        f.write("\n" + FAST_SYNC)
    # The scenes log in a few dozen times from one address: more than the
    # login limit lets through in a minute (it has its own tests).
    P.set_limits(login_per_minute=1000)
    L = Node("lyon", init=False)
    run_cli("init", "--dir", L.data, "--site", "lyon", "--http", "127.0.0.1:%d" % L.http_port,
            "--listen", "tcp://127.0.0.1:%d" % L.listen_port, "--join")
    certify_site(P, L, into=P)
    paris_cert = certify_site(P, P, install=False)
    with open(L.config_path, "a") as f:
        f.write("\n" + FAST_SYNC)
    PW["dave"] = L.add_user("dave", name="Dave")
    L.set_limits(login_per_minute=1000)
    relay = Relay(P.listen_port)
    L.cli("peer", "add", paris_cert, "--endpoint", "tcp://127.0.0.1:%d" % relay.port)
    P.start()
    L.start()
    t.check(wait_until(lambda: linked(L, "paris") and linked(P, "lyon")),
            "lyon links to paris through the relay")
    return P, L, relay


def test_api(P):
    """One site: what the calls answer, good and bad."""
    a, b, e = login(P, "alice"), login(P, "bob"), login(P, "erin")
    anon = P.client()
    t.eq(anon.get("/api/notifications").status, 401, "no session: 401")
    r = a.post("/api/posts", {"text": "budget meeting @bob @erin"})
    pid = r.json["id"]
    b.post("/api/posts/%s/comments" % pid, {"text": "ok"})
    e.post("/api/posts/%s/comments" % pid, {"text": "me too @alice"})
    b.post("/api/posts/%s/reactions" % pid, {"reaction": "like"})
    e.post("/api/posts/%s/reactions" % pid, {"reaction": "like"})
    g = group_of(a, pid)
    t.check(g and g["unread"] and g["types"]["comment"]["n"] == 2
            and g["types"]["comment"]["by"] == ["erin", "bob"]
            and g["types"]["reaction"]["actors"] == 2 and g["types"]["mention"]["by"] == ["erin"],
            "alice: 2 comments, reactions by 2 people, erin's mention, grouped by post", g)
    g = group_of(b, pid)
    t.check(g and g["types"].get("mention", {}).get("n") == 1
            and g["types"].get("reply", {}).get("by") == ["erin"],
            "bob: mentioned, and erin replied after him", g)
    t.eq(a.get("/api/notifications/count").json, {"unread": 1}, "alice's bell says 1")
    # Bad input: named, and nothing signed.
    for body, field in (({"groups": [{"group": "xyz", "mark": "1:1"}]}, "group"),
                        ({"groups": [{"group": pid, "mark": [1, 1]}]}, "mark"),
                        ({"groups": [{"group": pid, "mark": "1:x"}]}, "mark"),
                        ({"groups": [{"group": pid, "mark": "-1:1"}]}, "mark"),
                        ({}, "groups")):
        r = a.post("/api/notifications/read", body)
        t.check(r.status == 400 and r.json.get("field") == field,
                "read with a bad %s: 400 naming it" % field, r)
    r = a.put("/api/notifications/prefs", {"digest": "hourly"})
    t.check(r.status == 400 and r.json.get("field") == "digest", "a bad digest value: 400", r)
    r = a.put("/api/notifications/prefs", {"colour": "red"})
    t.check(r.status == 400 and r.json.get("field") == "colour", "an unknown preference: 400", r)
    r = a.post("/api/follows", {"what": "person", "target": "nobody", "on": True})
    t.eq(r.status, 404, "following nobody: 404")
    # Read, then more activity makes it unread again.
    r = a.post("/api/notifications/read", {"groups": [{"group": pid, "mark": g_mark(a, pid)}]})
    t.check(r.status == 200 and r.json == {"unread": 0}, "alice reads: bell 0", r)
    b.post("/api/posts/%s/comments" % pid, {"text": "one more"})
    t.check(group_of(a, pid)["unread"], "a new comment makes it unread again")
    # Turned off in-app: reactions leave the group; mute: the group goes.
    r = a.put("/api/notifications/prefs", {"inapp.reaction": False, "lang": "fr"})
    t.check(r.status == 200 and r.json["inapp"]["reaction"] is False and r.json["lang"] == "fr",
            "preferences saved", r)
    t.check("reaction" not in group_of(a, pid)["types"], "reactions turned off are not shown")
    r = a.post("/api/notifications/mute", {"group": pid, "muted": True})
    t.check(r.status == 200 and group_of(a, pid) is None and r.json["unread"] == 0,
            "a muted thread is not shown nor counted", r)
    b.post("/api/posts/%s/comments" % pid, {"text": "still muted?"})
    t.check(group_of(a, pid) is None, "still muted after a new comment")
    a.post("/api/notifications/mute", {"group": pid, "muted": False})
    t.check(group_of(a, pid) is not None, "unmuted: back")
    r = a.post("/api/notifications/read", {"all": True})
    t.check(r.status == 200 and r.json["unread"] == 0, "mark all read", r)
    # The sealed state is not readable in the export.
    exp = run_cli("export", "--dir", P.data).stdout
    t.check('"kind":"mine"' in exp.replace(" ", "") or "mine" in exp, "mine events are stored")
    t.check("\"fr\"" not in exp and "inapp.reaction" not in exp,
            "preferences do not appear in clear in the export")
    # Follow, For you.
    r = e.post("/api/follows", {"what": "person", "target": "bob", "on": True})
    t.check(r.status == 200 and r.json["people"] == ["bob"], "erin follows bob", r)
    r = b.post("/api/posts", {"text": "bob's news"})
    bp = r.json["id"]
    f = e.get("/api/feed?view=foryou").json
    t.check(bp in [p["id"] for p in f["items"]] and pid not in [p["id"] for p in f["items"]],
            "erin's For you has bob's post, not alice's", f)
    t.eq(e.get("/api/feed?view=nope").status, 400, "an unknown view: 400")
    # Announcements: only admins; pinned until read; read by N of M.
    r = b.post("/api/posts/%s/announce" % bp, {"scope": "site"})
    t.check(r.status == 403 and r.json.get("code") == "not_admin", "bob may not announce", r)
    r = a.post("/api/posts/%s/announce" % pid, {"scope": "all"})
    t.eq(r.status, 200, "alice, admin of the founding site, announces to everyone")
    t.check(pid in [p["id"] for p in e.get("/api/feed").json["pinned"]], "pinned for erin")
    r = e.post("/api/posts/%s/ack" % pid)
    t.eq(r.status, 200, "erin has read it")
    t.check(pid not in [p["id"] for p in e.get("/api/feed").json["pinned"]],
            "no longer pinned for erin")
    ann = [x for x in a.get("/api/announcements").json["items"] if x["id"] == pid]
    t.check(ann and ann[0]["announcement"]["read_by"] == 1 and ann[0]["announcement"]["of"] >= 3,
            "alice sees read by 1 of M", ann)
    return pid


def g_mark(c, pid):
    g = group_of(c, pid)
    return g["mark"] if g else "0:0"


def test_bell_stream(P):
    b = login(P, "bob")
    a = login(P, "alice")
    before = b.get("/api/notifications/count").json["unread"]
    s = b.stream()
    a.post("/api/posts", {"text": "ping @bob, on the stream"})
    ev = s.wait_for(lambda e: e["event"] == "bell", timeout=DEADLINE)
    t.check(ev is not None, "the stream sends a bell event", ev)
    if ev:
        t.eq(ev["data"].get("unread"), before + 1, "the bell counts one more")
    s.close()


def test_federation(P, L, relay):
    b = login(P, "bob")
    d = login(L, "dave")
    # 1. Lyon to Paris, link up.
    r = d.post("/api/posts", {"text": "hello from lyon @bob"})
    t.eq(r.status, 201, "dave posts at lyon")
    p1 = r.json["id"]
    g = wait_until(lambda: group_of(b, p1))
    t.check(g and g["unread"] and g["types"]["mention"]["by"] == ["dave"],
            "the mention written at lyon shows at paris", g)
    # 2. The link cut: written at Lyon, bob reads everything at Paris meanwhile.
    relay.cut()
    t.check(wait_until(lambda: not linked(L, "paris")), "lyon sees paris down")
    r = d.post("/api/posts", {"text": "during the outage @bob"})
    p2 = r.json["id"]
    t.eq(r.status, 201, "dave posts at lyon while the link is cut")
    r = d.post("/api/posts/%s/comments" % p1, {"text": "and @bob, one more thing"})
    t.eq(r.status, 201, "dave comments on his first post at lyon while cut")
    t.check(group_of(b, p2) is None, "not at paris while cut")
    # At Paris, later in time, alice comments on the same post: bob reads
    # the group with alice's comment as its newest item.
    a = login(P, "alice")
    r = a.post("/api/posts/%s/comments" % p1, {"text": "@bob see dave's post"})
    t.eq(r.status, 201, "alice comments at paris while cut")
    r = b.post("/api/notifications/read", {"all": True})
    t.check(r.status == 200 and r.json["unread"] == 0, "bob marks all read at paris meanwhile")
    relay.heal()
    g = wait_until(lambda: group_of(b, p2))
    t.check(g and g["unread"], "after healing the outage's mention is at paris, unread", g)
    g = wait_until(lambda: (group_of(b, p1) or {}).get("unread") and group_of(b, p1))
    t.check(g and g["types"]["mention"]["n"] == 3,
            "dave's comment from the outage, older than bob's read mark, makes it unread", g)
    # 3. Read at Paris, read at Lyon (bob logs in at Lyon: his key backup
    #    came with the events).
    bl = wait_until(lambda: L.client().login("bob", PW["bob"], check=False).status == 200)
    t.check(bl, "bob logs in at lyon")
    bl = login(L, "bob")
    g = wait_until(lambda: group_of(bl, p2))
    t.check(g and g["unread"], "lyon shows bob's outage mention unread too", g)
    r = b.post("/api/notifications/read", {"groups": [{"group": p2, "mark": g_mark(b, p2)}]})
    t.eq(r.status, 200, "bob reads it at paris")
    ok = wait_until(lambda: (group_of(bl, p2) or {}).get("unread") is False)
    t.check(ok, "read at paris, it is read at lyon")
    g1 = group_of(bl, p1)
    t.check(g1 and g1["unread"] is True and g1["mark"] == g_mark(b, p1),
            "lyon and paris agree on the group the outage made unread again", g1)
    # 4. The other way round.
    r = d.post("/api/posts/%s/comments" % p2, {"text": "did you see it @bob?"})
    t.check(wait_until(lambda: (group_of(b, p2) or {}).get("unread")), "a comment: unread again")
    ok = wait_until(lambda: (group_of(bl, p2) or {}).get("unread"))
    t.check(ok, "unread at lyon too")
    r = bl.post("/api/notifications/read", {"all": True})
    t.eq(r.status, 200, "bob reads everything at lyon")
    ok = wait_until(lambda: b.get("/api/notifications/count").json["unread"] == 0)
    t.check(ok, "read at lyon, it is read at paris")


def test_spaces(P, L):
    """Spaces (PROTOCOL.md 17.3): a request to join a space at Lyon reaches
    its admin at Paris and goes once approved; an invitation reaches the
    invited; a private space's post notifies its members only."""
    a, b, e = login(P, "alice"), login(P, "bob"), login(P, "erin")
    d = login(L, "dave")
    r = a.post("/api/spaces", {"name": "Choir", "join": "request"})
    t.eq(r.status, 201, "alice makes a space joined on request at paris")
    sid = r.json["id"]
    ok = wait_until(lambda: d.get("/api/spaces/%s" % sid).status == 200)
    t.check(ok, "the space reaches lyon")
    r = d.post("/api/spaces/%s/request" % sid)
    t.eq(r.status, 200, "dave asks to join at lyon")
    g = wait_until(lambda: group_of(a, sid))
    t.check(g and g["unread"] and g["types"]["space_request"]["by"] == ["dave"],
            "the request written at lyon reaches the space's owner at paris", g)
    t.check(group_of(b, sid) is None, "not a member, bob hears nothing of it")
    r = a.post("/api/spaces/%s/approve" % sid, {"user": "dave"})
    t.eq(r.status, 200, "alice approves dave")
    t.check(group_of(a, sid) is None, "approved, the request's group is gone")
    # A private space: erin invited, a post mentions erin and bob.
    r = a.post("/api/spaces", {"name": "Budget", "visibility": "private", "join": "invite"})
    t.eq(r.status, 201, "alice makes a private space")
    pid = r.json["id"]
    r = a.post("/api/spaces/%s/invite" % pid, {"user": "erin"})
    t.eq(r.status, 200, "alice invites erin")
    g = group_of(e, pid)
    t.check(g and g["types"]["space_invite"]["by"] == ["alice"], "erin hears of the invitation", g)
    r = e.post("/api/spaces/%s/join" % pid)
    t.eq(r.status, 200, "erin accepts")
    t.check(group_of(e, pid) is None, "accepted, the invitation's group is gone")
    r = a.post("/api/posts", {"text": "figures for @erin and @bob", "space": pid})
    t.eq(r.status, 201, "alice posts in the private space")
    post = r.json["id"]
    g = group_of(e, post)
    t.check(g and g["types"]["mention"]["by"] == ["alice"] and g["post"]
            and g["post"]["text"].startswith("figures"),
            "erin, a member, is notified with the post", g)
    t.check(group_of(b, post) is None, "bob, not a member, is not notified of the private post")
    j = groups(b) or {}
    t.check(all("figures" not in ((g.get("post") or {}).get("text") or "")
                for g in j.get("items", [])), "nothing of the post reaches bob", j)
    # Preferences per space (17.4): off hides the space's groups.
    r = e.put("/api/notifications/prefs", {"space.%s" % pid: "off"})
    t.eq(r.status, 200, "erin turns the private space off")
    j = e.get("/api/notifications/prefs").json
    t.check(j["spaces"].get(pid) == "off", "erin's preference for the space reads back", j)
    t.check(group_of(e, post) is None, "turned off, its post's group is not shown",
            group_of(e, post))


def test_space_post(P, L):
    """A new post in a space one follows (PROTOCOL.md 17.3, space_post):
    dave follows at Lyon an open space of Paris and hears of its next posts
    there; nobody hears of a post before their follow, nor after they stop;
    a follower who may not read a private space hears nothing of it."""
    a, b = login(P, "alice"), login(P, "bob")
    d = login(L, "dave")
    r = a.post("/api/spaces", {"name": "Hiking", "visibility": "open", "join": "open"})
    t.eq(r.status, 201, "alice makes an open space at paris")
    sid = r.json["id"]
    r = a.post("/api/posts", {"text": "before anyone follows", "space": sid})
    t.eq(r.status, 201, "alice posts in it")
    early = r.json["id"]
    t.check(wait_until(lambda: d.get("/api/posts/%s" % early).status == 200),
            "the space and its post reach lyon")
    r = d.post("/api/follows", {"what": "space", "target": sid, "on": True})
    t.check(r.status == 200 and r.json["spaces"] == [sid], "dave follows it at lyon", r)
    # The follow must be at paris before alice's next post, or the post is
    # older than the follow there and rightly notifies nobody.
    ok = wait_until(lambda: P.status()["events"] == L.status()["events"])
    t.check(ok, "the follow reaches paris")
    r = a.post("/api/posts", {"text": "sunday walk @bob", "space": sid})
    t.eq(r.status, 201, "alice posts again")
    post = r.json["id"]
    g = wait_until(lambda: group_of(d, post))
    t.check(g and g["types"].get("space_post", {}).get("by") == ["alice"]
            and g["post"]["text"] == "sunday walk @bob",
            "dave hears at lyon of the new post in the space he follows", g)
    t.check(group_of(d, early) is None, "not of the post before his follow")
    g = group_of(b, post)
    t.check(g and "space_post" not in g["types"] and g["types"]["mention"]["n"] == 1,
            "bob, who does not follow it, hears of his mention only", g)
    t.check(group_of(a, post) is None, "nor does alice hear of her own post")
    # Bob follows a private space he is not a member of: nothing reaches him.
    r = a.post("/api/spaces", {"name": "Board", "visibility": "private", "join": "invite"})
    t.eq(r.status, 201, "alice makes a private space")
    pid = r.json["id"]
    r = b.post("/api/follows", {"what": "space", "target": pid, "on": True})
    t.eq(r.status, 200, "bob follows the private space's id")
    r = a.post("/api/posts", {"text": "board minutes", "space": pid})
    t.eq(r.status, 201, "alice posts in the private space")
    t.check(group_of(b, r.json["id"]) is None, "bob, not a member, hears nothing of it")
    # Dave stops: his items of the space go.
    r = d.post("/api/follows", {"what": "space", "target": sid, "on": False})
    t.check(r.status == 200 and r.json["spaces"] == [], "dave stops following", r)
    ok = wait_until(lambda: group_of(d, post) is None)
    t.check(ok, "his space_post item goes with his follow", group_of(d, post))


def main():
    P, L, relay = setup()
    t.test(test_api, P)
    t.test(test_bell_stream, P)
    t.test(test_federation, P, L, relay)
    t.test(test_spaces, P, L)
    t.test(test_space_post, P, L)
    for n in (P, L):
        v = n.cli("verify", check=False)
        t.check(v.returncode == 0, "%s: verify (views equal a rebuild)" % n.site,
                v.stdout[-400:] + v.stderr[-1500:])
    t.finish()


main()
