"""A full disk, for real: a small tmpfs mounted in a private mount namespace
(`unshare -m` as root, `unshare -rm` otherwise; the mount vanishes with the
test). A node whose disk fills up answers 507 naming "no space left on
device" and its directory, logs the same, loses nothing acknowledged, and
takes writes again once space is freed; `init` on a disk too full leaves
nothing half written behind, whatever the room left.

Run from the repository root: python3 tests/integration/test_diskfull.py
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MARK = "COMPTOIR_DISKFULL_NS"


def enter_namespace():
    """Re-runs this script in a private mount namespace, or says why not."""
    if os.environ.get(MARK) == "1":
        return
    env = dict(os.environ, **{MARK: "1"})
    for cmd in (["unshare", "-m", "--propagation", "private"],
                ["unshare", "-r", "-m", "--propagation", "private"]):
        try:
            ok = subprocess.run(cmd + ["sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=64k "
                                       "tmpfs $d && umount $d && rmdir $d"],
                                capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            sys.stdout.flush()
            os.execvpe(cmd[0], cmd + [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)
    print("SKIP: no tmpfs can be mounted here (needs root, or unprivileged user namespaces)")
    print("0 passed, 0 failed")
    sys.exit(0)


enter_namespace()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Node, Runner, run_cli  # noqa: E402

t = Runner()
mounts = []


def mount(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % size, "tmpfs", path],
                   check=True)
    mounts.append(path)


def umount(path):
    subprocess.run(["umount", path], check=False)
    if path in mounts:
        mounts.remove(path)


def fill(path, leave=0):
    """Takes every byte of path's file system but about leave."""
    st = os.statvfs(path)
    avail = st.f_bavail * st.f_frsize
    name = os.path.join(path, "filler-%d" % len(os.listdir(path)))
    with open(name, "wb") as f:
        if avail > leave:
            try:
                os.posix_fallocate(f.fileno(), 0, avail - leave)
            except OSError:
                pass
    return name


def test_init_on_full_disk(root):
    """Whatever the room left, init either makes a whole node or nothing."""
    failed = made = 0
    for leave in range(0, 320 * 1024, 8 * 1024):
        disk = os.path.join(root, "disk-%d" % leave)
        mount(disk, 1024 * 1024)
        fill(disk, leave)
        d = os.path.join(disk, "node")
        p = run_cli("init", "--dir", d, "--site", "full", check=False)
        if p.returncode == 0:
            made += 1
            c = run_cli("run", "--check", "--dir", d, check=False)
            t.check(c.returncode == 0, "init with %d KiB left: a whole node" % (leave // 1024),
                    (c.stdout, c.stderr))
        else:
            failed += 1
            t.check("no space left on device" in p.stderr and d in p.stderr,
                    "init with %d KiB left: the failure names the full disk" % (leave // 1024),
                    p.stderr)
            t.check(not os.path.exists(d),
                    "init with %d KiB left: nothing is left behind" % (leave // 1024),
                    sorted(os.listdir(d)) if os.path.isdir(d) else None)
            leftovers = [f for f in os.listdir(disk) if not f.startswith("filler-")]
            t.check(not leftovers, "init with %d KiB left: no temporary file either" %
                    (leave // 1024), leftovers)
        umount(disk)
        os.rmdir(disk)
    t.check(failed >= 3 and made >= 1, "some inits failed for lack of space, some had enough",
            (failed, made))


def test_node_on_full_disk():
    n = Node("full", init=False)
    mount(n.data, 8 * 1024 * 1024)
    try:
        n.init()
        pw = n.add_user("alice", admin=True)
        # Thousands of posts from one person: the write limit is not what is tested.
        n.set_limits(writes_per_minute=100000, writes_burst=100000)
        n.start()
        c = n.client()
        c.login("alice", pw)
        acked = []
        for i in range(5):
            r = c.post("/api/posts", {"text": "before the disk fills %d" % i})
            t.eq(r.status, 201, "post %d before the disk fills" % i)
            acked.append(r.json["id"])
        filler = fill(n.data)
        refused = None
        for i in range(3000):
            r = c.post("/api/posts", {"text": "while the disk is full %d %s" % (i, "y" * 500)})
            if r.status == 201:
                acked.append(r.json["id"])
                continue
            refused = r
            break
        t.check(refused is not None and refused.status == 507,
                "a post on a full disk is answered 507", refused)
        if refused is not None and refused.json:
            msg = refused.json.get("error", "")
            t.check("no space left on device" in msg and n.data in msg,
                    "the answer names the full disk and its directory", msg)
        t.check(n.running(), "the node is still running")
        t.check(c.get("/api/feed").status == 200, "reading still works on a full disk")
        log = n.log_tail(200)
        t.check("no space left on device (%s)" % n.data in log, "the log names the full disk",
                log[-800:])
        t.check("input/output error" not in log, "the log does not say input/output error")
        pf = os.path.join(n.dir, "pw-bob")
        with open(pf, "w") as f:
            f.write("a-long-enough-password\n")
        # What the node's own threads freed since (a search batch, a
        # checkpoint of its journal) is taken too: the disk is full again.
        fillers = [filler, fill(n.data)]
        p = n.cli("user", "add", "bob", "--password-file", pf, check=False)
        # The CLI's write may still fit in pages the store's file already
        # holds (LMDB reuses its free pages): then bob is there. When it
        # does not fit, the CLI says why, naming the disk.
        if p.returncode == 0:
            t.check("bob" in n.cli("user", "list").stdout, "the CLI's write fit: bob is enrolled")
        else:
            t.check(p.returncode == 1 and "no space left on device (%s)" % n.data in p.stderr,
                    "the CLI names the full disk", (p.returncode, p.stderr))
        # Space comes back: writes go on, nothing acknowledged was lost. The
        # node's own threads (the search index catching up on what it could
        # not write) may take some of it first: the post is tried again.
        for f in fillers:
            os.unlink(f)
        deadline = time.monotonic() + 30
        while True:
            r = c.post("/api/posts", {"text": "after space was freed"})
            if r.status == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        t.eq(r.status, 201, "a post once space is freed")
        if r.status == 201:
            acked.append(r.json["id"])
        t.eq(n.stop(), 0, "the node stops cleanly")
        ids = {json.loads(l)["id"] for l in n.cli("export").stdout.splitlines() if l.strip()}
        missing = [a for a in acked if a not in ids]
        t.check(not missing, "every acknowledged post is in the store (%d)" % len(acked), missing[:3])
        v = n.cli("verify", check=False)
        t.eq(v.returncode, 0, "the store verifies")
    finally:
        n.stop()
        umount(n.data)
        n.cleanup()


def main():
    root = tempfile.mkdtemp(prefix="diskfull-")
    try:
        test_init_on_full_disk(root)
        test_node_on_full_disk()
    finally:
        for m in list(mounts):
            umount(m)
        shutil.rmtree(root, ignore_errors=True)
    t.finish()


if __name__ == "__main__":
    main()
