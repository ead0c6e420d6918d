/*
 * The index behind reconciliation fingerprints: counts and id sums of the
 * events per time bucket, at seven levels (bucket k holds the timestamps that
 * share their top 64 - 8k bits), kept up to date in the same transaction as
 * every insert and delete. A range's fingerprint or a split point then costs a
 * few short cursor walks, never a scan of every event.
 */
#include <string.h>

#include "node/ingest_internal.h"
#include "node/node.h"

#define LEVELS 7 /* levels 1..7; level 0 is DB_ORDER itself */

/* Bucket key: level (1) then ts >> (8 * level) (8, big-endian). */
static void
s_bkey(uint8_t k[9], int level, uint64_t ts)
{
	k[0] = (uint8_t)level;
	store_put_u64(k + 1, level >= 8 ? 0 : ts >> (8 * level));
}

/* Value: count (8, big-endian) then the sum of ids (32, little-endian number). */
static void
s_bval_read(const MDB_val *v, uint64_t *count, uint8_t sum[32])
{
	if (v->mv_size != 40) {
		*count = 0;
		memset(sum, 0, 32);
		return;
	}
	*count = store_get_u64(v->mv_data);
	memcpy(sum, (uint8_t *)v->mv_data + 8, 32);
}

int
bk_update(store_t *st, MDB_txn *txn, const uint8_t key[40], int add)
{
	uint64_t ts = store_get_u64(key);

	for (int level = 1; level <= LEVELS; level++) {
		uint8_t k[9], val[40], sum[32];
		uint64_t count;
		MDB_val v;
		int rc;

		s_bkey(k, level, ts);
		rc = ig_get(txn, st->dbi[DB_BUCKETS], k, sizeof(k), &v);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
		if (rc == 0)
			s_bval_read(&v, &count, sum);
		else {
			count = 0;
			memset(sum, 0, 32);
		}
		if (add) {
			count++;
			recon_sum_add(sum, key + 8);
		} else {
			count = count ? count - 1 : 0;
			recon_sum_sub(sum, key + 8);
		}
		if (count == 0) {
			if ((rc = ig_del(txn, st->dbi[DB_BUCKETS], k, sizeof(k))) != 0)
				return rc;
			continue;
		}
		store_put_u64(val, count);
		memcpy(val + 8, sum, 32);
		if ((rc = ig_put(txn, st->dbi[DB_BUCKETS], k, sizeof(k), val, sizeof(val))) != 0)
			return rc;
	}
	return 0;
}

/* Adds the buckets of level with indices in [from, to) into count and sum. */
static void
s_sum_buckets(store_t *st, MDB_txn *txn, int level, uint64_t from, uint64_t to, uint64_t *count,
	      uint8_t sum[32])
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t start[9];
	int rc;

	if (from >= to || mdb_cursor_open(txn, st->dbi[DB_BUCKETS], &cur) != 0)
		return;
	start[0] = (uint8_t)level;
	store_put_u64(start + 1, from);
	k.mv_size = sizeof(start);
	k.mv_data = start;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t c;
		uint8_t s[32];
		if (k.mv_size != 9 || ((uint8_t *)k.mv_data)[0] != level ||
		    store_get_u64((uint8_t *)k.mv_data + 1) >= to)
			break;
		s_bval_read(&v, &c, s);
		*count += c;
		recon_sum_add(sum, s);
	}
	mdb_cursor_close(cur);
}

/* Adds the items of DB_ORDER with lo <= key < hi (a short range). */
static void
s_sum_items(store_t *st, MDB_txn *txn, const uint8_t lo[40], const uint8_t hi[40], uint64_t *count,
	    uint8_t sum[32])
{
	MDB_cursor *cur;
	MDB_val k = {40, (void *)lo}, v;
	int rc;

	if (memcmp(lo, hi, 40) >= 0 || mdb_cursor_open(txn, st->dbi[DB_ORDER], &cur) != 0)
		return;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 40 || memcmp(k.mv_data, hi, 40) >= 0)
			break;
		(*count)++;
		recon_sum_add(sum, (uint8_t *)k.mv_data + 8);
	}
	mdb_cursor_close(cur);
}

static int
s_is_inf(const uint8_t k[40])
{
	for (int i = 0; i < 40; i++)
		if (k[i] != 0xff)
			return 0;
	return 1;
}

/* Count and sum of every item with key < x. */
static void
s_prefix(store_t *st, MDB_txn *txn, const uint8_t x[40], uint64_t *count, uint8_t sum[32])
{
	uint64_t ts = store_get_u64(x);
	uint8_t lo[40];

	*count = 0;
	memset(sum, 0, 32);
	if (s_is_inf(x)) {
		s_sum_buckets(st, txn, LEVELS, 0, UINT64_MAX, count, sum);
		return;
	}
	/* Whole buckets below ts, from the top level down: at each level, the
	 * buckets of ts's parent bucket that come before ts's own. */
	for (int level = LEVELS; level >= 1; level--) {
		uint64_t mine = ts >> (8 * level);
		uint64_t first = level == LEVELS ? 0 : (mine >> 8) << 8;
		s_sum_buckets(st, txn, level, first, mine, count, sum);
	}
	/* Then the items of ts's level-1 bucket that come before x. */
	store_put_u64(lo, (ts >> 8) << 8);
	memset(lo + 8, 0, 32);
	s_sum_items(st, txn, lo, x, count, sum);
}

void
bk_fingerprint(store_t *st, MDB_txn *txn, const uint8_t lo[40], const uint8_t hi[40],
	       uint64_t *count, uint8_t sum_out[32])
{
	uint64_t ca, cb;
	uint8_t sa[32], sb[32];

	s_prefix(st, txn, hi, &cb, sb);
	s_prefix(st, txn, lo, &ca, sa);
	recon_sum_sub(sb, sa);
	*count = cb >= ca ? cb - ca : 0;
	memcpy(sum_out, sb, 32);
}

/* The key of the item of absolute rank r (0-based), by descending the
 * buckets; 0 or CPT_ENOTFOUND. */
int
bk_key_at(store_t *st, MDB_txn *txn, uint64_t r, uint8_t out[40])
{
	uint64_t from = 0, to = UINT64_MAX;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (mdb_cursor_open(txn, st->dbi[DB_BUCKETS], &cur) != 0)
		return CPT_EIO;
	for (int level = LEVELS; level >= 1; level--) {
		uint8_t start[9];
		int found = 0;
		start[0] = (uint8_t)level;
		store_put_u64(start + 1, from);
		k.mv_size = sizeof(start);
		k.mv_data = start;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			uint64_t idx, c;
			uint8_t s[32];
			if (k.mv_size != 9 || ((uint8_t *)k.mv_data)[0] != level)
				break;
			idx = store_get_u64((uint8_t *)k.mv_data + 1);
			if (idx >= to)
				break;
			s_bval_read(&v, &c, s);
			if (r < c) {
				/* Descend: the children of this bucket. */
				from = idx << 8;
				to = (idx << 8) + 256;
				found = 1;
				break;
			}
			r -= c;
		}
		if (!found) {
			mdb_cursor_close(cur);
			return CPT_ENOTFOUND;
		}
	}
	mdb_cursor_close(cur);
	/* from is now the first timestamp of a level-1 bucket: walk its items. */
	{
		uint8_t lo[40];
		store_put_u64(lo, from);
		memset(lo + 8, 0, 32);
		if (mdb_cursor_open(txn, st->dbi[DB_ORDER], &cur) != 0)
			return CPT_EIO;
		k.mv_size = 40;
		k.mv_data = lo;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (k.mv_size != 40)
				continue;
			if (r == 0) {
				memcpy(out, k.mv_data, 40);
				mdb_cursor_close(cur);
				return 0;
			}
			r--;
		}
		mdb_cursor_close(cur);
	}
	return CPT_ENOTFOUND;
}

size_t
bk_split(store_t *st, MDB_txn *txn, const uint8_t lo[40], const uint8_t hi[40], uint64_t count,
	 size_t k, uint8_t (*bounds)[40])
{
	uint64_t base;
	uint8_t sum[32];
	size_t n = 0;

	s_prefix(st, txn, lo, &base, sum);
	for (size_t j = 1; j < k; j++) {
		uint64_t r = base + count * j / k;
		uint8_t at[40], prev[40];
		if (count * j / k == 0 || bk_key_at(st, txn, r, at) != 0 || bk_key_at(st, txn, r - 1, prev) != 0)
			continue;
		if (memcmp(at, hi, 40) >= 0 || memcmp(prev, lo, 40) < 0)
			continue;
		recon_bound_between(bounds[n], prev, at);
		if (memcmp(bounds[n], lo, 40) <= 0 || (n > 0 && memcmp(bounds[n], bounds[n - 1], 40) <= 0))
			continue;
		n++;
	}
	return n;
}

/* Rebuilds the whole index from DB_ORDER (reindex, or a store from before it). */
int
bk_rebuild(store_t *st, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_drop(txn, st->dbi[DB_BUCKETS], 0)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, st->dbi[DB_ORDER], &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint8_t key[40];
		if (k.mv_size != 40)
			continue;
		memcpy(key, k.mv_data, 40);
		if ((rc = bk_update(st, txn, key, 1)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}
