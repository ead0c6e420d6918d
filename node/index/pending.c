/*
 * DB_PENDING_IDS: the events waiting in DB_PENDING (node/event/pending.c)
 * by their id, so that the sync engine's has() answers for them.
 */
#include <string.h>

#include "node/index/index_internal.h"

/* ----------------------------------------------------------- pending */

int
index_pending_id(store_txn_t *txn, const uint8_t k[CPT_KEY_LEN + CPT_ID_LEN], const char *rule)
{
	uint8_t ik[CPT_ID_LEN + CPT_KEY_LEN];
	int rc;

	memcpy(ik, k + CPT_KEY_LEN, CPT_ID_LEN);
	memcpy(ik + CPT_ID_LEN, k, CPT_KEY_LEN);
	if (rule)
		return store_put(txn, DB_PENDING_IDS, ik, sizeof(ik), rule, strlen(rule));
	rc = store_del(txn, DB_PENDING_IDS, ik, sizeof(ik));
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

int
index_is_pending(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	store_cur_t *cur;
	store_val_t k = {CPT_ID_LEN, (void *)id}, v;
	int found;

	if (store_cur_open(txn, DB_PENDING_IDS, &cur) != 0)
		return 0;
	found = store_cur_get(cur, &k, &v, STORE_SEEK) == 0 && k.len == CPT_ID_LEN + CPT_KEY_LEN &&
	        memcmp(k.data, id, CPT_ID_LEN) == 0;
	store_cur_close(&cur);
	return found;
}
