#!/usr/bin/env python3
"""Replays tests/vectors/rules.txt, the receiver-rule vectors, with an implementation of
the admission rules written from docs/PROTOCOL.md (sections 2.2, 6, 7 and 8) alone, in
Python 3's standard library, on top of verify_vectors.py (sections 2 to 5).

For each scene it delivers the events in the order written and checks the result of each
arrival, what else it admitted or took back, and the final state; then, unless the scene
says "orders: as-written", it delivers the same events in other orders (all of them for a
few events, 200 shuffles otherwise) at the scene's last clock and checks that the final
state is the same: the rules are a function of the set of events. It also checks, at the
end of every run, that each event refused for good would still be refused by the final
state: a final verdict must never depend on what arrived before.

Prints "N passed, N failed"; exits 1 on a failure."""

import itertools
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify_vectors as vv  # noqa: E402

HOLD_MS = 5 * 60 * 1000        # section 6: held beyond this much ahead
FUTURE_MS = 24 * 3600 * 1000   # section 6: refused beyond this much ahead
PROOF_DOMAIN = b"comptoir/enrolment-proof/v1"
VOUCH_MAX = 1000
USER_KINDS = (4, 5, 6, 7, 8, 9, 10)
KNOWN = (1, 2, 3) + USER_KINDS
REDACTABLE_NOT = (1, 2, 3, 10)


class Refuse(Exception):
    """A verdict: code and rule (PROTOCOL.md 8.8)."""

    def __init__(self, code, rule):
        super().__init__(code, rule)
        self.code, self.rule = code, rule


# ------------------------------------------------------------ 2.2 keys in bodies

def ed25519_key_valid(pk):
    """Canonical, not of small order, and in the prime-order subgroup."""
    y = int.from_bytes(pk, "little") & (2**255 - 1)
    if y >= vv.P or vv.small_order(pk):
        return False
    a = vv.pt_decode(pk)
    if a is None:
        return False
    x, y1, z, _ = vv.pt_mul(vv.L, a)
    return x % vv.P == 0 and (y1 - z) % vv.P == 0


def _u_of_y(y):
    return (1 + y) * pow((1 - y) % vv.P, vv.P - 2, vv.P) % vv.P


X25519_SMALL = {0, 1, _u_of_y(vv.Y8), _u_of_y(vv.P - vv.Y8), vv.P - 1}


def x25519_key_valid(pk):
    u = int.from_bytes(pk, "little")
    return u < vv.P and u not in X25519_SMALL  # u < p also means bit 255 clear


# ------------------------------------------------------------ 7 bodies

HEX64 = re.compile(r"[0-9a-f]{64}\Z")
HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}\Z")
SITE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")


def blen(s):
    return len(s.encode("utf-8"))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class Body:
    """Field checks that raise Refuse("EINVAL", "<kind>.<field>")."""

    def __init__(self, kind_name, body):
        self.k, self.b = kind_name, body

    def bad(self, field):
        raise Refuse("EINVAL", "%s.%s" % (self.k, field))

    def string(self, f, lo, hi, optional=False):
        if f not in self.b and optional:
            return None
        v = self.b.get(f)
        if not isinstance(v, str) or not lo <= blen(v) <= hi:
            self.bad(f)
        return v

    def pattern(self, f, rx):
        v = self.b.get(f)
        if not isinstance(v, str) or not rx.match(v):
            self.bad(f)
        return v

    def hexid(self, f):
        v = self.b.get(f)
        if not isinstance(v, str) or not HEX64.match(v):
            self.bad(f)
        return bytes.fromhex(v)

    def time(self, f):
        v = self.b.get(f)
        if not is_int(v) or v < 0:
            self.bad(f)
        return v


def check_body(ev, root):
    """Section 7: the body rules of each kind. Returns the parsed body (or None)."""
    kind, raw = ev["kind"], ev["body"]
    if raw is None:
        if kind in REDACTABLE_NOT:
            raise Refuse("EINVAL", "redacted.kind")
        return None
    b = json.loads(raw.decode("utf-8"))
    if kind == 1:
        c = Body("cert", b)
        c.pattern("site", SITE)
        sk = c.hexid("sign_key")
        if not ed25519_key_valid(sk) or sk == root:
            c.bad("sign_key")
        ck = c.hexid("curve_key")
        if not x25519_key_valid(ck):
            c.bad("curve_key")
        sl = c.hexid("seal_key")
        if not x25519_key_valid(sl) or sl == ck:
            c.bad("seal_key")
        eps = b.get("endpoints")
        if not isinstance(eps, list) or len(eps) > 16 or \
                not all(isinstance(e, str) and blen(e) <= 255 for e in eps):
            c.bad("endpoints")
        nb = c.time("not_before")
        if nb < ev["ts"] >> 16:
            c.bad("not_before")
        na = c.time("not_after")
        if na != 0 and na <= nb:
            c.bad("not_after")
        if "title" in b:
            t = b["title"]
            if not isinstance(t, str) or not 1 <= blen(t) <= 64 or \
                    any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in t):
                c.bad("title")
    elif kind == 2:
        c = Body("enrol", b)
        handle = c.pattern("handle", HANDLE)
        key = c.hexid("key")
        if not ed25519_key_valid(key) or key == root:
            c.bad("key")
        site = c.pattern("site", SITE)
        if b.get("role") not in ("member", "admin"):
            c.bad("role")
        c.string("name", 0, 200, optional=True)
        proof = b.get("proof")
        if not isinstance(proof, str) or not re.match(r"[0-9a-f]{128}\Z", proof):
            c.bad("proof")
        msg = (PROOF_DOMAIN + ev["fed"] + key + bytes([blen(site)]) + site.encode() +
               bytes([blen(handle)]) + handle.encode())
        if not vv.ed25519_verify(bytes.fromhex(proof), msg, key):
            c.bad("proof")
    elif kind == 3:
        c = Body("revoke", b)
        key = c.hexid("key")
        if not ed25519_key_valid(key):
            c.bad("key")
        c.time("effective")
        c.string("reason", 0, 256, optional=True)
        v = b.get("vouch")
        if not isinstance(v, dict):
            c.bad("vouch")
        f, t, ids = v.get("from"), v.get("to"), v.get("ids")
        if not is_int(f) or not is_int(t) or f < 0 or t < f or not isinstance(ids, str) \
                or not re.match(r"([0-9a-f]{32}){0,%d}\Z" % VOUCH_MAX, ids):
            c.bad("vouch")
        pfx = [ids[i:i + 32] for i in range(0, len(ids), 32)]
        if any(pfx[i] >= pfx[i + 1] for i in range(len(pfx) - 1)):
            c.bad("vouch")
    elif kind == 4:
        c = Body("key_backup", b)
        c.pattern("handle", HANDLE)
        if b.get("kdf") != "argon2id13":
            c.bad("kdf")
        if not is_int(b.get("ops")) or not 1 <= b["ops"] <= 16:
            c.bad("ops")
        if not is_int(b.get("mem")) or not 8192 <= b["mem"] <= 268435456:
            c.bad("mem")
        for f, n in (("salt", 32), ("nonce", 48), ("box", 96)):
            if not isinstance(b.get(f), str) or not re.match(r"[0-9a-f]{%d}\Z" % n, b[f]):
                c.bad(f)
    elif kind == 5:
        c = Body("profile", b)
        fields = b.get("fields")
        if not isinstance(fields, dict) or not fields:
            c.bad("fields")
        for name, v in fields.items():
            if v is None or name not in ("name", "title", "department", "site", "phone",
                                         "location", "bio", "skills"):
                continue
            if name == "skills":
                if not isinstance(v, list) or len(v) > 32 or \
                        not all(isinstance(s, str) and 1 <= blen(s) <= 64 for s in v):
                    c.bad("skills")
            elif not isinstance(v, str) or blen(v) > (2000 if name == "bio" else 200):
                c.bad(name)
    elif kind == 6:
        Body("post", b).string("text", 1, 10000)
    elif kind in (7, 9):
        c = Body("comment" if kind == 7 else "edit", b)
        c.hexid("post")
        c.string("text", 1, 10000)
    elif kind == 8:
        c = Body("reaction", b)
        c.hexid("post")
        c.string("reaction", 1, 32)
        if not isinstance(b.get("on"), bool):
            c.bad("on")
    elif kind == 10:
        Body("redaction", b).hexid("target")
    return b


# ------------------------------------------------------------ events

class Event:
    def __init__(self, label, raw, fed, root):
        self.label, self.raw = label, raw
        self.decoded = None
        self.error = None
        try:
            ev = vv.decode(raw)
            vv.verify(ev, fed)
            self.decoded = ev
        except vv.Reject as e:
            self.error = Refuse(str(e), "decode." + {
                "EVERSION": "version", "EFEDERATION": "federation", "ESIG": "signature",
                "EHASH": "hash", "ETOOBIG": "size"}.get(str(e), "structure"))
            return
        self.id = vv.b2b(raw[:176])
        self.kind, self.author, self.ts = ev["kind"], ev["author"], ev["ts"]
        self.t = self.ts >> 16
        self.bare = ev["body"] is None
        try:
            self.b = check_body(dict(ev, fed=fed), root)
        except Refuse as r:
            self.error = r
            self.b = None

    def order_key(self):
        return (self.ts, self.id)


# ------------------------------------------------------------ 8 admission

ADMITTED, PENDING, HELD, ASIDE, REFUSED = "admitted", "pending", "held", "aside", "refused"
CODE = {PENDING: "EPENDING", HELD: "EHELD", ASIDE: "EREVOKED"}


def static_verdict(x, root):
    """The verdicts that no other event can change (8.1); None when x goes on."""
    if x.error:
        return x.error
    if x.kind == 1 and x.author != root:
        return Refuse("EPERM", "author.kind")
    if x.author == root and (x.kind == 2 or x.kind in USER_KINDS):
        return Refuse("EPERM", "author.kind")
    if x.kind == 3 and x.b is not None and bytes.fromhex(x.b["key"]) == root:
        return Refuse("EPERM", "revoke.root")
    return None


def evaluate(H, now, root):
    """Section 8: the state of every event the receiver keeps, from the set H alone
    (a dict id -> Event) and the clock. Returns id -> (state, code, rule)."""
    st = {}
    live = []
    for x in H.values():
        if x.t > now + HOLD_MS:
            st[x.id] = (HELD, "EHELD", "clock.hold")
        else:
            live.append(x)

    # 8.2 the root's events and the site keys
    windows, root_revs = {}, {}
    for x in live:
        if x.author == root:
            st[x.id] = (ADMITTED, None, None)
            if x.kind == 1:
                windows.setdefault(bytes.fromhex(x.b["sign_key"]), []).append(
                    (x.b["not_before"], x.b["not_after"], x.b["site"]))
            elif x.kind == 3 and x.b is not None:
                root_revs.setdefault(bytes.fromhex(x.b["key"]), []).append(x)
    site_keys = set(windows)

    def names_at(k, t):
        return {s for nb, na, s in windows.get(k, []) if nb <= t and (na == 0 or t < na)}

    def covered(revs, x, reach_of):
        """The revocation rules 8.5: (rule, by_root) of the first that covers x."""
        for r, reach, by_root in revs:
            if max(r.b["effective"], reach) <= x.t:
                return "revoked.effective", by_root
        for r, reach, by_root in revs:
            v = r.b["vouch"]
            if max(v["from"], reach) <= x.t < v["to"] and x.id[:16].hex() not in \
                    [v["ids"][i:i + 32] for i in range(0, len(v["ids"]), 32)]:
                return "revoked.unvouched", by_root
        return None

    def site_check(x, name=None):
        """8.3: may site key x.author sign at x.t (as site `name`)?"""
        revs = [(r, 0, True) for r in root_revs.get(x.author, [])]
        c = covered(revs, x, None)
        if c:
            return (REFUSED, "EREVOKED", c[0])
        names = names_at(x.author, x.t)
        if not names or (name is not None and name not in names):
            return (PENDING, "EPENDING", "site.window")
        return None

    # 8.3 what site keys sign, enrolments first
    enrols_of = {}
    site_revs = []
    for x in live:
        if x.author == root or x.author not in site_keys:
            continue
        if x.kind in USER_KINDS:
            st[x.id] = (REFUSED, "EPERM", "author.kind")
        elif x.kind == 2:
            if bytes.fromhex(x.b["key"]) in site_keys:
                st[x.id] = (REFUSED, "EPERM", "enrol.site_key")
            else:
                st[x.id] = site_check(x, x.b["site"]) or (ADMITTED, None, None)
                if st[x.id][0] == ADMITTED:
                    enrols_of.setdefault(bytes.fromhex(x.b["key"]), []).append(x)
        elif x.kind == 3:
            site_revs.append(x)
        else:
            st[x.id] = site_check(x) or (ADMITTED, None, None)

    # 8.4 revocations by sites
    revs_of = {k: [(r, 0, True) for r in rs] for k, rs in root_revs.items()}
    for x in site_revs:
        bad = site_check(x)
        target = bytes.fromhex(x.b["key"])
        if bad:
            st[x.id] = bad
        elif target in site_keys:
            st[x.id] = (REFUSED, "EPERM", "revoke.site_key")
        else:
            names = names_at(x.author, x.t)
            auth = [e for e in enrols_of.get(target, []) if e.b["site"] in names]
            if not auth:
                st[x.id] = (PENDING, "EPENDING", "revoke.not_enrolled")
            else:
                st[x.id] = (ADMITTED, None, None)
                revs_of.setdefault(target, []).append((x, min(e.t for e in auth), False))

    # 8.5 what user keys and unknown keys sign
    for x in live:
        if x.id in st:
            continue
        a = x.author
        if a not in enrols_of:
            st[x.id] = (PENDING, "EPENDING", "author.unknown")
        elif x.kind in (2, 3):
            st[x.id] = (PENDING, "EPENDING", "author.not_site")
        elif x.t < min(e.t for e in enrols_of[a]):
            st[x.id] = (PENDING, "EPENDING", "user.before_enrolment")
        else:
            revs = revs_of.get(a, [])
            c_root = covered([r for r in revs if r[2]], x, None)
            c_site = covered([r for r in revs if not r[2]], x, None)
            if c_root:
                st[x.id] = (REFUSED, "EREVOKED", c_root[0])
            elif c_site:
                st[x.id] = (ASIDE, "EREVOKED", c_site[0])
            else:
                st[x.id] = (ADMITTED, None, None)

    # 8.6 redaction: who may erase, and copies without their body
    def enrol_at(k, t):
        es = [e for e in enrols_of.get(k, []) if e.t <= t]
        return max(es, key=Event.order_key) if es else None

    def allowed(r, target_author):
        if r.author == target_author:
            return True
        er, et = enrol_at(r.author, r.t), enrol_at(target_author, r.t)
        return bool(er and et and er.b["role"] == "admin" and er.b["site"] == et.b["site"])

    redactions = {}
    for x in live:
        if x.kind == 10 and st[x.id][0] == ADMITTED and x.b is not None:
            redactions.setdefault(bytes.fromhex(x.b["target"]), []).append(x)
    erased = set()
    for x in live:
        if st[x.id][0] != ADMITTED or x.kind in REDACTABLE_NOT:
            continue
        if any(allowed(r, x.author) for r in redactions.get(x.id, [])):
            erased.add(x.id)
        elif x.bare:
            st[x.id] = (REFUSED, "EINVAL", "redacted.no_redaction")
    return st, erased, enrols_of


def handles(H, st, enrols_of):
    """8.7: handle -> (site, key) from the admitted enrolments."""
    by_handle = {}
    for es in enrols_of.values():
        for e in es:
            by_handle.setdefault(e.b["handle"], []).append(e)
    out = {}
    for h, es in by_handle.items():
        es.sort(key=Event.order_key)
        owner = es[0].b["site"]
        cur = [e for e in es if e.b["site"] == owner][-1]
        out[h] = (owner, bytes.fromhex(cur.b["key"]))
    return out


class Receiver:
    def __init__(self, root, max_pending=1000):
        self.root, self.max_pending = root, max_pending
        self.H = {}
        self.now = 0
        self.state = {}
        self.erased = set()
        self.enrols = {}
        self.refused = []  # (event, code, rule) refused for good, to check at the end

    def _settle(self):
        """Recomputes the states; drops what is refused for good. Returns the changes."""
        before = {i for i, s in self.state.items() if s[0] == ADMITTED}
        while True:
            st, erased, enrols = evaluate(self.H, self.now, self.root)
            gone = [i for i, s in st.items() if s[0] == REFUSED]
            if not gone:
                break
            for i in gone:
                self.refused.append((self.H[i], st[i][1], st[i][2]))
                del self.H[i]
        self.state, self.erased, self.enrols = st, erased, enrols
        after = {i for i, s in st.items() if s[0] == ADMITTED}
        return after - before, before - after

    def kept_aside(self):
        return sum(1 for s in self.state.values() if s[0] != ADMITTED)

    def arrive(self, x):
        """Returns (code, rule, admitted ids, removed ids). The order of the checks is
        that of 8.1: decoding, duplicates, too far ahead, the body, who may sign."""
        if x.decoded is None:
            return (x.error.code, x.error.rule, set(), set())
        if x.id in self.H:
            s = self.state[x.id]
            return ("EEXIST" if s[0] == ADMITTED else s[1], s[2], set(), set())
        if x.t > self.now + FUTURE_MS:
            return ("EAGAIN", "clock.future", set(), set())
        v = static_verdict(x, self.root)
        if v is not None:
            return (v.code, v.rule, set(), set())
        full = self.kept_aside() >= self.max_pending
        self.H[x.id] = x
        plus, minus = self._settle()
        if x.id not in self.H:  # refused for good
            code, rule = next((c, r) for e, c, r in reversed(self.refused) if e is x)
            return (code, rule, plus, minus)
        s = self.state[x.id]
        if s[0] != ADMITTED and full:
            del self.H[x.id]
            plus2, minus2 = self._settle()
            return ("EFULL", "pending.full", plus | plus2, minus | minus2)
        plus.discard(x.id)
        return ("ok" if s[0] == ADMITTED else s[1], s[2], plus, minus)

    def tick(self, now):
        self.now = now
        return self._settle()

    def final(self):
        """The final state as sets of ids per state name, plus erased ids."""
        out = {ADMITTED: set(), PENDING: set(), HELD: set(), ASIDE: set()}
        for i, s in self.state.items():
            out[s[0]].add(i)
        return out


# ------------------------------------------------------------ the file

def read_file(path):
    parties, events, scenes = {}, {}, []
    block = []
    with open(path, encoding="utf-8", newline="\n") as f:
        lines = [l.rstrip("\n") for l in f] + [""]
    for line in lines:
        if line.startswith("#"):
            continue
        if line.startswith("party: "):
            name, first, pk = line[7:].split(" ")
            parties[name] = bytes.fromhex(pk)
            continue
        if line == "":
            if block:
                key0 = block[0].partition(": ")[0]
                if key0 == "event":
                    d = {}
                    for l in block:
                        k, _, v = l.partition(": ")
                        d[k] = v
                    events[d["event"]] = d
                elif key0 == "scene":
                    scenes.append(block)
                else:
                    raise SystemExit("%s: a block that is neither event nor scene: %r"
                                     % (path, block[0]))
            block = []
            continue
        block.append(line)
    return parties, events, scenes


def parse_scene(block):
    sc = {"steps": [], "final": {}, "handles": {}, "orders": "any", "max_pending": 1000,
          "erased": set()}
    for line in block:
        k, _, v = line.partition(":")
        v = v.strip()
        if k == "scene":
            sc["name"] = v
        elif k == "note":
            pass
        elif k == "orders":
            sc["orders"] = v
        elif k == "max_pending":
            sc["max_pending"] = int(v)
        elif k == "clock":
            words = v.split()
            step = ("clock", int(words[0]), words[1:])
            if "clock" not in sc:
                sc["clock"] = int(words[0])
            else:
                sc["steps"].append(step)
        elif k == "arrive":
            words = v.split()
            sc["steps"].append(("arrive", words[0], words[1], words[2:]))
        elif k in ("admitted", "pending", "held", "aside"):
            sc["final"][k] = set(v.split())
        elif k == "erased":
            sc["erased"] = set(v.split())
        elif k == "handle":
            h, site, who = v.split()
            sc["handles"][h] = (site, who)
        else:
            raise SystemExit("unknown scene line: %r" % line)
    return sc


def main():
    root_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root_dir, "tests/vectors/rules.txt")
    parties, raw_events, raw_scenes = read_file(path)
    root = parties["root"]
    fed = vv.federation_id(root)
    names = {pk: n for n, pk in parties.items()}
    passed = failed = 0

    def report(name, problems):
        nonlocal passed, failed
        if problems:
            failed += 1
            print("FAIL %s: %s" % (name, "; ".join(problems[:12])))
        else:
            passed += 1

    # The events: each decodes to the fields the file states.
    events = {}
    for label, d in raw_events.items():
        raw = bytes.fromhex(d["envelope"])
        x = Event(label, raw, fed, root)
        events[label] = x
        problems = []
        if x.decoded is not None:
            if x.id.hex() != d["id"]:
                problems.append("id")
            if x.kind != int(d["kind"]) or x.ts != int(d["timestamp"]):
                problems.append("kind or timestamp")
            if names.get(x.author) != d["author"]:
                problems.append("author")
            if (d["redacted"] == "yes") != x.bare:
                problems.append("redacted")
            if not x.bare and x.decoded["body"] != d["body"].encode("utf-8"):
                problems.append("body")
        report("event " + label, problems)

    labels_of = {}
    for label, x in events.items():
        if x.decoded is not None:
            labels_of.setdefault(x.id, []).append(label)

    def label(i, H=None):
        ls = labels_of[i]
        if H is not None and i in H and len(ls) > 1:
            return H[i].label
        return ls[0]

    def final_of(r):
        f = r.final()
        out = {k: {label(i, r.H) for i in v} for k, v in f.items()}
        hs = {h: (s, names.get(k, k.hex())) for h, (s, k) in handles(r.H, r.state,
                                                                     r.enrols).items()}
        return out, {label(i, r.H) for i in r.erased}, hs

    def check_final(r, sc, problems, what):
        out, erased, hs = final_of(r)
        for k in ("admitted", "pending", "held", "aside"):
            want = sc["final"].get(k, set())
            if out[k] != want:
                problems.append("%s: %s %s, want %s" % (what, k, sorted(out[k]), sorted(want)))
        if erased != sc["erased"]:
            problems.append("%s: erased %s, want %s" % (what, sorted(erased), sorted(sc["erased"])))
        for h, want in sc["handles"].items():
            if hs.get(h) != want:
                problems.append("%s: handle %s is %s, want %s" % (what, h, hs.get(h), want))
        # Every refusal for good is still one in the final state (but for a copy
        # without its body, the exception of 8.6).
        for x, code, rule in r.refused:
            if rule == "redacted.no_redaction":
                continue
            probe = dict(r.H)
            probe[x.id] = x
            st, _, _ = evaluate(probe, r.now, root)
            if st[x.id][0] != REFUSED:
                problems.append("%s: %s was refused for good (%s/%s) but the final state "
                                "would keep it as %s" % (what, x.label, code, rule, st[x.id][0]))

    codes_seen = set()
    for block in raw_scenes:
        sc = parse_scene(block)
        problems = []
        r = Receiver(root, sc["max_pending"])
        r.tick(sc["clock"])
        arrivals = []
        for step in sc["steps"]:
            if step[0] == "clock":
                _, now, changes = step
                plus, minus = r.tick(now)
                want = changes
                what = "clock %d" % now
            else:
                _, lab, expect, want = step
                x = events[lab]
                code, rule, plus, minus = r.arrive(x)
                if code != "EAGAIN":  # refused by the clock alone: offered again later
                    arrivals.append(x)
                got = code if rule is None or code in ("ok", "EEXIST") else "%s/%s" % (code, rule)
                codes_seen.add(code)
                if got != expect:
                    problems.append("%s: got %s, want %s" % (lab, got, expect))
                what = lab
            got_ch = {"+" + label(i) for i in plus} | {"-" + label(i) for i in minus}
            if got_ch != set(want):
                problems.append("%s: changes %s, want %s" % (what, sorted(got_ch), sorted(want)))
        check_final(r, sc, problems, "as written")
        # Other orders, at the last clock.
        if sc["orders"] == "any" and not problems:
            last = r.now
            n = len(arrivals)
            if n <= 7:
                orders = list(itertools.permutations(arrivals))
            else:
                rng = random.Random(sc["name"])
                orders = []
                for _ in range(200):
                    o = list(arrivals)
                    rng.shuffle(o)
                    orders.append(o)
                orders.append(list(reversed(arrivals)))
            for o in orders:
                r2 = Receiver(root, sc["max_pending"])
                r2.tick(last)
                for x in o:
                    r2.arrive(x)
                before = len(problems)
                check_final(r2, sc, problems, "order " + " ".join(x.label for x in o))
                if len(problems) > before:
                    break
        report("scene " + sc["name"], problems)

    # The file exercises every code of the rules.
    want_codes = {"ok", "EEXIST", "EPENDING", "EHELD", "EAGAIN", "EPERM", "EREVOKED", "EINVAL",
                  "EFULL", "EVERSION"}
    report("coverage of result codes", ["no arrival gives %s" % c
                                        for c in sorted(want_codes - codes_seen)])
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed < 2 else 0


if __name__ == "__main__":
    sys.exit(main())
