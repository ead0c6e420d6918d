"""Files between sites (PROTOCOL.md 18.6): real `comptoir` processes on
loopback linked over ZeroMQ CURVE in a chain paris - lyon - nantes.

    make && make build/tests/tools/hostile_peer
    python3 tests/integration/test_files_sync.py

- a 20 MB file uploaded at paris appears at lyon and nantes, byte for byte;
- lyon is killed (kill -9) half-way through a transfer and started again:
  the transfer resumes (bytes fetched in all < 1.5 x the file's size);
- the blob corrupted on lyon's disk is found when read and fetched again;
- a certified hostile peer serving a blob that does not match its manifest
  is refused and banned, and the honest copy arrives later;
- what is still to fetch shows per peer in /api/status and /metrics.

Ends with "N passed, M failed" and exits 1 on failure.
"""

import hashlib
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_federation as F  # noqa: E402  (its helpers: certify, join_node, ...)
from harness import Node  # noqa: E402

t = F.t
SIZE = 20 * 1024 * 1024
DEADLINE = 60.0


def pdf_bytes(size, seed):
    """A file the node takes as a PDF (PROTOCOL.md 18.2): %PDF- then bytes
    that differ from one seed to another."""
    head = b"%PDF-1.4\n"
    out = bytearray(head)
    block = hashlib.blake2b(seed.encode(), digest_size=64).digest()
    while len(out) < size:
        block = hashlib.blake2b(block, digest_size=64).digest()
        out += block * 64
    return bytes(out[:size])


def upload(client, name, data):
    r = client.request("POST", "/api/files?name=%s" % name, raw=data,
                       headers={"Content-Type": "application/octet-stream"})
    return r


def fetch(client, blob):
    r = client.get("/api/files/%s" % blob)
    return r.body if r.status == 200 else None


def files_of(node, site):
    p = F.peers(node).get(site) or {}
    return p.get("files") or {}


def file_sync(node):
    return node.status().get("file_sync") or {}


def blob_path(node, blob):
    return os.path.join(node.data, "blobs", blob[:2], blob)


def setup():
    A = Node("paris")
    F.PASSWORDS["alice"] = A.add_user("alice", admin=True, name="Alice")
    F.fast_sync(A)
    B = F.join_node("lyon")
    lyon_cert = F.certify(A, B)
    C = F.join_node("nantes")
    F.certify(A, C)
    paris_cert = F.certify(A, A, publish=False, install=False)
    for n in (B, C):
        F.fast_sync(n)
    # lyon fetches at 4 MiB/s: a 20 MB transfer lasts seconds, so that the
    # test can cut it half-way (sync.file_rate_kb, PROTOCOL.md 18.6).
    with open(B.config_path, "a") as f:
        f.write("  file_rate_kb: 4096\n")
    F.PASSWORDS["carol"] = C.add_user("carol", name="Carol")
    F.PASSWORDS["dave"] = B.add_user("dave", name="Dave")
    B.cli("peer", "add", paris_cert)
    C.cli("peer", "add", lyon_cert)
    for n in (A, B, C):
        n.start()
    ok = F.wait_until(lambda: F.linked(A, "lyon") and F.linked(B, "nantes") and F.linked(C, "lyon"))
    t.check(ok, "chain paris-lyon-nantes comes up")
    return A, B, C, paris_cert


def test_chain_resume_damage(A, B, C):
    a = F.login(A, "alice")
    data = pdf_bytes(SIZE, "twenty")
    r = upload(a, "plan.pdf", data)
    t.eq(r.status, 201, "20 MB upload at paris")
    if r.status != 201:
        return None
    blob = r.json["blob"]

    # Cut past half-way: lyon is killed once it holds 60% of it (a restart
    # from zero would then fetch 1.6 x the size).
    half = F.wait_until(lambda: files_of(B, "paris").get("bytes_in", 0) >= SIZE * 6 // 10, timeout=DEADLINE,
                        interval=0.05)
    before = files_of(B, "paris").get("bytes_in", 0)
    t.check(half and before < SIZE, "lyon is part-way through the transfer when cut (%d bytes)" % before)
    # While it comes: paris is what lyon still fetches from, in /api/status and /metrics.
    st = files_of(B, "paris")
    t.check(st.get("to_fetch", 0) >= 1 and st.get("to_fetch_bytes", 0) > 0,
            "lyon's status names what is still to fetch from paris", st)
    m = B.client().get("/metrics")
    t.check(m.status == 200 and b"comptoir_peer_files_to_fetch_bytes{site=\"paris\"" in m.body,
            "lyon's /metrics has the bytes still to fetch from paris")
    B.kill()
    B.start()
    ok = F.wait_until(lambda: os.path.exists(blob_path(B, blob)), timeout=DEADLINE)
    t.check(ok, "the transfer to lyon completes after the restart")
    fs = file_sync(B)
    after = files_of(B, "paris").get("bytes_in", 0)
    t.check(fs.get("resumed_bytes", 0) > 0, "lyon resumed from the chunks it had (%s)" % fs)
    t.check(before + after < 1.5 * SIZE,
            "bytes fetched by lyon in all (%d + %d) are under 1.5 x the size" % (before, after))

    # Identical bytes at lyon and nantes (nantes fetches from lyon).
    c = F.login(C, "carol")
    got = F.wait_until(lambda: fetch(c, blob), timeout=DEADLINE)
    t.check(got == data, "nantes serves the 20 MB file byte for byte")
    with open(blob_path(B, blob), "rb") as f:
        t.check(f.read() == data, "lyon's copy is byte for byte")

    # Damage on lyon's disk: found when read, moved aside, fetched again.
    os.chmod(blob_path(B, blob), 0o600)
    with open(blob_path(B, blob), "r+b") as f:
        f.seek(SIZE // 2)
        byte = f.read(1)
        f.seek(SIZE // 2)
        f.write(bytes([byte[0] ^ 0x55]))
    b = F.login(B, "dave")
    try:
        r = b.get("/api/files/%s" % blob, headers={"Range": "bytes=%d-%d" % (SIZE // 2, SIZE // 2 + 9)})
        served = r.status in (200, 206) and r.body != data[SIZE // 2:SIZE // 2 + 10]
    except (OSError, http.client.HTTPException):
        served = False  # the headers went, then the connection was cut: no damaged byte
    t.check(not served, "lyon never serves the damaged bytes")
    t.check(F.wait_until(lambda: os.path.exists(os.path.join(B.data, "blobs", "bad", blob)), timeout=10),
            "lyon moved the damaged blob to blobs/bad")
    ok = F.wait_until(lambda: os.path.exists(blob_path(B, blob)), timeout=DEADLINE)
    with open(blob_path(B, blob), "rb") as f:
        t.check(ok and f.read() == data, "lyon fetched the damaged blob again, byte for byte")
    return blob


def test_hostile(A, B, C):
    """A certified hostile peer serving chunks that do not match: banned."""
    if not os.path.exists(F.HOSTILE):
        t.check(False, "hostile peer tool built at %s" % F.HOSTILE)
        return
    h = F.join_node("h-blob")
    F.certify(A, h, install=False)
    a = F.login(A, "alice")
    # lyon uploads a file while paris and nantes are away, then loses its
    # copy: paris gets the event and wants the blob, and no honest site
    # holds it (nantes, linked, would fetch it from lyon within a second
    # and relay it).
    A.stop()
    C.stop()
    b = F.login(B, "dave")
    data = pdf_bytes(3 * 1024 * 1024 + 777, "hostile")
    r = upload(b, "h.pdf", data)
    t.eq(r.status, 201, "upload at lyon")
    blob = r.json["blob"]
    B.stop()
    keep = os.path.join(B.dir, "kept-blob")
    shutil.move(blob_path(B, blob), keep)
    A.start()
    B.start()
    t.check(F.wait_until(lambda: F.linked(A, "lyon")), "paris and lyon linked again")
    t.check(F.wait_until(lambda: a.get("/api/files/%s" % blob).status == 404), "paris knows the file, not its bytes")
    # "Arrives later": wanted, and no linked site holds it.
    t.check(F.wait_until(lambda: file_sync(A).get("unreachable", 0) >= 1),
            "paris's status counts the file no linked site holds", file_sync(A))
    t.check(F.wait_until(lambda: "no linked site holds now" in A.cli("status").stdout),
            "comptoir status at paris says the file arrives when the site that has it is linked")
    path = os.path.join(h.dir, "h.pdf")
    with open(path, "wb") as f:
        f.write(data)
    p = F.hostile(A, h, "badblob", path, timeout=60)
    t.check("sent" in p.stdout and "bad chunks" in p.stdout, "the hostile peer served bad chunks", p.stdout)
    log = F.log_of(A)
    t.check("site=h-blob" in log and "does not match its manifest" in log,
            "paris logs the ban of h-blob for a chunk that does not match")
    hp = F.peers(A).get("h-blob") or {}
    t.check((hp.get("files") or {}).get("refused", 0) >= 1 and not hp.get("connected"),
            "paris counts h-blob's refused chunk and dropped its link", hp)
    t.check(a.get("/api/files/%s" % blob).status == 404, "paris stored nothing of the bad chunks")
    # The honest copy comes back at lyon: paris fetches it from there.
    os.rename(keep, blob_path(B, blob))
    got = F.wait_until(lambda: fetch(a, blob), timeout=DEADLINE)
    t.check(got == data, "paris gets the honest bytes from lyon")


def main():
    A, B, C, _ = setup()
    try:
        test_chain_resume_damage(A, B, C)
        test_hostile(A, B, C)
    finally:
        for n in (A, B, C):
            n.stop()
    t.finish()


if __name__ == "__main__":
    main()
