"""Service accounts (bots), with a real `comptoir` process on loopback:

- site IT adds a bot with `comptoir bot add` (and a site admin with
  POST /api/admin/bots); bad handles, unknown owners and taken handles are
  refused with an error naming them; a member cannot add one;
- the bot has its own key, enrolled with the role "bot": its posts are
  signed by that key and shown as a bot's ("author_bot") in the feed;
- its owner, and only its owner, makes its API tokens (never with the admin
  scope), sees them listed, and revokes one at once;
- nobody logs in as a bot.

    make && python3 tests/integration/test_bots.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402

t = Runner()


def login(n, handle):
    c = n.client()
    c.login(handle, n.passwords[handle])
    return c


def bearer(n, tok, method, path, body=None):
    return n.client().request(method, path, body=body, csrf=False,
                              headers={"Authorization": "Bearer " + tok})


def test_cli(n):
    r = n.cli("bot", "add", "canteen", "--owner", "alice", "--name", "Menu de la cantine")
    t.check("bot canteen added" in r.stdout, "comptoir bot add", r.stdout)
    for args, word in [(["bot", "add", "canteen", "--owner", "alice"], "exists already"),
                       (["bot", "add", "Bad Handle", "--owner", "alice"], "not a valid handle"),
                       (["bot", "add", "ghost", "--owner", "nobody"], "no person \"nobody\""),
                       (["bot", "add", "bot2", "--owner", "canteen"], "no person \"canteen\""),
                       (["bot", "add", "bot3"], "usage")]:
        r = n.cli(*args, check=False)
        t.check(r.returncode != 0 and word in r.stderr, "refused: %s" % " ".join(args),
                (r.returncode, r.stderr))
    r = n.cli("bot", "list")
    t.check("canteen" in r.stdout and "alice" in r.stdout, "comptoir bot list", r.stdout)


def test_admin_api(n):
    root, alice = login(n, "root"), login(n, "alice")
    r = alice.post("/api/admin/bots", {"handle": "greeter", "owner": "alice"})
    t.eq(r.status, 403, "a member cannot add a bot")
    r = root.post("/api/admin/bots", {"handle": "greeter", "owner": "bob", "name": "Accueil"})
    t.eq(r.status, 201, "a site admin adds a bot owned by bob")
    r = root.post("/api/admin/bots", {"handle": "greeter", "owner": "bob"})
    t.eq(r.status, 409, "a taken handle")
    r = root.post("/api/admin/bots", {"handle": "x1", "owner": "nobody"})
    t.check(r.status == 400 and "nobody" in r.json["error"], "an unknown owner", r.json)
    r = root.post("/api/admin/bots", {"handle": "x2", "owner": "bob", "colour": 1})
    t.eq(r.status, 400, "an unknown field")
    lst = alice.get("/api/bots").json["items"]
    t.eq([b["handle"] for b in lst], ["canteen"], "alice sees her bot only")
    t.eq(sorted(b["handle"] for b in root.get("/api/bots").json["items"]),
         ["canteen", "greeter"], "a site admin sees every bot")


def test_tokens_and_posts(n):
    alice, bob = login(n, "alice"), login(n, "bob")
    r = bob.post("/api/bots/canteen/tokens", {"name": "x", "scopes": ["write"]})
    t.eq(r.status, 404, "bob cannot make a token for alice's bot")
    r = alice.post("/api/bots/canteen/tokens", {"name": "x", "scopes": ["admin"]})
    t.eq(r.status, 403, "never the admin scope")
    r = alice.post("/api/bots/canteen/tokens", {"name": "x", "scopes": ["write"]},
                   csrf=False)
    t.eq(r.status, 403, "the CSRF token is needed")
    r = alice.post("/api/bots/canteen/tokens", {"name": "menu du jour",
                                                "scopes": ["read", "write"]})
    t.eq(r.status, 201, "alice makes her bot's token")
    tok, tid = r.json.get("token", ""), r.json.get("id")
    t.eq(r.json.get("handle"), "canteen", "the token acts as the bot")
    r = bearer(n, tok, "POST", "/api/bots/canteen/tokens", {"name": "y", "scopes": ["read"]})
    t.eq(r.status, 403, "a token cannot make tokens")
    r = bearer(n, tok, "POST", "/api/posts", {"text": "Aujourd'hui : couscous"})
    t.eq(r.status, 201, "the bot posts with its token")
    pid = r.json["id"]
    post = alice.get("/api/posts/" + pid).json
    person = alice.get("/api/people/canteen").json
    t.eq(post["author"], "canteen", "the post is the bot's")
    t.eq(post["author_key"], person.get("key"), "signed with the bot's own key")
    me = alice.get("/api/me").json or {}
    akey = (me.get("person") or {}).get("key", me.get("key"))
    t.check(akey and post["author_key"] != akey, "not with its owner's key", akey)
    t.eq(person.get("role"), "bot", "the bot's enrolment says so")
    feed = alice.get("/api/feed").json["items"]
    mine = [p for p in feed if p["id"] == pid]
    t.check(mine and mine[0].get("author_bot") is True, "shown as a bot in the feed", mine)
    others = [p for p in feed if p["author"] != "canteen"]
    t.check(all(p.get("author_bot") is False for p in others), "people are not bots")
    lst = alice.get("/api/bots").json["items"][0]["tokens"]
    t.eq([x["id"] for x in lst], [tid], "the bot's token is listed for its owner")
    t.check("token" not in lst[0], "without its secret")
    t.eq(bob.delete("/api/tokens/" + tid).status, 404, "bob cannot revoke it")
    t.eq(alice.delete("/api/tokens/" + tid).status, 200, "its owner revokes it")
    t.eq(bearer(n, tok, "GET", "/api/feed").status, 401, "refused at once")


def test_no_login(n):
    r = n.client().post("/api/login", {"handle": "canteen", "password": "anything-at-all"},
                        csrf=False)
    t.check(r.status in (401, 403), "nobody logs in as the bot", r.status)


def main():
    with Node("paris") as n:
        n.add_user("root", admin=True)
        n.add_user("alice")
        n.add_user("bob")
        n.start()
        t.test(test_cli, n)
        t.test(test_admin_api, n)
        t.test(test_tokens_and_posts, n)
        t.test(test_no_login, n)
    t.finish()


if __name__ == "__main__":
    main()
