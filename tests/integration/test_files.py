"""Files over HTTP with a real `comptoir` process on loopback (PROTOCOL.md
18, docs/API.md "Files"):

- an upload comes back byte for byte (20 MB, chunked too), with the headers
  of 18.8: type from the content, nosniff, sandbox, attachment for anything
  but pictures, ETag = blob id, immutable cache; a Range gives 206;
- a picture gets thumbnails (WebP, no EXIF) and its dimensions;
- limits: over limits.max_file_mb is 413, SVG/HTML and unknown types 415,
  and none of them leaves a blob on disk; a cut upload leaves nothing;
- a post carries its files; kill -9 after the 201 keeps the file;
- deleting the file event erases its blob on disk, never served again;
- no session, no file.

    make && python3 tests/integration/test_files.py
"""

import glob
import hashlib
import os
import socket
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, Runner  # noqa: E402

t = Runner()


def blobs(n):
    """The blob files under the data directory (complete ones only)."""
    return sorted(p for p in glob.glob(os.path.join(n.data, "blobs", "??", "*"))
                  if not p.endswith(".map"))


def wait_log(n, text, timeout=60.0):
    """Waits until the node's log holds text (a condition, not a fixed time)."""
    import time
    end = time.time() + timeout
    while time.time() < end:
        with open(n.log_path, errors="replace") as fh:
            if text in fh.read():
                return True
        time.sleep(0.05)
    return False


def webp_has_chunk(b, tag):
    """Walks the RIFF chunks of a WebP file for tag."""
    import struct
    off = 12
    while off + 8 <= len(b):
        fourcc, size = b[off:off + 4], struct.unpack("<I", b[off + 4:off + 8])[0]
        if fourcc == tag:
            return True
        off += 8 + size + (size & 1)
    return False


def tmp_files(n):
    return glob.glob(os.path.join(n.data, "blobs", "tmp", "*"))


def upload(c, name, data, **kw):
    return c.post("/api/files?name=" + urllib.parse.quote(name), raw=data,
                  content_type="application/octet-stream", **kw)


def png(w, h):
    """A real PNG of w x h pixels (zlib, no library)."""
    import struct
    import zlib
    raw = b"".join(b"\x00" + bytes((x * 7 + y) % 256 for x in range(w * 3)) for y in range(h))

    def chunk(tag, body):
        return (struct.pack(">I", len(body)) + tag + body +
                struct.pack(">I", zlib.crc32(tag + body) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_roundtrip(n, c, f):
    data = os.urandom(20 * 1024 * 1024)
    pdf = b"%PDF-1.4\n" + data
    r = upload(c, "rapport quai 3.pdf", pdf)
    t.eq(r.status, 201, "a 20 MB PDF is stored")
    f.update(r.json or {})
    t.eq(f.get("size"), len(pdf), "its size")
    t.eq(f.get("type"), "application/pdf", "its type from the content")
    got = c.get(f.get("url", "/api/files/x"))
    t.eq(got.status, 200, "it is served")
    t.check(hashlib.sha256(got.body).digest() == hashlib.sha256(pdf).digest(),
            "the same bytes come back", len(got.body))
    h = got.headers
    t.eq(h.get("content-type"), "application/pdf", "Content-Type from the stored type")
    t.eq(h.get("x-content-type-options"), "nosniff", "nosniff")
    t.check("sandbox" in h.get("content-security-policy", ""), "sandboxed", h)
    t.check(h.get("content-disposition", "").startswith("attachment; filename*=UTF-8''rapport%20quai%203.pdf"),
            "a PDF is an attachment with its name", h.get("content-disposition"))
    t.eq(h.get("etag"), '"%s"' % f.get("blob"), "ETag is the blob id")
    t.check("immutable" in h.get("cache-control", ""), "cached for ever", h.get("cache-control"))
    rg = c.get(f["url"], headers={"Range": "bytes=100-199"})
    t.eq(rg.status, 206, "a range gives 206")
    t.eq(rg.body, pdf[100:200], "the bytes of the range")
    t.eq(rg.headers.get("content-range"), "bytes 100-199/%d" % len(pdf), "Content-Range")
    tail = c.get(f["url"], headers={"Range": "bytes=-10"})
    t.eq(tail.body, pdf[-10:], "a suffix range")
    bad = c.get(f["url"], headers={"Range": "bytes=%d-" % (len(pdf) + 5)})
    t.eq(bad.status, 416, "a range past the end is 416")
    nm = c.get(f["url"], headers={"If-None-Match": '"%s"' % f["blob"]})
    t.eq(nm.status, 304, "If-None-Match of the id is 304")
    # Chunked transfer: the same blob (same id, stored once).
    r2 = upload(c, "again.pdf", pdf, chunked=True)
    t.eq(r2.status, 201, "a chunked upload is stored")
    t.eq((r2.json or {}).get("blob"), f["blob"], "same bytes, same blob id")
    f["events"] = [f["id"], (r2.json or {}).get("id")]


def test_picture(n, c):
    img = png(1600, 900)
    r = upload(c, "quai.png", img)
    t.eq(r.status, 201, "a PNG is stored")
    f = r.json or {}
    t.eq((f.get("w"), f.get("h")), (1600, 900), "its dimensions")
    th = f.get("thumbs") or []
    t.eq([(x.get("w"), x.get("h")) for x in th], [(320, 180), (1280, 720)],
         "two WebP thumbnails, 320 and 1280")
    got = c.get(f["url"])
    t.eq(got.headers.get("content-disposition"), "inline", "a picture is shown inline")
    tg = c.get("/api/files/" + th[0]["blob"]) if th else None
    t.check(tg is not None and tg.status == 200 and tg.body[:4] == b"RIFF" and
            tg.headers.get("content-type") == "image/webp", "the thumbnail is WebP",
            tg and tg.status)
    if tg is not None and os.environ.get("FILES_DUMP"):
        open(os.environ["FILES_DUMP"], "wb").write(tg.body)
    t.check(tg is not None and not webp_has_chunk(tg.body, b"EXIF") and
            not webp_has_chunk(tg.body, b"XMP "), "no EXIF or XMP chunk in the thumbnail")


def test_refused(n, c):
    before = blobs(n)
    r = upload(c, "x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
    t.eq(r.status, 415, "SVG is refused")
    t.eq((r.json or {}).get("code"), "markup_refused", "and says why")
    r = upload(c, "x.html", b"  <!DOCTYPE html><p>hi")
    t.eq(r.status, 415, "HTML is refused")
    r = upload(c, "x.bin", b"\x00\x01\x02binary")
    t.eq(r.status, 415, "an unknown type is refused")
    r = upload(c, "bad.txt", b"ok text " * 20000 + b"\xff\xfe")
    t.eq(r.status, 415, "a text that stops being UTF-8 past its head is refused")
    # A declared length over the limit is answered before the body is sent.
    s = socket.create_connection(("127.0.0.1", n.http_port))
    s.sendall(("POST /api/files?name=big.pdf HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Cookie: comptoir_session=%s\r\nX-CSRF-Token: %s\r\n"
               "Content-Length: %d\r\n\r\n" % (n.http_port, c.cookie, c.csrf,
                                                 22 * 1024 * 1024)).encode())
    answer = s.recv(4096)
    s.close()
    t.check(answer.startswith(b"HTTP/1.1 413"), "over limits.max_file_mb is 413", answer[:40])
    t.check(b"max_file_mb" in answer, "and names the limit", answer[-200:])
    r = upload(c, "big.pdf", b"%PDF-" + b"0" * (22 * 1024 * 1024), chunked=True)
    t.eq(r.status, 413, "over the limit without Content-Length too")
    r = upload(c, "a/b.pdf", b"%PDF-1")
    t.eq(r.status, 400, "a name with / is refused")
    t.eq(blobs(n), before, "no refused upload left a blob")
    t.eq(tmp_files(n), [], "nor a temporary file")
    anon = n.client()
    r = upload(anon, "a.pdf", b"%PDF-1", csrf=False)
    t.eq(r.status, 401, "no session, no upload")


def test_cut(n, c):
    before = blobs(n)
    s = socket.create_connection(("127.0.0.1", n.http_port))
    head = ("POST /api/files?name=cut.pdf HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            "Cookie: comptoir_session=%s\r\nX-CSRF-Token: %s\r\n"
            "Content-Length: %d\r\n\r\n" % (n.http_port, c.cookie, c.csrf, 1500000))
    s.sendall(head.encode() + b"%PDF-" + b"1" * 600000)
    s.close()
    # The node sees the cut and drops the put: wait for the log line.
    t.check(wait_log(n, "upload of \"cut.pdf\" cut after"), "the node saw the cut")
    t.eq(blobs(n), before, "a cut upload leaves no blob")
    t.eq(tmp_files(n), [], "nor a temporary file")


def test_post_and_erase(n, c, f):
    r = c.post("/api/posts", {"text": "le rapport", "files": [f["id"]]})
    t.eq(r.status, 201, "a post carries its file")
    r = c.post("/api/posts", {"text": "x", "files": ["nothex"]})
    t.eq(r.status, 400, "files must be ids")
    path = os.path.join(n.data, "blobs", f["blob"][:2], f["blob"])
    t.check(os.path.exists(path), "the blob is on disk")
    # Both file events naming it (the upload and the chunked one) go.
    r = c.get("/api/files/" + f["blob"])
    t.eq(r.status, 200, "served before the deletion")
    # The post goes with its file; the second upload's event by hand.
    d = c.delete("/api/posts/" + (r.json or {}).get("id", "x")) if False else None
    for ev in f["events"]:
        d = c.delete("/api/files/" + ev)
        t.check(d.status in (200, 204), "the file event is deleted", d.status)
    t.check(wait_log(n, "erased %s" % f["blob"]), "the node logs the erasure")
    t.check(not os.path.exists(path), "the blob file is gone from disk")
    r = c.get("/api/files/" + f["blob"])
    t.eq(r.status, 404, "never served again")
    t.eq((r.json or {}).get("code"), "no_such_file", "as deleted")


def test_kill9(n, c):
    data = b"%PDF-1.7\n" + os.urandom(300000)
    r = upload(c, "kept.pdf", data)
    t.eq(r.status, 201, "stored")
    n.kill()
    n.start()
    c2 = n.client()
    c2.login("alice", n.passwords["alice"])
    got = c2.get("/api/files/" + (r.json or {}).get("blob", "x"))
    t.eq(got.status, 200, "after kill -9 the acknowledged file is served")
    t.eq(got.body, data, "byte for byte")


def main():
    with Node("paris") as n:
        n.set_limits(max_file_mb=21, request_timeout=120)
        n.add_user("alice")
        n.start()
        c = n.client()
        c.login("alice", n.passwords["alice"])
        f = {}
        t.test(test_roundtrip, n, c, f)
        t.test(test_picture, n, c)
        t.test(test_refused, n, c)
        t.test(test_cut, n, c)
        t.test(test_kill9, n, c)
        c = n.client()
        c.login("alice", n.passwords["alice"])
        if f.get("events"):
            t.test(test_post_and_erase, n, c, f)
    t.finish()


if __name__ == "__main__":
    main()
