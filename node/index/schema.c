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

/* The steps, in order: step i moves a store of schema to - 1 to schema to.
 * Stores older than schema 4 hold events of protocol version 1, which no
 * node of version 2 admits, and are refused (index_store_open). */
static const struct schema_step {
	unsigned to;       /* the schema it reaches */
	const char *what;  /* what it does, for a message ("cannot ...") */
	store_write_fn fn; /* the step, in one write transaction */
} s_steps[] = {
    {5, "index the followers of spaces", s_to_5},
    {6, "move the reconciliation index to one database per level", s_to_6},
    {10, "keep the reconciliation index's finest level only where it is dense", s_to_10},
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
		if (s_steps[i].fn == NULL || s_steps[i].to <= schema)
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
	*out = st;
	return 0;
}
