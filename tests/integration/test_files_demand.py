"""Fetching on demand (PROTOCOL.md 18.6, class 1) between two real sites:

- lyon has limits.fetch_max_mb = 1: a 3 MB file written at paris is not
  fetched on its own (a small file written after it arrives, it does not);
- when someone at lyon opens it (404 "not here yet"), lyon fetches it first,
  and it is then served byte for byte.

    make && python3 tests/integration/test_files_demand.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_federation as F  # noqa: E402
from harness import Node  # noqa: E402
from test_files_sync import blob_path, pdf_bytes, upload  # noqa: E402

t = F.t
DEADLINE = 60.0


def main():
    A = Node("paris")
    F.PASSWORDS["alice"] = A.add_user("alice", admin=True, name="Alice")
    F.fast_sync(A)
    B = F.join_node("lyon")
    F.certify(A, B)
    paris_cert = F.certify(A, A, publish=False, install=False)
    F.fast_sync(B)
    B.set_limits(fetch_max_mb=1)
    F.PASSWORDS["dave"] = B.add_user("dave", name="Dave")
    B.cli("peer", "add", paris_cert)
    try:
        for n in (A, B):
            n.start()
        t.check(F.wait_until(lambda: F.linked(A, "lyon") and F.linked(B, "paris")),
                "paris and lyon linked")
        a = F.login(A, "alice")
        big = pdf_bytes(3 * 1024 * 1024 + 5, "demand")
        r = upload(a, "big.pdf", big)
        t.eq(r.status, 201, "a 3 MB file at paris")
        blob = (r.json or {}).get("blob", "x")
        small = pdf_bytes(40 * 1024, "small")
        r = upload(a, "small.pdf", small)
        t.eq(r.status, 201, "then a small one")
        sblob = (r.json or {}).get("blob", "y")
        # The small one arrives on its own; the big one, listed before it, not.
        t.check(F.wait_until(lambda: os.path.exists(blob_path(B, sblob)), timeout=DEADLINE),
                "lyon fetches the small file on its own")
        t.check(not os.path.exists(blob_path(B, blob)),
                "but not the file above limits.fetch_max_mb")
        d = F.login(B, "dave")
        g = d.get("/api/files/%s" % blob)
        t.eq(g.status, 404, "opened at lyon: not here yet")
        t.eq((g.json or {}).get("code"), "not_here_yet", "named so")
        got = F.wait_until(lambda: os.path.exists(blob_path(B, blob)), timeout=DEADLINE)
        t.check(got, "lyon fetches it once someone opened it")
        g = d.get("/api/files/%s" % blob)
        t.check(g.status == 200 and g.body == big, "and serves it byte for byte", g.status)
    finally:
        for n in (A, B):
            n.stop()
    t.finish()


if __name__ == "__main__":
    main()
