/*
 * Tombstones (DB_TOMBSTONES: target id, redaction id): every redaction held,
 * even when its target has not arrived, so that a body it erases is never
 * accepted again. Whether a redaction may erase is node/event's rule.
 */
#include <string.h>

#include "node/index/index_internal.h"

/* The key (target, redaction). */
static void
s_key(uint8_t k[2 * CPT_ID_LEN], const uint8_t target[CPT_ID_LEN], const uint8_t rid[CPT_ID_LEN])
{
	memcpy(k, target, CPT_ID_LEN);
	memcpy(k + CPT_ID_LEN, rid, CPT_ID_LEN);
}

int
ix_tombstones_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t k[2 * CPT_ID_LEN];

	(void)ix;
	if (e->ref == NULL)
		return 0;
	s_key(k, e->ref, e->id);
	return store_put(txn, DB_TOMBSTONES, k, sizeof(k), "", 0);
}

int
ix_tombstones_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t k[2 * CPT_ID_LEN];

	(void)ix;
	if (e->ref == NULL || e->body == NULL)
		return 0;
	s_key(k, e->ref, e->id);
	return store_del(txn, DB_TOMBSTONES, k, sizeof(k));
}

int
index_tombstones(store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
                 int (*fn)(void *arg, const uint8_t rid[CPT_ID_LEN]), void *arg)
{
	store_cur_t *cur;
	store_val_t k = {CPT_ID_LEN, id}, v;
	int rc, stop = 0;

	if (store_cur_open(txn, DB_TOMBSTONES, &cur) != 0)
		return 0;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len == 2 * CPT_ID_LEN && memcmp(k.data, id, CPT_ID_LEN) == 0) {
		if ((stop = fn(arg, (const uint8_t *)k.data + CPT_ID_LEN)) != 0)
			break;
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return stop;
}
