/*
 * The version of what the store holds, and the steps that move an older
 * store forward: a table, run in order at open, each in a write
 * transaction of its own that calls down into the store and the indexes.
 * The store itself knows no version: only meta values.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/index/index_internal.h"

static int
s_schema_put(store_txn_t *txn, uint64_t schema)
{
	uint8_t b[8];

	store_put_u64(b, schema);
	return store_meta_put(txn, "schema", b, 8);
}

/* Schema 1 -> 2: each post view moves from "posts" (under its id) into the
 * feed entry (ts, id) that already pointed at it. Views are rebuilt from the
 * events by `comptoir reindex`; this only moves bytes, in one transaction. */
static int
s_to_2(store_txn_t *txn, void *arg)
{
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	uint8_t at[512]; /* the key last seen (LMDB keys: at most 511 bytes) */
	size_t at_len = 0;
	int first = 1;

	(void)arg;
	if ((rc = store_cur_open(txn, DB_FEED, &cur)) != 0)
		return rc;
	/* Puts go through store_put and the cursor seeks again after each: a
	 * value that changes size moves within its page. */
	for (;;) {
		store_val_t pv;
		void *copy;
		if (first) {
			rc = store_cur_get(cur, &k, &v, STORE_FIRST);
		} else {
			k.len = at_len;
			k.data = at;
			rc = store_cur_get(cur, &k, &v, STORE_SEEK);
			if (rc == 0 && k.len == at_len && memcmp(k.data, at, at_len) == 0)
				rc = store_cur_get(cur, &k, &v, STORE_NEXT);
		}
		first = 0;
		if (rc != 0)
			break;
		at_len = k.len < sizeof(at) ? k.len : sizeof(at) - 1;
		memcpy(at, k.data, at_len);
		if (k.len != 8 + CPT_ID_LEN)
			continue; /* not a feed key: left as it is */
		rc = store_get(txn, DB_POSTS_V1, at + 8, CPT_ID_LEN, &pv);
		if (rc == CPT_ENOTFOUND)
			continue;
		/* A copy: pv points into the map, which the put may rearrange. */
		if (rc != 0 || (copy = malloc(pv.len ? pv.len : 1)) == NULL) {
			rc = rc ? rc : CPT_ENOMEM;
			break;
		}
		memcpy(copy, pv.data, pv.len);
		rc = store_put(txn, DB_FEED, at, at_len, copy, pv.len);
		free(copy);
		if (rc != 0)
			break;
	}
	store_cur_close(&cur);
	if (rc != CPT_ENOTFOUND)
		return rc;
	if ((rc = store_drop(txn, DB_POSTS_V1)) != 0)
		return rc;
	return s_schema_put(txn, 2);
}

/* One DB_PENDING entry into DB_PENDING_IDS. */
static int
s_pending_id_fn(store_txn_t *txn, const store_val_t *k, const store_val_t *v, void *arg)
{
	(void)v;
	(void)arg;
	return k->len == CPT_KEY_LEN + CPT_ID_LEN ? index_pending_id(txn, k->data, 1) : 0;
}

/* Schema 2 -> 3: the reaction registers from the reactions stored, and the
 * index of waiting events by id. */
static int
s_to_3(store_txn_t *txn, void *arg)
{
	int rc = ix_reactions_build(txn);

	(void)arg;
	if (rc == 0)
		rc = store_rebuild(txn, DB_PENDING_IDS, DB_PENDING, s_pending_id_fn, NULL);
	return rc != 0 ? rc : s_schema_put(txn, 3);
}

/* One event of kind 17 or 18 stored by an older binary (an unknown kind to
 * it) into DB_MINE or DB_ANNOUNCE, through the index's own hook. */
static int
s_kind_4_fn(store_txn_t *txn, const store_val_t *k, const store_val_t *v, void *arg)
{
	uint16_t kind = store_get_kind(v);
	index_ctx_t *ix = arg;
	index_ev_t e = {0};
	uint8_t ref[CPT_ID_LEN];
	json_t *body;
	evt_t ev;
	int rc;

	if (k->len != STORE_TSID_LEN || (kind != EVT_MINE && kind != EVT_ANNOUNCE) ||
	    index_event(txn, (const uint8_t *)k->data + 8, &ev) != 0 || ev.body == NULL)
		return 0;
	body = index_body(&ev);
	e.ev = &ev;
	e.body = body;
	e.id = (const uint8_t *)k->data + 8;
	if (kind == EVT_MINE)
		rc = ix_mine_added(ix, txn, &e);
	else if (body && index_hex_field(body, "post", ref) == 0 && (e.ref = ref) != NULL)
		rc = ix_announce_added(ix, txn, &e);
	else
		rc = 0;
	json_decref(body);
	return rc;
}

/* Schema 3 -> 4: the notifications, from the posts and what refers to them;
 * the indexes of kinds 17 and 18, from such events an older binary kept. */
static int
s_to_4(store_txn_t *txn, void *arg)
{
	index_ctx_t ix = {0};
	int rc = ix_notify_rebuild(txn);

	(void)arg;
	if (rc == 0)
		rc = store_drop(txn, DB_MINE);
	if (rc == 0)
		rc = store_rebuild(txn, DB_ANNOUNCE, DB_ORDER, s_kind_4_fn, &ix);
	index_ctx_release(&ix);
	return rc != 0 ? rc : s_schema_put(txn, 4);
}

/* The steps, in order: step i moves a store of schema to - 1 to schema to. */
static const struct schema_step {
	unsigned to;       /* the schema it reaches */
	const char *what;  /* what it does, for a message ("cannot ...") */
	store_write_fn fn; /* the step, in one write transaction */
} s_steps[] = {
    {2, "move the post views to schema 2", s_to_2},
    {3, "build the indexes of schema 3", s_to_3},
    {4, "build the notifications (schema 4)", s_to_4},
};

static int
s_bk_rebuild_fn(store_txn_t *txn, void *arg)
{
	(void)arg;
	return bk_rebuild(txn);
}

/* What the opening transaction found of the schema. */
struct first {
	int rc;       /* store_meta_get's answer */
	uint8_t b[8]; /* the value */
	size_t len;   /* its length */
};

/* In the transaction that opens the store: a new store is made by this
 * version, and says so in its first commit. */
static int
s_first(store_txn_t *txn, void *arg)
{
	struct first *f = arg;

	f->len = sizeof(f->b);
	f->rc = store_meta_get(txn, "schema", f->b, &f->len);
	return f->rc == CPT_ENOTFOUND ? s_schema_put(txn, INDEX_SCHEMA) : 0;
}

int
index_store_open(store_t **out, const char *dir, int flags, char *err, size_t errlen)
{
	store_t *st = NULL;
	store_txn_t *txn;
	char path[4200];
	uint8_t b[8];
	size_t len = sizeof(b), nb = 0, no = 0;
	uint64_t schema = 0;
	struct first first;
	int rc;

	assert(out != NULL && dir != NULL);
	*out = NULL;
	if ((rc = store_open(&st, dir, flags, s_first, &first, err, errlen)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/store", dir);
	rc = first.rc;
	len = first.len;
	memcpy(b, first.b, sizeof(b));
	if (rc == CPT_ENOTFOUND) {
		schema = INDEX_SCHEMA; /* a new store, written so by s_first */
	} else if (rc == CPT_ETOOBIG || (rc == 0 && len != 8)) {
		snprintf(err, errlen,
		         "%s: store schema is not a version this comptoir knows (%zu bytes)", path,
		         len);
		store_close(&st);
		return CPT_EVERSION;
	} else if (rc != 0) {
		snprintf(err, errlen, "%s: %s", path, store_strerror(rc));
		store_close(&st);
		return rc;
	} else if ((schema = store_get_u64(b)) > INDEX_SCHEMA) {
		snprintf(err, errlen,
		         "%s: store schema %llu is newer than this comptoir understands (%d); "
		         "run a newer comptoir",
		         path, (unsigned long long)schema, INDEX_SCHEMA);
		store_close(&st);
		return CPT_EVERSION;
	}
	for (size_t i = 0; i < sizeof(s_steps) / sizeof(s_steps[0]); i++) {
		if (s_steps[i].to <= schema)
			continue;
		if ((rc = store_write(st, s_steps[i].fn, NULL)) != 0) {
			snprintf(err, errlen, "%s: cannot %s: %s", path, s_steps[i].what,
			         store_strerror(rc));
			store_close(&st);
			return rc;
		}
	}
	/* A store from before the reconciliation index gets it once, in a
	 * transaction of its own: it may need the map to grow. */
	if (store_read_begin(st, &txn) == 0) {
		nb = store_count(txn, DB_BUCKETS);
		no = store_count(txn, DB_ORDER);
		store_read_end(st, &txn);
	}
	if (nb == 0 && no > 0 && (rc = store_write(st, s_bk_rebuild_fn, NULL)) != 0) {
		snprintf(err, errlen, "%s: cannot build the reconciliation index: %s", path,
		         store_strerror(rc));
		store_close(&st);
		return rc;
	}
	*out = st;
	return 0;
}
