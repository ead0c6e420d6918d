#!/usr/bin/env python3
"""
The API's answers about posts, byte for byte, before and after post views
moved to records of what the envelope does not hold (schema 8, issue 23).

A site is made and filled by the OLD binary (posts with mentions and escapes,
an edited post, a deleted one, comments, reactions, an open space, a private
space with sealed posts, comments and a reaction); every route that shows
posts is read. The NEW binary then opens the same directory (its schema step
moves the views), and the same routes are read again; then after
`comptoir reindex` (views rebuilt from the events alone) once more. Every
answer must be the same bytes. Needs two binaries, so it is a tool and not
part of `make check` (test_spaces_index's schema test is):

    python3 tests/bench/views_same.py OLD_BIN [NEW_BIN]

NEW_BIN defaults to build/comptoir. Exit status 0 when all answers match.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402
from harness import Node  # noqa: E402


def fill(n):
    a = n.client()
    a.login("alice", "alice-password-1")
    b = n.client()
    b.login("bob", "bob-password-12")
    c = n.client()
    c.login("carol", "carol-password-1")
    ids = {}
    r = a.post("/api/posts", {"text": "Canteen closed on Friday @bob and @carol."})
    assert r.status == 201, r
    ids["mention"] = r.json["id"]
    r = b.post("/api/posts", {"text": "quote \" slash / accents \u00e9\u00e8 tab\t"
                              " line\nsep \u2028 emoji \U0001F600 <b>html</b>"})
    assert r.status == 201, r
    ids["escapes"] = r.json["id"]
    r = c.post("/api/posts", {"text": "to be edited", "question": True})
    ids["edited"] = r.json["id"]
    assert c.patch("/api/posts/%s" % ids["edited"], {"text": "edited, now @alice"}).status == 200
    r = a.post("/api/posts", {"text": "to be deleted"})
    ids["deleted"] = r.json["id"]
    assert a.delete("/api/posts/%s" % ids["deleted"]).status in (200, 204)
    for who, text in ((b, "first reply"), (c, "second @bob"), (a, "third")):
        assert who.post("/api/posts/%s/comments" % ids["mention"], {"text": text}).status == 201
    for who, what in ((b, "\U0001F44D"), (c, "\U0001F44D"), (c, "\U0001F389"), (a, "zz"),
                      (a, "aa")):
        assert who.post("/api/posts/%s/reactions" % ids["mention"],
                        {"reaction": what}).status in (200, 201)
    assert a.post("/api/posts/%s/reactions" % ids["mention"],
                  {"reaction": "aa", "on": False}).status in (200, 201)
    r = a.post("/api/spaces", {"name": "Hiking", "visibility": "open", "join": "open"})
    assert r.status in (200, 201), r
    ids["open"] = r.json["id"]
    assert b.post("/api/spaces/%s/join" % ids["open"]).status == 200
    r = b.post("/api/posts", {"text": "open space post", "space": ids["open"]})
    assert r.status == 201, r
    ids["open_post"] = r.json["id"]
    assert a.post("/api/posts/%s/comments" % ids["open_post"], {"text": "in the open"}).status == 201
    r = a.post("/api/spaces", {"name": "Budget", "visibility": "private", "join": "invite"})
    assert r.status in (200, 201), r
    ids["priv"] = r.json["id"]
    assert a.post("/api/spaces/%s/invite" % ids["priv"], {"user": "bob"}).status == 200
    assert b.post("/api/spaces/%s/join" % ids["priv"]).status == 200
    r = a.post("/api/posts", {"text": "sealed @bob numbers", "space": ids["priv"]})
    assert r.status == 201, r
    ids["sealed"] = r.json["id"]
    assert b.post("/api/posts/%s/comments" % ids["sealed"], {"text": "sealed reply"}).status == 201
    assert b.post("/api/posts/%s/reactions" % ids["sealed"],
                  {"reaction": "\U0001F44D"}).status in (200, 201)
    r = b.post("/api/posts", {"text": "sealed, to be edited", "space": ids["priv"]})
    ids["sealed_edited"] = r.json["id"]
    assert b.patch("/api/posts/%s" % ids["sealed_edited"], {"text": "sealed, edited"}).status == 200
    return ids


def answers(n, ids):
    out = {}
    for who, pw in (("alice", "alice-password-1"), ("bob", "bob-password-12"),
                    ("carol", "carol-password-1")):
        cl = n.client()
        cl.login(who, pw)
        paths = ["/api/feed?limit=100", "/api/feed?limit=2", "/api/feed?view=foryou&limit=100",
                 "/api/people/alice", "/api/people/bob", "/api/people/carol",
                 "/api/search?q=sealed", "/api/search?q=canteen", "/api/search?q=edited",
                 "/api/spaces/%s/feed" % ids["open"], "/api/spaces/%s/feed" % ids["priv"],
                 "/api/spaces/%s/figures?days=30" % ids["open"],
                 "/api/spaces/%s/figures?days=30" % ids["priv"], "/api/figures?days=30",
                 "/api/notifications?limit=100"]
        for k, pid in sorted(ids.items()):
            if k not in ("open", "priv"):
                paths.append("/api/posts/%s" % pid)
                paths.append("/api/posts/%s/comments" % pid)
        first = cl.get("/api/feed?limit=2")
        nxt = first.json.get("next") if first.status == 200 else None
        if nxt:
            paths.append("/api/feed?limit=2&before=%s" % nxt)
        for p in paths:
            r = cl.get(p)
            body = r.body
            if p.startswith("/api/figures"):
                # The period ends now: its bounds differ from one read to the next.
                body = re.sub(rb'"(from|to|start|computed)":[0-9]+', rb'"\1":0', body)
            out[(who, p)] = (r.status, body)
    return out


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    old, new = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "build/comptoir"
    harness.BIN = old
    n = Node("paris")
    try:
        n.add_user("alice", "alice-password-1", admin=True)
        n.add_user("bob", "bob-password-12")
        n.add_user("carol", "carol-password-1")
        n.start()
        ids = fill(n)
        before = answers(n, ids)
        n.stop()
        harness.BIN = new
        n.start(timeout=60)
        after = answers(n, ids)
        n.stop()
        n.cli("reindex", timeout=300)
        n.start(timeout=60)
        rebuilt = answers(n, ids)
        n.stop()
    finally:
        n.cleanup()
    bad = 0
    # The store has what the records hold and the reader rebuilds.
    feed = before[("alice", "/api/feed?limit=100")][1]
    for want in (b'"text":"edited, now @alice"', b'"mentions":["bob","carol"]',
                 b'"text":"sealed @bob numbers"', b'"text":"sealed, edited"', b'"comments":3',
                 b'"space_name":"Budget"', b'"space_name":"Hiking"'):
        if want not in feed:
            bad += 1
            print("MISSING from alice's feed: %s" % want.decode())
    for what, got in (("after the schema step", after), ("after reindex", rebuilt)):
        for k, v in sorted(before.items()):
            if got.get(k) != v:
                bad += 1
                print("DIFFERENT %s: %s %s\n  old: %r\n  new: %r" % (what, k[0], k[1], v,
                                                                     got.get(k)))
    posts = sum(1 for k, v in before.items() if b'"author_key"' in v[1])
    print("%d answers compared (%d show posts), %d different" % (len(before), posts, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
