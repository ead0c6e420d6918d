#!/usr/bin/env python3
"""An independent checker of tests/vectors/spaces.txt, written from docs/PROTOCOL.md
section 16 with the Python 3 standard library only. The standard library has BLAKE2b
but no X25519, Salsa20, ChaCha20 or Poly1305: they are written here from their
specifications (RFC 7748, the Salsa20 and XSalsa20 papers, RFC 8439 and
draft-irtf-cfrg-xchacha), and each is first checked against the published test
values of those documents and of NaCl. Envelopes are checked with verify_vectors.py.
Prints "N passed, N failed"."""

import base64
import hashlib
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify_vectors as vv  # noqa: E402  (the envelope: decode, verify, Ed25519)

MASK32 = 0xFFFFFFFF


def rotl(v, n):
    return ((v << n) & MASK32) | (v >> (32 - n))


# ------------------------------------------------------- ChaCha20 (RFC 8439 2.1-2.4)

def chacha_rounds(state):
    x = list(state)

    def qr(a, b, c, d):
        x[a] = (x[a] + x[b]) & MASK32
        x[d] = rotl(x[d] ^ x[a], 16)
        x[c] = (x[c] + x[d]) & MASK32
        x[b] = rotl(x[b] ^ x[c], 12)
        x[a] = (x[a] + x[b]) & MASK32
        x[d] = rotl(x[d] ^ x[a], 8)
        x[c] = (x[c] + x[d]) & MASK32
        x[b] = rotl(x[b] ^ x[c], 7)

    for _ in range(10):
        qr(0, 4, 8, 12)
        qr(1, 5, 9, 13)
        qr(2, 6, 10, 14)
        qr(3, 7, 11, 15)
        qr(0, 5, 10, 15)
        qr(1, 6, 11, 12)
        qr(2, 7, 8, 13)
        qr(3, 4, 9, 14)
    return x


SIGMA = struct.unpack("<4I", b"expand 32-byte k")


def chacha20_block(key, counter, nonce12):
    state = list(SIGMA) + list(struct.unpack("<8I", key)) + [counter] + \
        list(struct.unpack("<3I", nonce12))
    x = chacha_rounds(state)
    return struct.pack("<16I", *[(a + b) & MASK32 for a, b in zip(x, state)])


def chacha20_xor(key, counter, nonce12, data):
    out = bytearray()
    for i in range(0, len(data), 64):
        block = chacha20_block(key, counter + i // 64, nonce12)
        out += bytes(a ^ b for a, b in zip(data[i:i + 64], block))
    return bytes(out)


def hchacha20(key, nonce16):
    """draft-irtf-cfrg-xchacha 2.2: the rounds without the final addition."""
    state = list(SIGMA) + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    x = chacha_rounds(state)
    return struct.pack("<8I", *(x[0:4] + x[12:16]))


# ------------------------------------------------------------ Poly1305 (RFC 8439 2.5)

def poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0ffffffc0ffffffc0ffffffc0fffffff
    s = int.from_bytes(key[16:32], "little")
    p = (1 << 130) - 5
    acc = 0
    for i in range(0, len(msg), 16):
        n = int.from_bytes(msg[i:i + 16] + b"\x01", "little")
        acc = (acc + n) * r % p
    return ((acc + s) % (1 << 128)).to_bytes(16, "little")


def pad16(b):
    return b"\0" * (-len(b) % 16)


def aead_chacha20poly1305_open(key, nonce12, ct_and_tag, ad):
    """RFC 8439 2.8; returns the plaintext or None when the tag does not hold."""
    if len(ct_and_tag) < 16:
        return None
    ct, tag = ct_and_tag[:-16], ct_and_tag[-16:]
    otk = chacha20_block(key, 0, nonce12)[:32]
    mac_data = ad + pad16(ad) + ct + pad16(ct) + struct.pack("<QQ", len(ad), len(ct))
    if poly1305(otk, mac_data) != tag:  # timing is no concern in a checker
        return None
    return chacha20_xor(key, 1, nonce12, ct)


def xchacha20poly1305_open(key, nonce24, ct_and_tag, ad):
    """draft-irtf-cfrg-xchacha 2.3: HChaCha20 subkey, then the IETF AEAD with
    4 zero bytes and the last 8 bytes of the nonce."""
    return aead_chacha20poly1305_open(hchacha20(key, nonce24[:16]), b"\0" * 4 + nonce24[16:],
                                      ct_and_tag, ad)


def xchacha20poly1305_seal(key, nonce24, pt, ad):
    """The sealing side of xchacha20poly1305_open (a sealed blob is made
    again from its plaintext, PROTOCOL.md 18.4)."""
    sub, n12 = hchacha20(key, nonce24[:16]), b"\0" * 4 + nonce24[16:]
    otk = chacha20_block(sub, 0, n12)[:32]
    ct = chacha20_xor(sub, 1, n12, pt)
    mac_data = ad + pad16(ad) + ct + pad16(ct) + struct.pack("<QQ", len(ad), len(ct))
    return ct + poly1305(otk, mac_data)


# ------------------------------------------------- Salsa20, HSalsa20, XSalsa20-Poly1305

def salsa_rounds(state):
    x = list(state)

    def qr(a, b, c, d):
        x[b] ^= rotl((x[a] + x[d]) & MASK32, 7)
        x[c] ^= rotl((x[b] + x[a]) & MASK32, 9)
        x[d] ^= rotl((x[c] + x[b]) & MASK32, 13)
        x[a] ^= rotl((x[d] + x[c]) & MASK32, 18)

    for _ in range(10):
        qr(0, 4, 8, 12)
        qr(5, 9, 13, 1)
        qr(10, 14, 2, 6)
        qr(15, 3, 7, 11)
        qr(0, 1, 2, 3)
        qr(5, 6, 7, 4)
        qr(10, 11, 8, 9)
        qr(15, 12, 13, 14)
    return x


def salsa_state(key, sixteen):
    k = struct.unpack("<8I", key)
    n = struct.unpack("<4I", sixteen)
    return [SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], n[0], n[1], n[2], n[3], SIGMA[2],
            k[4], k[5], k[6], k[7], SIGMA[3]]


def hsalsa20(key, nonce16):
    x = salsa_rounds(salsa_state(key, nonce16))
    return struct.pack("<8I", x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9])


def salsa20_stream(key, nonce8, length):
    out = bytearray()
    counter = 0
    while len(out) < length:
        state = salsa_state(key, nonce8 + struct.pack("<Q", counter))
        x = salsa_rounds(state)
        out += struct.pack("<16I", *[(a + b) & MASK32 for a, b in zip(x, state)])
        counter += 1
    return bytes(out[:length])


def secretbox_open(c, nonce24, key):
    """NaCl crypto_secretbox_open (XSalsa20-Poly1305); c = tag || ciphertext."""
    if len(c) < 16:
        return None
    stream = salsa20_stream(hsalsa20(key, nonce24[:16]), nonce24[16:], 32 + len(c) - 16)
    if poly1305(stream[:32], c[16:]) != c[:16]:
        return None
    return bytes(a ^ b for a, b in zip(c[16:], stream[32:]))


# ------------------------------------------------------------------ X25519 (RFC 7748 5)

P = 2**255 - 19
A24 = 121665


def x25519(k, u):
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        kt = (k >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + A24 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def x25519_base(k):
    return x25519(k, (9).to_bytes(32, "little"))


def box_seal_open(c, pk, sk):
    """libsodium crypto_box_seal_open: c = epk || crypto_box(m, nonce, pk, esk), with
    nonce = BLAKE2b-192(epk || pk); crypto_box's key is HSalsa20(X25519(sk, epk), 0)."""
    if len(c) < 48:
        return None
    epk = c[:32]
    nonce = hashlib.blake2b(epk + pk, digest_size=24).digest()
    shared = x25519(sk, epk)
    return secretbox_open(c[32:], nonce, hsalsa20(shared, b"\0" * 16))


# ------------------------------------------------------------ known answers first

def check_primitives(problems):
    h = bytes.fromhex
    # draft-irtf-cfrg-xchacha-03, A.1 (AEAD_XChaCha20_Poly1305).
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
          b"for the future, sunscreen would be it.")
    ct = h("bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa644"
           "0bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e"
           "3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
           "c0875924c1c7987947deafd8780acf49")
    key = bytes(range(0x80, 0xa0))
    nonce = bytes(range(0x40, 0x58))
    ad = h("50515253c0c1c2c3c4c5c6c7")
    if xchacha20poly1305_open(key, nonce, ct, ad) != pt:
        problems.append("XChaCha20-Poly1305: draft A.1 does not open")
    if xchacha20poly1305_open(key, nonce, ct[:-1] + bytes([ct[-1] ^ 1]), ad) is not None:
        problems.append("XChaCha20-Poly1305: a changed tag opens")
    # RFC 7748 6.1 (X25519).
    ask = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bsk = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    bpk = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    if x25519_base(ask).hex() != "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" \
            or x25519_base(bsk) != bpk:
        problems.append("X25519: RFC 7748 public keys")
    shared = x25519(ask, bpk)
    if shared.hex() != "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742":
        problems.append("X25519: RFC 7748 shared secret")
    # NaCl's crypto_box test: the first key (HSalsa20 of the shared secret), then
    # crypto_secretbox of its 131-byte message.
    k = hsalsa20(shared, b"\0" * 16)
    if k.hex() != "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389":
        problems.append("HSalsa20: NaCl firstkey")
    m = h("be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a"
          "1ac728d45e6c61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057"
          "e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040"
          "e082f937763848645e0705")
    c = h("f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4"
          "476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738"
          "b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de"
          "56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5")
    if secretbox_open(c, h("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37"), k) != m:
        problems.append("XSalsa20-Poly1305: NaCl secretbox vector does not open")


# ----------------------------------------------------------------- the document

ID_DOMAIN = b"comptoir/space-key-id/v1"
SITE_DOMAIN = b"comptoir/site-space/v1"
AD_DOMAIN = b"comptoir/space-seal/v1"
PAD = 64


def b2b(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def b64_canonical(s):
    """RFC 4648 section 4, with padding; refuses what does not encode back the same."""
    raw = base64.b64decode(s, validate=True)
    if base64.b64encode(raw).decode("ascii") != s:
        raise ValueError("not canonical base64")
    return raw


def lower_hex(s, n):
    if len(s) != 2 * n or any(c not in "0123456789abcdef" for c in s):
        raise ValueError("not %d bytes of lowercase hex" % n)
    return bytes.fromhex(s)


def check_event(v, problems):
    """The envelope as a receiver decodes it, and made again from its inputs."""
    root = vv.ed25519_public(bytes(range(32)))
    fed = vv.federation_id(root)
    seed = bytes.fromhex(v["seed"])
    author = vv.ed25519_public(seed)
    if author.hex() != v["public"]:
        problems.append("public key")
    body = v["body"].encode("utf-8")
    header = vv.encode_header(int(v["kind"]), fed, author, int(v["timestamp"]), body)
    sig = vv.ed25519_sign(seed, vv.EVENT_DOMAIN + header)
    if (header + sig + body).hex() != v["envelope"]:
        problems.append("envelope differs from the one made from its inputs")
    if vv.b2b(header + sig).hex() != v["id"]:
        problems.append("id")
    try:
        vv.verify(vv.decode(bytes.fromhex(v["envelope"])), fed)
    except vv.Reject as e:
        problems.append(f"envelope refused: {e}")
    return fed, author, json.loads(body)


def ad_of(fed, kind, author, space, key_id):
    return AD_DOMAIN + fed + struct.pack(">H", kind) + author + space + key_id


def check_sealed(v, problems):
    """Kinds 11 and 14: the associated data, the box, the plaintext (16.5)."""
    fed, author, body = check_event(v, problems)
    kind = int(v["kind"])
    if kind == 11:
        sealed, space = body["sealed"], b"\0" * 32  # the creating event: no id yet
    else:
        sealed, space = body["sealed"], lower_hex(body["space"], 32)
    key = bytes.fromhex(v["space_key"])
    key_id = lower_hex(sealed["key"], 32)
    if b2b(ID_DOMAIN + key) != key_id or key_id.hex() != v["key_id"]:
        problems.append("key id")
    nonce = lower_hex(sealed["nonce"], 24)
    ad = ad_of(fed, kind, author, space, key_id)
    if ad.hex() != v["ad"]:
        problems.append("associated data")
    box = b64_canonical(sealed["box"])
    plain = xchacha20poly1305_open(key, nonce, box, ad)
    if plain is None:
        return "EAUTH"
    want = v["plaintext"].encode("utf-8")
    if len(plain) % PAD or len(plain) != int(v["padded"]) or plain != want + b" " * (len(plain) - len(want)):
        problems.append("plaintext or padding")
    if not vv.check_body(plain):
        problems.append("plaintext breaks the body rules of section 4")
    inner = json.loads(plain)
    if kind == 11 and not (isinstance(inner.get("name"), str) and 1 <= len(inner["name"].encode()) <= 100):
        problems.append("profile name")
    if kind == 14 and inner.get("kind") not in (6, 7, 8, 9):
        problems.append("inner kind")
    return "ok"


def check_key_event(v, problems):
    """Kind 13: the seal to lyon opens to key || space, and the key is the named one (16.4)."""
    _, _, body = check_event(v, problems)
    space = lower_hex(body["space"], 32)
    key_id = lower_hex(body["key"], 32)
    sk = bytes.fromhex(v["seal_secret"])
    pk = x25519_base(sk)
    if pk.hex() != v["seal_public"]:
        problems.append("seal public key")
    seal = [s for s in body["seals"] if lower_hex(s["to"], 32) == pk]
    if len(seal) != 1:
        problems.append("no seal to the seal key")
        return "?"
    box = b64_canonical(seal[0]["box"])
    if len(box) != 112 or box[:32] != x25519_base(bytes.fromhex(v["ephemeral_secret"])):
        problems.append("box length or ephemeral key")
    opened = box_seal_open(box, pk, sk)
    if opened is None:
        return "EAUTH"
    if opened[:32].hex() != v["space_key"]:
        problems.append("sealed key differs from the vector's")
    if opened[32:] != space or b2b(ID_DOMAIN + opened[:32]) != key_id:
        return "EINVAL"
    return "ok"


def check_plain_event(v, problems):
    check_event(v, problems)
    return "ok"


def check_key_id(v, problems):
    if b2b(ID_DOMAIN + bytes.fromhex(v["space_key"])).hex() != v["key_id"]:
        problems.append("key id")
    return "ok"


def check_site_space(v, problems):
    fed = vv.federation_id(bytes.fromhex(v["root_public"]))
    if fed.hex() != v["federation"]:
        problems.append("federation")
    if b2b(SITE_DOMAIN + fed + v["site"].encode("ascii")).hex() != v["space"]:
        problems.append("site space id")
    return "ok"


def blob_id(data):
    """PROTOCOL.md 18.1: the tag, the size, the hashes of the 256 KiB chunks."""
    man = b"".join(b2b(data[i:i + 262144]) for i in range(0, len(data), 262144))
    return b2b(b"comptoir/blob/v1" + len(data).to_bytes(8, "big") + man)


def check_blob_seal(v, problems):
    """PROTOCOL.md 18.4: the plaintext cut in 64 KiB segments, the last padded
    with zeros to 4 KiB, each sealed with nonce i || part || 15 zeros and the
    associated data tag || size || last; the blob id of the whole (18.1)."""
    key, n = bytes.fromhex(v["fkey"]), int(v["plain_size"])
    plain = bytes((7 * i + 3) & 0xff for i in range(n))
    nseg = (n + 65535) // 65536
    for part in (0, 1):
        segs = []
        for i in range(nseg):
            seg = plain[i * 65536:(i + 1) * 65536]
            seg += b"\0" * (-len(seg) % 4096)
            nonce = i.to_bytes(8, "big") + bytes([part]) + b"\0" * 15
            ad = (b"comptoir/blob-seal/v1" + n.to_bytes(8, "big") +
                  bytes([1 if i == nseg - 1 else 0]))
            segs.append(xchacha20poly1305_seal(key, nonce, seg, ad))
            if xchacha20poly1305_open(key, nonce, segs[-1], ad) != seg:
                problems.append(f"part {part} segment {i} does not open")
        blob = b"".join(segs)
        if len(blob) != int(v["size"]):
            problems.append(f"size {len(blob)}, want {v['size']}")
        if blob_id(blob).hex() != v[f"blob_part{part}"]:
            problems.append(f"part {part}: blob id {blob_id(blob).hex()}")
    return "ok" if not problems else "bad"


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests/vectors/spaces.txt")
    passed = failed = 0
    problems = []
    check_primitives(problems)
    if problems:
        print("FAIL primitives: " + "; ".join(problems))
        failed += 1
    else:
        passed += 1
    for v in vv.read_blocks(path):
        problems = []
        name = v.get("name", "?")
        try:
            if name == "space_key_id":
                got = check_key_id(v, problems)
            elif name == "blob_seal":
                got = check_blob_seal(v, problems)
            elif name.startswith("site_space"):
                got = check_site_space(v, problems)
            elif v.get("kind") == "13":
                got = check_key_event(v, problems)
            elif "nonce" in v:
                got = check_sealed(v, problems)
            else:
                got = check_plain_event(v, problems)
            if got != v["expect"]:
                problems.append(f"got {got}, want {v['expect']}")
        except (ValueError, KeyError) as e:
            problems.append(f"malformed vector: {e!r}")
        if problems:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed < 10 else 0


if __name__ == "__main__":
    sys.exit(main())
