"""E-mail digests through a real SMTP server on loopback (Debian's
python3-aiosmtpd, started by this test) and a real `comptoir` process.

    python3 tests/integration/test_mail.py

A daily digest reaches each person who wants one, with their unread
notifications and in their language (bob reads French, carol English, at
the address the admin set for her), and none reaches erin, who turned them
off; composing again sends nothing twice. With the relay dead, the digest
waits in the outbox, the node keeps answering and posting, a restart keeps
the digest, and it goes out once the relay is back. Ends with "N passed,
M failed"; exit 1 on failure.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Inbox, Node, Runner, free_port  # noqa: E402

try:
    from aiosmtpd.controller import Controller
except ImportError:
    # Debian's python3-aiosmtpd is in the system's Python, which may not be
    # the first python3 on PATH.
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3") and not os.environ.get("COMPTOIR_REEXEC"):
        os.environ["COMPTOIR_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("skip: python3-aiosmtpd is not installed (deploy/install-deps.sh installs it)")
    print("0 passed, 0 failed")
    sys.exit(0)

DEADLINE = 30.0
t = Runner()


def wait_until(fn, timeout=DEADLINE, interval=0.1):
    return harness.wait_until(fn, timeout, interval)


class Relay:
    def __init__(self, port):
        self.port = port
        self.inbox = Inbox()
        self.ctl = None

    def start(self):
        self.ctl = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.ctl.start()

    def stop(self):
        if self.ctl:
            self.ctl.stop()
            self.ctl = None


def body_of(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def main():
    port = free_port()
    relay = Relay(port)
    relay.start()
    with Node("paris") as n:
        pw = {h: n.add_user(h, admin=(h == "alice"), name=name)
              for h, name in (("alice", "Alice Martin"), ("bob", "Bruno Durand"),
                              ("carol", "Carol"), ("erin", "Erin"), ("dave", "Dave"))}
        base = "https://paris.example.com"
        with open(n.config_path, "a") as f:
            f.write("\nmail:\n  relay: smtp://127.0.0.1:%d\n  from: comptoir@paris.example.com\n"
                    "  base_url: %s\n  retry_min: 1\n  retry_max: 2\n  immediate_every: 1\n"
                    % (port, base))
        r = n.cli("mail", "email", "carol", "not-an-address", check=False)
        t.check(r.returncode != 0 and "not an e-mail address" in r.stderr,
                "a bad address from the admin is refused", r.stderr)
        n.cli("mail", "email", "carol", "carol@example.com")
        n.start()
        c = {}
        for h in pw:
            c[h] = n.client()
            c[h].login(h, pw[h])
        r = c["bob"].put("/api/notifications/prefs",
                         {"email": "bob@example.com", "lang": "fr", "digest": "daily"})
        t.eq(r.status, 200, "bob wants a daily digest in French")
        r = c["erin"].put("/api/notifications/prefs", {"email": "erin@example.com",
                                                      "digest": "off"})
        t.eq(r.status, 200, "erin turns digests off")
        r = c["dave"].put("/api/notifications/prefs", {"email": "dave@example.com",
                                                      "digest": "immediate"})
        t.eq(r.status, 200, "dave wants his digests right away")
        r = c["alice"].post("/api/posts", {"text": "Réunion budget jeudi @bob @carol @erin"})
        pid = r.json["id"]
        c["carol"].post("/api/posts/%s/comments" % pid, {"text": "noted"})
        c["bob"].post("/api/posts/%s/comments" % pid, {"text": "ok"})
        c["carol"].post("/api/posts/%s/comments" % pid, {"text": "see you there"})
        r = n.cli("mail", "digest", "daily", "--force")
        t.check("2 daily digests queued" in r.stdout, "two digests queued (bob, carol)", r.stdout)
        ok = wait_until(lambda: len(relay.inbox.to("bob@example.com")) == 1
                        and len(relay.inbox.to("carol@example.com")) == 1)
        t.check(ok, "bob's and carol's digests reach the SMTP server")
        if ok:
            mb = relay.inbox.to("bob@example.com")[0]
            text = body_of(mb)
            t.check("notification" in str(mb["Subject"]) and "nouvelle" in str(mb["Subject"]),
                    "bob's subject is French", str(mb["Subject"]))
            t.check("Bonjour Bruno Durand" in text and "vous a mentionné" in text
                    and "Carol a répondu après vous" in text,
                    "bob's digest: his mention and carol's reply, in French", text)
            t.check("%s/#/post/%s" % (base, pid) in text, "with a link back to his site", text)
            t.check("Réunion budget jeudi" in text, "and the post's text", text)
            mc = relay.inbox.to("carol@example.com")[0]
            text = body_of(mc)
            t.check("Hello Carol" in text and "mentioned you" in text
                    and "Bruno Durand replied after you" in text,
                    "carol's digest is English, at the address the admin set", text)
            t.eq(str(mc["From"]), "Comptoir <comptoir@paris.example.com>", "from the site")
        t.check(relay.inbox.to("erin@example.com") == [], "none to erin, who turned them off")
        # Immediate: no command, the node sends it within immediate_every.
        c["alice"].post("/api/posts", {"text": "@dave the forklift is fixed"})
        ok = wait_until(lambda: relay.inbox.to("dave@example.com"))
        t.check(ok and "the forklift is fixed" in body_of(relay.inbox.to("dave@example.com")[-1]),
                "dave's immediate digest goes out by itself")
        t.check(relay.inbox.to("alice@example.com") == [], "none to alice, who has no address")
        r = n.cli("mail", "digest", "daily", "--force")
        t.check("0 daily digests queued" in r.stdout, "composing again queues nothing twice",
                r.stdout)
        # What bob read is not in his next digest.
        g = c["bob"].get("/api/notifications").json["items"][0]
        c["bob"].post("/api/notifications/read", {"groups": [{"group": g["group"],
                                                             "mark": g["mark"]}]})

        # The relay dies: the node keeps working, the digest waits and is retried.
        relay.stop()
        before = relay.inbox.count()
        r = c["carol"].post("/api/posts", {"text": "@bob pendant la panne du relais"})
        p2 = r.json["id"]
        r = n.cli("mail", "digest", "daily", "--force")
        t.check("1 daily digests queued" in r.stdout, "bob's next digest queued", r.stdout)

        def failing():
            s = n.cli("mail", "status").stdout
            return "last error" in s and "waiting: 1" in s and s
        s = wait_until(failing)
        t.check(s, "the outbox says the relay fails and the digest waits", s)
        s2 = wait_until(lambda: (lambda o: "most attempts: " in o and
                                 int(o.split("most attempts: ")[1].split()[0]) >= 2 and o)(
                                     n.cli("mail", "status").stdout))
        t.check(s2, "it is tried again (back-off)", s2)
        t.eq(c["alice"].get("/api/status").status, 200, "the node answers while the relay is dead")
        r = c["alice"].post("/api/posts", {"text": "still posting"})
        t.eq(r.status, 201, "and accepts posts")
        t.check(n.running(), "the node is running")
        # A restart keeps the digest (the outbox is in the store).
        t.eq(n.stop(), 0, "the node stops cleanly with a digest waiting")
        n.start()
        relay.port = port
        relay.start()
        ok = wait_until(lambda: relay.inbox.count() > before
                        and relay.inbox.to("bob@example.com")[-1:]
                        and p2 in body_of(relay.inbox.to("bob@example.com")[-1]))
        t.check(ok, "once the relay is back, bob's waiting digest goes out")
        if ok:
            text = body_of(relay.inbox.to("bob@example.com")[-1])
            t.check(pid not in text, "without what he had read", text)
        t.check(wait_until(lambda: "waiting: 0" in n.cli("mail", "status").stdout),
                "the outbox is empty")
    relay.stop()
    t.finish()


main()
