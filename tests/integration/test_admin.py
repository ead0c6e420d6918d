"""The admin calls of the web UI, through a real node: list, add, disable,
enable and reset the users of the site, change a name or a role; only
admins, only with the CSRF token; every refusal changes nothing. And the
CLI's `user enable`.

Run from the repository root: python3 tests/integration/test_admin.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402


def main():
    t = Runner()
    with Node("paris") as n:
        n.set_limits(login_per_minute=1000)
        apw = n.add_user("alice", admin=True, name="Alice Martin")
        bpw = n.add_user("bob", name="Bob Leroy")
        n.start()
        admin = n.client()
        admin.login("alice", apw)
        bob = n.client(source="127.0.0.2")
        bob.login("bob", bpw)

        r = admin.get("/api/admin/users")
        t.eq(r.status, 200, "admin lists the users")
        handles = sorted(u["handle"] for u in r.json["items"])
        t.eq(handles, ["alice", "bob"], "both users listed")
        t.eq([u["name"] for u in r.json["items"] if u["handle"] == "bob"], ["Bob Leroy"],
             "names listed")

        before = n.status()["events"]
        t.eq(bob.get("/api/admin/users").status, 403, "a member cannot list users")
        t.eq(bob.post("/api/admin/users", {"handle": "eve"}).status, 403,
             "a member cannot add users")
        t.eq(admin.post("/api/admin/users", {"handle": "eve"}, csrf=False).status, 403,
             "no CSRF token, no user")
        t.eq(admin.post("/api/admin/users", {"handle": "Not Valid"}).status, 400,
             "bad handle refused")
        t.eq(admin.post("/api/admin/users", {"handle": "eve", "colour": 1}).status, 400,
             "unknown field refused")
        r = admin.post("/api/admin/users", {"handle": "bob"})
        t.eq((r.status, r.json.get("code"), r.json.get("handle")), (409, "user_exists", "bob"),
             "an existing handle is refused, named for the translation")
        t.eq(n.client().get("/api/admin/users").status, 401, "no session")
        t.eq(n.status()["events"], before, "refused calls stored nothing")

        r = admin.post("/api/admin/users", {"handle": "carol", "name": "Carol Petit",
                                            "admin": False})
        t.eq(r.status, 201, "admin adds a user")
        cpw = r.json.get("password", "")
        t.check(len(cpw) >= 16, "a generated password is returned once")
        carol = n.client(source="127.0.0.3")
        t.eq(carol.login("carol", cpw, check=False).status, 200, "the new user logs in")
        r = carol.get("/api/people/carol")
        t.eq(r.json.get("profile", {}).get("name"), "Carol Petit", "her name is in her profile")

        # Reset: the old password stops working, the new one works, and her
        # earlier sessions end.
        r = admin.post("/api/admin/users/carol/password")
        t.eq(r.status, 200, "admin resets a password")
        npw = r.json.get("password", "")
        t.check(npw and npw != cpw, "a new password is returned")
        t.eq(carol.get("/api/me").status, 401, "the reset ends her sessions")
        t.eq(n.client(source="127.0.0.4").login("carol", cpw, check=False).status, 401,
             "old password refused")
        t.eq(n.client(source="127.0.0.4").login("carol", npw, check=False).status, 200,
             "new password accepted")

        # Disable: sessions end, logins are refused, she is out of the directory.
        t.eq(admin.post("/api/admin/users/alice/disable").status, 400,
             "an admin cannot disable herself")
        t.eq(admin.post("/api/admin/users/nobody/disable").status, 404, "unknown user")
        r = admin.post("/api/admin/users/bob/disable")
        t.eq(r.status, 200, "admin disables a user")
        t.eq(bob.get("/api/me").status, 401, "his session ended")
        r = n.client(source="127.0.0.5").login("bob", bpw, check=False)
        t.check(r.status in (401, 403), "a disabled user cannot log in", r)
        people = admin.get("/api/people?q=bob").json["items"]
        t.eq([p["handle"] for p in people], [], "a disabled user leaves the directory")
        r = admin.get("/api/admin/users")
        t.eq([u["disabled"] for u in r.json["items"] if u["handle"] == "bob"], [True],
             "the list shows him disabled")
        r = admin.post("/api/admin/users/bob/disable")
        t.eq((r.status, r.json.get("code")), (409, "already_disabled"), "disabled twice: 409")
        r = admin.patch("/api/admin/users/bob", {"name": "Bobby"})
        t.eq((r.status, r.json.get("code")), (409, "user_disabled"), "no edit while disabled")

        # Enable: a new key and a new password; the old password stays refused.
        before = n.status()["events"]
        t.eq(carol.post("/api/admin/users/bob/enable").status, 401, "no session, no enable")
        member = n.client(source="127.0.0.6")
        member.login("carol", npw)
        t.eq(member.post("/api/admin/users/bob/enable").status, 403, "a member cannot enable")
        t.eq(admin.post("/api/admin/users/bob/enable", csrf=False).status, 403, "enable needs CSRF")
        t.eq(admin.post("/api/admin/users/nobody/enable").status, 404, "enable an unknown user")
        t.eq(n.status()["events"], before, "refused enables stored nothing")
        r = admin.post("/api/admin/users/bob/enable")
        t.eq(r.status, 200, "admin enables a disabled user")
        epw = r.json.get("password", "")
        t.check(len(epw) >= 16 and epw != bpw, "a new password is shown once", r.json)
        r = n.client(source="127.0.0.7").login("bob", bpw, check=False)
        t.check(r.status in (401, 403), "the old password stays refused", r)
        t.eq(n.client(source="127.0.0.7").login("bob", epw, check=False).status, 200,
             "the new password works")
        t.eq([p["handle"] for p in admin.get("/api/people?q=bob").json["items"]], ["bob"],
             "he is back in the directory")
        r = admin.get("/api/admin/users")
        t.eq([u["disabled"] for u in r.json["items"] if u["handle"] == "bob"], [False],
             "the list shows him active")
        r = admin.post("/api/admin/users/bob/enable")
        t.eq((r.status, r.json.get("code")), (409, "not_disabled"), "enable an active user: 409")

        # Name and role: the same key enrolled again; sessions end on a role change.
        before = n.status()["events"]
        for body, code, what in (({}, "empty", "nothing to change"),
                                 ({"colour": 1}, "unknown_field", "unknown field"),
                                 ({"name": "n" * 201}, "too_long", "name too long"),
                                 ({"admin": "yes"}, "unknown_field", "admin not a boolean"),
                                 ({"name": 3}, "unknown_field", "name not a string")):
            r = admin.patch("/api/admin/users/carol", body)
            t.eq((r.status, r.json.get("code")), (400, code), "edit refused: %s" % what)
        r = admin.patch("/api/admin/users/alice", {"admin": False})
        t.eq((r.status, r.json.get("code")), (400, "self"), "an admin keeps her own role")
        t.eq(member.patch("/api/admin/users/carol", {"admin": True}).status, 403,
             "a member cannot change roles")
        t.eq(admin.patch("/api/admin/users/nobody", {"name": "x"}).status, 404, "edit unknown")
        t.eq(n.status()["events"], before, "refused edits stored nothing")
        r = admin.patch("/api/admin/users/carol", {"name": "Carole Petit-Jean"})
        t.eq((r.status, r.json.get("name"), r.json.get("role")), (200, "Carole Petit-Jean", "member"),
             "admin renames a user")
        t.eq(n.status()["events"], before + 1, "one enrolment event")
        t.eq(member.get("/api/me").status, 200, "a new name keeps her session")
        t.eq(admin.get("/api/people/carol").json["profile"].get("name"), "Carole Petit-Jean",
             "the profile shows the new name")
        t.eq([p["handle"] for p in admin.get("/api/people?q=petit-jean").json["items"]], ["carol"],
             "the directory finds the new name")
        t.eq(admin.patch("/api/admin/users/carol", {"name": "Carole Petit-Jean"}).status, 200,
             "the same name again")
        t.eq(n.status()["events"], before + 1, "changes nothing")
        # Her own edit comes later: last writer wins, both ways.
        t.eq(member.put("/api/profile", {"name": "Caro"}).json["profile"]["name"], "Caro",
             "her own edit wins over the admin's earlier one")
        admin.patch("/api/admin/users/carol", {"name": "Carole Petit"})
        t.eq(admin.get("/api/people/carol").json["profile"].get("name"), "Carole Petit",
             "the admin's later one wins over hers")
        r = admin.patch("/api/admin/users/carol", {"admin": True})
        t.eq((r.status, r.json.get("role")), (200, "admin"), "admin makes her an admin")
        t.eq(member.get("/api/me").status, 401, "a role change ends her sessions")
        member = n.client(source="127.0.0.6")
        t.eq(member.login("carol", npw, check=False).json.get("admin"), True,
             "she signs in again, as an admin, with the same password")
        t.eq(member.get("/api/admin/users").status, 200, "and manages users")
        r = admin.patch("/api/admin/users/carol", {"admin": False, "name": ""})
        t.eq((r.status, r.json.get("role"), r.json.get("name")), (200, "member", None),
             "back to member, name cleared")
        t.eq(admin.get("/api/people/carol").json["role"], "member", "the person shows the role")
        carol2 = n.client(source="127.0.0.8")
        t.eq(carol2.login("carol", npw, check=False).json.get("admin"), False, "no longer admin")

        # The CLI: comptoir user enable, with a password file.
        n.cli("user", "disable", "bob")
        pwf = os.path.join(n.dir, "bob.pw")
        with os.fdopen(os.open(pwf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write("a-new-long-password-for-bob")
        out = n.cli("user", "enable", "bob", "--password-file", pwf).stdout
        t.check('user "bob" enabled' in out, "user enable says so", out)
        t.eq(n.client(source="127.0.0.9").login("bob", "a-new-long-password-for-bob",
                                                 check=False).status, 200,
             "the CLI's new password works")
        r = n.cli("user", "enable", "bob", check=False)
        t.check(r.returncode != 0 and "not disabled" in r.stderr, "enable of an active user fails",
                r.stderr)
        r = n.cli("user", "disable", "bob")
        r = n.cli("user", "disable", "bob", check=False)
        t.check(r.returncode != 0 and "disabled already" in r.stderr, "disable twice fails",
                r.stderr)
        n.stop()
        v = n.cli("verify", check=False)
        t.check(v.returncode == 0, "comptoir verify passes", v.stderr[-300:])
    t.finish()


if __name__ == "__main__":
    main()
