#!/usr/bin/env python3
"""The monthly report to management by e-mail (issue 21), through a real
SMTP server on loopback (Debian's python3-aiosmtpd) and real `comptoir`
processes; the attached workbook is opened with openpyxl.

    python3 tests/integration/test_report_mail.py

The schedule queues last month's report for each person of the management
role with an address (not for staff, not for a manager without one); a
kill -9 after the queueing, with the relay down, loses nothing and sends
nothing twice; a restart sends nothing again; `comptoir report send` mails
a chosen month at once, in each reader's language, and its workbook holds
the figures of that month. Ends with "N passed, M failed"; exit 1 on failure.
"""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlsxread  # noqa: E402  (first: it may run the test again under Debian's python3)
import harness  # noqa: E402
from harness import Inbox, Node, Runner, free_port  # noqa: E402

try:
    from aiosmtpd.controller import Controller
except ImportError:
    print("skip: python3-aiosmtpd is not installed (deploy/install-deps.sh installs it)")
    print("0 passed, 0 failed")
    sys.exit(0)

DEADLINE = 60.0  # a year's walk is not needed here, but the machine may be busy
SHEETS = ["Summary", "Adoption", "Departments", "Exchange", "Questions", "Spaces", "Gains"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
t = Runner()


def wait_until(fn, timeout=DEADLINE, interval=0.1):
    return harness.wait_until(fn, timeout, interval)


def months():
    """(last month, this month) as YYYY-MM, UTC."""
    now = datetime.datetime.now(datetime.timezone.utc)
    first = now.replace(day=1)
    prev = first - datetime.timedelta(days=1)
    return prev.strftime("%Y-%m"), now.strftime("%Y-%m")


def last_day(month):
    y, m = int(month[:4]), int(month[5:])
    nxt = datetime.date(y + (m == 12), m % 12 + 1, 1)
    return (nxt - datetime.timedelta(days=1)).strftime("%Y-%m-%d")


def attachment(msg):
    """(file name, content type, bytes) of the mail's one attachment."""
    atts = list(msg.iter_attachments())
    if len(atts) != 1:
        return None
    a = atts[0]
    return a.get_filename(), a.get_content_type(), a.get_content()


def log_count(n, text):
    with open(n.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace").count(text)


def check_scheduled(n, relay, prev):
    for who in ("claire@example.com", "marc@example.com"):
        got = relay.to(who)
        t.eq(len(got), 1, "%s gets last month's report once" % who)
        if not got:
            continue
        m = got[0]
        t.eq(str(m["Subject"]), "Comptoir: figures for %s" % prev, "its subject names the month")
        t.check(m.get_content_type() == "multipart/mixed", "a multipart/mixed message",
                m.get_content_type())
        body = m.get_body(preferencelist=("plain",)).get_content()
        t.check("figures for %s" % prev in body and "management role" in body,
                "its text says what is attached and why they get it", body)
        a = attachment(m)
        t.check(a is not None and a[0] == "comptoir-paris-%s.xlsx" % prev and a[1] == XLSX,
                "the workbook is attached, named by site and month", a and a[:2])
        if a:
            wb = xlsxread.load(a[2])
            t.eq(wb.sheetnames, SHEETS, "the attachment opens with openpyxl, every sheet there")
            t.eq(wb["Summary"]["A2"].value.split(",")[0],
                 "Period: %s-01 to %s (UTC)" % (prev, last_day(prev)),
                 "its period is last month, whole")
    t.check(relay.to("dave@example.com") == [] and relay.to("alice@example.com") == [],
            "none to a manager without an address, none to staff")


def main():
    prev, cur = months()
    port = free_port()
    inbox = Inbox()
    ctl = None
    with Node("paris") as n:
        n.add_user("alice")
        n.add_user("carol", admin=True)
        pw = {h: n.add_user(h, management=True) for h in ("claire", "marc", "dave")}
        pw["alice"] = n.passwords["alice"]
        # Mail goes to the people whose key this site holds (who logged in
        # here), as the digests; the digests are turned off, to count reports.
        n.start()
        for h in ("alice", "claire", "marc", "dave"):
            c = n.client()
            c.login(h, pw[h])
            t.eq(c.put("/api/notifications/prefs", {"digest": "off"}).status, 200,
                 "%s logs in and turns the digests off" % h)
        t.eq(n.stop(), 0, "the node stops, to be given a mail: section")
        with open(n.config_path, "a") as f:
            f.write("\nmail:\n  relay: smtp://127.0.0.1:%d\n  from: comptoir@paris.example.com\n"
                    "  base_url: https://paris.example.com\n  retry_min: 1\n  retry_max: 2\n"
                    "  daily_hour: 0\n  report_day: 1\n" % port)
        n.cli("mail", "email", "claire", "claire@example.com")
        n.cli("mail", "email", "marc", "marc@example.com")
        n.cli("mail", "email", "alice", "alice@example.com")

        # The relay is down: the schedule queues last month's report all the same.
        n.start()
        queued = "the report of %s queued for 2 people of the management role" % prev
        t.check(wait_until(lambda: log_count(n, queued) == 1),
                "at start, the schedule queues last month's report for the two managers "
                "with an address", n.log_tail(10))
        t.check(wait_until(lambda: "waiting: 2" in n.cli("mail", "status").stdout),
                "both wait in the outbox while the relay is down")
        # kill -9: what was queued is in the store, and the month is recorded.
        n.kill()
        ctl = Controller(inbox, hostname="127.0.0.1", port=port)
        ctl.start()
        n.start()
        t.check(wait_until(lambda: inbox.count() >= 2
                           and "waiting: 0" in n.cli("mail", "status").stdout),
                "after kill -9 and a restart, the waiting reports go out")
        nothing = "the report of %s: nothing owed" % prev
        t.check(wait_until(lambda: log_count(n, nothing) >= 1),
                "and the schedule queues nothing again (the month is recorded)", n.log_tail(10))
        check_scheduled(n, inbox, prev)

        # A clean restart: nothing again.
        before = inbox.count()
        t.eq(n.stop(), 0, "the node stops")
        n.start()
        t.check(wait_until(lambda: log_count(n, nothing) >= 2),
                "after a restart the schedule looks again", n.log_tail(10))
        t.check("waiting: 0" in n.cli("mail", "status").stdout and inbox.count() == before,
                "and sends nothing twice")

        # By hand: this month's report, with its figures, in each one's language.
        a = n.client()
        a.login("alice", n.passwords["alice"])
        m = n.client()
        m.login("marc", pw["marc"])
        before = inbox.count()
        t.eq(m.put("/api/notifications/prefs", {"lang": "fr"}).status, 200, "marc reads French")
        p = a.post("/api/posts", {"text": "Is the canteen open on Sunday?"}).json["id"]
        a.post("/api/posts", {"text": "New forklift on dock 3"})
        m.post("/api/posts/%s/comments" % p, {"text": "Non, fermée."})
        r = n.cli("report", "send", "--month", cur)
        t.check("report of %s queued for 2 people" % cur in r.stdout,
                "comptoir report send queues this month's report for both", r.stdout)
        ok = wait_until(lambda: len(inbox.to("claire@example.com")) == 2
                        and len(inbox.to("marc@example.com")) == 2)
        t.check(ok and inbox.count() == before + 2,
                "it reaches both at once (sent by hand, whatever was sent before)")
        data = json.loads(n.cli("report", "--json", "--from", cur + "-01",
                                "--to", last_day(cur)).stdout)
        paris = [s for s in data["sites"] if s["site"] == "paris"][0]
        if ok:
            mc = inbox.to("claire@example.com")[-1]
            a_ = attachment(mc)
            wb = xlsxread.load(a_[2]) if a_ else None
            row = None
            if wb:
                row = [list(r) for r in wb["Adoption"].iter_rows(values_only=True)
                       if r[0] == "paris"]
            t.check(row and [row[0][1], row[0][2], row[0][4], row[0][5]]
                    == [paris["staff"], paris["active"], paris["posts"], paris["comments"]],
                    "the attachment's Adoption row holds the month's figures", (row, paris))
            t.check(paris["posts"] >= 2 and paris["comments"] >= 1,
                    "(the figures count this test's posts)", paris)
            t.check(wb and wb["Questions"]["B4"].value >= 1 and wb["Questions"]["B5"].value >= 1,
                    "and the question answered", wb and wb["Questions"]["B4"].value)
            mm = inbox.to("marc@example.com")[-1]
            t.eq(str(mm["Subject"]), "Comptoir : les chiffres de %s" % cur,
                 "marc's subject is French")
            t.check("rôle direction" in mm.get_body(preferencelist=("plain",)).get_content(),
                    "and his text")
            t.eq(str(mc["Subject"]), "Comptoir: figures for %s" % cur, "claire's is English")
        r = n.cli("report", "send", "--month", "2026-13", check=False)
        t.check(r.returncode == 2 and "2026-13" in r.stderr and "YYYY-MM" in r.stderr,
                "a month that is not one is refused, named", r.stderr)
        if t.failed:
            print(n.log_tail(40))
    if ctl:
        ctl.stop()
    t.finish()


main()
