"""End-to-end tests of the HTTP JSON API: one real `comptoir` node on loopback,
every call and every refusal, and after each refusal a check that the store
did not change. Run from the repository root: python3 tests/integration/test_api.py
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402

t = Runner()
ZERO_ID = "0" * 64
OTHER_ID = "ab" * 32


def events(node):
    return node.status()["events"]


def refused(node, what, status, fn, field=None):
    """fn() must answer status with a JSON error and change nothing."""
    before = events(node)
    r = fn()
    ok = t.check(r.status == status, "%s: status %d" % (what, status), r)
    if ok:
        t.check(isinstance(r.json, dict) and isinstance(r.json.get("error"), str),
                "%s: JSON error body" % what, r)
        if field is not None:
            t.eq(r.json.get("field"), field, "%s: names the field" % what)
    t.eq(events(node), before, "%s: store unchanged" % what)
    return r


def common_headers(r, what):
    t.check(r.headers.get("content-type", "").startswith("application/json"),
            "%s: JSON content type" % what, r.headers)
    t.eq(r.headers.get("cache-control"), "no-store", "%s: Cache-Control" % what)
    t.eq(r.headers.get("x-content-type-options"), "nosniff", "%s: nosniff" % what)


# ------------------------------------------------------------------ tests

def test_public(n):
    c = n.client()
    r = c.get("/api/status")
    t.eq(r.status, 200, "status answers without a session")
    common_headers(r, "status")
    s = r.json
    for k in ("site", "version", "uptime_s", "events", "posts", "users", "pending",
              "store_bytes", "sessions", "peers"):
        t.check(k in s, "status has %s" % k, s)
    t.eq(s["site"], "paris", "status site name")
    t.eq(s["users"], 5, "status counts users")
    t.eq(s["peers"], [], "status peers")

    r = c.get("/metrics")
    t.eq(r.status, 200, "metrics answers")
    t.check(r.headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
            "metrics content type", r.headers)
    text = r.body.decode()
    for m in ("comptoir_events_stored", "comptoir_ingested_total", "comptoir_rejected_total",
              "comptoir_pending_events", "comptoir_http_requests_total",
              "comptoir_logins_total", "comptoir_sessions", "comptoir_store_bytes",
              "comptoir_uptime_seconds"):
        t.check("# HELP %s " % m in text and "# TYPE %s " % m in text, "metrics %s" % m)
    t.check('comptoir_http_requests_total{code="2xx"}' in text, "metrics by status class")
    t.check('comptoir_logins_total{result="failed"}' in text, "metrics logins by result")

    refused(n, "unknown call", 404, lambda: c.get("/api/nope"))
    refused(n, "unknown deep call", 404, lambda: c.get("/api/posts/%s/nope" % ZERO_ID))
    r = refused(n, "GET on login", 405, lambda: c.get("/api/login"))
    t.check("POST" in r.headers.get("allow", ""), "405 has Allow", r.headers)
    refused(n, "DELETE on feed", 405, lambda: c.delete("/api/feed"))
    refused(n, "PUT on a post", 405, lambda: c.put("/api/posts/%s" % ZERO_ID, {"text": "x"}))
    refused(n, "POST on metrics", 405, lambda: c.post("/metrics", {}))

    # Web assets: "/" is the UI when one is embedded, a JSON 404 otherwise.
    r = c.get("/")
    if r.status == 200:
        t.check("text/html" in r.headers.get("content-type", ""), "/ is HTML", r.headers)
        csp = r.headers.get("content-security-policy", "")
        t.check("default-src 'self'" in csp and "frame-ancestors 'none'" in csp, "/ has a CSP", csp)
    else:
        t.eq(r.status, 404, "/ without assets is 404")
        t.check(r.json is not None and "error" in r.json, "/ 404 is JSON", r)
    refused(n, "unknown asset", 404, lambda: c.get("/no-such-file.js"))
    refused(n, "asset with POST", 405, lambda: c.post("/index.html", {}))


def test_login(n):
    c = n.client(source="127.0.0.5")
    wrong = refused(n, "wrong password", 401,
                    lambda: c.post("/api/login", {"handle": "alice", "password": "nope"}))
    unknown = refused(n, "unknown handle", 401,
                      lambda: c.post("/api/login", {"handle": "nobody", "password": "nope"}))
    t.eq(wrong.json, {"error": "wrong handle or password", "code": "wrong_login"},
         "wrong password message")
    t.eq(unknown.json, wrong.json, "unknown handle gives the same message")
    t.check(wrong.headers.get("set-cookie") is None, "no cookie on failure", wrong.headers)
    refused(n, "login malformed JSON", 400,
            lambda: c.post("/api/login", raw=b'{"handle": "alice", '))
    refused(n, "login not an object", 400, lambda: c.post("/api/login", ["alice", "pw"]))
    refused(n, "login handle wrong type", 400,
            lambda: c.post("/api/login", {"handle": 5, "password": "x"}), field="handle")
    refused(n, "login password wrong type", 400,
            lambda: c.post("/api/login", {"handle": "alice", "password": None}), field="password")
    refused(n, "login missing password", 400,
            lambda: c.post("/api/login", {"handle": "alice"}), field="password")
    refused(n, "login unknown field", 400,
            lambda: c.post("/api/login", {"handle": "alice", "password": "x", "admin": True}),
            field="admin")
    refused(n, "login as form", 415,
            lambda: c.post("/api/login", raw=b"handle=alice&password=x",
                           content_type="application/x-www-form-urlencoded"))
    refused(n, "login without content type", 415,
            lambda: c.post("/api/login", raw=b'{"handle":"alice","password":"x"}',
                           content_type=None))
    refused(n, "me without session", 401, lambda: c.get("/api/me"))

    r = c.login("alice", n.passwords["alice"])
    t.eq(r.status, 200, "alice logs in")
    common_headers(r, "login")
    ck = r.headers.get("set-cookie", "")
    t.check(ck.startswith("comptoir_session=") and "HttpOnly" in ck and "SameSite=Strict" in ck
            and "Path=/" in ck, "session cookie flags", ck)
    for k in ("handle", "csrf_token", "admin", "person"):
        t.check(k in r.json, "login answer has %s" % k, r.json)
    t.eq(r.json["admin"], False, "alice is not admin")
    t.eq(r.json["person"]["handle"], "alice", "login person")
    me = c.get("/api/me")
    t.eq(me.status, 200, "me with session")
    t.eq(me.json["handle"], "alice", "me handle")
    t.eq(me.json["csrf_token"], c.csrf, "me returns the same CSRF token")

    a = n.client(source="127.0.0.6")
    r = a.login("carol", n.passwords["carol"])
    t.eq(r.json["admin"], True, "carol is admin")

    # A bad cookie is no session.
    bad = n.client()
    bad.cookie = "A" * 43
    refused(n, "forged cookie", 401, lambda: bad.get("/api/me"))
    bad.cookie = "x"
    refused(n, "short cookie", 401, lambda: bad.get("/api/feed"))


def test_disabled(n):
    n.cli("user", "disable", "dave")
    c = n.client(source="127.0.0.7")
    r = refused(n, "disabled user login", 403,
                lambda: c.post("/api/login", {"handle": "dave", "password": n.passwords["dave"]}))
    t.check(r.headers.get("set-cookie") is None, "no cookie for a disabled user", r.headers)
    c2 = n.client(source="127.0.0.7")
    t.eq(c2.login("bob", n.passwords["bob"], check=False).status, 200, "others still log in")
    items = c2.get("/api/people?q=dave").json["items"]
    t.eq([p["handle"] for p in items], [], "disabled user is out of the directory")
    t.eq(c2.get("/api/people/dave").json["disabled"], True, "person shows disabled")


def test_rate_limit(n):
    # 10 attempts a minute per address (the default), refilled continuously:
    # on a slow machine the ten argon2id runs take long enough to earn a
    # few more, so count how many were answered against the time taken.
    # Each attempt names another (unknown) handle: the per-account limit
    # (test_login_limits.py) stays out of the way of the per-address one.
    c = n.client(source="127.0.0.2")
    t0 = time.monotonic()
    codes = []
    while len(codes) < 40:
        st = c.post("/api/login", {"handle": "nobody%d" % len(codes), "password": "nope"}).status
        codes.append(st)
        if st != 401:
            break
    elapsed = time.monotonic() - t0
    answered = codes.count(401)
    t.eq(codes[-1], 429, "attempts end in 429")
    t.check(10 <= answered <= 10 + int(elapsed * 10 / 60) + 1,
            "ten attempts a minute are answered", (answered, elapsed))
    r = refused(n, "right password while limited", 429,
                lambda: c.post("/api/login", {"handle": "alice", "password": n.passwords["alice"]}))
    ra = r.headers.get("retry-after", "")
    t.check(ra.isdigit() and 1 <= int(ra) <= 60, "429 has Retry-After", r.headers)
    t.check(r.headers.get("set-cookie") is None, "no cookie while limited", r.headers)
    other = n.client(source="127.0.0.3")
    t.eq(other.login("alice", n.passwords["alice"], check=False).status, 200,
         "another address is not limited")


def test_posts(n, alice, bob):
    before = events(n)
    r = alice.post("/api/posts", {"text": "hello <script>alert(1)</script> & \"quotes\" @bob"})
    t.eq(r.status, 201, "post created")
    common_headers(r, "post")
    p = r.json
    t.eq(p["text"], "hello <script>alert(1)</script> & \"quotes\" @bob", "script text verbatim")
    t.check(b"<script>alert(1)</script>" in r.body, "script text verbatim on the wire")
    t.eq(p["author"], "alice", "post author")
    t.eq(len(p["id"]), 64, "post id")
    t.eq(p["mentions"], ["bob"], "post mentions")
    t.eq(events(n), before + 1, "one event stored")
    pid = p["id"]

    refused(n, "post without CSRF", 403,
            lambda: alice.post("/api/posts", {"text": "x"}, csrf=False))
    refused(n, "post with wrong CSRF", 403,
            lambda: alice.post("/api/posts", {"text": "x"},
                               headers={"X-CSRF-Token": "B" * 43}))
    refused(n, "post with another session's CSRF", 403,
            lambda: alice.post("/api/posts", {"text": "x"},
                               headers={"X-CSRF-Token": bob.csrf}))
    anon = n.client()
    refused(n, "post without session", 401, lambda: anon.post("/api/posts", {"text": "x"}))
    refused(n, "post malformed JSON", 400, lambda: alice.post("/api/posts", raw=b"{text: 1}"))
    refused(n, "post empty body", 400, lambda: alice.post("/api/posts", raw=b""))
    refused(n, "post array", 400, lambda: alice.post("/api/posts", [1]))
    refused(n, "post duplicate keys", 400,
            lambda: alice.post("/api/posts", raw=b'{"text": "a", "text": "b"}'))
    refused(n, "post text number", 400, lambda: alice.post("/api/posts", {"text": 3}),
            field="text")
    refused(n, "post text missing", 400, lambda: alice.post("/api/posts", {}), field="text")
    refused(n, "post text empty", 400, lambda: alice.post("/api/posts", {"text": ""}),
            field="text")
    refused(n, "post text 10001 bytes", 400,
            lambda: alice.post("/api/posts", {"text": "x" * 10001}), field="text")
    refused(n, "post unknown field", 400,
            lambda: alice.post("/api/posts", {"text": "x", "author": "bob"}), field="author")
    refused(n, "post as text/plain", 415,
            lambda: alice.post("/api/posts", raw=b'{"text":"x"}', content_type="text/plain"))
    refused(n, "post NUL escape", 400, lambda: alice.post("/api/posts", raw=b'{"text":"a\\u0000b"}'))
    refused(n, "post invalid UTF-8", 400,
            lambda: alice.post("/api/posts", raw=b'{"text":"\xff\xfe"}'))
    big = {"text": "y" * 300000}
    refused(n, "post over the body cap", 413, lambda: alice.post("/api/posts", big))
    refused(n, "chunked post over the body cap", 413,
            lambda: alice.post("/api/posts", big, chunked=True))
    r = alice.post("/api/posts", {"text": "z" * 10000})
    t.eq(r.status, 201, "post of exactly 10000 bytes")
    r = alice.post("/api/posts", {"text": "caf\u00e9 \U0001F600"})
    t.eq(r.json["text"], "caf\u00e9 \U0001F600", "UTF-8 text round trip")

    # Reading one post.
    r = bob.get("/api/posts/%s" % pid)
    t.eq(r.status, 200, "get post")
    t.eq(r.json["id"], pid, "get post id")
    t.eq(r.json["comment_list"], [], "get post comment list")
    t.eq(r.json["my_reactions"], [], "get post my reactions")
    refused(n, "unknown post", 404, lambda: bob.get("/api/posts/%s" % ZERO_ID))
    refused(n, "uppercase post id", 400, lambda: bob.get("/api/posts/%s" % pid.upper()))
    refused(n, "short post id", 400, lambda: bob.get("/api/posts/abc"))
    refused(n, "non-hex post id", 400, lambda: bob.get("/api/posts/%s" % ("g" * 64)))
    refused(n, "long post id", 400, lambda: bob.get("/api/posts/%s0" % pid))
    r = bob.get("/api/posts/%2e%2e%2fstatus")
    t.check(r.status in (400, 404) and r.json and "error" in r.json, "escaped post id refused", r)
    refused(n, "percent-encoded id", 400, lambda: bob.get("/api/posts/%s%%41" % pid[:62]))
    refused(n, "get post without session", 401, lambda: anon.get("/api/posts/%s" % pid))

    # Editing.
    refused(n, "edit by another user", 403,
            lambda: bob.patch("/api/posts/%s" % pid, {"text": "bob was here"}))
    refused(n, "edit without CSRF", 403,
            lambda: alice.patch("/api/posts/%s" % pid, {"text": "x"}, csrf=False))
    refused(n, "edit unknown post", 404,
            lambda: alice.patch("/api/posts/%s" % ZERO_ID, {"text": "x"}))
    refused(n, "edit bad id", 400, lambda: alice.patch("/api/posts/xyz", {"text": "x"}))
    refused(n, "edit text wrong type", 400,
            lambda: alice.patch("/api/posts/%s" % pid, {"text": ["x"]}), field="text")
    refused(n, "edit malformed JSON", 400,
            lambda: alice.patch("/api/posts/%s" % pid, raw=b'{"text":'))
    r = alice.patch("/api/posts/%s" % pid, {"text": "hello, edited"})
    t.eq(r.status, 200, "edit by the author")
    t.eq(r.json["text"], "hello, edited", "edited text")
    t.check(r.json["edited"] is not None, "edited time set", r.json)
    t.eq(bob.get("/api/posts/%s" % pid).json["text"], "hello, edited", "others see the edit")

    # Comments.
    r = bob.post("/api/posts/%s/comments" % pid, {"text": "nice <b>post</b>"})
    t.eq(r.status, 201, "comment created")
    for k in ("id", "author", "text", "created"):
        t.check(k in r.json, "comment has %s" % k, r.json)
    t.eq(r.json["author"], "bob", "comment author")
    t.eq(r.json["text"], "nice <b>post</b>", "comment text verbatim")
    cid = r.json["id"]
    refused(n, "comment on unknown post", 404,
            lambda: bob.post("/api/posts/%s/comments" % ZERO_ID, {"text": "x"}))
    refused(n, "comment bad id", 400,
            lambda: bob.post("/api/posts/%s/comments" % pid[:60], {"text": "x"}))
    refused(n, "comment empty text", 400,
            lambda: bob.post("/api/posts/%s/comments" % pid, {"text": ""}), field="text")
    refused(n, "comment without CSRF", 403,
            lambda: bob.post("/api/posts/%s/comments" % pid, {"text": "x"}, csrf=False))
    refused(n, "comment without session", 401,
            lambda: anon.post("/api/posts/%s/comments" % pid, {"text": "x"}))
    refused(n, "DELETE on comments", 405, lambda: bob.delete("/api/posts/%s/comments" % pid))
    r = alice.get("/api/posts/%s" % pid)
    t.eq([c["id"] for c in r.json["comment_list"]], [cid], "comment listed")
    t.eq(r.json["comments"], 1, "comment counted")

    # Reactions.
    r = bob.post("/api/posts/%s/reactions" % pid, {"reaction": "\U0001F44D"})
    t.eq(r.status, 200, "reaction on")
    t.eq(r.json["reactions"], {"\U0001F44D": 1}, "reaction counted")
    t.eq(r.json["my_reactions"], ["\U0001F44D"], "my reaction listed")
    t.eq(alice.get("/api/posts/%s" % pid).json["my_reactions"], [], "not alice's reaction")
    r = alice.post("/api/posts/%s/reactions" % pid, {"reaction": "\U0001F44D", "on": True})
    t.eq(r.json["reactions"], {"\U0001F44D": 2}, "two reactions")
    r = bob.post("/api/posts/%s/reactions" % pid, {"reaction": "\U0001F44D", "on": False})
    t.eq(r.status, 200, "reaction off")
    t.eq(r.json["reactions"], {"\U0001F44D": 1}, "reaction removed")
    t.eq(r.json["my_reactions"], [], "my reaction gone")
    refused(n, "reaction on wrong type", 400,
            lambda: bob.post("/api/posts/%s/reactions" % pid, {"reaction": "x", "on": "yes"}),
            field="on")
    refused(n, "reaction too long", 400,
            lambda: bob.post("/api/posts/%s/reactions" % pid, {"reaction": "x" * 33}),
            field="reaction")
    refused(n, "reaction missing", 400,
            lambda: bob.post("/api/posts/%s/reactions" % pid, {"on": True}), field="reaction")
    refused(n, "reaction unknown post", 404,
            lambda: bob.post("/api/posts/%s/reactions" % OTHER_ID, {"reaction": "x"}))
    refused(n, "reaction without CSRF", 403,
            lambda: bob.post("/api/posts/%s/reactions" % pid, {"reaction": "x"}, csrf=False))

    # Deleting.
    refused(n, "delete by another user", 403, lambda: bob.delete("/api/posts/%s" % pid))
    refused(n, "delete without CSRF", 403, lambda: alice.delete("/api/posts/%s" % pid, csrf=False))
    refused(n, "delete unknown post", 404, lambda: alice.delete("/api/posts/%s" % ZERO_ID))
    refused(n, "delete bad id", 400, lambda: alice.delete("/api/posts/ZZ"))
    refused(n, "delete without session", 401, lambda: anon.delete("/api/posts/%s" % pid))
    r = alice.delete("/api/posts/%s" % pid)
    t.eq(r.status, 200, "delete by the author")
    t.eq(r.json, {"deleted": pid}, "delete answer")
    refused(n, "deleted post is gone", 404, lambda: bob.get("/api/posts/%s" % pid))
    refused(n, "delete twice", 404, lambda: alice.delete("/api/posts/%s" % pid))
    refused(n, "comment on a deleted post", 404,
            lambda: bob.post("/api/posts/%s/comments" % pid, {"text": "x"}))
    feed = alice.get("/api/feed?limit=100").json["items"]
    t.check(pid not in [p["id"] for p in feed], "deleted post out of the feed")


def test_admin_delete(n, bob, carol):
    pid = bob.post("/api/posts", {"text": "bob's post"}).json["id"]
    t.eq(carol.get("/api/me").json["admin"], True, "carol's session is admin")
    r = carol.delete("/api/posts/%s" % pid)
    t.eq(r.status, 200, "admin deletes another user's post")
    t.eq(bob.get("/api/posts/%s" % pid).status, 404, "post deleted by admin is gone")
    pid2 = bob.post("/api/posts", {"text": "b2"}).json["id"]
    refused(n, "admin cannot edit another user's post", 403,
            lambda: carol.patch("/api/posts/%s" % pid2, {"text": "admin edit"}))


def test_feed(n, alice, bob):
    ids = []
    for i in range(45):
        author = alice if i % 3 else bob
        r = author.post("/api/posts", {"text": "paging %d" % i})
        t.check(r.status == 201, "paging post %d" % i, r)
        ids.append(r.json["id"])
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/feed?limit=10" + ("&before=%s" % cursor if cursor else "")
        r = alice.get(url)
        if not t.eq(r.status, 200, "feed page %d" % pages):
            break
        pages += 1
        seen += r.json["items"]
        cursor = r.json["next"]
        if cursor is None or pages > 50:
            break
        t.check(len(cursor) == 80, "cursor is 80 hex digits", cursor)
    got = [p["id"] for p in seen]
    t.eq(len(got), len(set(got)), "feed pages repeat nothing")
    tss = [p["ts"] for p in seen]
    t.check(tss == sorted(tss, reverse=True), "feed is newest first")
    mine = [i for i in got if i in set(ids)]
    t.eq(mine, list(reversed(ids)), "every paging post once, newest first")
    t.check(pages >= 5, "feed took several pages", pages)
    r = alice.get("/api/feed")
    t.eq(len(r.json["items"]), 20, "feed default limit 20")
    t.check(isinstance(r.json["next"], str), "feed next cursor")
    r = alice.get("/api/feed?limit=100")
    t.eq(r.json["items"][0]["id"], ids[-1], "newest post first")

    anon = n.client()
    refused(n, "feed without session", 401, lambda: anon.get("/api/feed"))
    for q in ("limit=0", "limit=101", "limit=abc", "limit=-1", "limit=", "before=xyz",
              "before=%s" % ("A" * 80), "before=%s" % ("0" * 79), "limit=5&before=%s" % ("g" * 80)):
        refused(n, "feed %s" % q, 400, lambda: alice.get("/api/feed?" + q))
    r = alice.get("/api/feed?limit=5&before=%s" % ("0" * 80))
    t.eq((r.status, r.json["items"], r.json["next"]), (200, [], None), "feed before the start")
    r = alice.get("/api/feed?limit=1&before=%s" % ("f" * 80))
    t.eq(r.json["items"][0]["id"], ids[-1], "feed before the end")


def test_people(n, alice, bob):
    anon = n.client()
    r = bob.put("/api/profile", {"name": "Robert Dupont", "title": "Plant Manager",
                                 "department": "Logistique", "skills": ["welding", "Forklift"],
                                 "phone": "+33 1 23", "location": "Building B",
                                 "bio": "<i>hi</i>", "site": "Paris HQ"})
    t.eq(r.status, 200, "profile put")
    t.eq(r.json["handle"], "bob", "profile answer is the caller")
    prof = r.json["profile"]
    t.eq(prof.get("name"), "Robert Dupont", "profile name")
    t.eq(prof.get("skills"), ["welding", "Forklift"], "profile skills")
    t.eq(prof.get("bio"), "<i>hi</i>", "profile bio verbatim")
    for q, what in (("dupont", "name"), ("plant man", "title"), ("LOGIST", "department"),
                    ("forklift", "skills"), ("bob", "handle")):
        items = alice.get("/api/people?q=%s" % q.replace(" ", "%20")).json["items"]
        t.check("bob" in [p["handle"] for p in items], "search by %s" % what, items)
    items = alice.get("/api/people?q=zzzz-nothing").json["items"]
    t.eq(items, [], "search with no match")
    items = alice.get("/api/people").json["items"]
    t.check({"alice", "bob", "carol"} <= {p["handle"] for p in items}, "directory lists people")
    t.eq(len(alice.get("/api/people?limit=1").json["items"]), 1, "people limit")
    refused(n, "people q too long", 400, lambda: alice.get("/api/people?q=" + "a" * 201), field="q")
    refused(n, "people bad limit", 400, lambda: alice.get("/api/people?limit=0"), field="limit")
    refused(n, "people without session", 401, lambda: anon.get("/api/people"))

    r = bob.put("/api/profile", {"title": None, "department": "Quality"})
    t.eq(r.status, 200, "profile partial update")
    t.check("title" not in r.json["profile"], "null clears a field", r.json)
    t.eq(r.json["profile"].get("name"), "Robert Dupont", "other fields stay")
    items = alice.get("/api/people?q=quality").json["items"]
    t.check("bob" in [p["handle"] for p in items], "search finds the new department")
    items = alice.get("/api/people?q=plant").json["items"]
    t.check("bob" not in [p["handle"] for p in items], "cleared title no longer matches")

    refused(n, "profile unknown field", 400, lambda: bob.put("/api/profile", {"email": "x"}),
            field="email")
    refused(n, "profile empty", 400, lambda: bob.put("/api/profile", {}))
    refused(n, "profile name wrong type", 400, lambda: bob.put("/api/profile", {"name": 5}),
            field="name")
    refused(n, "profile skills not a list", 400,
            lambda: bob.put("/api/profile", {"skills": "welding"}), field="skills")
    refused(n, "profile skill wrong type", 400,
            lambda: bob.put("/api/profile", {"skills": ["ok", 3]}), field="skills")
    refused(n, "profile name too long", 400,
            lambda: bob.put("/api/profile", {"name": "n" * 201}), field="name")
    refused(n, "profile without CSRF", 403,
            lambda: bob.put("/api/profile", {"name": "x"}, csrf=False))
    refused(n, "profile without session", 401, lambda: anon.put("/api/profile", {"name": "x"}))
    refused(n, "profile malformed", 400, lambda: bob.put("/api/profile", raw=b"[1,"))
    refused(n, "POST on profile", 405, lambda: bob.post("/api/profile", {"name": "x"}))

    pid = bob.post("/api/posts", {"text": "bob's latest"}).json["id"]
    r = alice.get("/api/people/bob")
    t.eq(r.status, 200, "person page")
    t.eq(r.json["handle"], "bob", "person handle")
    t.eq(r.json["profile"].get("department"), "Quality", "person profile")
    posts = r.json["posts"]
    t.check(0 < len(posts) <= 20, "person posts, at most 20", len(posts))
    t.eq(posts[0]["id"], pid, "person posts newest first")
    t.check(all(p["author"] == "bob" for p in posts), "person posts are theirs")
    tss = [p["ts"] for p in posts]
    t.check(tss == sorted(tss, reverse=True), "person posts ordered")
    refused(n, "unknown person", 404, lambda: alice.get("/api/people/nobody"))
    refused(n, "invalid handle", 404, lambda: alice.get("/api/people/Not%20A%20Handle"))
    refused(n, "person without session", 401, lambda: anon.get("/api/people/bob"))


def test_session(n, alice):
    """GET /api/session: 200 with or without a session (a signed-out page is
    not an error), and the limits the UI checks, from the server."""
    anon = n.client()
    r = anon.get("/api/session")
    t.eq(r.status, 200, "session without a cookie answers 200")
    t.eq(r.json.get("logged_in"), False, "session says signed out")
    t.eq(r.json.get("limits", {}).get("text"), 10000, "session gives the text limit")
    t.check("csrf_token" not in r.json and "handle" not in r.json, "nothing of a session", r.json)
    r = anon.get("/api/session", headers={"Cookie": "comptoir_session=" + "A" * 43})
    t.eq((r.status, r.json.get("logged_in")), (200, False), "a stale cookie is signed out too")
    r = alice.get("/api/session")
    t.eq(r.status, 200, "session with a cookie")
    t.eq((r.json.get("logged_in"), r.json.get("handle")), (True, "alice"), "session is alice's")
    t.eq(r.json.get("csrf_token"), alice.csrf, "session gives the CSRF token")
    t.eq(r.json.get("person", {}).get("handle"), "alice", "session gives the person")
    t.eq(r.json.get("limits"), {"text": 10000, "field": 200, "bio": 2000}, "session limits")
    t.eq(alice.get("/api/me").json.get("limits", {}).get("text"), 10000, "me has the limits too")
    refused(n, "session with POST", 405, lambda: alice.post("/api/session", {}))


def test_error_codes(n, alice, bob):
    """Errors carry a stable code (and the field and limits) the UI
    translates; the English message stays."""
    anon = n.client()
    r = refused(n, "code: text too long", 400,
                lambda: alice.post("/api/posts", {"text": "x" * 10001}), field="text")
    t.eq((r.json.get("code"), r.json.get("min"), r.json.get("max")), ("too_long", 1, 10000),
         "too_long with its limits")
    t.eq(r.json.get("error"), '"text" must be 1 to 10000 bytes', "the English message stays")
    r = refused(n, "code: text empty", 400, lambda: alice.post("/api/posts", {"text": ""}),
                field="text")
    t.eq(r.json.get("code"), "too_short", "too_short")
    r = refused(n, "code: wrong type", 400, lambda: alice.post("/api/posts", {"text": 3}),
                field="text")
    t.eq(r.json.get("code"), "wrong_type", "wrong_type")
    r = refused(n, "code: unknown field", 400,
                lambda: alice.post("/api/posts", {"text": "x", "colour": 1}), field="colour")
    t.eq(r.json.get("code"), "unknown_field", "unknown_field")
    r = refused(n, "code: csrf", 403, lambda: alice.post("/api/posts", {"text": "x"}, csrf=False))
    t.eq(r.json.get("code"), "csrf", "csrf")
    r = refused(n, "code: no session", 401, lambda: anon.get("/api/feed"))
    t.eq(r.json.get("code"), "not_logged_in", "not_logged_in")
    r = refused(n, "code: no post", 404, lambda: alice.get("/api/posts/%s" % ZERO_ID))
    t.eq(r.json.get("code"), "no_post", "no_post")
    r = refused(n, "code: profile field", 400,
                lambda: bob.put("/api/profile", {"title": "t" * 201}), field="title")
    t.eq((r.json.get("code"), r.json.get("max")), ("too_long", 200), "profile too_long")
    r = refused(n, "code: unknown call", 404, lambda: alice.get("/api/nope"))
    t.eq(r.json.get("code"), "not_found", "a status's own code otherwise")


def test_author_site(n, alice, bob):
    """Posts and comments name their author's home site and name, in every
    answer: feed, post, person page, comments, the stream."""
    bob.put("/api/profile", {"name": "Robert Dupont"})
    p = bob.post("/api/posts", {"text": "from the loading dock"}).json
    t.eq((p.get("author_site"), p.get("author_name")), ("paris", "Robert Dupont"),
         "the new post names the site and the name")
    item = [x for x in alice.get("/api/feed").json["items"] if x["id"] == p["id"]][0]
    t.eq((item.get("author_site"), item.get("author_name")), ("paris", "Robert Dupont"),
         "feed items too")
    t.eq(alice.get("/api/people/bob").json["posts"][0].get("author_site"), "paris",
         "person page posts too")
    c = alice.post("/api/posts/%s/comments" % p["id"], {"text": "see you there"}).json
    t.eq((c.get("author"), c.get("author_site"), c.get("post"), c.get("edited")),
         ("alice", "paris", p["id"], None), "a new comment names its site")
    t.check("author_name" in c, "a comment has author_name (null without a name)", c)
    got = alice.get("/api/posts/%s" % p["id"]).json["comment_list"][0]
    t.eq(got.get("author_site"), "paris", "listed comments name the site")
    # A name changes on every post at once: it is read, not stored.
    bob.put("/api/profile", {"name": "Bob Dupont"})
    t.eq(alice.get("/api/posts/%s" % p["id"]).json.get("author_name"), "Bob Dupont",
         "a new name shows on earlier posts")


def test_comment_edit_delete(n, alice, bob, carol):
    p = alice.post("/api/posts", {"text": "lunch at noon?"}).json
    c = bob.post("/api/posts/%s/comments" % p["id"], {"text": "yes @alice"}).json
    before = events(n)
    r = bob.patch("/api/comments/%s" % c["id"], {"text": "yes, at 12:30"})
    t.eq(r.status, 200, "the author edits a comment")
    t.eq((r.json.get("id"), r.json.get("text")), (c["id"], "yes, at 12:30"), "edited text")
    t.check(isinstance(r.json.get("edited"), int) and r.json["edited"] >= c["created"],
            "edited time", r.json)
    t.eq(events(n), before + 1, "one edit event")
    got = alice.get("/api/posts/%s" % p["id"]).json
    t.eq([x["text"] for x in got["comment_list"]], ["yes, at 12:30"], "the thread shows the edit")
    t.eq(alice.get("/api/posts/%s/comments" % p["id"]).json["items"][0]["text"], "yes, at 12:30",
         "the comment pages too")
    r = bob.patch("/api/comments/%s" % c["id"], {"text": "yes, at 13:00"})
    t.eq(r.json.get("text"), "yes, at 13:00", "the newest edit wins")

    refused(n, "comment edit by another", 403,
            lambda: alice.patch("/api/comments/%s" % c["id"], {"text": "no"}))
    refused(n, "comment edit by an admin", 403,
            lambda: carol.patch("/api/comments/%s" % c["id"], {"text": "no"}))
    refused(n, "comment edit empty", 400,
            lambda: bob.patch("/api/comments/%s" % c["id"], {"text": ""}), field="text")
    refused(n, "comment edit without CSRF", 403,
            lambda: bob.patch("/api/comments/%s" % c["id"], {"text": "x"}, csrf=False))
    r = refused(n, "comment edit unknown", 404,
                lambda: bob.patch("/api/comments/%s" % ZERO_ID, {"text": "x"}))
    t.eq(r.json.get("code"), "no_comment", "no_comment")
    refused(n, "a post is not a comment", 404,
            lambda: alice.patch("/api/comments/%s" % p["id"], {"text": "x"}))
    refused(n, "comment delete by another", 403,
            lambda: alice.delete("/api/comments/%s" % c["id"]))
    refused(n, "comment bad id", 400, lambda: bob.delete("/api/comments/xyz"))

    r = bob.delete("/api/comments/%s" % c["id"])
    t.eq((r.status, r.json.get("deleted")), (200, c["id"]), "the author deletes a comment")
    got = alice.get("/api/posts/%s" % p["id"]).json
    t.eq((got["comments"], got["comment_list"]), (0, []), "the comment left the thread")
    refused(n, "comment deleted twice", 404, lambda: bob.delete("/api/comments/%s" % c["id"]))
    refused(n, "a deleted comment is not edited", 404,
            lambda: bob.patch("/api/comments/%s" % c["id"], {"text": "x"}))
    # An admin of the author's site may delete, as for posts.
    c2 = bob.post("/api/posts/%s/comments" % p["id"], {"text": "off-topic"}).json
    t.eq(carol.delete("/api/comments/%s" % c2["id"]).status, 200, "an admin deletes a comment")
    t.eq(alice.get("/api/posts/%s" % p["id"]).json["comments"], 0, "gone for everyone")


def test_people_accents(n, alice, erin):
    """The directory folds case and accents on both sides."""
    r = erin.put("/api/profile", {"name": "\u00c9lodie Lef\u00e8vre", "department": "Contr\u00f4le",
                                  "skills": ["\u0152nologie"]})
    t.eq(r.status, 200, "a name with accents")
    for q in ("lefevre", "LEFEVRE", "Lef%C3%A8vre", "LEF%C3%88VRE", "elodie", "%C3%A9lodie",
              "Lefe%CC%80vre", "controle", "oenologie"):
        items = alice.get("/api/people?q=%s" % q).json["items"]
        t.check("erin" in [p["handle"] for p in items], "search %s finds \u00c9lodie" % q, items)
    items = alice.get("/api/people?q=lefevres").json["items"]
    t.check("erin" in [p["handle"] for p in items], "a plural finds the name (search index)", items)
    items = alice.get("/api/people?q=lefebure").json["items"]
    t.check("erin" not in [p["handle"] for p in items], "a name two letters away does not match",
            items)


def test_stream(n, alice, bob):
    anon = n.client()
    s = anon.stream()
    t.eq(s.status, 401, "stream without session")
    s.close()
    s = alice.stream()
    t.eq(s.status, 200, "stream opens")
    t.check(s.headers.get("content-type", "").startswith("text/event-stream"),
            "stream content type", s.headers)
    t.eq(s.headers.get("cache-control"), "no-store", "stream not cached")
    before_us = int(time.time() * 1e6)
    r = bob.post("/api/posts", {"text": "live from bob"})
    after_us = int(time.time() * 1e6)
    pid = r.json["id"]
    ev = s.wait_for(lambda e: e["event"] == "post" and e["data"]["id"] == pid, timeout=5)
    t.check(ev is not None, "stream receives another session's post")
    if ev:
        # When the site stored it: inside the request (its 201 waits for
        # the commit), on the wall clock the client shares with the node.
        st = ev["data"].get("stored_us")
        t.check(isinstance(st, int) and before_us - 2000 <= st <= after_us + 2000,
                "stream event says when the site stored it", (before_us, st, after_us))
        t.eq(ev["data"]["post"], pid, "stream event post id")
        t.eq(ev["data"]["view"]["text"], "live from bob", "stream event carries the view")
        t.check(ev["id"] and ev["id"].isdigit(), "stream event has an id", ev)
    bob.post("/api/posts/%s/comments" % pid, {"text": "and a comment"})
    ev2 = s.wait_for(lambda e: e["event"] == "comment", timeout=5)
    t.check(ev2 is not None and ev2["data"]["post"] == pid, "stream receives a comment", ev2)
    if ev2:
        t.eq(ev2["data"]["view"]["comments"], 1, "comment event has the post's view")
    s.close()
    if ev:
        # Reconnecting after an id replays what came after it.
        s = alice.stream(last_event_id=int(ev["id"]) - 1)
        time.sleep(0.05)
        again = s.wait_for(lambda e: e["event"] == "post", timeout=5)
        t.check(again is not None and again["data"]["id"] == pid, "Last-Event-ID replays", again)
        t.check(again is not None and again["data"].get("stored_us") == ev["data"]["stored_us"],
                "a replayed event keeps the time it was stored, not the time it is sent",
                (again, ev))
        s.close()
        s = alice.stream(last_event_id=10 ** 12)
        rs = s.wait_for(lambda e: True, timeout=5)
        t.check(rs is not None and rs["event"] == "resync", "unknown Last-Event-ID resyncs", rs)
        s.close()


def test_disabled_session(n):
    c = n.client(source="127.0.0.8")
    c.login("erin", n.passwords["erin"])
    t.eq(c.post("/api/posts", {"text": "before"}).status, 201, "erin posts")
    n.cli("user", "disable", "erin")
    # The session ends with the key (test_sessions.py checks every route).
    refused(n, "post by a user disabled during the session", 401,
                lambda: c.post("/api/posts", {"text": "after"}))
    refused(n, "me of a disabled user", 401, lambda: c.get("/api/me"))


def test_concurrency(n, alice, bob):
    import threading
    before = events(n)
    results = []
    lock = threading.Lock()

    def worker(client, k):
        for i in range(10):
            r = client.post("/api/posts", {"text": "parallel %d-%d" % (k, i)})
            f = client.get("/api/feed?limit=5")
            with lock:
                results.append((r.status, f.status))

    threads = [threading.Thread(target=worker, args=(c, k))
               for k, c in enumerate([alice, bob, alice, bob])]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    t.eq(sorted(set(results)), [(201, 200)], "parallel posts and reads all answered")
    t.eq(len(results), 40, "every parallel request ran")
    t.eq(events(n), before + 40, "every parallel post stored once")


def test_logout(n, alice):
    c = n.client()
    c.login("alice", n.passwords["alice"])
    refused(n, "logout without CSRF", 403, lambda: c.post("/api/logout", csrf=False))
    t.eq(c.get("/api/me").status, 200, "still logged in after a refused logout")
    r = c.logout()
    t.eq(r.status, 200, "logout")
    ck = r.headers.get("set-cookie", "")
    t.check("Max-Age=0" in ck, "logout clears the cookie", ck)
    old = alice.cookie
    c.cookie = None
    refused(n, "me after logout", 401, lambda: c.get("/api/me"))
    refused(n, "logout without session", 401, lambda: c.post("/api/logout"))
    t.eq(alice.get("/api/me").status, 200, "other sessions stay open")
    t.check(old == alice.cookie, "cookie kept")


def test_shutdown(n, alice):
    s = alice.stream()
    t0 = time.monotonic()
    rc = n.stop()
    t.eq(rc, 0, "SIGTERM stops the node cleanly with a stream open")
    t.check(time.monotonic() - t0 < 5, "shutdown is quick", time.monotonic() - t0)
    s.close()


def test_comment_pages(n, alice, bob):
    """A thread longer than a page: the post carries its newest 50 comments,
    oldest first, and a cursor; GET .../comments pages back through the rest.
    Reactions interleaved with the comments are not listed."""
    pid = alice.post("/api/posts", {"text": "a long thread"}).json["id"]
    cids = []
    for i in range(53):
        who = bob if i % 2 else alice
        r = who.post("/api/posts/%s/comments" % pid, {"text": "reply %d" % i})
        t.check(r.status == 201, "thread comment %d" % i, r)
        cids.append(r.json["id"])
        if i % 10 == 3:  # reactions between comments: skipped by the listing
            who.post("/api/posts/%s/reactions" % pid, {"reaction": "\U0001F44D", "on": i % 20 == 3})
    r = bob.get("/api/posts/%s" % pid)
    t.eq(r.json["comments"], 53, "thread counted")
    t.eq([c["id"] for c in r.json["comment_list"]], cids[3:], "post shows the newest 50, oldest first")
    cursor = r.json["comments_before"]
    t.check(isinstance(cursor, str) and len(cursor) == 80, "post has a cursor of earlier comments", cursor)
    r = bob.get("/api/posts/%s/comments?before=%s" % (pid, cursor))
    t.eq(r.status, 200, "earlier comments")
    t.eq([c["id"] for c in r.json["items"]], cids[:3], "the 3 earlier comments, oldest first")
    t.eq(r.json["next"], None, "nothing before the first comment")
    for k in ("id", "author", "text", "created"):
        t.check(k in r.json["items"][0], "listed comment has %s" % k, r.json["items"][0])
    t.eq((r.json["items"][0]["author"], r.json["items"][0]["text"]), ("alice", "reply 0"),
         "first comment's author and text")
    # The reply to a reaction carries the same page.
    r = alice.post("/api/posts/%s/reactions" % pid, {"reaction": "\U0001F389"})
    t.eq([c["id"] for c in r.json["comment_list"]], cids[3:], "reaction answer: newest 50")
    t.eq(r.json["comments_before"], cursor, "reaction answer: same cursor")

    # Any page size walks the whole thread once, in order.
    for size in (1, 7, 50, 100):
        seen, cur, pages = [], None, 0
        while pages < 100:
            r = alice.get("/api/posts/%s/comments?limit=%d%s" %
                          (pid, size, "&before=%s" % cur if cur else ""))
            if not t.eq(r.status, 200, "comment page of %d" % size):
                break
            pages += 1
            t.check(len(r.json["items"]) <= size, "page of %d holds at most %d" % (size, size))
            seen = r.json["items"] + seen
            cur = r.json["next"]
            if cur is None:
                break
        t.eq([c["id"] for c in seen], cids, "pages of %d give the thread in order, once" % size)
        t.eq(pages, -(-53 // size), "pages of %d: as many as needed, no empty last page" % size)

    # Exactly a page: no cursor.
    pid2 = alice.post("/api/posts", {"text": "a thread of fifty"}).json["id"]
    for i in range(50):
        bob.post("/api/posts/%s/comments" % pid2, {"text": "r%d" % i})
    r = alice.get("/api/posts/%s" % pid2)
    t.eq((len(r.json["comment_list"]), r.json["comments_before"]), (50, None),
         "50 comments: all on the post, no cursor")
    r = alice.get("/api/posts/%s/comments" % pid2)
    t.eq((len(r.json["items"]), r.json["next"]), (50, None), "comments call: default page of 50")
    r = alice.get("/api/posts/%s/comments?before=%s" % (pid2, "0" * 80))
    t.eq((r.status, r.json["items"], r.json["next"]), (200, [], None), "before the first comment")

    anon = n.client()
    refused(n, "comments without session", 401, lambda: anon.get("/api/posts/%s/comments" % pid))
    refused(n, "comments of an unknown post", 404,
            lambda: alice.get("/api/posts/%s/comments" % ZERO_ID))
    refused(n, "comments of a bad id", 400, lambda: alice.get("/api/posts/%s/comments" % pid[:63]))
    for q in ("limit=0", "limit=101", "limit=x", "before=xyz", "before=%s" % ("G" * 80)):
        refused(n, "comments %s" % q, 400,
                lambda: alice.get("/api/posts/%s/comments?%s" % (pid, q)),
                field="before" if q.startswith("before") else "limit")


def test_figures(n, alice, bob):
    """Figures for management on one site: counts move by exactly the
    activity made here, weeks add up to the period, bad input is refused."""
    carol = n.client(source="127.0.0.12")
    carol.login("carol", n.passwords["carol"])
    r = alice.get("/api/figures")
    t.eq(r.status, 200, "figures answer")
    common_headers(r, "figures")
    f0 = r.json
    t.eq(f0["days"], 30, "figures default to 30 days")
    t.eq(f0["to"] - f0["from"], 30 * 86400000, "the period is 30 days")
    t.eq([x["site"] for x in f0["sites"]], ["paris"], "one site")
    t.eq(f0["exchange"], [], "no exchange on a lone site")
    s0 = f0["sites"][0]
    # alice, bob, carol and erin; dave was disabled (test_disabled).
    t.eq(s0["staff"], 4, "staff: users not disabled")

    pid = carol.post("/api/posts", {"text": "counting"}).json["id"]
    for text in ("one", "two"):
        t.eq(alice.post("/api/posts/%s/comments" % pid, {"text": text}).status, 201, "comment for figures")
    t.eq(bob.post("/api/posts/%s/reactions" % pid, {"reaction": "\U0001F44D"}).status, 200,
         "reaction for figures")
    # Answers are kept a minute per period: the same period again is the
    # same answer; another period is computed afresh.
    again = alice.get("/api/figures").json
    t.eq((again["computed"], again["sites"]), (f0["computed"], f0["sites"]),
         "figures of the same period within a minute: the kept answer")
    f1 = alice.get("/api/figures?days=31").json
    t.check(f1["computed"] >= f0["computed"], "another period is computed afresh", f1)
    s1 = f1["sites"][0]
    t.eq((s1["posts"] - s0["posts"], s1["comments"] - s0["comments"], s1["reactions"] - s0["reactions"]),
         (1, 2, 1), "one post, two comments, one reaction more")
    t.eq(s1["active"], 3, "active: alice, bob and carol wrote; dave and erin did not")
    erin = n.client(source="127.0.0.13")
    erin.login("erin", n.passwords["erin"])
    t.eq(erin.post("/api/posts/%s/reactions" % pid, {"reaction": "\U0001F389"}).status, 200,
         "erin reacts")
    f1 = alice.get("/api/figures?days=35").json
    s1 = f1["sites"][0]
    t.eq((s1["active"], s1["staff"], s1["reactions"] - s0["reactions"]), (4, 4, 2),
         "a first reaction makes erin active")
    t.eq(len(f1["weeks"]), 5, "35 days: 5 weeks")
    for k in ("posts", "comments", "reactions"):
        t.eq(sum(w[k] for w in f1["weeks"]), s1[k], "weeks add up to the period: %s" % k)
    t.check(all(w["active"] <= s1["active"] for w in f1["weeks"]), "no week has more active than the period")
    starts = [w["start"] for w in f1["weeks"]]
    t.check(starts == sorted(starts) and starts[0] == f1["from"], "weeks oldest first from the start", starts)
    f7 = alice.get("/api/figures?days=7").json
    t.eq(len(f7["weeks"]), 1, "7 days: one week")
    t.eq({k: f7["weeks"][0][k] for k in ("posts", "comments", "reactions", "active")},
         {k: f7["sites"][0][k] for k in ("posts", "comments", "reactions", "active")},
         "one week is the whole period")

    # The CLI prints the same table.
    out = n.cli("figures").stdout
    row = [line.split() for line in out.splitlines() if line.startswith("paris ")]
    t.check(len(row) == 1, "comptoir figures prints a paris row", out)
    if row:
        r = row[0]
        t.eq((int(r[1]), int(r[2]), int(r[4]), int(r[5]), int(r[6])),
             (s1["staff"], s1["active"], s1["posts"], s1["comments"], s1["reactions"]),
             "CLI: staff, active, posts, comments, reactions as the API")
    j = json.loads(n.cli("figures", "--days", "35", "--json").stdout)
    t.eq((j["days"], j["sites"], len(j["weeks"])), (35, f1["sites"], 5),
         "comptoir figures --json: the API's answer")
    bad = n.cli("figures", "--days", "400", check=False)
    t.check(bad.returncode == 2 and "--days must be from 1 to 366" in bad.stderr,
            "CLI refuses 400 days, naming the bound", bad.stderr)

    anon = n.client()
    refused(n, "figures without session", 401, lambda: anon.get("/api/figures"))
    for q in ("days=0", "days=367", "days=x", "days=-1", "days="):
        refused(n, "figures %s" % q, 400, lambda: alice.get("/api/figures?" + q), field="days")


def main():
    with Node("paris") as n:
        n.add_user("alice", management=True)  # reads the figures
        n.add_user("bob")
        n.add_user("carol", admin=True)
        n.add_user("dave")
        n.add_user("erin")
        # Writes in bursts of hundreds (the parallel posts): the rate limit
        # has its own test (test_ratelimit.py).
        n.set_limits(writes_per_minute=100000, writes_burst=100000)
        n.start()
        t.test(test_public, n)
        t.test(test_login, n)
        t.test(test_disabled, n)
        t.test(test_rate_limit, n)
        alice = n.client(source="127.0.0.10")
        bob = n.client(source="127.0.0.11")
        carol = n.client(source="127.0.0.12")
        alice.login("alice", n.passwords["alice"])
        bob.login("bob", n.passwords["bob"])
        carol.login("carol", n.passwords["carol"])
        erin = n.client(source="127.0.0.13")
        erin.login("erin", n.passwords["erin"])
        t.test(test_session, n, alice)
        t.test(test_error_codes, n, alice, bob)
        t.test(test_author_site, n, alice, bob)
        t.test(test_comment_edit_delete, n, alice, bob, carol)
        t.test(test_people_accents, n, alice, erin)
        t.test(test_posts, n, alice, bob)
        t.test(test_admin_delete, n, bob, carol)
        t.test(test_feed, n, alice, bob)
        t.test(test_comment_pages, n, alice, bob)
        t.test(test_figures, n, alice, bob)
        t.test(test_people, n, alice, bob)
        t.test(test_stream, n, alice, bob)
        t.test(test_concurrency, n, alice, bob)
        t.test(test_disabled_session, n)
        t.test(test_logout, n, alice)
        t.test(test_shutdown, n, alice)
        if t.failed:
            print(n.log_tail(30))
    t.finish()


if __name__ == "__main__":
    main()
