/*
 * Test fixture shared by test_ingest.c and test_store.c: a federation (root,
 * two sites, four users) with fixed keys, events signed in memory, a fresh
 * store in a temporary directory, ingest through store_write() and byte-wise
 * snapshots of every database. Include after <cmocka.h>.
 */
#ifndef COMPTOIR_TEST_INGEST_FIXTURE_H
#define COMPTOIR_TEST_INGEST_FIXTURE_H

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "node/event/event.h"
#include "node/index/index.h"
#include "node/query/query.h"

/* The test world's wall clock: timestamps are offsets from T0 in ms. */
#define T0        1700000000000ull
#define TS(ms, c) HLC_MAKE(T0 + (ms), (c))

/* Who is who; seeds are fixed so that ids, hence (ts, id) ties, repeat. */
enum { K_ROOT, K_PARIS, K_LYON, K_ALICE, K_BOB, K_CAROL, K_DAVE, K_ALICE2, K_OTHER_ROOT, K_COUNT };

static key_sign_t *s_keys[K_COUNT];
static uint8_t s_fed[CPT_FED_LEN];

static inline void
fx_keys_init(void)
{
	uint8_t seed[CPT_SEED_LEN];

	assert_int_equal(cpt_init(), 0);
	for (int i = 0; i < K_COUNT; i++) {
		memset(seed, 0x40 + i, sizeof(seed));
		s_keys[i] = key_sign_from_seed(seed);
		assert_non_null(s_keys[i]);
	}
	evt_federation_id(s_fed, key_sign_public(s_keys[K_ROOT]));
}

static inline void
fx_keys_free(void)
{
	for (int i = 0; i < K_COUNT; i++)
		key_sign_destroy(&s_keys[i]);
}

static inline const uint8_t *
fx_pk(int k)
{
	return key_sign_public(s_keys[k]);
}

/* ------------------------------------------------------------- events */

typedef struct ev {
	uint8_t *buf;           /* the signed envelope */
	size_t len;             /* its length */
	uint8_t id[CPT_ID_LEN]; /* its id */
	char hex[CPT_HEX_ID];   /* the id in hex, for bodies that refer to it */
	uint64_t ts;            /* its timestamp */
} ev_t;

/* Signs body (stolen) as kind by key k for federation fed into e. */
static inline void
fx_mk_fed(ev_t *e, const uint8_t *fed, int k, uint16_t kind, uint64_t ts, json_t *body)
{
	char *text;
	size_t tlen;
	evt_t d;

	assert_non_null(body);
	text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	tlen = strlen(text);
	e->buf = malloc(EVT_FIXED_LEN + tlen);
	assert_non_null(e->buf);
	assert_int_equal(evt_sign(e->buf, EVT_FIXED_LEN + tlen, &e->len, kind, fed, ts,
	                          (const uint8_t *)text, tlen, s_keys[k]),
	                 0);
	assert_int_equal(evt_decode(&d, e->buf, e->len, EVT_MAX_BODY), 0);
	evt_id(e->id, &d);
	cpt_hex32(e->hex, e->id);
	e->ts = ts;
	free(text);
	json_decref(body);
}

static inline void
fx_mk(ev_t *e, int k, uint16_t kind, uint64_t ts, json_t *body)
{
	fx_mk_fed(e, s_fed, k, kind, ts, body);
}

static inline void
fx_free(ev_t *e)
{
	free(e->buf);
	e->buf = NULL;
}

static inline const char *
fx_hexkey(int k, char out[CPT_HEX_ID])
{
	cpt_hex32(out, fx_pk(k));
	return out;
}

/* The site certificate of a site key, by the root. */
/* A valid X25519 public key from a fixed scalar (PROTOCOL.md 2.2), in hex. */
static inline const char *
fx_x25519(uint8_t fill, char out[CPT_HEX_ID])
{
	uint8_t sk[32], pk[32];

	memset(sk, fill, sizeof(sk));
	assert_int_equal(crypto_scalarmult_base(pk, sk), 0);
	cpt_hex32(out, pk);
	return out;
}

/* The site certificate of a site key, by the root, valid from its own time
 * (protocol version 2: not_before is the certificate's ms, and a seal_key). */
static inline void
fx_cert(ev_t *e, int site_key, const char *name, uint64_t ts)
{
	char hex[CPT_HEX_ID], curve[CPT_HEX_ID], seal[CPT_HEX_ID];

	fx_mk(e, K_ROOT, EVT_SITE_CERT, ts,
	      json_pack("{s:s, s:s, s:s, s:s, s:[s], s:I, s:I}", "site", name, "sign_key",
	                fx_hexkey(site_key, hex), "curve_key", fx_x25519(0x11, curve), "seal_key",
	                fx_x25519(0x22, seal), "endpoints", "tcp://127.0.0.1:7400", "not_before",
	                (json_int_t)HLC_MS(ts), "not_after", (json_int_t)0));
}

/* The enrolment proof of user key k as handle at site, in hex. */
static inline const char *
fx_proof(int k, const char *site, const char *handle, char out[2 * CPT_SIG_LEN + 1])
{
	uint8_t sig[CPT_SIG_LEN];

	assert_int_equal(evt_proof_sign(sig, s_keys[k], s_fed, site, handle), 0);
	sodium_bin2hex(out, 2 * CPT_SIG_LEN + 1, sig, sizeof(sig));
	return out;
}

/* An enrolment of user key k as handle at site (signed by site key by),
 * with k's proof. */
static inline void
fx_enrol(ev_t *e, int by, int k, const char *handle, const char *site, const char *role,
         uint64_t ts)
{
	char hex[CPT_HEX_ID], proof[2 * CPT_SIG_LEN + 1];

	fx_mk(e, by, EVT_ENROL, ts,
	      json_pack("{s:s, s:s, s:s, s:s, s:s}", "handle", handle, "key", fx_hexkey(k, hex),
	                "site", site, "role", role, "proof", fx_proof(k, site, handle, proof)));
}

/* A revocation of k from effective_ms; its vouch constrains nothing
 * (an empty range). */
static inline void
fx_revoke(ev_t *e, int by, int k, uint64_t effective_ms, uint64_t ts)
{
	char hex[CPT_HEX_ID];

	fx_mk(e, by, EVT_REVOKE, ts,
	      json_pack("{s:s, s:I, s:s, s:{s:I, s:I, s:s}}", "key", fx_hexkey(k, hex), "effective",
	                (json_int_t)effective_ms, "reason", "test", "vouch", "from", (json_int_t)0,
	                "to", (json_int_t)0, "ids", ""));
}

static inline void
fx_post(ev_t *e, int k, uint64_t ts, const char *text)
{
	fx_mk(e, k, EVT_POST, ts, json_pack("{s:s}", "text", text));
}

/* A comment or an edit of post. */
static inline void
fx_child(ev_t *e, int k, uint16_t kind, uint64_t ts, const ev_t *post, const char *text)
{
	fx_mk(e, k, kind, ts, json_pack("{s:s, s:s}", "post", post->hex, "text", text));
}

static inline void
fx_react(ev_t *e, int k, uint64_t ts, const ev_t *post, const char *what, int on)
{
	fx_mk(e, k, EVT_REACTION, ts,
	      json_pack("{s:s, s:s, s:b}", "post", post->hex, "reaction", what, "on", on));
}

static inline void
fx_redact(ev_t *e, int k, uint64_t ts, const ev_t *target)
{
	fx_mk(e, k, EVT_REDACT, ts, json_pack("{s:s}", "target", target->hex));
}

/* A key backup with a distinct salt; the sealed box is not opened here. */
static inline void
fx_backup(ev_t *e, int k, uint64_t ts, const char *handle, int salt)
{
	char s[33], n[49], b[97];

	snprintf(s, sizeof(s), "%032x", salt);
	memset(n, '1', 48);
	n[48] = 0;
	memset(b, '2', 96);
	b[96] = 0;
	fx_mk(e, k, EVT_KEY_BACKUP, ts,
	      json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:s}", "handle", handle, "kdf",
	                "argon2id13", "ops", 2, "mem", 67108864, "salt", s, "nonce", n, "box", b));
}

/* -------------------------------------------------------------- store */

typedef struct fx {
	char dir[64];     /* temporary data directory */
	int reused;       /* dir is the shared scratch directory: kept at close */
	store_t *st;      /* the store in dir/store */
	ingest_ctx_t ctx; /* ingest context of the test federation */
} fx_t;

static int
fx_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
fx_rmtree(const char *dir)
{
	nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* An empty store made once: a fresh store is a copy of its data file, since
 * store_open() on an empty directory commits with an fsync, and the order
 * tests open thousands of stores. */
static char s_template[64];
/* Where fx_open_scratch() keeps its store: the order tests open thousands of
 * stores one at a time, and creating and removing files costs far more than
 * the test on a busy disk; the scratch store is emptied instead. */
static char s_scratch[64];
static store_t *s_scratch_st;

static inline void
fx_template_init(void)
{
	store_t *st = NULL;
	char err[512] = "";

	snprintf(s_template, sizeof(s_template), "/tmp/comptoir-ingest-tpl-XXXXXX");
	assert_non_null(mkdtemp(s_template));
	if (index_store_open(&st, s_template, 1, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	store_close(&st);
	snprintf(s_scratch, sizeof(s_scratch), "/tmp/comptoir-ingest-scr-XXXXXX");
	assert_non_null(mkdtemp(s_scratch));
	snprintf(err, sizeof(err), "%s/store", s_scratch);
	assert_int_equal(mkdir(err, 0700), 0);
}

static inline void
fx_copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[65536];
	size_t n;

	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

static inline size_t
fx_count_db(store_t *st, int db)
{
	store_txn_t *txn;
	size_t n;

	assert_int_equal(store_read_begin(st, &txn), 0);
	n = store_count(txn, (enum store_db)db);
	store_read_end(st, &txn);
	return n;
}

/* Opens a fresh store in f->dir, a copy of the template when there is one. */
static inline void
fx_open_in(fx_t *f)
{
	char err[512] = "", from[128], to[128];

	if (s_template[0]) {
		snprintf(to, sizeof(to), "%s/store", f->dir);
		if (mkdir(to, 0700) != 0)
			assert_int_equal(errno, EEXIST);
		snprintf(to, sizeof(to), "%s/store/lock.mdb", f->dir);
		unlink(to);
		snprintf(from, sizeof(from), "%s/store/data.mdb", s_template);
		snprintf(to, sizeof(to), "%s/store/data.mdb", f->dir);
		fx_copy_file(from, to);
	}
	if (index_store_open(&f->st, f->dir, 1, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	/* Thousands of throwaway stores: durability is not under test here,
	 * and an fsync per commit would make the run minutes long. */
	assert_int_equal(store_set_nosync(f->st, 1), 0);
	f->ctx.st = f->st;
	memcpy(f->ctx.fed, s_fed, CPT_FED_LEN);
	memcpy(f->ctx.root, fx_pk(K_ROOT), CPT_KEY_LEN);
	f->ctx.max_body = EVT_MAX_BODY;
	f->ctx.max_pending = 1000;
	f->ctx.now_ms = T0 + 100000000ull;
}

/* A fresh store in a new temporary directory. */
static inline void
fx_open(fx_t *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/comptoir-ingest-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fx_open_in(f);
}

static inline int
fx_empty_fn(store_txn_t *txn, void *arg)
{
	int rc;

	(void)arg;
	for (int db = 0; db < DB_COUNT; db++)
		if (db != DB_META && (rc = store_drop(txn, (enum store_db)db)) != 0)
			return rc;
	return 0;
}

/* An empty store in the shared scratch directory; one at a time: every
 * database but the schema's is emptied, as a new store has them. */
static inline void
fx_open_scratch(fx_t *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s", s_scratch);
	f->reused = 1;
	if (s_scratch_st == NULL) {
		fx_open_in(f);
		s_scratch_st = f->st;
		return;
	}
	f->st = s_scratch_st;
	assert_int_equal(store_write(f->st, fx_empty_fn, f->st), 0);
	for (int db = DB_META + 1; db < DB_COUNT; db++)
		assert_int_equal(fx_count_db(f->st, db), 0);
	f->ctx.st = f->st;
	memcpy(f->ctx.fed, s_fed, CPT_FED_LEN);
	memcpy(f->ctx.root, fx_pk(K_ROOT), CPT_KEY_LEN);
	f->ctx.max_body = EVT_MAX_BODY;
	f->ctx.max_pending = 1000;
	f->ctx.now_ms = T0 + 100000000ull;
}

/* Closes the scratch store for good (test teardown). */
static inline void
fx_scratch_free(void)
{
	store_close(&s_scratch_st);
	fx_rmtree(s_scratch);
}

static inline void
fx_close(fx_t *f)
{
	ingest_ctx_release(&f->ctx); /* its key-record cache */
	if (f->reused) {
		f->st = NULL; /* stays open for the next run */
		return;
	}
	store_close(&f->st);
	if (f->dir[0])
		fx_rmtree(f->dir);
	f->dir[0] = 0;
}

struct fx_batch {
	ingest_ctx_t *ctx;    /* where to */
	const uint8_t **bufs; /* envelopes */
	size_t *lens;         /* their lengths */
	size_t n;             /* how many */
	ingest_res_t *res;    /* outcome of each */
};

static inline int
fx_batch_fn(store_txn_t *txn, void *arg)
{
	struct fx_batch *b = arg;

	return ingest_txn(b->ctx, txn, b->bufs, b->lens, b->n, b->res);
}

/* Ingests n events in one transaction; returns what store_write returned. */
static inline int
fx_ingest_n(fx_t *f, ev_t *const *evs, size_t n, ingest_res_t *res)
{
	struct fx_batch b = {&f->ctx, calloc(n + 1, sizeof(uint8_t *)),
	                     calloc(n + 1, sizeof(size_t)), n, res};
	int rc;

	assert_non_null(b.bufs);
	assert_non_null(b.lens);
	for (size_t i = 0; i < n; i++) {
		b.bufs[i] = evs[i]->buf;
		b.lens[i] = evs[i]->len;
	}
	rc = store_write(f->st, fx_batch_fn, &b);
	free(b.bufs);
	free(b.lens);
	return rc;
}

/* Ingests raw bytes alone; returns the event's outcome. */
static inline int
fx_raw(fx_t *f, const uint8_t *buf, size_t len, ingest_res_t *out)
{
	struct fx_batch b;
	ingest_res_t res;
	const uint8_t *p = buf;

	b.ctx = &f->ctx;
	b.bufs = &p;
	b.lens = &len;
	b.n = 1;
	b.res = &res;
	assert_int_equal(store_write(f->st, fx_batch_fn, &b), 0);
	if (out)
		*out = res;
	return res.rc;
}

static inline int
fx_in(fx_t *f, const ev_t *e)
{
	return fx_raw(f, e->buf, e->len, NULL);
}

/* Ingests and requires rc. */
#define FX_IN(f, e, rc) assert_int_equal(fx_in((f), (e)), (rc))

/* A copy of the value under key in db, or NULL; *len set. */
static inline uint8_t *
fx_get(fx_t *f, enum store_db db, const void *key, size_t klen, size_t *len)
{
	store_txn_t *txn;
	store_val_t k = {klen, (void *)key}, v = {0, NULL};
	uint8_t *out = NULL;

	*len = 0;
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	if (store_get(txn, db, k.data, k.len, &v) == 0) {
		out = malloc(v.len + 1);
		assert_non_null(out);
		memcpy(out, v.data, v.len);
		out[v.len] = 0;
		*len = v.len;
	}
	store_read_end(f->st, &txn);
	return out;
}

static inline int
fx_has(fx_t *f, enum store_db db, const void *key, size_t klen)
{
	size_t len;
	uint8_t *v = fx_get(f, db, key, klen, &len);
	int has = v != NULL;

	free(v);
	return has;
}

/* A copy of the stored envelope of id (free it), NULL when absent; *len
 * its length (0 when absent). */
static inline uint8_t *
fx_env(fx_t *f, const uint8_t id[CPT_ID_LEN], size_t *len)
{
	store_txn_t *txn;
	index_env_t v;
	uint8_t *out = NULL;

	*len = 0;
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	if (index_env_read(txn, id, &v) == 0) {
		out = malloc(index_env_len(&v) + 1);
		assert_non_null(out);
		index_env_copy(&v, out);
		*len = index_env_len(&v);
	}
	store_read_end(f->st, &txn);
	return out;
}

/* How many envelopes are stored. */
static inline size_t
fx_env_count(fx_t *f)
{
	store_txn_t *txn;
	size_t n;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	n = index_env_count(txn);
	store_read_end(f->st, &txn);
	return n;
}

/* The stored length of an event, 0 when absent. */
static inline size_t
fx_stored_len(fx_t *f, const ev_t *e)
{
	size_t len;

	free(fx_env(f, e->id, &len));
	return len;
}

static inline size_t
fx_count(fx_t *f, enum store_db db)
{
	store_txn_t *txn;
	size_t n;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	n = store_count(txn, db);
	store_read_end(f->st, &txn);
	return n;
}

static inline int
fx_in_feed(fx_t *f, const ev_t *post)
{
	uint8_t k[8 + CPT_ID_LEN];

	store_put_u64(k, post->ts);
	memcpy(k + 8, post->id, CPT_ID_LEN);
	return fx_has(f, DB_FEED, k, sizeof(k));
}

/* The stored post view (new reference) or NULL. */
static inline json_t *
fx_post_view(fx_t *f, const ev_t *post)
{
	store_txn_t *txn;
	json_t *j;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	j = query_post(txn, post->id, 0);
	store_read_end(f->st, &txn);
	return j;
}

static inline json_t *
fx_person(fx_t *f, const char *handle)
{
	store_txn_t *txn;
	json_t *j;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	j = query_person(txn, handle);
	store_read_end(f->st, &txn);
	return j;
}

/* Is there a DB_MENTIONS entry of handle for event e? */
static inline int
fx_mentioned(fx_t *f, const char *handle, const ev_t *e)
{
	uint8_t k[64 + 1 + 8 + CPT_ID_LEN];
	size_t hl = strlen(handle);

	memcpy(k, handle, hl);
	k[hl] = 0;
	store_put_u64(k + hl + 1, e->ts);
	memcpy(k + hl + 9, e->id, CPT_ID_LEN);
	return fx_has(f, DB_MENTIONS, k, hl + 9 + CPT_ID_LEN);
}

/* --------------------------------------------------------- snapshots */

static const char *const fx_db_names[DB_COUNT] = {
    [DB_META] = "meta",
    [DB_EVENTS_V11] = "events",
    [DB_ORDER] = "order",
    [DB_BY_AUTHOR] = "by_author_s",
    [DB_BY_REF] = "by_ref",
    [DB_TOMBSTONES] = "tombstones",
    [DB_PENDING] = "pending",
    [DB_KEYS] = "keys",
    [DB_REVOKED] = "revoked",
    [DB_HANDLES] = "handles",
    [DB_BACKUPS] = "backups",
    [DB_POSTS_V1] = "posts",
    [DB_FEED] = "feed_views",
    [DB_PROFILES] = "profiles",
    [DB_MENTIONS] = "mentions",
    [DB_PEERS] = "peers",
    [DB_BUCKETS_V5] = "buckets",
    [DB_REACTIONS] = "reactions",
    [DB_PENDING_IDS] = "pending_ids",
    [DB_SESSIONS] = "sessions",
    [DB_NOTIFY] = "notify",
    [DB_NOTIFY_BY] = "notify_by",
    [DB_ANNOUNCE] = "announce",
    [DB_MINE] = "mine_s",
    [DB_MINE_KEYS] = "mine_keys",
    [DB_OUTBOX] = "outbox",
    [DB_MAIL] = "mail",
    [DB_BLOB_REFS] = "blob_refs",
    [DB_BUCKETS_L3] = "buckets_3",
    [DB_BUCKETS_L4] = "buckets_4",
    [DB_BUCKETS_L5] = "buckets_5",
    [DB_BUCKETS_L6] = "buckets_6",
    [DB_BUCKETS_L7] = "buckets_7",
    [DB_FEED_V7] = "feed",
    [DB_SPACE_FEED_V7] = "space_feed",
    [DB_SPACE_GOV] = "space_gov_s",
    [DB_SPACE_ITEMS] = "space_items_s",
    [DB_BY_AUTHOR_V8] = "by_author",
    [DB_MINE_V8] = "mine",
    [DB_SPACE_GOV_V8] = "space_gov",
    [DB_SPACE_ITEMS_V8] = "space_items",
    [DB_ENVELOPES] = "envelopes",
    [DB_EVENT_IDS] = "event_ids",
    [DB_REF_NUMS] = "ref_nums",
};

/* Every database but DB_META (its "seq" counts commits) as bytes;
 * DB_EVENT_IDS as each id's stored envelope, DB_ENVELOPES and DB_REF_NUMS
 * not (the numbers follow the order of arrival), and the databases keyed
 * by reference numbers with each number put back as its id
 * (index_ref_canon). */
typedef struct snap {
	uint8_t *data[DB_COUNT];  /* (klen k vlen v)* of each database */
	size_t len[DB_COUNT];     /* its length */
	size_t entries[DB_COUNT]; /* its number of entries */
} snap_t;

/* Whether db is keyed by reference numbers (schema 13). */
static inline int
fx_ref_keyed(int db)
{
	return index_ref_keyed((enum store_db)db);
}

struct fx_canon {
	snap_t *s;
	int db;
	uint8_t *out;
	size_t cap;
};

static inline int
fx_canon_fn(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct fx_canon *c = arg;
	size_t at = c->s->len[c->db], need = at + 16 + klen + vlen;

	if (need > c->cap) {
		while (need > c->cap)
			c->cap *= 2;
		c->out = realloc(c->out, c->cap);
		assert_non_null(c->out);
	}
	store_put_u64(c->out + at, klen);
	memcpy(c->out + at + 8, k, klen);
	store_put_u64(c->out + at + 8 + klen, vlen);
	memcpy(c->out + at + 16 + klen, v, vlen);
	c->s->len[c->db] = need;
	c->s->entries[c->db]++;
	return 0;
}

static inline void
fx_snap(store_t *st, snap_t *s)
{
	store_txn_t *txn;

	memset(s, 0, sizeof(*s));
	assert_int_equal(store_read_begin(st, &txn), 0);
	for (int db = DB_META + 1; db < DB_COUNT; db++) {
		store_cur_t *cur;
		store_val_t k, v;
		size_t cap = 4096;
		uint8_t *out = malloc(cap);

		assert_non_null(out);
		if (fx_ref_keyed(db)) {
			struct fx_canon c = {s, db, out, cap};
			assert_int_equal(index_ref_canon(txn, db, fx_canon_fn, &c), 0);
			s->data[db] = c.out;
			continue;
		}
		assert_int_equal(store_cur_open(txn, db, &cur), 0);
		for (int rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			size_t need;
			/* The envelopes' numbers follow the order they were stored in
			 * (schema 12): the same event set, in another order, numbers
			 * them otherwise. Each id's stored envelope is what is taken. */
			if (db == DB_ENVELOPES || db == DB_REF_NUMS)
				continue;
			if (db == DB_EVENT_IDS &&
			    (k.len != CPT_ID_LEN || index_env_stored(txn, k.data, &v) != 0))
				v = (store_val_t){0, ""}; /* none: compares as empty */
			need = s->len[db] + 16 + k.len + v.len;
			if (need > cap) {
				while (need > cap)
					cap *= 2;
				out = realloc(out, cap);
				assert_non_null(out);
			}
			store_put_u64(out + s->len[db], k.len);
			memcpy(out + s->len[db] + 8, k.data, k.len);
			store_put_u64(out + s->len[db] + 8 + k.len, v.len);
			memcpy(out + s->len[db] + 16 + k.len, v.data, v.len);
			s->len[db] = need;
			s->entries[db]++;
		}
		store_cur_close(&cur);
		s->data[db] = out;
	}
	store_read_end(st, &txn);
}

/* The databases keyed by reference numbers put back under the ids they
 * stand for (each number as its id: what schema 12 and older held), and
 * DB_REF_NUMS emptied (and the meta's "num_floor"): in a write transaction, for a test that makes
 * an older store out of one of this version. */
struct fx_entries {
	uint8_t *p;
	size_t len, cap;
};

static inline int
fx_entry_fn(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct fx_entries *e = arg;
	size_t need = e->len + 16 + klen + vlen;

	if (need > e->cap) {
		while (need > e->cap)
			e->cap = e->cap ? 2 * e->cap : 4096;
		if ((e->p = realloc(e->p, e->cap)) == NULL)
			return CPT_ENOMEM;
	}
	store_put_u64(e->p + e->len, klen);
	memcpy(e->p + e->len + 8, k, klen);
	store_put_u64(e->p + e->len + 8 + klen, vlen);
	memcpy(e->p + e->len + 16 + klen, v, vlen);
	e->len = need;
	return 0;
}

static inline int
fx_ref_unnumber(store_txn_t *txn)
{
	int rc = 0;

	for (int db = DB_META + 1; db < DB_COUNT && rc == 0; db++) {
		struct fx_entries e = {0};
		if (!index_ref_keyed((enum store_db)db))
			continue;
		if ((rc = index_ref_canon(txn, (enum store_db)db, fx_entry_fn, &e)) == 0)
			rc = store_drop(txn, (enum store_db)db);
		for (size_t at = 0; rc == 0 && at < e.len;) {
			size_t kl = store_get_u64(e.p + at), vl = store_get_u64(e.p + at + 8 + kl);
			rc = store_put(txn, (enum store_db)db, e.p + at + 8, kl, e.p + at + 16 + kl,
			               vl);
			at += 16 + kl + vl;
		}
		free(e.p);
	}
	if (rc == 0)
		rc = store_drop(txn, DB_REF_NUMS);
	/* and the floor of the envelopes' numbers that goes with them */
	if (rc == 0 && (rc = store_del(txn, DB_META, "num_floor", 9)) == CPT_ENOTFOUND)
		rc = 0;
	return rc;
}

static inline void
fx_snap_free(snap_t *s)
{
	for (int db = 0; db < DB_COUNT; db++)
		free(s->data[db]);
	memset(s, 0, sizeof(*s));
}

/* The first database that differs, or -1 when equal. */
static inline int
fx_snap_diff(const snap_t *a, const snap_t *b)
{
	for (int db = DB_META + 1; db < DB_COUNT; db++)
		if (a->len[db] != b->len[db] || memcmp(a->data[db], b->data[db], a->len[db]) != 0)
			return db;
	return -1;
}

#define FX_SNAP_EQUAL(a, b, what)                                                                  \
	do {                                                                                       \
		int d_ = fx_snap_diff((a), (b));                                                   \
		if (d_ >= 0)                                                                       \
			fail_msg("%s: database \"%s\" differs (%zu vs %zu entries)", (what),       \
			         fx_db_names[d_] ? fx_db_names[d_] : "?", (a)->entries[d_],        \
			         (b)->entries[d_]);                                                \
	} while (0)

/* ------------------------------------------------------------ random */

/* xorshift64*: a fixed, reproducible sequence for each seed. */
static inline uint64_t
fx_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static inline void
fx_shuffle(ev_t **v, size_t n, uint64_t *seed)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = fx_rand(seed) % i;
		ev_t *t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

#endif
