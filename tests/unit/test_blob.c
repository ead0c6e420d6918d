/*
 * Unit tests for node/blob (PROTOCOL.md 18.1, 18.7): blob ids against the
 * vector of the protocol, streamed puts of several chunks, damage on disk
 * caught by the chunk checks, erasure, crash safety with a real child
 * process killed by SIGKILL after and during a put, and the sealed blobs
 * of private spaces (18.4).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "node/blob/blob.h"

static char s_dir[256];

static int
s_setup(void **state)
{
	snprintf(s_dir, sizeof(s_dir), "/tmp/test_blob.XXXXXX");
	assert_non_null(mkdtemp(s_dir));
	return 0;
}

static int
s_teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s_dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Deterministic bytes of a test file. */
static uint8_t *
s_bytes(size_t len, uint8_t seed)
{
	uint8_t *b = malloc(len);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 31 + seed + (i >> 12));
	return b;
}

/* Puts len bytes in pieces of step bytes; returns the id. */
static void
s_put(blob_store_t *bs, const uint8_t *b, size_t len, size_t step, uint8_t id[BLOB_ID_LEN])
{
	blob_put_t *p;
	uint64_t size = 0;

	assert_int_equal(blob_put_begin(bs, &p, BLOB_MAX_SIZE), 0);
	for (size_t off = 0; off < len; off += step)
		assert_int_equal(blob_put_write(p, b + off, len - off < step ? len - off : step),
		                 0);
	assert_int_equal(blob_put_commit(&p, id, &size), 0);
	assert_null(p);
	assert_int_equal(size, len);
}

/* The vector of PROTOCOL.md 18.1: the blob of the single byte 00. */
static void
test_id_vector(void **state)
{
	uint8_t id[BLOB_ID_LEN], b = 0;
	char hex[65];

	assert_int_equal(blob_id_of_bytes(id, &b, 1), 0);
	sodium_bin2hex(hex, sizeof(hex), id, sizeof(id));
	assert_string_equal(hex,
	                    "e91f170a92e1adfeee5ba9e827b06f4b9655c8080d2bb517e0409c5cdc71026f");
	assert_int_equal(blob_id_of_bytes(id, &b, 0), CPT_EINVAL);
	assert_int_equal(blob_nchunks(BLOB_CHUNK), 1);
	assert_int_equal(blob_nchunks(BLOB_CHUNK + 1), 2);
}

/* A put of 3 chunks and 5 bytes, in pieces that straddle chunk bounds, has
 * the id of the same bytes in memory; each chunk reads back checked. */
static void
test_put_read(void **state)
{
	size_t len = 3 * BLOB_CHUNK + 5;
	uint8_t *b = s_bytes(len, 7), id[BLOB_ID_LEN], want[BLOB_ID_LEN], *m, *buf;
	blob_store_t *bs;
	uint64_t size;
	size_t mlen, got;

	assert_int_equal(blob_store_open(&bs, s_dir), 0);
	s_put(bs, b, len, 100003, id);
	assert_int_equal(blob_id_of_bytes(want, b, len), 0);
	assert_memory_equal(id, want, BLOB_ID_LEN);
	assert_int_equal(blob_has(bs, id, &size), 1);
	assert_int_equal(size, len);
	assert_int_equal(blob_manifest(bs, id, &m, &size, &mlen), 0);
	assert_int_equal(mlen, 4 * 32);
	free(m);
	buf = malloc(BLOB_CHUNK);
	for (uint32_t i = 0; i < 4; i++) {
		assert_int_equal(blob_read_chunk(bs, id, i, buf, &got), 0);
		assert_int_equal(got, i < 3 ? BLOB_CHUNK : 5);
		assert_memory_equal(buf, b + (size_t)i * BLOB_CHUNK, got);
	}
	assert_int_equal(blob_read_chunk(bs, id, 4, buf, &got), CPT_ENOTFOUND);
	/* The same bytes again: one blob, the same id. */
	s_put(bs, b, len, len, want);
	assert_memory_equal(id, want, BLOB_ID_LEN);
	free(buf);
	free(b);
	blob_store_close(&bs);
	assert_null(bs);
}

/* Over the limit, or empty: nothing is stored, nothing is left in tmp/. */
static void
test_refusals(void **state)
{
	blob_store_t *bs;
	blob_put_t *p;
	uint8_t b[100] = {1}, id[BLOB_ID_LEN];
	char tmp[400];

	assert_int_equal(blob_store_open(&bs, s_dir), 0);
	assert_int_equal(blob_put_begin(bs, &p, 150), 0);
	assert_int_equal(blob_put_write(p, b, 100), 0);
	assert_int_equal(blob_put_write(p, b, 100), CPT_ETOOBIG);
	assert_int_equal(blob_put_write(p, b, 1), CPT_ESTATE);
	assert_int_equal(blob_put_commit(&p, id, NULL), CPT_ESTATE);
	assert_null(p);
	assert_int_equal(blob_put_begin(bs, &p, 150), 0);
	assert_int_equal(blob_put_commit(&p, id, NULL), CPT_EINVAL);
	assert_int_equal(blob_put_begin(bs, &p, 150), 0);
	assert_int_equal(blob_put_write(p, b, 10), 0);
	blob_put_abort(&p);
	assert_null(p);
	assert_int_equal(blob_id_of_bytes(id, b, 100), 0);
	assert_int_equal(blob_has(bs, id, NULL), 0);
	snprintf(tmp, sizeof(tmp), "rmdir '%s/blobs/tmp'", s_dir); /* fails unless empty */
	assert_int_equal(system(tmp), 0);
	blob_store_close(&bs);
}

/* A byte flipped on disk: the chunk check catches it, the blob no longer
 * counts (moved to bad/); a blob cut short fails on its manifest. */
static void
test_damage(void **state)
{
	size_t len = 2 * BLOB_CHUNK + 9;
	uint8_t *b = s_bytes(len, 3), id[BLOB_ID_LEN], *buf = malloc(BLOB_CHUNK);
	blob_store_t *bs;
	char path[4300];
	size_t got;
	int fd;

	assert_int_equal(blob_store_open(&bs, s_dir), 0);
	s_put(bs, b, len, 4096, id);
	assert_int_equal(blob_path(bs, id, path, sizeof(path)), 0);
	assert_int_equal(chmod(path, 0600), 0);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, BLOB_CHUNK + 17), 1);
	close(fd);
	assert_int_equal(blob_read_chunk(bs, id, 0, buf, &got), 0); /* chunk 0 is sound */
	assert_int_equal(blob_read_chunk(bs, id, 1, buf, &got), CPT_EDAMAGED);
	assert_int_equal(blob_has(bs, id, NULL), 0);
	assert_int_equal(blob_read_chunk(bs, id, 0, buf, &got), CPT_ENOTFOUND);

	/* Put back, then cut short. */
	s_put(bs, b, len, len, id);
	assert_int_equal(blob_has(bs, id, NULL), 1);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(truncate(path, BLOB_CHUNK), 0);
	assert_int_equal(blob_read_chunk(bs, id, 0, buf, &got), CPT_EDAMAGED);
	assert_int_equal(blob_has(bs, id, NULL), 0);
	free(buf);
	free(b);
	blob_store_close(&bs);
}

static void
test_delete(void **state)
{
	uint8_t *b = s_bytes(1000, 9), id[BLOB_ID_LEN], *m;
	blob_store_t *bs;
	char path[4300];
	size_t mlen;

	assert_int_equal(blob_store_open(&bs, s_dir), 0);
	s_put(bs, b, 1000, 1000, id);
	assert_int_equal(blob_delete(bs, id), 0);
	assert_int_equal(blob_has(bs, id, NULL), 0);
	assert_int_equal(blob_manifest(bs, id, &m, NULL, &mlen), CPT_ENOTFOUND);
	assert_int_equal(blob_path(bs, id, path, sizeof(path)), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	strcat(path, ".map");
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(blob_delete(bs, id), 0); /* again: nothing to do */
	free(b);
	blob_store_close(&bs);
}

/* A child puts a blob, says so once blob_put_commit returned, and is killed
 * by SIGKILL: the blob is there when the store is opened again. Another
 * child is killed in the middle of a put: nothing counts, and tmp/ is
 * emptied at the next open. */
static void
test_kill9(void **state)
{
	size_t len = 5 * BLOB_CHUNK + 1;
	uint8_t *b = s_bytes(len, 42), id[BLOB_ID_LEN], half[BLOB_ID_LEN], *buf;
	int fds[2], status;
	blob_store_t *bs;
	pid_t pid;
	size_t got;
	char tmp[400];

	assert_int_equal(blob_id_of_bytes(id, b, len), 0);
	assert_int_equal(blob_id_of_bytes(half, b, 2 * BLOB_CHUNK), 0);

	for (int during = 0; during < 2; during++) {
		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			blob_store_t *cs;
			blob_put_t *p;
			uint8_t cid[BLOB_ID_LEN];
			close(fds[0]);
			if (blob_store_open(&cs, s_dir) != 0 || blob_put_begin(cs, &p, len) != 0)
				_exit(1);
			if (during) {
				/* Half of the bytes of the other blob, then stop. */
				if (blob_put_write(p, b, 2 * BLOB_CHUNK) != 0)
					_exit(1);
			} else if (blob_put_write(p, b, len) != 0 ||
			           blob_put_commit(&p, cid, NULL) != 0) {
				_exit(1);
			}
			if (write(fds[1], "k", 1) != 1)
				_exit(1);
			for (;;)
				pause(); /* the parent kills it here */
		}
		close(fds[1]);
		char c;
		assert_int_equal(read(fds[0], &c, 1), 1);
		close(fds[0]);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
	}

	assert_int_equal(blob_store_open(&bs, s_dir), 0);
	assert_int_equal(blob_has(bs, id, NULL), 1);
	assert_int_equal(blob_has(bs, half, NULL), 0);
	buf = malloc(BLOB_CHUNK);
	assert_int_equal(blob_read_chunk(bs, id, 5, buf, &got), 0);
	assert_int_equal(got, 1);
	free(buf);
	snprintf(tmp, sizeof(tmp), "rmdir '%s/blobs/tmp'", s_dir); /* the half put is gone */
	assert_int_equal(system(tmp), 0);
	free(b);
	blob_store_close(&bs);
}

/* Sealed blobs (PROTOCOL.md 18.4): the sizes of the formula, a round trip
 * written in odd pieces and read back by ranges across segments and
 * chunks, no plaintext in the stored file, and what does not open: another
 * part, another size, another key, a byte changed on disk. */
static void
test_sealed(void **state)
{
	static const size_t sizes[] = {1, 4096, 4097, 65536, 65537, 300000, 600001};
	blob_store_t *bs = NULL;
	uint8_t key[BLOB_FKEY_LEN], other[BLOB_FKEY_LEN], id[BLOB_ID_LEN], id2[BLOB_ID_LEN];
	uint64_t size = 0;

	(void)state;
	assert_int_equal(blob_store_open(&bs, s_dir), 0);
	randombytes_buf(key, sizeof(key));
	randombytes_buf(other, sizeof(other));
	assert_true(blob_sealed_size(0) == 0);
	assert_true(blob_sealed_size(1) == 4096 + 16);
	assert_true(blob_sealed_size(65536) == 65552);
	assert_true(blob_sealed_size(65537) == 65552 + 4096 + 16);
	assert_true(blob_sealed_size(BLOB_SEALED_MAX) <= BLOB_MAX_SIZE);
	assert_true(blob_sealed_size(BLOB_SEALED_MAX + 1) == 0);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k], got = 0;
		uint8_t *b = s_bytes(len, (uint8_t)k), *all = NULL, buf[70000];
		blob_sput_t *sp = NULL;
		blob_sread_t *r = NULL;
		char path[4200];
		FILE *f;
		uint8_t *disk;

		/* Written in pieces of 1000 bytes: segments cross the pieces. */
		assert_int_equal(blob_sput_begin(bs, &sp, key, 0, len), 0);
		for (size_t o = 0; o < len; o += 1000)
			assert_int_equal(
			    blob_sput_write(sp, b + o, len - o < 1000 ? len - o : 1000), 0);
		assert_int_equal(blob_sput_commit(&sp, id, &size), 0);
		assert_true(size == blob_sealed_size(len));
		/* The store holds ciphertext: not one 64-byte run of the plaintext. */
		assert_int_equal(blob_path(bs, id, path, sizeof(path)), 0);
		disk = malloc(size);
		assert_non_null(f = fopen(path, "rb"));
		assert_int_equal(fread(disk, 1, size, f), size);
		fclose(f);
		if (len >= 64)
			assert_null(memmem(disk, size, b + len / 2 - 32, 64));
		free(disk);
		assert_int_equal(blob_sread_all(bs, id, key, 0, len, &all), 0);
		assert_memory_equal(all, b, len);
		free(all);
		/* A range across a segment's end and, for the larger, a chunk's. */
		assert_int_equal(blob_sread_open(bs, &r, id, key, 0, len), 0);
		for (uint64_t at = len > 65500 ? 65500 : 0; at < len && at < 300000; at += got) {
			assert_int_equal(blob_sread_at(r, at, buf, sizeof(buf), &got), 0);
			assert_true(got > 0);
			assert_memory_equal(buf, b + at, got);
		}
		assert_int_equal(blob_sread_at(r, len, buf, sizeof(buf), &got), 0);
		assert_int_equal(got, 0);
		blob_sread_close(&r);
		assert_null(r);
		/* Another part (a thumbnail's nonces), key or size: not opened. */
		assert_int_equal(blob_sread_all(bs, id, key, 1, len, &all), CPT_EAUTH);
		assert_int_equal(blob_sread_all(bs, id, other, 0, len, &all), CPT_EAUTH);
		if (len % 4096 != 0)
			assert_int_equal(blob_sread_all(bs, id, key, 0, len + 1, &all), CPT_EAUTH);
		assert_int_equal(blob_sread_all(bs, id, key, 0, len + 65536, &all), CPT_EAUTH);
		/* The same bytes sealed again: another blob (a fresh random
		 * key each time in real use; here another part). */
		assert_int_equal(blob_seal_bytes(bs, key, 1, b, len, id2, NULL), 0);
		assert_memory_not_equal(id, id2, BLOB_ID_LEN);
		free(b);
	}
	/* Fewer bytes than announced: nothing stored; more: refused. */
	{
		blob_sput_t *sp = NULL;
		uint8_t b[10] = {0};
		assert_int_equal(blob_sput_begin(bs, &sp, key, 0, 20), 0);
		assert_int_equal(blob_sput_write(sp, b, 10), 0);
		assert_int_equal(blob_sput_commit(&sp, id, &size), CPT_EINVAL);
		assert_null(sp);
		assert_int_equal(blob_sput_begin(bs, &sp, key, 0, 5), 0);
		assert_int_equal(blob_sput_write(sp, b, 10), CPT_ETOOBIG);
		blob_sput_abort(&sp);
		assert_null(sp);
	}
	/* A byte changed on disk: the chunk check catches it first. */
	{
		char path[4200];
		uint8_t *b = s_bytes(5000, 9), *all = NULL, x;
		FILE *f;
		assert_int_equal(blob_seal_bytes(bs, key, 0, b, 5000, id, &size), 0);
		assert_int_equal(blob_path(bs, id, path, sizeof(path)), 0);
		assert_non_null(f = fopen(path, "r+b"));
		fseek(f, 100, SEEK_SET);
		assert_int_equal(fread(&x, 1, 1, f), 1);
		x ^= 1;
		fseek(f, 100, SEEK_SET);
		assert_int_equal(fwrite(&x, 1, 1, f), 1);
		fclose(f);
		assert_int_equal(blob_sread_all(bs, id, key, 0, 5000, &all), CPT_EDAMAGED);
		free(b);
	}
	blob_store_close(&bs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_vector),
	    cmocka_unit_test_setup_teardown(test_put_read, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_damage, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_delete, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_kill9, s_setup, s_teardown),
	    cmocka_unit_test_setup_teardown(test_sealed, s_setup, s_teardown),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
