"""Files over HTTP with a real `comptoir` process on loopback (PROTOCOL.md
18, docs/API.md "Files"):

- an upload comes back byte for byte (20 MB, chunked too), with the headers
  of 18.8: type from the content, nosniff, sandbox, attachment for anything
  but pictures, ETag = blob id, immutable cache; a Range gives 206;
- a picture gets thumbnails (WebP, no EXIF) and its dimensions;
- a phone's JPEG (EXIF with GPS, serial, XMP, IPTC, a comment, a second
  picture after its end) is stored without them, orientation kept, same
  pixels (tests/tools/mkimage), id of the clean bytes; a broken one is 415;
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
from harness import BIN, Node, Runner  # noqa: E402

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


MKIMAGE = os.path.join(os.environ.get("COMPTOIR_BUILD") or os.path.dirname(BIN) or ".",
                       "tests", "tools", "mkimage")


def exif_block(orientation):
    """ "Exif\\0\\0" and a big-endian TIFF block as a phone writes it: make,
    model, serial number, orientation, a GPS IFD with a position, and an
    IFD1 thumbnail (built by hand: python3 has no image library here)."""
    import struct

    def entry(tag, typ, count, value):
        if typ == 3 and count == 1:
            return struct.pack(">HHIHH", tag, typ, count, value, 0)
        return struct.pack(">HHII", tag, typ, count, value)
    ifd0 = (struct.pack(">H", 5) + entry(0x010f, 2, 8, 74) + entry(0x0110, 2, 8, 82) +
            entry(0x0112, 3, 1, orientation) + entry(0xa431, 2, 12, 90) +
            entry(0x8825, 4, 1, 102) + struct.pack(">I", 160))
    gps = (struct.pack(">H", 2) + entry(0x0001, 2, 2, ord("N") << 24) +
           entry(0x0002, 5, 3, 132) + struct.pack(">I", 0) +
           struct.pack(">6I", 47, 1, 13, 1, 2577, 100))
    tiff = (b"MM\x00\x2a" + struct.pack(">I", 8) + ifd0 + b"PhoneCo\x00Pixel-9\x00" +
            b"SN-4242-XYZ\x00" + gps + b"GPS!" + struct.pack(">HI", 0, 0) +
            b"\xff\xd8\xff\xdbTHUMB\xff\xd9")
    assert tiff.index(b"GPS!") == 156
    return b"Exif\x00\x00" + tiff


def segment(marker, payload):
    import struct
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_segments(b):
    """The (marker, payload) of a JPEG's segments up to its scan, and where
    the scan starts."""
    import struct
    out, i = [], 2
    while i + 4 <= len(b) and b[i] == 0xff:
        m, ln = b[i + 1], struct.unpack(">H", b[i + 2:i + 4])[0]
        if m == 0xda:
            return out, i
        out.append((m, b[i + 4:i + 2 + ln]))
        i += 2 + ln
    return out, i


def exif_tags(payload):
    """The tags of IFD0 of an EXIF segment's payload, with SHORT values."""
    import struct
    tiff = payload[6:]
    e = "<" if tiff[:2] == b"II" else ">"
    off = struct.unpack(e + "I", tiff[4:8])[0]
    n = struct.unpack(e + "H", tiff[off:off + 2])[0]
    tags = {}
    for k in range(n):
        tag, typ, cnt = struct.unpack(e + "HHI", tiff[off + 2 + 12 * k:off + 10 + 12 * k])
        val = tiff[off + 10 + 12 * k:off + 14 + 12 * k]
        tags[tag] = struct.unpack(e + "H", val[:2])[0] if typ == 3 else val
    return tags


def pixels(data):
    """W, H, bands, orientation and a hash of the decoded pixels (libvips)."""
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".img") as fh:
        fh.write(data)
        fh.flush()
        return subprocess.run([MKIMAGE, "pixels", fh.name], check=True,
                              capture_output=True, text=True).stdout.split()


def test_jpeg_metadata(n, c):
    """A phone's JPEG: its GPS position and serial number never reach the
    store, its orientation does, and it is the same picture."""
    import subprocess
    plain = subprocess.run([MKIMAGE, "jpeg", "96", "64"], check=True, capture_output=True).stdout
    _, vsos = jpeg_segments(plain)
    phone = (b"\xff\xd8" + segment(0xe1, exif_block(6)) +
             segment(0xe1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta exif:GPSLatitude='47,13N'/>") +
             segment(0xed, b"Photoshop 3.0\x00IPTC byline Jean") + segment(0xfe, b"secret comment") +
             plain[2:] + b"\xff\xd8\xff\xe1second picture GPS\xff\xd9")
    t.check(b"GPS!" in phone and b"SN-4242" in phone, "the upload holds a GPS position")
    r = upload(c, "quai-phone.jpg", phone)
    t.eq(r.status, 201, "the phone's JPEG is stored")
    f = r.json or {}
    t.eq((f.get("w"), f.get("h")), (64, 96), "its dimensions after the orientation (6: turned)")
    got = c.get(f.get("url", "/api/files/x"))
    t.eq(got.status, 200, "the original is served")
    b = got.body
    t.check(f.get("size") == len(b) < len(phone), "the stored original is smaller", (len(b), len(phone)))
    for word in (b"GPS", b"PhoneCo", b"Pixel-9", b"SN-4242", b"THUMB", b"ns.adobe.com",
                 b"Photoshop", b"Jean", b"secret", b"second picture"):
        t.check(word not in b, "no %r in the stored original" % word)
    segs, sos = jpeg_segments(b)
    exif = [p for m, p in segs if m == 0xe1]
    t.eq(len(exif), 1, "one EXIF segment is left")
    tags = exif_tags(exif[0]) if exif else {}
    t.eq(sorted(tags), [0x0112], "it holds the orientation only (no GPS IFD, no make, no serial)")
    t.eq(tags.get(0x0112), 6, "the orientation is kept")
    t.check(all(m < 0xe0 or m in (0xe0, 0xe1) for m, _ in segs),
            "no other APPn (IPTC, XMP), no comment", [hex(m) for m, _ in segs])
    t.check(b[sos:] == plain[vsos:], "the scan is the encoder's, byte for byte (no re-encode)",
            (len(b) - sos, len(plain) - vsos))
    t.eq(pixels(b)[4], pixels(plain)[4], "the same pixels")
    t.eq(pixels(b)[3], "6", "libvips reads the orientation")
    import struct
    manifest = b"".join(hashlib.blake2b(b[i:i + 262144], digest_size=32).digest()
                        for i in range(0, len(b), 262144))
    t.eq(f.get("blob"), hashlib.blake2b(b"comptoir/blob/v1" + struct.pack(">Q", len(b)) + manifest,
                                        digest_size=32).hexdigest(),
         "the blob id is that of the clean bytes (PROTOCOL.md 18.1)")
    # A JPEG broken before its picture is refused by name, nothing kept.
    before = blobs(n)
    bad = upload(c, "broken.jpg", b"\xff\xd8" + segment(0xe1, exif_block(1))[:40])
    t.eq(bad.status, 415, "a JPEG cut in its EXIF is refused")
    t.check("ends before its image data" in ((bad.json or {}).get("error") or ""),
            "the error says what is wrong", bad.json)
    t.eq(blobs(n), before, "and nothing is stored")


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


def test_views(n, c):
    img = upload(c, "equipe.png", png(900, 600)).json or {}
    doc = upload(c, "notes.txt", "Réunion à 9h\n".encode()).json or {}
    r = c.post("/api/posts", {"text": "photos du quai", "files": [img.get("id"), doc.get("id")]})
    t.eq(r.status, 201, "a post with a picture and a text file")
    feed = c.get("/api/feed").json or {}
    p = next((x for x in feed.get("items", []) if x.get("text") == "photos du quai"), {})
    files = p.get("files") or []
    t.eq([f.get("name") for f in files], ["equipe.png", "notes.txt"], "the feed shows its files")
    t.eq(files[0].get("thumb") if files else None,
         "/api/files/" + ((img.get("thumbs") or [{}])[0].get("blob") or ""),
         "a picture shows its small thumbnail")
    t.eq(files[1].get("type") if len(files) > 1 else None, "text/plain", "a text file its type")
    # Someone else's file is not shown on one's post (PROTOCOL.md 18.3).
    b = n.client()
    b.login("bob", n.passwords["bob"])
    r = b.post("/api/posts", {"text": "pas a moi", "files": [img.get("id")]})
    t.eq(r.status, 201, "a post naming someone else's file is stored")
    feed = b.get("/api/feed").json or {}
    p = next((x for x in feed.get("items", []) if x.get("text") == "pas a moi"), {})
    t.eq(p.get("files"), [], "but shows none of it")
    # A profile photo, everywhere the author is shown.
    r = c.put("/api/profile", {"photo": img.get("id")})
    t.eq(r.status, 200, "a profile photo is set")
    t.check((r.json or {}).get("photo_url", "").startswith("/api/files/"),
            "the person has a photo URL", r.json)
    feed = c.get("/api/feed").json or {}
    p = next((x for x in feed.get("items", []) if x.get("text") == "photos du quai"), {})
    t.eq(p.get("author_photo"), (r.json or {}).get("photo_url"), "the feed shows it")
    r = c.put("/api/profile", {"photo": "nope"})
    t.eq(r.status, 400, "a photo that is not a file id is refused")


def test_parallel(n, c):
    """Uploads at once, each on its own connection (a thread each in the
    node): every one comes back as it was sent."""
    import threading
    datas = [b"%PDF-1.5\n" + os.urandom(700000 + i) for i in range(8)]
    res = [None] * len(datas)

    def go(i):
        res[i] = upload(c, "par-%d.pdf" % i, datas[i])
    ths = [threading.Thread(target=go, args=(i,)) for i in range(len(datas))]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    t.eq([r.status for r in res], [201] * len(datas), "8 uploads at once are stored")
    same = [c.get((r.json or {}).get("url", "/x")).body == d for r, d in zip(res, datas)]
    t.eq(same, [True] * len(datas), "each comes back byte for byte")


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
    r_post = c.post("/api/posts", {"text": "le rapport", "files": [f["id"]]})
    t.eq(r_post.status, 201, "a post carries its file")
    r = c.post("/api/posts", {"text": "x", "files": ["nothex"]})
    t.eq(r.status, 400, "files must be ids")
    path = os.path.join(n.data, "blobs", f["blob"][:2], f["blob"])
    t.check(os.path.exists(path), "the blob is on disk")
    # Both file events naming it (the upload and the chunked one) go.
    r = c.get("/api/files/" + f["blob"])
    t.eq(r.status, 200, "served before the deletion")
    # Deleting the post deletes its file event (PROTOCOL.md 18.9); the
    # blob stays while the second upload's event names it.
    post = (r_post.json or {}).get("id", "x")
    d = c.delete("/api/posts/" + post)
    t.eq(d.status, 200, "the post is deleted")
    t.check(os.path.exists(path), "the blob stays: another file event names it")
    t.eq(c.get("/api/files/" + f["blob"]).status, 200, "and it is still served")
    d = c.delete("/api/files/" + f["events"][1])
    t.eq(d.status, 200, "the other file event is deleted")
    t.check(wait_log(n, "erased %s" % f["blob"]), "the node logs the erasure")
    t.check(not os.path.exists(path), "the blob file is gone from disk")
    r = c.get("/api/files/" + f["blob"])
    t.eq(r.status, 404, "never served again")
    t.eq((r.json or {}).get("code"), "no_such_file", "as deleted")


def test_status_backup(n, c):
    st = c.get("/api/status").json or {}
    files = st.get("files") or {}
    held = len(blobs(n))
    t.eq(files.get("held"), held, "/api/status counts the files here")
    t.eq(files.get("bytes"), sum(os.path.getsize(p) for p in blobs(n)), "and their bytes")
    t.eq(files.get("missing"), 0, "nothing to fetch on a lone site")
    m = c.get("/metrics").body.decode()
    t.check("comptoir_blobs_held %d" % held in m, "/metrics counts them", held)
    out = n.cli("status").stdout
    t.check("files:     %d here" % held in out, "comptoir status counts them", out[-300:])
    bk = os.path.join(n.dir, "backup")
    out = n.cli("backup", bk).stdout
    copied = sorted(os.path.relpath(p, bk) for p in glob.glob(os.path.join(bk, "blobs", "??", "*"))
                    if not p.endswith(".map"))
    t.eq(copied, sorted(os.path.relpath(p, n.data) for p in blobs(n)),
         "comptoir backup copies every file")
    t.check("%d new file(s)" % held in out, "and says how many", out)


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
        n.add_user("bob")
        n.start()
        c = n.client()
        c.login("alice", n.passwords["alice"])
        f = {}
        t.test(test_roundtrip, n, c, f)
        t.test(test_picture, n, c)
        t.test(test_jpeg_metadata, n, c)
        t.test(test_views, n, c)
        t.test(test_parallel, n, c)
        t.test(test_refused, n, c)
        t.test(test_cut, n, c)
        t.test(test_status_backup, n, c)
        t.test(test_kill9, n, c)
        c = n.client()
        c.login("alice", n.passwords["alice"])
        if f.get("events"):
            t.test(test_post_and_erase, n, c, f)
    t.finish()


if __name__ == "__main__":
    main()
