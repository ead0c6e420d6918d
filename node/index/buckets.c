/*
 * The index behind reconciliation fingerprints: counts and id sums of the
 * events per time bucket, at levels 3 to 7 (bucket k holds the timestamps that
 * share their top 64 - 8k bits), kept up to date in the same transaction as
 * every insert and delete. A range's fingerprint or a split point then costs a
 * few short cursor walks, never a scan of every event.
 *
 * Levels 1 and 2 are not kept (schema 4, issue 23): a timestamp's low 16 bits
 * are its HLC counter, so a level-1 or level-2 bucket is one millisecond or
 * less and held one event almost always — 200,000 of the 400,000 entries of
 * a store of 100,000 events, half of this index. Below level 3 (256 ms) the
 * events themselves are walked in DB_ORDER, whose keys carry the ids.
 *
 * Each level is a database of its own (schema 6, issue 23): in one database
 * keyed by level first, each level's new buckets landed before every coarser
 * level's entries, and LMDB split those pages in the middle (half full: 180
 * bytes per event at 1M). Alone, a level's new buckets come at its end.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "node/index/index_internal.h"
#include "sync/sync.h"

#define LEVELS 7 /* levels LOW..7; below LOW, DB_ORDER itself is walked */
#define LOW    3 /* the finest level kept: 2^24 timestamp units, 256 ms */

/* Bucket key: level (1) then ts >> (8 * level) (8, big-endian). In the
 * store, the level picks the database (s_db) and the 8 bytes are the key;
 * the level byte orders the changes of a transaction (bk_acc_flush). */
static void
s_bkey(uint8_t k[9], int level, uint64_t ts)
{
	k[0] = (uint8_t)level;
	store_put_u64(k + 1, level >= 8 ? 0 : ts >> (8 * level));
}

/* The database of level (LOW..LEVELS). */
static enum store_db
s_db(int level)
{
	assert(level >= LOW && level <= LEVELS);
	return (enum store_db)(DB_BUCKETS_L3 + (level - LOW));
}

/* Value: count (8, big-endian) then the sum of ids (32, little-endian number). */
static void
s_bval_read(const store_val_t *v, uint64_t *count, uint8_t sum[32])
{
	if (v->len != 40) {
		*count = 0;
		memset(sum, 0, 32);
		return;
	}
	*count = store_get_u64(v->data);
	memcpy(sum, (uint8_t *)v->data + 8, 32);
}

/* Adds count_delta and the 256-bit sum_delta to bucket k. */
static int
s_bucket_apply(store_txn_t *txn, const uint8_t k[9], int64_t count_delta,
               const uint8_t sum_delta[32])
{
	uint8_t val[40], sum[32];
	uint64_t count;
	store_val_t v;
	enum store_db db = s_db(k[0]);
	int rc = store_get(txn, db, k + 1, 8, &v);

	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	if (rc == 0)
		s_bval_read(&v, &count, sum);
	else {
		count = 0;
		memset(sum, 0, 32);
	}
	recon_sum_add(sum, sum_delta);
	count =
	    count_delta < 0 && (uint64_t)-count_delta >= count ? 0 : count + (uint64_t)count_delta;
	if (count == 0)
		return store_del(txn, db, k + 1, 8);
	store_put_u64(val, count);
	memcpy(val + 8, sum, 32);
	return store_put(txn, db, k + 1, 8, val, sizeof(val));
}

int
bk_update(store_txn_t *txn, const uint8_t key[40], int add)
{
	uint64_t ts = store_get_u64(key);
	uint8_t delta[32] = {0};

	if (add)
		recon_sum_add(delta, key + 8);
	else
		recon_sum_sub(delta, key + 8);
	for (int level = LOW; level <= LEVELS; level++) {
		uint8_t k[9];
		int rc;
		s_bkey(k, level, ts);
		if ((rc = s_bucket_apply(txn, k, add ? 1 : -1, delta)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Changes of one write transaction, gathered and applied once at its end
 * (bk_acc_flush): inserting n events in time order touches each bucket of
 * the upper levels once instead of n times — 2 x 7 B-tree operations per
 * event became a few. Events mostly come in time order, so each level keeps
 * adding to its last entry; a new bucket is appended. The flush sorts the
 * list, merges equal buckets and applies each once.
 */
struct bk_entry {
	uint8_t key[9];  /* bucket key (s_bkey) */
	int64_t count;   /* count change */
	uint8_t sum[32]; /* id sum change, mod 2^256 */
};

struct bk_acc {
	struct bk_entry *e;      /* entries, in arrival order until the flush */
	size_t n, cap;           /* used, allocated */
	size_t last[LEVELS + 1]; /* per level, 1 + index of its last entry (0: none) */
};

int
bk_acc_add(bk_acc_t *a, const uint8_t key[40], int add)
{
	uint64_t ts = store_get_u64(key);

	for (int level = LOW; level <= LEVELS; level++) {
		struct bk_entry *e;
		uint8_t k[9];
		s_bkey(k, level, ts);
		if (a->last[level] && memcmp(a->e[a->last[level] - 1].key, k, 9) == 0) {
			e = &a->e[a->last[level] - 1];
		} else {
			if (a->n == a->cap) {
				size_t cap = a->cap ? 2 * a->cap : 1024;
				struct bk_entry *bigger = realloc(a->e, cap * sizeof(*bigger));
				if (bigger == NULL)
					return CPT_ENOMEM;
				a->e = bigger;
				a->cap = cap;
			}
			e = &a->e[a->n++];
			memset(e, 0, sizeof(*e));
			memcpy(e->key, k, 9);
			a->last[level] = a->n;
		}
		e->count += add ? 1 : -1;
		if (add)
			recon_sum_add(e->sum, key + 8);
		else
			recon_sum_sub(e->sum, key + 8);
	}
	return 0;
}

static int
s_bentry_cmp(const void *x, const void *y)
{
	return memcmp(((const struct bk_entry *)x)->key, ((const struct bk_entry *)y)->key, 9);
}

int
bk_acc_flush(bk_acc_t *a, store_txn_t *txn)
{
	static const uint8_t zero[32];
	int rc = 0;

	if (a->n == 0)
		return 0;
	/* In key order (neighbouring buckets share their B-tree pages), a
	 * bucket's entries merged into one change. */
	qsort(a->e, a->n, sizeof(*a->e), s_bentry_cmp);
	for (size_t i = 0; i < a->n && rc == 0;) {
		struct bk_entry m = a->e[i];
		size_t j = i + 1;
		for (; j < a->n && memcmp(a->e[j].key, m.key, 9) == 0; j++) {
			m.count += a->e[j].count;
			recon_sum_add(m.sum, a->e[j].sum);
		}
		if (m.count != 0 || memcmp(m.sum, zero, 32) != 0)
			rc = s_bucket_apply(txn, m.key, m.count, m.sum);
		i = j;
	}
	bk_acc_reset(a);
	return rc;
}

void
bk_acc_reset(bk_acc_t *a)
{
	memset(a->last, 0, sizeof(a->last));
	a->n = 0;
}

bk_acc_t *
bk_acc_new(void)
{
	return calloc(1, sizeof(bk_acc_t));
}

void
bk_acc_free(bk_acc_t **self_p)
{
	if (*self_p == NULL)
		return;
	free((*self_p)->e);
	free(*self_p);
	*self_p = NULL;
}

/* Adds the buckets of level with indices in [from, to) into count and sum. */
static void
s_sum_buckets(store_txn_t *txn, int level, uint64_t from, uint64_t to, uint64_t *count,
              uint8_t sum[32])
{
	store_cur_t *cur;
	store_val_t k, v;
	uint8_t start[8];
	int rc;

	if (from >= to || store_cur_open(txn, s_db(level), &cur) != 0)
		return;
	store_put_u64(start, from);
	k.len = sizeof(start);
	k.data = start;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		uint64_t c;
		uint8_t s[32];
		if (k.len != 8 || store_get_u64(k.data) >= to)
			break;
		s_bval_read(&v, &c, s);
		*count += c;
		recon_sum_add(sum, s);
	}
	store_cur_close(&cur);
}

/* Adds the items of DB_ORDER with lo <= key < hi (a short range). */
static void
s_sum_items(store_txn_t *txn, const uint8_t lo[40], const uint8_t hi[40], uint64_t *count,
            uint8_t sum[32])
{
	store_cur_t *cur;
	store_val_t k = {40, (void *)lo}, v;
	int rc;

	if (memcmp(lo, hi, 40) >= 0 || store_cur_open(txn, DB_ORDER, &cur) != 0)
		return;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != 40 || memcmp(k.data, hi, 40) >= 0)
			break;
		(*count)++;
		recon_sum_add(sum, (uint8_t *)k.data + 8);
	}
	store_cur_close(&cur);
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
s_prefix(store_txn_t *txn, const uint8_t x[40], uint64_t *count, uint8_t sum[32])
{
	uint64_t ts = store_get_u64(x);
	uint8_t lo[40];

	*count = 0;
	memset(sum, 0, 32);
	if (s_is_inf(x)) {
		s_sum_buckets(txn, LEVELS, 0, UINT64_MAX, count, sum);
		return;
	}
	/* Whole buckets below ts, from the top level down: at each level, the
	 * buckets of ts's parent bucket that come before ts's own. */
	for (int level = LEVELS; level >= LOW; level--) {
		uint64_t mine = ts >> (8 * level);
		uint64_t first = level == LEVELS ? 0 : (mine >> 8) << 8;
		s_sum_buckets(txn, level, first, mine, count, sum);
	}
	/* Then the items of ts's level-LOW bucket that come before x. */
	store_put_u64(lo, (ts >> (8 * LOW)) << (8 * LOW));
	memset(lo + 8, 0, 32);
	s_sum_items(txn, lo, x, count, sum);
}

/* Adds the items of x's level-LOW bucket from x on (up to the bucket's end),
 * then, level by level up to below top, the buckets after x's own within
 * their parent: together, everything from x to the end of x's level-top
 * bucket, that bucket's own entry excluded. */
static void
s_sum_after(store_txn_t *txn, const uint8_t x[40], int top, uint64_t *count, uint8_t sum[32])
{
	uint64_t ts = store_get_u64(x);
	uint8_t end[40];

	memset(end, 0, sizeof(end));
	store_put_u64(end, ((ts >> (8 * LOW)) + 1) << (8 * LOW));
	if ((ts >> (8 * LOW)) + 1 > (UINT64_MAX >> (8 * LOW)))
		memset(end, 0xff, sizeof(end)); /* the last bucket: up to infinity */
	s_sum_items(txn, x, end, count, sum);
	for (int level = LOW; level < top; level++) {
		uint64_t mine = ts >> (8 * level);
		s_sum_buckets(txn, level, mine + 1, ((mine >> 8) + 1) << 8, count, sum);
	}
}

/* Adds, from level top - 1 down to LOW, the buckets before x's own within
 * their parent, then the items of x's level-LOW bucket before x: everything
 * from the start of x's level-top bucket to x. */
static void
s_sum_before(store_txn_t *txn, const uint8_t x[40], int top, uint64_t *count, uint8_t sum[32])
{
	uint64_t ts = store_get_u64(x);
	uint8_t lo[40];

	for (int level = top - 1; level >= LOW; level--) {
		uint64_t mine = ts >> (8 * level);
		s_sum_buckets(txn, level, (mine >> 8) << 8, mine, count, sum);
	}
	memset(lo, 0, sizeof(lo));
	store_put_u64(lo, (ts >> (8 * LOW)) << (8 * LOW));
	s_sum_items(txn, lo, x, count, sum);
}

/*
 * Sums [lo, hi) directly: the items at both ends, the buckets between them
 * at each level below the finest one holding both, and the whole buckets at
 * that level. The same figure as prefix(hi) - prefix(lo), but a range of a
 * few events costs a few cursor steps where the two prefixes walked up to
 * 255 buckets per level each, from the start of time: a heal's
 * reconciliation answers hundreds of such ranges per message, and the sums
 * were most of its CPU (issue 23).
 */
void
bk_fingerprint(store_txn_t *txn, const uint8_t lo[40], const uint8_t hi[40], uint64_t *count,
               uint8_t sum_out[32])
{
	uint64_t tl = store_get_u64(lo), th = store_get_u64(hi);
	uint8_t sum[32];
	int top;

	*count = 0;
	memset(sum, 0, 32);
	if (memcmp(lo, hi, 40) >= 0) {
		memcpy(sum_out, sum, 32);
		return;
	}
	if (s_is_inf(hi)) {
		/* Everything from lo on: to the end of its top bucket, then the
		 * top level's buckets after it. */
		s_sum_after(txn, lo, LEVELS, count, sum);
		s_sum_buckets(txn, LEVELS, (tl >> (8 * LEVELS)) + 1, UINT64_MAX, count, sum);
		memcpy(sum_out, sum, 32);
		return;
	}
	if (tl >> (8 * LOW) == th >> (8 * LOW)) {
		/* One level-LOW bucket: its items alone. */
		s_sum_items(txn, lo, hi, count, sum);
		memcpy(sum_out, sum, 32);
		return;
	}
	/* The finest level at which lo and hi fall in different buckets. */
	for (top = LEVELS; top > LOW && tl >> (8 * top) == th >> (8 * top); top--)
		;
	s_sum_after(txn, lo, top, count, sum);
	s_sum_buckets(txn, top, (tl >> (8 * top)) + 1, th >> (8 * top), count, sum);
	s_sum_before(txn, hi, top, count, sum);
	memcpy(sum_out, sum, 32);
}

/* The key of the item of absolute rank r (0-based), by descending the
 * buckets; 0 or CPT_ENOTFOUND. */
int
bk_key_at(store_txn_t *txn, uint64_t r, uint8_t out[40])
{
	uint64_t from = 0, to = UINT64_MAX;
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	for (int level = LEVELS; level >= LOW; level--) {
		uint8_t start[8];
		int found = 0;
		if (store_cur_open(txn, s_db(level), &cur) != 0)
			return CPT_EIO;
		store_put_u64(start, from);
		k.len = sizeof(start);
		k.data = start;
		for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			uint64_t idx, c;
			uint8_t s[32];
			if (k.len != 8)
				break;
			idx = store_get_u64(k.data);
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
		store_cur_close(&cur);
		if (!found)
			return CPT_ENOTFOUND;
	}
	/* from is now the first index of level LOW - 1 under the level-LOW
	 * bucket found: walk that bucket's items. */
	{
		uint8_t lo[40];
		store_put_u64(lo, from << (8 * (LOW - 1)));
		memset(lo + 8, 0, 32);
		if (store_cur_open(txn, DB_ORDER, &cur) != 0)
			return CPT_EIO;
		k.len = 40;
		k.data = lo;
		for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			if (k.len != 40)
				continue;
			if (r == 0) {
				memcpy(out, k.data, 40);
				store_cur_close(&cur);
				return 0;
			}
			r--;
		}
		store_cur_close(&cur);
	}
	return CPT_ENOTFOUND;
}

size_t
bk_split(store_txn_t *txn, const uint8_t lo[40], const uint8_t hi[40], uint64_t count, size_t k,
         uint8_t (*bounds)[40])
{
	uint64_t base;
	uint8_t sum[32];
	size_t n = 0;

	s_prefix(txn, lo, &base, sum);
	for (size_t j = 1; j < k; j++) {
		uint64_t r = base + count * j / k;
		uint8_t at[40], prev[40];
		if (count * j / k == 0 || bk_key_at(txn, r, at) != 0 ||
		    bk_key_at(txn, r - 1, prev) != 0)
			continue;
		if (memcmp(at, hi, 40) >= 0 || memcmp(prev, lo, 40) < 0)
			continue;
		recon_bound_between(bounds[n], prev, at);
		if (memcmp(bounds[n], lo, 40) <= 0 ||
		    (n > 0 && memcmp(bounds[n], bounds[n - 1], 40) <= 0))
			continue;
		n++;
	}
	return n;
}

static int
s_rebuild_fn(store_txn_t *txn, const store_val_t *k, const store_val_t *v, void *arg)
{
	uint8_t key[40];

	(void)v;
	(void)arg;
	if (k->len != 40)
		return 0;
	memcpy(key, k->data, 40);
	return bk_update(txn, key, 1);
}

/* Rebuilds the whole index from DB_ORDER (reindex, or a store from before
 * it): every level emptied, then the events of DB_ORDER added. */
int
bk_rebuild(store_txn_t *txn)
{
	int rc;

	for (int level = LEVELS; level > LOW; level--)
		if ((rc = store_drop(txn, s_db(level))) != 0)
			return rc;
	return store_rebuild(txn, s_db(LOW), DB_ORDER, s_rebuild_fn, NULL);
}
