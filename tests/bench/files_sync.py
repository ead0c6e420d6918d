"""Replication throughput of files between two sites on loopback, against
rsync of the same files (issue 20's benchmark).

Run from the repository root after `make`:
    python3 tests/bench/files_sync.py [BIG_MB] [SMALL_COUNT]

Paris (root) holds the files: one of BIG_MB MiB (default 200) and
SMALL_COUNT of 1 MiB (default 100), uploaded while lyon is stopped. Lyon is
then started (it dials paris over CURVE) and the clock runs from its start
to the moment every blob file is in place at lyon (polled every 10 ms).
The same files are then copied by `rsync -a` from an rsync daemon on
loopback (rsync://127.0.0.1:PORT/, a real TCP transfer; no ssh), and by a
plain TCP copy (Python sendfile, the loopback's ceiling), each into an
empty folder, fsync'd. Printed: MB/s of each and the ratios. rsync is a
tool of this benchmark only (`apt-get install rsync`; make check does not
need it): missing, its line says so.
COMPTOIR_BIN picks the binary; COMPTOIR_KEEP=1 keeps the directories.
"""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import test_federation as F  # noqa: E402
from harness import Node, free_port  # noqa: E402

BIG_MB = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SMALL = int(sys.argv[2]) if len(sys.argv) > 2 else 100
MB = 1024 * 1024


def pdf(size, seed):
    out = bytearray(b"%PDF-1.4\n")
    block = hashlib.blake2b(seed.encode(), digest_size=64).digest()
    while len(out) < size:
        block = hashlib.blake2b(block, digest_size=64).digest()
        out += block * 1024
    return bytes(out[:size])


def blob_files(node):
    root = os.path.join(node.data, "blobs")
    out = []
    for d in sorted(os.listdir(root)):
        if len(d) == 2:
            out += [os.path.join(root, d, f) for f in sorted(os.listdir(os.path.join(root, d)))
                    if len(f) == 64]
    return out


def fsync_tree(path):
    for dp, _, fs in os.walk(path):
        for f in fs:
            fd = os.open(os.path.join(dp, f), os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)


def tcp_copy(files, dest):
    """Each file sent with sendfile over one loopback connection."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve():
        c, _ = srv.accept()
        for p in files:
            size = os.path.getsize(p)
            c.sendall(size.to_bytes(8, "big"))
            with open(p, "rb") as f:
                c.sendfile(f)
        c.close()

    th = threading.Thread(target=serve)
    th.start()
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port))
    for i, _ in enumerate(files):
        size = int.from_bytes(s.recv(8, socket.MSG_WAITALL), "big")
        with open(os.path.join(dest, "f%05d" % i), "wb") as f:
            left = size
            while left:
                b = s.recv(min(left, 1 << 20))
                f.write(b)
                left -= len(b)
    s.close()
    fsync_tree(dest)
    dt = time.monotonic() - t0
    th.join()
    srv.close()
    return dt


def rsync_copy(src, dest):
    rsync = shutil.which("rsync")
    if rsync is None:
        return None
    port = free_port()
    conf = os.path.join(dest + ".conf")
    with open(conf, "w") as f:
        # As this user: a daemon started by root would read as nobody, and
        # blobs/ is 0700.
        f.write("use chroot = no\nport = %d\naddress = 127.0.0.1\nuid = %d\ngid = %d\n"
                "[blobs]\npath = %s\nread only = yes\n" % (port, os.getuid(), os.getgid(), src))
    d = subprocess.Popen([rsync, "--daemon", "--no-detach", "--config", conf])
    time.sleep(0.5)
    t0 = time.monotonic()
    subprocess.run([rsync, "-a", "rsync://127.0.0.1:%d/blobs/" % port, dest + "/"], check=True)
    fsync_tree(dest)
    dt = time.monotonic() - t0
    d.terminate()
    d.wait()
    return dt


def main():
    A = Node("paris")
    F.PASSWORDS["alice"] = A.add_user("alice", admin=True, name="Alice")
    B = F.join_node("lyon")
    F.certify(A, B)
    paris_cert = F.certify(A, A, publish=False, install=False)
    B.cli("peer", "add", paris_cert)
    # The big file is over the default limits.max_file_mb (100).
    A.set_limits(max_file_mb=max(BIG_MB + 1, 100), request_timeout=3600)
    A.start()
    a = F.login(A, "alice")
    total = 0
    for i, size in enumerate([BIG_MB * MB] + [MB] * SMALL):
        r = a.request("POST", "/api/files?name=f%d.pdf" % i, raw=pdf(size, "s%d" % i),
                      headers={"Content-Type": "application/octet-stream"})
        assert r.status == 201, r
        total += size
    files = blob_files(A)
    B.start()
    t0 = time.monotonic()
    want = {os.path.basename(p) for p in files}
    while True:
        have = {os.path.basename(p) for p in blob_files(B)}
        if want <= have:
            break
        time.sleep(0.01)
    dt_cpt = time.monotonic() - t0
    st = F.peers(B).get("paris", {}).get("files", {})
    A.stop()
    B.stop()

    work = tempfile.mkdtemp(prefix="files-bench-")
    os.makedirs(os.path.join(work, "tcp"))
    dt_tcp = tcp_copy(files, os.path.join(work, "tcp"))
    src = os.path.join(A.data, "blobs")
    dt_rsync = rsync_copy(src, os.path.join(work, "rsync"))
    if not os.environ.get("COMPTOIR_KEEP"):
        shutil.rmtree(work, True)

    mbs = lambda dt: total / MB / dt  # noqa: E731
    print("files: 1 x %d MiB + %d x 1 MiB = %.0f MiB, %d blob files (thumbnails none)"
          % (BIG_MB, SMALL, total / MB, len(files)))
    print("comptoir paris -> lyon (CURVE, checked chunks, fsync): %.2f s, %.1f MB/s (chunk bytes in: %s)"
          % (dt_cpt, mbs(dt_cpt), st.get("bytes_in")))
    print("plain TCP copy (sendfile, fsync):                       %.2f s, %.1f MB/s; comptoir/tcp = %.2f"
          % (dt_tcp, mbs(dt_tcp), dt_tcp / dt_cpt))
    if dt_rsync is None:
        print("rsync: not installed on this machine (apt-get install rsync: this benchmark only)")
    else:
        print("rsync -a over rsync:// on loopback (fsync):             %.2f s, %.1f MB/s; comptoir/rsync = %.2f"
              % (dt_rsync, mbs(dt_rsync), dt_rsync / dt_cpt))


if __name__ == "__main__":
    main()
