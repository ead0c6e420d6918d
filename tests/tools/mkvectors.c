/*
 * Writes the event test vectors (docs/PROTOCOL.md, "Test vectors") to stdout from
 * fixed seeds and bodies, with the library itself; -c DIR also writes each envelope
 * as a binary file into DIR, the seed corpus of tests/fuzz/fuzz_envelope.c.
 * Usage: mkvectors [-c DIR] > tests/vectors/events.txt
 *        mkvectors -r > tests/vectors/rules.txt   (the receiver-rule vectors)
 *        mkvectors -s > tests/vectors/spaces.txt  (the space vectors)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypto/crypto.h"
#include "node/blob/blob.h"

/* Someone whose key signs vectors: its seed is 32 consecutive byte values. */
struct s_party {
	uint8_t seed[CPT_SEED_LEN]; /* the Ed25519 seed */
	key_sign_t *key;            /* the key pair of seed */
	char hex[CPT_HEX_ID];       /* its public key in hex */
};

/* An event made by s_event(): its envelope and id, for later vectors to use. */
struct s_made {
	uint8_t env[EVT_MAX_LEN]; /* the full envelope (never redacted) */
	size_t len;               /* its length */
	char id[CPT_HEX_ID];      /* its id in hex */
};

/* 2025-03-03T08:00:00.000Z: the day the vectors' federation starts. */
#define T0     1740988800000ull
#define MINUTE 60000ull

static const char *s_corpus_dir; /* -c DIR, or NULL */
static struct s_party s_root, s_lyon, s_alice, s_bruno, s_bruno_old, s_other_root, s_bot;
static uint8_t s_fed[CPT_FED_LEN];       /* the federation id of s_root */
static uint8_t s_other_fed[CPT_FED_LEN]; /* the federation id of s_other_root */
static unsigned s_nvectors;

static void
s_die(const char *what)
{
	fprintf(stderr, "mkvectors: %s\n", what);
	exit(1);
}

static void
s_party_init(struct s_party *p, uint8_t first)
{
	for (int i = 0; i < CPT_SEED_LEN; i++)
		p->seed[i] = (uint8_t)(first + i);
	if ((p->key = key_sign_from_seed(p->seed)) == NULL)
		s_die("out of memory");
	cpt_hex32(p->hex, key_sign_public(p->key));
}

static void
s_put_hex(const char *key, const uint8_t *b, size_t n)
{
	printf("%s: ", key);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

static void
s_hex_into(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The enrolment proof of who as handle at site, in hex (129 bytes with NUL). */
static void
s_proof_hex(char out[2 * CPT_SIG_LEN + 1], const struct s_party *who, const char *site,
            const char *handle)
{
	uint8_t sig[CPT_SIG_LEN];

	if (evt_proof_sign(sig, who->key, s_fed, site, handle) != 0)
		s_die("proof");
	s_hex_into(out, sig, sizeof(sig));
}

/* The X25519 public key of the secret whose bytes are first, first + 1, ... */
static void
s_x25519_hex(char out[CPT_HEX_ID], uint8_t first)
{
	uint8_t sk[32], pk[32];

	for (int i = 0; i < 32; i++)
		sk[i] = (uint8_t)(first + i);
	if (crypto_scalarmult_base(pk, sk) != 0)
		s_die("x25519");
	cpt_hex32(out, pk);
}

/* Writes buf as DIR/NAME.bin when -c was given. */
static void
s_corpus(const char *name, const uint8_t *buf, size_t len)
{
	char path[1024];
	FILE *f;

	if (s_corpus_dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s.bin", s_corpus_dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		s_die(path);
}

#include "tests/vectors/codes.h"

/* What a receiver of federation s_fed says of buf: decode, then verify. */
static int
s_check(const uint8_t *buf, size_t len)
{
	evt_t ev;
	int rc;

	if ((rc = evt_decode(&ev, buf, len, EVT_MAX_BODY)) != 0)
		return rc;
	return evt_verify(&ev, s_fed);
}

/* "wall clock 2025-03-03T08:00:00.000Z, counter 0" for a note. */
static const char *
s_when(uint64_t ts)
{
	static char out[80];
	time_t secs = (time_t)(HLC_MS(ts) / 1000);
	struct tm tm;
	char iso[32];

	gmtime_r(&secs, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, sizeof(out), "wall clock %s.%03uZ, counter %u", iso,
	         (unsigned)(HLC_MS(ts) % 1000), (unsigned)HLC_COUNTER(ts));
	return out;
}

/*
 * Signs body as who and prints a valid vector; redacted prints the 176-byte
 * form instead. password, when not NULL, is the key-backup password.
 */
static void
s_event(struct s_made *out, const char *name, const char *note, const struct s_party *who,
        uint16_t kind, uint64_t ts, const char *body, int redacted, const char *password)
{
	uint8_t id[CPT_ID_LEN];
	size_t blen = strlen(body), shown;
	char fpr[CPT_FPR_LEN];
	evt_t ev;

	if (evt_sign(out->env, sizeof(out->env), &out->len, kind, s_fed, ts, (const uint8_t *)body,
	             blen, who->key) != 0)
		s_die(name);
	shown = redacted ? EVT_FIXED_LEN : out->len;
	if (evt_decode(&ev, out->env, shown, EVT_MAX_BODY) != 0 || evt_verify(&ev, s_fed) != 0)
		s_die(name);
	evt_id(id, &ev);
	cpt_hex32(out->id, id);
	key_fingerprint(fpr, key_sign_public(who->key));

	printf("name: %s\nexpect: ok\nnote: %s; %s\n", name, note, s_when(ts));
	s_put_hex("root_seed", s_root.seed, CPT_SEED_LEN);
	printf("root_public: %s\n", s_root.hex);
	s_put_hex("seed", who->seed, CPT_SEED_LEN);
	printf("kind: %u\ntimestamp: %llu\nbody: %s\nredacted: %s\n", kind, (unsigned long long)ts,
	       body, redacted ? "yes" : "no");
	if (password != NULL)
		printf("password: %s\n", password);
	printf("public: %s\nfingerprint: %s\n", who->hex, fpr);
	s_put_hex("federation", s_fed, CPT_FED_LEN);
	s_put_hex("body_hash", ev.body_hash, CPT_HASH_LEN);
	s_put_hex("signature", ev.sig, CPT_SIG_LEN);
	printf("id: %s\n", out->id);
	s_put_hex("envelope", out->env, shown);
	printf("\n");
	s_corpus(name, out->env, shown);
	s_nvectors++;
}

/* Prints an envelope that a receiver must refuse with expect, after checking
 * that this library does. */
static void
s_reject(const char *name, const char *note, const char *expect, const uint8_t *buf, size_t len)
{
	if (strcmp(s_code(s_check(buf, len)), expect) != 0) {
		fprintf(stderr, "mkvectors: %s: library says %s, vector says %s\n", name,
		        s_code(s_check(buf, len)), expect);
		exit(1);
	}
	printf("name: %s\nexpect: %s\nnote: %s\nroot_public: %s\n", name, expect, note, s_root.hex);
	s_put_hex("envelope", buf, len);
	printf("\n");
	s_corpus(name, buf, len);
	s_nvectors++;
}

/* Signs a raw body (which may hold any byte) as alice for a rejection vector. */
static size_t
s_sign_raw(uint8_t *out, size_t cap, uint16_t kind, const uint8_t *fed, const void *body,
           size_t len)
{
	size_t n;

	if (evt_sign(out, cap, &n, kind, fed, HLC_MAKE(T0 + 90 * MINUTE, 0), body, len,
	             s_alice.key) != 0)
		s_die("sign");
	return n;
}

/* The key backup body of alice: her seed sealed under her password. */
static void
s_backup_body(char *body, size_t cap, const char *password)
{
	uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
	uint8_t key[crypto_secretbox_KEYBYTES], box[crypto_secretbox_MACBYTES + CPT_SEED_LEN];
	char salt_hex[2 * sizeof(salt) + 1], nonce_hex[2 * sizeof(nonce) + 1];
	char box_hex[2 * sizeof(box) + 1];

	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)(0xd0 + i);
	for (size_t i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)(0xe0 + i);
	if (crypto_pwhash(key, sizeof(key), password, strlen(password), salt,
	                  crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0)
		s_die("argon2id: out of memory");
	crypto_secretbox_easy(box, s_alice.seed, CPT_SEED_LEN, nonce, key);
	sodium_memzero(key, sizeof(key));
	s_hex_into(salt_hex, salt, sizeof(salt));
	s_hex_into(nonce_hex, nonce, sizeof(nonce));
	s_hex_into(box_hex, box, sizeof(box));
	snprintf(body, cap,
	         "{\"handle\":\"alice.martin\",\"kdf\":\"argon2id13\",\"ops\":%llu,\"mem\":%llu,"
	         "\"salt\":\"%s\",\"nonce\":\"%s\",\"box\":\"%s\"}",
	         (unsigned long long)crypto_pwhash_OPSLIMIT_INTERACTIVE,
	         (unsigned long long)crypto_pwhash_MEMLIMIT_INTERACTIVE, salt_hex, nonce_hex,
	         box_hex);
}

/* {"a":[[...]]}: an object holding arrays, depth levels in all. */
static size_t
s_nested(char *out, size_t cap, size_t depth)
{
	size_t n = 0;

	if (cap < 2 * depth + 6)
		s_die("nested body too deep");
	memcpy(out, "{\"a\":", 5);
	n = 5;
	for (size_t i = 1; i < depth; i++)
		out[n++] = '[';
	for (size_t i = 1; i < depth; i++)
		out[n++] = ']';
	out[n++] = '}';
	out[n] = '\0';
	return n;
}

/* The envelopes every conforming receiver accepts. Leaves the post and the
 * comment in post and comment for the rejection vectors. */
static void
s_valid(struct s_made *post, struct s_made *comment)
{
	static struct s_made m, filem; /* events no later vector refers to; the file */
	struct s_made *file = &filem;
	char body[8192], curve_hex[CPT_HEX_ID], seal_hex[CPT_HEX_ID], proof[2 * CPT_SIG_LEN + 1];
	const char *password = "correct horse battery staple";

	s_x25519_hex(curve_hex, 0xc0);
	s_x25519_hex(seal_hex, 0xe0);

	snprintf(body, sizeof(body),
	         "{\"site\":\"lyon\",\"sign_key\":\"%s\",\"curve_key\":\"%s\",\"seal_key\":\"%s\","
	         "\"endpoints\":[\"tcp://lyon.intranet.example:7450\",\"tcp://10.1.0.5:7450\"],"
	         "\"not_before\":%llu,\"not_after\":0}",
	         s_lyon.hex, curve_hex, seal_hex, (unsigned long long)T0);
	s_event(
	    &m, "site_cert_lyon",
	    "the root certifies site lyon from the moment it signs (not_before = the ms of the "
	    "timestamp); curve_key and seal_key are X25519 of the secrets c0c1..df and e0e1..ff",
	    &s_root, EVT_SITE_CERT, HLC_MAKE(T0, 0), body, 0, NULL);

	snprintf(body, sizeof(body),
	         "{\"site\":\"lyon\",\"title\":\"Entrepôt de Lyon\",\"sign_key\":\"%s\","
	         "\"curve_key\":\"%s\",\"seal_key\":\"%s\",\"endpoints\":"
	         "[\"tcp://lyon.intranet.example:7450\"],\"not_before\":%llu,\"not_after\":0}",
	         s_lyon.hex, curve_hex, seal_hex, (unsigned long long)(T0 + 6 * MINUTE));
	s_event(&m, "site_cert_lyon_title",
	        "the root certifies lyon again, now with the title staff read; this newer "
	        "certificate gives the site's name, keys and endpoints, and adds its window to "
	        "the first one's",
	        &s_root, EVT_SITE_CERT, HLC_MAKE(T0 + 6 * MINUTE, 0), body, 0, NULL);

	s_proof_hex(proof, &s_alice, "lyon", "alice.martin");
	snprintf(body, sizeof(body),
	         "{\"handle\":\"alice.martin\",\"key\":\"%s\",\"site\":\"lyon\",\"role\":\"admin\","
	         "\"proof\":\"%s\"}",
	         s_alice.hex, proof);
	s_event(&m, "enrol_alice",
	        "lyon enrols alice.martin as an admin; the proof is alice's signature of the "
	        "statement of section 7.2",
	        &s_lyon, EVT_ENROL, HLC_MAKE(T0 + MINUTE, 0), body, 0, NULL);

	s_proof_hex(proof, &s_bruno, "lyon", "bruno.durand");
	snprintf(
	    body, sizeof(body),
	    "{\"handle\":\"bruno.durand\",\"key\":\"%s\",\"site\":\"lyon\",\"role\":\"member\","
	    "\"proof\":\"%s\"}",
	    s_bruno.hex, proof);
	s_event(&m, "enrol_bruno", "lyon enrols bruno.durand in the same millisecond", &s_lyon,
	        EVT_ENROL, HLC_MAKE(T0 + MINUTE, 1), body, 0, NULL);

	s_proof_hex(proof, &s_bot, "lyon", "cantine.bot");
	snprintf(body, sizeof(body),
	         "{\"handle\":\"cantine.bot\",\"key\":\"%s\",\"site\":\"lyon\",\"role\":\"bot\","
	         "\"name\":\"Menu de la cantine\",\"proof\":\"%s\"}",
	         s_bot.hex, proof);
	s_event(&m, "enrol_bot",
	        "lyon enrols a service account (role bot, 7.2), whose key is held for its owner's "
	        "API tokens",
	        &s_lyon, EVT_ENROL, HLC_MAKE(T0 + MINUTE, 2), body, 0, NULL);

	snprintf(body, sizeof(body),
	         "{\"key\":\"%s\",\"effective\":%llu,\"reason\":\"ordinateur portable volé\","
	         "\"vouch\":{\"from\":0,\"to\":%llu,\"ids\":\"\"}}",
	         s_bruno_old.hex, (unsigned long long)(T0 + 2 * MINUTE),
	         (unsigned long long)(T0 + 2 * MINUTE));
	s_event(&m, "revoke_key",
	        "lyon revokes bruno's stolen old key (seed 8081..9f) and vouches for none of "
	        "its events before the revocation",
	        &s_lyon, EVT_REVOKE, HLC_MAKE(T0 + 3 * MINUTE, 0), body, 0, NULL);

	s_backup_body(body, sizeof(body), password);
	s_event(&m, "key_backup_alice",
	        "argon2id13 of the password with salt d0d1..df, then secretbox of alice's seed "
	        "with nonce e0e1..f7",
	        &s_alice, EVT_KEY_BACKUP, HLC_MAKE(T0 + 4 * MINUTE, 0), body, 0, password);

	s_event(&m, "profile_alice", "alice fills in her profile and clears her bio", &s_alice,
	        EVT_PROFILE, HLC_MAKE(T0 + 5 * MINUTE, 0),
	        "{\"fields\":{\"name\":\"Alice Martin\",\"title\":\"Responsable RH\","
	        "\"department\":\"Ressources humaines\",\"site\":\"lyon\","
	        "\"phone\":\"+33 4 72 00 00 00\",\"location\":\"Bâtiment B, 2e étage\","
	        "\"skills\":[\"recrutement\",\"formation\"],\"bio\":null}}",
	        0, NULL);

	s_event(file, "file_alice",
	        "alice publishes a photo (18.3): the blob, its size, type and name, its "
	        "dimensions after EXIF orientation and its two WebP thumbnails",
	        &s_alice, EVT_FILE, HLC_MAKE(T0 + 59 * MINUTE, 0),
	        "{\"blob\":\"7d1e5c0a9b3f2e4d6c8a0b1f3e5d7c9a2b4f6e8d0c1a3b5f7e9d2c4a6b8f0c3a\","
	        "\"size\":2483117,\"type\":\"image/jpeg\",\"name\":\"quai-3 été.jpg\","
	        "\"w\":4032,\"h\":3024,\"thumbs\":["
	        "{\"blob\":\"19aa3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b0b7e\","
	        "\"size\":18004,\"w\":320,\"h\":240},"
	        "{\"blob\":\"c0de2a4c6e8f0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e5512\","
	        "\"size\":161230,\"w\":1280,\"h\":960}]}",
	        0, NULL);

	s_event(post, "post_reunion", "alice posts and mentions bruno", &s_alice, EVT_POST,
	        HLC_MAKE(T0 + 60 * MINUTE, 0),
	        "{\"text\":\"Réunion à Lyon ☕ jeudi 10 h, salle Rhône. @bruno.durand, tu "
	        "présentes le budget ?\"}",
	        0, NULL);

	snprintf(body, sizeof(body), "{\"post\":\"%s\",\"text\":\"Oui, je m'en charge 👍\"}",
	         post->id);
	s_event(comment, "comment_bruno", "bruno comments on post_reunion", &s_bruno, EVT_COMMENT,
	        HLC_MAKE(T0 + 61 * MINUTE, 0), body, 0, NULL);

	snprintf(body, sizeof(body), "{\"post\":\"%s\",\"reaction\":\"☕\",\"on\":true}", post->id);
	s_event(&m, "reaction_bruno", "bruno reacts to post_reunion", &s_bruno, EVT_REACTION,
	        HLC_MAKE(T0 + 61 * MINUTE, 1), body, 0, NULL);

	snprintf(body, sizeof(body),
	         "{\"post\":\"%s\",\"text\":\"Réunion à Lyon ☕ jeudi 11 h (et non 10 h), "
	         "salle Rhône. @bruno.durand, tu présentes le budget ?\"}",
	         post->id);
	s_event(&m, "edit_post", "alice corrects the time in post_reunion", &s_alice, EVT_EDIT,
	        HLC_MAKE(T0 + 62 * MINUTE, 0), body, 0, NULL);

	snprintf(body, sizeof(body), "{\"target\":\"%s\"}", comment->id);
	s_event(&m, "redaction_comment", "bruno erases his comment", &s_bruno, EVT_REDACT,
	        HLC_MAKE(T0 + 63 * MINUTE, 0), body, 0, NULL);

	snprintf(body, sizeof(body), "{\"post\":\"%s\",\"text\":\"Oui, je m'en charge 👍\"}",
	         post->id);
	s_event(&m, "comment_bruno_redacted",
	        "comment_bruno after redaction_comment: header and signature only, same id",
	        &s_bruno, EVT_COMMENT, HLC_MAKE(T0 + 61 * MINUTE, 0), body, 1, NULL);

	snprintf(body, sizeof(body), "{\"text\":\"Le quai 3 ce matin.\",\"files\":[\"%s\"]}",
	         file->id);
	s_event(&m, "post_files", "alice posts with file_alice attached (post.files, 18.3)",
	        &s_alice, EVT_POST, HLC_MAKE(T0 + 64 * MINUTE, 0), body, 0, NULL);

	s_event(
	    &m, "unknown_kind_200", "a kind from a newer node: stored and relayed, not shown",
	    &s_alice, 200, HLC_MAKE(T0 + 70 * MINUTE, 0),
	    "{\"group\":\"velo-lyon\",\"text\":\"Sortie vélo dimanche 9 h, place Bellecour 🚲\"}", 0,
	    NULL);

	s_nested(body, sizeof(body), 2048);
	s_event(&m, "body_depth_2048", "the deepest nesting a body may have: 2048 levels", &s_alice,
	        200, HLC_MAKE(T0 + 71 * MINUTE, 0), body, 0, NULL);
}

/* The little-endian 256-bit sum s + l into s (no overflow: s < 2^253). */
static void
s_add_l(uint8_t s[32])
{
	static const uint8_t l[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,       0xd6,
	                              0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, [31] = 0x10};
	unsigned carry = 0;

	for (int i = 0; i < 32; i++) {
		carry += (unsigned)s[i] + l[i];
		s[i] = (uint8_t)carry;
		carry >>= 8;
	}
}

/* Replaces the signature of env by R = the identity point (a small-order point)
 * with S = k * a, which satisfies [S]B = R + [k]A: only the small-order rule
 * refuses it. */
static void
s_small_order_r(uint8_t *env)
{
	uint8_t msg[sizeof(EVT_SIG_DOMAIN) - 1 + EVT_HEADER_LEN], h[64], k[32], a[32];
	uint8_t wide[64] = {0};
	crypto_hash_sha512_state st;

	memset(env + 112, 0, 64);
	env[112] = 1; /* R: y = 1, the identity */
	memcpy(msg, EVT_SIG_DOMAIN, sizeof(EVT_SIG_DOMAIN) - 1);
	memcpy(msg + sizeof(EVT_SIG_DOMAIN) - 1, env, EVT_HEADER_LEN);
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, env + 112, 32);
	crypto_hash_sha512_update(&st, env + 36, 32);
	crypto_hash_sha512_update(&st, msg, sizeof(msg));
	crypto_hash_sha512_final(&st, h);
	crypto_core_ed25519_scalar_reduce(k, h);
	crypto_hash_sha512(h, s_alice.seed, CPT_SEED_LEN);
	h[0] &= 248;
	h[31] &= 127;
	h[31] |= 64;
	memcpy(wide, h, 32);
	crypto_core_ed25519_scalar_reduce(a, wide);
	crypto_core_ed25519_scalar_mul(env + 144, k, a);
}

/* Envelopes every conforming receiver refuses, with the error it gives. */
static void
s_invalid(const struct s_made *post)
{
	static uint8_t b[EVT_MAX_LEN + 1];
	static char deep[8192];
	size_t n = post->len;
	uint8_t be[4];

#define POST_COPY()         memcpy(b, post->env, n)
#define RAW(kind, fed, lit) s_sign_raw(b, sizeof(b), kind, fed, lit, sizeof(lit) - 1)
	s_reject("truncated_175", "post_reunion cut to 175 bytes", "EINVAL", post->env, 175);
	POST_COPY();
	b[0] = 1;
	s_reject("version_1",
	         "post_reunion with version 1, the protocol before this one (its "
	         "signature still holds: refused at step 2 all the same)",
	         "EVERSION", b, n);
	b[0] = 3;
	s_reject("version_3", "post_reunion with version 3", "EVERSION", b, n);
	b[0] = 0;
	s_reject("version_0", "post_reunion with version 0", "EVERSION", b, n);
	POST_COPY();
	b[1] = 1;
	s_reject("reserved_1", "post_reunion with the reserved byte 1", "EINVAL", b, n);
	s_reject("kind_0", "a post body signed as kind 0", "EINVAL", b,
	         RAW(0, s_fed, "{\"text\":\"x\"}"));
	POST_COPY();
	memset(b + 108, 0, 4);
	s_reject("body_length_0", "post_reunion's header with body length 0, no body", "EINVAL", b,
	         EVT_FIXED_LEN);
	POST_COPY();
	be[0] = 0, be[1] = 1, be[2] = 0, be[3] = 1; /* 65537 */
	memcpy(b + 108, be, 4);
	s_reject("body_length_65537", "a 176-byte envelope whose body length is 65537", "ETOOBIG",
	         b, EVT_FIXED_LEN);
	POST_COPY();
	b[n] = ' ';
	s_reject("trailing_byte", "post_reunion followed by one space", "EINVAL", b, n + 1);
	s_reject("short_body", "post_reunion without its last byte", "EINVAL", post->env, n - 1);
	POST_COPY();
	b[EVT_FIXED_LEN + 9] ^= 0x20; /* "Réunion" becomes "réunion" */
	s_reject("body_changed", "post_reunion with one letter of the body changed", "EHASH", b, n);
	POST_COPY();
	b[76] ^= 1;
	s_reject("hash_changed", "post_reunion with one bit of the body hash changed", "EHASH", b,
	         n);

	s_reject("body_duplicate_key", "signed body with the key \"text\" twice", "EINVAL", b,
	         RAW(EVT_POST, s_fed, "{\"text\":\"a\",\"text\":\"b\"}"));
	s_reject("body_escaped_duplicate_key", "signed body with keys \"text\" and \"\\u0074ext\"",
	         "EINVAL", b, RAW(EVT_POST, s_fed, "{\"text\":\"a\",\"\\u0074ext\":\"b\"}"));
	s_reject("body_array", "signed body that is an array, not an object", "EINVAL", b,
	         RAW(EVT_POST, s_fed, "[{\"text\":\"x\"}]"));
	s_reject("body_string", "signed body that is a string", "EINVAL", b,
	         RAW(EVT_POST, s_fed, "\"x\""));
	s_reject("body_bad_utf8", "signed body with bytes c3 28 inside a string", "EINVAL", b,
	         RAW(EVT_POST, s_fed, "{\"text\":\"\xc3\x28\"}"));
	s_reject("body_overlong_utf8", "signed body with the overlong form c0 af of '/'", "EINVAL",
	         b, RAW(EVT_POST, s_fed, "{\"text\":\"\xc0\xaf\"}"));
	s_reject("body_utf8_surrogate", "signed body with ed a0 80 (U+D800 encoded in UTF-8)",
	         "EINVAL", b, RAW(EVT_POST, s_fed, "{\"text\":\"\xed\xa0\x80\"}"));
	s_reject("body_lone_surrogate", "signed body with the escape \\ud800 alone", "EINVAL", b,
	         RAW(EVT_POST, s_fed, "{\"text\":\"\\ud800\"}"));
	s_reject("body_escaped_nul", "signed body with the escape \\u0000", "EINVAL", b,
	         RAW(EVT_POST, s_fed, "{\"text\":\"a\\u0000b\"}"));
	s_reject("body_nul_after", "signed body: an object followed by a NUL byte", "EINVAL", b,
	         RAW(EVT_POST, s_fed, "{\"text\":\"x\"}\0"));
	s_reject("body_trailing_value", "signed body: an object followed by another", "EINVAL", b,
	         RAW(EVT_POST, s_fed, "{\"text\":\"x\"} {}"));
	s_reject("body_big_integer", "signed body with the integer 2^63, beyond int64", "EINVAL", b,
	         RAW(EVT_POST, s_fed, "{\"text\":\"x\",\"n\":9223372036854775808}"));
	s_reject("body_real_overflow", "signed body with the number 1e309, beyond a double",
	         "EINVAL", b, RAW(EVT_POST, s_fed, "{\"text\":\"x\",\"n\":1e309}"));
	s_reject("body_nan", "signed body with the bare word NaN", "EINVAL", b,
	         RAW(EVT_POST, s_fed, "{\"text\":\"x\",\"n\":NaN}"));

	s_nested(deep, sizeof(deep), 2049);
	s_reject("body_depth_2049", "signed body nested 2049 levels deep", "EINVAL", b,
	         s_sign_raw(b, sizeof(b), EVT_POST, s_fed, deep, strlen(deep)));

	s_reject("other_federation", "a post signed for the federation of the a0a1..bf root",
	         "EFEDERATION", b, RAW(EVT_POST, s_other_fed, "{\"text\":\"x\"}"));
	POST_COPY();
	b[68 + 7] ^= 1;
	s_reject("timestamp_changed", "post_reunion with the timestamp's counter changed", "ESIG",
	         b, n);
	POST_COPY();
	b[112] ^= 1;
	s_reject("signature_changed", "post_reunion with one bit of R changed", "ESIG", b, n);
	POST_COPY();
	s_add_l(b + 144);
	s_reject("signature_s_plus_l", "post_reunion with S replaced by S + L (malleated)", "ESIG",
	         b, n);
	POST_COPY();
	memset(b + 36, 0, 32);
	b[36] = 1; /* A: y = 1, the identity */
	memset(b + 112, 0, 64);
	if (crypto_scalarmult_ed25519_base_noclamp(b + 112, (const uint8_t[32]){1}) != 0)
		s_die("base point");
	b[144] = 1; /* S = 1, R = [1]B */
	s_reject("author_small_order",
	         "author the identity point, S = 1, R = [1]B: [S]B - [k]A = B = R holds and R is "
	         "no small-order point; only rule 3 refuses the key",
	         "ESIG", b, n);
	POST_COPY();
	s_small_order_r(b);
	s_reject("signature_r_small_order",
	         "R the identity point and S = k*a: the equation holds, R is refused", "ESIG", b,
	         n);
#undef POST_COPY
#undef RAW
}

/* Extra fuzz seeds that are no vector: truncations and odd sizes. */
static void
s_extra_corpus(const struct s_made *post, const struct s_made *comment)
{
	static const size_t cuts[] = {0, 1, 4, 36, 68, 76, 108, 111, 112, 113, 177};
	uint8_t b[EVT_FIXED_LEN + 8];
	char name[64];

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		snprintf(name, sizeof(name), "extra_truncated_%zu", cuts[i]);
		s_corpus(name, post->env, cuts[i]);
	}
	memcpy(b, comment->env, EVT_FIXED_LEN);
	b[0] = 0xff;
	s_corpus("extra_version_255", b, EVT_FIXED_LEN);
}

/* ------------------------------------------------ receiver-rule vectors */

#include "tests/tools/mkvectors_rules.h"

#define R_NEVENTS  (sizeof(r_events) / sizeof(r_events[0]))
#define R_NPARTIES (sizeof(r_parties) / sizeof(r_parties[0]))

static struct s_made r_made[R_NEVENTS]; /* each event, signed */
static size_t r_count;                  /* how many are signed so far */

static struct r_party *
r_party(const char *name, size_t len, int upper)
{
	for (size_t i = 0; i < R_NPARTIES; i++) {
		const char *n = r_parties[i].name;
		int same = strlen(n) == len;
		for (size_t j = 0; same && j < len; j++)
			same = (upper ? (char)(n[j] >= 'a' && n[j] <= 'z' ? n[j] - 32 : n[j])
			              : n[j]) == name[j];
		if (same)
			return &r_parties[i];
	}
	return NULL;
}

static const struct s_made *
r_made_of(const char *label, size_t len)
{
	for (size_t i = 0; i < r_count; i++)
		if (strlen(r_events[i].label) == len && memcmp(r_events[i].label, label, len) == 0)
			return &r_made[i];
	fprintf(stderr, "mkvectors: no event \"%.*s\" before this one\n", (int)len, label);
	exit(1);
}

/* "@30d+2h-5m": ms from T0 (d, h, m, s units; a bare number is ms). */
static uint64_t
r_time(const char *p, size_t len)
{
	int64_t total = 0, sign = 1;
	size_t i = 0;

	while (i < len) {
		int64_t n = 0;
		if (p[i] == '+' || p[i] == '-') {
			sign = p[i] == '-' ? -1 : 1;
			i++;
		}
		while (i < len && p[i] >= '0' && p[i] <= '9')
			n = 10 * n + (p[i++] - '0');
		if (i < len && p[i] == 'd')
			n *= 86400000, i++;
		else if (i < len && p[i] == 'h')
			n *= 3600000, i++;
		else if (i < len && p[i] == 'm')
			n *= 60000, i++;
		else if (i < len && p[i] == 's')
			n *= 1000, i++;
		total += sign * n;
	}
	return T0 + (uint64_t)total;
}

static void
r_upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'f')
			*s = (char)(*s - 32);
}

/* Small-order Ed25519 encodings (PROTOCOL.md 5) and X25519 values (2.2). */
static const char *const r_ed_small[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
};
static const char *const r_x_small[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
};

static int
r_cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* Appends the expansion of the token tok (after '$') to out. */
static size_t
r_token(char *out, size_t cap, const char *tok, size_t len)
{
	char hex[2 * CPT_SIG_LEN + 1];
	const char *colon = memchr(tok, ':', len);
	size_t wl = colon ? (size_t)(colon - tok) : len;
	const char *arg = colon ? colon + 1 : "";
	size_t al = colon ? len - wl - 1 : 0;
	struct r_party *p;

#define WORD(w) (wl == strlen(w) && memcmp(tok, w, wl) == 0)
	if (!colon) {
		int upper = tok[0] >= 'A' && tok[0] <= 'Z';
		if ((p = r_party(tok, len, upper)) == NULL) {
			fprintf(stderr, "mkvectors: no party \"%.*s\"\n", (int)len, tok);
			exit(1);
		}
		snprintf(hex, sizeof(hex), "%s", p->hex);
		if (upper)
			r_upper(hex);
		return (size_t)snprintf(out, cap, "%s", hex);
	}
	if (WORD("x") || WORD("xhigh")) {
		unsigned first;
		uint8_t sk[32], pk[32];
		sscanf(arg, "%2x", &first);
		for (int i = 0; i < 32; i++)
			sk[i] = (uint8_t)(first + (unsigned)i);
		if (crypto_scalarmult_base(pk, sk) != 0)
			s_die("x25519");
		if (WORD("xhigh"))
			pk[31] |= 0x80;
		cpt_hex32(hex, pk);
		return (size_t)snprintf(out, cap, "%s", hex);
	}
	if (WORD("small"))
		return (size_t)snprintf(out, cap, "%s", r_ed_small[arg[0] - '0']);
	if (WORD("xsmall"))
		return (size_t)snprintf(out, cap, "%s", r_x_small[arg[0] - '0']);
	if (WORD("torsion")) {
		uint8_t t8[32], sum[32];
		if ((p = r_party(arg, al, 0)) == NULL || cpt_unhex32(t8, r_ed_small[2], 64) != 0 ||
		    crypto_core_ed25519_add(sum, key_sign_public(p->key), t8) != 0)
			s_die("torsion");
		cpt_hex32(hex, sum);
		return (size_t)snprintf(out, cap, "%s", hex);
	}
	if (WORD("proof") || WORD("PROOF")) {
		/* signer:keyparty:site:handle */
		char a[4][64];
		uint8_t m[EVT_PROOF_MAX], sig[CPT_SIG_LEN];
		struct r_party *signer, *keyp;
		size_t n;
		if (sscanf(arg, "%63[^:]:%63[^:]:%63[^:]:%63[^\"]", a[0], a[1], a[2], a[3]) != 4)
			s_die("proof token");
		a[3][al - strlen(a[0]) - strlen(a[1]) - strlen(a[2]) - 3] = 0;
		signer = r_party(a[0], strlen(a[0]), 0);
		keyp = r_party(a[1], strlen(a[1]), 0);
		if (!signer || !keyp ||
		    (n = evt_proof_statement(m, s_fed, key_sign_public(keyp->key), a[2], a[3])) ==
		        0)
			s_die("proof parties");
		key_sign_sign(signer->key, sig, m, n);
		s_hex_into(hex, sig, sizeof(sig));
		if (WORD("PROOF"))
			r_upper(hex);
		return (size_t)snprintf(out, cap, "%s", hex);
	}
	if (WORD("id") || WORD("ID")) {
		snprintf(hex, sizeof(hex), "%s", r_made_of(arg, al)->id);
		if (WORD("ID"))
			r_upper(hex);
		return (size_t)snprintf(out, cap, "%s", hex);
	}
	if (WORD("pfx") || WORD("PFX") || WORD("pfxrev")) {
		/* the first 16 bytes of each event's id, sorted */
		uint8_t ids[16][16];
		size_t n = 0, w = 0;
		for (const char *q = arg; q < arg + al && n < 16;) {
			const char *e = memchr(q, '+', (size_t)(arg + al - q));
			size_t l = e ? (size_t)(e - q) : (size_t)(arg + al - q);
			const struct s_made *mm = r_made_of(q, l);
			if (sodium_hex2bin(ids[n++], 16, mm->id, 32, NULL, NULL, NULL) != 0)
				s_die("prefix");
			q += l + 1;
		}
		qsort(ids, n, 16, r_cmp16);
		for (size_t i = 0; i < n; i++) {
			size_t j = WORD("pfxrev") ? n - 1 - i : i;
			s_hex_into(hex, ids[j], 16);
			if (WORD("PFX"))
				r_upper(hex);
			w += (size_t)snprintf(out + w, cap - w, "%s", hex);
		}
		return w;
	}
	if (WORD("rep")) {
		unsigned n;
		char c;
		size_t w;
		if (sscanf(arg, "%u:%c", &n, &c) != 2 || n >= cap)
			s_die("rep token");
		for (w = 0; w < n; w++)
			out[w] = c;
		out[w] = 0;
		return w;
	}
#undef WORD
	fprintf(stderr, "mkvectors: unknown token $%.*s\n", (int)len, tok);
	exit(1);
}

/* Expands "@time" and "$token" in tmpl into out. */
static void
r_expand(char *out, size_t cap, const char *tmpl)
{
	size_t w = 0;

	for (const char *p = tmpl; *p && w + 1 < cap;) {
		if (*p == '@') {
			size_t l = strspn(p + 1, "0123456789dhms+-");
			w += (size_t)snprintf(out + w, cap - w, "%llu",
			                      (unsigned long long)r_time(p + 1, l));
			p += 1 + l;
		} else if (*p == '$') {
			size_t l =
			    strspn(p + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			                  "0123456789_.:+-");
			w += r_token(out + w, cap - w, p + 1, l);
			p += 1 + l;
		} else {
			out[w++] = *p++;
		}
	}
	if (w >= cap)
		s_die("expansion too long");
	out[w] = 0;
}

static void
r_print_events(void)
{
	static char body[EVT_MAX_BODY + 1];

	for (size_t i = 0; i < R_NEVENTS; i++) {
		const struct r_event *e = &r_events[i];
		struct r_party *who = r_party(e->author, strlen(e->author), 0);
		const char *hash = strchr(e->ts, '#');
		size_t tl = hash ? (size_t)(hash - e->ts) : strlen(e->ts);
		uint64_t ts = HLC_MAKE(r_time(e->ts + 1, tl - 1), hash ? atoi(hash + 1) : 0);
		struct s_made *m = &r_made[i];
		uint8_t id[CPT_ID_LEN];
		size_t shown;
		evt_t ev;

		if (who == NULL)
			s_die(e->label);
		r_expand(body, sizeof(body), e->body);
		if (evt_sign(m->env, sizeof(m->env), &m->len, (uint16_t)e->kind, s_fed, ts,
		             (const uint8_t *)body, strlen(body), who->key) != 0)
			s_die(e->label);
		shown = e->flags & R_BARE ? EVT_FIXED_LEN : m->len;
		if (evt_decode(&ev, m->env, shown, EVT_MAX_BODY) != 0 ||
		    evt_verify(&ev, s_fed) != 0)
			s_die(e->label);
		evt_id(id, &ev);
		cpt_hex32(m->id, id);
		if (e->flags & R_V1)
			m->env[0] = 1; /* as a node of the old protocol sends it */
		r_count = i + 1;
		printf("event: %s\n", e->label);
		if (e->note[0])
			printf("note: %s\n", e->note);
		printf("author: %s\nkind: %u\ntimestamp: %llu\nbody: %s\nredacted: %s\nid: %s\n",
		       e->author, e->kind, (unsigned long long)ts, body,
		       e->flags & R_BARE ? "yes" : "no", m->id);
		s_put_hex("envelope", m->env, shown);
		printf("\n");
		s_nvectors++;
	}
}

/* Checks that every label a scene names exists. */
static void
r_check_label(const char *p, size_t len)
{
	for (size_t i = 0; i < R_NEVENTS; i++)
		if (strlen(r_events[i].label) == len && memcmp(r_events[i].label, p, len) == 0)
			return;
	fprintf(stderr, "mkvectors: a scene names \"%.*s\", which is no event\n", (int)len, p);
	exit(1);
}

static void
r_print_scenes(void)
{
	static char line[4096];

	for (size_t i = 0; i < sizeof(r_scenes) / sizeof(r_scenes[0]); i++) {
		const char *p = r_scenes[i];
		while (*p) {
			const char *eol = strchr(p, '\n');
			size_t l = eol ? (size_t)(eol - p) : strlen(p);
			char raw[4096];
			snprintf(raw, sizeof(raw), "%.*s", (int)l, p);
			if (strncmp(raw, "arrive: ", 8) == 0 || strncmp(raw, "admitted:", 9) == 0 ||
			    strncmp(raw, "pending:", 8) == 0 || strncmp(raw, "aside:", 6) == 0 ||
			    strncmp(raw, "erased:", 7) == 0 || strncmp(raw, "held:", 5) == 0) {
				/* every word that is a label (not a result, not +/-) must be one */
				char copy[4096], *tok, *save = NULL;
				snprintf(copy, sizeof(copy), "%s", strchr(raw, ':') + 1);
				int first = strncmp(raw, "arrive: ", 8) == 0;
				for (tok = strtok_r(copy, " ", &save); tok;
				     tok = strtok_r(NULL, " ", &save)) {
					if (first) {
						r_check_label(tok, strlen(tok));
						first = 0;
						(void)strtok_r(NULL, " ", &save); /* the result */
						continue;
					}
					if (tok[0] == '+' || tok[0] == '-')
						tok++;
					r_check_label(tok, strlen(tok));
				}
			}
			/* Times are expanded in clock lines; notes keep "@30d" readable. */
			if (strncmp(raw, "clock: ", 7) == 0)
				r_expand(line, sizeof(line), raw);
			else
				snprintf(line, sizeof(line), "%s", raw);
			printf("%s\n", line);
			p += l + (eol ? 1 : 0);
		}
		printf("\n");
		s_nvectors++;
	}
}

static void
r_rules(void)
{
	for (size_t i = 0; i < R_NPARTIES; i++) {
		uint8_t seed[CPT_SEED_LEN];
		for (int j = 0; j < CPT_SEED_LEN; j++)
			seed[j] = (uint8_t)(r_parties[i].first + j);
		if ((r_parties[i].key = key_sign_from_seed(seed)) == NULL)
			s_die("out of memory");
		cpt_hex32(r_parties[i].hex, key_sign_public(r_parties[i].key));
	}
	printf(
	    "# Comptoir receiver-rule vectors, written by tests/tools/mkvectors -r: do not edit.\n"
	    "# Format and meaning: docs/PROTOCOL.md, section 11.2. Root seed 000102..1f;\n"
	    "# T0 = %llu (2025-03-03T08:00:00Z).\n"
	    "# Check them: python3 tests/vectors/replay_rules.py\n\n",
	    (unsigned long long)T0);
	printf("# Parties: name, then the first byte of its seed (32 consecutive byte values).\n");
	for (size_t i = 0; i < R_NPARTIES; i++)
		printf("party: %s %02x %s\n", r_parties[i].name, r_parties[i].first,
		       r_parties[i].hex);
	printf("\n");
	r_print_events();
	r_print_scenes();
	for (size_t i = 0; i < R_NPARTIES; i++)
		key_sign_destroy(&r_parties[i].key);
}

#include "tests/tools/mkvectors_spaces.h"

int
main(int argc, char **argv)
{
	static struct s_made post, comment;

	int rules = 0, spaces = 0;

	if (argc == 3 && strcmp(argv[1], "-c") == 0)
		s_corpus_dir = argv[2];
	else if (argc == 2 && strcmp(argv[1], "-r") == 0)
		rules = 1;
	else if (argc == 2 && strcmp(argv[1], "-s") == 0)
		spaces = 1;
	else if (argc != 1)
		s_die("usage: mkvectors [-c DIR] > tests/vectors/events.txt\n"
		      "       mkvectors -r > tests/vectors/rules.txt\n"
		      "       mkvectors -s > tests/vectors/spaces.txt");
	if (cpt_init() != 0)
		s_die("libsodium did not initialise");
	s_party_init(&s_root, 0x00);
	s_party_init(&s_lyon, 0x20);
	s_party_init(&s_alice, 0x40);
	s_party_init(&s_bruno, 0x60);
	s_party_init(&s_bruno_old, 0x80);
	s_party_init(&s_other_root, 0xa0);
	s_party_init(&s_bot, 0xd0);
	evt_federation_id(s_fed, key_sign_public(s_root.key));
	evt_federation_id(s_other_fed, key_sign_public(s_other_root.key));

	if (rules || spaces) {
		if (spaces) {
			sp_vectors();
			fprintf(stderr, "mkvectors: %u space vectors\n", s_nvectors);
		} else {
			r_rules();
			fprintf(stderr, "mkvectors: %u events and scenes\n", s_nvectors);
		}
		key_sign_destroy(&s_root.key);
		key_sign_destroy(&s_lyon.key);
		key_sign_destroy(&s_alice.key);
		key_sign_destroy(&s_bruno.key);
		key_sign_destroy(&s_bruno_old.key);
		key_sign_destroy(&s_other_root.key);
		key_sign_destroy(&s_bot.key);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	printf("# Comptoir event test vectors, written by tests/tools/mkvectors: do not edit.\n"
	       "# Format and meaning: docs/PROTOCOL.md, \"Test vectors\".\n"
	       "# Check them: python3 tests/vectors/verify_vectors.py\n\n");
	s_valid(&post, &comment);
	s_invalid(&post);
	s_extra_corpus(&post, &comment);
	fprintf(stderr, "mkvectors: %u vectors\n", s_nvectors);

	key_sign_destroy(&s_root.key);
	key_sign_destroy(&s_lyon.key);
	key_sign_destroy(&s_alice.key);
	key_sign_destroy(&s_bruno.key);
	key_sign_destroy(&s_bruno_old.key);
	key_sign_destroy(&s_other_root.key);
	key_sign_destroy(&s_bot.key);
	return fflush(stdout) == 0 ? 0 : 1;
}
