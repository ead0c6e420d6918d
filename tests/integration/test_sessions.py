"""Sessions and accounts, with real `comptoir` processes on loopback:

- access ends with the key: after `user disable` or `user passwd` run by the
  CLI while the node runs, every call of the session answers 401, and at
  another site as soon as the revocation has arrived there;
- the event stream checks its session before it sends anything: after a
  logout or a disable, nothing more is sent and the stream ends;
- a person holds at most limits.sessions_per_person sessions (the least
  recently used closes);
- logins: a flood of wrong passwords on one account from many addresses is
  bounded per account (429 + Retry-After), handles that do not exist answer
  the same way, other people log in meanwhile, and the person's usual browser
  (its device cookie) still gets in;
- a restart (even kill -9) keeps sessions, without the seed in clear
  anywhere in the data directory; a session logged out stays out;
- changing one's own password (POST /api/me/password) keeps the key and
  closes the person's other sessions, here and at another site.

    make && make build/tests/tools/open_backup
    python3 tests/integration/test_sessions.py
"""

import base64
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BIN, Node, Runner, certify_site, join_site  # noqa: E402

t = Runner()
DEADLINE = 20.0  # seconds for anything that crosses the federation
OPEN_BACKUP = os.path.join(os.environ.get("COMPTOIR_BUILD") or os.path.dirname(BIN) or ".",
                           "tests", "tools", "open_backup")
FREE_FAILURES = 5  # ACCT_FREE_FAILURES in node/auth/auth.h


def wait_until(fn, timeout=DEADLINE, interval=0.1):
    return harness.wait_until(fn, timeout, interval)


def login(node, handle, source=None, password=None):
    c = node.client(source=source)
    c.login(handle, password or node.passwords[handle])
    return c


def works(name, r):
    """A live session's answer: the figures are the management role's (403
    without it, but not 401: the session is alive)."""
    return r.status in (200, 201) or (name == "figures" and r.status == 403)


def calls(c, pid, person="admin"):
    """What a signed-in session can read or do: (name, response) for each."""
    # /api/me last: it was the one call that checked "disabled" (and then
    # closed the session), it must not hide what the others do.
    return [
        ("feed", c.get("/api/feed")),
        ("post", c.get("/api/posts/%s" % pid)),
        ("comments", c.get("/api/posts/%s/comments" % pid)),
        ("people", c.get("/api/people?q=a")),
        ("person", c.get("/api/people/%s" % person)),
        ("figures", c.get("/api/figures?days=30")),
        ("new post", c.post("/api/posts", {"text": "still here?"})),
        ("comment", c.post("/api/posts/%s/comments" % pid, {"text": "still here?"})),
        ("reaction", c.post("/api/posts/%s/reactions" % pid, {"reaction": "👍", "on": True})),
        ("profile", c.put("/api/profile", {"title": "still here?"})),
        ("me", c.get("/api/me")),
    ]


def stream_status(c):
    s = c.stream()
    st = s.status
    s.close()
    return st


def drain(s, timeout):
    """What a stream sends until it ends or timeout passes: (bytes, ended)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return buf, False
        s.conn.sock.settimeout(left)
        try:
            line = s.resp.readline()
        except (socket.timeout, TimeoutError):
            return buf, False
        except (OSError, ValueError):
            return buf, True
        if not line:
            return buf, True
        buf += line


# ------------------------------------------------------------ item 1, here

def test_access_ends_with_the_key(n):
    admin = login(n, "admin", "127.0.0.2")
    pid = admin.post("/api/posts", {"text": "a post everyone reads"}).json["id"]
    for handle, cmd in (("una", ("user", "disable", "una")),
                        ("vic", ("user", "passwd", "vic", "--password-file",
                                 os.path.join(n.dir, "pw-new")))):
        c = login(n, handle, "127.0.0.3")
        for name, r in calls(c, pid):
            t.check(works(name, r), "%s: %s works while signed in" % (handle, name), r)
        t.eq(stream_status(c), 200, "%s: stream opens while signed in" % handle)
        with open(os.path.join(n.dir, "pw-new"), "w") as f:
            f.write("a-new-password-for-%s\n" % handle)
        n.cli(*cmd)  # another process, while the node runs
        # At once: no waiting for a poll, a restart or an idle timeout.
        for name, r in calls(c, pid):
            t.eq(r.status, 401, "%s after %s: %s refused" % (handle, cmd[1], name))
        t.eq(stream_status(c), 401, "%s after %s: stream refused" % (handle, cmd[1]))
    t.eq(admin.get("/api/feed").status, 200, "other sessions go on")


# ------------------------------------------------------------------ item 2

def test_stream_rechecks(n):
    poster = login(n, "admin", "127.0.0.4")
    for how in ("logout", "disable"):
        handle = "sam" if how == "logout" else "tess"
        c = login(n, handle, "127.0.0.5")
        s = c.stream()
        t.eq(s.status, 200, "%s: stream opens" % how)
        r = poster.post("/api/posts", {"text": "seen before the %s" % how})
        ev = s.wait_for(lambda e: e["event"] == "post" and e["data"]["id"] == r.json["id"])
        t.check(ev is not None, "%s: the stream carries posts while signed in" % how)
        if how == "logout":
            t.eq(c.logout().status, 200, "logout")
        else:
            n.cli("user", "disable", handle)
        secret = "secret posted after the %s" % how
        for i in range(3):  # changes keep coming: the idle ping never runs
            poster.post("/api/posts", {"text": "%s %d" % (secret, i)})
        sent, ended = drain(s, 10.0)
        s.close()
        t.check(secret.encode() not in sent, "%s: nothing is sent after it" % how, sent[:300])
        t.check(ended, "%s: the stream ends" % how)


# ------------------------------------------------------------------ item 5

def test_session_cap(n):
    # sessions_per_person: 3 in this node's config.
    cs = [login(n, "walt", "127.0.0.6") for _ in range(3)]
    t.check(all(c.get("/api/me").status == 200 for c in cs), "three sessions of walt")
    cs[0].get("/api/feed")  # the first is used again: the second is now the least recent
    fourth = login(n, "walt", "127.0.0.6")
    t.eq(fourth.get("/api/me").status, 200, "a fourth login works")
    t.eq(cs[1].get("/api/me").status, 401, "the least recently used session closed")
    t.eq(cs[0].get("/api/me").status, 200, "the one used lately stays")
    t.eq(cs[2].get("/api/me").status, 200, "the third stays")
    other = login(n, "admin", "127.0.0.6")
    t.eq(other.get("/api/me").status, 200, "another person is not counted")
    t.eq(cs[0].get("/api/me").status, 200, "nor closes walt's")


# ------------------------------------------------------------------ item 6

def test_login_flood(n):
    pw = n.passwords["xena"]
    known = login(n, "xena", "127.0.0.7")  # her usual browser: it keeps the device cookie
    t.check(known.device, "a login leaves a device cookie", known.device)
    results = []
    lock = threading.Lock()
    bob_status = []

    def guesser(k):
        c = n.client(source="127.0.1.%d" % (k + 1))
        for i in range(10):
            r = c.post("/api/login", {"handle": "xena", "password": "guess-%d-%d" % (k, i)})
            with lock:
                results.append((r.status, r.headers.get("retry-after", "")))

    def bob():
        # While the guesses run: once the account is in back-off.
        while not any(st == 429 for st, _ in list(results)) and len(results) < 200:
            time.sleep(0.01)
        c = n.client(source="127.0.2.1")
        bob_status.append(c.login("yann", n.passwords["yann"], check=False).status)

    threads = [threading.Thread(target=guesser, args=(k,)) for k in range(20)]
    threads.append(threading.Thread(target=bob))
    began = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    took = time.monotonic() - began
    codes = [s for s, _ in results]
    t.eq(len(codes), 200, "200 guesses from 20 addresses answered")
    wrong = codes.count(401)
    # The free failures, then one now and then as the back-off (1, 2, 4 s...)
    # lets one through: after the free ones, the k-th waits 2^(k-1) s, so in
    # the time the flood took (long on a loaded machine) at most
    # log2(took + 1) + 1 more.
    most = FREE_FAILURES + int(math.log2(took + 1)) + 1
    t.check(wrong <= most, "only a few guesses reach the KDF (%.1f s: at most %d)" % (took, most),
            (wrong, codes))
    t.check(codes.count(429) >= 200 - most, "the rest are answered 429", codes)
    t.check(all(ra.isdigit() and int(ra) >= 1 for s, ra in results if s == 429),
            "every 429 has Retry-After", results)
    t.eq(set(codes) - {401, 429}, set(), "nothing but 401 and 429 (no 503: the KDF is not starved)")
    t.eq(bob_status, [200], "another person logs in during the flood")
    r = known.login("xena", pw, check=False)
    t.eq(r.status, 200, "her usual browser still logs her in")
    # The back-off may have run out since the flood's last guess went
    # through (a loaded machine): one more wrong guess starts it again if
    # so (let through, it sets a new wait of a second or more), and is
    # answered 429 if not.
    n.client(source="127.0.2.5").post("/api/login", {"handle": "xena", "password": "one-more"})
    stranger = n.client(source="127.0.2.2")
    r = stranger.login("xena", pw, check=False)
    t.eq(r.status, 429, "a new browser waits for the back-off, even with the password")

    # A handle that does not exist answers exactly like one that does.
    def pattern(handle, source):
        c = n.client(source=source)
        return [c.post("/api/login", {"handle": handle, "password": "nope"}).status
                for _ in range(FREE_FAILURES + 2)]
    real = pattern("zoe", "127.0.2.3")
    ghost = pattern("nobody-here", "127.0.2.4")
    t.eq(real, [401] * FREE_FAILURES + [429, 429], "wrong passwords on an account")
    t.eq(ghost, real, "an unknown handle answers the same")


# ------------------------------------------------------------- restart

def data_files(node):
    for root, _, files in os.walk(node.data):
        for f in files:
            p = os.path.join(root, f)
            try:
                with open(p, "rb") as fh:
                    yield p, fh.read()
            except OSError:
                pass


def test_restart():
    with Node("restart") as n:
        pw = n.add_user("alice")
        n.add_user("dora")
        n.add_user("ella")
        n.start()
        c = login(n, "alice")
        csrf, cookie = c.csrf, c.cookie
        t.eq(c.post("/api/posts", {"text": "before the crash"}).status, 201, "alice posts")
        d = login(n, "dora")
        n.kill()  # kill -9
        n.start()
        me = c.get("/api/me")
        t.eq(me.status, 200, "after kill -9 and a restart, the same cookie is still signed in")
        if me.status == 200:
            t.eq(me.json["csrf_token"], csrf, "with the same CSRF token (the open page goes on)")
        t.eq(c.post("/api/posts", {"text": "after the crash"}).status, 201,
             "and can post (the seed was unsealed)")
        t.eq(c.get("/api/feed").status, 200, "and read")
        t.eq(d.get("/api/me").status, 200, "dora too")

        # The seed is nowhere in clear, nor the cookie.
        p = subprocess.run([OPEN_BACKUP, n.data, "alice", pw], capture_output=True, text=True)
        t.check(p.returncode == 0, "the test reads alice's seed from her key backup", p.stderr)
        seed_hex = p.stdout.strip()
        seed = bytes.fromhex(seed_hex)
        tok = base64.urlsafe_b64decode(cookie + "=")
        needles = {"seed": seed, "seed in hex": seed_hex.encode(),
                   "seed in base64": base64.b64encode(seed).rstrip(b"="),
                   "cookie": cookie.encode(), "raw token": tok}
        files = list(data_files(n))
        t.check(len(files) >= 3, "the data directory was read", [p for p, _ in files])
        for what, needle in needles.items():
            hits = [p for p, b in files if needle in b]
            t.eq(hits, [], "no %s in the data directory" % what)

        # Logged out stays out across a restart; so does a disabled user.
        c.logout()
        n.stop()
        n.cli("user", "disable", "dora")  # while the node is down
        n.start()
        c.cookie = cookie
        t.eq(c.get("/api/me").status, 401, "a session logged out does not come back")
        t.eq(d.get("/api/me").status, 401, "a session of a user disabled meanwhile does not")
        t.eq(login(n, "alice").get("/api/me").status, 200, "alice logs in again")

        # Changing a password is limited like a login (this node keeps the
        # default 10 attempts a minute per address): the login took one.
        # The bucket refills continuously (10 a minute: one each 6 s), and
        # each wrong password costs a KDF, long on a loaded machine: so the
        # attempts go on until the first 429, and the number of 403 before
        # it is 9 plus what could refill meanwhile.
        began = time.monotonic()
        e = login(n, "ella", "127.0.0.9")
        codes = []
        while len(codes) < 60 and (not codes or codes[-1] != 429):
            codes.append(e.post("/api/me/password",
                                {"old": "guess-%d" % len(codes), "new": "whatever-new"}).status)
        refill = int(math.ceil((time.monotonic() - began) / 6.0))
        wrong = len(codes) - 1
        t.check(codes[-1] == 429 and codes[:-1] == [403] * wrong and 9 <= wrong <= 9 + refill,
                "wrong old passwords: 403, then 429 from the address's bucket (9 + at most %d)"
                % refill, codes)
        r = n.client(source="127.0.0.10").login("ella", n.passwords["ella"], check=False)
        t.eq(r.status, 429, "and they count as failures of the account for a new browser")
        t.eq(e.get("/api/me").status, 200, "the session itself goes on")


# ----------------------------------------------------------- two sites

def fast_sync(node):
    with open(node.config_path, "a") as f:
        f.write("\nsync:\n  heartbeat_ms: 200\n  reconcile_interval: 5\n")


def linked(node, site):
    return any(p["site"] == site and p["connected"] for p in node.status()["peers"])


def two_sites():
    A = Node("paris")
    for h in ("alice", "bob", "carl"):
        A.add_user(h)
    fast_sync(A)
    A.set_limits(login_per_minute=1000)
    B = join_site("lyon")
    certify_site(A, B, into=A)
    paris_cert = certify_site(A, A, install=False)
    fast_sync(B)
    B.set_limits(login_per_minute=1000)
    B.cli("peer", "add", paris_cert)
    A.start()
    B.start()
    ok = wait_until(lambda: linked(A, "lyon") and linked(B, "paris"))
    t.check(ok, "paris and lyon link up")
    return A, B


def test_revoked_at_other_site(A, B):
    # bob, enrolled at paris, works at lyon; carl at lyon watches.
    lb = wait_until(lambda: login(B, "bob", password=A.passwords["bob"]))
    t.check(lb is not None, "bob logs in at lyon")
    lc = wait_until(lambda: login(B, "carl", password=A.passwords["carl"]))
    if lb is None or lc is None:
        return
    pid = lc.post("/api/posts", {"text": "from lyon"}).json["id"]
    rs = calls(lb, pid, "carl")
    t.check(all(works(name, r) for name, r in rs), "bob's lyon session works", rs)
    A.cli("user", "disable", "bob")  # at his home site
    arrived = wait_until(lambda: lc.get("/api/people/bob").json["disabled"])
    t.check(arrived, "the revocation reaches lyon")
    for name, r in calls(lb, pid, "carl"):
        t.eq(r.status, 401, "bob at lyon once it arrived: %s refused" % name)
    t.eq(stream_status(lb), 401, "bob at lyon: stream refused")
    t.eq(lc.get("/api/feed").status, 200, "carl at lyon goes on")


def test_change_password(A, B):
    old = A.passwords["alice"]
    new = "alice-chose-this-one"
    p1 = login(A, "alice", "127.0.0.2")
    p2 = login(A, "alice", "127.0.0.3")
    l1 = wait_until(lambda: login(B, "alice", password=old))
    t.check(l1 is not None, "alice logs in at lyon")
    key = p1.get("/api/people/alice").json["key"]
    pid = p1.post("/api/posts", {"text": "written before the change"}).json["id"]

    def change(body, **kw):
        return p1.post("/api/me/password", body, **kw)
    r = change({"old": "not-it", "new": new})
    t.eq((r.status, (r.json or {}).get("field")), (403, "old"), "a wrong old password is refused")
    r = change({"old": old, "new": "short"})
    t.eq((r.status, (r.json or {}).get("field")), (400, "new"), "a new password under 8 bytes")
    r = change({"old": old, "new": new, "x": 1})
    t.eq(r.status, 400, "an unknown field")
    r = change({"old": old, "new": new}, csrf=False)
    t.eq(r.status, 403, "without the CSRF token")
    t.eq(A.client().post("/api/me/password", {"old": old, "new": new}).status, 401,
         "without a session")
    t.eq(p2.get("/api/me").status, 200, "nothing changed yet")

    r = change({"old": old, "new": new})
    t.eq(r.status, 200, "alice changes her password")
    t.eq(p1.get("/api/me").status, 200, "this session stays")
    t.eq(p1.post("/api/posts", {"text": "after the change"}).status, 201, "and signs")
    t.eq(p2.get("/api/me").status, 401, "her other session at paris closed")
    t.eq(A.client(source="127.0.0.4").login("alice", old, check=False).status, 401,
         "the old password no longer opens")
    t.eq(A.client(source="127.0.0.4").login("alice", new, check=False).status, 200,
         "the new one does")
    me = p1.get("/api/people/alice").json
    t.eq(me["key"], key, "same key: nothing she signed changes")
    t.eq(p1.get("/api/posts/%s" % pid).json["author"], "alice", "her post is still hers")

    ok = wait_until(lambda: B.client(source="127.0.0.5").login("alice", new,
                                                                  check=False).status == 200)
    t.check(ok, "at lyon, the new password works once the backup arrived")
    t.eq(B.client(source="127.0.0.5").login("alice", old, check=False).status, 401,
         "at lyon, the old one no longer does")
    if l1:
        t.eq(l1.get("/api/me").status, 401, "her session at lyon closed")

    A.stop()
    A.start()
    t.eq(p1.get("/api/me").status, 200, "after a restart, the session that changed it stays")


def main():
    with Node("paris") as n:
        n.set_limits(sessions_per_person=3, login_per_minute=1000)
        for h in ("admin", "una", "vic", "sam", "tess", "walt", "xena", "yann", "zoe"):
            n.add_user(h, admin=h == "admin")
        n.start()
        t.test(test_access_ends_with_the_key, n)
        t.test(test_stream_rechecks, n)
        t.test(test_session_cap, n)
        t.test(test_login_flood, n)
        if t.failed:
            print(n.log_tail(30))
    t.test(test_restart)
    A, B = two_sites()
    t.test(test_revoked_at_other_site, A, B)
    t.test(test_change_password, A, B)
    if t.failed:
        print(A.log_tail(20))
        print(B.log_tail(20))
    A.cleanup()
    B.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
