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
 *
 * Level 3 is kept only under dense level-4 buckets (schema 10, issue 23): a
 * level-4 bucket (65 s) holding fewer than DENSE events has no level-3
 * buckets, and its items are walked in DB_ORDER instead (at most DENSE - 1).
 * Over a year of a company's events, a level-4 bucket holds one or two: its
 * level-3 buckets were one entry per event, 67 bytes of 2,079 at 200,000
 * events. A burst (a catch-up, a heal's outage) fills its level-4 buckets,
 * which keep their level-3 ones, so a reconciliation walks as few items as
 * before. Which level-4 buckets are dense is a function of the event set, so
 * the index is too: an insert or delete that crosses DENSE builds or drops
 * that bucket's level-3 buckets from DB_ORDER in the same transaction.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "node/index/index_internal.h"
#include "sync/sync.h"

#define LEVELS 7  /* levels LOW..7; below LOW, DB_ORDER itself is walked */
#define LOW    3  /* the finest level kept: 2^24 timestamp units, 256 ms */
#define DENSE  64 /* a level-4 bucket with this many events has its level-3 buckets */

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

/* Adds count_delta and the 256-bit sum_delta to bucket k; *before and
 * *after (either may be NULL) get its count on either side. */
static int
s_bucket_apply(store_txn_t *txn, const uint8_t k[9], int64_t count_delta,
               const uint8_t sum_delta[32], uint64_t *before, uint64_t *after)
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
	if (before)
		*before = count;
	recon_sum_add(sum, sum_delta);
	count =
	    count_delta < 0 && (uint64_t)-count_delta >= count ? 0 : count + (uint64_t)count_delta;
	if (after)
		*after = count;
	if (count == 0)
		return store_del(txn, db, k + 1, 8);
	store_put_u64(val, count);
	memcpy(val + 8, sum, 32);
	/* A bucket that was there is rewritten in place; a new one appended. */
	return rc == 0 ? store_put_over(txn, db, k + 1, 8, val, sizeof(val))
	               : store_put(txn, db, k + 1, 8, val, sizeof(val));
}

/* The count of level-4 bucket idx4 (0 when it is empty). */
static uint64_t
s_count4(store_txn_t *txn, uint64_t idx4)
{
	uint8_t k[8], sum[32];
	uint64_t count = 0;
	store_val_t v;

	store_put_u64(k, idx4);
	if (store_get(txn, s_db(LOW + 1), k, 8, &v) == 0)
		s_bval_read(&v, &count, sum);
	return count;
}

/* The finest level kept around ts: LOW under a dense level-4 bucket, else
 * LOW + 1, whose items are then walked. */
static int
s_low(store_txn_t *txn, uint64_t ts)
{
	return s_count4(txn, ts >> (8 * (LOW + 1))) >= DENSE ? LOW : LOW + 1;
}

/* Deletes the level-LOW buckets under level-4 bucket idx4. */
static int
s_children_drop(store_txn_t *txn, uint64_t idx4)
{
	store_cur_t *cur;
	store_val_t k, v;
	uint8_t start[8];
	int rc;

	if ((rc = store_cur_open(txn, s_db(LOW), &cur)) != 0)
		return rc;
	store_put_u64(start, idx4 << 8);
	k.len = sizeof(start);
	k.data = start;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != 8 || store_get_u64(k.data) >> 8 != idx4)
			break;
		if ((rc = store_cur_del(cur)) != 0)
			break;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* Puts level-LOW bucket idx3 with count and sum (count > 0). */
static int
s_child_put(store_txn_t *txn, uint64_t idx3, uint64_t count, const uint8_t sum[32])
{
	uint8_t k[8], val[40];

	store_put_u64(k, idx3);
	store_put_u64(val, count);
	memcpy(val + 8, sum, 32);
	return store_put(txn, s_db(LOW), k, 8, val, sizeof(val));
}

/* Builds the level-LOW buckets under level-4 bucket idx4 from its items in
 * DB_ORDER (which already holds the transaction's changes). */
static int
s_children_build(store_txn_t *txn, uint64_t idx4)
{
	store_cur_t *cur;
	store_val_t k, v;
	uint8_t lo[40], sum[32];
	uint64_t idx3 = 0, count = 0;
	int rc;

	if ((rc = store_cur_open(txn, DB_ORDER, &cur)) != 0)
		return rc;
	memset(lo, 0, sizeof(lo));
	store_put_u64(lo, idx4 << (8 * (LOW + 1)));
	k.len = sizeof(lo);
	k.data = lo;
	memset(sum, 0, sizeof(sum));
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		uint64_t ts;
		if (k.len != 40)
			continue;
		ts = store_get_u64(k.data);
		if (ts >> (8 * (LOW + 1)) != idx4)
			break;
		if (count > 0 && ts >> (8 * LOW) != idx3) {
			if ((rc = s_child_put(txn, idx3, count, sum)) != 0)
				break;
			count = 0;
			memset(sum, 0, sizeof(sum));
		}
		idx3 = ts >> (8 * LOW);
		count++;
		recon_sum_add(sum, (const uint8_t *)k.data + 8);
	}
	store_cur_close(&cur);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	return count > 0 ? s_child_put(txn, idx3, count, sum) : 0;
}

/* A level-4 bucket went from before to after events: its level-LOW buckets
 * are dropped when it falls under DENSE, built when it reaches it. Returns
 * 0 or an error; *keep says whether level-LOW changes under it still apply
 * (it was and stays dense). */
static int
s_children_follow(store_txn_t *txn, uint64_t idx4, uint64_t before, uint64_t after, int *keep)
{
	int rc = 0;

	*keep = before >= DENSE && after >= DENSE;
	if (before >= DENSE && after < DENSE)
		rc = s_children_drop(txn, idx4);
	else if (before < DENSE && after >= DENSE && (rc = s_children_drop(txn, idx4)) == 0)
		rc = s_children_build(txn, idx4);
	return rc;
}

int
bk_update(store_txn_t *txn, const uint8_t key[40], int add)
{
	uint64_t ts = store_get_u64(key), before = 0, after = 0;
	uint8_t delta[32] = {0}, k[9];
	int rc, keep;

	if (add)
		recon_sum_add(delta, key + 8);
	else
		recon_sum_sub(delta, key + 8);
	/* The coarser levels first: level 4's counts say what level LOW does. */
	for (int level = LEVELS; level > LOW; level--) {
		s_bkey(k, level, ts);
		if ((rc = s_bucket_apply(txn, k, add ? 1 : -1, delta,
		                         level == LOW + 1 ? &before : NULL,
		                         level == LOW + 1 ? &after : NULL)) != 0)
			return rc;
	}
	if ((rc = s_children_follow(txn, ts >> (8 * (LOW + 1)), before, after, &keep)) != 0 ||
	    !keep)
		return rc;
	s_bkey(k, LOW, ts);
	return s_bucket_apply(txn, k, add ? 1 : -1, delta, NULL, NULL);
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
	int keep;        /* level 4, at the flush: its level-LOW changes apply */
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

/* The merged level-4 entry that is level-LOW bucket idx3's parent, among
 * e[from, to) (sorted), or NULL. */
static const struct bk_entry *
s_parent(const struct bk_entry *e, size_t from, size_t to, uint64_t idx3)
{
	uint8_t k[9];

	s_bkey(k, LOW + 1, (idx3 >> 8) << (8 * (LOW + 1)));
	while (from < to) {
		size_t mid = from + (to - from) / 2;
		int c = memcmp(e[mid].key, k, 9);
		if (c == 0)
			return &e[mid];
		if (c < 0)
			from = mid + 1;
		else
			to = mid;
	}
	return NULL;
}

int
bk_acc_flush(bk_acc_t *a, store_txn_t *txn)
{
	static const uint8_t zero[32];
	size_t n = 0, low_end = 0;
	int rc = 0;

	if (a->n == 0)
		return 0;
	/* In key order (neighbouring buckets share their B-tree pages), a
	 * bucket's entries merged into one change: level LOW first. */
	qsort(a->e, a->n, sizeof(*a->e), s_bentry_cmp);
	for (size_t i = 0; i < a->n;) {
		struct bk_entry m = a->e[i];
		size_t j = i + 1;
		for (; j < a->n && memcmp(a->e[j].key, m.key, 9) == 0; j++) {
			m.count += a->e[j].count;
			recon_sum_add(m.sum, a->e[j].sum);
		}
		if (m.count != 0 || memcmp(m.sum, zero, 32) != 0) {
			m.keep = 0;
			a->e[n++] = m;
		}
		i = j;
	}
	while (low_end < n && a->e[low_end].key[0] == LOW)
		low_end++;
	/* The coarser levels, then level LOW under the level-4 buckets that
	 * were and stay dense (the others' are built or dropped whole). */
	for (size_t i = low_end; i < n && rc == 0; i++) {
		struct bk_entry *m = &a->e[i];
		uint64_t before, after;
		if ((rc = s_bucket_apply(txn, m->key, m->count, m->sum, &before, &after)) == 0 &&
		    m->key[0] == LOW + 1)
			rc = s_children_follow(txn, store_get_u64(m->key + 1), before, after,
			                       &m->keep);
	}
	for (size_t i = 0; i < low_end && rc == 0; i++) {
		const struct bk_entry *p =
		    s_parent(a->e, low_end, n, store_get_u64(a->e[i].key + 1));
		if (p ? p->keep : s_count4(txn, store_get_u64(a->e[i].key + 1) >> 8) >= DENSE)
			rc = s_bucket_apply(txn, a->e[i].key, a->e[i].count, a->e[i].sum, NULL,
			                    NULL);
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
	int low;

	*count = 0;
	memset(sum, 0, 32);
	if (s_is_inf(x)) {
		s_sum_buckets(txn, LEVELS, 0, UINT64_MAX, count, sum);
		return;
	}
	/* Whole buckets below ts, from the top level down: at each level, the
	 * buckets of ts's parent bucket that come before ts's own. */
	low = s_low(txn, ts);
	for (int level = LEVELS; level >= low; level--) {
		uint64_t mine = ts >> (8 * level);
		uint64_t first = level == LEVELS ? 0 : (mine >> 8) << 8;
		s_sum_buckets(txn, level, first, mine, count, sum);
	}
	/* Then the items of ts's finest bucket that come before x. */
	store_put_u64(lo, (ts >> (8 * low)) << (8 * low));
	memset(lo + 8, 0, 32);
	s_sum_items(txn, lo, x, count, sum);
}

/* The coarsest level, from LOW + 1 (always kept, where LOW is kept only
 * under dense buckets) up to top, whose bucket x is the first key of (its id
 * zero, its timestamp's low bits too); 0 when none. */
static int
s_aligned(const uint8_t x[40], int top)
{
	uint64_t ts = store_get_u64(x);

	for (int i = 8; i < 40; i++)
		if (x[i])
			return 0;
	assert(top <= LEVELS);
	for (int level = top; level > LOW; level--)
		if ((ts & ((UINT64_C(1) << (8 * level)) - 1)) == 0)
			return level;
	return 0;
}

/* Adds the items of x's finest bucket (level LOW, or 4 when that one is
 * sparse) from x on (up to the bucket's end), then, level by level up to
 * below top, the buckets after x's own within their parent: together,
 * everything from x to the end of x's level-top bucket, that bucket's own
 * entry excluded. */
static void
s_sum_after(store_txn_t *txn, const uint8_t x[40], int top, uint64_t *count, uint8_t sum[32])
{
	uint64_t ts = store_get_u64(x);
	uint8_t end[40];
	int low, at = s_aligned(x, top);

	if (at) {
		/* x starts its level-at bucket: that bucket's entry holds
		 * everything from x to its end, where the walk below read its
		 * items and up to 255 buckets per finer level. Every range from
		 * the start of time is one (the whole store's fingerprint, the
		 * range before the newest items of recon_start_recent). */
		s_sum_buckets(txn, at, ts >> (8 * at), (ts >> (8 * at)) + 1, count, sum);
		for (int level = at; level < top; level++) {
			uint64_t mine = ts >> (8 * level);
			s_sum_buckets(txn, level, mine + 1, ((mine >> 8) + 1) << 8, count, sum);
		}
		return;
	}
	low = s_low(txn, ts);

	memset(end, 0, sizeof(end));
	store_put_u64(end, ((ts >> (8 * low)) + 1) << (8 * low));
	if ((ts >> (8 * low)) + 1 > (UINT64_MAX >> (8 * low)))
		memset(end, 0xff, sizeof(end)); /* the last bucket: up to infinity */
	s_sum_items(txn, x, end, count, sum);
	for (int level = low; level < top; level++) {
		uint64_t mine = ts >> (8 * level);
		s_sum_buckets(txn, level, mine + 1, ((mine >> 8) + 1) << 8, count, sum);
	}
}

/* Adds, from level top - 1 down to x's finest, the buckets before x's own
 * within their parent, then the items of x's finest bucket before x:
 * everything from the start of x's level-top bucket to x. */
static void
s_sum_before(store_txn_t *txn, const uint8_t x[40], int top, uint64_t *count, uint8_t sum[32])
{
	uint64_t ts = store_get_u64(x);
	uint8_t lo[40];
	int low = s_low(txn, ts);

	for (int level = top - 1; level >= low; level--) {
		uint64_t mine = ts >> (8 * level);
		s_sum_buckets(txn, level, (mine >> 8) << 8, mine, count, sum);
	}
	memset(lo, 0, sizeof(lo));
	store_put_u64(lo, (ts >> (8 * low)) << (8 * low));
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
	if (tl >> (8 * LOW) == th >> (8 * LOW) || (tl >> (8 * (LOW + 1)) == th >> (8 * (LOW + 1)) &&
	                                           s_count4(txn, tl >> (8 * (LOW + 1))) < DENSE)) {
		/* One level-LOW bucket, or one sparse level-4 bucket: its items
		 * alone. */
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

	int level;

	for (level = LEVELS; level >= LOW; level--) {
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
				found = c < DENSE && level == LOW + 1 ? 2 : 1;
				break;
			}
			r -= c;
		}
		store_cur_close(&cur);
		if (!found)
			return CPT_ENOTFOUND;
		if (found == 2)
			break; /* a sparse level-4 bucket: no level LOW under it */
	}
	if (level < LOW)
		level = LOW;
	/* from is now the first index of level - 1 under the bucket found at
	 * level: walk that bucket's items. */
	{
		uint8_t lo[40];
		store_put_u64(lo, from << (8 * (level - 1)));
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

/* The buckets being summed by bk_rebuild's walk: one per level, and the
 * level-LOW buckets of the current level-4 one, put only when it is dense. */
struct rebuild {
	uint64_t idx[LEVELS + 1];    /* the bucket of each level */
	uint64_t count[LEVELS + 1];  /* its events so far (0: none yet) */
	uint8_t sum[LEVELS + 1][32]; /* their id sum */
	uint64_t kid_idx[256];       /* level-LOW buckets under the level-4 one */
	uint64_t kid_count[256];
	uint8_t kid_sum[256][32];
	size_t kids; /* how many */
};

/* Puts the finished bucket of level (and, for level 4, its level-LOW ones
 * when it is dense). */
static int
s_rebuild_put(store_txn_t *txn, struct rebuild *b, int level)
{
	uint8_t k[8], val[40];
	int rc = 0;

	if (b->count[level] == 0)
		return 0;
	if (level == LOW + 1) {
		for (size_t i = 0; i < b->kids && b->count[level] >= DENSE && rc == 0; i++)
			rc = s_child_put(txn, b->kid_idx[i], b->kid_count[i], b->kid_sum[i]);
		b->kids = 0;
		if (rc != 0)
			return rc;
	}
	store_put_u64(k, b->idx[level]);
	store_put_u64(val, b->count[level]);
	memcpy(val + 8, b->sum[level], 32);
	b->count[level] = 0;
	memset(b->sum[level], 0, 32);
	return store_put(txn, s_db(level), k, 8, val, sizeof(val));
}

/* Rebuilds the whole index from DB_ORDER (reindex, a schema step): every
 * level emptied, then one walk of DB_ORDER in time order, each bucket put
 * once when the walk leaves it (so each level's puts come in key order). */
int
bk_rebuild(store_txn_t *txn)
{
	struct rebuild *b = calloc(1, sizeof(*b));
	store_cur_t *cur = NULL;
	store_val_t k, v;
	int rc = 0;

	if (b == NULL)
		return CPT_ENOMEM;
	for (int level = LEVELS; level >= LOW && rc == 0; level--)
		rc = store_drop(txn, s_db(level));
	if (rc == 0)
		rc = store_cur_open(txn, DB_ORDER, &cur);
	for (rc = rc ? rc : store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		uint64_t ts;
		const uint8_t *id = (const uint8_t *)k.data + 8;
		if (k.len != 40)
			continue;
		ts = store_get_u64(k.data);
		/* The buckets the walk leaves, level 4 first (with its level-LOW
		 * ones): each level's puts come in key order. */
		for (int level = LOW + 1; level <= LEVELS && rc == 0; level++)
			if (b->count[level] > 0 && b->idx[level] != ts >> (8 * level))
				rc = s_rebuild_put(txn, b, level);
		if (rc != 0)
			break;
		for (int level = LOW + 1; level <= LEVELS; level++) {
			b->idx[level] = ts >> (8 * level);
			b->count[level]++;
			recon_sum_add(b->sum[level], id);
		}
		if (b->kids == 0 || b->kid_idx[b->kids - 1] != ts >> (8 * LOW)) {
			b->kid_idx[b->kids] = ts >> (8 * LOW);
			b->kid_count[b->kids] = 0;
			memset(b->kid_sum[b->kids], 0, 32);
			b->kids++;
		}
		b->kid_count[b->kids - 1]++;
		recon_sum_add(b->kid_sum[b->kids - 1], id);
	}
	store_cur_close(&cur);
	if (rc == CPT_ENOTFOUND)
		rc = 0;
	for (int level = LOW + 1; level <= LEVELS && rc == 0; level++)
		rc = s_rebuild_put(txn, b, level);
	free(b);
	return rc;
}
