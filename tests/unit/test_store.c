/*
 * Unit tests for node/store/store.c (and node/index/schema.c): the schema check, map growth on
 * CPT_EMAPFULL and hot backups. The store is compiled into this test with a 1 MiB map that grows by
 * 1 MiB, so that CPT_EMAPFULL strikes everywhere in ingest, reindex and verify: every path must
 * hand it back to store_write().
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/wait.h>
#include <cmocka.h>

#define STORE_MAP_INITIAL (1ull << 20)
#define STORE_MAP_STEP    (1ull << 20)
#include "node/store/store.c"
#include "node/store/walk.c"

#include "sync/sync.h"
#include "tests/unit/ingest_fixture.h"

static size_t
s_mapsize(store_t *st)
{
	MDB_envinfo info;

	assert_int_equal(mdb_env_info(st->env, &info), 0);
	return info.me_mapsize;
}

struct meta_put {
	store_t *st;     /* where */
	const char *key; /* meta key */
	const void *val; /* value */
	size_t len;      /* its length */
};

static int
s_meta_put_fn(store_txn_t *txn, void *arg)
{
	struct meta_put *m = arg;

	return store_meta_put(txn, m->key, m->val, m->len);
}

/* ---------------------------------------------------- split databases */

/* A split database (DB_BY_AUTHOR: prefix -> sorted duplicates) against a
 * flat one of the same keys (DB_BY_AUTHOR_V8, as before schema 9): the
 * same random operations give the same answers, entry for entry. Keys are
 * drawn from a few prefixes (two sharing their first 31 bytes), times and
 * ids, so that puts replace, deletes find, and seeks land between prefixes
 * and past the ends; seek keys are of every length around the prefix's and
 * the key's. */
struct diff {
	uint64_t seed; /* the random sequence */
	int round;     /* which round of operations */
};

static void
s_diff_key(uint64_t *seed, uint8_t k[80], size_t *len, int any_len)
{
	static const size_t lens[] = {1, 2, 31, 32, 33, 39, 40, 41, 71, 72, 73, 80};
	uint64_t r = fx_rand(seed);

	memset(k, 0, 80);
	memset(k, 0x40, 31);
	k[31] = (uint8_t)(0x10 * (r % 4)); /* prefixes 00, 10, 20, 30 */
	if (r % 16 == 5)
		k[30] = 0x41;                 /* another prefix, after all of those */
	store_put_u64(k + 32, (r >> 8) % 12); /* ts */
	k[40] = (uint8_t)((r >> 16) % 3);     /* id */
	memset(k + 41, 0x77, 31);
	if ((r >> 24) % 8 == 0) /* the ends of a prefix's run */
		memset(k + 32, (r >> 27) % 2 ? 0xff : 0x00, 48);
	*len = 72;
	if (any_len && (r >> 30) % 3 == 0)
		*len = lens[(r >> 32) % (sizeof(lens) / sizeof(lens[0]))];
}

static int
s_same(int rc_a, const store_val_t *ka, const store_val_t *va, int rc_b, const store_val_t *kb,
       const store_val_t *vb)
{
	if (rc_a != rc_b)
		return 0;
	if (rc_a != 0)
		return 1;
	return ka->len == kb->len && memcmp(ka->data, kb->data, ka->len) == 0 &&
	       (va == NULL || (va->len == vb->len && memcmp(va->data, vb->data, va->len) == 0));
}

static void s_split_same_txn(store_txn_t *txn);

static int
s_split_diff_fn(store_txn_t *txn, void *arg)
{
	struct diff *d = arg;
	const enum store_db flat = DB_BY_AUTHOR_V8, split = DB_BY_AUTHOR;
	uint64_t seed = d->seed;
	uint8_t key[80], val[2];
	size_t klen;
	int rc_a, rc_b;

	for (int i = 0; i < 400; i++) {
		uint64_t op = fx_rand(&seed) % 10;
		store_val_t va = {0, NULL}, vb = {0, NULL};
		s_diff_key(&seed, key, &klen, 0);
		store_put_kind(val, (uint16_t)(fx_rand(&seed) % 3));
		switch (op) {
		case 0:
		case 1:
		case 2:
			rc_a = store_put(txn, flat, key, klen, val, 2);
			rc_b = store_put(txn, split, key, klen, val, 2);
			break;
		case 3:
		case 4:
			rc_a = store_put_new(txn, flat, key, klen, val, 2);
			rc_b = store_put_new(txn, split, key, klen, val, 2);
			break;
		case 5:
			rc_a = store_del(txn, flat, key, klen);
			rc_b = store_del(txn, split, key, klen);
			break;
		case 6:
			rc_a = store_del_existing(txn, flat, key, klen);
			rc_b = store_del_existing(txn, split, key, klen);
			break;
		default:
			s_diff_key(&seed, key, &klen, 1);
			rc_a = store_get(txn, flat, key, klen, &va);
			rc_b = store_get(txn, split, key, klen, &vb);
			if (!s_same(rc_a, &va, &va, rc_b, &vb, &vb))
				fail_msg("round %d, op %d: get %zu bytes: %d and %d", d->round, i,
				         klen, rc_a, rc_b);
			break;
		}
		if (rc_a != rc_b)
			fail_msg("round %d, op %d (%d): %d and %d", d->round, i, (int)op, rc_a,
			         rc_b);
		assert_int_equal(store_count(txn, flat), store_count(txn, split));
	}
	s_split_same_txn(txn);
	/* Cursors: walks in both directions from seeks, deletes under them. */
	{
		store_cur_t *ca, *cb;
		store_val_t ka, va, kb, vb;
		int last = CPT_ENOTFOUND;
		assert_int_equal(store_cur_open(txn, flat, &ca), 0);
		assert_int_equal(store_cur_open(txn, split, &cb), 0);
		/* A new cursor's next is the first entry, its previous the last. */
		rc_a = store_cur_get(ca, &ka, &va, d->round % 2 ? STORE_NEXT : STORE_PREV);
		rc_b = store_cur_get(cb, &kb, &vb, d->round % 2 ? STORE_NEXT : STORE_PREV);
		if (!s_same(rc_a, &ka, &va, rc_b, &kb, &vb))
			fail_msg("round %d: a new cursor's %s: %d and %d", d->round,
			         d->round % 2 ? "next" : "previous", rc_a, rc_b);
		last = rc_a;
		for (int i = 0; i < 300; i++) {
			uint64_t op = fx_rand(&seed) % 8;
			enum store_op o;
			/* After the end of a walk only a new start is defined. */
			if (last != 0 && op >= 3)
				op = fx_rand(&seed) % 3;
			switch (op) {
			case 0: o = STORE_SEEK; break;
			case 1: o = STORE_FIRST; break;
			case 2: o = STORE_LAST; break;
			case 3:
			case 4: o = STORE_NEXT; break;
			case 5: o = STORE_PREV; break;
			case 6:
				/* Deleted under the cursor: the next one comes next. */
				rc_a = store_cur_del(ca);
				rc_b = store_cur_del(cb);
				assert_int_equal(rc_a, 0);
				assert_int_equal(rc_b, 0);
				o = STORE_NEXT;
				break;
			default: o = STORE_PREV; break;
			}
			if (o == STORE_SEEK) {
				s_diff_key(&seed, key, &klen, 1);
				ka = (store_val_t){klen, key};
				kb = (store_val_t){klen, key};
			}
			rc_a = store_cur_get(ca, &ka, &va, o);
			rc_b = store_cur_get(cb, &kb, &vb, o);
			if (!s_same(rc_a, &ka, &va, rc_b, &kb, &vb))
				fail_msg(
				    "round %d, cursor op %d (%d, seek of %zu bytes): %d and %d",
				    d->round, i, (int)op, klen, rc_a, rc_b);
			last = rc_a;
		}
		store_cur_close(&ca);
		store_cur_close(&cb);
		assert_int_equal(store_count(txn, flat), store_count(txn, split));
	}
	/* Not a key of a split database: refused, nothing written. */
	assert_int_equal(store_put(txn, split, key, 40, val, 2), CPT_EINVAL);
	assert_int_equal(store_put(txn, split, key, 72, val, 1), CPT_EINVAL);
	return 0;
}

/* Both databases, entry by entry, with store_each_json's walk too. */
static void
s_each_count(void *arg, store_txn_t *txn, const store_val_t *key, json_t *rec)
{
	(void)txn;
	(void)rec;
	assert_int_equal(key->len, 72);
	(*(size_t *)arg)++;
}

static void
s_split_same_txn(store_txn_t *txn)
{
	store_cur_t *ca, *cb;
	store_val_t ka, va, kb, vb;
	size_t n = 0, each = 0;
	int rc_a, rc_b;

	assert_int_equal(store_cur_open(txn, DB_BY_AUTHOR_V8, &ca), 0);
	assert_int_equal(store_cur_open(txn, DB_BY_AUTHOR, &cb), 0);
	do {
		rc_a = store_cur_get(ca, &ka, &va, n ? STORE_NEXT : STORE_FIRST);
		rc_b = store_cur_get(cb, &kb, &vb, n ? STORE_NEXT : STORE_FIRST);
		if (!s_same(rc_a, &ka, &va, rc_b, &kb, &vb))
			fail_msg("entry %zu differs: %d and %d", n, rc_a, rc_b);
		n++;
	} while (rc_a == 0);
	assert_int_equal(n - 1, store_count(txn, DB_BY_AUTHOR));
	assert_int_equal(store_each_json(txn, DB_BY_AUTHOR, s_each_count, &each), 0);
	assert_int_equal(each, n - 1);
	store_cur_close(&ca);
	store_cur_close(&cb);
}

static void
s_split_same(store_t *st)
{
	store_txn_t *txn;

	assert_int_equal(store_read_begin(st, &txn), 0);
	s_split_same_txn(txn);
	store_read_end(st, &txn);
}

static int
s_split_copy_fn(store_txn_t *txn, const store_val_t *k, const store_val_t *v, void *arg)
{
	(void)arg;
	return store_put_new(txn, DB_BY_AUTHOR, k->data, k->len, v->data, v->len);
}

static int
s_split_rebuild_fn(store_txn_t *txn, void *arg)
{
	(void)arg;
	return store_rebuild(txn, DB_BY_AUTHOR, DB_BY_AUTHOR_V8, s_split_copy_fn, NULL);
}

static int
s_split_drop_fn(store_txn_t *txn, void *arg)
{
	int rc;

	(void)arg;
	if ((rc = store_drop(txn, DB_BY_AUTHOR)) == 0)
		rc = store_drop(txn, DB_BY_AUTHOR_V8);
	return rc;
}

static void
test_split_same_as_flat(void **state)
{
	fx_t f;
	struct diff d = {.seed = 0x5eed};
	char err[512] = "";
	size_t entries = 0;

	(void)state;
	fx_open(&f);
	for (d.round = 0; d.round < 40; d.round++) {
		d.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(d.round + 1);
		assert_int_equal(store_write(f.st, s_split_diff_fn, &d), 0);
		s_split_same(f.st);
		if (d.round % 10 == 9)
			assert_int_equal(store_write(f.st, s_split_drop_fn, NULL), 0);
	}
	/* Filled again from the flat one (store_rebuild), then walked by the
	 * check (store_walk: duplicates in order, found again). */
	d.round = 0;
	d.seed = 42;
	assert_int_equal(store_write(f.st, s_split_diff_fn, &d), 0);
	assert_int_equal(store_write(f.st, s_split_rebuild_fn, NULL), 0);
	s_split_same(f.st);
	assert_true(fx_count(&f, DB_BY_AUTHOR) > 20);
	store_close(&f.st);
	if (store_walk(f.dir, 0, NULL, NULL, &entries, err, sizeof(err)) != 0)
		fail_msg("walk: %s", err);
	fx_close(&f);
}

/* ------------------------------------------------------------- schema */

static void
test_newer_schema_refused(void **state)
{
	fx_t f;
	store_t *st = NULL;
	uint8_t v[8];
	char err[512] = "", path[128];
	struct meta_put m;

	(void)state;
	fx_open(&f);
	store_put_u64(v, INDEX_SCHEMA + 1);
	m = (struct meta_put){f.st, "schema", v, 8};
	assert_int_equal(store_write(f.st, s_meta_put_fn, &m), 0);
	store_close(&f.st);
	assert_int_equal(index_store_open(&st, f.dir, 0, err, sizeof(err)), CPT_EVERSION);
	assert_null(st);
	snprintf(path, sizeof(path), "%s/store", f.dir);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "newer"));

	/* Not even when asked to create a store. */
	err[0] = 0;
	assert_int_equal(index_store_open(&st, f.dir, 1, err, sizeof(err)), CPT_EVERSION);
	fx_close(&f);

	/* A schema value that is not 8 bytes is not taken for an old one. */
	fx_open(&f);
	m = (struct meta_put){f.st, "schema", "1", 1};
	assert_int_equal(store_write(f.st, s_meta_put_fn, &m), 0);
	store_close(&f.st);
	assert_int_equal(index_store_open(&st, f.dir, 0, err, sizeof(err)), CPT_EVERSION);
	assert_null(st);
	fx_close(&f);

	/* The current schema opens, and no store at all is named. */
	fx_open(&f);
	store_close(&f.st);
	assert_int_equal(index_store_open(&st, f.dir, 0, err, sizeof(err)), 0);
	store_close(&st);
	snprintf(path, sizeof(path), "%s/nothing", f.dir);
	assert_int_equal(index_store_open(&st, path, 0, err, sizeof(err)), CPT_ENOTFOUND);
	assert_non_null(strstr(err, path));
	fx_close(&f);
}

static int
s_drop_buckets_fn(store_txn_t *txn, void *arg)
{
	int rc = 0;

	(void)arg;
	for (int db = DB_BUCKETS_L3; db <= DB_BUCKETS_L7 && rc == 0; db++)
		rc = store_drop(txn, (enum store_db)db);
	return rc;
}

/* A store from before the reconciliation index gets it when opened. */
static void
test_old_store_gets_buckets(void **state)
{
	fx_t f;
	ev_t ev[12], *list[12];
	ingest_res_t res[12];
	snap_t a, b;
	char err[256] = "";

	(void)state;
	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_BOB, "bob", "paris", "member", TS(2, 0));
	for (int i = 2; i < 12; i++)
		fx_post(&ev[i], K_BOB, HLC_MAKE(T0 + ((uint64_t)i << 20), 0), "spread in time");
	for (int i = 0; i < 12; i++)
		list[i] = &ev[i];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, list, 12, res), 0);
	fx_snap(f.st, &a);
	assert_true(a.entries[DB_BUCKETS_L4] > 0 && a.entries[DB_BUCKETS_L7] > 0);
	assert_int_equal(store_write(f.st, s_drop_buckets_fn, f.st), 0);
	assert_int_equal(fx_count(&f, DB_BUCKETS_L3) + fx_count(&f, DB_BUCKETS_L7), 0);
	store_close(&f.st);
	if (index_store_open(&f.st, f.dir, 0, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	fx_snap(f.st, &b);
	FX_SNAP_EQUAL(&a, &b, "buckets built at open");
	fx_snap_free(&a);
	fx_snap_free(&b);
	fx_close(&f);
	for (int i = 0; i < 12; i++)
		fx_free(&ev[i]);
}

/* A store of schema 5 as that version wrote it: the reconciliation index in
 * one database, keyed level(1) then the bucket (8); the levels' own
 * databases empty. */
static int
s_make_schema5_fn(store_txn_t *txn, void *arg)
{
	uint8_t v[8], k[9];
	int rc = 0;

	(void)arg;
	for (int db = DB_BUCKETS_L3; db <= DB_BUCKETS_L7 && rc == 0; db++) {
		store_cur_t *cur;
		store_val_t bk, bv;
		assert_int_equal(store_cur_open(txn, (enum store_db)db, &cur), 0);
		for (rc = store_cur_get(cur, &bk, &bv, STORE_FIRST); rc == 0;
		     rc = store_cur_get(cur, &bk, &bv, STORE_NEXT)) {
			assert_int_equal(bk.len, 8);
			k[0] = (uint8_t)(3 + db - DB_BUCKETS_L3);
			memcpy(k + 1, bk.data, 8);
			if ((rc = store_put(txn, DB_BUCKETS_V5, k, 9, bv.data, bv.len)) != 0)
				break;
		}
		store_cur_close(&cur);
		if (rc == CPT_ENOTFOUND)
			rc = 0;
	}
	if (rc == 0)
		rc = s_drop_buckets_fn(txn, NULL);
	store_put_u64(v, 5);
	return rc != 0 ? rc : store_meta_put(txn, "schema", v, 8);
}

/* Opens f's store through the schema steps: the same entries as a, the
 * split databases' flat ones empty, this version's schema, a store the walk
 * passes; closed again. */
static void
s_moved_check(fx_t *f, const snap_t *a, const char *what)
{
	snap_t b;
	store_txn_t *txn;
	uint8_t v[8];
	size_t len = sizeof(v), entries = 0;
	char err[512] = "";

	if (index_store_open(&f->st, f->dir, 0, err, sizeof(err)) != 0)
		fail_msg("%s: store_open: %s", what, err);
	fx_snap(f->st, &b);
	FX_SNAP_EQUAL(a, &b, what);
	for (int db = 0; db < DB_COUNT; db++)
		if (store_split_old((enum store_db)db) != DB_COUNT)
			assert_int_equal(b.entries[store_split_old((enum store_db)db)], 0);
	fx_snap_free(&b);
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	assert_int_equal(store_meta_get(txn, "schema", v, &len), 0);
	store_read_end(f->st, &txn);
	assert_int_equal(store_get_u64(v), INDEX_SCHEMA);
	store_close(&f->st);
	if (store_walk(f->dir, 0, NULL, NULL, &entries, err, sizeof(err)) != 0)
		fail_msg("%s: walk: %s", what, err);
}

/* A store made by schema 5 opens, and is moved to schema 6 (and on): the
 * same buckets, now one database per level, the old database empty, and
 * the schema says this version's; opened again, nothing changes. */
static void
test_schema5_store_moves_to_6(void **state)
{
	fx_t f;
	ev_t ev[40], *list[40];
	ingest_res_t res[40];
	snap_t a;

	(void)state;
	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_BOB, "bob", "paris", "member", TS(2, 0));
	/* 17 minutes apart: several buckets at levels 4 to 5 (each event has
	 * one at every level from 4; level 3 is kept under dense level-4
	 * buckets only, schema 10). */
	for (int i = 2; i < 40; i++)
		fx_post(&ev[i], K_BOB, HLC_MAKE(T0 + ((uint64_t)i << 20), 0), "spread in time");
	for (int i = 0; i < 40; i++)
		list[i] = &ev[i];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, list, 40, res), 0);
	fx_snap(f.st, &a);
	for (int db = DB_BUCKETS_L4; db <= DB_BUCKETS_L7; db++)
		assert_true(a.entries[db] > 0);
	assert_int_equal(a.entries[DB_BUCKETS_L3], 0);
	assert_int_equal(a.entries[DB_BUCKETS_V5], 0);
	assert_int_equal(store_write(f.st, s_make_schema5_fn, NULL), 0);
	assert_int_equal(fx_count(&f, DB_BUCKETS_L4), 0);
	assert_true(fx_count(&f, DB_BUCKETS_V5) > 0);
	store_close(&f.st);
	s_moved_check(&f, &a, "schema 5 moved to 6 and on");
	s_moved_check(&f, &a, "opened again");
	fx_snap_free(&a);
	fx_close(&f);
	for (int i = 0; i < 40; i++)
		fx_free(&ev[i]);
}

/* A store as schema 8 and older wrote it: the split databases' entries in
 * the flat ones of their old names (DB_*_V8), the split ones empty. Also a
 * few entries of the split databases no event of the test makes. */
static int
s_make_schema8_fn(store_txn_t *txn, void *arg)
{
	uint8_t v[8];
	int rc = 0;

	(void)arg;
	for (int db = 0; db < DB_COUNT && rc == 0; db++) {
		enum store_db old = store_split_old((enum store_db)db);
		store_cur_t *cur;
		store_val_t k, val;
		if (old == DB_COUNT)
			continue;
		assert_int_equal(store_cur_open(txn, (enum store_db)db, &cur), 0);
		for (rc = store_cur_get(cur, &k, &val, STORE_FIRST); rc == 0;
		     rc = store_cur_get(cur, &k, &val, STORE_NEXT))
			if ((rc = store_put(txn, old, k.data, k.len, val.data, val.len)) != 0)
				break;
		store_cur_close(&cur);
		if (rc == CPT_ENOTFOUND)
			rc = store_drop(txn, (enum store_db)db);
	}
	store_put_u64(v, 6);
	return rc != 0 ? rc : store_meta_put(txn, "schema", v, 8);
}

static int
s_split_extra_fn(store_txn_t *txn, void *arg)
{
	uint8_t k[72], kind[2] = {0, 11};
	int rc = 0;

	(void)arg;
	for (int i = 0; i < 30 && rc == 0; i++) {
		memset(k, 0x30 + i % 3, 32);
		store_put_u64(k + 32, 1000 + (uint64_t)i);
		memset(k + 40, i, 32);
		if ((rc = store_put(txn, DB_MINE, k, 72, "", 0)) == 0 &&
		    (rc = store_put(txn, DB_SPACE_GOV, k, 72, kind, 2)) == 0)
			rc = store_put(txn, DB_SPACE_ITEMS, k, 72, kind, 2);
	}
	return rc;
}

/* A store of a few authors, posts and their comments and reactions, made
 * by this version; snapshot in a, then turned into what schema 8 held. */
static void
s_schema8_store(fx_t *f, snap_t *a)
{
	ev_t ev[60], *list[60];
	ingest_res_t res[60];
	static const int who[] = {K_ALICE, K_BOB, K_CAROL};

	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	fx_enrol(&ev[2], K_PARIS, K_BOB, "bob", "paris", "member", TS(3, 0));
	fx_enrol(&ev[3], K_PARIS, K_CAROL, "carol", "paris", "member", TS(4, 0));
	for (int i = 4; i < 60; i++) {
		int k = who[i % 3];
		if (i < 20)
			fx_post(&ev[i], k, TS(10 + i, 0), "a post");
		else if (i % 2)
			fx_child(&ev[i], k, EVT_COMMENT, TS(10 + i, 0), &ev[4 + i % 16],
			         "a comment");
		else
			fx_react(&ev[i], k, TS(10 + i, 0), &ev[4 + i % 16], "+1", 1);
	}
	for (int i = 0; i < 60; i++)
		list[i] = &ev[i];
	fx_open(f);
	assert_int_equal(fx_ingest_n(f, list, 60, res), 0);
	assert_int_equal(store_write(f->st, s_split_extra_fn, NULL), 0);
	fx_snap(f->st, a);
	assert_true(a->entries[DB_BY_AUTHOR] >= 59 && a->entries[DB_BY_REF] >= 40);
	assert_int_equal(a->entries[DB_MINE], 30);
	assert_int_equal(store_write(f->st, s_make_schema8_fn, NULL), 0);
	assert_int_equal(fx_count(f, DB_BY_AUTHOR), 0);
	assert_int_equal(fx_count(f, DB_BY_AUTHOR_V8), a->entries[DB_BY_AUTHOR]);
	assert_int_equal(fx_count(f, DB_MINE_V8), 30);
	for (int i = 0; i < 60; i++)
		fx_free(&ev[i]);
}

static void
test_schema8_store_moves_to_9(void **state)
{
	fx_t f;
	snap_t a;

	(void)state;
	s_schema8_store(&f, &a);
	store_close(&f.st);
	s_moved_check(&f, &a, "schema 8 moved to 9");
	s_moved_check(&f, &a, "schema 9 opened again");
	fx_snap_free(&a);
	fx_close(&f);
}

/* The step to schema 9 killed (SIGKILL) in the middle: after one committed
 * part, inside the next one's transaction. The next start finishes it. */
/* One round of a schema step run by a child (s_killed_in_round_two). */
struct part {
	size_t max; /* entries to move (or envelopes to rewrite) in the round */
	int die;    /* then die, the transaction open */
	int (*step)(store_txn_t *txn, size_t max, int *done); /* the envelopes' steps */
};

/*
 * A child opens the store at dir and runs fn twice, each a transaction: a
 * round of 7 entries, committed, then one of 5 in which fn kills it with
 * the transaction open (SIGKILL: no clean-up of any kind). The child must
 * die by that signal, not exit.
 */
static void
s_killed_in_round_two(const char *dir, store_write_fn fn,
                      int (*step)(store_txn_t *txn, size_t max, int *done))
{
	char err[512] = "";
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		store_t *st = NULL;
		struct part one = {7, 0, step}, two = {5, 1, step};
		if (store_open(&st, dir, 0, NULL, NULL, err, sizeof(err)) != 0 ||
		    store_write(st, fn, &one) != 0)
			_exit(2);
		_exit(store_write(st, fn, &two) == 0 ? 3 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static int
s_part_fn(store_txn_t *txn, void *arg)
{
	struct part *p = arg;
	size_t moved;
	int rc = store_split_fill(txn, DB_BY_AUTHOR, p->max, &moved);

	/* In the child: no cmocka assertion there, an exit code instead. */
	if (rc == 0 && moved != p->max)
		rc = CPT_EIO;
	if (rc == 0 && p->die)
		raise(SIGKILL);
	return rc;
}

static void
test_schema9_killed_then_finished(void **state)
{
	fx_t f;
	snap_t a;
	char err[512] = "";

	(void)state;
	s_schema8_store(&f, &a);
	store_close(&f.st);
	s_killed_in_round_two(f.dir, s_part_fn, NULL);
	/* What the first part committed is there, not the second's. */
	if (store_open(&f.st, f.dir, 0, NULL, NULL, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(fx_count(&f, DB_BY_AUTHOR), 7);
	store_close(&f.st);
	s_moved_check(&f, &a, "schema 9 after a kill");
	fx_snap_free(&a);
	fx_close(&f);
}

/* A store of schema 6 as that version wrote it: level 3 of the
 * reconciliation index under every level-4 bucket, one entry per level-3
 * bucket holding events (from DB_ORDER). */
static int
s_make_schema6_fn(store_txn_t *txn, void *arg)
{
	store_cur_t *cur;
	store_val_t k, v;
	uint8_t sum[32], key[8], val[40], b[8];
	uint64_t idx = 0, count = 0;
	int rc;

	(void)arg;
	memset(sum, 0, sizeof(sum));
	assert_int_equal(store_cur_open(txn, DB_ORDER, &cur), 0);
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST);;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		uint64_t ts = rc == 0 ? store_get_u64(k.data) : 0;
		if (count > 0 && (rc != 0 || ts >> 24 != idx)) {
			store_put_u64(key, idx);
			store_put_u64(val, count);
			memcpy(val + 8, sum, 32);
			assert_int_equal(store_put(txn, DB_BUCKETS_L3, key, 8, val, 40), 0);
			count = 0;
			memset(sum, 0, sizeof(sum));
		}
		if (rc != 0)
			break;
		idx = ts >> 24;
		count++;
		recon_sum_add(sum, (const uint8_t *)k.data + 8);
	}
	store_cur_close(&cur);
	store_put_u64(b, 6);
	return store_meta_put(txn, "schema", b, 8);
}

/* A store of schema 6 opens, and its level 3 is dropped under the sparse
 * level-4 buckets, kept under the dense one (schema 10): the same index as
 * this version builds; opened again, nothing changes. */
static void
test_schema6_store_moves_to_10(void **state)
{
	fx_t f;
	ev_t ev[110], *list[110];
	ingest_res_t res[110];
	snap_t a;

	(void)state;
	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_BOB, "bob", "paris", "member", TS(2, 0));
	/* 38 posts 17 minutes apart (sparse), then 70 within a minute (dense) */
	for (int i = 2; i < 40; i++)
		fx_post(&ev[i], K_BOB, HLC_MAKE(T0 + ((uint64_t)i << 20), 0), "spread in time");
	for (int i = 40; i < 110; i++) /* 100 ms apart, from the start of a 65.5 s bucket */
		fx_post(&ev[i], K_BOB,
		        HLC_MAKE(((T0 + (41ull << 20)) / 65536 + 1) * 65536 + (uint64_t)i * 100, 0),
		        "a burst");
	for (int i = 0; i < 110; i++)
		list[i] = &ev[i];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, list, 110, res), 0);
	fx_snap(f.st, &a);
	assert_true(a.entries[DB_BUCKETS_L3] > 20 && a.entries[DB_BUCKETS_L3] < 40);
	assert_int_equal(store_write(f.st, s_make_schema6_fn, NULL), 0);
	assert_true(fx_count(&f, DB_BUCKETS_L3) > a.entries[DB_BUCKETS_L3] + 30);
	store_close(&f.st);
	s_moved_check(&f, &a, "schema 6 moved to 10");
	s_moved_check(&f, &a, "schema 10 opened again");
	fx_snap_free(&a);
	fx_close(&f);
	for (int i = 0; i < 110; i++)
		fx_free(&ev[i]);
}

/* ------------------------------------------------ compact envelopes */

/* Puts env (len bytes) as the envelope of id, behind ingest's back. */
struct env_put {
	const uint8_t *id;  /* key */
	const uint8_t *env; /* envelope */
	size_t len;         /* its length */
	int raw;            /* store these bytes as the value, not through index_env_put */
};

static int
s_env_put_fn(store_txn_t *txn, void *arg)
{
	struct env_put *p = arg;

	return p->raw ? index_env_put_stored(txn, p->id, p->env, p->len, 0)
	              : index_env_put(txn, p->id, p->env, p->len, 0);
}

static void
s_env_put(fx_t *f, const uint8_t id[CPT_ID_LEN], const uint8_t *env, size_t len, int raw)
{
	struct env_put p = {id, env, len, raw};

	assert_int_equal(store_write(f->st, s_env_put_fn, &p), 0);
}

/* The value the store holds for id (a copy; free it), *len its length:
 * where schema 12 keeps it, or (v11) in schema 11's database. */
static uint8_t *
s_stored_in(fx_t *f, const uint8_t id[CPT_ID_LEN], size_t *len, int v11)
{
	store_txn_t *txn;
	store_val_t v;
	uint8_t *out = NULL;

	*len = 0;
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	if ((v11 ? store_get(txn, DB_EVENTS_V11, id, CPT_ID_LEN, &v)
	         : index_env_stored(txn, id, &v)) == 0) {
		out = malloc(v.len + 1);
		assert_non_null(out);
		memcpy(out, v.data, v.len);
		*len = v.len;
	}
	store_read_end(f->st, &txn);
	return out;
}

static uint8_t *
s_stored(fx_t *f, const uint8_t id[CPT_ID_LEN], size_t *len)
{
	return s_stored_in(f, id, len, 0);
}

/* Reads back env as the envelope of id: the same bytes, index_env_ts its
 * timestamp; the value stored is vlen bytes. */
static void
s_env_back(fx_t *f, const uint8_t id[CPT_ID_LEN], const uint8_t *env, size_t len, size_t vlen)
{
	size_t got_len, slen;
	uint8_t *got = fx_env(f, id, &got_len), *stored = s_stored(f, id, &slen);
	store_txn_t *txn;
	uint64_t ts = 0;

	assert_non_null(got);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, env, len);
	assert_int_equal(slen, vlen);
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	assert_int_equal(index_env_ts(txn, id, &ts), 0);
	store_read_end(f->st, &txn);
	assert_int_equal(ts, store_env_ts(env));
	free(got);
	free(stored);
}

/* Every kind (and one no node knows) stored compact and given back byte for
 * byte: 69 bytes less than the envelope; redacted, 33 less; what cannot be
 * put back (another federation, a hash that is not the body's, a first
 * byte that reads as a form) stored verbatim and given back the same. */
static void
test_envelopes_compact_round_trip(void **state)
{
	static const uint16_t kinds[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
	                                 11, 12, 13, 14, 16, 17, 18, 19, 20, 300};
	uint8_t other[CPT_FED_LEN], fixed[EVT_FIXED_LEN];
	fx_t f;
	ev_t ev;

	(void)state;
	fx_open(&f);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		fx_mk(&ev, K_ALICE, kinds[i], TS(10 + i, i),
		      json_pack("{s:s, s:i}", "text", "every kind, stored compact", "n", (int)i));
		s_env_put(&f, ev.id, ev.buf, ev.len, 0);
		s_env_back(&f, ev.id, ev.buf, ev.len, ev.len - 69);
		/* Redacted: header and signature only. */
		memcpy(fixed, ev.buf, EVT_FIXED_LEN);
		s_env_put(&f, ev.id, fixed, EVT_FIXED_LEN, 0);
		s_env_back(&f, ev.id, fixed, EVT_FIXED_LEN, EVT_FIXED_LEN - 33);
		fx_free(&ev);
	}
	/* A body of the protocol's largest size. */
	{
		char *big = malloc(EVT_MAX_BODY);
		assert_non_null(big);
		memset(big, 'a', EVT_MAX_BODY - 20);
		big[EVT_MAX_BODY - 20] = 0;
		fx_mk(&ev, K_BOB, EVT_POST, TS(50, 0), json_pack("{s:s}", "text", big));
		free(big);
		s_env_put(&f, ev.id, ev.buf, ev.len, 0);
		s_env_back(&f, ev.id, ev.buf, ev.len, ev.len - 69);
		fx_free(&ev);
	}
	/* Another federation's: verbatim. */
	memset(other, 0x5a, sizeof(other));
	fx_mk_fed(&ev, other, K_ALICE, EVT_POST, TS(60, 0),
	          json_pack("{s:s}", "text", "elsewhere"));
	s_env_put(&f, ev.id, ev.buf, ev.len, 0);
	s_env_back(&f, ev.id, ev.buf, ev.len, ev.len);
	fx_free(&ev);
	/* A body hash that is not the body's: verbatim (rebuilding it from
	 * the body would change the bytes). */
	fx_mk(&ev, K_ALICE, EVT_POST, TS(61, 0), json_pack("{s:s}", "text", "hash"));
	ev.buf[76] ^= 1;
	s_env_put(&f, ev.id, ev.buf, ev.len, 0);
	s_env_back(&f, ev.id, ev.buf, ev.len, ev.len);
	/* Bytes whose first would read as a form: one byte more. */
	ev.buf[0] = 0xC1;
	s_env_put(&f, ev.id, ev.buf, ev.len, 0);
	s_env_back(&f, ev.id, ev.buf, ev.len, ev.len + 1);
	fx_free(&ev);
	fx_close(&f);
}

/* Runs fn(f, id) with stderr in a file; what it wrote comes back in out. */
static void
s_stderr_of(void (*fn)(fx_t *, const uint8_t *), fx_t *f, const uint8_t *id, char *out, size_t cap)
{
	char path[] = "/tmp/comptoir-stderr-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	assert_true(dup2(fd, 2) >= 0);
	fn(f, id);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	n = pread(fd, out, cap - 1, 0);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	unlink(path);
}

static void
s_read_damaged(fx_t *f, const uint8_t *id)
{
	store_txn_t *txn;
	index_env_t e;
	evt_t ev;
	uint64_t ts;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	assert_int_equal(index_env_read(txn, id, &e), CPT_EDAMAGED);
	assert_int_equal(index_event(txn, id, &ev), CPT_EINVAL);
	assert_int_equal(index_env_ts(txn, id, &ts), CPT_EDAMAGED);
	store_read_end(f->st, &txn);
}

/* Values that are no envelope (cut short, of a wrong length for their
 * form, empty) are refused with an error naming the event; none crashes
 * (under ASan: no read past the value). */
static void
test_envelopes_damaged_refused(void **state)
{
	static const struct {
		uint8_t lead; /* first byte */
		size_t len;   /* length */
	} bad[] = {{0xC1, 1},   {0xC1, 50},  {0xC1, 107}, {0xC2, 142}, {0xC2, 144},
	           {0xC0, 100}, {0x02, 175}, {0x02, 1},   {0, 0}};
	uint8_t id[CPT_ID_LEN], val[300];
	char hex[CPT_HEX_ID], said[4096];
	fx_t f;
	ev_t ev;

	(void)state;
	fx_open(&f);
	/* A first envelope, so that the store names its federation. */
	fx_post(&ev, K_ALICE, TS(1, 0), "first");
	s_env_put(&f, ev.id, ev.buf, ev.len, 0);
	fx_free(&ev);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(id, 0x30 + (int)i, sizeof(id));
		memset(val, 0x41, sizeof(val));
		val[0] = bad[i].lead;
		s_env_put(&f, id, val, bad[i].len, 1);
		s_stderr_of(s_read_damaged, &f, id, said, sizeof(said));
		cpt_hex32(hex, id);
		if (strstr(said, hex) == NULL || strstr(said, "damaged") == NULL)
			fail_msg("case %zu: the message does not name event %s: %s", i, hex, said);
	}
	fx_close(&f);
}

/* A body changed on disk: its hash is now made from it, so the signature
 * no longer matches and `comptoir verify` says so, naming the event. */
static void
test_envelopes_changed_body_fails_verify(void **state)
{
	ev_t ev[6], *list[6];
	ingest_res_t res[6];
	size_t len, n = 0;
	uint8_t *v;
	char err[256] = "";
	fx_t f;

	(void)state;
	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	for (int i = 2; i < 6; i++)
		fx_post(&ev[i], K_ALICE, TS(10 + i, 0), "a post, its body changed on disk");
	for (int i = 0; i < 6; i++)
		list[i] = &ev[i];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, list, 6, res), 0);
	assert_int_equal(event_verify(&f.ctx, &n, err, sizeof(err)), 0);
	v = s_stored(&f, ev[3].id, &len);
	assert_int_equal(v[0], 0xC1);
	v[len - 5] ^= 0x01; /* a letter of the text: still JSON */
	s_env_put(&f, ev[3].id, v, len, 1);
	free(v);
	assert_int_equal(event_verify(&f.ctx, &n, err, sizeof(err)), CPT_ESIG);
	assert_non_null(strstr(err, "1 of 6 events do not verify"));
	fx_close(&f);
	for (int i = 0; i < 6; i++)
		fx_free(&ev[i]);
}

/* Each envelope of the store, as read (id, bytes), in the store's order. */
typedef struct envs {
	uint8_t *data; /* (id, len 8, bytes)* */
	size_t len;    /* its length */
	size_t n;      /* envelopes */
} envs_t;

static int
s_envs_fn(void *arg, const uint8_t *id, const index_env_t *e)
{
	envs_t *s = arg;
	size_t need = CPT_ID_LEN + 8 + index_env_len(e);

	assert_non_null(id);
	assert_non_null(e);
	s->data = realloc(s->data, s->len + need);
	assert_non_null(s->data);
	memcpy(s->data + s->len, id, CPT_ID_LEN);
	store_put_u64(s->data + s->len + CPT_ID_LEN, index_env_len(e));
	index_env_copy(e, s->data + s->len + CPT_ID_LEN + 8);
	s->len += need;
	s->n++;
	return 0;
}

static void
s_envs(store_t *st, envs_t *s)
{
	store_txn_t *txn;

	memset(s, 0, sizeof(*s));
	assert_int_equal(store_read_begin(st, &txn), 0);
	assert_int_equal(index_env_each(txn, s_envs_fn, s), 0);
	store_read_end(st, &txn);
}

/* Every envelope back as schema 10 wrote it: verbatim, the store naming no
 * federation, schema 10. */
static int
s_make_schema10_fn(store_txn_t *txn, void *arg)
{
	envs_t *s = arg;
	uint8_t b[8];
	int rc;

	for (size_t at = 0; at < s->len;) {
		const uint8_t *id = s->data + at;
		size_t len = store_get_u64(s->data + at + CPT_ID_LEN);
		if ((rc = store_put(txn, DB_EVENTS_V11, id, CPT_ID_LEN,
		                    s->data + at + CPT_ID_LEN + 8, len)) != 0)
			return rc;
		at += CPT_ID_LEN + 8 + len;
	}
	/* Schema 12 and older keyed the references by their targets' ids. */
	if ((rc = fx_ref_unnumber(txn)) != 0)
		return rc;
	if ((rc = store_drop(txn, DB_ENVELOPES)) != 0 || (rc = store_drop(txn, DB_EVENT_IDS)) != 0)
		return rc;
	if ((rc = store_del(txn, DB_META, "env_fed", 7)) != 0)
		return rc;
	store_put_u64(b, 10);
	return store_meta_put(txn, "schema", b, 8);
}

/* Every envelope back where schema 11 kept it: its stored value (compact)
 * under its id in DB_EVENTS_V11, DB_ENVELOPES and DB_EVENT_IDS empty,
 * schema 11. */
static int
s_make_schema11_fn(store_txn_t *txn, void *arg)
{
	store_cur_t *cur;
	store_val_t k, s, v;
	uint8_t b[8];
	int rc;

	(void)arg;
	if ((rc = store_cur_open(txn, DB_EVENT_IDS, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &s, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &s, STORE_NEXT)) {
		if ((rc = index_env_stored(txn, k.data, &v)) != 0 ||
		    (rc = store_put(txn, DB_EVENTS_V11, k.data, k.len, v.data, v.len)) != 0)
			break;
	}
	store_cur_close(&cur);
	if (rc != CPT_ENOTFOUND)
		return rc;
	if ((rc = fx_ref_unnumber(txn)) != 0)
		return rc;
	if ((rc = store_drop(txn, DB_ENVELOPES)) != 0 || (rc = store_drop(txn, DB_EVENT_IDS)) != 0)
		return rc;
	store_put_u64(b, 11);
	return store_meta_put(txn, "schema", b, 8);
}

/* A store of posts, comments, reactions and a redaction, made by this
 * version (a: its databases; e: its envelopes), then turned into what
 * schema 10 held, or (schema 11) what schema 11 held. */
static void
s_old_envs_store(fx_t *f, snap_t *a, envs_t *e, int schema)
{
	ev_t ev[60], *list[60];
	ingest_res_t res[60];
	size_t len;
	uint8_t *v;

	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	fx_enrol(&ev[2], K_PARIS, K_BOB, "bob", "paris", "member", TS(3, 0));
	for (int i = 3; i < 59; i++) {
		int k = i % 2 ? K_ALICE : K_BOB;
		if (i < 20)
			fx_post(&ev[i], k, TS(10 + i, 0), "a post");
		else if (i % 2)
			fx_child(&ev[i], k, EVT_COMMENT, TS(10 + i, 0), &ev[3 + i % 16],
			         "a comment");
		else
			fx_react(&ev[i], k, TS(10 + i, 0), &ev[3 + i % 16], "+1", 1);
	}
	fx_redact(&ev[59], K_BOB, TS(90, 0), &ev[4]); /* bob's post */
	for (int i = 0; i < 60; i++)
		list[i] = &ev[i];
	fx_open(f);
	assert_int_equal(fx_ingest_n(f, list, 60, res), 0);
	v = s_stored(f, ev[4].id, &len);
	assert_int_equal(len, EVT_FIXED_LEN - 33); /* erased, stored compact */
	free(v);
	fx_snap(f->st, a);
	s_envs(f->st, e);
	assert_int_equal(e->n, 60);
	assert_int_equal(
	    store_write(f->st, schema == 10 ? s_make_schema10_fn : s_make_schema11_fn, e), 0);
	v = s_stored_in(f, ev[5].id, &len, 1);
	assert_int_equal(len, schema == 10 ? ev[5].len : ev[5].len - 69); /* verbatim, compact */
	free(v);
	assert_int_equal(fx_count(f, DB_EVENT_IDS), 0);
	assert_int_equal(fx_count(f, DB_EVENTS_V11), 60);
	for (int i = 0; i < 60; i++)
		fx_free(&ev[i]);
}

/* Opens f's store (migrating it), and checks it holds a's databases and
 * e's envelopes, byte for byte. */
static void
s_compact_check(fx_t *f, const snap_t *a, const envs_t *e, const char *what)
{
	envs_t b;
	char err[512] = "";

	if (index_store_open(&f->st, f->dir, 0, err, sizeof(err)) != 0)
		fail_msg("%s: store_open: %s", what, err);
	s_envs(f->st, &b);
	assert_int_equal(b.n, e->n);
	assert_int_equal(b.len, e->len);
	assert_memory_equal(b.data, e->data, e->len);
	free(b.data);
	store_close(&f->st);
	s_moved_check(f, a, what);
}

/* A store of schema 10 opens, every envelope is rewritten compact (the
 * same values as this version stores), and each reads back as the same
 * bytes; opened again, nothing changes. */
static void
test_schema10_store_moves_to_11(void **state)
{
	fx_t f;
	snap_t a;
	envs_t e;

	(void)state;
	s_old_envs_store(&f, &a, &e, 10);
	store_close(&f.st);
	s_compact_check(&f, &a, &e, "schema 10 moved to 11");
	s_compact_check(&f, &a, &e, "schema 11 opened again");
	free(e.data);
	fx_snap_free(&a);
	fx_close(&f);
}

/* The step to schema 11 killed (SIGKILL) in the middle: after one committed
 * round, inside the next one's transaction. The next start finishes it
 * and nothing is lost. A round of either envelopes' step (11 and 12). */
static int
s_round_fn(store_txn_t *txn, void *arg)
{
	struct part *r = arg;
	int done = 0, rc = r->step(txn, r->max, &done);

	if (rc == 0 && done)
		rc = CPT_EIO; /* in the child: an exit code, no assertion */
	if (rc == 0 && r->die)
		raise(SIGKILL);
	return rc;
}

static void
test_schema11_killed_then_finished(void **state)
{
	fx_t f;
	snap_t a;
	envs_t e;
	char err[512] = "";
	size_t compact = 0;

	(void)state;
	s_old_envs_store(&f, &a, &e, 10);
	store_close(&f.st);
	s_killed_in_round_two(f.dir, s_round_fn, index_env_compact_step);
	/* What the first round committed is there, not the second's. */
	if (store_open(&f.st, f.dir, 0, NULL, NULL, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	for (size_t at = 0; at < e.len;) {
		size_t len = store_get_u64(e.data + at + CPT_ID_LEN), slen;
		uint8_t *v = s_stored_in(&f, e.data + at, &slen, 1);
		compact += v[0] == 0xC1 || v[0] == 0xC2;
		free(v);
		at += CPT_ID_LEN + 8 + len;
	}
	assert_int_equal(compact, 7);
	store_close(&f.st);
	s_compact_check(&f, &a, &e, "schema 11 after a kill");
	free(e.data);
	fx_snap_free(&a);
	fx_close(&f);
}

/* A store of schema 11 opens, every envelope is moved under a number
 * (in id order: the numbers 1 to 60 in the order of the ids), each reads
 * back as the same bytes and the same stored value, DB_EVENTS_V11 is
 * empty; opened again, nothing changes. */
static void
test_schema11_store_moves_to_12(void **state)
{
	fx_t f;
	snap_t a;
	envs_t e;
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v, s;
	uint64_t want = 1;
	char err[512] = "";
	int rc;

	(void)state;
	s_old_envs_store(&f, &a, &e, 11);
	store_close(&f.st);
	s_compact_check(&f, &a, &e, "schema 11 moved to 12");
	s_compact_check(&f, &a, &e, "schema 12 opened again");
	if (index_store_open(&f.st, f.dir, 0, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(fx_count(&f, DB_EVENTS_V11), 0);
	assert_int_equal(fx_count(&f, DB_ENVELOPES), 60);
	assert_int_equal(store_read_begin(f.st, &txn), 0);
	assert_int_equal(store_cur_open(txn, DB_EVENT_IDS, &cur), 0);
	for (rc = store_cur_get(cur, &k, &s, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &s, STORE_NEXT), want++) {
		assert_int_equal(s.len, 8);
		assert_int_equal(store_get_u64(s.data), want);
		assert_int_equal(store_get(txn, DB_ENVELOPES, s.data, 8, &v), 0);
	}
	assert_int_equal(rc, CPT_ENOTFOUND);
	assert_int_equal(want, 61);
	store_cur_close(&cur);
	store_read_end(f.st, &txn);
	free(e.data);
	fx_snap_free(&a);
	fx_close(&f);
}

/* The step to schema 12 killed (SIGKILL) in the middle: after one committed
 * round of 7 envelopes, inside the next one's transaction. The next start
 * finishes it and nothing is lost. */
static void
test_schema12_killed_then_finished(void **state)
{
	fx_t f;
	snap_t a;
	envs_t e;
	char err[512] = "";

	(void)state;
	s_old_envs_store(&f, &a, &e, 11);
	store_close(&f.st);
	s_killed_in_round_two(f.dir, s_round_fn, index_env_move_step);
	/* What the first round committed is there, not the second's. */
	if (store_open(&f.st, f.dir, 0, NULL, NULL, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(fx_count(&f, DB_EVENT_IDS), 7);
	assert_int_equal(fx_count(&f, DB_ENVELOPES), 7);
	assert_int_equal(fx_count(&f, DB_EVENTS_V11), 53);
	store_close(&f.st);
	s_compact_check(&f, &a, &e, "schema 12 after a kill");
	free(e.data);
	fx_snap_free(&a);
	fx_close(&f);
}

/* Envelopes under random ids are appended under their numbers: the pages
 * of DB_ENVELOPES end full (under their ids, pages were ~64% full), and a
 * replaced one (a redaction keeps the header) stays under its number. */
static int
s_random_envs_fn(store_txn_t *txn, void *arg)
{
	uint64_t *seed = arg;
	uint8_t id[CPT_ID_LEN], env[EVT_FIXED_LEN + 150];
	int rc;

	for (int i = 0; i < 250; i++) {
		for (size_t j = 0; j < sizeof(id); j += 8)
			store_put_u64(id + j, fx_rand(seed));
		memset(env, 'a' + i % 26, sizeof(env));
		env[0] = 0x07; /* no form, no version this store packs: verbatim */
		if ((rc = index_env_put(txn, id, env, sizeof(env) - (size_t)(i % 100),
		                        INDEX_ENV_NEW)) != 0)
			return rc;
		if (index_env_put(txn, id, env, sizeof(env), INDEX_ENV_NEW) != CPT_EEXIST)
			return CPT_EIO;
	}
	return 0;
}

static void
test_envelopes_pages_full(void **state)
{
	fx_t f;
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	MDB_stat ms;
	size_t data = 0;
	uint64_t seed = 7, n = 0;
	int rc;

	(void)state;
	fx_open(&f);
	for (int round = 0; round < 12; round++)
		assert_int_equal(store_write(f.st, s_random_envs_fn, &seed), 0);
	assert_int_equal(store_read_begin(f.st, &txn), 0);
	assert_int_equal(mdb_stat(TXN(txn), s_dbi(txn, DB_ENVELOPES), &ms), 0);
	assert_int_equal(ms.ms_entries, 3000);
	assert_int_equal(index_env_count(txn), 3000);
	/* Numbered 1 to 3,000 in the order stored. */
	assert_int_equal(store_cur_open(txn, DB_ENVELOPES, &cur), 0);
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		assert_int_equal(store_get_u64(k.data), ++n);
		data += 8 + v.len + 8 + 2; /* key, value, node header, pointer */
	}
	store_cur_close(&cur);
	store_read_end(f.st, &txn);
	if (ms.ms_leaf_pages * ms.ms_psize * 90 / 100 > data)
		fail_msg("DB_ENVELOPES leaf pages %zu for %zu bytes: under 90%% full",
		         (size_t)ms.ms_leaf_pages, data);
	fx_close(&f);
}

/* A site that joins holds a few events of its own, made now; the history it
 * then fetches comes in time order but lands just before them. Its pages
 * must still be mostly full (LMDB split each in the middle, leaving them
 * half full; with the tail moved they are 74% full here: see store.c); a key
 * among those is still put, and one there already refused. */
static int
s_ordered_fn(store_txn_t *txn, void *arg)
{
	uint8_t key[40], kind[2] = {0, 6};
	int rc, *round = arg;

	for (uint64_t i = 0; i < (*round == 0 ? 5 : 1000); i++) {
		memset(key, 0, sizeof(key));
		store_put_u64(key, *round == 0 ? 9000000 + i : 1000000 + (*round * 1000 + i) * 7);
		store_put_u64(key + 8, i * 2654435761u);
		if ((rc = store_put_new(txn, DB_ORDER, key, 40, kind, 2)) != 0)
			return rc;
	}
	if (*round != 20)
		return 0;
	store_put_u64(key, 9000002); /* among the newest */
	if ((rc = store_put_new(txn, DB_ORDER, key, 40, kind, 2)) != 0)
		return rc;
	return store_put_new(txn, DB_ORDER, key, 40, kind, 2) == CPT_EEXIST ? 0 : CPT_EIO;
}

static void
test_time_ordered_pages_full(void **state)
{
	fx_t f;
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	MDB_stat ms;
	size_t data, n = 0;
	uint8_t prev[40] = {0};
	int rc;

	(void)state;
	fx_open(&f);
	for (int round = 0; round <= 20; round++)
		assert_int_equal(store_write(f.st, s_ordered_fn, &round), 0);
	assert_int_equal(store_read_begin(f.st, &txn), 0);
	assert_int_equal(mdb_stat(TXN(txn), s_dbi(txn, DB_ORDER), &ms), 0);
	/* Every key there once, in order. */
	assert_int_equal(store_cur_open(txn, DB_ORDER, &cur), 0);
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT), n++) {
		assert_true(memcmp(prev, k.data, 40) < 0);
		memcpy(prev, k.data, 40);
	}
	store_cur_close(&cur);
	store_read_end(f.st, &txn);
	assert_int_equal(ms.ms_entries, 5 + 20000 + 1);
	assert_int_equal(n, ms.ms_entries);
	/* 40-byte key, 2-byte value, 8-byte node header, 2-byte pointer */
	data = ms.ms_entries * (40 + 2 + 8 + 2);
	if (ms.ms_leaf_pages * ms.ms_psize * 70 / 100 > data)
		fail_msg("DB_ORDER leaf pages %zu for %zu bytes: under 70%% full",
		         (size_t)ms.ms_leaf_pages, data);
	fx_close(&f);
}

/* The tail held (store.c, "A tail taken out is held"): a catch-up's
 * history lands below the site's own newest entries, and the tail is taken
 * out once per transaction, not once per key. Reads of keys below it leave
 * it out; a read of a key in it, and a cursor on the database, bring it
 * back (the cursor keeps it in place while open); a transaction that ends
 * without a commit leaves the tail where it was. */
struct held_run {
	int runs;     /* times the function ran (a full map reruns it) */
	int abort;    /* hold the tail, then end without a commit */
	int own_seen; /* the tail's keys read in the transaction */
};

static void
s_held_key(uint8_t key[40], uint64_t ts)
{
	memset(key, 0, 40);
	store_put_u64(key, ts);
	store_put_u64(key + 8, ts * 2654435761u);
}

static int
s_held_fn(store_txn_t *txn, void *arg)
{
	struct held_run *h = arg;
	uint8_t key[40], kind[2] = {0, 6};
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	h->runs++;
	h->own_seen = 0;
	for (uint64_t i = 0; i < 1000; i++) {
		s_held_key(key, 1000000 + i * 7);
		if ((rc = store_put_new(txn, DB_ORDER, key, 40, kind, 2)) != 0)
			return rc;
		if (h->abort)
			return CPT_EINVAL;
		if (i % 100 == 50) {
			/* below the tail: read where it is, the tail still out */
			s_held_key(key, 1000000 + (i - 10) * 7);
			if ((rc = store_get(txn, DB_ORDER, key, 40, &v)) != 0)
				return rc;
		}
		if (i == 500) {
			/* one of the tail's: it comes back first */
			s_held_key(key, 9000003);
			if ((rc = store_get(txn, DB_ORDER, key, 40, &v)) != 0)
				return rc;
			h->own_seen++;
		}
		if (i == 800) {
			/* a cursor sees the tail, and puts while it is open move
			 * it back at once */
			if ((rc = store_cur_open(txn, DB_ORDER, &cur)) != 0)
				return rc;
			for (rc = store_cur_get(cur, &k, &v, STORE_LAST);
			     rc == 0 && h->own_seen < 6;
			     rc = store_cur_get(cur, &k, &v, STORE_PREV))
				if (store_get_u64(k.data) >= 9000000)
					h->own_seen++;
			for (uint64_t j = 0; rc == 0 && j < 10; j++) {
				s_held_key(key, 1000000 + i * 7 + 1);
				key[39] = (uint8_t)(j + 1); /* ten ids of one time */
				rc = store_put_new(txn, DB_ORDER, key, 40, kind, 2);
			}
			store_cur_close(&cur);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

static int
s_held_own_fn(store_txn_t *txn, void *arg)
{
	uint8_t key[40], kind[2] = {0, 6};
	int rc;

	(void)arg;
	for (uint64_t i = 0; i < 5; i++) {
		s_held_key(key, 9000000 + i);
		if ((rc = store_put_new(txn, DB_ORDER, key, 40, kind, 2)) != 0)
			return rc;
	}
	return 0;
}

static void
test_tail_held_once_per_transaction(void **state)
{
	fx_t f;
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	MDB_stat ms;
	struct held_run h = {0};
	uint8_t prev[40] = {0};
	size_t n = 0, own = 0, data;
	uint64_t outs;
	int rc;

	(void)state;
	fx_open(&f);
	assert_int_equal(store_write(f.st, s_held_own_fn, NULL), 0);
	/* Held, then no commit: the five are all there. */
	h.abort = 1;
	outs = store_tail_outs(f.st);
	assert_int_equal(store_write(f.st, s_held_fn, &h), CPT_EINVAL);
	assert_int_equal(store_tail_outs(f.st) - outs, 1);
	assert_int_equal(store_read_begin(f.st, &txn), 0);
	assert_int_equal(store_count(txn, DB_ORDER), 5);
	store_read_end(f.st, &txn);
	h = (struct held_run){0};
	outs = store_tail_outs(f.st);
	assert_int_equal(store_write(f.st, s_held_fn, &h), 0);
	/* Per run: out at the first key; back for the read of one of the
	 * tail's, out again at the next key; back for the cursor, moved at
	 * once for each of the 10 puts while it is open; out again after.
	 * Moved for every key (as before), it would be 1,010 per run. */
	assert_int_equal(store_tail_outs(f.st) - outs, (uint64_t)h.runs * (1 + 1 + 10 + 1));
	assert_int_equal(h.own_seen, 1 + 5);
	assert_int_equal(store_read_begin(f.st, &txn), 0);
	assert_int_equal(mdb_stat(TXN(txn), s_dbi(txn, DB_ORDER), &ms), 0);
	assert_int_equal(store_cur_open(txn, DB_ORDER, &cur), 0);
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT), n++) {
		assert_true(memcmp(prev, k.data, 40) < 0);
		memcpy(prev, k.data, 40);
		own += store_get_u64(k.data) >= 9000000;
	}
	store_cur_close(&cur);
	store_read_end(f.st, &txn);
	assert_int_equal(n, 5 + 1000 + 10);
	assert_int_equal(ms.ms_entries, n);
	assert_int_equal(own, 5);
	/* Appended behind everything, the pages are full (the tail moved for
	 * each key left them 74% full: test_time_ordered_pages_full). */
	data = ms.ms_entries * (40 + 2 + 8 + 2);
	if (ms.ms_leaf_pages * ms.ms_psize * 85 / 100 > data)
		fail_msg("DB_ORDER leaf pages %zu for %zu bytes: under 85%% full",
		         (size_t)ms.ms_leaf_pages, data);
	fx_close(&f);
}

/* Split databases in a catch-up's order (store.c, s_split_last): each
 * prefix's keys come in time order and are appended without a search,
 * while deletes, replacing puts, puts among the others and refused puts
 * come between them, in one transaction and across two; the split database
 * answers as the flat one at each step and holds the same entries. */
static int
s_split_order_fn(store_txn_t *txn, void *arg)
{
	const enum store_db flat = DB_BY_AUTHOR_V8, split = DB_BY_AUTHOR;
	int *round = arg;
	uint8_t key[72], val[2];
	int rc_a, rc_b;

	for (uint64_t i = 0; i < 600; i++) {
		uint64_t t = (uint64_t)*round * 1000 + i, op = i % 11;
		memset(key, 0x40, sizeof(key));
		key[0] = (uint8_t)(i % 3); /* three prefixes, interleaved */
		key[31] = (uint8_t)(i % 3 * 16);
		store_put_u64(key + 32, 100 + t);
		store_put_kind(val, (uint16_t)(i % 5));
		if (op == 4) /* an earlier time: among the others */
			store_put_u64(key + 32, 100 + t - 40);
		rc_a = store_put(txn, flat, key, 72, val, 2);
		rc_b = store_put(txn, split, key, 72, val, 2);
		assert_int_equal(rc_a, rc_b);
		if (op == 6) { /* the same key again: refused, then replaced */
			assert_int_equal(store_put_new(txn, split, key, 72, val, 2), CPT_EEXIST);
			assert_int_equal(store_put_new(txn, flat, key, 72, val, 2), CPT_EEXIST);
			store_put_kind(val, 9);
			assert_int_equal(store_put(txn, flat, key, 72, val, 2), 0);
			assert_int_equal(store_put(txn, split, key, 72, val, 2), 0);
		}
		if (op == 8) { /* the last one of its prefix deleted, then one before it */
			assert_int_equal(store_del_existing(txn, flat, key, 72), 0);
			assert_int_equal(store_del_existing(txn, split, key, 72), 0);
			store_put_u64(key + 32, 100 + t - 1);
			key[40] = 0x01;
			assert_int_equal(store_put(txn, flat, key, 72, val, 2), 0);
			assert_int_equal(store_put(txn, split, key, 72, val, 2), 0);
		}
		if (op == 10)
			s_split_same_txn(txn);
	}
	s_split_same_txn(txn);
	return 0;
}

static void
test_split_appends_in_order(void **state)
{
	fx_t f;

	(void)state;
	fx_open(&f);
	for (int round = 0; round < 3; round++)
		assert_int_equal(store_write(f.st, s_split_order_fn, &round), 0);
	s_split_same(f.st);
	fx_close(&f);
}

/* The next number of DB_ENVELOPES (store_next_number), kept for a write
 * transaction: each step puts under the number it is given and checks it
 * against the last key read afresh with a cursor, as every envelope's
 * number was read before. */
struct num_run {
	int step;     /* which transaction (below) */
	size_t tries; /* runs of the function (a full map reruns it) */
};

/* The number store_next_number gives, checked against the last key. */
static uint64_t
s_num_next(store_txn_t *txn)
{
	store_cur_t *cur;
	store_val_t k, v;
	uint64_t next = 0, want;
	int rc;

	assert_int_equal(store_next_number(txn, DB_ENVELOPES, &next), 0);
	assert_int_equal(store_cur_open(txn, DB_ENVELOPES, &cur), 0);
	rc = store_cur_get(cur, &k, &v, STORE_LAST);
	want = rc == 0 && k.len == 8 ? store_get_u64(k.data) + 1 : 1;
	store_cur_close(&cur);
	assert_int_equal(next, want);
	return next;
}

/* Puts a value under the next number; returns the number. */
static uint64_t
s_num_append(store_txn_t *txn, size_t vlen)
{
	static uint8_t val[4000];
	uint8_t key[8];
	uint64_t n = s_num_next(txn);

	assert_true(vlen <= sizeof(val));
	memset(val, (int)(n & 0xff), vlen);
	store_put_u64(key, n);
	assert_int_equal(store_put_new(txn, DB_ENVELOPES, key, 8, val, vlen), 0);
	return n;
}

/* s_num_append of a big value, passing a full map back (the rerun). */
static int
s_num_append_rc(store_txn_t *txn, uint64_t want)
{
	static uint8_t val[4000];
	uint8_t key[8];
	uint64_t n = s_num_next(txn);

	assert_int_equal(n, want);
	memset(val, (int)(n & 0xff), sizeof(val));
	store_put_u64(key, n);
	return store_put_new(txn, DB_ENVELOPES, key, 8, val, sizeof(val));
}

static int
s_num_fn(store_txn_t *txn, void *arg)
{
	struct num_run *r = arg;
	uint8_t key[9];
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	r->tries++;
	switch (r->step) {
	case 0: /* 1..10, committed */
		for (uint64_t i = 1; i <= 10; i++)
			assert_int_equal(s_num_append(txn, 16), i);
		return 0;
	case 1: /* 11, 12, not committed: given again below */
		assert_int_equal(s_num_append(txn, 16), 11);
		assert_int_equal(s_num_append(txn, 16), 12);
		return CPT_EINVAL;
	case 2: /* 11 again, then every other write of DB_ENVELOPES */
		assert_int_equal(s_num_append(txn, 16), 11);
		store_put_u64(key, 11); /* the last deleted: its number again */
		assert_int_equal(store_del_existing(txn, DB_ENVELOPES, key, 8), 0);
		assert_int_equal(s_num_append(txn, 16), 11);
		assert_int_equal(store_cur_open(txn, DB_ENVELOPES, &cur), 0);
		assert_int_equal(store_cur_get(cur, &k, &v, STORE_LAST), 0);
		assert_int_equal(store_cur_del(cur), 0); /* so, by a cursor */
		store_cur_close(&cur);
		assert_int_equal(s_num_append(txn, 16), 11);
		store_put_u64(key, 5); /* replaced in place: the last stays */
		assert_int_equal(store_put(txn, DB_ENVELOPES, key, 8, "x", 1), 0);
		assert_int_equal(s_num_next(txn), 12);
		store_put_u64(key, 20); /* put ahead: after it */
		assert_int_equal(store_put_over(txn, DB_ENVELOPES, key, 8, "y", 1), 0);
		assert_int_equal(s_num_next(txn), 21);
		assert_int_equal(store_del_existing(txn, DB_ENVELOPES, key, 8), 0);
		assert_int_equal(s_num_next(txn), 12);
		memset(key, 0xff, sizeof(key)); /* a key of another length, last */
		assert_int_equal(store_put(txn, DB_ENVELOPES, key, 9, "z", 1), 0);
		assert_int_equal(s_num_next(txn), 1);
		assert_int_equal(store_del_existing(txn, DB_ENVELOPES, key, 9), 0);
		assert_int_equal(s_num_next(txn), 12);
		return 0;
	case 3: /* a transaction a full map reruns: numbered from 12 each time */
		for (uint64_t i = 12; i < 12 + 600; i++)
			if ((rc = s_num_append_rc(txn, i)) != 0)
				return rc;
		return 0;
	}
	return 0;
}

/* Numbers stay dense and right across an aborted transaction, deletes (by
 * key and by cursor), replacing puts, a key of another length, and the
 * reruns of a transaction a full map aborts (store.c, s_num_put). */
static void
test_next_number_per_transaction(void **state)
{
	fx_t f;
	struct num_run r = {0};
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	uint64_t want = 1, next = 0;
	int rc;

	(void)state;
	fx_open(&f);
	for (r.step = 0; r.step < 4; r.step++) {
		r.tries = 0;
		rc = store_write(f.st, s_num_fn, &r);
		assert_int_equal(rc, r.step == 1 ? CPT_EINVAL : 0);
	}
	/* 600 values of 4,000 bytes in a map of 1 MiB: rerun at least once. */
	assert_true(r.tries > 1);
	assert_int_equal(store_read_begin(f.st, &txn), 0);
	assert_int_equal(store_next_number(txn, DB_ENVELOPES, &next), 0);
	assert_int_equal(next, 12 + 600);
	assert_int_equal(store_cur_open(txn, DB_ENVELOPES, &cur), 0);
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT), want++) {
		assert_int_equal(k.len, 8);
		assert_int_equal(store_get_u64(k.data), want);
		assert_int_equal(((const uint8_t *)v.data)[0], want == 5 ? 'x' : (want & 0xff));
	}
	store_cur_close(&cur);
	store_read_end(f.st, &txn);
	assert_int_equal(want, 12 + 600);
	fx_close(&f);
}

/* A store of protocol version 1 (schema 3 or older) is refused with a
 * message that names the version and what to do. */
static void
test_v1_store_refused(void **state)
{
	fx_t f;
	store_t *st = NULL;
	uint8_t v[8];
	char err[512] = "";
	struct meta_put m;

	(void)state;
	for (uint64_t old = 1; old < INDEX_SCHEMA_V2; old++) {
		fx_open(&f);
		store_put_u64(v, old);
		m = (struct meta_put){f.st, "schema", v, 8};
		assert_int_equal(store_write(f.st, s_meta_put_fn, &m), 0);
		store_close(&f.st);
		assert_int_equal(index_store_open(&st, f.dir, 0, err, sizeof(err)), CPT_EVERSION);
		assert_null(st);
		assert_non_null(strstr(err, "protocol version 1"));
		assert_non_null(strstr(err, "comptoir init"));
		fx_close(&f);
	}
}

/* ----------------------------------------------- other processes' commits */

static int
s_meta_note_fn(store_txn_t *txn, void *arg)
{
	return store_meta_put(txn, "note", arg, strlen(arg));
}

/* A commit by another process (a child that opens the store itself). */
static void
s_commit_elsewhere(const char *dir)
{
	char err[512] = "";
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		store_t *st = NULL;
		int rc = store_open(&st, dir, 0, NULL, NULL, err, sizeof(err)) != 0 ||
		         store_write(st, s_meta_note_fn, "elsewhere") != 0;
		store_close(&st);
		_exit(rc ? 2 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Marks what a read transaction sees as looked at (the node's poll). */
static void
s_seen(store_t *st)
{
	store_txn_t *txn;

	assert_int_equal(store_read_begin(st, &txn), 0);
	store_seen(st, txn);
	store_read_end(st, &txn);
}

/* store_changed_elsewhere, which spares the daemon a read per own commit:
 * this process's commits never read as another's, and another's always
 * does, also when one of ours follows it before anyone looked. */
static void
test_changed_elsewhere(void **state)
{
	fx_t f;

	(void)state;
	fx_open(&f);
	assert_int_equal(store_changed_elsewhere(f.st), 1); /* nothing looked at yet */
	s_seen(f.st);
	assert_int_equal(store_changed_elsewhere(f.st), 0);
	assert_int_equal(store_write(f.st, s_meta_note_fn, "ours"), 0);
	assert_int_equal(store_write(f.st, s_meta_note_fn, "ours again"), 0);
	assert_int_equal(store_changed_elsewhere(f.st), 0);
	s_commit_elsewhere(f.dir);
	assert_int_equal(store_changed_elsewhere(f.st), 1);
	/* Ours after theirs: theirs is still not looked at. */
	assert_int_equal(store_write(f.st, s_meta_note_fn, "ours after"), 0);
	assert_int_equal(store_changed_elsewhere(f.st), 1);
	s_seen(f.st);
	assert_int_equal(store_changed_elsewhere(f.st), 0);
	assert_int_equal(store_write(f.st, s_meta_note_fn, "ours last"), 0);
	assert_int_equal(store_changed_elsewhere(f.st), 0);
	fx_close(&f);
}

/* ------------------------------------------------ the file written ahead */

struct ahead {
	int first, n; /* meta keys "ahead%04d" first..first+n-1 */
};

/* Puts n values of 1,500 bytes (an overflow page each) under new keys. */
static int
s_ahead_fn(store_txn_t *txn, void *arg)
{
	const struct ahead *a = arg;
	uint8_t v[1500];
	char key[32];
	int rc;

	for (int i = a->first; i < a->first + a->n; i++) {
		snprintf(key, sizeof(key), "ahead%04d", i);
		memset(v, i & 0xff, sizeof(v));
		if ((rc = store_meta_put(txn, key, v, sizeof(v))) != 0)
			return rc;
	}
	return 0;
}

static uint64_t
s_file_size(const char *dir, uint64_t *allocated)
{
	char path[128];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/store/data.mdb", dir);
	assert_int_equal(stat(path, &sb), 0);
	if (allocated)
		*allocated = (uint64_t)sb.st_blocks * 512;
	return (uint64_t)sb.st_size;
}

/* A small commit overwrites room the file already holds: the file is kept
 * written (zeros, not a hole) ahead of LMDB's last page, so that a live
 * commit neither changes the file's size nor allocates blocks (each made
 * its fdatasync write the inode too: ARCHITECTURE "The file written
 * ahead"). A large commit extends the file itself; another process's
 * commits and a reopen find everything stored. */
static void
test_file_written_ahead(void **state)
{
	fx_t f;
	struct ahead a = {0, 1000};
	char err[512] = "";
	int inside = 0;
	uint64_t alloc;

	(void)state;
	fx_open(&f);
	/* 1,000 pages: the 1 MiB map grows. */
	assert_int_equal(store_write(f.st, s_ahead_fn, &a), 0);
	a = (struct ahead){1000, 1};
	assert_int_equal(store_write(f.st, s_ahead_fn, &a), 0);
	for (int i = 0; i < 80; i++) {
		uint64_t size0 = s_file_size(f.dir, NULL), used0 = store_bytes(f.st);
		a = (struct ahead){1001 + i, 1};
		if (i == 40)
			s_commit_elsewhere(f.dir);
		assert_int_equal(store_write(f.st, s_ahead_fn, &a), 0);
		uint64_t size1 = s_file_size(f.dir, &alloc), used1 = store_bytes(f.st);
		assert_true(size1 >= used1);
		assert_true(alloc >= size1 - 4096); /* written, not a hole */
		if (used1 > used0 && used1 <= size0) {
			/* It grew the store inside the room: the size stayed. */
			assert_int_equal(size1, size0);
			inside++;
		}
	}
	assert_true(inside >= 40);
	/* Everything reads back after a reopen (the checks of a file longer
	 * than LMDB's pages included). */
	store_close(&f.st);
	if (store_open(&f.st, f.dir, 0, NULL, NULL, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	{
		store_txn_t *txn;
		uint8_t v[1500];
		char key[32];
		assert_int_equal(store_read_begin(f.st, &txn), 0);
		for (int i = 0; i < 1081; i++) {
			size_t len = sizeof(v);
			snprintf(key, sizeof(key), "ahead%04d", i);
			assert_int_equal(store_meta_get(txn, key, v, &len), 0);
			assert_int_equal(len, sizeof(v));
			assert_true(v[0] == (uint8_t)(i & 0xff) && v[1499] == (uint8_t)(i & 0xff));
		}
		store_read_end(f.st, &txn);
	}
	fx_close(&f);
}

/* ------------------------------------------------------------ map full */

/* A busy site: the trust chain, then batches of posts with long texts,
 * comments, reactions, edits and profiles, in a store that starts at 1 MiB. */
static void
test_map_full_grows(void **state)
{
	enum { N = 1800, BATCH = 150 };
	static ev_t ev[N];
	ev_t *list[N];
	fx_t f;
	snap_t before, after;
	char err[256] = "", text[2100];
	size_t n_events = 0, n = 0;
	ingest_res_t res[BATCH];
	uint64_t seed = 99;
	int users[] = {K_ALICE, K_BOB, K_CAROL};

	(void)state;
	fx_cert(&ev[n++], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[n++], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	fx_enrol(&ev[n++], K_PARIS, K_BOB, "bob", "paris", "member", TS(2, 1));
	fx_enrol(&ev[n++], K_PARIS, K_CAROL, "carol", "paris", "member", TS(2, 2));
	while (n < N) {
		int k = users[fx_rand(&seed) % 3];
		uint64_t ts = TS(10 + n, 0);
		size_t len = 200 + fx_rand(&seed) % 1800;
		memset(text, 'a' + (int)(n % 26), len);
		text[len] = 0;
		text[0] = '@';
		switch (fx_rand(&seed) % 6) {
		case 0:
		case 1: fx_post(&ev[n], k, ts, text); break;
		case 2:
			/* On any earlier event: the views take posts only. */
			fx_child(&ev[n], k, EVT_COMMENT, ts,
			         &ev[n > 4 ? 4 + fx_rand(&seed) % (n - 4) : 3], text);
			break;
		case 3:
			fx_react(&ev[n], k, ts, &ev[n - 1], "like", (int)(fx_rand(&seed) % 2));
			break;
		case 4: fx_child(&ev[n], k, EVT_EDIT, ts, &ev[n - 1], text); break;
		default:
			fx_mk(&ev[n], k, EVT_PROFILE, ts,
			      json_pack("{s:{s:s}}", "fields", "bio", text + 200));
		}
		n++;
	}
	for (size_t i = 0; i < N; i++)
		list[i] = &ev[i];

	fx_open(&f);
	assert_int_equal(s_mapsize(f.st), 1u << 20);
	for (size_t at = 0; at < N; at += BATCH) {
		assert_int_equal(fx_ingest_n(&f, list + at, BATCH, res), 0);
		for (size_t i = 0; i < BATCH; i++)
			if (res[i].rc != 0)
				fail_msg("event %zu: %s (%s)", at + i, cpt_strerror(res[i].rc),
				         res[i].why);
	}
	/* Everything is there, byte for byte, in a map that grew. */
	assert_true(s_mapsize(f.st) > (4u << 20));
	assert_int_equal(fx_env_count(&f), N);
	for (size_t i = 0; i < N; i++) {
		size_t len;
		uint8_t *v = fx_env(&f, ev[i].id, &len);
		assert_non_null(v);
		assert_int_equal(len, ev[i].len);
		assert_memory_equal(v, ev[i].buf, len);
		free(v);
	}
	assert_true(fx_count(&f, DB_FEED) > N / 5);

	/* A reindex in one transaction, and a verify whose scratch store starts
	 * small too, both outgrow the map on the way. */
	fx_snap(f.st, &before);
	if (event_reindex(&f.ctx, err, sizeof(err)) != 0)
		fail_msg("reindex: %s", err);
	fx_snap(f.st, &after);
	FX_SNAP_EQUAL(&before, &after, "reindex in a growing map");
	if (event_verify(&f.ctx, &n_events, err, sizeof(err)) != 0)
		fail_msg("verify: %s", err);
	assert_int_equal(n_events, N);
	fx_snap_free(&before);
	fx_snap_free(&after);
	fx_close(&f);
	for (size_t i = 0; i < N; i++)
		fx_free(&ev[i]);
}

/* Events of a kind from a newer node, near the body cap: one transaction
 * bigger than the whole map, then more in small ones. */
static void
test_map_full_big_events(void **state)
{
	enum { N = 60 };
	static ev_t ev[N + 2];
	ev_t *list[N + 2];
	fx_t f;
	ingest_res_t res[N + 2];
	char *blob = malloc(60 * 1024 + 1);

	(void)state;
	assert_non_null(blob);
	memset(blob, 'z', 60 * 1024);
	blob[60 * 1024] = 0;
	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	for (int i = 0; i < N; i++) {
		blob[i] = 'a';
		fx_mk(&ev[2 + i], K_ALICE, 200, TS(10 + i, 0), json_pack("{s:s}", "blob", blob));
	}
	for (int i = 0; i < N + 2; i++)
		list[i] = &ev[i];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, list, 2 + N / 2, res), 0);
	for (int i = 0; i < 2 + N / 2; i++)
		assert_int_equal(res[i].rc, 0);
	for (int i = 2 + N / 2; i < N + 2; i += 3) {
		int k = i + 3 <= N + 2 ? 3 : N + 2 - i;
		assert_int_equal(fx_ingest_n(&f, list + i, (size_t)k, res), 0);
		for (int j = 0; j < k; j++)
			assert_int_equal(res[j].rc, 0);
	}
	assert_int_equal(fx_env_count(&f), N + 2);
	for (int i = 0; i < N + 2; i++)
		assert_int_equal(fx_stored_len(&f, &ev[i]), ev[i].len);
	assert_true(s_mapsize(f.st) >= (size_t)N * 60 * 1024);
	fx_close(&f);
	for (int i = 0; i < N + 2; i++)
		fx_free(&ev[i]);
	free(blob);
}

/* ------------------------------------------------------------- backup */

static void
test_backup(void **state)
{
	fx_t f, g;
	ev_t ev[40];
	ev_t *list[40];
	ingest_res_t res[40];
	snap_t a, b;
	char err[512] = "", dest[128];
	store_txn_t *reader;

	(void)state;
	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	for (int i = 2; i < 40; i++) {
		char text[64];
		snprintf(text, sizeof(text), "post %d for @bob", i);
		if (i % 4 == 3)
			fx_redact(&ev[i], K_ALICE, TS(10 + i, 0), &ev[i - 1]);
		else
			fx_post(&ev[i], K_ALICE, TS(10 + i, 0), text);
		list[i] = &ev[i];
	}
	list[0] = &ev[0];
	list[1] = &ev[1];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, list, 40, res), 0);
	fx_snap(f.st, &a);

	/* Hot: a reader stays open meanwhile. */
	assert_int_equal(store_read_begin(f.st, &reader), 0);
	snprintf(dest, sizeof(dest), "%s/copy", f.dir);
	if (store_backup(f.st, dest, err, sizeof(err)) != 0)
		fail_msg("backup: %s", err);
	store_read_end(f.st, &reader);

	memset(&g, 0, sizeof(g));
	if (index_store_open(&g.st, dest, 0, err, sizeof(err)) != 0)
		fail_msg("open the copy: %s", err);
	fx_snap(g.st, &b);
	FX_SNAP_EQUAL(&a, &b, "backup");
	assert_int_equal(b.entries[DB_EVENT_IDS], 40);
	assert_true(b.entries[DB_BY_AUTHOR] >= 38); /* a split database, copied */
	store_close(&g.st);
	{
		/* The compacted copy passes the check's walk (duplicates too). */
		size_t entries = 0;
		if (store_walk(dest, 0, NULL, NULL, &entries, err, sizeof(err)) != 0)
			fail_msg("walk of the copy: %s", err);
	}

	/* Never over an existing store. */
	err[0] = 0;
	assert_int_not_equal(store_backup(f.st, dest, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "already exists"));
	fx_snap_free(&a);
	fx_snap_free(&b);
	fx_close(&f);
	for (int i = 0; i < 40; i++)
		fx_free(&ev[i]);
}

/* ------------------------------------------------- a damaged store file */

static uint8_t *
s_read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	b = malloc((size_t)n);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void
s_write_all(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A store of 40 events, closed; its data.mdb's bytes in *orig. */
static void
s_store_40(fx_t *f, char path[200], uint8_t **orig, size_t *len)
{
	ev_t ev[40], *list[40];
	ingest_res_t res[40];
	uint64_t used;

	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	for (int i = 2; i < 40; i++)
		fx_post(&ev[i], K_ALICE, TS(10 + i, 0), "a post to fill some pages of the store");
	for (int i = 0; i < 40; i++)
		list[i] = &ev[i];
	fx_open(f);
	assert_int_equal(fx_ingest_n(f, list, 40, res), 0);
	used = store_bytes(f->st);
	store_close(&f->st);
	for (int i = 0; i < 40; i++)
		fx_free(&ev[i]);
	snprintf(path, 200, "%s/store/data.mdb", f->dir);
	*orig = s_read_all(path, len);
	/* LMDB's pages only: the zeros written ahead of them (s_headroom) are
	 * not the store, and a cut below the last page is what is tested. */
	assert_true(used <= *len);
	*len = used;
}

/* Each damage that can be seen before mapping is refused with a message
 * naming the file, what is wrong and the repair; none crashes. Before, a
 * file cut short gave SIGBUS at the first read. */
static void
test_damaged_file_refused(void **state)
{
	fx_t f;
	store_t *st = NULL;
	char path[200], lock[220], err[2048];
	uint8_t *orig, *bad;
	size_t len, entries = 0;

	(void)state;
	s_store_40(&f, path, &orig, &len);
	snprintf(lock, sizeof(lock), "%s/store/lock.mdb", f.dir);
	bad = malloc(len);
	assert_non_null(bad);

	/* Cut short (a page, or half): never opened, whatever create says. */
	for (int half = 0; half < 2; half++) {
		s_write_all(path, orig, half ? len / 2 : len - 4096);
		for (int create = 0; create < 2; create++) {
			err[0] = 0;
			assert_int_equal(index_store_open(&st, f.dir, create, err, sizeof(err)),
			                 CPT_EDAMAGED);
			assert_null(st);
			assert_non_null(strstr(err, path));
			assert_non_null(strstr(err, "truncated"));
			assert_non_null(strstr(err, "comptoir repair --dir"));
		}
	}
	/* A meta page overwritten. */
	for (int page = 0; page < 2; page++) {
		char want[32];
		memcpy(bad, orig, len);
		memset(bad + page * 4096, 0xa5, 4096);
		s_write_all(path, bad, len);
		err[0] = 0;
		assert_int_equal(index_store_open(&st, f.dir, 0, err, sizeof(err)), CPT_EDAMAGED);
		snprintf(want, sizeof(want), "meta page %d", page);
		assert_non_null(strstr(err, want));
		assert_non_null(strstr(err, "comptoir repair --dir"));
	}
	/* A meta page naming a last page beyond the file. */
	memcpy(bad, orig, len);
	{
		uint64_t last = len / 4096 + 10;
		memcpy(bad + LM_LAST_PG, &last, 8);
		memcpy(bad + 4096 + LM_LAST_PG, &last, 8);
	}
	s_write_all(path, bad, len);
	assert_int_equal(index_store_open(&st, f.dir, 0, err, sizeof(err)), CPT_EDAMAGED);
	assert_non_null(strstr(err, "truncated"));

	/* Empty or missing: no store, and only create makes one (init). */
	for (int missing = 0; missing < 2; missing++) {
		if (missing)
			unlink(path);
		else
			s_write_all(path, orig, 0);
		unlink(lock);
		err[0] = 0;
		assert_int_equal(index_store_open(&st, f.dir, 0, err, sizeof(err)), CPT_ENOTFOUND);
		assert_non_null(strstr(err, "no store here"));
		assert_non_null(strstr(err, missing ? "missing" : "empty"));
		assert_non_null(strstr(err, "comptoir repair --dir"));
		assert_non_null(strstr(err, "restore"));
		if (missing)
			assert_int_equal(access(path, F_OK), -1);
		else {
			struct stat sb;
			assert_int_equal(stat(path, &sb), 0);
			assert_int_equal(sb.st_size, 0);
		}
	}
	assert_int_equal(index_store_open(&st, f.dir, 1, err, sizeof(err)), 0);
	store_close(&st);

	/* The original opens and walks whole. */
	unlink(lock);
	s_write_all(path, orig, len);
	if (index_store_open(&st, f.dir, 0, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	store_close(&st);
	if (store_walk(f.dir, 0, NULL, NULL, &entries, err, sizeof(err)) != 0)
		fail_msg("store_walk: %s", err);
	assert_true(entries > 40 * 4);
	free(bad);
	free(orig);
	fx_close(&f);
}

struct crash {
	int sig; /* what the child raises, or 0: it returns CPT_EINVAL */
};

static int
s_crash_fn(chk_t *c, void *arg, char *err, size_t errlen)
{
	struct crash *k = arg;

	chk_at(c, "the page of the test %d", 42);
	if (k->sig)
		raise(k->sig);
	snprintf(err, errlen, "a clean refusal");
	return CPT_EINVAL;
}

/* A reader that crashes takes its child down, not the caller, which says
 * where the child was; a damaged store is reported by the walk in a child. */
static void
test_check_in_child(void **state)
{
	fx_t f;
	char path[200], err[4096];
	uint8_t *orig;
	size_t len, entries = 0;
	struct crash k = {SIGSEGV};
	const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		k.sig = sigs[i];
		err[0] = 0;
		assert_int_equal(chk_run("/some/dir", s_crash_fn, &k, NULL, NULL, err, sizeof(err)),
		                 CPT_EDAMAGED);
		assert_non_null(strstr(err, "/some/dir/store/data.mdb is damaged"));
		assert_non_null(strstr(err, i == 0 ? "SIGSEGV" : i == 1 ? "SIGBUS" : "SIGABRT"));
		assert_non_null(strstr(err, "in the page of the test 42"));
		assert_non_null(strstr(err, "comptoir repair --dir /some/dir"));
	}
	k.sig = 0;
	assert_int_equal(chk_run("/some/dir", s_crash_fn, &k, NULL, NULL, err, sizeof(err)),
	                 CPT_EINVAL);
	assert_string_equal(err, "a clean refusal");

	/* Every page but the meta pages overwritten: the walk says so. */
	s_store_40(&f, path, &orig, &len);
	assert_int_equal(chk_store(f.dir, 0, &entries, err, sizeof(err)), 0);
	assert_true(entries > 40 * 4);
	{
		uint32_t x = 12345;
		uint8_t *bad = malloc(len);
		assert_non_null(bad);
		memcpy(bad, orig, len);
		for (size_t i = 2 * 4096; i < len; i++) {
			x = x * 1103515245u + 12345u;
			bad[i] = (uint8_t)(x >> 16);
		}
		s_write_all(path, bad, len);
		free(bad);
	}
	for (int light = 0; light < 2; light++) {
		err[0] = 0;
		assert_int_equal(chk_store(f.dir, light, &entries, err, sizeof(err)), CPT_EDAMAGED);
		assert_non_null(strstr(err, path));
		assert_non_null(strstr(err, "comptoir repair --dir"));
	}
	free(orig);
	fx_close(&f);
}

static int
s_setup(void **state)
{
	(void)state;
	fx_keys_init();
	return 0;
}

static int
s_teardown(void **state)
{
	(void)state;
	fx_keys_free();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_same_as_flat),
	    cmocka_unit_test(test_newer_schema_refused),
	    cmocka_unit_test(test_schema5_store_moves_to_6),
	    cmocka_unit_test(test_schema8_store_moves_to_9),
	    cmocka_unit_test(test_schema9_killed_then_finished),

	    cmocka_unit_test(test_schema6_store_moves_to_10),
	    cmocka_unit_test(test_envelopes_compact_round_trip),
	    cmocka_unit_test(test_envelopes_damaged_refused),
	    cmocka_unit_test(test_envelopes_changed_body_fails_verify),
	    cmocka_unit_test(test_schema10_store_moves_to_11),
	    cmocka_unit_test(test_schema11_killed_then_finished),
	    cmocka_unit_test(test_schema11_store_moves_to_12),
	    cmocka_unit_test(test_schema12_killed_then_finished),
	    cmocka_unit_test(test_envelopes_pages_full),
	    cmocka_unit_test(test_v1_store_refused),
	    cmocka_unit_test(test_old_store_gets_buckets),
	    cmocka_unit_test(test_time_ordered_pages_full),
	    cmocka_unit_test(test_tail_held_once_per_transaction),
	    cmocka_unit_test(test_split_appends_in_order),
	    cmocka_unit_test(test_next_number_per_transaction),
	    cmocka_unit_test(test_changed_elsewhere),
	    cmocka_unit_test(test_file_written_ahead),
	    cmocka_unit_test(test_map_full_grows),
	    cmocka_unit_test(test_map_full_big_events),
	    cmocka_unit_test(test_backup),
	    cmocka_unit_test(test_damaged_file_refused),
	    cmocka_unit_test(test_check_in_child),
	};

	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
