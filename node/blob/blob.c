/*
 * The blob store (docs/PROTOCOL.md 18.1 and 18.7): streamed, chunk-hashed
 * writes into blobs/tmp/, made durable by fsync and rename; reads that check
 * each chunk against the manifest kept beside the blob; erasure by unlink.
 */
#include "node/blob/blob.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config/config.h"

#define BLOB_DOMAIN "comptoir/blob/v1"

#define BLOB_PINS 256 /* blobs between their put and the event naming them */

struct blob_store {
	char root[4096];          /* <dir>/blobs, no trailing slash */
	atomic_uint seq;          /* names temporary files, with the pid: puts run on several
	                             threads at once (one per HTTP upload, and the fetches) */
	pthread_mutex_t pin_lock; /* guards pins */
	uint8_t pins[BLOB_PINS][BLOB_ID_LEN]; /* pinned ids (a pin count of 0: free) */
	unsigned pin_n[BLOB_PINS];            /* how many pins each holds */
	atomic_uint_least64_t shard_ok[4];    /* bit k: blobs/<k in hex>/ is durable in
	                                         blobs/ (fsync'd since this store opened) */
};

struct blob_put {
	blob_store_t *bs;               /* the store it goes to (borrowed) */
	int fd;                         /* the temporary file */
	char tmp[4200];                 /* its path */
	uint64_t size;                  /* bytes written so far */
	uint64_t max;                   /* the largest size accepted */
	crypto_generichash_state chunk; /* the hash of the chunk being written */
	uint32_t in_chunk;              /* bytes of it so far */
	uint8_t *manifest;              /* the hashes of the chunks done */
	size_t mcap;                    /* bytes allocated to manifest */
	size_t mlen;                    /* bytes of it used */
	int failed;                     /* a write failed: only abort is left */
};

uint32_t
blob_nchunks(uint64_t size)
{
	return (uint32_t)((size + BLOB_CHUNK - 1) / BLOB_CHUNK);
}

int
blob_id_of(uint8_t id[BLOB_ID_LEN], uint64_t size, const uint8_t *manifest, size_t mlen)
{
	crypto_generichash_state st;
	uint8_t be[8];

	if (size == 0 || size > BLOB_MAX_SIZE || mlen != (size_t)blob_nchunks(size) * 32)
		return CPT_EINVAL;
	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(size >> (56 - 8 * i));
	crypto_generichash_init(&st, NULL, 0, BLOB_ID_LEN);
	crypto_generichash_update(&st, (const uint8_t *)BLOB_DOMAIN, strlen(BLOB_DOMAIN));
	crypto_generichash_update(&st, be, sizeof(be));
	crypto_generichash_update(&st, manifest, mlen);
	crypto_generichash_final(&st, id, BLOB_ID_LEN);
	return 0;
}

int
blob_id_of_bytes(uint8_t id[BLOB_ID_LEN], const uint8_t *data, size_t len)
{
	uint32_t n = blob_nchunks(len);
	uint8_t *m;
	int rc;

	if (len == 0 || len > BLOB_MAX_SIZE)
		return CPT_EINVAL;
	if ((m = malloc((size_t)n * 32)) == NULL)
		return CPT_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		size_t off = (size_t)i * BLOB_CHUNK;
		size_t cl = len - off < BLOB_CHUNK ? len - off : BLOB_CHUNK;
		crypto_generichash(m + (size_t)i * 32, 32, data + off, cl, NULL, 0);
	}
	rc = blob_id_of(id, len, m, (size_t)n * 32);
	free(m);
	return rc;
}

/* ------------------------------------------------------------- the store */

static int
s_mkdir(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		log_warnx("blob", "cannot create folder %s: %s", path, strerror(errno));
		return CPT_EIO;
	}
	return 0;
}

/* fsync of a folder, so that a rename or unlink in it is durable. */
static int
s_sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return CPT_EIO;
	if (fsync(fd) != 0)
		rc = CPT_EIO;
	close(fd);
	return rc;
}

static int
s_errno_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? CPT_ENOSPC : CPT_EIO;
}

int
blob_store_open(blob_store_t **bs, const char *dir)
{
	blob_store_t *s;
	char path[4300];
	DIR *d;
	struct dirent *de;

	*bs = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CPT_ENOMEM;
	if ((size_t)snprintf(s->root, sizeof(s->root), "%s/blobs", dir) >= sizeof(s->root)) {
		free(s);
		return CPT_EIO;
	}
	pthread_mutex_init(&s->pin_lock, NULL);
	snprintf(path, sizeof(path), "%s/tmp", s->root);
	if (s_mkdir(s->root) != 0 || s_mkdir(path) != 0) {
		free(s);
		return CPT_EIO;
	}
	/* What tmp/ holds was being written when the node stopped: it never
	 * counted (nothing was acknowledged before the rename), so it goes. */
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char f[4600];
			if (de->d_name[0] == '.')
				continue;
			snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
			if (unlink(f) != 0)
				log_warnx("blob", "cannot remove the half-written %s: %s", f,
				          strerror(errno));
		}
		closedir(d);
	}
	*bs = s;
	return 0;
}

int
blob_store_peek(blob_store_t **bs, const char *dir)
{
	blob_store_t *s;

	*bs = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CPT_ENOMEM;
	if ((size_t)snprintf(s->root, sizeof(s->root), "%s/blobs", dir) >= sizeof(s->root)) {
		free(s);
		return CPT_EIO;
	}
	pthread_mutex_init(&s->pin_lock, NULL);
	*bs = s;
	return 0;
}

void
blob_store_close(blob_store_t **bs)
{
	if (bs == NULL || *bs == NULL)
		return;
	pthread_mutex_destroy(&(*bs)->pin_lock);
	free(*bs);
	*bs = NULL;
}

/*
 * Makes the shard folder of a blob (made by the caller) durable in blobs/:
 * blobs/ is fsync'd once per shard and per store opened, not once per blob
 * (an fsync less per upload and per blob fetched). The bit is set only after
 * an fsync that followed the folder's creation, so a shard another thread
 * just made is synced again here rather than trusted.
 */
static int
s_shard_durable(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN])
{
	uint64_t bit = (uint64_t)1 << (id[0] & 63);
	int rc;

	if (atomic_load(&bs->shard_ok[id[0] >> 6]) & bit)
		return 0;
	if ((rc = s_sync_dir(bs->root)) != 0)
		return rc;
	atomic_fetch_or(&bs->shard_ok[id[0] >> 6], bit);
	return 0;
}

/* <root>/<2 hex>/<64 hex><suffix> into out. */
static int
s_path(const blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], const char *suffix, char *out,
       size_t cap)
{
	char hex[CPT_HEX_ID];

	sodium_bin2hex(hex, sizeof(hex), id, BLOB_ID_LEN);
	if ((size_t)snprintf(out, cap, "%s/%.2s/%s%s", bs->root, hex, hex, suffix) >= cap)
		return CPT_ETOOBIG;
	return 0;
}

int
blob_path(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], char *out, size_t cap)
{
	return s_path(bs, id, "", out, cap);
}

int
blob_has(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], uint64_t *size)
{
	char path[4200];
	struct stat st;

	if (s_path(bs, id, "", path, sizeof(path)) != 0 || stat(path, &st) != 0 ||
	    !S_ISREG(st.st_mode) || st.st_size <= 0)
		return 0;
	if (size != NULL)
		*size = (uint64_t)st.st_size;
	return 1;
}

/* -------------------------------------------------------------- writing */

int
blob_put_begin(blob_store_t *bs, blob_put_t **p, uint64_t max)
{
	blob_put_t *w;

	*p = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CPT_ENOMEM;
	w->bs = bs;
	w->max = max < BLOB_MAX_SIZE ? max : BLOB_MAX_SIZE;
	snprintf(w->tmp, sizeof(w->tmp), "%s/tmp/%ld.%u", bs->root, (long)getpid(),
	         atomic_fetch_add(&bs->seq, 1));
	/* O_EXCL: two puts never share a file, whatever happens to the names. */
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		log_warnx("blob", "cannot create %s: %s", w->tmp, strerror(errno));
		free(w);
		return CPT_EIO;
	}
	crypto_generichash_init(&w->chunk, NULL, 0, 32);
	*p = w;
	return 0;
}

/* Closes the chunk being hashed into the manifest. */
static int
s_end_chunk(blob_put_t *w)
{
	if (w->mlen + 32 > w->mcap) {
		size_t cap = w->mcap ? w->mcap * 2 : 32 * 16;
		uint8_t *m = realloc(w->manifest, cap);
		if (m == NULL)
			return CPT_ENOMEM;
		w->manifest = m;
		w->mcap = cap;
	}
	crypto_generichash_final(&w->chunk, w->manifest + w->mlen, 32);
	w->mlen += 32;
	w->in_chunk = 0;
	crypto_generichash_init(&w->chunk, NULL, 0, 32);
	return 0;
}

static int
s_write_all(int fd, const uint8_t *b, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return s_errno_code(errno);
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int
blob_put_write(blob_put_t *w, const void *data, size_t len)
{
	const uint8_t *b = data;
	int rc;

	if (w->failed)
		return CPT_ESTATE;
	if (len > w->max - w->size) {
		w->failed = 1;
		return CPT_ETOOBIG;
	}
	if ((rc = s_write_all(w->fd, b, len)) != 0) {
		w->failed = 1;
		return rc;
	}
	w->size += len;
	while (len > 0) {
		size_t take = BLOB_CHUNK - w->in_chunk;
		if (take > len)
			take = len;
		crypto_generichash_update(&w->chunk, b, take);
		w->in_chunk += (uint32_t)take;
		b += take;
		len -= take;
		if (w->in_chunk == BLOB_CHUNK && (rc = s_end_chunk(w)) != 0) {
			w->failed = 1;
			return rc;
		}
	}
	return 0;
}

void
blob_put_abort(blob_put_t **p)
{
	if (p == NULL || *p == NULL)
		return;
	if ((*p)->fd >= 0)
		close((*p)->fd);
	unlink((*p)->tmp);
	free((*p)->manifest);
	free(*p);
	*p = NULL;
}

/* Writes a whole small file durably at path (through path.tmp, fsync, rename). */
static int
s_write_file(const char *path, const uint8_t *b, size_t len)
{
	char tmp[4300];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return s_errno_code(errno);
	rc = s_write_all(fd, b, len);
	if (rc == 0 && fsync(fd) != 0)
		rc = s_errno_code(errno);
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = CPT_EIO;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int
blob_put_commit(blob_put_t **p, uint8_t id[BLOB_ID_LEN], uint64_t *size)
{
	blob_put_t *w = *p;
	char dir[4200], path[4200], map[4200];
	int rc;

	if (w->failed) {
		rc = CPT_ESTATE;
		goto out;
	}
	if (w->size == 0) {
		rc = CPT_EINVAL;
		goto out;
	}
	if (w->in_chunk > 0 && (rc = s_end_chunk(w)) != 0)
		goto out;
	if ((rc = blob_id_of(id, w->size, w->manifest, w->mlen)) != 0)
		goto out;
	if (size != NULL)
		*size = w->size;
	if (blob_has(w->bs, id, NULL)) {
		rc = 0; /* the same bytes are here already */
		goto out;
	}
	/* The data first, then the manifest beside its final name, then the
	 * rename that makes the blob count: a crash before it leaves a file in
	 * tmp/ (removed at open) and perhaps a manifest alone (never read
	 * without its blob, replaced by the next put). */
	if (fsync(w->fd) != 0) {
		rc = s_errno_code(errno);
		goto out;
	}
	if ((rc = s_path(w->bs, id, "", path, sizeof(path))) != 0 ||
	    (rc = s_path(w->bs, id, ".map", map, sizeof(map))) != 0)
		goto out;
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
	if ((rc = s_mkdir(dir)) != 0 || (rc = s_write_file(map, w->manifest, w->mlen)) != 0)
		goto out;
	if (fchmod(w->fd, 0400) != 0 || rename(w->tmp, path) != 0) {
		rc = CPT_EIO;
		goto out;
	}
	if ((rc = s_sync_dir(dir)) != 0 || (rc = s_shard_durable(w->bs, id)) != 0)
		goto out;
out:
	blob_put_abort(p); /* closes; the unlink of the renamed tmp name fails harmlessly */
	return rc;
}

/* -------------------------------------------------------------- reading */

/* Moves a blob that failed its check to blobs/bad/: it no longer counts. */
static void
s_quarantine(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], const char *why)
{
	char bad[4200], path[4200], to[4400], hex[CPT_HEX_ID];

	sodium_bin2hex(hex, sizeof(hex), id, BLOB_ID_LEN);
	log_warnx("blob", "blob %s is damaged on disk (%s): moved to blobs/bad, to fetch again",
	          hex, why);
	snprintf(bad, sizeof(bad), "%s/bad", bs->root);
	(void)s_mkdir(bad);
	if (s_path(bs, id, "", path, sizeof(path)) == 0) {
		snprintf(to, sizeof(to), "%s/%s", bad, hex);
		if (rename(path, to) != 0)
			unlink(path);
	}
	if (s_path(bs, id, ".map", path, sizeof(path)) == 0) {
		snprintf(to, sizeof(to), "%s/%s.map", bad, hex);
		if (rename(path, to) != 0)
			unlink(path);
	}
}

static int
s_read_all(int fd, uint8_t *b, size_t len, off_t off, size_t *got)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = pread(fd, b + *got, len - *got, off + (off_t)*got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return CPT_EIO;
		}
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

int
blob_manifest(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], uint8_t **manifest, uint64_t *size,
              size_t *mlen)
{
	char map[4200];
	uint8_t check[BLOB_ID_LEN];
	uint64_t sz;
	size_t want, got;
	uint8_t *m;
	int fd, rc;

	*manifest = NULL;
	if (!blob_has(bs, id, &sz))
		return CPT_ENOTFOUND;
	if (sz > BLOB_MAX_SIZE) {
		s_quarantine(bs, id, "too large");
		return CPT_EDAMAGED;
	}
	want = (size_t)blob_nchunks(sz) * 32;
	if ((rc = s_path(bs, id, ".map", map, sizeof(map))) != 0)
		return rc;
	if ((fd = open(map, O_RDONLY | O_CLOEXEC)) < 0) {
		s_quarantine(bs, id, "its manifest is missing");
		return CPT_EDAMAGED;
	}
	if ((m = malloc(want + 1)) == NULL) {
		close(fd);
		return CPT_ENOMEM;
	}
	rc = s_read_all(fd, m, want + 1, 0, &got);
	close(fd);
	if (rc != 0) {
		free(m);
		return rc;
	}
	/* The size comes from the blob's file, the manifest from its own: both
	 * must hash to the id, so a blob cut short or grown fails here. */
	if (got != want || blob_id_of(check, sz, m, want) != 0 ||
	    sodium_memcmp(check, id, BLOB_ID_LEN) != 0) {
		free(m);
		s_quarantine(bs, id, "its size or manifest does not match its id");
		return CPT_EDAMAGED;
	}
	*manifest = m;
	*mlen = want;
	if (size != NULL)
		*size = sz;
	return 0;
}

int
blob_read_chunk(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], uint32_t index, uint8_t *buf,
                size_t *len)
{
	char path[4200];
	uint8_t *m, h[32];
	uint64_t sz;
	size_t mlen, want, got;
	int fd, rc;

	*len = 0;
	if ((rc = blob_manifest(bs, id, &m, &sz, &mlen)) != 0)
		return rc;
	if ((uint64_t)index >= blob_nchunks(sz)) {
		free(m);
		return CPT_ENOTFOUND;
	}
	want = sz - (uint64_t)index * BLOB_CHUNK < BLOB_CHUNK
	           ? (size_t)(sz - (uint64_t)index * BLOB_CHUNK)
	           : BLOB_CHUNK;
	if ((rc = s_path(bs, id, "", path, sizeof(path))) != 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		free(m);
		return rc != 0 ? rc : CPT_ENOTFOUND;
	}
	rc = s_read_all(fd, buf, want, (off_t)index * BLOB_CHUNK, &got);
	close(fd);
	if (rc == 0) {
		crypto_generichash(h, sizeof(h), buf, got, NULL, 0);
		if (got != want || sodium_memcmp(h, m + (size_t)index * 32, 32) != 0) {
			s_quarantine(bs, id, "a chunk does not match its hash");
			rc = CPT_EDAMAGED;
		} else {
			*len = got;
		}
	}
	free(m);
	return rc;
}

/* ------------------------------------------------------------- erasure */

int
blob_delete(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN])
{
	char path[4200], map[4200], dir[4200];
	int rc = 0;

	if (s_path(bs, id, "", path, sizeof(path)) != 0 ||
	    s_path(bs, id, ".map", map, sizeof(map)) != 0)
		return CPT_EIO;
	if (unlink(path) != 0 && errno != ENOENT)
		rc = CPT_EIO;
	if (unlink(map) != 0 && errno != ENOENT)
		rc = CPT_EIO;
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
	if (rc == 0 && access(dir, F_OK) == 0 && s_sync_dir(dir) != 0)
		rc = CPT_EIO;
	if (rc != 0)
		log_warnx("blob", "cannot erase %s: %s", path, strerror(errno));
	return rc;
}

/* ------------------------------------------------------ partial fetches */

/* <root>/part/<64 hex><suffix> into out, making the folder. */
static int
s_part_path(const blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], const char *suffix, char *out,
            size_t cap)
{
	char hex[CPT_HEX_ID], dir[4200];

	sodium_bin2hex(hex, sizeof(hex), id, BLOB_ID_LEN);
	snprintf(dir, sizeof(dir), "%s/part", bs->root);
	if (s_mkdir(dir) != 0)
		return CPT_EIO;
	if ((size_t)snprintf(out, cap, "%s/%s%s", dir, hex, suffix) >= cap)
		return CPT_ETOOBIG;
	return 0;
}

int
blob_part_open(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], uint64_t size,
               const uint8_t *manifest, size_t mlen, uint8_t *held)
{
	char path[4200], map[4200];
	uint32_t n = blob_nchunks(size);
	uint8_t *buf = NULL, h[32];
	struct stat st;
	int fd, rc = 0, fresh;

	if (size == 0 || size > BLOB_MAX_SIZE || mlen != (size_t)n * 32 || held == NULL)
		return CPT_EINVAL;
	memset(held, 0, n);
	if ((rc = s_part_path(bs, id, "", path, sizeof(path))) != 0 ||
	    (rc = s_part_path(bs, id, ".map", map, sizeof(map))) != 0)
		return rc;
	/* The manifest first, durably: a partial file is never read without it. */
	if ((rc = s_write_file(map, manifest, mlen)) != 0)
		return rc;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return s_errno_code(errno);
	fresh = fstat(fd, &st) == 0 && st.st_size == 0;
	if (fstat(fd, &st) != 0 ||
	    ((uint64_t)st.st_size != size && ftruncate(fd, (off_t)size) != 0)) {
		rc = s_errno_code(errno);
		goto out;
	}
	if (fresh)
		goto out; /* nothing to keep */
	if ((buf = malloc(BLOB_CHUNK)) == NULL) {
		rc = CPT_ENOMEM;
		goto out;
	}
	/* What a cut left: each chunk that matches its hash is kept. */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t off = (uint64_t)i * BLOB_CHUNK;
		size_t want = size - off < BLOB_CHUNK ? (size_t)(size - off) : BLOB_CHUNK, got;
		if ((rc = s_read_all(fd, buf, want, (off_t)off, &got)) != 0)
			goto out;
		crypto_generichash(h, sizeof(h), buf, got, NULL, 0);
		held[i] = got == want && sodium_memcmp(h, manifest + (size_t)i * 32, 32) == 0;
	}
out:
	free(buf);
	close(fd);
	return rc;
}

int
blob_part_write(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN], uint32_t index,
                const uint8_t *data, size_t len)
{
	char path[4200];
	size_t done = 0;
	int fd, rc = 0;

	if (len == 0 || len > BLOB_CHUNK)
		return CPT_EINVAL;
	if ((rc = s_part_path(bs, id, "", path, sizeof(path))) != 0)
		return rc;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? CPT_ENOTFOUND : s_errno_code(errno);
	while (done < len) {
		ssize_t k =
		    pwrite(fd, data + done, len - done, (off_t)index * BLOB_CHUNK + (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = s_errno_code(errno);
			break;
		}
		done += (size_t)k;
	}
	close(fd);
	return rc;
}

int
blob_part_finish(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN])
{
	char part[4200], pmap[4200], dir[4200], path[4200], map[4200];
	struct stat st, ms;
	int fd, rc;

	if ((rc = s_part_path(bs, id, "", part, sizeof(part))) != 0 ||
	    (rc = s_part_path(bs, id, ".map", pmap, sizeof(pmap))) != 0 ||
	    (rc = s_path(bs, id, "", path, sizeof(path))) != 0 ||
	    (rc = s_path(bs, id, ".map", map, sizeof(map))) != 0)
		return rc;
	if ((fd = open(part, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? CPT_ENOTFOUND : CPT_EIO;
	if (fstat(fd, &st) != 0 || st.st_size <= 0 || (uint64_t)st.st_size > BLOB_MAX_SIZE) {
		close(fd);
		return CPT_EIO;
	}
	/* The data durable first, then the manifest beside the final name,
	 * then the rename that makes the blob count (as blob_put_commit). The
	 * manifest is the file blob_part_open wrote and fsync'd: moved, not
	 * written again (an fsync less per blob fetched, on the sync thread:
	 * docs/BENCHMARKS.md, "Files between two sites"). */
	if (fsync(fd) != 0) {
		rc = s_errno_code(errno);
		close(fd);
		return rc;
	}
	close(fd);
	if (stat(pmap, &ms) != 0 ||
	    (uint64_t)ms.st_size != (uint64_t)blob_nchunks((uint64_t)st.st_size) * 32)
		return CPT_EIO;
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
	if ((rc = s_mkdir(dir)) != 0)
		return rc;
	if (rename(pmap, map) != 0)
		return CPT_EIO;
	if (chmod(part, 0400) != 0 || rename(part, path) != 0)
		return CPT_EIO;
	if ((rc = s_sync_dir(dir)) != 0 || (rc = s_shard_durable(bs, id)) != 0)
		return rc;
	return 0;
}

void
blob_part_drop(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN])
{
	char path[4200];

	if (s_part_path(bs, id, "", path, sizeof(path)) == 0)
		unlink(path);
	if (s_part_path(bs, id, ".map", path, sizeof(path)) == 0)
		unlink(path);
}

/* ------------------------------------------------------- pins and sweep */

int
blob_pin(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN])
{
	int rc = CPT_EFULL, freeslot = -1;

	pthread_mutex_lock(&bs->pin_lock);
	for (int i = 0; i < BLOB_PINS; i++) {
		if (bs->pin_n[i] && memcmp(bs->pins[i], id, BLOB_ID_LEN) == 0) {
			bs->pin_n[i]++;
			rc = 0;
			break;
		}
		if (!bs->pin_n[i] && freeslot < 0)
			freeslot = i;
	}
	if (rc != 0 && freeslot >= 0) {
		memcpy(bs->pins[freeslot], id, BLOB_ID_LEN);
		bs->pin_n[freeslot] = 1;
		rc = 0;
	}
	pthread_mutex_unlock(&bs->pin_lock);
	return rc;
}

void
blob_unpin(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN])
{
	pthread_mutex_lock(&bs->pin_lock);
	for (int i = 0; i < BLOB_PINS; i++)
		if (bs->pin_n[i] && memcmp(bs->pins[i], id, BLOB_ID_LEN) == 0) {
			bs->pin_n[i]--;
			break;
		}
	pthread_mutex_unlock(&bs->pin_lock);
}

static int
s_pinned(blob_store_t *bs, const uint8_t id[BLOB_ID_LEN])
{
	int pinned = 0;

	pthread_mutex_lock(&bs->pin_lock);
	for (int i = 0; i < BLOB_PINS && !pinned; i++)
		pinned = bs->pin_n[i] && memcmp(bs->pins[i], id, BLOB_ID_LEN) == 0;
	pthread_mutex_unlock(&bs->pin_lock);
	return pinned;
}

int
blob_sweep(blob_store_t *bs, int (*keep)(void *arg, const uint8_t id[BLOB_ID_LEN]), void *arg,
           uint64_t *erased)
{
	DIR *top, *d;
	struct dirent *de, *fe;
	char sub[4400];
	int rc = 0;

	if (erased)
		*erased = 0;
	if ((top = opendir(bs->root)) == NULL)
		return CPT_EIO;
	while ((de = readdir(top)) != NULL) {
		if (strlen(de->d_name) != 2 || strspn(de->d_name, "0123456789abcdef") != 2)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", bs->root, de->d_name);
		if ((d = opendir(sub)) == NULL)
			continue;
		while ((fe = readdir(d)) != NULL) {
			uint8_t id[BLOB_ID_LEN];
			int k;
			if (strlen(fe->d_name) != 64 ||
			    strspn(fe->d_name, "0123456789abcdef") != 64 ||
			    cpt_unhex32(id, fe->d_name, 64) != 0)
				continue;
			/* Pinned: put, and its event not yet committed. */
			if (s_pinned(bs, id))
				continue;
			if ((k = keep(arg, id)) < 0) {
				rc = k;
				break;
			}
			if (k == 0) {
				if (blob_delete(bs, id) == 0) {
					log_info("blob", "erased %s: no event names it any more",
					         fe->d_name);
					if (erased)
						(*erased)++;
				}
			}
		}
		closedir(d);
		if (rc != 0)
			break;
	}
	closedir(top);
	return rc;
}
