/*
 * What the sync engine calls to reach the store (sync_ops_t): has, get,
 * put (writer.c), the (ts, id) scan, reconciliation fingerprints, splits
 * and our newest keys, and the admission of a transport key.
 * Called from the sync thread only; each read is its own short transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/fed/fed_internal.h"
#include "node/index/index.h"

/* The store of the node whose federation ctx is. */
static store_t *
s_store(void *ctx)
{
	return node_store(((fed_t *)ctx)->node);
}

static int
s_has(void *ctx, const uint8_t id[CPT_ID_LEN])
{
	store_t *st = s_store(ctx);
	store_txn_t *txn;
	int found;

	/* On its way to the store (verified or committed now): asked for
	 * again, it crossed the link twice. */
	if (fed_writer_on_way(((fed_t *)ctx)->writer, id))
		return 1;
	if (store_read_begin(st, &txn) != 0)
		return 1; /* cannot tell: do not ask for it now */
	/* Or waiting for its author's certificate: asking again would only
	 * bring the same bytes back at every reconciliation. */
	found = index_env_ts(txn, id, NULL) == 0 || index_is_pending(txn, id);
	store_read_end(st, &txn);
	return found;
}

static uint8_t *
s_get(void *ctx, const uint8_t id[CPT_ID_LEN], size_t *len)
{
	store_t *st = s_store(ctx);
	store_txn_t *txn;
	index_env_t v;
	uint8_t *copy = NULL;

	if (store_read_begin(st, &txn) != 0)
		return NULL;
	if (index_env_read(txn, id, &v) == 0)
		copy = index_env_dup(&v, len);
	store_read_end(st, &txn);
	return copy;
}

/* Copies of n envelopes in one read transaction. */
static void
s_get_many(void *ctx, const uint8_t (*ids)[CPT_ID_LEN], size_t n, uint8_t **out, size_t *len)
{
	store_t *st = s_store(ctx);
	store_txn_t *txn;
	index_env_t v;

	memset(out, 0, n * sizeof(*out));
	if (store_read_begin(st, &txn) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (index_env_read(txn, ids[i], &v) == 0)
			out[i] = index_env_dup(&v, &len[i]);
	store_read_end(st, &txn);
}

static size_t
s_scan(void *ctx, const uint8_t *after, uint8_t (*out)[SYNC_TSID_LEN], size_t max)
{
	store_t *st = s_store(ctx);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t n = 0;
	int rc;

	if (store_read_begin(st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_ORDER, &cur) != 0) {
		store_read_end(st, &txn);
		return 0;
	}
	if (after) {
		k.len = SYNC_TSID_LEN;
		k.data = (void *)after;
		rc = store_cur_get(cur, &k, &v, STORE_SEEK);
		if (rc == 0 && k.len == SYNC_TSID_LEN && memcmp(k.data, after, SYNC_TSID_LEN) == 0)
			rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	} else {
		rc = store_cur_get(cur, &k, &v, STORE_FIRST);
	}
	for (; rc == 0 && n < max; rc = store_cur_get(cur, &k, &v, STORE_NEXT))
		if (k.len == SYNC_TSID_LEN)
			memcpy(out[n++], k.data, SYNC_TSID_LEN);
	store_cur_close(&cur);
	store_read_end(st, &txn);
	return n;
}

/* Is curve_pk the transport key of a site certified now? Scans the site
 * records: sites are few, and handshakes rare. */
static int
s_admit(void *ctx, const uint8_t curve_pk[CPT_KEY_LEN], uint8_t sign_key[CPT_KEY_LEN],
        char site[64])
{
	node_t *node = ((fed_t *)ctx)->node;
	store_t *st = node_store(node);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	char want[CPT_HEX_ID];
	int ok = 0, rc;
	/* A private context: the node's belongs to the writer thread, and its
	 * cache may hold a key record from before a revocation. */
	ingest_ctx_t ic = *node_ingest_ctx(node);

	memset(&ic.ix, 0, sizeof(ic.ix));
	ic.work = NULL;  /* its own, released below */
	ic.later = NULL; /* the node's list stays the node's */
	ic.n_later = ic.cap_later = 0;
	ic.verified = NULL;
	cpt_hex32(want, curve_pk);
	if (store_read_begin(st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_KEYS, &cur) == 0) {
		for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && !ok;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			json_t *rec;
			const char *type, *ck;
			if (k.len != CPT_KEY_LEN || memmem(v.data, v.len, want, 64) == NULL)
				continue;
			if ((rec = json_loadb(v.data, v.len, 0, NULL)) == NULL)
				continue;
			type = json_string_value(json_object_get(rec, "type"));
			ck = json_string_value(json_object_get(rec, "curve_key"));
			if (type && strcmp(type, "site") == 0 && ck && strcmp(ck, want) == 0 &&
			    event_key_status(&ic, txn, k.data, hlc_wall_ms(), NULL) ==
			        EVENT_KEY_SITE) {
				memcpy(sign_key, k.data, CPT_KEY_LEN);
				snprintf(site, 64, "%s",
				         json_string_value(json_object_get(rec, "site")));
				ok = 1;
			}
			json_decref(rec);
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	ingest_ctx_release(&ic);
	return ok;
}

static int
s_lookup(void *ctx, const uint8_t sign_key[CPT_KEY_LEN], uint8_t curve_pk[CPT_KEY_LEN],
         char site[64])
{
	store_t *st = s_store(ctx);
	store_txn_t *txn;
	json_t *rec;
	int rc = CPT_ENOTFOUND;

	if (store_read_begin(st, &txn) != 0)
		return CPT_EIO;
	rec = index_key_info(txn, sign_key);
	store_read_end(st, &txn);
	if (rec && json_string_value(json_object_get(rec, "type")) &&
	    strcmp(json_string_value(json_object_get(rec, "type")), "site") == 0 &&
	    index_hex_field(rec, "curve_key", curve_pk) == 0) {
		snprintf(site, 64, "%s", json_string_value(json_object_get(rec, "site")));
		rc = 0;
	}
	json_decref(rec);
	return rc;
}

static void
s_fingerprint(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t *count, uint8_t fp[16])
{
	store_t *st = s_store(ctx);
	store_txn_t *txn;
	uint8_t sum[32] = {0};

	*count = 0;
	if (store_read_begin(st, &txn) == 0) {
		bk_fingerprint(txn, lo, hi, count, sum);
		store_read_end(st, &txn);
	}
	recon_fingerprint(fp, sum, *count);
}

static size_t
s_items(void *ctx, const uint8_t *lo, const uint8_t *hi, uint8_t (*out)[SYNC_TSID_LEN], size_t max)
{
	store_t *st = s_store(ctx);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k = {SYNC_TSID_LEN, (void *)lo}, v;
	size_t n = 0;
	int rc;

	if (store_read_begin(st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_ORDER, &cur) == 0) {
		for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0 && n < max;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			if (k.len != SYNC_TSID_LEN)
				continue;
			if (memcmp(k.data, hi, SYNC_TSID_LEN) >= 0)
				break;
			memcpy(out[n++], k.data, SYNC_TSID_LEN);
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	return n;
}

static size_t
s_split(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t count, size_t k,
        uint8_t (*bounds)[SYNC_TSID_LEN])
{
	store_t *st = s_store(ctx);
	store_txn_t *txn;
	size_t n = 0;

	if (store_read_begin(st, &txn) != 0)
		return 0;
	n = bk_split(txn, lo, hi, count, k, bounds);
	store_read_end(st, &txn);
	return n;
}

/* Up to max of our newest (ts, id) keys, in increasing order: DB_ORDER
 * walked back from its end. */
static size_t
s_recent(void *ctx, uint8_t (*out)[SYNC_TSID_LEN], size_t max)
{
	store_t *st = s_store(ctx);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t n = 0;

	if (max == 0 || store_read_begin(st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_ORDER, &cur) == 0) {
		int rc;
		for (rc = store_cur_get(cur, &k, &v, STORE_LAST); rc == 0 && n < max;
		     rc = store_cur_get(cur, &k, &v, STORE_PREV))
			if (k.len == SYNC_TSID_LEN)
				memcpy(out[max - 1 - n++], k.data, SYNC_TSID_LEN);
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	/* Filled from the end of out: moved to its start. */
	if (n < max)
		memmove(out, out + (max - n), n * SYNC_TSID_LEN);
	return n;
}

/* The events the peer sign_key may lack (unsent.c's count at the last
 * tick, from its watermark): sizes the opening of a heal. */
static uint64_t
s_unsent(void *ctx, const uint8_t sign_key[CPT_KEY_LEN])
{
	fed_t *f = ctx;
	uint64_t n = 0;

	pthread_mutex_lock(&f->unsent_lock);
	for (size_t i = 0; i < f->n_unsent; i++)
		if (memcmp(f->unsent[i].key, sign_key, CPT_KEY_LEN) == 0 && f->unsent[i].known)
			n = f->unsent[i].count;
	pthread_mutex_unlock(&f->unsent_lock);
	return n;
}

void
fed_sync_ops(fed_t *f, sync_ops_t *ops)
{
	ops->recent = s_recent;
	ops->unsent = s_unsent;
	ops->fingerprint = s_fingerprint;
	ops->items = s_items;
	ops->split = s_split;
	ops->ctx = f;
	ops->has = s_has;
	ops->get = s_get;
	ops->get_many = s_get_many;
	ops->put = fed_put;
	ops->scan = s_scan;
	ops->admit = s_admit;
	ops->lookup = s_lookup;
}
