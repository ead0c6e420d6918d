"""Files of a private space (PROTOCOL.md 18.4): real `comptoir` processes on
loopback linked over ZeroMQ CURVE in a chain paris - lyon - nantes, a private
space with members at paris and nantes only (lyon has none and relays).

    make && python3 tests/integration/test_files_private.py

- alice at paris posts a picture in the space: what the node stores is the
  ciphertext (the upload never lands in clear on any disk), the blob id is
  its hash, and alice reads it back (ranges, ETag, 304);
- a phone's photo in the space loses its GPS position, make and serial
  before it is sealed: alice is served it without them, it is sealed with
  its size after that, and no byte of its EXIF block is on paris's disk;
  a PDF is sealed as it streams, unchanged;
- carol at nantes sees the post, its thumbnail and the picture, which came
  through lyon;
- lyon holds the ciphertext blobs (checked against their ids like any blob)
  and serves them to nantes, but its admin and staff get 403, and none of
  its files hold the picture's bytes; erin at nantes (no member) gets 403;
- alice sets a sealed picture as the space's cover: carol sees it on the
  space and in the list, lyon's staff get 403 and lyon holds ciphertext;
- carol leaves: 403 from then on;
- alice deletes the post: its sealed file goes with it, and the blobs are
  erased at every site.

Ends with "N passed, M failed" and exits 1 on failure.
"""

import glob
import hashlib
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_federation as F  # noqa: E402  (its helpers: certify, join_node, ...)
from harness import Node  # noqa: E402
from test_files import png  # noqa: E402  (a real PNG made with zlib)
from test_files import MKIMAGE, exif_block, segment  # noqa: E402  (a phone's JPEG)

t = F.t
DEADLINE = 30.0


def upload(c, name, data, space):
    return c.post("/api/files?name=%s&space=%s" % (urllib.parse.quote(name), space), raw=data,
                  content_type="application/octet-stream")


def noisy_png(w, h):
    """A real PNG of w x h pixels of noise: it does not compress, so that it
    spans many 64 KiB segments and a 256 KiB chunk or more."""
    import struct
    import zlib
    raw = b"".join(b"\x00" + os.urandom(w * 3) for _ in range(h))

    def chunk(tag, body):
        return (struct.pack(">I", len(body)) + tag + body +
                struct.pack(">I", zlib.crc32(tag + body) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def blob_path(node, blob):
    return os.path.join(node.data, "blobs", blob[:2], blob)


def disk_holds(node, needles):
    """Whether any file under the node's data directory holds one of the
    byte strings (the blobs, their temporary and partial files, LMDB)."""
    for path in glob.glob(os.path.join(node.data, "**"), recursive=True):
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if any(n in data for n in needles):
            return path
    return None


def sealed_size(plain):
    """The size of a sealed blob (PROTOCOL.md 18.4): 64 KiB segments and
    their tags, the last padded to 4 KiB."""
    n, rem = divmod(plain, 65536)
    return n * 65552 + ((rem + 4095) // 4096 * 4096 + 16 if rem else 0)


def blob_id(data):
    """PROTOCOL.md 18.1: BLAKE2b-256 of the tag, the size and the chunk hashes."""
    man = b"".join(hashlib.blake2b(data[i:i + 262144], digest_size=32).digest()
                   for i in range(0, len(data), 262144))
    return hashlib.blake2b(b"comptoir/blob/v1" + len(data).to_bytes(8, "big") + man,
                           digest_size=32).hexdigest()


def alice_cover_ciphertext(node, blob):
    """The cover's blob is at node, sealed (its bytes do not start as a PNG)."""
    if not F.wait_until(lambda: os.path.exists(blob_path(node, blob))):
        return False
    with open(blob_path(node, blob), "rb") as f:
        return not f.read(8).startswith(b"\x89PNG")


def setup():
    A = Node("paris")
    F.fast_sync(A)
    paris_cert = F.certify(A, A, publish=False, install=False)
    A.add_user("alice", "alice-password-1", admin=True)
    B = F.join_node("lyon")
    F.certify(A, B)
    C = F.join_node("nantes")
    F.certify(A, C)
    lyon_cert = os.path.join(B.dir, "site.cert")
    for n in (B, C):
        F.fast_sync(n)
    B.add_user("dave", "dave-password-1")
    B.add_user("lena", "lena-password-1", admin=True)
    C.add_user("carol", "carol-password-1")
    C.add_user("erin", "erin-password-1")
    B.cli("peer", "add", paris_cert)
    C.cli("peer", "add", lyon_cert)
    for n in (A, B, C):
        n.start()
    ok = F.wait_until(lambda: F.linked(A, "lyon") and F.linked(B, "nantes") and F.linked(C, "lyon"))
    t.check(ok, "chain paris-lyon-nantes comes up")
    return A, B, C


def client(node, handle, password):
    c = node.client()
    c.login(handle, password)
    return c


def test_private_picture(A, B, C):
    a = client(A, "alice", "alice-password-1")
    dave, lena = client(B, "dave", "dave-password-1"), client(B, "lena", "lena-password-1")
    carol, erin = client(C, "carol", "carol-password-1"), client(C, "erin", "erin-password-1")

    r = a.post("/api/spaces", {"name": "Chantier", "visibility": "private", "join": "invite"})
    t.check(r.status == 201, "alice makes a private space at paris", r)
    sid = r.json["id"]
    r = a.post("/api/spaces/%s/invite" % sid, {"user": "carol"})
    ok = F.wait_until(lambda: carol.get("/api/spaces/%s" % sid).json.get("my_pending") == "invited")
    t.check(ok, "the invitation reaches nantes")
    r = carol.post("/api/spaces/%s/join" % sid)
    t.check(r.status == 200 and r.json.get("effect") == "applied", "carol joins at nantes", r)
    ok = F.wait_until(lambda: len(a.get("/api/spaces/%s" % sid).json.get("sites") or []) == 2)
    t.check(ok, "paris sees nantes as a member site", a.get("/api/spaces/%s" % sid).json)

    img = noisy_png(1400, 300)
    marks = [img[i:i + 48] for i in range(len(img) // 4, len(img), len(img) // 4)][:3]
    r = upload(a, "fondations.png", img, sid)
    t.check(r.status == 201, "alice uploads a picture in the private space", r)
    f = r.json or {}
    t.check(f.get("sealed") is True and f.get("size") == len(img) and "fkey" not in f,
            "the answer says sealed, the picture's size, and not its key", f)
    thumbs = f.get("thumbs") or []
    t.eq([(x.get("w"), x.get("h")) for x in thumbs], [(320, 69), (1280, 274)],
         "two thumbnails, made from the plaintext")
    blob = f.get("blob", "")
    blobs = [blob] + [x["blob"] for x in thumbs]
    got = open(blob_path(A, blob), "rb").read() if os.path.exists(blob_path(A, blob)) else b""
    t.check(len(got) == sealed_size(len(img)) and blob_id(got) == blob and got != img,
            "paris stores the ciphertext: its id is its hash, its size that of 18.4",
            (len(got), sealed_size(len(img))))
    t.check(disk_holds(A, marks) is None, "the picture is in clear nowhere in paris's files",
            disk_holds(A, marks))

    # A phone's photo: what locates it goes before it is sealed (PROTOCOL.md 18.2).
    import subprocess
    exif = exif_block(6)
    phone = (b"\xff\xd8" + segment(0xe1, exif) +
             subprocess.run([MKIMAGE, "jpeg", "96", "64"], check=True, capture_output=True).stdout[2:])
    r = upload(a, "quai.jpg", phone, sid)
    ph = r.json or {}
    got = a.get(ph.get("url", "/api/files/x")).body
    t.check(r.status == 201 and ph.get("size") == len(got) < len(phone),
            "a phone's photo in the space is stored, smaller", (r.status, len(got), len(phone)))
    t.check(not any(w in got for w in (b"GPS", b"PhoneCo", b"Pixel-9", b"SN-4242")),
            "alice is served it without its GPS position, make, model or serial")
    sealed = (open(blob_path(A, ph["blob"]), "rb").read()
              if os.path.exists(blob_path(A, ph.get("blob", "x"))) else b"")
    t.eq(len(sealed), sealed_size(len(got)), "it was sealed with its size after that")
    t.check(disk_holds(A, [exif[6:40], exif[-60:], b"SN-4242"]) is None,
            "no byte of its EXIF block in paris's files", disk_holds(A, [exif[6:40], b"SN-4242"]))
    doc = b"%PDF-1.4\n" + os.urandom(70000)
    r = upload(a, "plan.pdf", doc, sid)
    t.check(r.status == 201 and a.get((r.json or {}).get("url", "/x")).body == doc,
            "a PDF in the space is sealed as it streams, unchanged", r.status)

    r = a.post("/api/posts", {"text": "les fondations", "space": sid, "files": [f.get("id")]})
    t.check(r.status == 201, "alice posts it in the space", r)
    post = r.json.get("id")

    full = a.get("/api/files/%s" % blob)
    t.check(full.status == 200 and full.body == img, "alice reads the picture back",
            full.status)
    t.eq(full.headers.get("content-type"), "image/png", "with its type")
    t.eq(full.headers.get("etag"), '"%s"' % blob, "ETag: the blob id")
    # 65500..300000: across segments, and across the ciphertext's first chunk.
    rg = a.get("/api/files/%s" % blob, headers={"Range": "bytes=65500-300000"})
    t.check(rg.status == 206 and rg.body == img[65500:300001], "a range across segments",
            rg.status)
    t.eq(rg.headers.get("content-range"), "bytes 65500-300000/%d" % len(img), "Content-Range")
    tail = a.get("/api/files/%s" % blob, headers={"Range": "bytes=-10"})
    t.check(tail.body == img[-10:], "a suffix range: the last segment, padding left out")
    nm = a.get("/api/files/%s" % blob, headers={"If-None-Match": '"%s"' % blob})
    t.eq(nm.status, 304, "If-None-Match is 304")

    # nantes: the post, the thumbnail, the picture, through lyon.
    ok = F.wait_until(lambda: carol.get("/api/posts/%s" % post).status == 200, timeout=DEADLINE)
    t.check(ok, "carol reads the post at nantes", carol.get("/api/posts/%s" % post))
    files = (carol.get("/api/posts/%s" % post).json or {}).get("files") or []
    t.check(len(files) == 1 and files[0].get("size") == len(img) and
            files[0].get("name") == "fondations.png" and files[0].get("thumb"),
            "with its file: name, size, thumbnail", files)
    turl = files[0].get("thumb", "/api/files/x") if files else "/api/files/x"
    ok = F.wait_until(lambda: carol.get(turl).status == 200, timeout=DEADLINE)
    th = carol.get(turl)
    t.check(ok and th.body[:4] == b"RIFF" and th.headers.get("content-type") == "image/webp",
            "carol sees the thumbnail (WebP)", th.status)
    ok = F.wait_until(lambda: carol.get("/api/files/%s" % blob).status == 200, timeout=DEADLINE)
    t.check(ok and carol.get("/api/files/%s" % blob).body == img,
            "and the picture, byte for byte", ok)

    # lyon: no member. It holds and relays the ciphertext, and reads nothing.
    ok = F.wait_until(lambda: all(os.path.exists(blob_path(B, b)) for b in blobs))
    t.check(ok, "lyon holds the three ciphertext blobs")
    t.check(all(blob_id(open(blob_path(B, b), "rb").read()) == b for b in blobs),
            "each checked against its id")
    for who, c in (("dave", dave), ("lyon's admin", lena), ("erin at nantes", erin)):
        r1, r2 = c.get("/api/files/%s" % blob), c.get(turl)
        t.check(r1.status == 403 and r2.status == 403 and r1.body != img,
                "%s gets 403 for the picture and its thumbnail" % who, (r1.status, r2.status))
    needles = marks + [th.body[len(th.body) // 2:len(th.body) // 2 + 48]]
    for n in (A, B, C):
        t.check(disk_holds(n, needles) is None,
                "no bytes of the picture or its thumbnail in %s's files" % n.site,
                disk_holds(n, needles))

    # A cover for the space: a picture of the space's own, sealed like it.
    cov = upload(a, "couverture.png", png(900, 300), sid).json or {}
    r = a.request("PATCH", "/api/spaces/%s" % sid, {"cover": cov.get("id")})
    t.check(r.status == 200 and (r.json.get("cover") or {}).get("thumb"),
            "alice sets the space's cover (sealed in the space)", r)
    r = a.request("PATCH", "/api/spaces/%s" % sid, {"cover": "%064x" % 3})
    t.eq(r.status, 400, "a cover that is not one of one's pictures is refused")
    ok = F.wait_until(lambda: (carol.get("/api/spaces/%s" % sid).json.get("cover") or {})
                      .get("thumb") is not None)
    t.check(ok, "carol sees the cover at nantes", carol.get("/api/spaces/%s" % sid).json)
    cover = (carol.get("/api/spaces/%s" % sid).json.get("cover") or {}).get("thumb", "/x")
    ok = F.wait_until(lambda: carol.get(cover).status == 200)
    t.check(ok and carol.get(cover).body[:4] == b"RIFF", "and its picture")
    listed = [x for x in carol.get("/api/spaces?mine=1").json["items"] if x["id"] == sid]
    t.check(listed and (listed[0].get("cover") or {}).get("thumb") == cover,
            "the spaces list shows it", listed)
    t.eq(dave.get(cover).status, 403, "lyon's staff cannot read the cover")
    t.check(alice_cover_ciphertext(B, cov.get("blob", "")), "lyon holds the cover as ciphertext")

    # carol leaves: 403 from then on.
    r = carol.post("/api/spaces/%s/leave" % sid)
    t.check(r.status == 200, "carol leaves the space", r)
    ok = F.wait_until(lambda: carol.get("/api/files/%s" % blob).status == 403)
    t.check(ok and carol.get(turl).status == 403, "carol gets 403 once she left")

    # Erasure: deleting the post redacts its sealed file; the blobs go everywhere.
    r = a.request("DELETE", "/api/posts/%s" % post)
    t.check(r.status == 200, "alice deletes the post", r)
    ok = F.wait_until(lambda: not any(os.path.exists(blob_path(n, b))
                                      for n in (A, B, C) for b in blobs), timeout=DEADLINE)
    t.check(ok, "its blobs are erased at paris, lyon and nantes",
            [(n.site, b[:8]) for n in (A, B, C) for b in blobs if os.path.exists(blob_path(n, b))])
    t.eq(a.get("/api/files/%s" % blob).status, 404, "and never served again")


def test_refusals(A):
    a = client(A, "alice", "alice-password-1")
    r = a.post("/api/spaces", {"name": "Autre", "visibility": "private", "join": "invite"})
    sid = r.json["id"]
    r = a.post("/api/files?name=x.png&space=%s" % sid, raw=png(40, 40),
               content_type="application/octet-stream", chunked=True)
    t.eq(r.status, 411, "a private upload without Content-Length is refused (411)")
    r = upload(a, "x.png", png(40, 40), "%064x" % 5)
    t.eq(r.status, 404, "an unknown space is 404")
    tmp = glob.glob(os.path.join(A.data, "blobs", "tmp", "*"))
    t.eq(tmp, [], "nothing half-stored")


def main():
    A, B, C = setup()
    try:
        t.test(lambda: test_private_picture(A, B, C))
        t.test(lambda: test_refusals(A))
    finally:
        for n in (A, B, C):
            n.stop()
    t.finish()


if __name__ == "__main__":
    main()
