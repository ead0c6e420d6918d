/*
 * Unit tests for crypto/keys.c: key pairs, fingerprints, and the key files,
 * above all that every damaged or unsafe file is refused with a useful message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/crypto.h"

/* RFC 8032, section 7.1, test 1. */
#define RFC_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define RFC_PK   "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
/* BLAKE2b-256 of RFC_PK, computed with Python's hashlib. */
#define RFC_FPR "7849-AC30-4968-0BE1-EF76"

#define T_SIGN   "comptoir-ed25519-secret-v1"
#define T_CURVE  "comptoir-curve-secret-v1"
#define T_PUBLIC "comptoir-ed25519-public-v1"

static char s_dir[64]; /* the temporary directory of this run */

/* ------------------------------------------------------------- helpers */

static void
s_path(char out[256], const char *name)
{
	snprintf(out, 256, "%s/%s", s_dir, name);
}

static void
s_write(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	/* fchmod: the exact mode, whatever the umask. */
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static void
s_write_str(const char *path, const char *text, mode_t mode)
{
	s_write(path, text, strlen(text), mode);
}

static size_t
s_read(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap - 1);
	assert_true(n >= 0);
	close(fd);
	buf[n] = '\0';
	return (size_t)n;
}

/* Fails unless msg is "path: ..." and contains needle. */
static void
s_expect(const char *msg, const char *path, const char *needle)
{
	size_t plen = strlen(path);

	if (strncmp(msg, path, plen) != 0 || strncmp(msg + plen, ": ", 2) != 0 ||
	    strstr(msg + plen, needle) == NULL) {
		print_error("message \"%s\"\nwanted \"%s: ...%s...\"\n", msg, path, needle);
		fail();
	}
	/* House style: no final full stop. */
	assert_true(msg[strlen(msg) - 1] != '.');
}

static void
s_unhex(uint8_t out[32], const char *hex)
{
	assert_int_equal(cpt_unhex32(out, hex, strlen(hex)), 0);
}

/* The text of a key file with these fields (NULL leaves a field out). */
static void
s_text(char out[1024], const char *type, const char *pk, const char *sk)
{
	int n = snprintf(out, 1024, "# test file\ntype: %s\n", type);

	if (pk != NULL)
		n += snprintf(out + n, 1024 - (size_t)n, "public: %s\n", pk);
	if (sk != NULL)
		snprintf(out + n, 1024 - (size_t)n, "secret: %s\n", sk);
}

/* The text written by save for each kind of file, from fresh keys. */
static size_t
s_saved_text(int which, char *buf, size_t cap, const char *name)
{
	char path[256];

	s_path(path, name);
	unlink(path);
	if (which == 0) {
		key_sign_t *k = key_sign_new();

		assert_int_equal(key_sign_save(k, path), 0);
		key_sign_destroy(&k);
	} else if (which == 1) {
		key_curve_t *k = key_curve_new();

		assert_int_equal(key_curve_save(k, path), 0);
		key_curve_destroy(&k);
	} else {
		key_sign_t *k = key_sign_new();

		assert_int_equal(key_public_save(key_sign_public(k), path), 0);
		key_sign_destroy(&k);
	}
	return s_read(path, buf, cap);
}

/* Loads path as kind which (0 sign, 1 curve, 2 public); 0 when it loaded. */
static int
s_load(int which, const char *path, char *err, size_t errlen, uint8_t pk[32])
{
	if (which == 0) {
		key_sign_t *k = key_sign_load(path, err, errlen);

		if (k == NULL)
			return -1;
		memcpy(pk, key_sign_public(k), 32);
		key_sign_destroy(&k);
		assert_null(k);
		return 0;
	}
	if (which == 1) {
		key_curve_t *k = key_curve_load(path, err, errlen);

		if (k == NULL)
			return -1;
		memcpy(pk, key_curve_public(k), 32);
		key_curve_destroy(&k);
		return 0;
	}
	return key_public_load(pk, path, err, errlen);
}

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
s_setup(void **state)
{
	if (cpt_init() != 0)
		return -1;
	/* Public files are created 0644 less the umask; pin it so the mode is checkable. */
	umask(022);
	strcpy(s_dir, "/tmp/comptoir-test-keys-XXXXXX");
	return mkdtemp(s_dir) == NULL ? -1 : 0;
}

static int
s_teardown(void **state)
{
	return nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------ key pairs */

static void
test_seed_vector(void **state)
{
	uint8_t seed[32], pk[32], back[32];
	key_sign_t *k;

	s_unhex(seed, RFC_SEED);
	s_unhex(pk, RFC_PK);
	k = key_sign_from_seed(seed);
	assert_non_null(k);
	assert_memory_equal(key_sign_public(k), pk, 32);
	key_sign_seed(k, back);
	assert_memory_equal(back, seed, 32);
	key_sign_destroy(&k);
	assert_null(k);
}

static void
test_sign_new(void **state)
{
	key_sign_t *a = key_sign_new(), *b = key_sign_new(), *c;
	uint8_t sig[CPT_SIG_LEN], seed[32];
	const uint8_t msg[] = "comptoir";

	assert_non_null(a);
	assert_non_null(b);
	assert_memory_not_equal(key_sign_public(a), key_sign_public(b), 32);
	key_sign_sign(a, sig, msg, sizeof(msg));
	assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), key_sign_public(a)), 0);
	assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), key_sign_public(b)),
	                     0);
	/* The seed gives the same key back. */
	key_sign_seed(a, seed);
	c = key_sign_from_seed(seed);
	assert_memory_equal(key_sign_public(c), key_sign_public(a), 32);
	key_sign_destroy(&a);
	key_sign_destroy(&b);
	key_sign_destroy(&c);
}

static void
test_curve_new(void **state)
{
	key_curve_t *a = key_curve_new(), *b = key_curve_new();
	uint8_t pk[32];

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(crypto_scalarmult_base(pk, key_curve_secret(a)), 0);
	assert_memory_equal(pk, key_curve_public(a), 32);
	assert_memory_not_equal(key_curve_secret(a), key_curve_secret(b), 32);
	key_curve_destroy(&a);
	key_curve_destroy(&b);
	assert_null(a);
	assert_null(b);
}

static void
test_destroy_null(void **state)
{
	key_sign_t *s = NULL;
	key_curve_t *c = NULL;

	key_sign_destroy(&s);
	key_sign_destroy(NULL);
	key_curve_destroy(&c);
	key_curve_destroy(NULL);
	/* Twice on the same pointer: the first call NULLs it. */
	s = key_sign_new();
	key_sign_destroy(&s);
	key_sign_destroy(&s);
	assert_null(s);
}

static void
test_fingerprint(void **state)
{
	uint8_t pk[32];
	char fpr[CPT_FPR_LEN];

	s_unhex(pk, RFC_PK);
	memset(fpr, 'x', sizeof(fpr));
	key_fingerprint(fpr, pk);
	assert_string_equal(fpr, RFC_FPR);
	assert_int_equal(strlen(fpr), CPT_FPR_LEN - 1);
	/* One changed byte changes it. */
	pk[31] ^= 1;
	key_fingerprint(fpr, pk);
	assert_string_not_equal(fpr, RFC_FPR);
}

/* ---------------------------------------------------------- round trips */

static void
test_sign_roundtrip(void **state)
{
	char path[256], err[512], text[1024], want[1024];
	uint8_t seed[32], sig[CPT_SIG_LEN];
	const uint8_t msg[] = "signed by a loaded key";
	key_sign_t *k, *l;
	struct stat st;

	s_unhex(seed, RFC_SEED);
	k = key_sign_from_seed(seed);
	s_path(path, "sign.key");
	assert_int_equal(key_sign_save(k, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* The exact text: a comment saying to keep it secret, then the fields. */
	s_read(path, text, sizeof(text));
	assert_true(text[0] == '#');
	assert_non_null(strstr(strtok(text, "\n"), "secret"));
	s_read(path, text, sizeof(text));
	snprintf(want, sizeof(want), "type: %s\npublic: %s\nsecret: %s\n", T_SIGN, RFC_PK,
	         RFC_SEED);
	assert_string_equal(strchr(text, '\n') + 1, want);

	err[0] = 'x';
	l = key_sign_load(path, err, sizeof(err));
	assert_non_null(l);
	assert_string_equal(err, "");
	assert_memory_equal(key_sign_public(l), key_sign_public(k), 32);
	key_sign_sign(l, sig, msg, sizeof(msg));
	assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), key_sign_public(k)), 0);
	key_sign_destroy(&k);
	key_sign_destroy(&l);

	/* A fresh random key too. */
	k = key_sign_new();
	s_path(path, "sign2.key");
	assert_int_equal(key_sign_save(k, path), 0);
	l = key_sign_load(path, err, sizeof(err));
	assert_non_null(l);
	assert_memory_equal(key_sign_public(l), key_sign_public(k), 32);
	key_sign_destroy(&k);
	key_sign_destroy(&l);
}

static void
test_curve_roundtrip(void **state)
{
	char path[256], err[512], text[1024];
	key_curve_t *k = key_curve_new(), *l;
	struct stat st;

	s_path(path, "curve.key");
	assert_int_equal(key_curve_save(k, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	s_read(path, text, sizeof(text));
	assert_true(text[0] == '#');
	assert_non_null(strstr(text, "\ntype: " T_CURVE "\npublic: "));
	assert_non_null(strstr(text, "secret"));

	l = key_curve_load(path, err, sizeof(err));
	assert_non_null(l);
	assert_memory_equal(key_curve_public(l), key_curve_public(k), 32);
	assert_memory_equal(key_curve_secret(l), key_curve_secret(k), 32);
	key_curve_destroy(&k);
	key_curve_destroy(&l);
}

static void
test_public_roundtrip(void **state)
{
	char path[256], err[512], text[1024];
	uint8_t pk[32], back[32];
	struct stat st;

	s_unhex(pk, RFC_PK);
	s_path(path, "root.pub");
	assert_int_equal(key_public_save(pk, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	s_read(path, text, sizeof(text));
	assert_true(text[0] == '#');
	assert_string_equal(strchr(text, '\n') + 1, "type: " T_PUBLIC "\npublic: " RFC_PK "\n");
	assert_int_equal(key_public_load(back, path, err, sizeof(err)), 0);
	assert_memory_equal(back, pk, 32);
}

static void
test_uppercase_and_comments(void **state)
{
	char path[256], err[512], text[1024], upk[65], usk[65];
	uint8_t pk[32], back[32];
	key_sign_t *k;

	for (int i = 0; i < 65; i++) {
		upk[i] = (char)(RFC_PK[i] >= 'a' ? RFC_PK[i] - 32 : RFC_PK[i]);
		usk[i] = (char)(RFC_SEED[i] >= 'a' ? RFC_SEED[i] - 32 : RFC_SEED[i]);
	}
	s_path(path, "upper.key");
	snprintf(text, sizeof(text),
	         "#\n# two comments\n#type: nonsense\ntype: %s\npublic: %s\n"
	         "secret: %s\n",
	         T_SIGN, upk, usk);
	s_write_str(path, text, 0600);
	k = key_sign_load(path, err, sizeof(err));
	assert_non_null(k);
	s_unhex(pk, RFC_PK);
	assert_memory_equal(key_sign_public(k), pk, 32);
	key_sign_destroy(&k);

	/* No comment at all is fine too, and a read-only file. */
	snprintf(text, sizeof(text), "type: %s\npublic: %s\n", T_PUBLIC, upk);
	s_path(path, "upper.pub");
	s_write_str(path, text, 0400);
	assert_int_equal(key_public_load(back, path, err, sizeof(err)), 0);
	assert_memory_equal(back, pk, 32);
}

static void
test_overwrite_refused(void **state)
{
	char path[256], before[1024], after[1024], target[256];
	key_sign_t *s = key_sign_new();
	key_curve_t *c = key_curve_new();

	s_path(path, "exists.key");
	assert_int_equal(key_sign_save(s, path), 0);
	s_read(path, before, sizeof(before));
	assert_int_equal(key_sign_save(s, path), CPT_EEXIST);
	assert_int_equal(key_curve_save(c, path), CPT_EEXIST);
	assert_int_equal(key_public_save(key_sign_public(s), path), CPT_EEXIST);
	s_read(path, after, sizeof(after));
	assert_string_equal(before, after);

	/* A symlink planted at the path is not followed, even a dangling one. */
	s_path(path, "planted.key");
	s_path(target, "planted-target");
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(key_sign_save(s, path), CPT_EEXIST);
	assert_int_equal(access(target, F_OK), -1);

	key_sign_destroy(&s);
	key_curve_destroy(&c);
}

static void
test_save_failure(void **state)
{
	char path[256];
	key_sign_t *s = key_sign_new();

	s_path(path, "no-such-dir/x.key");
	errno = 0;
	assert_int_equal(key_sign_save(s, path), CPT_EIO);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(access(path, F_OK), -1);
	key_sign_destroy(&s);
}

/* ------------------------------------------------------- refused loads */

static void
test_truncated_everywhere(void **state)
{
	static const char *const fields[] = {"type", "public", "secret"};
	char full[1024], path[256], err[512], field[16];
	uint8_t pk[32];

	s_path(path, "cut.key");
	for (int which = 0; which < 3; which++) {
		size_t len = s_saved_text(which, full, sizeof(full), "cut-source.key");
		size_t ends[3] = {0, 0, 0};
		int nfields = which == 2 ? 2 : 3;

		/* Where each field's line ends (just past its LF). */
		for (int f = 0; f < nfields; f++) {
			char key[16];
			const char *at;

			snprintf(key, sizeof(key), "\n%s: ", fields[f]);
			at = strstr(full, key);
			assert_non_null(at);
			ends[f] = (size_t)(strchr(at + 1, '\n') + 1 - full);
		}
		assert_int_equal(ends[nfields - 1], len);

		for (size_t cut = 0; cut < len; cut++) {
			int f = 0;

			s_write(path, full, cut, 0600);
			assert_int_not_equal(s_load(which, path, err, sizeof(err), pk), 0);
			if (cut == 0) {
				s_expect(err, path, "file is empty");
				continue;
			}
			s_expect(err, path, "truncated");
			/* The field named is the one the cut falls in or before. */
			while (ends[f] <= cut)
				f++;
			snprintf(field, sizeof(field), "\"%s\"", fields[f]);
			s_expect(err, path, field);
		}
		/* And the whole file loads. */
		s_write(path, full, len, 0600);
		assert_int_equal(s_load(which, path, err, sizeof(err), pk), 0);
	}
}

static void
test_mode_refused(void **state)
{
	static const mode_t bad[] = {0640, 0604, 0602, 0620, 0660,
	                             0644, 0601, 0610, 0666, 0700 | 070};
	char path[256], err[512], text[1024], want[1024];
	uint8_t pk[32];

	for (int which = 0; which < 2; which++) {
		size_t len = s_saved_text(which, text, sizeof(text), "mode-source.key");

		s_path(path, which == 0 ? "mode.key" : "mode-curve.key");
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char mode[16];

			s_write(path, text, len, bad[i]);
			assert_int_not_equal(s_load(which, path, err, sizeof(err), pk), 0);
			s_expect(err, path, "by group or others");
			snprintf(mode, sizeof(mode), "(mode %04o)", (unsigned)bad[i]);
			s_expect(err, path, mode);
			s_expect(err, path, "chmod 600");
		}
		s_write(path, text, len, 0640);
		assert_int_not_equal(s_load(which, path, err, sizeof(err), pk), 0);
		snprintf(want, sizeof(want),
		         "%s: file is readable by group or others (mode 0640); run chmod 600 %s",
		         path, path);
		assert_string_equal(err, want);
		s_write(path, text, len, 0604);
		assert_int_not_equal(s_load(which, path, err, sizeof(err), pk), 0);
		s_expect(err, path, "readable by group or others (mode 0604)");
		s_write(path, text, len, 0602);
		assert_int_not_equal(s_load(which, path, err, sizeof(err), pk), 0);
		s_expect(err, path, "writable by group or others (mode 0602)");
	}
	/* A public file is meant to be shared. */
	{
		size_t len = s_saved_text(2, text, sizeof(text), "mode-source.pub");

		s_path(path, "mode.pub");
		s_write(path, text, len, 0644);
		assert_int_equal(key_public_load(pk, path, err, sizeof(err)), 0);
	}
}

static void
test_wrong_type(void **state)
{
	char path[256], err[512], text[1024], want[1024];
	static const char *const types[] = {T_SIGN, T_CURVE, T_PUBLIC};
	uint8_t pk[32];

	/* Each kind of file loaded as each other kind. */
	for (int file = 0; file < 3; file++) {
		size_t len = s_saved_text(file, text, sizeof(text), "type-source.key");

		s_path(path, "type.key");
		s_write(path, text, len, 0600);
		for (int as = 0; as < 3; as++) {
			if (as == file)
				continue;
			assert_int_not_equal(s_load(as, path, err, sizeof(err), pk), 0);
			snprintf(want, sizeof(want), "%s: wrong key type \"%s\", expected \"%s\"",
			         path, types[file], types[as]);
			assert_string_equal(err, want);
		}
	}

	/* An unknown type, with characters that must not reach a terminal. */
	s_write_str(path, "type: evil\033[2J\"x\"\npublic: " RFC_PK "\n", 0600);
	assert_int_not_equal(key_public_load(pk, path, err, sizeof(err)), 0);
	snprintf(want, sizeof(want),
	         "%s: wrong key type \"evil?[2J?x?\", expected \"" T_PUBLIC "\"", path);
	assert_string_equal(err, want);
}

static void
test_mismatch(void **state)
{
	char path[256], err[512], text[1024], other[65], sk[65];
	key_sign_t *s = key_sign_new();
	key_curve_t *c = key_curve_new(), *c2 = key_curve_new();
	uint8_t seed[32];

	cpt_hex32(other, key_sign_public(s));
	s_text(text, T_SIGN, other, RFC_SEED);
	s_path(path, "mismatch.key");
	s_write_str(path, text, 0600);
	assert_null(key_sign_load(path, err, sizeof(err)));
	s_expect(err, path, "public key does not match the secret key");

	/* The right public key with another seed. */
	key_sign_seed(s, seed);
	cpt_hex32(sk, seed);
	s_text(text, T_SIGN, RFC_PK, sk);
	s_write_str(path, text, 0600);
	assert_null(key_sign_load(path, err, sizeof(err)));
	s_expect(err, path, "public key does not match the secret key");

	cpt_hex32(other, key_curve_public(c2));
	cpt_hex32(sk, key_curve_secret(c));
	s_text(text, T_CURVE, other, sk);
	s_path(path, "mismatch-curve.key");
	s_write_str(path, text, 0600);
	assert_null(key_curve_load(path, err, sizeof(err)));
	s_expect(err, path, "public key does not match the secret key");

	sodium_memzero(seed, sizeof(seed));
	key_sign_destroy(&s);
	key_curve_destroy(&c);
	key_curve_destroy(&c2);
}

static void
test_malformed(void **state)
{
	static const struct {
		const char *text;   /* the file, for key_sign_load */
		const char *needle; /* what the message must say */
	} cases[] = {
	    {"type: " T_SIGN "\npublic: " RFC_PK "\nsecret: " RFC_SEED "0\n",
	     "line 3: \"secret\" field is too long (65 hex digits, expected 64)"},
	    {"type: " T_SIGN "\npublic: g" RFC_PK "\nsecret: " RFC_SEED "\n",
	     "\"public\" field is not valid hex"},
	    {"type: " T_SIGN "\npublic: " RFC_PK "\nsecret: 9d61b19deffd5a60ba844af492ec2cc4"
	     "4449c5697b326919703bac031cae7f6x\n",
	     "\"secret\" field is not valid hex"},
	    {"type: " T_SIGN "\npublic: " RFC_PK "\nsecret: 0x" RFC_SEED "\n", "not valid hex"},
	    {"type: " T_SIGN "\npublic: d75a98\nsecret: " RFC_SEED "\n",
	     "truncated: the \"public\" field has 6 hex digits"},
	    {"type: " T_SIGN "\npublic: \nsecret: " RFC_SEED "\n", "truncated"},
	    {"type: " T_SIGN "\ncomment: hi\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n",
	     "line 2: unknown field \"comment\", expected \"public\""},
	    {"type: " T_SIGN "\nsecret: " RFC_SEED "\npublic: " RFC_PK "\n",
	     "line 2: \"secret\" field out of place, expected \"public\""},
	    {"type: " T_SIGN "\npublic: " RFC_PK "\npublic: " RFC_PK "\n",
	     "line 3: \"public\" field out of place, expected \"secret\""},
	    {"type: " T_SIGN "\ntype: " T_SIGN "\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n",
	     "out of place"},
	    {"public: " RFC_PK "\nsecret: " RFC_SEED "\n", "expected \"type\""},
	    {"type:" T_SIGN "\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n",
	     "line 1: expected one space after \"type:\""},
	    {"type: " T_SIGN "\npublic:  " RFC_PK "\nsecret: " RFC_SEED "\n",
	     "line 2: expected one space after \"public:\""},
	    {"type: " T_SIGN "\npublic: " RFC_PK " \nsecret: " RFC_SEED "\n", "not valid hex"},
	    {"type: " T_SIGN "\r\npublic: " RFC_PK "\r\nsecret: " RFC_SEED "\r\n", "CR LF"},
	    {"\ntype: " T_SIGN "\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n",
	     "line 1: expected the \"type\" field"},
	    {"type: " T_SIGN "\n\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n",
	     "line 2: expected the \"public\" field"},
	    {" type: " T_SIGN "\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n", "unknown field"},
	    {"Type: " T_SIGN "\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n", "unknown field"},
	    {"type: " T_SIGN "\n# late comment\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n",
	     "line 2: comments go before the \"type\" field"},
	    {"type: " T_SIGN "\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n# trailer\n",
	     "line 4: unexpected line after the \"secret\" field"},
	    {"type: " T_SIGN "\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n\n",
	     "line 4: unexpected line"},
	    {"type: " T_SIGN "\npublic: " RFC_PK "\nsecret: " RFC_SEED "\nx",
	     "line 4: unexpected line"},
	    {"type: " T_SIGN "\n", "truncated: the \"public\" field is missing"},
	    {"# only a comment\n", "truncated: the \"type\" field is missing"},
	    {"type: " T_SIGN "x\npublic: " RFC_PK "\nsecret: " RFC_SEED "\n",
	     "wrong key type \"" T_SIGN "x\""},
	    {"hello world\n", "expected the \"type\" field"},
	    {"hello world", "expected the \"type\" field"},
	    {"type", "truncated in the \"type\" field"},
	};
	char path[256], err[512];

	s_path(path, "malformed.key");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s_write_str(path, cases[i].text, 0600);
		if (key_sign_load(path, err, sizeof(err)) != NULL) {
			print_error("case %zu loaded\n", i);
			fail();
		}
		s_expect(err, path, cases[i].needle);
	}
}

static void
test_garbage(void **state)
{
	static const uint8_t key[randombytes_SEEDBYTES] = {42};
	uint8_t junk[4096], pk[32];
	char path[256], err[512];

	s_path(path, "garbage.key");
	for (int which = 0; which < 3; which++) {
		randombytes_buf_deterministic(junk, sizeof(junk), key);
		s_write(path, junk, sizeof(junk), 0600);
		assert_int_not_equal(s_load(which, path, err, sizeof(err), pk), 0);
		s_expect(err, path, "");
		memset(junk, 0, sizeof(junk));
		s_write(path, junk, 100, 0600);
		assert_int_not_equal(s_load(which, path, err, sizeof(err), pk), 0);
		s_expect(err, path, "");
		/* A NUL inside an otherwise good line. */
		s_write(path, "type: comptoir\0ed25519-secret-v1\n", 33, 0600);
		assert_int_not_equal(s_load(which, path, err, sizeof(err), pk), 0);
		s_expect(err, path, "wrong key type \"comptoir?ed25519");
	}
}

/*
 * Every single-byte change of a good file either is refused with a message, or
 * (a comment, the case of a hex digit) loads the very same key.
 */
static void
test_mutations(void **state)
{
	static const int subst[] = {0, '\n', '\r', ' ', '#', ':', '0', 'f', 'A', 'z', 0xff, -1};
	char full[1024], buf[1024], path[256], err[512];
	uint8_t pk[32], good[32];

	s_path(path, "mutant.key");
	for (int which = 0; which < 3; which++) {
		size_t len = s_saved_text(which, full, sizeof(full), "mutant-source.key");
		size_t pubhex = (size_t)(strstr(full, "\npublic: ") + 9 - full);

		s_write(path, full, len, 0600);
		assert_int_equal(s_load(which, path, err, sizeof(err), good), 0);
		for (size_t at = 0; at < len; at++) {
			for (size_t j = 0; j < sizeof(subst) / sizeof(subst[0]); j++) {
				memcpy(buf, full, len);
				/* -1: flip the case bit, which keeps hex valid. */
				buf[at] = (char)(subst[j] < 0 ? buf[at] ^ 0x20 : subst[j]);
				if (buf[at] == full[at])
					continue;
				s_write(path, buf, len, 0600);
				if (s_load(which, path, err, sizeof(err), pk) != 0)
					s_expect(err, path, "");
				else if (memcmp(pk, good, 32) != 0)
					/* Nothing checks a lone public key but its shape. */
					assert_true(which == 2 && at >= pubhex);
			}
		}
	}
}

static void
test_not_regular(void **state)
{
	char path[256], err[512];
	uint8_t pk[32];

	s_path(path, "a-directory.key");
	assert_int_equal(mkdir(path, 0700), 0);
	for (int which = 0; which < 3; which++) {
		assert_int_not_equal(s_load(which, path, err, sizeof(err), pk), 0);
		s_expect(err, path, "not a regular file");
	}
	/* A FIFO would block a plain open(): it must be refused at once. */
	s_path(path, "a-fifo.key");
	assert_int_equal(mkfifo(path, 0600), 0);
	for (int which = 0; which < 3; which++) {
		assert_int_not_equal(s_load(which, path, err, sizeof(err), pk), 0);
		s_expect(err, path, "not a regular file");
	}
	assert_null(key_sign_load("/dev/null", err, sizeof(err)));
	s_expect(err, "/dev/null", "not a regular file");
}

static void
test_nonexistent(void **state)
{
	char path[256], err[512];
	uint8_t pk[32];

	s_path(path, "nothing-here.key");
	assert_null(key_sign_load(path, err, sizeof(err)));
	s_expect(err, path, "cannot open: No such file or directory");
	assert_null(key_curve_load(path, err, sizeof(err)));
	s_expect(err, path, strerror(ENOENT));
	assert_int_equal(key_public_load(pk, path, err, sizeof(err)), CPT_ENOTFOUND);
	s_expect(err, path, strerror(ENOENT));
}

static void
test_size_limit(void **state)
{
	char path[256], err[512], body[1024], *big;
	size_t blen, fill;
	key_sign_t *k;

	/* Exactly 4096 bytes (padded with a comment) is allowed, one more is not. */
	s_text(body, T_SIGN, RFC_PK, RFC_SEED);
	blen = strlen(body);
	big = malloc(4098);
	assert_non_null(big);
	fill = 4096 - blen;
	big[0] = '#';
	memset(big + 1, 'c', fill - 2);
	big[fill - 1] = '\n';
	memcpy(big + fill, body, blen);
	s_path(path, "big.key");
	s_write(path, big, 4096, 0600);
	k = key_sign_load(path, err, sizeof(err));
	assert_non_null(k);
	key_sign_destroy(&k);

	/* One more '#' at the front. */
	memmove(big + 1, big, 4096);
	big[0] = '#';
	s_write(path, big, 4097, 0600);
	assert_null(key_sign_load(path, err, sizeof(err)));
	s_expect(err, path, "file is too big (4097 bytes");
	free(big);
}

static void
test_public_bad_point(void **state)
{
	char path[256], err[512];
	uint8_t pk[32], before[32];

	s_path(path, "zero.pub");
	s_write_str(path,
	            "type: " T_PUBLIC "\npublic: "
	            "0000000000000000000000000000000000000000000000000000000000000000\n",
	            0644);
	memset(pk, 7, sizeof(pk));
	memcpy(before, pk, sizeof(pk));
	assert_int_equal(key_public_load(pk, path, err, sizeof(err)), CPT_EKEYFILE);
	s_expect(err, path, "not a valid Ed25519 point");
	/* pk untouched on failure. */
	assert_memory_equal(pk, before, 32);
}

static void
test_error_buffer(void **state)
{
	char path[256], err[8];
	uint8_t pk[32];

	s_path(path, "nothing-here.key");
	/* A short buffer still ends in NUL; no buffer at all is allowed. */
	memset(err, 'x', sizeof(err));
	assert_null(key_sign_load(path, err, sizeof(err)));
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_null(key_sign_load(path, NULL, 0));
	assert_int_equal(key_public_load(pk, path, NULL, 0), CPT_ENOTFOUND);
	assert_null(key_curve_load(path, err, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed_vector),
	    cmocka_unit_test(test_sign_new),
	    cmocka_unit_test(test_curve_new),
	    cmocka_unit_test(test_destroy_null),
	    cmocka_unit_test(test_fingerprint),
	    cmocka_unit_test(test_sign_roundtrip),
	    cmocka_unit_test(test_curve_roundtrip),
	    cmocka_unit_test(test_public_roundtrip),
	    cmocka_unit_test(test_uppercase_and_comments),
	    cmocka_unit_test(test_overwrite_refused),
	    cmocka_unit_test(test_save_failure),
	    cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_mode_refused),
	    cmocka_unit_test(test_wrong_type),
	    cmocka_unit_test(test_mismatch),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_not_regular),
	    cmocka_unit_test(test_nonexistent),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_public_bad_point),
	    cmocka_unit_test(test_error_buffer),
	};

	return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
