"""Uploads never posted are erased after limits.unposted_ttl (docs/ARCHITECTURE.md,
"Files and pictures"; OPERATIONS.md), with a real `comptoir` process:

- an upload no post, comment or profile names is erased once the time has
  passed: its blob file is gone, it is no longer served, its file event is
  redacted (the redaction its author signed at upload); a post naming it
  then is refused (file_gone);
- an upload named by a post, one set as the profile photo, and one named by
  a post written after the upload but before the time, all stay;
- a file already deleted by its author is not redacted twice.

    make && python3 tests/integration/test_unposted.py
"""

import glob
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402

t = Runner()
TTL = 3  # seconds


def upload(c, name, data):
    return c.post("/api/files?name=" + urllib.parse.quote(name), raw=data,
                  content_type="application/octet-stream")


def blob_files(n):
    return {os.path.basename(p) for p in glob.glob(os.path.join(n.data, "blobs", "??", "*"))
            if not p.endswith(".map")}


def wait_for(cond, timeout=60.0):
    """Waits for a condition (never a fixed time as the assertion)."""
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_unposted(n, c):
    files = {}
    for name in ("abandoned", "posted", "photo", "late", "deleted"):
        r = upload(c, name + ".txt", ("contents of %s\n" % name).encode())
        t.eq(r.status, 201, "upload %s" % name)
        files[name] = r.json or {}
    # An upload through an API token (its key opened for that request only).
    r = c.post("/api/tokens", {"name": "scanner", "scopes": ["read", "write"]})
    t.eq(r.status, 201, "a token with the write scope")
    tok = (r.json or {}).get("token", "")
    r = n.client().request("POST", "/api/files?name=scan.txt", raw=b"scanned page\n", csrf=False,
                           headers={"Authorization": "Bearer " + tok,
                                    "Content-Type": "application/octet-stream"})
    t.eq(r.status, 201, "upload through the token")
    files["token"] = r.json or {}
    r = c.post("/api/posts", {"text": "le planning", "files": [files["posted"]["id"]]})
    t.eq(r.status, 201, "a post names one upload")
    r = c.put("/api/profile", {"photo": files["photo"]["id"]})
    t.eq(r.status, 200, "the profile names another")
    r = c.post("/api/posts", {"text": "plus tard", "files": [files["late"]["id"]]})
    t.eq(r.status, 201, "a later post names a third")
    r = c.delete("/api/files/" + files["deleted"]["id"])
    t.eq(r.status, 200, "the author deletes a fourth")
    held = blob_files(n)
    t.check(files["abandoned"]["blob"] in held, "the abandoned upload is on disk at first")
    # The clean-up: the abandoned upload goes once its time has passed.
    gone = wait_for(lambda: files["abandoned"]["blob"] not in blob_files(n), 30 + TTL)
    t.check(gone, "the upload never posted is erased from disk")
    t.check(wait_for(lambda: files["token"]["blob"] not in blob_files(n), 30),
            "the one made through a token too")
    g = c.get("/api/files/" + files["abandoned"]["blob"])
    t.eq(g.status, 404, "and no longer served")
    t.eq((g.json or {}).get("code"), "no_such_file", "as a deleted file")
    # The node logs an erasure once its redaction is committed, after the
    # file is gone: the second line may come a moment after the file goes.
    def log_now():
        with open(n.log_path, errors="replace") as fh:
            return fh.read()
    wait_for(lambda: log_now().count("was never posted: erased") >= 2, 10)
    log = log_now()
    t.check("upload %s was never posted: erased" % files["abandoned"]["id"] in log,
            "the log names it")
    t.eq(log.count("was never posted: erased"), 2, "only those two were erased")
    # A composer left open past the time: posting it says the file is gone.
    r = c.post("/api/posts", {"text": "enfin", "files": [files["abandoned"]["id"]]})
    t.eq(r.status, 400, "a post naming the erased upload is refused")
    t.eq((r.json or {}).get("code"), "file_gone", "by name")
    t.check(files["abandoned"]["id"] in ((r.json or {}).get("error") or ""), "naming the file", r.json)
    for name in ("posted", "late"):
        g = c.get("/api/files/" + files[name]["blob"])
        t.eq(g.status, 200, "the %s upload is still served" % name)
    g = c.get("/api/files/" + files["photo"]["blob"])
    t.eq(g.status, 200, "the profile's file stays")
    feed = c.get("/api/feed").json or {}
    named = [f.get("name") for p in feed.get("posts", feed.get("items", []))
             for f in (p.get("files") or [])]
    t.check("posted.txt" in named and "late.txt" in named, "the posts keep their files", named)


def main():
    with Node("paris") as n:
        n.set_limits(unposted_ttl=TTL)
        n.add_user("alice")
        n.start()
        c = n.client()
        c.login("alice", n.passwords["alice"])
        t.test(test_unposted, n, c)
    t.finish()


if __name__ == "__main__":
    main()
