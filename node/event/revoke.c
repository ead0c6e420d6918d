/*
 * Revocations: a revocation always wins, whatever the arrival order. What
 * the key signed from the effective time on leaves the store (even what
 * was stored before the revocation arrived); a site revoked from before it
 * enrolled a user never vouched for that user, whose events go back to
 * waiting as if the enrolment had never come. The revoked time itself is a
 * record of node/index/keys.c.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/event/event_internal.h"

/* Deletes every event by key from effective_ms on: a revocation always wins,
 * even over events stored before it arrived. */
static int
s_purge_after(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN],
              uint64_t effective_ms)
{
	uint8_t from[CPT_KEY_LEN + 8], k[CPT_KEY_LEN + 8 + CPT_ID_LEN];
	int rc;

	memcpy(from, key, CPT_KEY_LEN);
	store_put_u64(from + CPT_KEY_LEN, HLC_MAKE(effective_ms, 0));
	for (;;) {
		store_cur_t *cur;
		store_val_t mk = {sizeof(from), from}, mv;

		if ((rc = store_cur_open(txn, DB_BY_AUTHOR, &cur)) != 0)
			return rc;
		rc = store_cur_get(cur, &mk, &mv, STORE_SEEK);
		if (rc != 0 || mk.len != sizeof(k) || memcmp(mk.data, key, CPT_KEY_LEN) != 0) {
			store_cur_close(&cur);
			return rc == CPT_ENOTFOUND || rc == 0 ? 0 : rc;
		}
		memcpy(k, mk.data, sizeof(k));
		store_cur_close(&cur);
		rc = ev_remove(ctx, txn, k + CPT_KEY_LEN + 8, NULL, NULL);
		if (rc == CPT_ENOTFOUND)
			rc = store_del(txn, DB_BY_AUTHOR, k, sizeof(k));
		if (rc != 0)
			return rc;
	}
}

/* Moves one stored event back to pending, waiting for key. An index entry k
 * (of db) without its event is dropped instead. */
static int
s_unadmit_one(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN],
              const uint8_t id[CPT_ID_LEN], enum store_db db, const uint8_t *k, size_t klen)
{
	uint8_t *raw;
	size_t len;
	int rc = ev_remove(ctx, txn, id, &raw, &len);

	if (rc == CPT_ENOTFOUND)
		return store_del(txn, db, k, klen);
	if (rc != 0)
		return rc;
	rc = ev_pending_put(ctx, txn, key, raw, len, id, 0);
	free(raw);
	return rc;
}

/* Moves every stored event by key back to pending, and the revocations of key
 * by its site: nothing vouches for key any more, exactly as if its enrolment
 * had never come, in which case they would all be waiting for it. */
static int
s_unadmit(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	uint8_t k[CPT_KEY_LEN + 8 + CPT_ID_LEN], *ids = NULL;
	size_t n = 0, cap = 0;
	store_cur_t *cur;
	store_val_t mk, mv;
	int rc;

	/* What key signed: take the first until none is left. */
	for (;;) {
		mk.len = CPT_KEY_LEN;
		mk.data = (void *)key;
		if ((rc = store_cur_open(txn, DB_BY_AUTHOR, &cur)) != 0)
			return rc;
		rc = store_cur_get(cur, &mk, &mv, STORE_SEEK);
		if (rc != 0 || mk.len != sizeof(k) || memcmp(mk.data, key, CPT_KEY_LEN) != 0) {
			store_cur_close(&cur);
			if (rc != 0 && rc != CPT_ENOTFOUND)
				return rc;
			break;
		}
		memcpy(k, mk.data, sizeof(k));
		store_cur_close(&cur);
		if ((rc = s_unadmit_one(ctx, txn, key, k + CPT_KEY_LEN + 8, DB_BY_AUTHOR, k,
		                        sizeof(k))) != 0)
			return rc;
	}
	/* Revocations of key by a site wait for its enrolment; the root's need
	 * none and stay. Collected first: removing them rewrites DB_BY_REF. */
	mk.len = CPT_KEY_LEN;
	mk.data = (void *)key;
	if ((rc = store_cur_open(txn, DB_BY_REF, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &mk, &mv, STORE_SEEK);
	while (rc == 0 && mk.len == sizeof(k) && memcmp(mk.data, key, CPT_KEY_LEN) == 0) {
		evt_t r;
		const uint8_t *id = (const uint8_t *)mk.data + CPT_KEY_LEN + 8;
		if (mv.len == 2 && ((uint8_t *)mv.data)[0] == 0 &&
		    ((uint8_t *)mv.data)[1] == EVT_REVOKE && index_event(txn, id, &r) == 0 &&
		    sodium_memcmp(r.author, ctx->root, CPT_KEY_LEN) != 0) {
			if (n == cap) {
				uint8_t *bigger =
				    realloc(ids, (cap = cap ? 2 * cap : 8) * sizeof(k));
				if (bigger == NULL) {
					store_cur_close(&cur);
					free(ids);
					return CPT_ENOMEM;
				}
				ids = bigger;
			}
			memcpy(ids + n++ * sizeof(k), mk.data, sizeof(k));
		}
		rc = store_cur_get(cur, &mk, &mv, STORE_NEXT);
	}
	store_cur_close(&cur);
	rc = rc == CPT_ENOTFOUND ? 0 : rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const uint8_t *e = ids + i * sizeof(k);
		rc = s_unadmit_one(ctx, txn, key, e + CPT_KEY_LEN + 8, DB_BY_REF, e, sizeof(k));
	}
	free(ids);
	return rc;
}

/*
 * A revocation came; node/index/keys.c has lowered the key's revoked time
 * when this one is earlier. Anything the key signed from then on goes.
 * When the key's revoked time is earlier than this one's, an earlier
 * revocation purged from then already, and nothing by the key was accepted
 * since: there is nothing to purge (the same time: a purge that finds
 * nothing).
 */
int
ev_revoke_apply(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e, int depth)
{
	uint8_t key[CPT_KEY_LEN];
	uint64_t eff = (uint64_t)json_integer_value(json_object_get(e->body, "effective"));

	(void)depth;
	if (index_hex_field(e->body, "key", key) != 0 || eff > index_revoked_at(txn, key))
		return 0;
	return s_purge_after(ctx, txn, key, eff);
}

/* An enrolment went (its site was revoked from before it was made; its
 * record is gone from node/index/keys.c): when no other enrolment vouches
 * for the key, it is as if the enrolment had not come. */
int
ev_enrol_remove(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t uk[CPT_KEY_LEN];
	store_val_t v;
	int rc;

	if (index_hex_field(e->body, "key", uk) != 0)
		return 0;
	rc = store_get(txn, DB_KEYS, uk, CPT_KEY_LEN, &v);
	if (rc != CPT_ENOTFOUND)
		return rc; /* another enrolment still vouches for it, or an error */
	return s_unadmit(ctx, txn, uk);
}
