#!/usr/bin/env python3
"""An independent verifier of tests/vectors/events.txt, written from docs/PROTOCOL.md
alone with the Python 3 standard library: BLAKE2b from hashlib, Ed25519 from the
math of RFC 8032 section 5.1 with libsodium's strict rules. Prints "N passed, N failed"."""

import hashlib
import json
import os
import struct
import sys

# ------------------------------------------------------------ Ed25519 (RFC 8032 5.1)

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def sha512(data):
    return hashlib.sha512(data).digest()


def recover_x(y, sign):
    """The x of a point from y and the sign bit (5.1.3 steps 2-4), or None."""
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x


BY = 4 * pow(5, P - 2, P) % P
BX = recover_x(BY, 0)
BASE = (BX, BY, 1, BX * BY % P)  # extended coordinates (X, Y, Z, T)
IDENTITY = (0, 1, 1, 0)


def pt_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e1 = (y1 - x1) * (y2 - x2) % P
    e2 = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = e2 - e1, dd - c, dd + c, e2 + e1
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def pt_neg(a):
    x, y, z, t = a
    return (-x % P, y, z, -t % P)


def pt_mul(s, a):
    q = IDENTITY
    while s:
        if s & 1:
            q = pt_add(q, a)
        a = pt_add(a, a)
        s >>= 1
    return q


def pt_encode(a):
    x, y, z, _ = a
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def pt_decode(s):
    y = int.from_bytes(s, "little") & (2**255 - 1)
    if y >= P:
        return None
    x = recover_x(y, s[31] >> 7)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def secret_scalar(seed):
    h = sha512(seed)
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def ed25519_public(seed):
    return pt_encode(pt_mul(secret_scalar(seed)[0], BASE))


def ed25519_sign(seed, msg):
    a, prefix = secret_scalar(seed)
    pk = pt_encode(pt_mul(a, BASE))
    r = int.from_bytes(sha512(prefix + msg), "little") % L
    big_r = pt_encode(pt_mul(r, BASE))
    k = int.from_bytes(sha512(big_r + pk + msg), "little") % L
    return big_r + ((r + k * a) % L).to_bytes(32, "little")


# y coordinates (bit 255 ignored) of the small-order points and of their
# non-canonical encodings: PROTOCOL.md, "Signature validity", rule 2.
Y8 = int.from_bytes(bytes.fromhex(
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little")
SMALL_ORDER_Y = {0, 1, Y8, P - Y8, P - 1, P, P + 1}


def small_order(s):
    return int.from_bytes(s, "little") & (2**255 - 1) in SMALL_ORDER_Y


def ed25519_verify(sig, msg, pk):
    """libsodium 1.0.18 crypto_sign_verify_detached, as PROTOCOL.md states it."""
    if len(sig) != 64 or len(pk) != 32:
        return False
    r, s = sig[:32], int.from_bytes(sig[32:], "little")
    if s >= L or small_order(r) or small_order(pk):
        return False
    a = pt_decode(pk)
    if a is None:
        return False
    k = int.from_bytes(sha512(r + pk + msg), "little") % L
    q = pt_add(pt_mul(s, BASE), pt_mul(k, pt_neg(a)))
    return pt_encode(q) == r


# ------------------------------------------------------------------- envelope

VERSION = 2  # protocol version 2: the first byte of every envelope
EVENT_DOMAIN = b"comptoir/event/v1"
FEDERATION_DOMAIN = b"comptoir/federation/v1"
HEADER = struct.Struct(">BBH32s32sQ32sI")  # 112 bytes, big-endian
FIXED_LEN = 176
MAX_BODY = 65536
MAX_DEPTH = 2048


class Reject(Exception):
    """An envelope refused with one of the error codes of PROTOCOL.md."""


def b2b(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def federation_id(root_pk):
    return b2b(FEDERATION_DOMAIN + root_pk)


def fingerprint(pk):
    h = b2b(pk)[:10].hex().upper()
    return "-".join(h[i:i + 4] for i in range(0, 20, 4))


def encode_header(kind, fed, author, ts, body):
    return HEADER.pack(VERSION, 0, kind, fed, author, ts, b2b(body), len(body))


def s_depth(text):
    """The deepest nesting of arrays and objects, strings skipped."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def s_pairs(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def s_int(text):
    n = int(text)
    if not -2**63 <= n < 2**63:
        raise ValueError("integer out of range")
    return n


def s_float(text):
    f = float(text)
    if f in (float("inf"), float("-inf")):
        raise ValueError("number overflow")
    return f


def s_constant(text):
    raise ValueError("not JSON: " + text)


def s_strings_ok(v):
    """No NUL and no lone surrogate (from a \\uD800-style escape) anywhere."""
    if isinstance(v, str):
        return "\0" not in v and not any(0xD800 <= ord(c) <= 0xDFFF for c in v)
    if isinstance(v, list):
        return all(s_strings_ok(x) for x in v)
    if isinstance(v, dict):
        return all(s_strings_ok(k) and s_strings_ok(x) for k, x in v.items())
    return True


def check_body(body):
    """PROTOCOL.md, "Body": a UTF-8 JSON object, no NUL, no duplicate keys."""
    if b"\0" in body:
        return False
    try:
        text = body.decode("utf-8")  # strict: no overlong forms, no surrogates
        if s_depth(text) > MAX_DEPTH:
            return False
        value = json.loads(text, object_pairs_hook=s_pairs, parse_int=s_int,
                           parse_float=s_float, parse_constant=s_constant)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and s_strings_ok(value)


def decode(buf, max_body=MAX_BODY):
    """The decode steps of PROTOCOL.md in their order; returns the fields or raises."""
    if len(buf) < FIXED_LEN:
        raise Reject("EINVAL")
    version, reserved, kind, fed, author, ts, body_hash, body_len = HEADER.unpack(buf[:112])
    if version != VERSION:
        raise Reject("EVERSION")
    if reserved != 0 or kind == 0 or body_len == 0:
        raise Reject("EINVAL")
    if body_len > min(max_body, MAX_BODY):
        raise Reject("ETOOBIG")
    ev = {"kind": kind, "fed": fed, "author": author, "ts": ts, "body_hash": body_hash,
          "body_len": body_len, "sig": buf[112:176], "body": None, "raw": buf}
    if len(buf) == FIXED_LEN:
        return ev  # redacted
    if len(buf) - FIXED_LEN != body_len:
        raise Reject("EINVAL")
    if b2b(buf[FIXED_LEN:]) != body_hash:
        raise Reject("EHASH")
    if not check_body(buf[FIXED_LEN:]):
        raise Reject("EINVAL")
    ev["body"] = buf[FIXED_LEN:]
    return ev


def verify(ev, fed):
    if ev["fed"] != fed:
        raise Reject("EFEDERATION")
    if not ed25519_verify(ev["sig"], EVENT_DOMAIN + ev["raw"][:112], ev["author"]):
        raise Reject("ESIG")


# ------------------------------------------------------------------ the vectors

POSITIVE_KEYS = ("name", "expect", "root_seed", "root_public", "seed", "kind", "timestamp",
                 "body", "redacted", "public", "fingerprint", "federation", "body_hash",
                 "signature", "id", "envelope")
NEGATIVE_KEYS = ("name", "expect", "root_public", "envelope")
OPTIONAL_KEYS = ("note", "password")


def read_blocks(path):
    """Blocks of "key: value" lines separated by blank lines; "#" lines are comments."""
    blocks, block = [], {}
    with open(path, encoding="utf-8", newline="\n") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            if line == "":
                if block:
                    blocks.append(block)
                block = {}
                continue
            key, sep, value = line.partition(": ")
            if not sep or key in block:
                raise SystemExit(f"{path}:{n}: bad or repeated line")
            block[key] = value
    if block:
        blocks.append(block)
    return blocks


def check_positive(v, problems):
    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: got {got}, want {want}")

    root_pk = bytes.fromhex(v["root_public"])
    seed = bytes.fromhex(v["seed"])
    kind, ts = int(v["kind"]), int(v["timestamp"])
    body = v["body"].encode("utf-8")
    expect("root_public", ed25519_public(bytes.fromhex(v["root_seed"])).hex(), v["root_public"])
    fed = federation_id(root_pk)
    expect("federation", fed.hex(), v["federation"])
    author = ed25519_public(seed)
    expect("public", author.hex(), v["public"])
    expect("fingerprint", fingerprint(author), v["fingerprint"])
    expect("body_hash", b2b(body).hex(), v["body_hash"])
    header = encode_header(kind, fed, author, ts, body)
    sig = ed25519_sign(seed, EVENT_DOMAIN + header)
    expect("signature", sig.hex(), v["signature"])
    expect("id", b2b(header + sig).hex(), v["id"])
    redacted = v["redacted"] == "yes"
    envelope = header + sig + (b"" if redacted else body)
    expect("envelope", envelope.hex(), v["envelope"])
    # And the given bytes, decoded as a receiver would.
    try:
        ev = decode(bytes.fromhex(v["envelope"]))
        verify(ev, fed)
    except Reject as e:
        problems.append(f"given envelope rejected: {e}")
        return
    expect("decoded kind", ev["kind"], kind)
    expect("decoded timestamp", ev["ts"], ts)
    expect("decoded body", ev["body"], None if redacted else body)
    expect("decoded body_len", ev["body_len"], len(body))


def check_negative(v, problems):
    fed = federation_id(bytes.fromhex(v["root_public"]))
    try:
        verify(decode(bytes.fromhex(v["envelope"])), fed)
        got = "ok"
    except Reject as e:
        got = str(e)
    if got != v["expect"]:
        problems.append(f"got {got}, want {v['expect']}")


def check_rfc8032(problems):
    """RFC 8032 section 7.1, TEST 1 and TEST 2: the Ed25519 code itself."""
    tests = [
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
         "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
         "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ]
    for seed, pk, msg, sig in tests:
        seed, msg = bytes.fromhex(seed), bytes.fromhex(msg)
        if ed25519_public(seed).hex() != pk or ed25519_sign(seed, msg).hex() != sig:
            problems.append(f"RFC 8032 key {pk[:16]}: wrong key or signature")
        if not ed25519_verify(bytes.fromhex(sig), msg, bytes.fromhex(pk)):
            problems.append(f"RFC 8032 key {pk[:16]}: signature refused")


def main():
    sys.setrecursionlimit(10000)  # json nests one frame per level, up to MAX_DEPTH
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests/vectors/events.txt")
    passed = failed = 0
    checks = [("rfc8032", check_rfc8032, None)]
    for v in read_blocks(path):
        name = v.get("name", "?")
        want = POSITIVE_KEYS if v.get("expect") == "ok" else NEGATIVE_KEYS
        extra = set(v) - set(want) - set(OPTIONAL_KEYS)
        missing = set(want) - set(v)
        if extra or missing:
            print(f"FAIL {name}: keys missing {sorted(missing)}, unexpected {sorted(extra)}")
            failed += 1
            continue
        checks.append((name, check_positive if v["expect"] == "ok" else check_negative, v))
    for name, check, v in checks:
        problems = []
        try:
            check(problems) if v is None else check(v, problems)
        except (ValueError, KeyError) as e:
            problems.append(f"malformed vector: {e!r}")
        if problems:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed < 2 else 0


if __name__ == "__main__":
    sys.exit(main())
