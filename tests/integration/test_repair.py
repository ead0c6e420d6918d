"""A damaged store is refused, not crashed on, and a site is repaired from
its peers: real `comptoir` processes, a two-site federation (paris, lyon
dialing paris), lyon's data.mdb damaged in several ways (cut short, spans of
pages overwritten, meta pages overwritten, emptied, removed).

For each damage, status, verify, export, run --check and run must end with
a clear message (naming the file and `comptoir repair`) and never die of a
signal. Then `comptoir repair` rebuilds lyon's store; restarted, lyon
converges to the same export as paris, including a post only lyon held
that was still readable.

Run from the repository root: python3 tests/integration/test_repair.py
"""

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BIN, Node, Runner, certify_site, run_cli  # noqa: E402

DEADLINE = 30.0
FAST_SYNC = "sync:\n  heartbeat_ms: 200\n  reconcile_interval: 2\n"
PAGE = 4096

t = Runner()


def wait_until(fn, timeout=DEADLINE, interval=0.2):
    return harness.wait_until(fn, timeout, interval)


def export_lines(node):
    """Every event as exported, as a set of JSON texts; None when it fails."""
    p = run_cli("export", "--dir", node.data, check=False)
    if p.returncode != 0:
        return None
    return {json.dumps(json.loads(l), sort_keys=True) for l in p.stdout.splitlines() if l.strip()}


def export_ids(node):
    lines = export_lines(node) or set()
    return {json.loads(l)["id"] for l in lines}


def linked(node, site):
    for p in node.status()["peers"]:
        if p["site"] == site and p["connected"]:
            return True
    return False


def signal_death(p):
    """A process killed by a signal (Python: negative), or a shell's 128+N."""
    return p.returncode < 0 or p.returncode in (128 + 6, 128 + 7, 128 + 11)


def store_file(node):
    return os.path.join(node.data, "store", "data.mdb")


def lmdb_bytes(path):
    """The bytes of LMDB's pages in data.mdb: (last page + 1) * PAGE, from
    the newer of its two meta pages (MDB_meta after the 16-byte page
    header: the last page at 136, the transaction id at 144)."""
    with open(path, "rb") as f:
        head = f.read(2 * PAGE)
    metas = [struct.unpack_from("<QQ", head, p * PAGE + 136) for p in (0, 1)]
    last, _ = max(metas, key=lambda m: m[1])
    return (last + 1) * PAGE


def garble(path, first_page, pages, seed):
    """Overwrites pages first_page.. with bytes from a seeded generator."""
    rnd = random.Random(seed)
    with open(path, "r+b") as f:
        f.seek(first_page * PAGE)
        f.write(bytes(rnd.getrandbits(8) for _ in range(pages * PAGE)))


def run_node(node, *extra, timeout=30):
    """`comptoir run` in the foreground: returns the CompletedProcess, or
    None when it was still serving after timeout (it was then stopped)."""
    env = dict(os.environ, COMPTOIR_ALLOW_ROOT="1")
    p = subprocess.Popen([BIN, "run", "--dir", node.data] + list(extra), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return None
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def commands_refuse(node, what, needle):
    """Every command that reads the store ends with a message and no signal."""
    for args in (("status",), ("verify",), ("export",), ("user", "list")):
        p = node.cli(*args, check=False)
        t.check(not signal_death(p), "%s: %s does not die of a signal" % (what, args[0]),
                (p.returncode, p.stderr[-400:]))
        if args[0] in ("verify", "export"):
            t.check(p.returncode == 1 and needle in p.stderr and "comptoir repair --dir" in p.stderr
                    and node.data in p.stderr,
                    "%s: %s refuses, naming the file and the repair" % (what, args[0]),
                    (p.returncode, p.stderr[-600:]))
    for extra in (("--check",), ()):
        p = run_node(node, *extra)
        t.check(p is not None, "%s: run %s does not serve a damaged store" % (what, " ".join(extra)))
        if p is None:
            continue
        t.check(not signal_death(p) and p.returncode == 1 and needle in p.stderr
                and "comptoir repair --dir" in p.stderr,
                "%s: run %s refuses with a message" % (what, " ".join(extra)),
                (p.returncode, p.stderr[-600:]))


def main():
    work = tempfile.mkdtemp(prefix="repairtest-")
    # Every process of the test (verify's scratch stores among them) keeps
    # its temporary files here, where the test can look for leftovers.
    os.environ["TMPDIR"] = tempfile.tempdir = os.path.join(work, "tmp")
    os.mkdir(tempfile.tempdir)
    try:
        run_test(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    t.finish()


def run_test(work):
    paris = Node("paris")
    lyon = Node("lyon", init=False)
    run_cli("init", "--dir", lyon.data, "--site", "lyon", "--http", "127.0.0.1:%d" % lyon.http_port,
            "--listen", "tcp://127.0.0.1:%d" % lyon.listen_port, "--join")
    pw_alice = paris.add_user("alice", admin=True)
    certify_site(paris, lyon, into=paris)
    paris_cert = certify_site(paris, paris, install=False)
    for n in (paris, lyon):
        with open(n.config_path, "a") as f:
            f.write("\n" + FAST_SYNC)
    pw_bob = lyon.add_user("bob")
    lyon.cli("peer", "add", paris_cert)
    paris.start()
    lyon.start()
    t.check(wait_until(lambda: linked(lyon, "paris")), "lyon links to paris")

    a = paris.client()
    a.login("alice", pw_alice)
    b = lyon.client()
    b.login("bob", pw_bob)
    for i in range(60):
        r = a.post("/api/posts", {"text": "paris post %d %s" % (i, "x" * (i * 7 % 300))})
        if r.status != 201:
            t.check(False, "post at paris", r)
            break
    for i in range(30):
        r = b.post("/api/posts", {"text": "lyon post %d" % i})
        if r.status != 201:
            t.check(False, "post at lyon", r)
            break
        b.post("/api/posts/%s/comments" % r.json["id"], {"text": "comment %d" % i})
    t.check(wait_until(lambda: export_ids(paris) == export_ids(lyon) and len(export_ids(paris)) > 120),
            "the two sites converge", (len(export_ids(paris)), len(export_ids(lyon))))

    # A post only lyon holds: paris is down when it is made.
    paris.stop()
    secret = "only lyon has this one %s" % os.urandom(6).hex()
    r = b.post("/api/posts", {"text": secret})
    t.eq(r.status, 201, "post at lyon while paris is down")
    only_lyon = r.json["id"]
    # And a long one: its stored value is on overflow pages, which the
    # repair reaches from the entry of the leaf page that points there.
    secret_long = "only lyon has this long one %s " % os.urandom(6).hex() + "y" * 5000
    r = b.post("/api/posts", {"text": secret_long})
    t.eq(r.status, 201, "a long post at lyon while paris is down")
    only_lyon_long = r.json["id"]
    lyon.stop()

    # A compacted copy has no free pages: every page damaged below is one the
    # store uses (damage to a free page is harmless and would test nothing).
    bk = os.path.join(work, "bk")
    lyon.cli("backup", bk)
    os.unlink(os.path.join(lyon.data, "store", "lock.mdb"))
    shutil.copyfile(os.path.join(bk, "store", "data.mdb"), store_file(lyon))
    t.eq(lyon.cli("verify", check=False).returncode, 0, "the compacted store verifies")
    pristine = os.path.join(work, "pristine")
    shutil.copytree(lyon.data, pristine)
    # LMDB's pages: the file may hold written room beyond them (zeros,
    # store.c's s_headroom), whose loss or damage harms nothing, so cuts
    # and damage are measured from the pages.
    size = lmdb_bytes(store_file(lyon))
    t.check(size <= os.path.getsize(store_file(lyon)), "the file holds LMDB's pages")
    pages = size // PAGE
    with open(store_file(lyon), "rb") as f:
        data = f.read()
    secret_pages = set()
    for text in (secret, secret_long):
        at = data.find(text.encode())
        t.check(at >= 0, "the post only lyon has is in its store file")
        while at >= 0:
            for pg in range(at // PAGE, (at + len(text)) // PAGE + 1):
                secret_pages.add(pg)
            at = data.find(text.encode(), at + 1)
    # The entries that point to the long one's overflow pages (its id is their key).
    at = data.find(bytes.fromhex(only_lyon_long))
    while at >= 0:
        secret_pages.add(at // PAGE)
        at = data.find(bytes.fromhex(only_lyon_long), at + 1)

    def reset():
        shutil.rmtree(lyon.data)
        shutil.copytree(pristine, lyon.data)

    def span_avoiding(frac, n):
        """n pages from about frac of the file, not over the secret post."""
        first = max(2, int(pages * frac))
        while any(p in secret_pages for p in range(first, first + n)):
            first += 1
        return first

    # ----------------------------------------------------- damage, refused
    damages = [
        ("cut to half its size", lambda: os.truncate(store_file(lyon), size // 2), "truncated"),
        ("cut by one page", lambda: os.truncate(store_file(lyon), size - PAGE), "truncated"),
        ("meta page 0 overwritten", lambda: garble(store_file(lyon), 0, 1, 1), "meta page 0"),
        ("meta page 1 overwritten", lambda: garble(store_file(lyon), 1, 1, 2), "meta page 1"),
    ]
    for k, frac in enumerate((0.15, 0.4, 0.65, 0.9)):
        first = span_avoiding(frac, 3)
        damages.append(("pages %d-%d overwritten" % (first, first + 2),
                        lambda first=first, k=k: garble(store_file(lyon), first, 3, 10 + k),
                        "damaged"))
    for what, damage, needle in damages:
        reset()
        damage()
        commands_refuse(lyon, what, needle)

    # A missing or empty data.mdb is refused, not replaced by an empty store.
    for what, damage in (("data.mdb emptied", lambda: os.truncate(store_file(lyon), 0)),
                         ("data.mdb removed", lambda: os.unlink(store_file(lyon)))):
        reset()
        damage()
        for args in (("status",), ("export",), ("user", "list"), ("run", "--check")):
            p = lyon.cli(*args, check=False)
            t.check(p.returncode == 1 and "no store here" in p.stderr
                    and "comptoir repair --dir" in p.stderr and "restore" in p.stderr,
                    "%s: %s says there is no store" % (what, args[0]), (p.returncode, p.stderr))
        st = os.stat(store_file(lyon)) if os.path.exists(store_file(lyon)) else None
        t.check(st is None or st.st_size == 0, "%s: no empty store was made in its place" % what)

    # --------------------------------------------- repair, then converge
    def repair_and_converge(what, want_secret):
        # want_secret: the post only lyon had survived the damage; paris
        # never had it, so it can only reach paris from the repaired store.
        p = lyon.cli("repair", check=False)
        t.check(p.returncode == 0 and "moved the damaged store to" in p.stdout
                and "stored again" in p.stdout,
                "%s: repair runs" % what, (p.returncode, p.stdout, p.stderr))
        moved = [d for d in os.listdir(lyon.data) if d.startswith("store.damaged-")]
        t.check(moved, "%s: the damaged store is kept" % what)
        v = lyon.cli("verify", check=False)
        t.check(v.returncode == 0, "%s: the repaired store verifies" % what, v.stderr[-400:])
        paris.start()
        lyon.start()
        ok = wait_until(lambda: (export_lines(paris) or {1}) == (export_lines(lyon) or {2}))
        t.check(ok, "%s: lyon converges to the same export as paris" % what,
                (len(export_lines(paris) or ()), len(export_lines(lyon) or ())))
        if want_secret:
            t.check(only_lyon in export_ids(paris),
                    "%s: paris gets the post only lyon had, kept by the repair" % what)
            t.check(only_lyon_long in export_ids(paris),
                    "%s: paris gets the long post only lyon had, kept by the repair" % what)
        r = b.login("bob", pw_bob, check=False)
        t.eq(r.status, 200, "%s: bob logs in at lyon again" % what)
        paris.stop()
        lyon.stop()

    reset()
    first = span_avoiding(0.5, 4)
    garble(store_file(lyon), first, 4, 99)
    repair_and_converge("pages overwritten", True)

    reset()
    os.truncate(store_file(lyon), size // 2)
    repair_and_converge("cut to half", False)

    # No store at all: the peers fill a new one. The list of peers added
    # with `peer add` lives in the store, and in peers.txt beside it.
    reset()
    os.unlink(store_file(lyon))
    p = lyon.cli("repair", check=False)
    t.check(p.returncode == 0 and "has no store" in p.stdout and "kept 1 peer" in p.stdout,
            "no store: repair makes a new one and keeps the peer added", (p.stdout, p.stderr))
    paris.start()
    lyon.start()
    ok = wait_until(lambda: (export_lines(paris) or {1}) == (export_lines(lyon) or {2}))
    t.check(ok, "no store: lyon is filled again by paris, to the same export",
            (len(export_lines(paris) or ()), len(export_lines(lyon) or ()), lyon.log_tail()))
    t.check(only_lyon in export_ids(lyon), "no store: the post only lyon had comes back from paris")
    paris.stop()
    lyon.stop()

    # A store that is not damaged is left alone.
    p = lyon.cli("repair", check=False)
    t.check(p.returncode == 0 and "not damaged" in p.stdout, "a sound store is not repaired", p.stdout)
    v = [d for d in os.listdir(os.environ["TMPDIR"]) if d.startswith("comptoir-verify-")]
    t.check(not v, "verify left no scratch directory behind", v)


if __name__ == "__main__":
    main()
