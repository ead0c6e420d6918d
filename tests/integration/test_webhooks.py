"""Outgoing webhooks, with a real `comptoir` process and real receivers on
loopback (http.server threads started here):

- malformed registrations are refused with an error naming what is wrong;
  who may register what (a member: mention and reply; a space admin: their
  space; a site admin: the whole site);
- each delivery is signed: HMAC-SHA256 of "timestamp.body" under the secret
  shown once verifies here, and the secret is never shown again;
- a receiver answering 500, then 200: every delivery arrives once, in order;
- a delivery queued before kill -9 of the node arrives after the restart;
- a webhook whose receiver keeps failing is disabled with the reason shown,
  and enabled again by hand; the test button sends a ping;
- a redirect is not followed; an answer of 4 MiB is cut, a receiver that
  never answers times out, and the node takes posts meanwhile;
- a post of a private space goes only to webhooks whose owner may read it;
- docs/examples/webhook_receiver.py receives and checks a real delivery.

    make && python3 tests/integration/test_webhooks.py
"""

import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner, free_port  # noqa: E402

t = Runner()
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class Receiver:
    """A webhook receiver on a loopback port: records what it is sent;
    answers with the status of `mode` ("ok" 200, "fail" 500, "redirect" 302),
    or misbehaves: "huge" sends 4 MiB back, "hang" never answers."""

    def __init__(self):
        self.port = free_port()
        self.got = []  # (headers dict, body bytes, answered status)
        self.mode = "ok"
        self.fail_next = 0  # answer 500 to this many, then follow mode
        self.lock = threading.Lock()
        self.hung = threading.Event()  # set: a hanging answer ends
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with rec.lock:
                    if rec.fail_next > 0:
                        rec.fail_next -= 1
                        status = 500
                    else:
                        status = {"ok": 200, "fail": 500, "redirect": 302, "huge": 200,
                                  "hang": 200}[rec.mode]
                    mode = rec.mode
                    if mode in ("huge", "hang"):
                        # Once: a slow test machine must not see it fail
                        # until the webhook is disabled.
                        rec.mode = "ok"
                    rec.got.append(({k.lower(): v for k, v in self.headers.items()}, body,
                                    status if mode not in ("huge", "hang") else -1))
                if mode == "hang":
                    rec.hung.wait(30)  # longer than the node's timeout
                    return
                if mode == "huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(4 << 20))
                    self.end_headers()
                    try:
                        for _ in range(64):
                            self.wfile.write(b"x" * 65536)
                    except OSError:
                        pass
                    return
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "http://192.0.2.1/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def delivered(self, event=None):
        """Bodies answered 200, as JSON, in arrival order."""
        with self.lock:
            out = [json.loads(b) for h, b, s in self.got if s == 200]
        return [x for x in out if event is None or x.get("event") == event]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def wait(pred, what, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    t.check(False, "waited for " + what)
    return None


def login(n, handle):
    c = n.client()
    c.login(handle, n.passwords[handle])
    return c


def sig_ok(headers, body, secret):
    ts = headers.get("x-comptoir-timestamp", "")
    want = "v1=" + hmac.new(secret.encode(), ts.encode() + b"." + body,
                            hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, headers.get("x-comptoir-signature", ""))


def test_registrations(n, rx):
    alice, root = login(n, "alice"), login(n, "root")
    space = alice.post("/api/spaces", {"name": "Atelier", "visibility": "open",
                                       "join": "open"}).json["id"]
    bad = [
        ({}, 400, "url"),
        ({"url": "ftp://127.0.0.1/x", "events": ["mention"]}, 400, "http://"),
        ({"url": "not a url", "events": ["mention"]}, 400, "url"),
        ({"url": "http://", "events": ["mention"]}, 400, "url"),
        ({"url": "http://u:p@127.0.0.1/x", "events": ["mention"]}, 400, "user name"),
        ({"url": "http://127.0.0.1/" + "x" * 600, "events": ["mention"]}, 400, "url"),
        ({"url": rx.url}, 400, "events"),
        ({"url": rx.url, "events": []}, 400, "events"),
        ({"url": rx.url, "events": "mention"}, 400, "events"),
        ({"url": rx.url, "events": ["mention", "mention"]}, 400, "twice"),
        ({"url": rx.url, "events": ["deploy"]}, 400, "deploy"),
        ({"url": rx.url, "events": [3]}, 400, "events"),
        ({"url": rx.url, "events": ["mention"], "space": "zz"}, 400, "space"),
        ({"url": rx.url, "events": ["mention"], "space": "ab" * 32}, 400, "no such space"),
        ({"url": rx.url, "events": ["mention"], "colour": "red"}, 400, "colour"),
        ({"url": rx.url, "events": ["mention"], "name": "x" * 200}, 400, "name"),
        ({"url": rx.url, "events": ["post"]}, 403, "admins"),
    ]
    for body, status, word in bad:
        r = alice.post("/api/hooks", body)
        msg = (r.json or {}).get("error", "")
        t.check(r.status == status and word in msg, "refused: %r" % (body,), (r.status, msg))
    r = alice.request("POST", "/api/hooks", raw=b"{not json", headers={
        "Content-Type": "application/json"})
    t.eq(r.status, 400, "a body that is not JSON is refused")
    bob = login(n, "bob")
    r = bob.post("/api/hooks", {"url": rx.url, "events": ["post"], "space": space})
    t.eq(r.status, 403, "a member who is not the space's admin cannot hook the space")
    r = alice.post("/api/hooks", {"url": rx.url, "events": ["post"], "space": space})
    t.eq(r.status, 201, "the space's creator hooks their space")
    hid = r.json["id"]
    r = root.post("/api/hooks", {"url": rx.url, "events": ["post"]})
    t.eq(r.status, 201, "a site admin hooks the whole site")
    t.check("whsec_" in (r.json or {}).get("secret", ""), "the secret is shown once", r.json)
    lst = alice.get("/api/hooks").json["items"]
    t.eq([h["id"] for h in lst], [hid], "alice lists her webhook only")
    t.check(all("secret" not in h for h in lst), "no secret in the list", lst)
    t.check("secret" not in alice.get("/api/hooks/" + hid).json, "nor in the webhook's page")
    t.eq(bob.get("/api/hooks/" + hid).status, 404, "bob does not see alice's webhook")
    t.eq(bob.delete("/api/hooks/" + hid).status, 404, "nor removes it")
    t.eq(alice.delete("/api/hooks/" + hid).status, 200, "alice removes it")
    t.eq(root.delete("/api/hooks/" + r.json["id"]).status, 200, "root removes his")
    t.eq(alice.get("/api/hooks/" + "0" * 32).status, 404, "an unknown id")
    t.eq(alice.get("/api/hooks/xyz").status, 404, "a malformed id")


def test_signed_and_retried(n, rx):
    root, alice = login(n, "root"), login(n, "alice")
    r = root.post("/api/hooks", {"url": rx.url, "events": ["post"], "name": "all posts"})
    hid, secret = r.json["id"], r.json["secret"]
    alice.post("/api/posts", {"text": "premier message"})
    d = wait(lambda: rx.delivered("post"), "a first delivery")
    with rx.lock:
        h, body, _ = [x for x in rx.got if x[2] == 200][-1]
    t.check(sig_ok(h, body, secret), "the signature verifies with the secret", h)
    t.check(not sig_ok(h, body + b" ", secret), "and not over another body")
    # Another secret: its last character changed (to "0" it was the same one
    # whenever the secret ended in "0": a failure one run in 16).
    other = secret[:-1] + ("1" if secret[-1] == "0" else "0")
    t.check(not sig_ok(h, body, other), "nor under another secret")
    t.eq(d[-1]["post"]["text"], "premier message", "the body holds the post")
    t.eq(h.get("x-comptoir-event"), "post", "the event in a header")
    t.eq(d[-1]["hook"], hid, "and the webhook's id")

    # The receiver fails for a while: three posts arrive once each, in order.
    with rx.lock:
        rx.got.clear()
        rx.fail_next = 3
    for i in range(3):
        alice.post("/api/posts", {"text": "ordre %d" % i})
    wait(lambda: len(rx.delivered("post")) >= 3, "three deliveries after the failures")
    time.sleep(1.5)  # a duplicate would come within the back-off (1 s)
    texts = [x["post"]["text"] for x in rx.delivered("post")]
    t.eq(texts, ["ordre 0", "ordre 1", "ordre 2"], "each once, in order, after 3 failures")
    ids = [x["delivery"] for x in rx.delivered("post")]
    t.eq(len(set(ids)), 3, "three distinct delivery ids")
    with rx.lock:
        fails = [json.loads(b)["post"]["text"] for h, b, s in rx.got if s == 500]
    t.check(set(fails) == {"ordre 0"}, "the first held back the others while it failed", fails)
    v = root.get("/api/hooks/" + hid).json
    t.check(any(not e["ok"] and "500" in (e["error"] or "") for e in v["log"]),
            "the log shows the failed attempts", v["log"][:5])
    t.check(v["log"][0]["ok"] and v["failures"] == 0, "and the last success", v["log"][0])
    return hid


def test_kill9(n, rx, hid):
    """A delivery queued and failing when the node is killed arrives after."""
    root, alice = login(n, "root"), login(n, "alice")
    with rx.lock:
        rx.got.clear()
        rx.mode = "fail"
    alice.post("/api/posts", {"text": "avant le kill"})
    wait(lambda: any(s == 500 for h, b, s in list(rx.got)), "a failed attempt")
    t.eq(root.get("/api/hooks/" + hid).json["waiting"], 1, "the delivery waits in the outbox")
    n.kill()
    rx.mode = "ok"
    n.start()
    d = wait(lambda: rx.delivered("post"), "the delivery after the restart")
    t.eq([x["post"]["text"] for x in d or []], ["avant le kill"], "delivered after kill -9")


def test_disabled_and_ping(n, rx, hid):
    root, alice = login(n, "root"), login(n, "alice")
    with rx.lock:
        rx.got.clear()
        rx.mode = "fail"
    alice.post("/api/posts", {"text": "jamais reçu"})
    v = wait(lambda: (lambda j: j if not j["enabled"] else None)(
        root.get("/api/hooks/" + hid).json), "the webhook disabled")
    t.check(v and "4 deliveries failed in a row" in (v.get("disabled_reason") or "")
            and "HTTP 500" in v["disabled_reason"], "disabled, with the reason", v)
    t.eq(v and v["waiting"], 0, "its deliveries are dropped")
    n_before = len(rx.got)
    alice.post("/api/posts", {"text": "pendant la panne"})
    time.sleep(2)
    t.eq(len(rx.got), n_before, "a disabled webhook is sent nothing")
    rx.mode = "ok"
    r = root.post("/api/hooks/%s/test" % hid)
    t.eq(r.status, 202, "send a test")
    p = wait(lambda: rx.delivered("ping"), "the ping")
    t.eq(p and p[0]["hook"], hid, "a ping arrives even while disabled")
    r = root.patch("/api/hooks/" + hid, {"enabled": True})
    t.check(r.status == 200 and r.json["enabled"] and r.json["failures"] == 0,
            "enabled again by hand", r.json)
    t.eq(root.patch("/api/hooks/" + hid, {"enabled": "yes"}).status, 400,
         "enabled must be true or false")
    alice.post("/api/posts", {"text": "de retour"})
    wait(lambda: any(x["post"]["text"] == "de retour" for x in rx.delivered("post")),
         "a delivery once enabled")


def test_redirect(n, rx, hid):
    root, alice = login(n, "root"), login(n, "alice")
    with rx.lock:
        rx.got.clear()
        rx.mode = "redirect"
    alice.post("/api/posts", {"text": "redirigé"})
    v = wait(lambda: (lambda j: j if j["log"] and not j["log"][0]["ok"] else None)(
        root.get("/api/hooks/" + hid).json), "a failed delivery")
    t.check(v and "redirects are not followed" in (v["log"][0]["error"] or ""),
            "a redirect is a failure, not followed", v and v["log"][0])
    with rx.lock:
        rx.mode = "ok"
    wait(lambda: rx.delivered("post"), "delivered once the receiver answers")


def test_hostile(n, rx, hid):
    """A receiver that answers 4 MiB, then one that never answers: each is a
    failure with its reason (the answer cut at 64 KiB, the timeout), and the
    node goes on taking posts meanwhile."""
    root, alice = login(n, "root"), login(n, "alice")
    for mode, word in (("huge", "longer than 65536 bytes"), ("hang", "imed out")):
        with rx.lock:
            rx.got.clear()
            rx.mode = mode
        rx.hung.clear()
        alice.post("/api/posts", {"text": "hostile %s" % mode})
        wait(lambda: rx.got, "the %s receiver reached" % mode)
        for i in range(5):
            r = alice.post("/api/posts", {"text": "during %s %d" % (mode, i)})
            t.eq(r.status, 201, "the node takes posts while the receiver is %s" % mode)
        v = wait(lambda: (lambda j: j if j["log"] and not j["log"][0]["ok"] else None)(
            root.get("/api/hooks/" + hid).json), "the %s delivery failed" % mode)
        t.check(v and word in (v["log"][0]["error"] or ""), "the reason: %s" % word,
                v and v["log"][0])
        rx.hung.set()
        with rx.lock:
            rx.mode = "ok"
        wait(lambda: any(x["post"]["text"] == "during %s 4" % mode
                         for x in rx.delivered("post")), "delivered once it behaves")


def test_private_space(n, rx_admin, hid):
    """root's site-wide webhook does not get a private space's posts he may
    not read; alice's webhook on her private space does; bob's mention
    webhook does not leak a private post that names him either."""
    root, alice, bob = login(n, "root"), login(n, "alice"), login(n, "bob")
    rx2, rx3 = Receiver(), Receiver()
    try:
        sp = alice.post("/api/spaces", {"name": "Secret RH", "visibility": "private",
                                        "join": "invite"}).json["id"]
        r = alice.post("/api/hooks", {"url": rx2.url, "events": ["post", "comment"],
                                      "space": sp})
        t.eq(r.status, 201, "alice hooks her private space")
        r = bob.post("/api/hooks", {"url": rx3.url, "events": ["mention", "reply"]})
        t.eq(r.status, 201, "bob hooks his mentions and replies")
        with rx_admin.lock:
            rx_admin.got.clear()
        r = alice.post("/api/posts", {"text": "salaires 2027 @bob", "space": sp})
        t.eq(r.status, 201, "a post in the private space")
        pid = r.json["id"]
        alice.post("/api/posts/%s/comments" % pid, {"text": "confidentiel"})
        alice.post("/api/posts", {"text": "ouvert à tous"})
        wait(lambda: any(x["post"]["text"] == "ouvert à tous" for x in rx_admin.delivered()),
             "root's webhook gets the open post")
        got = wait(lambda: len(rx2.delivered()) >= 2 and rx2.delivered(), "alice's space hook")
        t.check(sorted(x["event"] for x in got or []) == ["comment", "post"],
                "the space's webhook gets its post and comment", rx2.got)
        t.eq((got or [{}])[0].get("post", {}).get("text"), "salaires 2027 @bob",
             "opened for its owner, a member")
        time.sleep(1.5)
        t.check(all("salaires" not in json.dumps(x) and "confidentiel" not in json.dumps(x)
                    for x in rx_admin.delivered()),
                "root, not a member, gets nothing of the private space", rx_admin.delivered())
        t.check(all("salaires" not in json.dumps(x) for x in rx3.delivered()),
                "bob, not a member, is not sent the post naming him", rx3.delivered())
        # bob's own: a mention in the open, a reply to his post.
        bp = bob.post("/api/posts", {"text": "qui vient à la cantine ?"}).json["id"]
        alice.post("/api/posts/%s/comments" % bp, {"text": "moi"})
        alice.post("/api/posts", {"text": "merci @bob pour hier"})
        wait(lambda: len(rx3.delivered()) >= 2, "bob's reply and mention")
        ev = sorted((x["event"], (x.get("comment") or x.get("post"))["text"])
                    for x in rx3.delivered())
        t.eq(ev, [("mention", "merci @bob pour hier"), ("reply", "moi")],
             "bob gets the reply to his post and the mention")
    finally:
        rx2.close()
        rx3.close()


def test_example_receiver(n):
    """docs/examples/webhook_receiver.py, run as its docstring says, checks
    the signature of a real delivery and prints it."""
    root, alice = login(n, "root"), login(n, "alice")
    port = free_port()
    r = root.post("/api/hooks", {"url": "http://127.0.0.1:%d/" % port, "events": ["post"]})
    secret = r.json["secret"]
    script = os.path.join(ROOT, "docs", "examples", "webhook_receiver.py")
    env = dict(os.environ, WEBHOOK_SECRET=secret, PORT=str(port))
    p = subprocess.Popen([sys.executable, script], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait(lambda: _listening(port), "the example receiver listening")
        alice.post("/api/posts", {"text": "pour le script d'exemple"})
        out = []
        threading.Thread(target=lambda: [out.append(l) for l in p.stdout], daemon=True).start()
        wait(lambda: any("pour le script d'exemple" in l for l in list(out)),
             "the example prints the delivery")
        t.check(any(l.startswith("post ") for l in out), "it prints the event", out)
    finally:
        p.kill()
        p.wait()
    with open(script) as fh:
        t.check(len(fh.read().splitlines()) <= 45, "the example is short")
    # A forged delivery is refused by the example (403), checked with a bad secret.
    env["WEBHOOK_SECRET"] = "whsec_" + "0" * 64
    p = subprocess.Popen([sys.executable, script], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait(lambda: _listening(port), "the example receiver again")
        r = root.post("/api/hooks/%s/test" % r.json["id"])
        v = wait(lambda: (lambda j: j if j["log"] and j["log"][0]["event"] == "ping" else None)(
            root.get("/api/hooks/" + r.json["id"]).json), "the ping's outcome")
        t.check(v and v["log"][0]["status"] == 403, "a wrong signature is answered 403",
                v and v["log"][0])
    finally:
        p.kill()
        p.wait()


def _listening(port):
    import socket
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    rx = Receiver()
    try:
        with Node("paris") as n:
            with open(n.config_path, "a") as f:
                f.write("webhooks:\n  retry_min: 1\n  retry_max: 1\n  max_failures: 4\n"
                        "  timeout: 5\n")
            n.add_user("root", admin=True)
            n.add_user("alice")
            n.add_user("bob")
            n.start()
            t.test(test_registrations, n, rx)
            hid = test_signed_and_retried(n, rx)
            t.test(test_kill9, n, rx, hid)
            t.test(test_disabled_and_ping, n, rx, hid)
            t.test(test_redirect, n, rx, hid)
            t.test(test_hostile, n, rx, hid)
            t.test(test_private_space, n, rx, hid)
            t.test(test_example_receiver, n)
    finally:
        rx.close()
    t.finish()


if __name__ == "__main__":
    main()
