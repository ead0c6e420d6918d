"""The calls of the web UI that no other integration suite makes, each answer
checked, on one real node: a picture's thumbnails, the token and webhook
lists, a webhook's name and its refusal of another scheme, search between two
dates, the follows, mail preferences per kind, a space's cover, and the
event stream of a member of a private space. `make SANITIZE=address,undefined check` leaves the
browser suite out (docs/ARCHITECTURE.md, "Tests"): this file makes the C the
browser reached run under the sanitizers all the same.

    make && python3 tests/integration/test_ui_calls.py
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner, run_cli  # noqa: E402
from test_files import png, upload  # noqa: E402  (a real PNG made with zlib)

t = Runner()


def test_picture(c):
    """An upload of a picture wider than both thumbnails gets both (WebP),
    and the feed names the larger one's size."""
    r = upload(c, "hall.png", png(1400, 700))
    t.eq(r.status, 201, "a picture is stored")
    f = r.json or {}
    t.eq([(x.get("w"), x.get("h")) for x in f.get("thumbs", [])], [(320, 160), (1280, 640)],
         "two thumbnails, each its longest side")
    r = c.post("/api/posts", {"text": "the new hall", "files": [f.get("id")]})
    t.eq(r.status, 201, "a post with the picture")
    items = c.get("/api/feed").json["items"]
    files = [x for p in items if p.get("text") == "the new hall" for x in p.get("files", [])]
    t.check(len(files) == 1 and files[0].get("w") == 1400, "the feed shows the picture", files)


def test_tokens_and_hooks(c):
    r = c.post("/api/tokens", {"name": "reports", "scopes": ["read"], "expires_days": 30})
    t.eq(r.status, 201, "a token that expires in 30 days")
    r = c.get("/api/tokens")
    items = (r.json or {}).get("items", [])
    mine = [x for x in items if x.get("name") == "reports"]
    days = (mine[0].get("expires", 0) - time.time() * 1000) / 86400000 if mine else 0
    t.check(len(mine) == 1 and 29 < days <= 30, "the token list shows it, expiring in 30 days",
            items)
    r = c.post("/api/hooks", {"url": "ftp://127.0.0.1/x", "events": ["post"]})
    t.check(r.status == 400 and "http:// or https://" in r.body.decode(),
            "a webhook to ftp:// is refused by name", r)
    r = c.post("/api/hooks", {"url": "http://127.0.0.1:9/hook", "events": ["post"],
                              "name": "Deploys"})
    t.eq(r.status, 201, "a named webhook")
    hid = (r.json or {}).get("id")
    r = c.get("/api/hooks")
    t.check([x.get("name") for x in (r.json or {}).get("items", [])] == ["Deploys"],
            "the webhook list shows it by name", r)
    t.eq(c.patch("/api/hooks/%s" % hid, {"enabled": False}).status, 200, "disabled by hand")
    r = c.get("/api/hooks/%s" % hid)
    t.check(r.json and r.json.get("disabled_reason") == "disabled by hand",
            "the webhook says it was disabled by hand", r)


def test_search_dates(c):
    before = int(time.time() * 1000) - 1000
    r = c.post("/api/posts", {"text": "quarterly zeppelin review"})
    t.eq(r.status, 201, "a post to find")
    after = int(time.time() * 1000) + 1000

    def found(q):
        r = c.get("/api/search?q=zeppelin&" + q)
        return [x.get("text") for x in (r.json or {}).get("posts", {}).get("items", [])] \
            if r.status == 200 else r
    got = None
    for _ in range(50):  # the index follows the store a moment later
        got = found("after=%d&before=%d" % (before, after))
        if got:
            break
        time.sleep(0.1)
    t.eq(got, ["quarterly zeppelin review"], "search between two dates finds the post")
    t.eq(found("after=%d" % after), [], "and nothing after the second")
    r = c.get("/api/search?q=zeppelin&before=yesterday")
    t.eq(r.status, 400, "a date that is no number of ms is refused")


def test_follows_and_prefs(c):
    t.eq(c.post("/api/follows", {"what": "person", "target": "bob", "on": True}).status, 200,
         "alice follows bob")
    r = c.get("/api/follows")
    t.check(r.status == 200 and "bob" in (r.json or {}).get("people", []),
            "the follows list bob", r)
    r = c.put("/api/notifications/prefs", {"digest": "weekly", "mail.comment": False,
                                           "inapp.comment": True})
    t.eq(r.status, 200, "preferences saved")
    p = c.get("/api/notifications/prefs").json or {}
    t.check(p.get("digest") == "weekly" and p.get("mail", {}).get("comment") is False
            and p.get("inapp", {}).get("comment") is True,
            "mail for comments off, in-app on", p)


def test_private_stream(n, a, b):
    """bob, a member of alice's private space, reads her post there as it
    comes on his event stream; his marking read comes back on it too."""
    r = a.post("/api/spaces", {"name": "Board", "visibility": "private", "join": "invite"})
    t.eq(r.status, 201, "a private space")
    sid = (r.json or {}).get("id")
    t.eq(a.post("/api/spaces/%s/invite" % sid, {"user": "bob"}).status, 200, "bob is invited")
    t.eq(b.post("/api/spaces/%s/join" % sid).status, 200, "bob joins")
    # Its cover: a picture of its own with both thumbnails; the space's page
    # shows the larger one.
    r = a.post("/api/files?name=board.png&space=%s" % sid, raw=png(1400, 700),
               content_type="application/octet-stream")
    t.eq(r.status, 201, "a picture of the space")
    large = [x.get("blob") for x in (r.json or {}).get("thumbs", []) if x.get("w") == 1280]
    r = a.request("PATCH", "/api/spaces/%s" % sid, {"cover": (r.json or {}).get("id")})
    t.check(r.status == 200 and large and
            (r.json.get("cover") or {}).get("url") == "/api/files/%s" % large[0],
            "the space's cover is its larger thumbnail", r)
    s = b.stream()
    t.eq(s.status, 200, "bob's event stream opens")
    t.eq(a.post("/api/posts", {"text": "board minutes @bob", "space": sid}).status, 201,
         "alice posts in the space")
    ev = s.wait_for(lambda e: isinstance(e["data"], dict) and
                    "board minutes" in str(e["data"]), timeout=10)
    t.check(ev is not None and ev["data"].get("kind") == "post",
            "bob's stream brings the sealed post, opened", ev)

    def bell(count_ok):
        return lambda e: e["event"] == "bell" and count_ok((e["data"] or {}).get("unread", -1))
    t.check(s.wait_for(bell(lambda u: u >= 1), timeout=10) is not None,
            "his bell rings for the mention")
    t.eq(b.post("/api/notifications/read", {"all": True}).status, 200, "bob marks all read")
    t.check(s.wait_for(bell(lambda u: u == 0), timeout=10) is not None,
            "his stream brings the bell back to 0 (his own read marker)")
    s.close()


def main():
    p = run_cli("help", check=False)
    t.check(p.returncode == 0 and "peer add" in p.stdout, "comptoir help prints the commands",
            p.returncode)
    with Node("paris") as n:
        n.add_user("alice", admin=True, name="Alice")
        n.add_user("bob", name="Bob")
        n.start()
        a = n.client()
        a.login("alice", n.passwords["alice"])
        b = n.client()
        b.login("bob", n.passwords["bob"])
        for fn, args in ((test_picture, (a,)), (test_tokens_and_hooks, (a,)),
                         (test_search_dates, (a,)), (test_follows_and_prefs, (a,)),
                         (test_private_stream, (n, a, b))):
            t.test(fn, *args)
    t.finish()


if __name__ == "__main__":
    main()
