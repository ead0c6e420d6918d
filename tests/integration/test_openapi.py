"""The OpenAPI description against the implementation, with a real node:

- GET /api/openapi.json answers an OpenAPI 3 document, without a session;
- every route of the routing table (node/http/routes.c, read as text) is
  documented with its method and the scope an API token needs, and every
  documented operation is a route of the table;
- every documented operation answers, under /api/ and /api/v1/: the router
  finds a call for it (never "no such call" nor 405), whatever the call
  then says of the missing session or the made-up id.

    make && python3 tests/integration/test_openapi.py
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402

t = Runner()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCOPES = {"TOK_READ": "read", "TOK_WRITE": "write", "TOK_SPACES": "spaces",
          "TOK_ADMIN": "admin", "TOK_ALL": "any", "0": None}


def table():
    """(method, path with {x}) -> scope, from the routing table's source."""
    with open(os.path.join(ROOT, "node", "http", "routes.c")) as f:
        src = f.read()
    rows = re.findall(r'\{"(/[^"]*)", "([A-Z]+)", \w+, (\w+)\}', src)
    t.check(len(rows) > 40, "the routing table is read", len(rows))
    return {(m, p): SCOPES[s] for p, m, s in rows}


def test_both_ways(n):
    r = n.client().get("/api/openapi.json")
    t.eq(r.status, 200, "GET /api/openapi.json without a session")
    doc = r.json or {}
    t.check(str(doc.get("openapi", "")).startswith("3."), "an OpenAPI 3 document",
            doc.get("openapi"))
    documented = {}
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            documented[(method.upper(), re.sub(r"\{[^}]+\}", "*", path))] = op
    routes = table()
    missing = sorted(set(routes) - set(documented))
    extra = sorted(set(documented) - set(routes))
    t.eq(missing, [], "every route is documented")
    t.eq(extra, [], "every documented operation is a route")
    wrong = [(k, routes[k], documented[k].get("x-comptoir-scope"))
             for k in set(routes) & set(documented)
             if documented[k].get("x-comptoir-scope") != routes[k]]
    t.eq(wrong, [], "each operation names the scope the table gives it")
    return documented


def test_answers(n, documented):
    for (method, pattern) in sorted(documented):
        if pattern == "/api/stream":
            continue  # answers 401 without a session, checked below with the others' way
        arg = "nobody" if pattern.startswith(("/api/people/", "/api/admin/users/")) else "0" * 64
        path = pattern.replace("*", arg)
        for p in (path, path.replace("/api/", "/api/v1/", 1) if path.startswith("/api/") else None):
            if p is None:
                continue
            r = n.client().request(method, p, body={} if method in ("POST", "PUT", "PATCH")
                                   else None, csrf=False)
            err = (r.json or {}).get("error", "") if r.json else ""
            t.check(r.status != 405 and not (r.status == 404 and "no such call" in err),
                    "%s %s answers" % (method, p), (r.status, err))
    r = n.client().get("/api/v1/nothing-here")
    t.eq(r.status, 404, "an undocumented path is no call")


def main():
    with Node("paris") as n:
        n.add_user("root", admin=True)
        n.start()
        documented = test_both_ways(n)
        t.test(test_answers, n, documented or {})
    t.finish()


if __name__ == "__main__":
    main()
