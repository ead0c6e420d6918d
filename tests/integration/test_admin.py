"""The admin calls of the web UI, through a real node: list, add, disable and
reset the users of the site; only admins, only with the CSRF token; every
refusal changes nothing.

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
        t.eq(admin.post("/api/admin/users", {"handle": "bob"}).status, 409,
             "an existing handle is refused")
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
        n.stop()
        v = n.cli("verify", check=False)
        t.check(v.returncode == 0, "comptoir verify passes", v.stderr[-300:])
    t.finish()


if __name__ == "__main__":
    main()
