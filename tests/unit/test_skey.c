/*
 * Unit tests for crypto/spacekey.c (PROTOCOL.md 16.4 to 16.6): the key ring,
 * sealing a space key to a site and opening it, bodies bound to their event,
 * base64, site space ids, the seal key file; then tests/vectors/spaces.txt
 * replayed against the library, and libsodium itself against the published
 * answers the Python checker also uses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "node/blob/blob.h"

static uint8_t s_fed[CPT_FED_LEN];
static uint8_t s_alice[CPT_KEY_LEN], s_bruno[CPT_KEY_LEN];
static uint8_t s_space[CPT_ID_LEN], s_space2[CPT_ID_LEN];

static int
s_setup(void **state)
{
	(void)state;
	if (cpt_init() != 0)
		return -1;
	memset(s_fed, 0x11, sizeof(s_fed));
	memset(s_alice, 0x22, sizeof(s_alice));
	memset(s_bruno, 0x33, sizeof(s_bruno));
	memset(s_space, 0x44, sizeof(s_space));
	memset(s_space2, 0x45, sizeof(s_space2));
	return 0;
}

static void
s_hex(uint8_t *out, size_t n, const char *hex)
{
	size_t got = 0;

	assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL), 0);
	assert_int_equal(got, n);
}

/* ---------------------------------------------- libsodium's known answers */

static void
test_known_answers(void **state)
{
	/* draft-irtf-cfrg-xchacha-03 A.1: the AEAD every sealed body uses. */
	static const char pt[] =
	    "Ladies and Gentlemen of the class of '99: If I could offer you only "
	    "one tip for the future, sunscreen would be it.";
	static const char ct_hex[] =
	    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a8"
	    "2f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369"
	    "488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52ec0875924c1c7987947deafd8780acf"
	    "49";
	uint8_t key[32], nonce[24], ad[12], want[sizeof(pt) - 1 + 16], got[sizeof(want)];
	uint8_t ask[32], bpk[32], k[32], shared[32];
	unsigned long long n = 0;

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	for (int i = 0; i < 24; i++)
		nonce[i] = (uint8_t)(0x40 + i);
	s_hex(ad, sizeof(ad), "50515253c0c1c2c3c4c5c6c7");
	s_hex(want, sizeof(want), ct_hex);
	crypto_aead_xchacha20poly1305_ietf_encrypt(got, &n, (const uint8_t *)pt, sizeof(pt) - 1, ad,
	                                           sizeof(ad), NULL, nonce, key);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(got, want, sizeof(want));

	/* RFC 7748 6.1 and NaCl's box test: X25519, then HSalsa20 (crypto_box_seal's parts). */
	s_hex(ask, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	s_hex(bpk, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	assert_int_equal(crypto_scalarmult(shared, ask, bpk), 0);
	s_hex(k, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	assert_memory_equal(shared, k, 32);
	assert_int_equal(crypto_box_beforenm(k, bpk, ask), 0);
	s_hex(shared, 32, "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389");
	assert_memory_equal(k, shared, 32);
}

/* -------------------------------------------------------------- the ring */

static void
test_ring(void **state)
{
	uint8_t ids[50][SKEY_ID_LEN], key[SKEY_LEN], id[SKEY_ID_LEN], again[SKEY_ID_LEN];
	skey_ring_t *ring = skey_ring_new(50);

	(void)state;
	assert_non_null(ring);
	assert_int_equal(skey_ring_count(ring), 0);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(skey_ring_generate(ring, ids[i]), 0);
		assert_int_equal(skey_ring_count(ring), (size_t)i + 1);
	}
	/* Every key is found whatever order they came in (the ring is sorted). */
	for (int i = 0; i < 50; i++)
		assert_int_equal(skey_ring_has(ring, ids[i]), 1);
	memset(id, 0x5a, sizeof(id));
	assert_int_equal(skey_ring_has(ring, id), 0);
	/* Full: a new key is refused; a key it holds is not "new". */
	assert_int_equal(skey_ring_generate(ring, id), CPT_EFULL);
	randombytes_buf(key, sizeof(key));
	assert_int_equal(skey_ring_add(ring, key, id), CPT_EFULL);
	skey_ring_destroy(&ring);
	assert_null(ring);
	skey_ring_destroy(&ring);
	skey_ring_destroy(NULL);

	/* A key given twice is one key; its id is BLAKE2b-256 of the domain and the key. */
	ring = skey_ring_new(2);
	assert_int_equal(skey_ring_add(ring, key, id), 0);
	assert_int_equal(skey_ring_add(ring, key, again), 0);
	assert_memory_equal(id, again, SKEY_ID_LEN);
	assert_int_equal(skey_ring_count(ring), 1);
	{
		uint8_t buf[sizeof(SKEY_ID_DOMAIN) - 1 + SKEY_LEN], h[32];
		memcpy(buf, SKEY_ID_DOMAIN, sizeof(SKEY_ID_DOMAIN) - 1);
		memcpy(buf + sizeof(SKEY_ID_DOMAIN) - 1, key, SKEY_LEN);
		crypto_generichash(h, 32, buf, sizeof(buf), NULL, 0);
		assert_memory_equal(h, id, 32);
	}
	skey_ring_destroy(&ring);
}

/* ------------------------------------------------------ sealing to a site */

static void
test_seal_open(void **state)
{
	skey_ring_t *a = skey_ring_new(4), *c = skey_ring_new(4), *full = skey_ring_new(1);
	key_curve_t *seal_c = key_curve_new(), *seal_b = key_curve_new();
	uint8_t id[SKEY_ID_LEN], other[SKEY_ID_LEN], box[SKEY_SEAL_LEN], box2[SKEY_SEAL_LEN];
	uint8_t bad[CPT_KEY_LEN] = {0}, ct[256], pt[256];
	skey_ctx_t ctx = {s_fed, EVT_SEALED, s_alice, s_space};
	size_t clen = 0, plen = 0;

	(void)state;
	assert_non_null(a);
	assert_non_null(seal_c);
	assert_int_equal(skey_ring_generate(a, id), 0);
	assert_int_equal(skey_ring_seal(a, box, id, s_space, key_curve_public(seal_c)), 0);
	/* Sealing is randomised: a second seal of the same key differs. */
	assert_int_equal(skey_ring_seal(a, box2, id, s_space, key_curve_public(seal_c)), 0);
	assert_memory_not_equal(box, box2, SKEY_SEAL_LEN);

	/* Site C opens it and reads what A wrote. */
	assert_int_equal(skey_ring_open(c, box, s_space, id, seal_c), 0);
	assert_int_equal(skey_ring_has(c, id), 1);
	assert_int_equal(skey_encrypt(a, ct, sizeof(ct), &clen, id, &ctx,
	                              (const uint8_t *)"012345678901234567890123",
	                              (const uint8_t *)"{}", 2),
	                 0);
	assert_int_equal(skey_decrypt(c, pt, sizeof(pt), &plen, id, &ctx,
	                              (const uint8_t *)"012345678901234567890123", ct, clen),
	                 0);
	assert_int_equal(plen, SKEY_PAD);
	assert_memory_equal(pt, "{}  ", 4);

	/* Site B, to which nothing was sealed, cannot open C's box. */
	assert_int_equal(skey_ring_open(c, box, s_space, id, seal_b), CPT_EAUTH);
	/* A box moved to another space's key event, or under another key's id. */
	assert_int_equal(skey_ring_open(c, box, s_space2, id, seal_c), CPT_EINVAL);
	memcpy(other, id, sizeof(other));
	other[0] ^= 1;
	assert_int_equal(skey_ring_open(c, box, s_space, other, seal_c), CPT_EINVAL);
	/* A changed box does not open. */
	box2[60] ^= 1;
	assert_int_equal(skey_ring_open(c, box2, s_space, id, seal_c), CPT_EAUTH);
	/* Sealing needs the key and a valid seal key (PROTOCOL.md 2.2). */
	assert_int_equal(skey_ring_seal(a, box, other, s_space, key_curve_public(seal_c)),
	                 CPT_ENOTFOUND);
	assert_int_equal(skey_ring_seal(a, box, id, s_space, bad), CPT_EINVAL);
	bad[0] = 1;
	assert_int_equal(skey_ring_seal(a, box, id, s_space, bad), CPT_EINVAL);
	/* Opening into a full ring. */
	assert_int_equal(skey_ring_generate(full, other), 0);
	assert_int_equal(skey_ring_seal(a, box, id, s_space, key_curve_public(seal_c)), 0);
	assert_int_equal(skey_ring_open(full, box, s_space, id, seal_c), CPT_EFULL);

	skey_ring_destroy(&a);
	skey_ring_destroy(&c);
	skey_ring_destroy(&full);
	key_curve_destroy(&seal_c);
	key_curve_destroy(&seal_b);
}

/* ------------------------------------------------------ bodies and their AD */

static void
test_encrypt_bound(void **state)
{
	static const char text[] = "{\"kind\":6,\"text\":\"salaires 2025\"}";
	skey_ring_t *ring = skey_ring_new(2);
	uint8_t id[SKEY_ID_LEN], id2[SKEY_ID_LEN], nonce[SKEY_NONCE_LEN], ct[512], pt[512];
	uint8_t fed2[CPT_FED_LEN], ad[SKEY_AD_LEN];
	skey_ctx_t ctx = {s_fed, EVT_SEALED, s_alice, s_space}, x;
	size_t clen = 0, plen = 0;

	(void)state;
	assert_int_equal(skey_ring_generate(ring, id), 0);
	assert_int_equal(skey_ring_generate(ring, id2), 0);
	randombytes_buf(nonce, sizeof(nonce));
	assert_int_equal(skey_encrypt(ring, ct, sizeof(ct), &clen, id, &ctx, nonce,
	                              (const uint8_t *)text, sizeof(text) - 1),
	                 0);
	assert_int_equal(clen, SKEY_PAD + SKEY_TAG_LEN);
	assert_int_equal(skey_decrypt(ring, pt, sizeof(pt), &plen, id, &ctx, nonce, ct, clen), 0);
	assert_int_equal(plen, SKEY_PAD);
	assert_memory_equal(pt, text, sizeof(text) - 1);
	for (size_t i = sizeof(text) - 1; i < plen; i++)
		assert_int_equal(pt[i], ' ');
	/* The secret words are not in the ciphertext. */
	assert_null(memmem(ct, clen, "salaires", 8));

	/* Each part of the context is bound: moved anywhere else, it does not open. */
	memset(fed2, 0x99, sizeof(fed2));
	x = ctx, x.fed = fed2;
	assert_int_equal(skey_decrypt(ring, pt, sizeof(pt), &plen, id, &x, nonce, ct, clen),
	                 CPT_EAUTH);
	for (size_t i = 0; i < plen; i++)
		assert_int_equal(pt[i], 0); /* nothing unauthenticated is left in out */
	x = ctx, x.kind = EVT_SPACE;
	assert_int_equal(skey_decrypt(ring, pt, sizeof(pt), &plen, id, &x, nonce, ct, clen),
	                 CPT_EAUTH);
	x = ctx, x.author = s_bruno;
	assert_int_equal(skey_decrypt(ring, pt, sizeof(pt), &plen, id, &x, nonce, ct, clen),
	                 CPT_EAUTH);
	x = ctx, x.space = s_space2;
	assert_int_equal(skey_decrypt(ring, pt, sizeof(pt), &plen, id, &x, nonce, ct, clen),
	                 CPT_EAUTH);
	x = ctx, x.space = NULL;
	assert_int_equal(skey_decrypt(ring, pt, sizeof(pt), &plen, id, &x, nonce, ct, clen),
	                 CPT_EAUTH);
	/* The key id is in the AD: the right bytes under another id do not open. */
	assert_int_equal(skey_decrypt(ring, pt, sizeof(pt), &plen, id2, &ctx, nonce, ct, clen),
	                 CPT_EAUTH);
	nonce[0] ^= 1;
	assert_int_equal(skey_decrypt(ring, pt, sizeof(pt), &plen, id, &ctx, nonce, ct, clen),
	                 CPT_EAUTH);
	nonce[0] ^= 1;
	ct[3] ^= 0x80;
	assert_int_equal(skey_decrypt(ring, pt, sizeof(pt), &plen, id, &ctx, nonce, ct, clen),
	                 CPT_EAUTH);
	ct[3] ^= 0x80;
	assert_int_equal(
	    skey_decrypt(ring, pt, sizeof(pt), &plen, id, &ctx, nonce, ct, SKEY_TAG_LEN - 1),
	    CPT_EINVAL);
	assert_int_equal(skey_decrypt(ring, pt, 10, &plen, id, &ctx, nonce, ct, clen), CPT_ETOOBIG);
	assert_int_equal(skey_encrypt(ring, ct, 70, &clen, id, &ctx, nonce, (const uint8_t *)text,
	                              sizeof(text) - 1),
	                 CPT_ETOOBIG);
	memset(id2, 7, sizeof(id2));
	assert_int_equal(skey_decrypt(ring, pt, sizeof(pt), &plen, id2, &ctx, nonce, ct, clen),
	                 CPT_ENOTFOUND);

	/* The AD's layout (PROTOCOL.md 16.5): domain, fed, kind, author, space, key id. */
	skey_ad(ad, &ctx, id);
	assert_memory_equal(ad, SKEY_AD_DOMAIN, 22);
	assert_memory_equal(ad + 22, s_fed, 32);
	assert_int_equal(ad[54], 0);
	assert_int_equal(ad[55], EVT_SEALED);
	assert_memory_equal(ad + 56, s_alice, 32);
	assert_memory_equal(ad + 88, s_space, 32);
	assert_memory_equal(ad + 120, id, 32);
	x = ctx, x.space = NULL;
	skey_ad(ad, &x, id);
	for (int i = 88; i < 120; i++)
		assert_int_equal(ad[i], 0);

	/* Padding: to the next multiple of 64, one block for nothing. */
	assert_int_equal(skey_sealed_len(0), 64 + 16);
	assert_int_equal(skey_sealed_len(1), 64 + 16);
	assert_int_equal(skey_sealed_len(64), 64 + 16);
	assert_int_equal(skey_sealed_len(65), 128 + 16);
	skey_ring_destroy(&ring);
}

/* ---------------------------------------------------------------- base64 */

static void
test_base64(void **state)
{
	static const char *const refused[] = {"QR==",   "QQ=",  "QQ",   "QUJ=", "Q===", "QQ==QQ==",
	                                      "QQ==\n", " QQ=", "QQ-_", "====", "QUJD="};
	uint8_t in[16], out[16];
	char text[32];
	size_t n = 0;

	(void)state;
	for (size_t len = 0; len <= sizeof(in); len++) {
		randombytes_buf(in, len);
		cpt_b64(text, in, len);
		assert_int_equal(strlen(text), cpt_b64_len(len));
		assert_int_equal(cpt_unb64(out, sizeof(out), &n, text, strlen(text)), 0);
		assert_int_equal(n, len);
		assert_memory_equal(in, out, len);
	}
	assert_int_equal(cpt_unb64(out, sizeof(out), &n, "QQ==", 4), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'A');
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (cpt_unb64(out, sizeof(out), &n, refused[i], strlen(refused[i])) != CPT_EINVAL)
			fail_msg("base64 \"%s\" was not refused", refused[i]);
	assert_int_equal(cpt_unb64(out, 2, &n, "QUJD", 4), CPT_ETOOBIG);
	assert_int_equal(cpt_unb64(out, 2, &n, "QUI=", 4), 0);
}

/* ------------------------------------------------------------ site spaces */

static void
test_site_space(void **state)
{
	uint8_t a[CPT_ID_LEN], b[CPT_ID_LEN], c[CPT_ID_LEN], fed2[CPT_FED_LEN], want[32];
	uint8_t buf[22 + CPT_FED_LEN + 4];

	(void)state;
	skey_site_space(a, s_fed, "lyon");
	skey_site_space(b, s_fed, "paris");
	memset(fed2, 0x12, sizeof(fed2));
	skey_site_space(c, fed2, "lyon");
	assert_memory_not_equal(a, b, CPT_ID_LEN);
	assert_memory_not_equal(a, c, CPT_ID_LEN);
	memcpy(buf, SKEY_SITE_DOMAIN, 22);
	memcpy(buf + 22, s_fed, CPT_FED_LEN);
	memcpy(buf + 22 + CPT_FED_LEN, "lyon", 4);
	crypto_generichash(want, 32, buf, sizeof(buf), NULL, 0);
	assert_memory_equal(a, want, 32);
}

/* --------------------------------------------------------- the seal key file */

static void
test_seal_key_file(void **state)
{
	char dir[] = "/tmp/comptoir-skey-XXXXXX", path[64], text[512], err[256];
	key_curve_t *k = key_curve_new(), *back;
	struct stat st;
	FILE *f;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/site.seal", dir);
	assert_int_equal(key_seal_save(k, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(f = fopen(path, "r"));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	/* Site IT can tell it from the transport key; the type is the CURVE key's. */
	assert_non_null(strstr(text, "seal key"));
	assert_non_null(strstr(text, "type: comptoir-curve-secret-v1\n"));
	back = key_curve_load(path, err, sizeof(err));
	assert_non_null(back);
	assert_memory_equal(key_curve_public(back), key_curve_public(k), CPT_KEY_LEN);
	assert_int_equal(key_seal_save(k, path), CPT_EEXIST);
	unlink(path);
	rmdir(dir);
	key_curve_destroy(&k);
	key_curve_destroy(&back);
}

/* ----------------------------------------------------- tests/vectors/spaces.txt */

#define MAX_FIELDS 24

struct s_vec {
	const char *key[MAX_FIELDS];
	const char *value[MAX_FIELDS];
	int n;
};

static const char *
s_get(const struct s_vec *v, const char *key)
{
	for (int i = 0; i < v->n; i++)
		if (strcmp(v->key[i], key) == 0)
			return v->value[i];
	return NULL;
}

static const char *
s_need(const struct s_vec *v, const char *key)
{
	const char *s = s_get(v, key);

	if (s == NULL)
		fail_msg("spaces.txt: vector %s has no %s", s_get(v, "name"), key);
	return s;
}

static size_t
s_unhex_any(uint8_t *out, size_t cap, const char *hex)
{
	size_t got = 0;

	assert_int_equal(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &got, NULL), 0);
	assert_int_equal(got, strlen(hex) / 2);
	return got;
}

/* A seal key pair from its secret, through a key file as a site keeps it. */
static key_curve_t *
s_seal_pair(const char *secret_hex, const char *public_hex)
{
	char dir[] = "/tmp/comptoir-skeyv-XXXXXX", path[64], err[256];
	key_curve_t *k;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/site.seal", dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "type: comptoir-curve-secret-v1\npublic: %s\nsecret: %s\n", public_hex,
	        secret_hex);
	fclose(f);
	chmod(path, 0600);
	k = key_curve_load(path, err, sizeof(err));
	if (k == NULL)
		fail_msg("%s", err);
	unlink(path);
	rmdir(dir);
	return k;
}

static void
s_check_vector(const struct s_vec *v, int *nsealed, int *nkeys)
{
	static uint8_t env[EVT_MAX_LEN], ct[EVT_MAX_BODY], pt[EVT_MAX_BODY];
	const char *name = s_need(v, "name"), *expect = s_need(v, "expect");
	uint8_t key[SKEY_LEN], id[SKEY_ID_LEN], want[32], space[CPT_ID_LEN];
	skey_ring_t *ring = skey_ring_new(2);
	json_t *body = NULL;
	json_error_t jerr;
	evt_t ev;
	size_t len;

	if (strcmp(name, "space_key_id") == 0) {
		s_unhex_any(key, sizeof(key), s_need(v, "space_key"));
		s_unhex_any(want, 32, s_need(v, "key_id"));
		skey_id_of(id, key);
		assert_memory_equal(id, want, 32);
		goto out;
	}
	if (strcmp(name, "blob_seal") == 0) {
		/* PROTOCOL.md 18.4 through node/blob: the same ids, and the
		 * plaintext back. */
		static uint8_t plain[70000];
		char dir[] = "/tmp/test_skey.XXXXXX", cmd[64], hex[CPT_HEX_ID], field[16];
		size_t n = strtoul(s_need(v, "plain_size"), NULL, 10);
		blob_store_t *bs = NULL;
		uint8_t fkey[BLOB_FKEY_LEN], bid[BLOB_ID_LEN], *back = NULL;
		uint64_t size = 0;

		assert_true(n <= sizeof(plain));
		for (size_t i = 0; i < n; i++)
			plain[i] = (uint8_t)(7 * i + 3);
		s_unhex_any(fkey, sizeof(fkey), s_need(v, "fkey"));
		assert_non_null(mkdtemp(dir));
		assert_int_equal(blob_store_open(&bs, dir), 0);
		for (uint8_t part = 0; part < 2; part++) {
			snprintf(field, sizeof(field), "blob_part%u", part);
			assert_int_equal(blob_seal_bytes(bs, fkey, part, plain, n, bid, &size), 0);
			cpt_hex32(hex, bid);
			assert_string_equal(hex, s_need(v, field));
			assert_int_equal(size, strtoull(s_need(v, "size"), NULL, 10));
			assert_int_equal(blob_sread_all(bs, bid, fkey, part, n, &back), 0);
			assert_memory_equal(back, plain, n);
			free(back);
		}
		blob_store_close(&bs);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
		goto out;
	}
	if (strcmp(name, "site_space_lyon") == 0) {
		uint8_t root[32], fed[32];
		s_unhex_any(root, 32, s_need(v, "root_public"));
		evt_federation_id(fed, root);
		skey_site_space(space, fed, s_need(v, "site"));
		s_unhex_any(want, 32, s_need(v, "space"));
		assert_memory_equal(space, want, 32);
		goto out;
	}
	/* An event: a valid envelope first, whatever opening it gives. */
	len = s_unhex_any(env, sizeof(env), s_need(v, "envelope"));
	assert_int_equal(evt_decode(&ev, env, len, EVT_MAX_BODY), 0);
	{
		uint8_t root[32] = {0}, seed[32], fed[32];
		key_sign_t *r;
		for (int i = 0; i < 32; i++)
			seed[i] = (uint8_t)i;
		r = key_sign_from_seed(seed);
		memcpy(root, key_sign_public(r), 32);
		key_sign_destroy(&r);
		evt_federation_id(fed, root);
		assert_int_equal(evt_verify(&ev, fed), 0);
	}
	body = json_loadb((const char *)ev.body, ev.body_len, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(body);
	if (ev.kind == EVT_SPACE_KEY) {
		key_curve_t *seal = s_seal_pair(s_need(v, "seal_secret"), s_need(v, "seal_public"));
		const json_t *s = json_array_get(json_object_get(body, "seals"), 0);
		uint8_t box[SKEY_SEAL_LEN + 2];
		int rc;

		assert_int_equal(
		    cpt_unhex32(space, json_string_value(json_object_get(body, "space")), 64), 0);
		assert_int_equal(
		    cpt_unhex32(id, json_string_value(json_object_get(body, "key")), 64), 0);
		assert_int_equal(cpt_unb64(box, sizeof(box), &len,
		                           json_string_value(json_object_get(s, "box")),
		                           json_string_length(json_object_get(s, "box"))),
		                 0);
		assert_int_equal(len, SKEY_SEAL_LEN);
		rc = skey_ring_open(ring, box, space, id, seal);
		assert_string_equal(strcmp(expect, "ok") == 0 ? "ok" : expect,
		                    rc == 0            ? "ok"
		                    : rc == CPT_EINVAL ? "EINVAL"
		                    : rc == CPT_EAUTH  ? "EAUTH"
		                                       : "?");
		if (rc == 0)
			assert_int_equal(skey_ring_has(ring, id), 1);
		key_curve_destroy(&seal);
		(*nkeys)++;
	} else if (s_get(v, "nonce") != NULL) {
		const json_t *sealed = json_object_get(body, "sealed");
		uint8_t nonce[SKEY_NONCE_LEN], ad[SKEY_AD_LEN];
		skey_ctx_t ctx = {ev.fed, ev.kind, ev.author, NULL};
		size_t plen = 0;
		int rc;

		if (ev.kind == EVT_SEALED) {
			assert_int_equal(
			    cpt_unhex32(space, json_string_value(json_object_get(body, "space")),
			                64),
			    0);
			ctx.space = space;
		}
		s_unhex_any(key, sizeof(key), s_need(v, "space_key"));
		assert_int_equal(skey_ring_add(ring, key, id), 0);
		s_unhex_any(want, 32, s_need(v, "key_id"));
		assert_memory_equal(id, want, 32);
		s_unhex_any(nonce, sizeof(nonce), s_need(v, "nonce"));
		skey_ad(ad, &ctx, id);
		s_unhex_any(ct, sizeof(ct), s_need(v, "ad"));
		assert_memory_equal(ad, ct, SKEY_AD_LEN);
		assert_int_equal(cpt_unb64(ct, sizeof(ct), &len,
		                           json_string_value(json_object_get(sealed, "box")),
		                           json_string_length(json_object_get(sealed, "box"))),
		                 0);
		rc = skey_decrypt(ring, pt, sizeof(pt), &plen, id, &ctx, nonce, ct, len);
		if (strcmp(expect, "ok") == 0) {
			const char *plain = s_need(v, "plaintext");
			assert_int_equal(rc, 0);
			assert_int_equal(plen, strtoul(s_need(v, "padded"), NULL, 10));
			assert_memory_equal(pt, plain, strlen(plain));
		} else {
			assert_string_equal(expect, "EAUTH");
			assert_int_equal(rc, CPT_EAUTH);
		}
		(*nsealed)++;
	}
out:
	json_decref(body);
	skey_ring_destroy(&ring);
}

static void
test_vectors(void **state)
{
	struct s_vec v = {0};
	char *text, *p, *line;
	long size;
	int nsealed = 0, nkeys = 0, nvec = 0;
	FILE *f = fopen("tests/vectors/spaces.txt", "r");

	(void)state;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	assert_non_null(text = calloc(1, (size_t)size + 2));
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	text[size] = '\n';
	for (p = text; *p != '\0'; p = line + 1) {
		char *colon;

		line = strchr(p, '\n');
		*line = '\0';
		if (*p == '#')
			continue;
		if (*p == '\0') {
			if (v.n > 0) {
				s_check_vector(&v, &nsealed, &nkeys);
				nvec++;
			}
			v.n = 0;
			continue;
		}
		assert_non_null(colon = strstr(p, ": "));
		assert_true(v.n < MAX_FIELDS);
		*colon = '\0';
		v.key[v.n] = p;
		v.value[v.n++] = colon + 2;
	}
	if (v.n > 0) {
		s_check_vector(&v, &nsealed, &nkeys);
		nvec++;
	}
	free(text);
	/* The file holds what the document lists (16.11). */
	assert_int_equal(nvec, 14);
	assert_int_equal(nsealed, 4);
	assert_int_equal(nkeys, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_answers), cmocka_unit_test(test_ring),
	    cmocka_unit_test(test_seal_open),     cmocka_unit_test(test_encrypt_bound),
	    cmocka_unit_test(test_base64),        cmocka_unit_test(test_site_space),
	    cmocka_unit_test(test_seal_key_file), cmocka_unit_test(test_vectors),
	};
	return cmocka_run_group_tests(tests, s_setup, NULL);
}
