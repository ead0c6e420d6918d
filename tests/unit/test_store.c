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
#include <cmocka.h>

#define STORE_MAP_INITIAL (1ull << 20)
#define STORE_MAP_STEP    (1ull << 20)
#include "node/store/store.c"
#include "node/store/walk.c"

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
	assert_true(a.entries[DB_BUCKETS_L3] > 0 && a.entries[DB_BUCKETS_L7] > 0);
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

/* A store made by schema 5 opens, and is moved to schema 6: the same
 * buckets, now one database per level, the old database empty, and the
 * schema says 6; opened again, nothing changes. */
static void
test_schema5_store_moves_to_6(void **state)
{
	fx_t f;
	ev_t ev[40], *list[40];
	ingest_res_t res[40];
	snap_t a, b;
	char err[256] = "";
	uint8_t v[8];
	size_t len = sizeof(v);
	store_txn_t *txn;

	(void)state;
	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_BOB, "bob", "paris", "member", TS(2, 0));
	/* 17 minutes apart: several buckets at levels 3 to 5 (each event has
	 * one at every level). */
	for (int i = 2; i < 40; i++)
		fx_post(&ev[i], K_BOB, HLC_MAKE(T0 + ((uint64_t)i << 20), 0), "spread in time");
	for (int i = 0; i < 40; i++)
		list[i] = &ev[i];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, list, 40, res), 0);
	fx_snap(f.st, &a);
	for (int db = DB_BUCKETS_L3; db <= DB_BUCKETS_L7; db++)
		assert_true(a.entries[db] > 0);
	assert_int_equal(a.entries[DB_BUCKETS_V5], 0);
	assert_int_equal(store_write(f.st, s_make_schema5_fn, NULL), 0);
	assert_int_equal(fx_count(&f, DB_BUCKETS_L3), 0);
	assert_true(fx_count(&f, DB_BUCKETS_V5) > 0);
	store_close(&f.st);
	if (index_store_open(&f.st, f.dir, 0, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	fx_snap(f.st, &b);
	FX_SNAP_EQUAL(&a, &b, "schema 5 moved to 6");
	fx_snap_free(&b);
	assert_int_equal(store_read_begin(f.st, &txn), 0);
	assert_int_equal(store_meta_get(txn, "schema", v, &len), 0);
	store_read_end(f.st, &txn);
	assert_int_equal(store_get_u64(v), 6);
	store_close(&f.st);
	if (index_store_open(&f.st, f.dir, 0, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	fx_snap(f.st, &b);
	FX_SNAP_EQUAL(&a, &b, "schema 6 opened again");
	fx_snap_free(&a);
	fx_snap_free(&b);
	fx_close(&f);
	for (int i = 0; i < 40; i++)
		fx_free(&ev[i]);
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
	assert_int_equal(b.entries[DB_EVENTS], 40);
	store_close(&g.st);

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

	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&ev[1], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	for (int i = 2; i < 40; i++)
		fx_post(&ev[i], K_ALICE, TS(10 + i, 0), "a post to fill some pages of the store");
	for (int i = 0; i < 40; i++)
		list[i] = &ev[i];
	fx_open(f);
	assert_int_equal(fx_ingest_n(f, list, 40, res), 0);
	store_close(&f->st);
	for (int i = 0; i < 40; i++)
		fx_free(&ev[i]);
	snprintf(path, 200, "%s/store/data.mdb", f->dir);
	*orig = s_read_all(path, len);
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
	    cmocka_unit_test(test_newer_schema_refused),
	    cmocka_unit_test(test_schema5_store_moves_to_6),
	    cmocka_unit_test(test_v1_store_refused),
	    cmocka_unit_test(test_old_store_gets_buckets),
	    cmocka_unit_test(test_time_ordered_pages_full),
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
