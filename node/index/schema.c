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

/* Schema 5: the followers of spaces (DB_SPACE_FOLLOWS), and the
 * notifications again, which now name them (space_post). */
static int
s_to_5(store_txn_t *txn, void *arg)
{
	int rc;

	(void)arg;
	if ((rc = ix_follows_rebuild(txn)) == 0 && (rc = ix_notify_rebuild(txn)) == 0)
		rc = s_schema_put(txn, 5);
	return rc;
}

/* Schema 6: the reconciliation index, one database per level (issue 23:
 * full pages). The old one is emptied and the new one made from DB_ORDER;
 * its pages come back to LMDB's free list for the new levels to use. */
static int
s_to_6(store_txn_t *txn, void *arg)
{
	int rc;

	(void)arg;
	if ((rc = store_drop(txn, DB_BUCKETS_V5)) == 0 && (rc = bk_rebuild(txn)) == 0)
		rc = s_schema_put(txn, 6);
	return rc;
}

/* What a step is given: a step that sets more is run again, in a
 * transaction of its own, until it does not (a step too large for one). */
struct schema_run {
	int more; /* run the step again */
};

/* Schema 8: post views as records of what the post's envelope does not
 * hold (views.c, issue 23). The JSON views of DB_FEED_V7 and
 * DB_SPACE_FEED_V7 are read in key order and written to DB_FEED and
 * DB_SPACE_FEED at their end (full pages), at most S_TO_8_BATCH a
 * transaction: a million views in one would keep ~100 MB of dirty pages in
 * the heap. The last transaction empties the old databases and writes the
 * schema; killed in between, the next start goes on after the last key
 * moved. */
#define S_TO_8_BATCH 50000

static int
s_move_views(store_txn_t *txn, enum store_db from, enum store_db to, size_t *budget)
{
	uint8_t at[CPT_ID_LEN + STORE_TSID_LEN];
	store_cur_t *cur;
	store_val_t k, v;
	size_t al = 0;
	int rc;

	if ((rc = store_cur_open(txn, to, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_LAST);
	if (rc == 0 && k.len <= sizeof(at)) {
		memcpy(at, k.data, k.len);
		al = k.len;
	}
	store_cur_close(&cur);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	if ((rc = store_cur_open(txn, from, &cur)) != 0)
		return rc;
	if (al > 0) {
		k.len = al;
		k.data = at;
		rc = store_cur_get(cur, &k, &v, STORE_SEEK);
		if (rc == 0 && k.len == al && memcmp(k.data, at, al) == 0)
			rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	} else {
		rc = store_cur_get(cur, &k, &v, STORE_FIRST);
	}
	for (; rc == 0 && *budget > 0; rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		json_t *view = json_loadb(v.data, v.len, 0, NULL);
		/* Copied: the map's bytes are not ours past the next write. */
		if (k.len > sizeof(at)) {
			json_decref(view);
			continue;
		}
		memcpy(at, k.data, k.len);
		al = k.len;
		rc = view ? ix_view_put(txn, to, at, al, view, 0)
		          : 0; /* one that does not parse: none */
		json_decref(view);
		if (rc != 0)
			break;
		(*budget)--;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

static int
s_to_8(store_txn_t *txn, void *arg)
{
	struct schema_run *run = arg;
	size_t budget = S_TO_8_BATCH;
	int rc;

	run->more = 0; /* this attempt's (store_write runs it again after growing the map) */
	if ((rc = s_move_views(txn, DB_FEED_V7, DB_FEED, &budget)) != 0 ||
	    (rc = s_move_views(txn, DB_SPACE_FEED_V7, DB_SPACE_FEED, &budget)) != 0)
		return rc;
	if (budget == 0) {
		run->more = 1;
		return 0;
	}
	if ((rc = store_drop(txn, DB_FEED_V7)) == 0 &&
	    (rc = store_drop(txn, DB_SPACE_FEED_V7)) == 0)
		rc = s_schema_put(txn, 8);
	return rc;
}

/* Schema 9: the indexes keyed prefix(32) ts(8) id(32) become split
 * databases, one LMDB key per prefix with sorted duplicates (store.h; issue
 * 23: their pages were half full, 20 authors' events interleaving). LMDB
 * keeps a database's flags for its life: each is filled from the flat one
 * it was, SPLIT_CHUNK entries per transaction, each going on where the last
 * committed one stopped, so that a million events need no transaction of a
 * million entries and a step cut short (kill -9) goes on at the next start.
 * Then the flat ones are emptied. run->more (arg) asks for another round. */
#define SPLIT_CHUNK 100000
static int
s_to_9(store_txn_t *txn, void *arg)
{
	size_t left = SPLIT_CHUNK, moved;
	struct schema_run *run = arg;
	int rc;

	run->more = 0;
	for (int db = 0; db < DB_COUNT; db++) {
		if (store_split_old((enum store_db)db) == DB_COUNT)
			continue;
		if ((rc = store_split_fill(txn, (enum store_db)db, left, &moved)) != 0)
			return rc;
		if ((left -= moved) == 0) {
			run->more = 1;
			return 0;
		}
	}
	for (int db = 0; db < DB_COUNT; db++)
		if (store_split_old((enum store_db)db) != DB_COUNT &&
		    (rc = store_drop(txn, store_split_old((enum store_db)db))) != 0)
			return rc;
	return s_schema_put(txn, 9);
}

/* Schema 10: the reconciliation index's level 3 only under dense level-4
 * buckets (issue 23: node/index/buckets.c): rebuilt whole from DB_ORDER,
 * one walk, in one transaction (a crash leaves the schema-6 index). */
static int
s_to_10(store_txn_t *txn, void *arg)
{
	int rc;

	(void)arg;
	if ((rc = bk_rebuild(txn)) == 0)
		rc = s_schema_put(txn, 10);
	return rc;
}

/* Schema 11: every stored envelope rewritten compact (envelopes.c, issue
 * 23: ~69 bytes an event the store can put back), S_TO_11_BATCH a
 * transaction, each going on after the last id the previous one committed
 * (kept in the meta with the rewritten values): a million events need no
 * transaction of a million values, and a step cut short (kill -9) goes on
 * at the next start. A value already compact is left alone. */
#define S_TO_11_BATCH 50000

/* One round of the envelopes' steps (11 and 12): step moves or rewrites up
 * to max envelopes; the last round, which finds none left, writes schema. */
static int
s_env_round(store_txn_t *txn, struct schema_run *run,
            int (*step)(store_txn_t *txn, size_t max, int *done), size_t max, uint64_t schema)
{
	int done = 0, rc;

	run->more = 0;
	if ((rc = step(txn, max, &done)) != 0)
		return rc;
	if (!done) {
		run->more = 1;
		return 0;
	}
	return s_schema_put(txn, schema);
}

static int
s_to_11(store_txn_t *txn, void *arg)
{
	return s_env_round(txn, arg, index_env_compact_step, S_TO_11_BATCH, 11);
}

/* Schema 12: the envelopes under a number of the store's own, in the
 * order stored, with an index from id to number (envelopes.c, issue 23:
 * under their ids, hashes, new envelopes landed at random and LMDB left
 * the pages ~64% full; appended, they fill). S_TO_12_BATCH a transaction,
 * moved in id order and deleted from DB_EVENTS_V11 in the same one: the old
 * database holds what is left to move, so a step cut short (kill -9) goes
 * on at the next start from what the last commit left, and the pages each
 * round frees are taken by the rounds after it. */
#define S_TO_12_BATCH 50000
static int
s_to_12(store_txn_t *txn, void *arg)
{
	return s_env_round(txn, arg, index_env_move_step, S_TO_12_BATCH, 12);
}

/* Schema 13: DB_BY_REF, DB_NOTIFY_BY and DB_REACTIONS keyed by the
 * target's reference number (its number in this store, index_ref_num)
 * instead of its id (issue 23: each reference dirtied a random leaf; the
 * posts referred to are nearly all recent ones, now in the last pages).
 * DB_BY_REF renumbered, DB_NOTIFY_BY made again from DB_NOTIFY and the
 * registers from the reactions in DB_BY_REF, in one transaction: a crash
 * leaves schema 12. */
static int
s_to_13(store_txn_t *txn, void *arg)
{
	int rc;

	(void)arg;
	if ((rc = ix_by_ref_renumber(txn)) == 0 && (rc = ix_notify_by_renumber(txn)) == 0 &&
	    (rc = ix_reactions_build(txn)) == 0)
		rc = s_schema_put(txn, 13);
	return rc;
}

/* The steps, in order: step i moves a store of schema to - 1 to schema to.
 * Stores older than schema 4 hold events of protocol version 1, which no
 * node of version 2 admits, and are refused (index_store_open). */
static const struct schema_step {
	unsigned to;       /* the schema it reaches */
	const char *what;  /* what it does, for a message ("cannot ...") */
	store_write_fn fn; /* the step, in one write transaction; its arg is a
	                      struct schema_run whose more it sets to be run again
	                      (in a new one) */
} s_steps[] = {
    {5, "index the followers of spaces", s_to_5},
    {6, "move the reconciliation index to one database per level", s_to_6},
    {8, "move post views to records of what envelopes do not hold", s_to_8},
    {9, "split the indexes by author, of spaces and of own events", s_to_9},
    {10, "keep the reconciliation index's finest level only where it is dense", s_to_10},
    {11, "store the envelopes compact", s_to_11},
    {12, "store the envelopes in the order stored", s_to_12},
    {13, "key the references, notification groups and reaction registers by the post's number",
     s_to_13},
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
	} else if ((schema = store_get_u64(b)) < INDEX_SCHEMA_V2) {
		/* Version 1's events are refused by version 2 (EVERSION): such a
		 * store cannot be carried over, and no site ever ran one. */
		snprintf(err, errlen,
		         "%s: store schema %llu was made by a comptoir of protocol version 1; this "
		         "one speaks version 2 and cannot read it: make the site again with "
		         "comptoir init (docs/OPERATIONS.md, \"Protocol version 2\")",
		         path, (unsigned long long)schema);
		store_close(&st);
		return CPT_EVERSION;
	} else if (schema > INDEX_SCHEMA) {
		snprintf(err, errlen,
		         "%s: store schema %llu is newer than this comptoir understands (%d); "
		         "run a newer comptoir",
		         path, (unsigned long long)schema, INDEX_SCHEMA);
		store_close(&st);
		return CPT_EVERSION;
	}
	for (size_t i = 0; i < sizeof(s_steps) / sizeof(s_steps[0]); i++) {
		struct schema_run run;
		if (s_steps[i].fn == NULL || s_steps[i].to <= schema)
			continue;
		do {
			run.more = 0;
			rc = store_write(st, s_steps[i].fn, &run);
		} while (rc == 0 && run.more);
		if (rc != 0) {
			snprintf(err, errlen, "%s: cannot %s: %s", path, s_steps[i].what,
			         store_strerror(rc));
			store_close(&st);
			return rc;
		}
	}
	/* A store from before the reconciliation index gets it once, in a
	 * transaction of its own: it may need the map to grow. */
	if (store_read_begin(st, &txn) == 0) {
		nb = store_count(txn, DB_BUCKETS_L7);
		no = store_count(txn, DB_ORDER);
		store_read_end(st, &txn);
	}
	if (nb == 0 && no > 0 && (rc = store_write(st, s_bk_rebuild_fn, NULL)) != 0) {
		snprintf(err, errlen, "%s: cannot build the reconciliation index: %s", path,
		         store_strerror(rc));
		store_close(&st);
		return rc;
	}
	if ((rc = index_env_open(st)) != 0) {
		snprintf(err, errlen, "%s: cannot read the federation of the stored envelopes: %s",
		         path, store_strerror(rc));
		store_close(&st);
		return rc;
	}
	*out = st;
	return 0;
}
