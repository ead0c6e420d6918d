/*
 * Unit tests of the event envelope (crypto/envelope.c) and the hybrid logical
 * clock (crypto/util.c): what docs/PROTOCOL.md says a receiver accepts, refuses,
 * and with which error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/crypto.h"

#define POST "{\"text\":\"Réunion à Lyon ☕ jeudi 10 h\"}"
#define TS   HLC_MAKE(1740988800000ull, 3)

static key_sign_t *s_alice, *s_bruno;
static uint8_t s_fed[CPT_FED_LEN], s_other_fed[CPT_FED_LEN];
static uint8_t s_buf[EVT_MAX_LEN + 2]; /* scratch envelope, one spare byte */

static key_sign_t *
s_key(uint8_t first)
{
	uint8_t seed[CPT_SEED_LEN];

	for (int i = 0; i < CPT_SEED_LEN; i++)
		seed[i] = (uint8_t)(first + i);
	return key_sign_from_seed(seed);
}

static int
s_setup(void **state)
{
	key_sign_t *root, *other;

	if (cpt_init() != 0)
		return -1;
	root = s_key(0x00);
	other = s_key(0xa0);
	s_alice = s_key(0x40);
	s_bruno = s_key(0x60);
	if (root == NULL || other == NULL || s_alice == NULL || s_bruno == NULL)
		return -1;
	evt_federation_id(s_fed, key_sign_public(root));
	evt_federation_id(s_other_fed, key_sign_public(other));
	key_sign_destroy(&root);
	key_sign_destroy(&other);
	return 0;
}

static int
s_teardown(void **state)
{
	key_sign_destroy(&s_alice);
	key_sign_destroy(&s_bruno);
	return 0;
}

/* Signs body (a C string) as alice into out; returns the envelope length. */
static size_t
s_sign(uint8_t *out, uint16_t kind, const uint8_t *fed, uint64_t ts, const char *body)
{
	size_t len = 0;

	assert_int_equal(evt_sign(out, EVT_MAX_LEN, &len, kind, fed, ts, (const uint8_t *)body,
	                          strlen(body), s_alice),
	                 0);
	assert_int_equal(len, EVT_FIXED_LEN + strlen(body));
	return len;
}

/* decode, then verify against s_fed: the receiver's verdict. */
static int
s_verdict(const uint8_t *buf, size_t len)
{
	evt_t ev;
	int rc = evt_decode(&ev, buf, len, EVT_MAX_BODY);

	return rc != 0 ? rc : evt_verify(&ev, s_fed);
}

/* ------------------------------------------------------------ round trip */

static void
test_round_trip(void **state)
{
	size_t len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);
	uint8_t hash[CPT_HASH_LEN], id[CPT_ID_LEN], id2[CPT_ID_LEN];
	evt_t ev;

	assert_int_equal(evt_decode(&ev, s_buf, len, EVT_MAX_BODY), 0);
	assert_int_equal(evt_verify(&ev, s_fed), 0);
	assert_int_equal(ev.version, EVT_VERSION);
	assert_int_equal(ev.kind, EVT_POST);
	assert_memory_equal(ev.fed, s_fed, CPT_FED_LEN);
	assert_memory_equal(ev.author, key_sign_public(s_alice), CPT_KEY_LEN);
	assert_true(ev.ts == TS);
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)POST, strlen(POST), NULL, 0);
	assert_memory_equal(ev.body_hash, hash, CPT_HASH_LEN);
	assert_int_equal(ev.body_len, strlen(POST));
	assert_ptr_equal(ev.body, s_buf + EVT_FIXED_LEN);
	assert_memory_equal(ev.body, POST, strlen(POST));
	assert_memory_equal(ev.sig, s_buf + 112, CPT_SIG_LEN);
	assert_ptr_equal(ev.raw, s_buf);
	assert_int_equal(ev.raw_len, len);

	/* The fixed bytes of the header, big-endian (PROTOCOL.md, "Envelope"). */
	assert_int_equal(s_buf[0], 2); /* protocol version 2 */
	assert_int_equal(s_buf[1], 0);
	assert_int_equal(s_buf[2], 0);
	assert_int_equal(s_buf[3], EVT_POST);
	assert_int_equal(s_buf[110], (strlen(POST) >> 8) & 0xff);
	assert_int_equal(s_buf[111], strlen(POST) & 0xff);
	assert_int_equal(s_buf[75], 3);

	/* The id hashes the first 176 bytes. */
	evt_id(id, &ev);
	crypto_generichash(id2, sizeof(id2), s_buf, EVT_FIXED_LEN, NULL, 0);
	assert_memory_equal(id, id2, CPT_ID_LEN);
	evt_id_raw(id2, s_buf);
	assert_memory_equal(id, id2, CPT_ID_LEN);
}

/* Ed25519 is deterministic: the same inputs give the same bytes. */
static void
test_sign_deterministic(void **state)
{
	static uint8_t other[EVT_MAX_LEN];
	size_t len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);

	assert_int_equal(s_sign(other, EVT_POST, s_fed, TS, POST), len);
	assert_memory_equal(s_buf, other, len);
}

static void
test_federation_id(void **state)
{
	static const char domain[] = "comptoir/federation/v1";
	uint8_t msg[sizeof(domain) - 1 + CPT_KEY_LEN], want[CPT_FED_LEN], got[CPT_FED_LEN];

	memcpy(msg, domain, sizeof(domain) - 1);
	memcpy(msg + sizeof(domain) - 1, key_sign_public(s_alice), CPT_KEY_LEN);
	crypto_generichash(want, sizeof(want), msg, sizeof(msg), NULL, 0);
	evt_federation_id(got, key_sign_public(s_alice));
	assert_memory_equal(got, want, CPT_FED_LEN);
}

/* ------------------------------------------------------- truncation, flips */

static void
test_truncated_everywhere(void **state)
{
	size_t len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);
	uint8_t id_full[CPT_ID_LEN], id[CPT_ID_LEN];
	evt_t ev;

	evt_id_raw(id_full, s_buf);
	assert_int_equal(evt_decode(&ev, NULL, 0, EVT_MAX_BODY), CPT_EINVAL);
	for (size_t n = 0; n < len; n++) {
		int rc = evt_decode(&ev, s_buf, n, EVT_MAX_BODY);

		if (n == EVT_FIXED_LEN) {
			/* The redacted form: no body, same signature, same id. */
			assert_int_equal(rc, 0);
			assert_null(ev.body);
			assert_int_equal(ev.body_len, strlen(POST));
			assert_int_equal(ev.raw_len, EVT_FIXED_LEN);
			assert_int_equal(evt_verify(&ev, s_fed), 0);
			evt_id(id, &ev);
			assert_memory_equal(id, id_full, CPT_ID_LEN);
		} else {
			assert_int_equal(rc, CPT_EINVAL);
		}
	}
}

/* The error a single-bit flip at byte i must give, with the flipped envelope
 * in buf (PROTOCOL.md, decode steps and verification). */
static int
s_flip_expect(const uint8_t *buf, size_t i)
{
	uint32_t body_len;

	if (i == 0)
		return CPT_EVERSION;
	if (i == 1)
		return CPT_EINVAL;
	if (i < 4)
		return buf[2] == 0 && buf[3] == 0 ? CPT_EINVAL : CPT_ESIG;
	if (i < 36)
		return CPT_EFEDERATION;
	if (i < 76)
		return CPT_ESIG; /* author, timestamp */
	if (i < 108)
		return CPT_EHASH;
	if (i < 112) {
		body_len = ((uint32_t)buf[108] << 24) | ((uint32_t)buf[109] << 16) |
		           ((uint32_t)buf[110] << 8) | buf[111];
		return body_len > EVT_MAX_BODY ? CPT_ETOOBIG : CPT_EINVAL;
	}
	if (i < EVT_FIXED_LEN)
		return CPT_ESIG;
	return CPT_EHASH; /* body */
}

static void
s_flip_all(uint16_t kind)
{
	size_t len = s_sign(s_buf, kind, s_fed, TS, POST);

	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			s_buf[i] ^= (uint8_t)(1u << bit);
			int want = s_flip_expect(s_buf, i);
			int got = s_verdict(s_buf, len);

			if (got != want)
				fail_msg("kind %u, byte %zu bit %d: got %d (%s), want %d", kind, i,
				         bit, got, cpt_strerror(got), want);
			s_buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(s_verdict(s_buf, len), 0);
}

static void
test_bit_flips(void **state)
{
	s_flip_all(EVT_POST);
	s_flip_all(EVT_SITE_CERT); /* kind 1: one flip makes kind 0 */
}

static void
test_trailing_byte(void **state)
{
	size_t len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);

	s_buf[len] = ' ';
	assert_int_equal(s_verdict(s_buf, len + 1), CPT_EINVAL);
	s_buf[len] = 0;
	assert_int_equal(s_verdict(s_buf, len + 1), CPT_EINVAL);
}

/* --------------------------------------------------------------- sizes */

/* A valid JSON object of exactly n bytes: {"text":"aaa..."}. */
static char *
s_body_of(size_t n)
{
	char *b = malloc(n + 1);

	assert_non_null(b);
	assert_true(n >= 11);
	memcpy(b, "{\"text\":\"", 9);
	memset(b + 9, 'a', n - 11);
	memcpy(b + n - 2, "\"}", 3);
	return b;
}

static void
test_body_sizes(void **state)
{
	char *max = s_body_of(EVT_MAX_BODY), *over = s_body_of(EVT_MAX_BODY + 1);
	size_t len = 0;
	evt_t ev;

	/* The protocol cap is accepted, one byte more is not signed. */
	assert_int_equal(evt_sign(s_buf, sizeof(s_buf), &len, EVT_POST, s_fed, TS, (uint8_t *)max,
	                          EVT_MAX_BODY, s_alice),
	                 0);
	assert_int_equal(len, EVT_MAX_LEN);
	assert_int_equal(s_verdict(s_buf, len), 0);
	assert_int_equal(evt_sign(s_buf, sizeof(s_buf), &len, EVT_POST, s_fed, TS, (uint8_t *)over,
	                          EVT_MAX_BODY + 1, s_alice),
	                 CPT_ETOOBIG);
	/* An output buffer one byte short. */
	assert_int_equal(evt_sign(s_buf, EVT_FIXED_LEN + 10, &len, EVT_POST, s_fed, TS,
	                          (const uint8_t *)"{\"a\":\"xxx\"}", 11, s_alice),
	                 CPT_ETOOBIG);
	/* An empty body is never signed. */
	assert_int_equal(evt_sign(s_buf, sizeof(s_buf), &len, EVT_POST, s_fed, TS,
	                          (const uint8_t *)"", 0, s_alice),
	                 CPT_ETOOBIG);

	/* A configured cap below the body, full or redacted. */
	len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);
	assert_int_equal(evt_decode(&ev, s_buf, len, strlen(POST)), 0);
	assert_int_equal(evt_decode(&ev, s_buf, len, strlen(POST) - 1), CPT_ETOOBIG);
	assert_int_equal(evt_decode(&ev, s_buf, EVT_FIXED_LEN, strlen(POST) - 1), CPT_ETOOBIG);
	/* A cap above the protocol's is the protocol's. */
	assert_int_equal(evt_decode(&ev, s_buf, len, 10 * EVT_MAX_BODY), 0);

	/* A hand-made envelope declaring and carrying EVT_MAX_BODY + 1 bytes. */
	len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);
	cpt_put_be32(s_buf + 108, EVT_MAX_BODY + 1);
	memcpy(s_buf + EVT_FIXED_LEN, over, EVT_MAX_BODY + 1);
	assert_int_equal(evt_decode(&ev, s_buf, EVT_MAX_LEN + 1, 10 * EVT_MAX_BODY), CPT_ETOOBIG);
	assert_int_equal(evt_decode(&ev, s_buf, EVT_FIXED_LEN, EVT_MAX_BODY), CPT_ETOOBIG);
	cpt_put_be32(s_buf + 108, UINT32_MAX);
	assert_int_equal(evt_decode(&ev, s_buf, EVT_FIXED_LEN, EVT_MAX_BODY), CPT_ETOOBIG);

	/* Body length 0, with or without bytes after the header. */
	cpt_put_be32(s_buf + 108, 0);
	assert_int_equal(evt_decode(&ev, s_buf, EVT_FIXED_LEN, EVT_MAX_BODY), CPT_EINVAL);
	assert_int_equal(evt_decode(&ev, s_buf, EVT_FIXED_LEN + 2, EVT_MAX_BODY), CPT_EINVAL);
	free(max);
	free(over);
}

/* -------------------------------------------------------------- bodies */

struct s_body {
	const char *text; /* the body bytes */
	size_t len;       /* their length: bodies may hold NUL */
	const char *why;  /* for a failure message */
};

#define B(lit, why)                                                                                \
	{                                                                                          \
		lit, sizeof(lit) - 1, why                                                          \
	}

static const struct s_body s_bad_bodies[] = {
    B("{\"text\":\"\xc3\x28\"}", "invalid continuation byte"),
    B("{\"text\":\"\xc3\"}", "truncated sequence"),
    B("{\"text\":\"\x80\"}", "lone continuation byte"),
    B("{\"text\":\"\xc0\xaf\"}", "overlong 2-byte /"),
    B("{\"text\":\"\xe0\x80\xaf\"}", "overlong 3-byte /"),
    B("{\"text\":\"\xf0\x80\x80\xaf\"}", "overlong 4-byte /"),
    B("{\"text\":\"\xed\xa0\x80\"}", "UTF-8 encoded surrogate U+D800"),
    B("{\"text\":\"\xf4\x90\x80\x80\"}", "beyond U+10FFFF"),
    B("{\"text\":\"\xff\"}", "byte ff"),
    B("{\"te\xc3\x28xt\":\"x\"}", "invalid UTF-8 in a key"),
    B("{\"text\":\"\\ud800\"}", "lone high surrogate escape"),
    B("{\"text\":\"\\udc00\"}", "lone low surrogate escape"),
    B("{\"text\":\"\\ude00\\ud83d\"}", "surrogates in the wrong order"),
    B("{\"text\":\"a\0b\"}", "raw NUL in a string"),
    B("{\"text\":\"x\"}\0", "NUL after the object"),
    B("\0{\"text\":\"x\"}", "NUL before the object"),
    B("{\"text\":\"a\\u0000b\"}", "escaped NUL"),
    B("{\"\\u0000\":\"x\"}", "escaped NUL in a key"),
    B("[]", "an array"),
    B("[{\"text\":\"x\"}]", "an object in an array"),
    B("\"x\"", "a string"),
    B("1", "a number"),
    B("null", "null"),
    B("true", "true"),
    B(" ", "whitespace only"),
    B("{\"text\":\"a\",\"text\":\"b\"}", "duplicate key"),
    B("{\"text\":\"a\",\"\\u0074ext\":\"b\"}", "duplicate key, one escaped"),
    B("{\"a\":{\"b\":1,\"b\":1}}", "duplicate key in a nested object"),
    B("{\"text\":\"x\"} {}", "two values"),
    B("{\"text\":\"x\",}", "trailing comma"),
    B("{'text':'x'}", "single quotes"),
    B("{\"text\":\"x\"", "unterminated object"),
    B("{\"text\":\"\t\"}", "raw control character in a string"),
    B("{\"n\":NaN}", "NaN"),
    B("{\"n\":Infinity}", "Infinity"),
    B("{\"n\":01}", "leading zero"),
    B("{\"n\":9223372036854775808}", "integer over int64"),
    B("{\"n\":-9223372036854775809}", "integer under int64"),
    B("{\"n\":1e309}", "real overflow"),
    B("\xef\xbb\xbf{\"text\":\"x\"}", "byte order mark"),
    B("\x0c{}", "form feed is not JSON whitespace"),
};

static const struct s_body s_good_bodies[] = {
    B("{}", "the empty object"),
    B(" \t\r\n{}\n", "JSON whitespace around"),
    B("{\"text\":\"\\ud83d\\ude00 \xf0\x9f\x98\x80\"}", "a surrogate pair and its UTF-8"),
    B("{\"text\":\"\xef\xbf\xbf\"}", "U+FFFF, a noncharacter, is valid UTF-8"),
    B("{\"n\":9223372036854775807,\"m\":-9223372036854775808}", "int64 bounds"),
    B("{\"n\":1e-400,\"m\":-0,\"r\":1.5E+3}", "reals, underflow to 0"),
    B("{\"a\":{\"text\":1},\"text\":2}", "one key in two objects"),
    B("{\"text\":\"\\u00e9\\/\\\"\"}", "escapes"),
};

static void
test_bodies(void **state)
{
	size_t len;

	for (size_t i = 0; i < sizeof(s_bad_bodies) / sizeof(s_bad_bodies[0]); i++) {
		const struct s_body *b = &s_bad_bodies[i];
		int rc;

		assert_int_equal(evt_sign(s_buf, sizeof(s_buf), &len, EVT_POST, s_fed, TS,
		                          (const uint8_t *)b->text, b->len, s_alice),
		                 0);
		if ((rc = s_verdict(s_buf, len)) != CPT_EINVAL)
			fail_msg("%s: got %d, want CPT_EINVAL", b->why, rc);
		/* Its redacted form carries no body to check. */
		assert_int_equal(s_verdict(s_buf, EVT_FIXED_LEN), 0);
	}
	for (size_t i = 0; i < sizeof(s_good_bodies) / sizeof(s_good_bodies[0]); i++) {
		const struct s_body *b = &s_good_bodies[i];
		int rc;

		assert_int_equal(evt_sign(s_buf, sizeof(s_buf), &len, EVT_POST, s_fed, TS,
		                          (const uint8_t *)b->text, b->len, s_alice),
		                 0);
		if ((rc = s_verdict(s_buf, len)) != 0)
			fail_msg("%s: got %d, want 0", b->why, rc);
	}
}

/* jansson's nesting limit is part of the protocol: 2048 levels, not 2049. */
static void
test_body_depth(void **state)
{
	char body[5000];
	size_t len;

	for (size_t depth = 2047; depth <= 2049; depth++) {
		size_t n = 0;

		memcpy(body, "{\"a\":", 5);
		n = 5;
		for (size_t i = 1; i < depth; i++)
			body[n++] = '[';
		for (size_t i = 1; i < depth; i++)
			body[n++] = ']';
		body[n++] = '}';
		body[n] = '\0';
		len = s_sign(s_buf, EVT_POST, s_fed, TS, body);
		assert_int_equal(s_verdict(s_buf, len), depth <= 2048 ? 0 : CPT_EINVAL);
	}
}

/* ------------------------------------------------------ header fields */

static void
test_versions(void **state)
{
	static const uint8_t bad[] = {0, 1, 3, 0x7f, 0x80, 255}; /* 1: the old protocol */
	size_t len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);

	for (size_t i = 0; i < sizeof(bad); i++) {
		s_buf[0] = bad[i];
		assert_int_equal(s_verdict(s_buf, len), CPT_EVERSION);
		assert_int_equal(s_verdict(s_buf, EVT_FIXED_LEN), CPT_EVERSION);
	}
	s_buf[0] = EVT_VERSION;
	for (unsigned r = 1; r < 256; r++) {
		s_buf[1] = (uint8_t)r;
		assert_int_equal(s_verdict(s_buf, len), CPT_EINVAL);
	}
	s_buf[1] = 0;
	assert_int_equal(s_verdict(s_buf, len), 0);
}

static void
test_kinds_in_envelope(void **state)
{
	static const uint16_t kinds[] = {EVT_SITE_CERT, EVT_REDACT, 11, 200, 0x8000, 0xffff};
	size_t len;
	evt_t ev;

	/* Unknown kinds decode and verify like known ones. */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		len = s_sign(s_buf, kinds[i], s_fed, TS, POST);
		assert_int_equal(evt_decode(&ev, s_buf, len, EVT_MAX_BODY), 0);
		assert_int_equal(ev.kind, kinds[i]);
		assert_int_equal(evt_verify(&ev, s_fed), 0);
	}
	len = s_sign(s_buf, 0, s_fed, TS, POST);
	assert_int_equal(s_verdict(s_buf, len), CPT_EINVAL);
}

static void
test_wrong_federation(void **state)
{
	size_t len = s_sign(s_buf, EVT_POST, s_other_fed, TS, POST);
	evt_t ev;

	assert_int_equal(evt_decode(&ev, s_buf, len, EVT_MAX_BODY), 0);
	assert_int_equal(evt_verify(&ev, s_fed), CPT_EFEDERATION);
	assert_int_equal(evt_verify(&ev, s_other_fed), 0);
	/* Rewriting the federation field breaks the signature. */
	memcpy(s_buf + 4, s_fed, CPT_FED_LEN);
	assert_int_equal(s_verdict(s_buf, len), CPT_ESIG);
}

/* libsodium's strict rules (PROTOCOL.md, "Signature validity"). */
static void
test_strict_signatures(void **state)
{
	static const uint8_t l[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,       0xd6,
	                              0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, [31] = 0x10};
	size_t len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);
	unsigned carry = 0;

	/* S + L: the same point equation, a non-canonical S. */
	for (int i = 0; i < 32; i++) {
		carry += (unsigned)s_buf[144 + i] + l[i];
		s_buf[144 + i] = (uint8_t)carry;
		carry >>= 8;
	}
	assert_int_equal(s_verdict(s_buf, len), CPT_ESIG);

	/* The identity as author, R the identity, S = 0: [0]B = O + [k]O holds. */
	len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);
	memset(s_buf + 36, 0, 32);
	s_buf[36] = 1;
	memset(s_buf + 112, 0, 64);
	s_buf[112] = 1;
	assert_int_equal(s_verdict(s_buf, len), CPT_ESIG);

	/* A non-canonical author key: y = p (the encoding of y = 0). */
	len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);
	memset(s_buf + 36, 0xff, 32);
	s_buf[36] = 0xed;
	s_buf[67] = 0x7f;
	assert_int_equal(s_verdict(s_buf, len), CPT_ESIG);

	/* Another author's key over alice's signature. */
	len = s_sign(s_buf, EVT_POST, s_fed, TS, POST);
	memcpy(s_buf + 36, key_sign_public(s_bruno), CPT_KEY_LEN);
	assert_int_equal(s_verdict(s_buf, len), CPT_ESIG);
}

/* ------------------------------------------------------------------ ids */

static void
test_redacted_id(void **state)
{
	size_t len = s_sign(s_buf, EVT_COMMENT, s_fed, TS, POST);
	uint8_t full[CPT_ID_LEN], red[CPT_ID_LEN];
	evt_t ev;

	assert_int_equal(evt_decode(&ev, s_buf, len, EVT_MAX_BODY), 0);
	evt_id(full, &ev);
	assert_int_equal(evt_decode(&ev, s_buf, EVT_FIXED_LEN, EVT_MAX_BODY), 0);
	assert_null(ev.body);
	assert_int_equal(evt_verify(&ev, s_fed), 0);
	evt_id(red, &ev);
	assert_memory_equal(full, red, CPT_ID_LEN);
}

/* Changing any input changes the id. */
static void
test_ids_differ(void **state)
{
	enum { N = 7 };
	uint8_t ids[N][CPT_ID_LEN];
	size_t len = 0;

	s_sign(s_buf, EVT_POST, s_fed, TS, POST);
	evt_id_raw(ids[0], s_buf);
	s_sign(s_buf, EVT_COMMENT, s_fed, TS, POST);
	evt_id_raw(ids[1], s_buf);
	s_sign(s_buf, EVT_POST, s_other_fed, TS, POST);
	evt_id_raw(ids[2], s_buf);
	s_sign(s_buf, EVT_POST, s_fed, TS + 1, POST);
	evt_id_raw(ids[3], s_buf);
	s_sign(s_buf, EVT_POST, s_fed, TS, "{\"text\":\"Réunion à Lyon ☕ jeudi 11 h\"}");
	evt_id_raw(ids[4], s_buf);
	assert_int_equal(evt_sign(s_buf, sizeof(s_buf), &len, EVT_POST, s_fed, TS,
	                          (const uint8_t *)POST, strlen(POST), s_bruno),
	                 0);
	evt_id_raw(ids[5], s_buf);
	s_sign(s_buf, EVT_POST, s_fed, TS, POST " ");
	evt_id_raw(ids[6], s_buf);
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			if (memcmp(ids[i], ids[j], CPT_ID_LEN) == 0)
				fail_msg("ids %d and %d are equal", i, j);
}

/* ------------------------------------------------------------------ HLC */

static void
test_hlc_backwards_clock(void **state)
{
	hlc_t clk = {0};
	uint64_t a, b, c, d;

	a = hlc_next(&clk, 1000);
	assert_true(a == HLC_MAKE(1000, 0));
	b = hlc_next(&clk, 999); /* the wall clock stepped back */
	c = hlc_next(&clk, 500);
	d = hlc_next(&clk, 1000);
	assert_true(a < b && b < c && c < d);
	assert_true(d == HLC_MAKE(1000, 3));
	assert_true(hlc_next(&clk, 2000) == HLC_MAKE(2000, 0));
	assert_true(HLC_MS(d) == 1000 && HLC_COUNTER(d) == 3);
}

static void
test_hlc_counter_carry(void **state)
{
	hlc_t clk = {HLC_MAKE(1000, 0xfffe)};

	assert_true(hlc_next(&clk, 1000) == HLC_MAKE(1000, 0xffff));
	assert_true(hlc_next(&clk, 1000) == HLC_MAKE(1001, 0));
	assert_true(hlc_next(&clk, 1001) == HLC_MAKE(1001, 1));
	assert_true(hlc_next(&clk, 1002) == HLC_MAKE(1002, 0));
}

static void
test_hlc_observe(void **state)
{
	const uint64_t wall = 1740988800000ull;
	hlc_t clk = {0};

	/* A peer a little ahead: our next timestamp follows it. */
	assert_int_equal(hlc_observe(&clk, HLC_MAKE(wall + 5000, 7), wall), 0);
	assert_true(hlc_next(&clk, wall) == HLC_MAKE(wall + 5000, 8));
	/* An older one changes nothing. */
	assert_int_equal(hlc_observe(&clk, HLC_MAKE(wall - 5000, 0), wall), 0);
	assert_true(hlc_next(&clk, wall) == HLC_MAKE(wall + 5000, 9));
	/* Exactly at the drift bound it is absorbed, one ms beyond it is not. */
	assert_int_equal(hlc_observe(&clk, HLC_MAKE(wall + HLC_MAX_DRIFT_MS + 1, 0), wall), -1);
	assert_true(hlc_next(&clk, wall) == HLC_MAKE(wall + 5000, 10));
	assert_int_equal(hlc_observe(&clk, HLC_MAKE(wall + HLC_MAX_DRIFT_MS, 0xffff), wall), 0);
	assert_true(hlc_next(&clk, wall) == HLC_MAKE(wall + HLC_MAX_DRIFT_MS + 1, 0));
	/* A forged far-future timestamp cannot stall a clock. */
	assert_int_equal(hlc_observe(&clk, UINT64_MAX, wall), -1);
	assert_true(hlc_wall_ms() > 1577836800000ull); /* after 2020 */
}

/* --------------------------------------------------------------- names */

static void
test_kind_names(void **state)
{
	static const char *const names[] = {
	    "site_cert", "enrol", "revoke",    "key_backup", "profile",      "post",      "comment",
	    "reaction",  "edit",  "redaction", "space",      "space_member", "space_key", "sealed"};

	for (unsigned k = 1; k <= 14; k++) {
		assert_string_equal(evt_kind_name(k), names[k - 1]);
		assert_int_equal(evt_kind_from_name(names[k - 1]), k);
	}
	assert_string_equal(evt_kind_name(0), "unknown");
	assert_string_equal(evt_kind_name(15), "unknown");
	assert_string_equal(evt_kind_name(200), "unknown");
	assert_string_equal(evt_kind_name(0xffff), "unknown");
	assert_string_equal(evt_kind_name(~0u), "unknown");
	assert_int_equal(evt_kind_from_name("unknown"), 0);
	assert_int_equal(evt_kind_from_name(""), 0);
	assert_int_equal(evt_kind_from_name("Post"), 0);
	assert_int_equal(evt_kind_from_name("post "), 0);
	assert_int_equal(evt_kind_from_name("redact"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_sign_deterministic),
	    cmocka_unit_test(test_federation_id),     cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_bit_flips),         cmocka_unit_test(test_trailing_byte),
	    cmocka_unit_test(test_body_sizes),        cmocka_unit_test(test_bodies),
	    cmocka_unit_test(test_body_depth),        cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_kinds_in_envelope), cmocka_unit_test(test_wrong_federation),
	    cmocka_unit_test(test_strict_signatures), cmocka_unit_test(test_redacted_id),
	    cmocka_unit_test(test_ids_differ),        cmocka_unit_test(test_hlc_backwards_clock),
	    cmocka_unit_test(test_hlc_counter_carry), cmocka_unit_test(test_hlc_observe),
	    cmocka_unit_test(test_kind_names),
	};

	return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
