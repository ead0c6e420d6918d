/*
 * Events kept aside (DB_PENDING, under the key they wait for): an event
 * whose author, or the user a site revokes, nobody vouches for yet waits
 * here, bounded, persistent, never dropped, and is admitted through the
 * single path when the certificate or the enrolment arrives.
 */
#include <stdlib.h>
#include <string.h>

#include "node/event/event_internal.h"

#define PENDING_DEPTH 4 /* admitting a certificate admits what waited on it, this deep */

/* The cap applies to new arrivals only: an event already waiting is not refused for want of
 * room, and events moved back from the store (capped = 0) are never dropped. */
int
ev_pending_put(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t wait[CPT_KEY_LEN],
               const uint8_t *raw, size_t raw_len, const uint8_t id[CPT_ID_LEN], int capped)
{
	uint8_t k[CPT_KEY_LEN + CPT_ID_LEN];
	store_val_t v;
	int rc;

	memcpy(k, wait, CPT_KEY_LEN);
	memcpy(k + CPT_KEY_LEN, id, CPT_ID_LEN);
	rc = store_get(txn, DB_PENDING, k, sizeof(k), &v);
	if (rc == 0 && v.len >= raw_len)
		return 0; /* waits already, with its body if it has one */
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	if (rc == CPT_ENOTFOUND && capped && store_count(txn, DB_PENDING) >= ctx->max_pending)
		return CPT_EFULL;
	if ((rc = store_put(txn, DB_PENDING, k, sizeof(k), raw, raw_len)) != 0)
		return rc;
	return index_pending_id(txn, k, 1);
}

/* Admits what waited for key. Each entry is taken out before it is ingested
 * again; one that must wait again for the same key goes back under the same
 * (key, id), so the walk resumes strictly after the last id seen and ends. */
int
ev_pending_release(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], int depth)
{
	uint8_t from[CPT_KEY_LEN + CPT_ID_LEN];
	int rc, first = 1;

	if (depth >= PENDING_DEPTH)
		return 0;
	memcpy(from, key, CPT_KEY_LEN);
	memset(from + CPT_KEY_LEN, 0, CPT_ID_LEN);
	for (;;) {
		store_cur_t *cur;
		store_val_t k = {sizeof(from), from}, v;
		uint8_t *copy;
		size_t len;
		ingest_res_t res;

		if ((rc = store_cur_open(txn, DB_PENDING, &cur)) != 0)
			return rc;
		rc = store_cur_get(cur, &k, &v, STORE_SEEK);
		if (rc == 0 && !first && k.len == sizeof(from) &&
		    memcmp(k.data, from, sizeof(from)) == 0)
			rc = store_cur_get(cur, &k, &v, STORE_NEXT);
		if (rc == CPT_ENOTFOUND ||
		    (rc == 0 && (k.len != sizeof(from) || memcmp(k.data, key, CPT_KEY_LEN) != 0))) {
			store_cur_close(&cur);
			return 0;
		}
		if (rc != 0) {
			store_cur_close(&cur);
			return rc;
		}
		memcpy(from, k.data, sizeof(from));
		first = 0;
		len = v.len;
		if ((copy = malloc(len)) == NULL) {
			store_cur_close(&cur);
			return CPT_ENOMEM;
		}
		memcpy(copy, v.data, len);
		rc = store_cur_del(cur);
		store_cur_close(&cur);
		if (rc == 0)
			rc = index_pending_id(txn, from, 0);
		if (rc == 0)
			rc = ev_ingest_one(ctx, txn, copy, len, &res, depth + 1, 0, NULL);
		free(copy);
		if (rc != 0)
			return rc;
	}
}

/* A site certificate came: what waited for the site's key. */
int
ev_admit_site(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e, int depth)
{
	uint8_t sk[CPT_KEY_LEN];

	return index_hex_field(e->body, "sign_key", sk) == 0
	           ? ev_pending_release(ctx, txn, sk, depth)
	           : 0;
}

/* An enrolment came: what waited for the user's key. */
int
ev_admit_user(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e, int depth)
{
	uint8_t uk[CPT_KEY_LEN];

	return index_hex_field(e->body, "key", uk) == 0 ? ev_pending_release(ctx, txn, uk, depth)
	                                                : 0;
}
