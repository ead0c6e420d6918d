"""Request bodies refused by the API are answered 400 with a JSON error
naming the field, whatever bytes the body holds: a long unknown key made of
multi-byte characters used to cut the message inside a character, which
then could not be sent as JSON (500 "out of memory"). The checks themselves
are fuzzed by tests/fuzz/fuzz_http_body.c.

Run from the repository root: python3 tests/integration/test_http_body.py
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402

t = Runner()


def main():
    with Node("bodies") as n:
        pw = n.add_user("alice", admin=True)
        n.start()
        c = n.client()
        r = c.post("/api/posts", {"text": "a post"})
        t.eq(r.status, 401, "no session, no post")
        c.login("alice", pw)
        pid = c.post("/api/posts", {"text": "a post"}).json["id"]
        for key in ("a" + "\u00e9" * 200, "\u20ac" * 100 + "ab", "b" + "\U0001F44D" * 80):
            for method, path in (("POST", "/api/posts"), ("PUT", "/api/profile"),
                                 ("POST", "/api/posts/%s/comments" % pid),
                                 ("POST", "/api/posts/%s/reactions" % pid),
                                 ("PATCH", "/api/posts/%s" % pid), ("POST", "/api/login")):
                r = c.request(method, path, raw=json.dumps({key: 1}, ensure_ascii=False).encode())
                ok = r.status == 400 and r.json is not None and r.json.get("field") == key and \
                    r.json["error"].startswith("unknown field")
                t.check(ok, "%s %s with a long unknown key of %r: 400 naming it" %
                        (method, path, key[:2]), r)
        # The messages of the checks are those the API always gave.
        for path, body, field, msg in (
                ("/api/posts", {"text": ""}, "text", '"text" must be 1 to 10000 bytes'),
                ("/api/posts", {"text": 3}, "text", '"text" must be a string'),
                ("/api/posts/%s/reactions" % pid, {"reaction": "x", "on": "yes"}, "on",
                 '"on" must be true or false'),
                ("/api/login", {"handle": "alice"}, "password", '"password" must be a string')):
            r = c.post(path, body)
            t.check(r.status == 400 and r.json.get("field") == field and r.json["error"] == msg,
                    "%s %s: 400 %s" % (path, body, msg), r)
        r = c.put("/api/profile", {})
        t.check(r.status == 400 and "field" not in r.json and
                r.json["error"] == "give at least one profile field", "an empty profile", r)
        r = c.put("/api/profile", {"skills": [""]})
        t.check(r.status == 400 and r.json.get("field") == "skills", "an empty skill", r)
        r = c.request("POST", "/api/posts", raw=b'{"text":"\xff"}')
        t.check(r.status == 400 and r.json and r.json["error"].startswith("malformed JSON"),
                "a body that is not UTF-8", r)
        # Found by fuzz_http_body: jansson's message quotes the bytes near
        # the error, which were not UTF-8, so the answer could not be JSON.
        for raw in (b'{"\\\xd0\x96\x95ldname"":[]}}', b'{"a\xff\xfe":1', b'{\xc3\x28:1}'):
            r = c.request("POST", "/api/posts", raw=raw)
            t.check(r.status == 400 and r.json and r.json["error"].startswith("malformed JSON"),
                    "malformed JSON quoting bytes that are not UTF-8: %r" % raw, r)
        r = c.post("/api/posts", {"text": "still fine"})
        t.eq(r.status, 201, "a good post after all that")
    t.finish()


if __name__ == "__main__":
    main()
