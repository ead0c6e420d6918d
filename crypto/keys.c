/*
 * Key pairs (Ed25519 for signing, X25519 for ZeroMQ CURVE) and the text key
 * files that hold them. Secrets stay in sodium_malloc memory; the file format is
 * in docs/PROTOCOL.md, "Key files", and this loader is deliberately strict.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/crypto.h"

/* A key file never needs more; anything larger is not one of ours. */
#define KEYFILE_MAX 4096

struct key_sign {
	uint8_t pk[CPT_KEY_LEN];                /* Ed25519 public key */
	uint8_t sk[crypto_sign_SECRETKEYBYTES]; /* libsodium secret key: seed || public */
};

struct key_curve {
	uint8_t pk[CPT_KEY_LEN]; /* X25519 public key, as ZMQ_CURVE_PUBLICKEY */
	uint8_t sk[CPT_KEY_LEN]; /* X25519 secret key, as ZMQ_CURVE_SECRETKEY */
};

/* What distinguishes the three kinds of key file. */
struct s_format {
	const char *type;    /* value of the "type:" line */
	const char *comment; /* first line written by save, without "# " */
	int secret;          /* has a "secret:" field, must not be group/other accessible */
	mode_t mode;         /* creation mode */
};

static const struct s_format s_sign_secret = {
    .type = "comptoir-ed25519-secret-v1",
    .comment = "comptoir Ed25519 signing key: keep this file secret (mode 0600)",
    .secret = 1,
    .mode = 0600,
};
static const struct s_format s_curve_secret = {
    .type = "comptoir-curve-secret-v1",
    .comment = "comptoir CURVE (X25519) transport key: keep this file secret (mode 0600)",
    .secret = 1,
    .mode = 0600,
};
/* A seal key is an X25519 pair like the transport key and its file has the same
 * type (PROTOCOL.md 9); only the comment differs, so that site IT can tell them apart. */
static const struct s_format s_seal_secret = {
    .type = "comptoir-curve-secret-v1",
    .comment = "comptoir X25519 seal key, opens space keys: keep this file secret (mode 0600)",
    .secret = 1,
    .mode = 0600,
};
static const struct s_format s_sign_public = {
    .type = "comptoir-ed25519-public-v1",
    .comment = "comptoir Ed25519 public key: safe to share",
    .secret = 0,
    .mode = 0644,
};

/* The fields of a key file, in their only allowed order; public files stop at "public". */
static const char *const s_fields[] = {"type", "public", "secret"};

/* ------------------------------------------------------------ key pairs */

key_sign_t *
key_sign_new(void)
{
	key_sign_t *self = sodium_malloc(sizeof(*self));

	if (self == NULL)
		return NULL;
	crypto_sign_keypair(self->pk, self->sk);
	/* Nothing writes a key after creation: a stray write should fault. */
	sodium_mprotect_readonly(self);
	return self;
}

key_sign_t *
key_sign_from_seed(const uint8_t seed[CPT_SEED_LEN])
{
	key_sign_t *self;

	assert(seed != NULL);
	if ((self = sodium_malloc(sizeof(*self))) == NULL)
		return NULL;
	crypto_sign_seed_keypair(self->pk, self->sk, seed);
	sodium_mprotect_readonly(self);
	return self;
}

void
key_sign_destroy(key_sign_t **self_p)
{
	if (self_p == NULL || *self_p == NULL)
		return;
	/* sodium_free makes the region writable again and wipes it. */
	sodium_free(*self_p);
	*self_p = NULL;
}

const uint8_t *
key_sign_public(const key_sign_t *self)
{
	assert(self != NULL);
	return self->pk;
}

void
key_sign_seed(const key_sign_t *self, uint8_t out[CPT_SEED_LEN])
{
	assert(self != NULL && out != NULL);
	crypto_sign_ed25519_sk_to_seed(out, self->sk);
}

void
key_sign_sign(const key_sign_t *self, uint8_t sig[CPT_SIG_LEN], const uint8_t *msg, size_t len)
{
	assert(self != NULL && sig != NULL && (msg != NULL || len == 0));
	crypto_sign_detached(sig, NULL, msg, len, self->sk);
}

key_curve_t *
key_curve_new(void)
{
	key_curve_t *self = sodium_malloc(sizeof(*self));

	if (self == NULL)
		return NULL;
	/* The same curve25519 pair as zmq_curve_keypair() makes. */
	crypto_box_keypair(self->pk, self->sk);
	sodium_mprotect_readonly(self);
	return self;
}

void
key_curve_destroy(key_curve_t **self_p)
{
	if (self_p == NULL || *self_p == NULL)
		return;
	sodium_free(*self_p);
	*self_p = NULL;
}

const uint8_t *
key_curve_public(const key_curve_t *self)
{
	assert(self != NULL);
	return self->pk;
}

const uint8_t *
key_curve_secret(const key_curve_t *self)
{
	assert(self != NULL);
	return self->sk;
}

void
key_fingerprint(char out[CPT_FPR_LEN], const uint8_t pk[CPT_KEY_LEN])
{
	static const char digits[] = "0123456789ABCDEF";
	uint8_t h[CPT_HASH_LEN];
	char *p = out;

	crypto_generichash(h, sizeof(h), pk, CPT_KEY_LEN, NULL, 0);
	/* 10 bytes, 2 per group: "AB12-CD34-EF56-7890-1234". */
	for (int i = 0; i < 10; i++) {
		if (i > 0 && i % 2 == 0)
			*p++ = '-';
		*p++ = digits[h[i] >> 4];
		*p++ = digits[h[i] & 0xf];
	}
	*p = '\0';
}

/* ----------------------------------------------------------------- save */

/* Writes all of buf, retrying short writes and interrupts. */
static int
s_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Syncs the directory holding path, so the new name survives a power cut too. */
static int
s_sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc;

	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * Creates path holding a key file of format fmt. sk is NULL for a public file.
 * The text is written to a temporary name beside path, synced, then linked to
 * path: path appears whole or not at all (a full disk or a crash midway
 * leaves no half key file under the real name), and link() never replaces a
 * key that exists. The temporary name is removed on every path.
 */
static int
s_save(const struct s_format *fmt, const char *path, const uint8_t pk[CPT_KEY_LEN],
       const uint8_t sk[32])
{
	char text[512]; /* holds the secret in hex: wiped below */
	char pkhex[CPT_HEX_ID], skhex[CPT_HEX_ID], tmp[4200];
	uint8_t rnd[8];
	int len, fd = -1, rc = CPT_EIO, saved_errno = 0;

	assert(path != NULL && pk != NULL);
	cpt_hex32(pkhex, pk);
	if (sk != NULL) {
		cpt_hex32(skhex, sk);
		len = snprintf(text, sizeof(text), "# %s\ntype: %s\npublic: %s\nsecret: %s\n",
		               fmt->comment, fmt->type, pkhex, skhex);
	} else {
		len = snprintf(text, sizeof(text), "# %s\ntype: %s\npublic: %s\n", fmt->comment,
		               fmt->type, pkhex);
	}
	assert(len > 0 && (size_t)len < sizeof(text));

	randombytes_buf(rnd, sizeof(rnd));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", path,
	                     rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
	                     rnd[7]) >= sizeof(tmp)) {
		saved_errno = ENAMETOOLONG;
		goto out;
	}
	if (access(path, F_OK) == 0) {
		saved_errno = EEXIST;
		rc = CPT_EEXIST;
		goto out;
	}
	/* O_EXCL: never follow a symlink planted at the temporary name. */
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOCTTY, fmt->mode);
	if (fd < 0) {
		saved_errno = errno;
		goto out;
	}
	if (s_write_all(fd, text, (size_t)len) != 0 || fsync(fd) != 0) {
		saved_errno = errno;
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		saved_errno = errno;
		goto fail;
	}
	fd = -1;
	/* link, unlike rename, fails when path exists: a key is never replaced. */
	if (link(tmp, path) != 0) {
		saved_errno = errno;
		rc = errno == EEXIST ? CPT_EEXIST : CPT_EIO;
		goto fail;
	}
	unlink(tmp);
	if (s_sync_dir(path) != 0) {
		saved_errno = errno;
		unlink(path);
		rc = CPT_EIO;
		goto out;
	}
	rc = 0;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	sodium_memzero(text, sizeof(text));
	sodium_memzero(skhex, sizeof(skhex));
	/* CPT_EIO promises errno says why: keep the first failure's. */
	if (rc != 0)
		errno = saved_errno;
	return rc;
}

int
key_sign_save(const key_sign_t *self, const char *path)
{
	uint8_t seed[CPT_SEED_LEN];
	int rc;

	assert(self != NULL);
	key_sign_seed(self, seed);
	rc = s_save(&s_sign_secret, path, self->pk, seed);
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

int
key_curve_save(const key_curve_t *self, const char *path)
{
	assert(self != NULL);
	return s_save(&s_curve_secret, path, self->pk, self->sk);
}

int
key_seal_save(const key_curve_t *self, const char *path)
{
	assert(self != NULL);
	return s_save(&s_seal_secret, path, self->pk, self->sk);
}

int
key_public_save(const uint8_t pk[CPT_KEY_LEN], const char *path)
{
	return s_save(&s_sign_public, path, pk, NULL);
}

/* ----------------------------------------------------------------- load */

/* Writes "path: message" into err (which may be NULL) and returns rc. */
static int s_fail(int rc, char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
s_fail(int rc, char *err, size_t errlen, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return rc;
	n = snprintf(err, errlen, "%s: ", path);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/*
 * Copies at most 40 characters of untrusted file text into out for a message,
 * with anything unprintable (or a quote) shown as '?'. Never used on hex values:
 * those may be secret.
 */
static const char *
s_quote(char out[48], const char *s, size_t n)
{
	size_t i, max = n > 40 ? 40 : n;

	for (i = 0; i < max; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
	if (n > max) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static int
s_is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}

/*
 * Reads the whole file at path into buf (KEYFILE_MAX + 1 bytes, sodium_malloc'd
 * by the caller because it will hold a secret) after checking, on the opened
 * descriptor, that it is a regular file of a sane size and, for a secret file,
 * that nobody but its owner can reach it.
 */
static int
s_read(const struct s_format *fmt, const char *path, char *buf, size_t *len, char *err,
       size_t errlen)
{
	struct stat st;
	size_t got = 0;
	int fd, rc;

	/* O_NONBLOCK: a FIFO planted at path must not hang us before fstat refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return s_fail(errno == ENOENT ? CPT_ENOTFOUND : CPT_EIO, err, errlen, path,
		              "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = s_fail(CPT_EIO, err, errlen, path, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = s_fail(CPT_EKEYFILE, err, errlen, path, "not a regular file%s",
		            S_ISDIR(st.st_mode) ? " (a directory)" : "");
		goto out;
	}
	if (fmt->secret && (st.st_mode & 077) != 0) {
		unsigned mode = (unsigned)(st.st_mode & 07777);

		rc = s_fail(CPT_EKEYFILE, err, errlen, path,
		            "file is %s by group or others (mode %04o); run chmod 600 %s",
		            (mode & 044)   ? "readable"
		            : (mode & 022) ? "writable"
		                           : "accessible",
		            mode, path);
		goto out;
	}
	if (st.st_size > KEYFILE_MAX) {
		rc = s_fail(CPT_EKEYFILE, err, errlen, path,
		            "file is too big (%lld bytes, a key file has at most %d)",
		            (long long)st.st_size, KEYFILE_MAX);
		goto out;
	}
	/* Read to end of file, not st_size: the file may have changed since fstat. */
	while (got < KEYFILE_MAX + 1) {
		ssize_t n = read(fd, buf + got, KEYFILE_MAX + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = s_fail(CPT_EIO, err, errlen, path, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > KEYFILE_MAX)
		rc = s_fail(CPT_EKEYFILE, err, errlen, path,
		            "file is too big (a key file has at most %d bytes)", KEYFILE_MAX);
	else if (got == 0)
		rc = s_fail(CPT_EKEYFILE, err, errlen, path, "file is empty");
	else
		rc = 0;
	*len = got;
out:
	close(fd);
	return rc;
}

/*
 * Parses one field line "name: value" (without its LF; whole says whether the LF
 * was there). out is NULL for the type line, else receives the 32 bytes of hex.
 * A line cut off while still matching what was expected is reported as truncation.
 */
static int
s_field(const struct s_format *fmt, const char *path, unsigned lineno, const char *name,
        const char *line, size_t n, int whole, uint8_t out[32], char *err, size_t errlen)
{
	size_t nlen = strlen(name), klen, vlen;
	const char *colon, *v;
	char q[48];

	colon = memchr(line, ':', n);
	if (colon == NULL) {
		if (!whole && n <= nlen && memcmp(line, name, n) == 0)
			goto truncated;
		return s_fail(CPT_EKEYFILE, err, errlen, path, "line %u: expected the \"%s\" field",
		              lineno, name);
	}
	klen = (size_t)(colon - line);
	if (klen != nlen || memcmp(line, name, nlen) != 0) {
		for (size_t i = 0; i < sizeof(s_fields) / sizeof(s_fields[0]); i++)
			if (strlen(s_fields[i]) == klen && memcmp(line, s_fields[i], klen) == 0 &&
			    (fmt->secret || i < 2))
				return s_fail(CPT_EKEYFILE, err, errlen, path,
				              "line %u: \"%s\" field out of place, expected \"%s\"",
				              lineno, s_fields[i], name);
		return s_fail(CPT_EKEYFILE, err, errlen, path,
		              "line %u: unknown field \"%s\", expected \"%s\"", lineno,
		              s_quote(q, line, klen), name);
	}
	v = colon + 1;
	vlen = n - klen - 1;
	if (vlen == 0 && !whole)
		goto truncated;
	if (vlen == 0 || v[0] != ' ' || (vlen > 1 && v[1] == ' '))
		return s_fail(CPT_EKEYFILE, err, errlen, path,
		              "line %u: expected one space after \"%s:\"", lineno, name);
	v++;
	vlen--;
	if (whole && vlen > 0 && v[vlen - 1] == '\r')
		return s_fail(CPT_EKEYFILE, err, errlen, path,
		              "line %u ends in CR LF; key files use LF line ends", lineno);

	if (out == NULL) {
		size_t tlen = strlen(fmt->type);

		if (!whole && vlen <= tlen && memcmp(v, fmt->type, vlen) == 0)
			goto truncated;
		if (vlen != tlen || memcmp(v, fmt->type, tlen) != 0)
			return s_fail(CPT_EKEYFILE, err, errlen, path,
			              "wrong key type \"%s\", expected \"%s\"", s_quote(q, v, vlen),
			              fmt->type);
		return 0;
	}
	if (!s_is_hex(v, vlen))
		return s_fail(CPT_EKEYFILE, err, errlen, path,
		              "line %u: \"%s\" field is not valid hex", lineno, name);
	if (vlen > 64)
		return s_fail(CPT_EKEYFILE, err, errlen, path,
		              "line %u: \"%s\" field is too long (%zu hex digits, expected 64)",
		              lineno, name, vlen);
	if (!whole)
		goto truncated;
	if (vlen < 64)
		return s_fail(CPT_EKEYFILE, err, errlen, path,
		              "file is truncated: the \"%s\" field has %zu hex digits, expected 64",
		              name, vlen);
	if (cpt_unhex32(out, v, vlen) != 0)
		return s_fail(CPT_EKEYFILE, err, errlen, path,
		              "line %u: \"%s\" field is not valid hex", lineno, name);
	return 0;
truncated:
	return s_fail(CPT_EKEYFILE, err, errlen, path,
	              "file is truncated in the \"%s\" field (line %u has no final newline)", name,
	              lineno);
}

/*
 * Parses a key file of format fmt: comment lines, then each field once, in
 * order, each line ending in LF, nothing after. sk may be NULL for a public file.
 */
static int
s_parse(const struct s_format *fmt, const char *path, const char *buf, size_t len,
        uint8_t pk[CPT_KEY_LEN], uint8_t sk[32], char *err, size_t errlen)
{
	size_t nfields = fmt->secret ? 3 : 2, field = 0, pos = 0;
	uint8_t *outs[3] = {NULL, pk, sk};
	unsigned lineno = 0;
	int rc;

	while (pos < len) {
		const char *line = buf + pos;
		const char *lf = memchr(line, '\n', len - pos);
		size_t n = lf != NULL ? (size_t)(lf - line) : len - pos;
		int whole = lf != NULL;

		lineno++;
		pos += n + (whole ? 1 : 0);
		if (field == nfields)
			return s_fail(CPT_EKEYFILE, err, errlen, path,
			              "line %u: unexpected line after the \"%s\" field", lineno,
			              s_fields[nfields - 1]);
		if (n > 0 && line[0] == '#') {
			if (field > 0)
				return s_fail(CPT_EKEYFILE, err, errlen, path,
				              "line %u: comments go before the \"type\" field",
				              lineno);
			if (!whole)
				return s_fail(CPT_EKEYFILE, err, errlen, path,
				              "file is truncated in a comment before the \"type\" "
				              "field (line %u has no final newline)",
				              lineno);
			continue;
		}
		rc = s_field(fmt, path, lineno, s_fields[field], line, n, whole, outs[field], err,
		             errlen);
		if (rc != 0)
			return rc;
		field++;
	}
	if (field < nfields)
		return s_fail(CPT_EKEYFILE, err, errlen, path,
		              "file is truncated: the \"%s\" field is missing", s_fields[field]);
	return 0;
}

/* Reads and parses path; the caller wipes sk whatever the result. */
static int
s_load(const struct s_format *fmt, const char *path, uint8_t pk[CPT_KEY_LEN], uint8_t sk[32],
       char *err, size_t errlen)
{
	char *buf;
	size_t len = 0;
	int rc;

	assert(path != NULL && pk != NULL);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((buf = sodium_malloc(KEYFILE_MAX + 1)) == NULL)
		return s_fail(CPT_ENOMEM, err, errlen, path, "out of memory");
	rc = s_read(fmt, path, buf, &len, err, errlen);
	if (rc == 0)
		rc = s_parse(fmt, path, buf, len, pk, sk, err, errlen);
	sodium_free(buf); /* wipes the secret hex */
	return rc;
}

key_sign_t *
key_sign_load(const char *path, char *err, size_t errlen)
{
	uint8_t pk[CPT_KEY_LEN], seed[CPT_SEED_LEN];
	key_sign_t *self = NULL;

	if (s_load(&s_sign_secret, path, pk, seed, err, errlen) != 0)
		goto out;
	if ((self = key_sign_from_seed(seed)) == NULL) {
		s_fail(CPT_ENOMEM, err, errlen, path, "out of memory");
		goto out;
	}
	/* A mismatch means a damaged or hand-edited file: trust neither half. */
	if (sodium_memcmp(self->pk, pk, CPT_KEY_LEN) != 0) {
		key_sign_destroy(&self);
		s_fail(CPT_EKEYFILE, err, errlen, path, "public key does not match the secret key");
	}
out:
	sodium_memzero(seed, sizeof(seed));
	return self;
}

key_curve_t *
key_curve_load(const char *path, char *err, size_t errlen)
{
	uint8_t pk[CPT_KEY_LEN], sk[CPT_KEY_LEN];
	key_curve_t *self = NULL;

	if (s_load(&s_curve_secret, path, pk, sk, err, errlen) != 0)
		goto out;
	if ((self = sodium_malloc(sizeof(*self))) == NULL) {
		s_fail(CPT_ENOMEM, err, errlen, path, "out of memory");
		goto out;
	}
	memcpy(self->sk, sk, sizeof(self->sk));
	if (crypto_scalarmult_base(self->pk, self->sk) != 0 ||
	    sodium_memcmp(self->pk, pk, CPT_KEY_LEN) != 0) {
		key_curve_destroy(&self);
		s_fail(CPT_EKEYFILE, err, errlen, path, "public key does not match the secret key");
		goto out;
	}
	sodium_mprotect_readonly(self);
out:
	sodium_memzero(sk, sizeof(sk));
	return self;
}

int
key_public_load(uint8_t pk[CPT_KEY_LEN], const char *path, char *err, size_t errlen)
{
	uint8_t tmp[CPT_KEY_LEN];
	int rc;

	/* Parse into tmp so pk is left untouched on failure. */
	if ((rc = s_load(&s_sign_public, path, tmp, NULL, err, errlen)) != 0)
		return rc;
	/* A root key that is not a proper point could never verify anything. */
	if (!crypto_core_ed25519_is_valid_point(tmp))
		return s_fail(CPT_EKEYFILE, err, errlen, path,
		              "public key is not a valid Ed25519 point");
	memcpy(pk, tmp, CPT_KEY_LEN);
	return 0;
}
