/*
 * Replays tests/vectors/events.txt (PROTOCOL.md, "Test vectors") against the
 * library: each valid vector is signed again from its seed and inputs and must
 * give the same bytes; each invalid one must be refused with its error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "crypto/crypto.h"

#define MAX_FIELDS 24

/* One block of "key: value" lines. Strings point into s_text. */
struct s_vector {
	const char *key[MAX_FIELDS];   /* field names */
	const char *value[MAX_FIELDS]; /* their values, NUL-terminated */
	int n;                         /* number of fields */
	unsigned line;                 /* line of the first field */
};

static const char *s_path = "tests/vectors/events.txt";
static char *s_text;                 /* the whole file, cut into strings */
static struct s_vector *s_vectors;   /* its blocks */
static size_t s_count;               /* how many */
static uint8_t s_env[EVT_MAX_LEN];   /* envelope signed again */
static uint8_t s_given[EVT_MAX_LEN]; /* envelope of the vector */

static const char *
s_get(const struct s_vector *v, const char *key)
{
	for (int i = 0; i < v->n; i++)
		if (strcmp(v->key[i], key) == 0)
			return v->value[i];
	return NULL;
}

static const char *
s_need(const struct s_vector *v, const char *key)
{
	const char *value = s_get(v, key);

	if (value == NULL)
		fail_msg("%s:%u: vector has no \"%s\"", s_path, v->line, key);
	return value;
}

/* Hex of exactly len bytes into out. */
static void
s_unhex(uint8_t *out, size_t len, const struct s_vector *v, const char *key)
{
	const char *hex = s_need(v, key);
	size_t got = 0;

	if (strlen(hex) != 2 * len ||
	    sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL) != 0 || got != len)
		fail_msg("%s:%u: \"%s\" is not %zu bytes of hex", s_path, v->line, key, len);
}

/* Hex of any length up to EVT_MAX_LEN into out; returns the byte count. */
static size_t
s_unhex_any(uint8_t *out, const struct s_vector *v, const char *key)
{
	const char *hex = s_need(v, key);
	size_t got = 0;

	if (strlen(hex) % 2 != 0 || strlen(hex) / 2 > EVT_MAX_LEN ||
	    sodium_hex2bin(out, EVT_MAX_LEN, hex, strlen(hex), NULL, &got, NULL) != 0 ||
	    got != strlen(hex) / 2)
		fail_msg("%s:%u: \"%s\" is not hex", s_path, v->line, key);
	return got;
}

static void
s_expect_hex(const struct s_vector *v, const char *key, const uint8_t *b, size_t len)
{
	char hex[2 * EVT_MAX_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), b, len);
	if (strcmp(hex, s_need(v, key)) != 0)
		fail_msg("%s:%u: %s: \"%s\" is\n  %s\nwant\n  %s", s_path, v->line,
		         s_need(v, "name"), key, hex, s_need(v, key));
}

/* ---------------------------------------------------------------- parse */

/* Reads the file and cuts it into blocks; fields are "key: value" lines. */
static int
s_load(void)
{
	size_t cap = 0, len = 0;
	unsigned lineno = 0;
	char *p, *eol;
	FILE *f;

	if (cpt_init() != 0 || (f = fopen(s_path, "rb")) == NULL)
		return -1;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = 2 * cap + 8192;
			if ((s_text = realloc(s_text, cap)) == NULL)
				return -1;
		}
		size_t n = fread(s_text + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	s_text[len] = '\0';
	/* Every line can start a block: an upper bound on their number. */
	if ((s_vectors = calloc(len / 2 + 1, sizeof(*s_vectors))) == NULL)
		return -1;
	for (p = s_text; *p != '\0'; p = eol + 1) {
		struct s_vector *v = &s_vectors[s_count];
		char *sep;

		lineno++;
		if ((eol = strchr(p, '\n')) == NULL)
			eol = p + strlen(p) - 1; /* a last line without LF */
		else
			*eol = '\0';
		if (*p == '#')
			continue;
		if (*p == '\0') {
			if (v->n > 0)
				s_count++;
			continue;
		}
		if ((sep = strstr(p, ": ")) == NULL || v->n == MAX_FIELDS) {
			fprintf(stderr, "%s:%u: not a \"key: value\" line\n", s_path, lineno);
			return -1;
		}
		*sep = '\0';
		if (v->n == 0)
			v->line = lineno;
		v->key[v->n] = p;
		v->value[v->n++] = sep + 2;
	}
	if (s_vectors[s_count].n > 0)
		s_count++;
	return s_count > 0 ? 0 : -1;
}

static void
s_unload(void)
{
	free(s_vectors);
	free(s_text);
}

/* ----------------------------------------------------------------- valid */

#include "tests/vectors/codes.h"

/* The key backup opens with its password and gives back the seed. */
static void
s_check_backup(const struct s_vector *v, const char *body, const uint8_t seed[CPT_SEED_LEN])
{
	uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
	uint8_t box[crypto_secretbox_MACBYTES + CPT_SEED_LEN], key[crypto_secretbox_KEYBYTES];
	uint8_t out[CPT_SEED_LEN];
	const char *password = s_need(v, "password"), *kdf, *salt_hex, *nonce_hex, *box_hex;
	json_int_t ops, mem;
	json_t *root;

	root = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(root);
	assert_int_equal(json_unpack(root, "{s:s, s:I, s:I, s:s, s:s, s:s}", "kdf", &kdf, "ops",
	                             &ops, "mem", &mem, "salt", &salt_hex, "nonce", &nonce_hex,
	                             "box", &box_hex),
	                 0);
	assert_string_equal(kdf, "argon2id13");
	assert_int_equal(strlen(salt_hex), 2 * sizeof(salt));
	assert_int_equal(strlen(nonce_hex), 2 * sizeof(nonce));
	assert_int_equal(strlen(box_hex), 2 * sizeof(box));
	assert_int_equal(sodium_hex2bin(salt, sizeof(salt), salt_hex, 32, NULL, NULL, NULL), 0);
	assert_int_equal(sodium_hex2bin(nonce, sizeof(nonce), nonce_hex, 48, NULL, NULL, NULL), 0);
	assert_int_equal(sodium_hex2bin(box, sizeof(box), box_hex, 96, NULL, NULL, NULL), 0);
	assert_int_equal(crypto_pwhash(key, sizeof(key), password, strlen(password), salt,
	                               (unsigned long long)ops, (size_t)mem,
	                               crypto_pwhash_ALG_ARGON2ID13),
	                 0);
	assert_int_equal(crypto_secretbox_open_easy(out, box, sizeof(box), nonce, key), 0);
	assert_memory_equal(out, seed, CPT_SEED_LEN);
	json_decref(root);
}

static void
s_valid(const struct s_vector *v)
{
	uint8_t root_seed[CPT_SEED_LEN], seed[CPT_SEED_LEN], fed[CPT_FED_LEN], id[CPT_ID_LEN];
	const char *body = s_need(v, "body");
	key_sign_t *root, *author;
	char fpr[CPT_FPR_LEN];
	unsigned long long ts;
	unsigned long kind;
	size_t len, given;
	int redacted;
	evt_t ev;

	s_unhex(root_seed, sizeof(root_seed), v, "root_seed");
	s_unhex(seed, sizeof(seed), v, "seed");
	kind = strtoul(s_need(v, "kind"), NULL, 10);
	ts = strtoull(s_need(v, "timestamp"), NULL, 10);
	redacted = strcmp(s_need(v, "redacted"), "yes") == 0;
	assert_true(kind > 0 && kind <= 0xffff);
	root = key_sign_from_seed(root_seed);
	author = key_sign_from_seed(seed);
	assert_non_null(root);
	assert_non_null(author);

	s_expect_hex(v, "root_public", key_sign_public(root), CPT_KEY_LEN);
	s_expect_hex(v, "public", key_sign_public(author), CPT_KEY_LEN);
	key_fingerprint(fpr, key_sign_public(author));
	assert_string_equal(fpr, s_need(v, "fingerprint"));
	evt_federation_id(fed, key_sign_public(root));
	s_expect_hex(v, "federation", fed, CPT_FED_LEN);

	/* Signed again from the inputs: the same bytes. */
	assert_int_equal(evt_sign(s_env, sizeof(s_env), &len, (uint16_t)kind, fed, ts,
	                          (const uint8_t *)body, strlen(body), author),
	                 0);
	s_expect_hex(v, "body_hash", s_env + 76, CPT_HASH_LEN);
	s_expect_hex(v, "signature", s_env + 112, CPT_SIG_LEN);
	evt_id_raw(id, s_env);
	s_expect_hex(v, "id", id, CPT_ID_LEN);
	s_expect_hex(v, "envelope", s_env, redacted ? EVT_FIXED_LEN : len);

	/* The given bytes, as a receiver takes them. */
	given = s_unhex_any(s_given, v, "envelope");
	assert_int_equal(evt_decode(&ev, s_given, given, EVT_MAX_BODY), 0);
	assert_int_equal(evt_verify(&ev, fed), 0);
	assert_int_equal(ev.kind, kind);
	assert_true(ev.ts == ts);
	assert_int_equal(ev.body_len, strlen(body));
	if (redacted)
		assert_null(ev.body);
	else
		assert_memory_equal(ev.body, body, strlen(body));
	evt_id(id, &ev);
	s_expect_hex(v, "id", id, CPT_ID_LEN);

	if (s_get(v, "password") != NULL)
		s_check_backup(v, body, seed);
	key_sign_destroy(&root);
	key_sign_destroy(&author);
}

static void
s_invalid(const struct s_vector *v)
{
	uint8_t root_pk[CPT_KEY_LEN], fed[CPT_FED_LEN];
	size_t len = s_unhex_any(s_given, v, "envelope");
	evt_t ev;
	int rc;

	s_unhex(root_pk, sizeof(root_pk), v, "root_public");
	evt_federation_id(fed, root_pk);
	rc = evt_decode(&ev, s_given, len, EVT_MAX_BODY);
	if (rc == 0)
		rc = evt_verify(&ev, fed);
	assert_string_equal(s_code(rc), s_need(v, "expect"));
}

static void
test_vector(void **state)
{
	const struct s_vector *v = *state;

	if (strcmp(s_need(v, "expect"), "ok") == 0)
		s_valid(v);
	else
		s_invalid(v);
}

/* The file keeps what PROTOCOL.md promises: every kind, a redacted event,
 * an unknown kind, and refusals of each error. */
static void
test_coverage(void **state)
{
	int kinds[11] = {0}, redacted = 0, unknown = 0;
	const char *codes[] = {"EINVAL", "ETOOBIG", "EVERSION", "EFEDERATION", "ESIG", "EHASH"};
	int seen[6] = {0};

	for (size_t i = 0; i < s_count; i++) {
		const struct s_vector *v = &s_vectors[i];

		if (strcmp(s_need(v, "expect"), "ok") != 0) {
			for (int c = 0; c < 6; c++)
				seen[c] |= strcmp(s_need(v, "expect"), codes[c]) == 0;
			continue;
		}
		unsigned long kind = strtoul(s_need(v, "kind"), NULL, 10);
		if (strcmp(s_need(v, "redacted"), "yes") == 0)
			redacted = 1;
		else if (kind <= 10)
			kinds[kind] = 1;
		else
			unknown = 1;
	}
	for (int k = 1; k <= 10; k++)
		if (!kinds[k])
			fail_msg("no valid vector of kind %d", k);
	assert_true(redacted);
	assert_true(unknown);
	for (int c = 0; c < 6; c++)
		if (!seen[c])
			fail_msg("no vector refused with %s", codes[c]);
}

int
main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	const char *name;
	int rc;

	if (argc > 1)
		s_path = argv[1];
	if (s_load() != 0) {
		fprintf(stderr, "%s: cannot load the vectors\n", s_path);
		return 1;
	}
	if ((tests = calloc(s_count + 1, sizeof(*tests))) == NULL)
		return 1;
	tests[0] = (struct CMUnitTest)cmocka_unit_test(test_coverage);
	for (size_t i = 0; i < s_count; i++) {
		name = s_get(&s_vectors[i], "name");
		tests[i + 1].name = name != NULL ? name : "unnamed";
		tests[i + 1].test_func = test_vector;
		tests[i + 1].initial_state = &s_vectors[i];
	}
	rc = _cmocka_run_group_tests("vectors", tests, s_count + 1, NULL, NULL);
	free(tests);
	s_unload();
	return rc;
}
