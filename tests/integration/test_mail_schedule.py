"""The node sends the daily and weekly digests by itself, at the time its
config schedules them, to a real SMTP server on loopback (Debian's
python3-aiosmtpd) — no `mail digest --force`.

    python3 tests/integration/test_mail_schedule.py

The schedule is the node's own (node/mail/smtp.c looks for due digests when
it starts and then every minute; node/mail/digest.c's s_slot says which slot
is due): `mail.daily_hour` set to the current UTC hour and `mail.weekly_day`
to today make this hour the slot of both, as a site's IT would set them. Bob
wants a daily digest in French, carol a weekly one in English, erin none:
after a restart (the node's first look) bob and carol get theirs with their
notifications, erin nothing; a second restart in the same slot sends nothing
again, though bob has something new. Ends with "N passed, M failed"; exit 1
on failure.
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
# The line the node logs once per process after its first look at what is
# due (the monthly report, looked at in the same pass, after the digests).
LOOKED = b"nothing owed"


def wait_until(fn, timeout=DEADLINE, interval=0.1):
    return harness.wait_until(fn, timeout, interval)


def body_of(msg):
    return msg.get_body(preferencelist=("plain",)).get_content()


def looks(n):
    """How many times the node has logged its first look at what is due."""
    with open(n.log_path, "rb") as f:
        return f.read().count(LOOKED)


def main():
    port = free_port()
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    now = time.gmtime()
    with Node("paris") as n:
        pw = {h: n.add_user(h, admin=(h == "alice"), name=name)
              for h, name in (("alice", "Alice Martin"), ("bob", "Bruno Durand"),
                              ("carol", "Carol"), ("erin", "Erin"))}
        base = "https://paris.example.com"
        # The schedule: this hour, today (tm_wday: 0 Monday; weekly_day: 1 Monday).
        with open(n.config_path, "a") as f:
            f.write("\nmail:\n  relay: smtp://127.0.0.1:%d\n  from: comptoir@paris.example.com\n"
                    "  base_url: %s\n  retry_min: 1\n  retry_max: 2\n"
                    "  daily_hour: %d\n  weekly_day: %d\n"
                    % (port, base, now.tm_hour, now.tm_wday + 1))
        n.start()
        c = {}
        for h in pw:
            c[h] = n.client()
            c[h].login(h, pw[h])
        for h, prefs, what in (
                ("bob", {"email": "bob@example.com", "lang": "fr", "digest": "daily"},
                 "bob wants a daily digest in French"),
                ("carol", {"email": "carol@example.com", "lang": "en", "digest": "weekly"},
                 "carol a weekly one in English"),
                ("erin", {"email": "erin@example.com", "digest": "off"}, "erin none")):
            t.eq(c[h].put("/api/notifications/prefs", prefs).status, 200, what)
        r = c["alice"].post("/api/posts", {"text": "Inventaire vendredi @bob @carol @erin"})
        t.eq(r.status, 201, "alice mentions the three of them")
        pid = r.json["id"]
        t.eq(c["bob"].post("/api/posts/%s/comments" % pid, {"text": "j'y serai"}).status, 201,
             "bob answers")
        t.eq(c["carol"].post("/api/posts/%s/comments" % pid, {"text": "noted"}).status, 201,
             "carol answers")
        t.eq(c["erin"].post("/api/posts/%s/comments" % pid, {"text": "ok"}).status, 201,
             "erin answers")
        # The node looks for due digests when it starts: no command.
        t.eq(n.stop(), 0, "the node stops")
        n.start()
        ok = wait_until(lambda: inbox.to("bob@example.com") and inbox.to("carol@example.com"))
        t.check(ok, "the node sends bob's daily and carol's weekly digest by itself",
                n.log_tail())
        if ok:
            mb = inbox.to("bob@example.com")[0]
            text = body_of(mb)
            t.check("Bonjour Bruno Durand" in text and "vous a mentionné" in text
                    and "Erin et 1 autre ont répondu après vous" in text
                    and "Inventaire vendredi" in text,
                    "bob's digest: his mention and the replies after his, in French", text)
            t.check("%s/#/post/%s" % (base, pid) in text, "with a link back to his site", text)
            t.check("nouvelle" in str(mb["Subject"]), "bob's subject is French", str(mb["Subject"]))
            text = body_of(inbox.to("carol@example.com")[0])
            t.check("Hello Carol" in text and "mentioned you" in text
                    and "Erin replied after you" in text and "Inventaire vendredi" in text,
                    "carol's weekly digest: her mention and erin's reply, in English", text)
        t.check(wait_until(lambda: looks(n) >= 1 and "waiting: 0" in n.cli("mail", "status").stdout),
                "the node's first look is done and its outbox empty", n.log_tail())
        t.eq(inbox.to("erin@example.com"), [], "none to erin, who turned them off")
        t.eq(inbox.to("alice@example.com"), [], "none to alice, who asked for none")
        # Something new for bob, and the node starts again in the same slot:
        # the digests of this slot went, nothing goes twice.
        sent = inbox.count()
        r = c["alice"].post("/api/posts", {"text": "@bob one more thing"})
        t.eq(r.status, 201, "a new mention of bob")
        t.eq(n.stop(), 0, "the node stops again")
        n.start()
        t.check(wait_until(lambda: looks(n) >= 2), "the node looked again", n.log_tail())
        t.check(wait_until(lambda: "waiting: 0" in n.cli("mail", "status").stdout),
                "with nothing waiting")
        t.eq(inbox.count(), sent, "no second digest in the same slot")
    ctl.stop()
    t.finish()


main()
