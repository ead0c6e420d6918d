/*
 * The stored envelopes: the one place that knows how the signed bytes of
 * each admitted event are laid out in the store. Every reader of "the
 * envelope of id" and every writer of one goes through here.
 */
#include <string.h>

#include "node/index/index_internal.h"

int
index_env_get(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], store_val_t *out)
{
	return store_get(txn, DB_EVENTS, id, CPT_ID_LEN, out);
}

int
index_env_ts(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint64_t *ts)
{
	store_val_t v;
	int rc = store_get(txn, DB_EVENTS, id, CPT_ID_LEN, &v);

	if (rc != 0)
		return rc;
	if (v.len < EVT_FIXED_LEN)
		return CPT_EINVAL;
	if (ts)
		*ts = store_env_ts(v.data);
	return 0;
}

int
index_env_put(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const void *env, size_t len,
              int flags)
{
	if (len < EVT_FIXED_LEN)
		return CPT_EINVAL;
	return (flags & INDEX_ENV_NEW) ? store_put_new(txn, DB_EVENTS, id, CPT_ID_LEN, env, len)
	                               : store_put(txn, DB_EVENTS, id, CPT_ID_LEN, env, len);
}

int
index_env_del(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	return store_del(txn, DB_EVENTS, id, CPT_ID_LEN);
}

const enum store_db *
index_env_dbs(size_t *n)
{
	static const enum store_db dbs[] = {DB_EVENTS};

	*n = sizeof(dbs) / sizeof(dbs[0]);
	return dbs;
}

size_t
index_env_count(store_txn_t *txn)
{
	return store_count(txn, DB_EVENTS);
}

int
index_env_each(store_txn_t *txn, index_env_fn fn, void *arg)
{
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	if ((rc = store_cur_open(txn, DB_EVENTS, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		const uint8_t *id = k.len == CPT_ID_LEN ? k.data : NULL;
		if ((rc = fn(arg, id, &v)) != 0)
			break;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}
