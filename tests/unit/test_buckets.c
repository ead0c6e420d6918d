/*
 * The reconciliation index in LMDB (node/index/buckets.c) against brute force:
 * range counts and sums, ranks and split points, after inserts and deletes,
 * on clustered and spread timestamps. Then a whole reconciliation between
 * two real stores through that index.
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

#include "node/index/index.h"
#include "sync/sync.h"

static char s_dir[64];

static store_t *
s_store(const char *name)
{
	char path[128], err[512];
	store_t *st = NULL;

	snprintf(path, sizeof(path), "%s/%s", s_dir, name);
	assert_int_equal(index_store_open(&st, path, 1, err, sizeof(err)), 0);
	return st;
}

struct ins {
	store_t *st;
	uint8_t (*keys)[40];
	size_t n;
	int add;
	bk_acc_t *acc; /* set: changes gathered and applied at the end (bk_acc_flush) */
};

static int
s_apply_fn(store_txn_t *txn, void *arg)
{
	struct ins *a = arg;
	int rc;

	for (size_t i = 0; i < a->n; i++) {
		store_val_t k = {40, a->keys[i]}, v = {2, "\0\6"};
		if (a->add)
			rc = store_put(txn, DB_ORDER, k.data, k.len, v.data, v.len);
		else
			rc = store_del_existing(txn, DB_ORDER, k.data, k.len);
		if (rc != 0)
			return rc;
		if (a->acc)
			rc = bk_acc_add(a->acc, a->keys[i], a->add);
		else
			rc = bk_update(txn, a->keys[i], a->add);
		if (rc != 0)
			return rc;
	}
	return a->acc ? bk_acc_flush(a->acc, txn) : 0;
}

static int
s_flush_fn(store_txn_t *txn, void *arg)
{
	struct ins *a = arg;

	return bk_acc_flush(a->acc, txn);
}

static int
s_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 40);
}

static void
s_brute(uint8_t (*keys)[40], size_t n, const uint8_t lo[40], const uint8_t hi[40], uint64_t *count,
        uint8_t sum[32])
{
	*count = 0;
	memset(sum, 0, 32);
	for (size_t i = 0; i < n; i++)
		if (memcmp(keys[i], lo, 40) >= 0 && memcmp(keys[i], hi, 40) < 0) {
			(*count)++;
			recon_sum_add(sum, keys[i] + 8);
		}
}

static void
s_random_keys(uint8_t (*keys)[40], size_t n, int clustered)
{
	uint64_t base = 1795000000000ull << 16;

	for (size_t i = 0; i < n; i++) {
		uint64_t ts = clustered ? base + (randombytes_uniform(4000) << 3)
		                        : base + ((uint64_t)randombytes_random() << 12);
		store_put_u64(keys[i], ts);
		randombytes_buf(keys[i] + 8, 32);
	}
	/* a few share a timestamp exactly */
	for (size_t i = 1; i < n; i += 17)
		memcpy(keys[i], keys[i - 1], 8);
}

static void
s_check_ranges(store_t *st, uint8_t (*keys)[40], size_t n)
{
	store_txn_t *txn;

	qsort(keys, n, 40, s_cmp);
	assert_int_equal(store_read_begin(st, &txn), 0);
	for (int t = 0; t < 300; t++) {
		uint8_t lo[40], hi[40], sb[32], sk[32];
		uint64_t cb, ck;
		/* bounds: existing keys, keys in between, zero and infinity */
		if (t % 5 == 0)
			memset(lo, 0, 40);
		else
			memcpy(lo, keys[randombytes_uniform((uint32_t)n)], 40);
		if (t % 7 == 0)
			memset(hi, 0xff, 40);
		else
			memcpy(hi, keys[randombytes_uniform((uint32_t)n)], 40);
		if (t % 3 == 0)
			hi[39] ^= 1;
		if (memcmp(lo, hi, 40) > 0) {
			uint8_t tmp[40];
			memcpy(tmp, lo, 40);
			memcpy(lo, hi, 40);
			memcpy(hi, tmp, 40);
		}
		s_brute(keys, n, lo, hi, &cb, sb);
		bk_fingerprint(txn, lo, hi, &ck, sk);
		assert_int_equal(ck, cb);
		assert_memory_equal(sk, sb, 32);
	}
	/* ranks */
	for (int t = 0; t < 100; t++) {
		uint64_t r = randombytes_uniform((uint32_t)n);
		uint8_t at[40];
		assert_int_equal(bk_key_at(txn, r, at), 0);
		assert_memory_equal(at, keys[r], 40);
	}
	{
		uint8_t at[40];
		assert_int_equal(bk_key_at(txn, n, at), CPT_ENOTFOUND);
	}
	/* splits fall strictly inside, in order, and cut about equal parts */
	{
		uint8_t lo[40], hi[40], b[16][40];
		size_t nb;
		memset(lo, 0, 40);
		memset(hi, 0xff, 40);
		nb = bk_split(txn, lo, hi, n, 16, b);
		assert_true(n < 32 || nb >= 8);
		for (size_t i = 0; i < nb; i++) {
			uint64_t c;
			uint8_t s[32];
			assert_true(memcmp(b[i], lo, 40) > 0 && memcmp(b[i], hi, 40) < 0);
			if (i)
				assert_true(memcmp(b[i], b[i - 1], 40) > 0);
			bk_fingerprint(txn, i ? b[i - 1] : lo, b[i], &c, s);
			assert_true(c <= n / 16 + 2 + n / 17);
		}
	}
	store_read_end(st, &txn);
}

static void
test_index_matches_brute_force(void **state)
{
	size_t n = 6000;
	uint8_t(*keys)[40] = malloc(n * 40);
	store_t *st;
	struct ins a;

	(void)state;
	/* Each change applied at once, then gathered per transaction. */
	for (int mode = 0; mode < 4; mode++) {
		int clustered = mode & 1;
		bk_acc_t *acc = mode & 2 ? bk_acc_new() : NULL;
		char name[8];
		snprintf(name, sizeof(name), "%c%d", clustered ? 'c' : 's', mode);
		st = s_store(name);
		s_random_keys(keys, n, clustered);
		a = (struct ins){st, keys, n, 1, acc};
		assert_int_equal(store_write(st, s_apply_fn, &a), 0);
		s_check_ranges(st, keys, n);
		/* delete a third; the index follows */
		a = (struct ins){st, keys, n / 3, 0, acc};
		assert_int_equal(store_write(st, s_apply_fn, &a), 0);
		s_check_ranges(st, keys + n / 3, n - n / 3);
		/* inserted and deleted in the same transaction: no trace */
		if (acc) {
			uint8_t(*more)[40] = malloc(500 * 40);
			uint8_t lo[40], hi[40], s1[32], s2[32];
			uint64_t c1, c2;
			store_txn_t *txn;
			memset(lo, 0, 40);
			memset(hi, 0xff, 40);
			assert_int_equal(store_read_begin(st, &txn), 0);
			bk_fingerprint(txn, lo, hi, &c1, s1);
			store_read_end(st, &txn);
			s_random_keys(more, 500, clustered);
			assert_int_equal(bk_acc_add(acc, more[0], 1), 0);
			for (size_t i = 0; i < 500; i++)
				assert_int_equal(bk_acc_add(acc, more[i], 1), 0);
			for (size_t i = 0; i < 500; i++)
				assert_int_equal(bk_acc_add(acc, more[i], 0), 0);
			assert_int_equal(bk_acc_add(acc, more[0], 0), 0);
			assert_int_equal(
			    store_write(st, s_flush_fn, &(struct ins){st, NULL, 0, 0, acc}), 0);
			assert_int_equal(store_read_begin(st, &txn), 0);
			bk_fingerprint(txn, lo, hi, &c2, s2);
			store_read_end(st, &txn);
			assert_int_equal(c2, c1);
			assert_memory_equal(s2, s1, 32);
			free(more);
		}
		bk_acc_free(&acc);
		store_close(&st);
	}
	free(keys);
}

/*
 * A range's fingerprint is summed from its two ends and the buckets between
 * them (issue 23): checked against brute force on timestamps spread over
 * every level (milliseconds to years, and the top of the clock), with bounds
 * at the edges of buckets of every level, just before and just after them.
 */
static void
test_fingerprint_at_bucket_edges(void **state)
{
	size_t n = 3000;
	uint8_t(*keys)[40] = malloc(n * 40);
	store_t *st = s_store("edges");
	struct ins a = {st, keys, n, 1, NULL};
	store_txn_t *txn;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		/* 8 to 63 random bits of timestamp: every level gets buckets */
		int bits = 8 + (int)randombytes_uniform(56);
		uint64_t ts =
		    ((uint64_t)randombytes_random() << 32 | randombytes_random()) >> (64 - bits);
		if (i % 50 == 0)
			ts = UINT64_MAX - randombytes_uniform(1u << 30); /* the last buckets */
		store_put_u64(keys[i], ts);
		randombytes_buf(keys[i] + 8, 32);
	}
	for (size_t i = 1; i < n; i += 13)
		memcpy(keys[i], keys[i - 1], 8);
	assert_int_equal(store_write(st, s_apply_fn, &a), 0);
	qsort(keys, n, 40, s_cmp);
	assert_int_equal(store_read_begin(st, &txn), 0);
	for (int t = 0; t < 2000; t++) {
		uint8_t b[2][40], sb[32], sk[32];
		uint64_t cb, ck;
		for (int e = 0; e < 2; e++) {
			uint64_t ts = store_get_u64(keys[randombytes_uniform((uint32_t)n)]);
			int level = 3 + (int)randombytes_uniform(6); /* 3..8: the bucket edges */
			memset(b[e], 0, 40);
			if (level < 8)
				ts = ts >> (8 * level) << (8 * level);
			else
				ts = 0;
			ts += randombytes_uniform(3) - 1; /* just before, on, just after */
			store_put_u64(b[e], ts);
			if (t % 4 == 0)
				memcpy(b[e], keys[randombytes_uniform((uint32_t)n)], 40);
			if (t % 11 == 0 && e == 1)
				memset(b[e], 0xff, 40);
		}
		if (memcmp(b[0], b[1], 40) > 0) {
			uint8_t tmp[40];
			memcpy(tmp, b[0], 40);
			memcpy(b[0], b[1], 40);
			memcpy(b[1], tmp, 40);
		}
		s_brute(keys, n, b[0], b[1], &cb, sb);
		bk_fingerprint(txn, b[0], b[1], &ck, sk);
		assert_int_equal(ck, cb);
		assert_memory_equal(sk, sb, 32);
	}
	store_read_end(st, &txn);
	store_close(&st);
	free(keys);
}

static int
s_rebuild_fn(store_txn_t *txn, void *arg)
{
	return bk_rebuild(txn);
}

static void
test_rebuild_gives_same_index(void **state)
{
	size_t n = 2000;
	uint8_t(*keys)[40] = malloc(n * 40);
	store_t *st = s_store("r");
	struct ins a = {st, keys, n, 1, NULL};
	store_txn_t *txn;
	uint8_t lo[40], hi[40], s1[32], s2[32];
	uint64_t c1, c2;

	(void)state;
	s_random_keys(keys, n, 0);
	assert_int_equal(store_write(st, s_apply_fn, &a), 0);
	memset(lo, 0, 40);
	memset(hi, 0xff, 40);
	assert_int_equal(store_read_begin(st, &txn), 0);
	bk_fingerprint(txn, lo, hi, &c1, s1);
	store_read_end(st, &txn);
	assert_int_equal(store_write(st, s_rebuild_fn, st), 0);
	assert_int_equal(store_read_begin(st, &txn), 0);
	bk_fingerprint(txn, lo, hi, &c2, s2);
	store_read_end(st, &txn);
	assert_int_equal(c1, n);
	assert_int_equal(c2, n);
	assert_memory_equal(s1, s2, 32);
	store_close(&st);
	free(keys);
}

/* Every entry of the index's levels, keys and values one after the other. */
static size_t
s_dump(store_t *st, uint8_t **out)
{
	store_txn_t *txn;
	size_t n = 0, cap = 1 << 20;
	uint8_t *buf = malloc(cap);

	assert_non_null(buf);
	assert_int_equal(store_read_begin(st, &txn), 0);
	for (enum store_db db = DB_BUCKETS_L3; db <= DB_BUCKETS_L7; db++) {
		store_cur_t *cur;
		store_val_t k, v;
		assert_int_equal(store_cur_open(txn, db, &cur), 0);
		buf[n++] = (uint8_t)db;
		while (store_cur_get(cur, &k, &v, STORE_NEXT) == 0) {
			assert_true(n + k.len + v.len <= cap);
			memcpy(buf + n, k.data, k.len);
			memcpy(buf + n + k.len, v.data, v.len);
			n += k.len + v.len;
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	*out = buf;
	return n;
}

/* The level-3 buckets the index must hold: those under level-4 buckets
 * of 64 events or more, with their exact counts; none under the others. */
static void
s_check_level3(store_t *st, uint8_t (*keys)[40], size_t n)
{
	store_txn_t *txn;
	size_t expected = 0;

	assert_int_equal(store_read_begin(st, &txn), 0);
	for (size_t i = 0; i < n;) {
		uint64_t idx4 = store_get_u64(keys[i]) >> 32;
		size_t j = i;
		while (j < n && store_get_u64(keys[j]) >> 32 == idx4)
			j++;
		for (size_t a = i; a < j;) {
			uint64_t idx3 = store_get_u64(keys[a]) >> 24, c = 0;
			uint8_t kb[8];
			store_val_t v;
			while (a < j && store_get_u64(keys[a]) >> 24 == idx3)
				a++, c++;
			store_put_u64(kb, idx3);
			if (j - i >= 64) {
				expected++;
				assert_int_equal(store_get(txn, DB_BUCKETS_L3, kb, 8, &v), 0);
				assert_int_equal(store_get_u64(v.data), c);
			} else {
				assert_int_equal(store_get(txn, DB_BUCKETS_L3, kb, 8, &v),
				                 CPT_ENOTFOUND);
			}
		}
		i = j;
	}
	assert_int_equal(store_count(txn, DB_BUCKETS_L3), expected);
	store_read_end(st, &txn);
}

/*
 * Level 3 is kept only under level-4 buckets of 64 events or more (schema
 * 10): buckets of 1 to 150 events, some at the threshold, inserted over
 * several transactions and then partly deleted, so that buckets cross it
 * both ways; each change at once and gathered per transaction. After each
 * phase: fingerprints, ranks and splits against brute force, level 3 exactly
 * where it belongs, and the same bytes as an index rebuilt from the events.
 */
static void
test_sparse_level_3(void **state)
{
	size_t cap = 6000, n = 0;
	uint8_t(*keys)[40] = malloc(cap * 40);
	uint8_t(*sorted)[40] = malloc(cap * 40);

	(void)state;
	for (uint64_t b = 0; b < 48 && n < cap; b++) {
		/* bucket b of level 4: 1 to 150 events, or 62 to 66 */
		size_t c = b % 4 == 0 ? 62 + randombytes_uniform(5) : 1 + randombytes_uniform(150);
		uint64_t base = (0x19000000ull + b * 3) << 32;
		for (size_t i = 0; i < c && n < cap; i++, n++) {
			uint64_t ts = base + ((uint64_t)randombytes_random() & 0xffffffffull);
			if (i % 5 == 1)
				ts =
				    base + (ts & 0x00ffffffull); /* several in one level-3 bucket */
			store_put_u64(keys[n], ts);
			randombytes_buf(keys[n] + 8, 32);
		}
	}
	for (int mode = 0; mode < 2; mode++) {
		bk_acc_t *acc = mode ? bk_acc_new() : NULL;
		char name[16];
		store_t *st, *re;
		size_t live;
		snprintf(name, sizeof(name), "sparse%d", mode);
		st = s_store(name);
		/* in four transactions, in random order */
		for (size_t i = n - 1; i > 0; i--) {
			uint8_t t[40];
			size_t j = randombytes_uniform((uint32_t)(i + 1));
			memcpy(t, keys[i], 40);
			memcpy(keys[i], keys[j], 40);
			memcpy(keys[j], t, 40);
		}
		for (size_t q = 0; q < 4; q++) {
			struct ins a = {st, keys + q * n / 4, (q + 1) * n / 4 - q * n / 4, 1, acc};
			assert_int_equal(store_write(st, s_apply_fn, &a), 0);
		}
		for (int phase = 0; phase < 3; phase++) {
			uint8_t *d1, *d2;
			size_t l1, l2;
			struct ins a;
			/* phase 1 deletes the last 2/5, phase 2 puts half of them back */
			size_t gone = 2 * (n / 5);
			live = phase == 0 ? n : phase == 1 ? n - gone : n - gone / 2;
			if (phase == 1) {
				a = (struct ins){st, keys + live, gone, 0, acc};
				assert_int_equal(store_write(st, s_apply_fn, &a), 0);
			} else if (phase == 2) {
				a = (struct ins){st, keys + n - gone, gone / 2, 1, acc};
				assert_int_equal(store_write(st, s_apply_fn, &a), 0);
			}
			memcpy(sorted, keys, live * 40);
			s_check_ranges(st, sorted, live); /* sorts them */
			s_check_level3(st, sorted, live);
			snprintf(name, sizeof(name), "rb%d%d", mode, phase);
			re = s_store(name);
			a = (struct ins){re, sorted, live, 1, NULL};
			assert_int_equal(store_write(re, s_apply_fn, &a), 0);
			assert_int_equal(store_write(re, s_rebuild_fn, re), 0);
			l1 = s_dump(st, &d1);
			l2 = s_dump(re, &d2);
			assert_int_equal(l1, l2);
			assert_memory_equal(d1, d2, l1);
			free(d1);
			free(d2);
			store_close(&re);
		}
		bk_acc_free(&acc);
		store_close(&st);
	}
	free(keys);
	free(sorted);
}

static int
s_setup(void **state)
{
	(void)state;
	snprintf(s_dir, sizeof(s_dir), "/tmp/comptoir-buckets-XXXXXX");
	return mkdtemp(s_dir) ? 0 : -1;
}

static int
s_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", s_dir);
	return system(cmd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_index_matches_brute_force),
	    cmocka_unit_test(test_rebuild_gives_same_index),
	    cmocka_unit_test(test_fingerprint_at_bucket_edges),
	    cmocka_unit_test(test_sparse_level_3),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
