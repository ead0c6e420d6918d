/*
 * Unit tests of the blob messages' codec (sync/msg.c, PROTOCOL.md 18.6): the
 * blob id against the protocol's vector and node/blob's, every frame rule
 * of types 10-15 both ways, and the partial files of node/blob that a fetch
 * resumes from (18.7).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "node/blob/blob.h"
#include "sync/sync.h"

static void
s_be(uint8_t *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* The vector of PROTOCOL.md 18.1, and node/blob's id for several sizes. */
static void
test_blob_id(void **state)
{
	uint8_t m[32], id[32], other[32], one = 0;
	char hex[65];
	size_t sizes[] = {1, 262143, 262144, 262145, 3 * 262144 + 7};

	crypto_generichash(m, 32, &one, 1, NULL, 0);
	assert_int_equal(sync_blob_id(id, 1, m, 32), 0);
	sodium_bin2hex(hex, sizeof(hex), id, 32);
	assert_string_equal(hex,
	                    "e91f170a92e1adfeee5ba9e827b06f4b9655c8080d2bb517e0409c5cdc71026f");
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k];
		uint32_t n = sync_blob_nchunks(len);
		uint8_t *b = malloc(len), *man = malloc((size_t)n * 32);
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)(i * 7 + k);
		for (uint32_t i = 0; i < n; i++)
			crypto_generichash(man + (size_t)i * 32, 32,
			                   b + (size_t)i * SYNC_BLOB_CHUNK,
			                   sync_blob_chunk_len(len, i), NULL, 0);
		assert_int_equal(sync_blob_id(id, len, man, (size_t)n * 32), 0);
		assert_int_equal(blob_id_of_bytes(other, b, len), 0);
		assert_memory_equal(id, other, 32);
		/* A manifest of the wrong length for the size is refused. */
		assert_int_equal(sync_blob_id(id, len, man, (size_t)n * 32 - 32), CPT_EINVAL);
		free(b);
		free(man);
	}
	assert_int_equal(sync_blob_id(id, 0, m, 0), CPT_EINVAL);
	assert_int_equal(sync_blob_id(id, SYNC_BLOB_MAX_SIZE + 1, m, 32), CPT_EINVAL);
	assert_int_equal(sync_blob_nchunks(262144), 1);
	assert_int_equal(sync_blob_nchunks(262145), 2);
	assert_int_equal(sync_blob_chunk_len(262145, 1), 1);
	assert_int_equal(sync_blob_chunk_len(262145, 2), 0);
	assert_int_equal(sync_blob_chunk_len(262144, 0), 262144);
}

/* Types 10-15 are messages; 16 is not; 10-15 have their frame rules. */
static void
test_msg_check(void **state)
{
	uint8_t f0[2] = {SYNC_VERSION, 0};
	size_t max = 1 << 20;
	struct {
		int type;
		size_t n;
		size_t len[3];
		int ok;
	} cases[] = {
	    {SYNC_BHELLO, 2, {2, 2, 0}, 1},
	    {SYNC_BHELLO, 2, {2, 1, 0}, 0},
	    {SYNC_BHELLO, 2, {2, 3, 0}, 0},
	    {SYNC_BHELLO, 1, {2, 0, 0}, 0},
	    {SYNC_BMAP_GET, 2, {2, 32, 0}, 1},
	    {SYNC_BMAP_GET, 2, {2, 33, 0}, 0},
	    {SYNC_BMAP_GET, 3, {2, 32, 1}, 0},
	    {SYNC_BMAP, 3, {2, 40, 32}, 1},
	    {SYNC_BMAP, 3, {2, 40, 1 << 20}, 1}, /* the largest manifest, past max_msg */
	    {SYNC_BMAP, 3, {2, 40, (1 << 20) + 32}, 0},
	    {SYNC_BMAP, 3, {2, 40, 33}, 0},
	    {SYNC_BMAP, 3, {2, 40, 0}, 0},
	    {SYNC_BMAP, 2, {2, 40, 0}, 0},
	    {SYNC_BMAP, 3, {2, 39, 32}, 0},
	    {SYNC_BGET, 2, {2, 38, 0}, 1},
	    {SYNC_BGET, 2, {2, 37, 0}, 0},
	    {SYNC_BCHUNK, 3, {2, 36, 1}, 1},
	    {SYNC_BCHUNK, 3, {2, 36, 262144}, 1},
	    {SYNC_BCHUNK, 3, {2, 36, 262145}, 0},
	    {SYNC_BCHUNK, 3, {2, 36, 0}, 0},
	    {SYNC_BCHUNK, 2, {2, 36, 0}, 0},
	    {SYNC_BNONE, 2, {2, 37, 0}, 1},
	    {SYNC_BNONE, 2, {2, 36, 0}, 0},
	};

	for (int t = SYNC_HELLO; t <= SYNC_BNONE; t++) {
		f0[1] = (uint8_t)t;
		assert_int_equal(sync_msg_type(f0, 2), t);
	}
	f0[1] = SYNC_BNONE + 1;
	assert_int_equal(sync_msg_type(f0, 2), -1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = sync_msg_check(cases[i].type, cases[i].n, cases[i].len, max);
		if ((rc == 0) != cases[i].ok)
			fail_msg("case %zu (type %d): got %d", i, cases[i].type, rc);
	}
}

/* The fixed fields decoded, and the rules a single message is held to. */
static void
test_decode(void **state)
{
	uint8_t a[40], man[64], chunk[10];
	const uint8_t *f[2];
	size_t len[2];
	sync_bmsg_t b;

	memset(a, 0xab, sizeof(a));
	/* BHELLO: version 0 is no version. */
	a[0] = 1;
	a[1] = 0;
	f[0] = a;
	len[0] = 2;
	assert_int_equal(sync_bmsg_decode(SYNC_BHELLO, f, len, 2, &b), 0);
	assert_int_equal(b.version, 1);
	a[0] = 0;
	assert_int_equal(sync_bmsg_decode(SYNC_BHELLO, f, len, 2, &b), CPT_EINVAL);
	/* BGET: count 1..8, within 32768 chunks. */
	memset(a, 7, 32);
	s_be(a + 32, 5, 4);
	s_be(a + 36, 8, 2);
	len[0] = 38;
	assert_int_equal(sync_bmsg_decode(SYNC_BGET, f, len, 2, &b), 0);
	assert_int_equal(b.index, 5);
	assert_int_equal(b.count, 8);
	assert_int_equal(b.id[0], 7);
	s_be(a + 36, 9, 2);
	assert_int_equal(sync_bmsg_decode(SYNC_BGET, f, len, 2, &b), CPT_EINVAL);
	s_be(a + 36, 0, 2);
	assert_int_equal(sync_bmsg_decode(SYNC_BGET, f, len, 2, &b), CPT_EINVAL);
	s_be(a + 32, 32767, 4);
	s_be(a + 36, 2, 2);
	assert_int_equal(sync_bmsg_decode(SYNC_BGET, f, len, 2, &b), CPT_EINVAL);
	s_be(a + 32, 0xffffffff, 4);
	s_be(a + 36, 1, 2);
	assert_int_equal(sync_bmsg_decode(SYNC_BGET, f, len, 2, &b), CPT_EINVAL);
	/* BMAP: the manifest's length follows from the size. */
	s_be(a + 32, 262145, 8);
	len[0] = 40;
	f[1] = man;
	len[1] = 64;
	assert_int_equal(sync_bmsg_decode(SYNC_BMAP, f, len, 3, &b), 0);
	assert_int_equal(b.size, 262145);
	len[1] = 32;
	assert_int_equal(sync_bmsg_decode(SYNC_BMAP, f, len, 3, &b), CPT_EINVAL);
	s_be(a + 32, 0, 8);
	assert_int_equal(sync_bmsg_decode(SYNC_BMAP, f, len, 3, &b), CPT_EINVAL);
	s_be(a + 32, SYNC_BLOB_MAX_SIZE + 1, 8);
	assert_int_equal(sync_bmsg_decode(SYNC_BMAP, f, len, 3, &b), CPT_EINVAL);
	/* BCHUNK: index within 32768. */
	s_be(a + 32, 3, 4);
	len[0] = 36;
	f[1] = chunk;
	len[1] = sizeof(chunk);
	assert_int_equal(sync_bmsg_decode(SYNC_BCHUNK, f, len, 3, &b), 0);
	assert_int_equal(b.index, 3);
	s_be(a + 32, 32768, 4);
	assert_int_equal(sync_bmsg_decode(SYNC_BCHUNK, f, len, 3, &b), CPT_EINVAL);
	/* BNONE: reason and chunks held. */
	a[32] = SYNC_BNONE_ERASED;
	s_be(a + 33, 12, 4);
	len[0] = 37;
	assert_int_equal(sync_bmsg_decode(SYNC_BNONE, f, len, 2, &b), 0);
	assert_int_equal(b.reason, SYNC_BNONE_ERASED);
	assert_int_equal(b.held, 12);
	s_be(a + 33, 40000, 4);
	assert_int_equal(sync_bmsg_decode(SYNC_BNONE, f, len, 2, &b), CPT_EINVAL);
	/* Missing frames. */
	f[0] = NULL;
	assert_int_equal(sync_bmsg_decode(SYNC_BNONE, f, len, 2, &b), CPT_EINVAL);
	assert_int_equal(sync_bmsg_decode(SYNC_BNONE, NULL, len, 2, &b), CPT_EINVAL);
	assert_int_equal(sync_bmsg_decode(SYNC_HELLO, f, len, 2, &b), CPT_EINVAL);
}

/* A partial file keeps the chunks that match after a reopen, not the
 * others, and becomes the blob, identical, at finish. */
static void
test_part(void **state)
{
	char dir[] = "/tmp/test_blobmsg.XXXXXX", cmd[128], path[4200];
	size_t len = 5 * 262144 + 1000;
	uint32_t n = sync_blob_nchunks(len);
	uint8_t *b = malloc(len), *man = malloc((size_t)n * 32), id[32], held[8];
	uint8_t *buf = malloc(BLOB_CHUNK);
	blob_store_t *bs = NULL;
	size_t got;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 13 + (i >> 9));
	for (uint32_t i = 0; i < n; i++)
		crypto_generichash(man + (size_t)i * 32, 32, b + (size_t)i * SYNC_BLOB_CHUNK,
		                   sync_blob_chunk_len(len, i), NULL, 0);
	assert_int_equal(sync_blob_id(id, len, man, (size_t)n * 32), 0);
	assert_int_equal(blob_store_open(&bs, dir), 0);
	assert_int_equal(blob_part_open(bs, id, len, man, (size_t)n * 32, held), 0);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(held[i], 0);
	/* Chunks 0, 2 and 5 arrive, then a cut. */
	assert_int_equal(blob_part_write(bs, id, 0, b, SYNC_BLOB_CHUNK), 0);
	assert_int_equal(blob_part_write(bs, id, 2, b + 2 * SYNC_BLOB_CHUNK, SYNC_BLOB_CHUNK), 0);
	assert_int_equal(blob_part_write(bs, id, 5, b + 5 * SYNC_BLOB_CHUNK, 1000), 0);
	blob_store_close(&bs);
	/* A byte of chunk 2 rots on disk meanwhile. */
	snprintf(path, sizeof(path), "%s/blobs/part/", dir);
	sodium_bin2hex(path + strlen(path), 65, id, 32);
	assert_non_null(fp = fopen(path, "r+b"));
	fseek(fp, 2 * 262144 + 17, SEEK_SET);
	fputc(b[2 * 262144 + 17] ^ 0x40, fp);
	fclose(fp);
	assert_int_equal(blob_store_open(&bs, dir), 0);
	assert_int_equal(blob_part_open(bs, id, len, man, (size_t)n * 32, held), 0);
	assert_int_equal(held[0], 1);
	assert_int_equal(held[1], 0);
	assert_int_equal(held[2], 0); /* damaged: fetched again */
	assert_int_equal(held[5], 1);
	assert_false(blob_has(bs, id, NULL));
	for (uint32_t i = 1; i < 5; i++)
		assert_int_equal(
		    blob_part_write(bs, id, i, b + (size_t)i * SYNC_BLOB_CHUNK, SYNC_BLOB_CHUNK),
		    0);
	assert_int_equal(blob_part_finish(bs, id), 0);
	assert_true(blob_has(bs, id, NULL));
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(blob_read_chunk(bs, id, i, buf, &got), 0);
		assert_int_equal(got, sync_blob_chunk_len(len, i));
		assert_memory_equal(buf, b + (size_t)i * SYNC_BLOB_CHUNK, got);
	}
	/* The partial file is gone; a write to it now finds nothing. */
	assert_int_equal(blob_part_write(bs, id, 0, b, SYNC_BLOB_CHUNK), CPT_ENOTFOUND);
	assert_int_equal(access(path, F_OK), -1);
	/* A manifest of the wrong length is refused. */
	assert_int_equal(blob_part_open(bs, id, len, man, 32, held), CPT_EINVAL);
	blob_part_drop(bs, id);
	blob_store_close(&bs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(b);
	free(man);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_blob_id),
	    cmocka_unit_test(test_msg_check),
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_part),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
