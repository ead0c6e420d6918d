#!/usr/bin/env python3
"""The management workbook (issue 21), read by real readers: openpyxl for
the cells, LibreOffice headless for the recalculation of the Gains sheet.
One node; its numbers must equal GET /api/figures, only management and
admins may have them, and the same events give the same workbook."""
import datetime
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402

import xlsxread  # noqa: E402  (first: it may run the test again under Debian's python3)
import openpyxl  # noqa: E402

t = Runner()
SHEETS = ["Summary", "Adoption", "Departments", "Exchange", "Questions", "Spaces", "Gains"]


def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def rows(ws):
    return [list(r) for r in ws.iter_rows(values_only=True)]


def find_row(ws, first, col=0):
    for r in ws.iter_rows(values_only=True):
        if r[col] == first:
            return list(r)
    return None


def test_access(n, bob, anon):
    r = bob.get("/api/figures")
    t.eq(r.status, 403, "a member of staff without the role cannot read the figures")
    t.eq((r.json or {}).get("code"), "no_figures", "the refusal says why (no_figures)")
    t.eq(bob.get("/api/reports/workbook.xlsx").status, 403,
         "nor download the workbook")
    t.eq(anon.get("/api/reports/workbook.xlsx").status, 401, "without a session: 401")


def test_role_grant(n, carol, bob):
    r = carol.patch("/api/admin/users/bob", {"role": "management"})
    t.eq(r.status, 200, "a site admin gives bob the management role")
    t.eq((r.json or {}).get("role"), "management", "bob's role is management")
    t.eq(bob.get("/api/figures").status in (200, 401), True,
         "bob's session was closed or sees the figures")
    bob.login("bob", n.passwords["bob"])
    t.eq(bob.get("/api/figures").status, 200, "bob, now management, reads the figures")
    r = carol.patch("/api/admin/users/bob", {"role": "member"})
    t.eq(r.status, 200, "and the admin takes the role back")
    bob.login("bob", n.passwords["bob"])
    t.eq(bob.get("/api/figures").status, 403, "bob no longer reads the figures")
    t.eq(carol.patch("/api/admin/users/bob", {"role": "boss"}).status, 400,
         "an unknown role is refused")


def workbook(cl, q=""):
    r = cl.get("/api/reports/workbook.xlsx" + q)
    t.eq(r.status, 200, "the workbook answers %s" % (q or "(default period)"))
    t.check(r.headers.get("content-type", "").startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "its type is XLSX", r.headers)
    t.check("attachment" in r.headers.get("content-disposition", ""), "it is a download",
            r.headers)
    return r.body


def test_workbook(n, boss, alice):
    # Activity: questions (a mark, a flag), answers from another department.
    r = alice.post("/api/posts", {"text": "Where is the new badge reader?"})
    t.eq(r.status, 201, "alice asks with a question mark")
    q1 = r.json["id"]
    r = alice.post("/api/posts", {"text": "Need the VPN procedure", "question": True})
    t.eq(r.status, 201, "alice asks with the composer's flag")
    q2 = r.json["id"]
    t.eq(alice.post("/api/posts", {"text": "x", "question": "yes"}).status, 400,
         "a question flag that is not true or false is refused")
    t.eq(alice.post("/api/posts", {"text": "Plain news."}).status, 201, "a post that asks nothing")
    t.eq(boss.post("/api/posts/%s/comments" % q1, {"text": "Hall B"}).status, 201,
         "the manager answers the first question")
    t.eq(alice.post("/api/posts/%s/comments" % q2, {"text": "anyone?"}).status, 201,
         "alice's own comment is no answer")
    t.eq(boss.post("/api/posts/%s/reactions" % q2, {"reaction": "👍"}).status, 200,
         "a reaction")
    # Spaces: an open one with two posts, a private one the manager is not in.
    r = alice.post("/api/spaces", {"name": "Forklift club", "visibility": "open",
                                   "join": "open"})
    t.eq(r.status, 201, "alice makes an open space")
    open_id = r.json["id"]
    for text in ("first drive", "second drive"):
        t.eq(alice.post("/api/posts", {"text": text, "space": open_id}).status, 201,
             "a post in the open space")
    r = alice.post("/api/spaces", {"name": "Zebra merger", "visibility": "private",
                                   "join": "invite"})
    t.eq(r.status, 201, "alice makes a private space")
    t.eq(alice.post("/api/posts", {"text": "hush", "space": r.json["id"]}).status, 201,
         "a post in the private space")
    # (days=2: not the answer of a minute ago that the figures keep)
    f = boss.get("/api/figures?days=2").json
    body = workbook(boss, "?from=%s&to=%s" % (today(), today()))
    zf = zipfile.ZipFile(io.BytesIO(body))
    names = zf.namelist()
    charts = [x for x in names if x.startswith("xl/charts/chart")]
    t.check(len(charts) >= 3, "native charts are in the file (summary x2, exchange)", names)
    wb = openpyxl.load_workbook(io.BytesIO(body))
    t.eq(wb.sheetnames, SHEETS, "every sheet is there, in order")
    ad = wb["Adoption"]
    for s in f["sites"]:
        row = find_row(ad, s["site"])
        t.check(row is not None, "Adoption has a row for %s" % s["site"], rows(ad)[:8])
        if row:
            t.eq([row[1], row[2], row[4], row[5], row[6]],
                 [s["staff"], s["active"], s["posts"], s["comments"], s["reactions"]],
                 "Adoption's %s row equals GET /api/figures" % s["site"])
    su = wb["Summary"]
    t.eq([su["A8"].value, su["B8"].value, su["A9"].value, su["B9"].value],
         ["Staff", sum(x["staff"] for x in f["sites"]), "Active staff", sum(x["active"] for x in f["sites"])],
         "the Summary's staff and active staff are the figures' totals")
    t.eq(su["B10"].value, "=IF(B8>0,B9/B8,0)", "the active share is a formula")
    ex = wb["Exchange"]
    fin = [r for r in ex.iter_rows(values_only=True) if r[0] == "Finance"]
    t.check(len(fin) == 1 and fin[0][3] == 2,
            "between departments: Finance gave Logistics a comment and a reaction", rows(ex)[:20])
    qs = wb["Questions"]
    t.eq(qs["B4"].value, 2, "two questions asked (a mark and a flag)")
    t.eq(qs["B5"].value, 1, "one answered (the asker's own comment is not an answer)")
    t.eq(qs["B9"].value, 1, "answered from another department")
    dep = wb["Departments"]
    t.check(find_row(dep, "Logistics") is not None and find_row(dep, "Finance") is not None,
            "Departments lists the departments of the profiles", rows(dep)[:8])
    sp = wb["Spaces"]
    fsp = {x["id"]: x for x in f["spaces"]}
    club = find_row(sp, "Forklift club")
    t.check(club is not None and club[1] == "open" and club[2] == 1,
            "Spaces names the open space, its kind and its one member", rows(sp)[:10])
    if club:
        t.eq([club[3], club[4], club[5], club[6]],
             [fsp[open_id]["posts_recent"], fsp[open_id]["active_members"],
              fsp[open_id]["posts"], fsp[open_id]["comments"]],
             "its posts in the period, active members, posts and comments equal "
             "GET /api/figures")
        t.eq(club[3], 2, "two posts in the period")
    hidden = [r for r in sp.iter_rows(values_only=True) if r[0] == "(a private space)"]
    t.check(len(hidden) == 1 and hidden[0][1] == "private" and hidden[0][3] == 1,
            "the private space is counted (its post), not named", rows(sp)[:10])
    total = find_row(sp, "All spaces")
    t.check(total is not None and str(total[3]).startswith("=SUM("),
            "the period's posts are summed by a formula", total)
    text = json.dumps([rows(wb[s]) for s in SHEETS], default=str)
    t.check("Zebra merger" not in text and "hush" not in text,
            "the private space's name and text appear nowhere in the workbook")
    for h in ("alice", "bob", "chief", "carol"):
        t.check(h not in text, "no person's handle appears in the workbook (%s)" % h)
    gains = wb["Gains"]
    t.eq(gains["B15"].value, "=(B10*B5+B11*B6)/60", "the gain is a live formula")
    # Recalculation by a real spreadsheet: more minutes per question, more gain.
    tmp = tempfile.mkdtemp(prefix="cpt-xlsx-")
    try:
        def recalc(path):
            out = os.path.join(tmp, "out")
            os.makedirs(out, exist_ok=True)
            env = dict(os.environ, HOME=tmp)
            subprocess.run(["soffice", "--headless", "-env:UserInstallation=file://%s/lo" % tmp,
                            "--convert-to", "xlsx", "--outdir", out, path],
                           check=True, capture_output=True, timeout=180, env=env)
            return openpyxl.load_workbook(os.path.join(out, os.path.basename(path)),
                                          data_only=True)
        a = os.path.join(tmp, "a.xlsx")
        with open(a, "wb") as fh:
            fh.write(body)
        w0 = recalc(a)
        g0 = w0["Gains"]["B16"].value
        tot = find_row(w0["Spaces"], "All spaces")
        t.check(tot is not None and total is not None and tot[3] is not None
                and tot[3] == sum(r[3] for r in w0["Spaces"].iter_rows(min_row=5, values_only=True)
                                  if r[0] not in (None, "All spaces")),
                "LibreOffice recomputes the Spaces total to the sum of its rows", (tot, total))
        b = os.path.join(tmp, "b.xlsx")
        wb2 = openpyxl.load_workbook(a)
        wb2["Gains"]["B5"] = 120
        wb2.save(b)
        g1 = recalc(b)["Gains"]["B16"].value
        t.check(isinstance(g0, (int, float)) and isinstance(g1, (int, float)) and g1 > g0,
                "changing an assumption and recalculating in LibreOffice changes the gain",
                (g0, g1))
        t.eq(round(g1 - g0, 6), round(1 * (120 - 20) / 60 * 40, 6),
             "by the answered question times the extra minutes, at the hourly cost")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # The CLI writes the same sheets; the same events, the same workbook.
    out = os.path.join(n.dir, "r.xlsx")
    r = n.cli("report", "--xlsx", out, "--from", today(), "--to", today())
    t.check(os.path.exists(out), "comptoir report --xlsx writes the file", r.stdout + r.stderr)
    w2 = openpyxl.load_workbook(out)
    t.eq(w2.sheetnames, SHEETS, "the CLI's workbook has every sheet")
    for s in SHEETS:
        a_rows, b_rows = rows(wb[s]), rows(w2[s])
        if s == "Summary":  # the generation time alone differs
            a_rows, b_rows = a_rows[:2] + a_rows[3:], b_rows[:2] + b_rows[3:]
        t.eq(a_rows, b_rows, "the %s sheet is the same from the API and the CLI" % s)
    # A period that ended yesterday counts none of today's posts in a space.
    y = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).strftime(
        "%Y-%m-%d")
    data = json.loads(n.cli("report", "--json", "--from", y, "--to", y).stdout)
    club = [x for x in data["spaces"] if x["id"] == open_id]
    t.check(len(club) == 1 and club[0]["posts_recent"] == 0 and club[0]["active_members"] == 0
            and club[0]["posts"] == 2,
            "a space's posts after the period are not counted in it", club)
    bad = n.cli("report", "--xlsx", out, "--from", "2026-13-01", check=False)
    t.check(bad.returncode != 0 and "--from" in bad.stderr, "a bad day is refused, named",
            bad.stderr)
    t.eq(boss.get("/api/reports/workbook.xlsx?from=2026-02-30x").status, 400,
         "the API refuses a bad day")
    t.eq(boss.get("/api/reports/workbook.xlsx?from=2026-03-01&to=2026-02-01").status, 400,
         "and a period that runs backwards")
    t.eq(boss.get("/api/reports/workbook.xlsx?from=1970-01-01&to=1970-01-31").status, 200,
         "a period at the start of time has a shorter previous one, not an error")


def main():
    with Node("paris") as n:
        n.add_user("alice")
        n.add_user("bob")
        n.add_user("carol", admin=True)
        n.start()
        alice = n.client(source="127.0.0.10")
        bob = n.client(source="127.0.0.11")
        carol = n.client(source="127.0.0.12")
        anon = n.client(source="127.0.0.13")
        alice.login("alice", n.passwords["alice"])
        bob.login("bob", n.passwords["bob"])
        carol.login("carol", n.passwords["carol"])
        t.test(test_access, n, bob, anon)
        t.test(test_role_grant, n, carol, bob)
        boss_pw = n.add_user("chief", management=True)
        boss = n.client(source="127.0.0.14")
        boss.login("chief", boss_pw)
        t.eq(alice.put("/api/profile", {"department": "Logistics"}).status, 200,
             "alice's department")
        t.eq(boss.put("/api/profile", {"department": "Finance"}).status, 200,
             "the manager's department")
        t.test(test_workbook, n, boss, alice)
        if t.failed:
            print(n.log_tail(30))
    t.finish()


if __name__ == "__main__":
    main()
