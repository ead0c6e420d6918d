/*
 * Key backups (DB_BACKUPS): the newest key-backup event of each user key,
 * which a login opens with the password.
 */
#include <string.h>

#include "node/index/index_internal.h"

static int
s_backup_ev(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	evt_t ev;
	uint8_t *out = arg;

	if (index_event(txn, id, &ev) != 0 || ev.body == NULL)
		return 0;
	store_put_u64(out, ev.ts);
	memcpy(out + 8, id, CPT_ID_LEN);
	return 0;
}

static int
s_backup_rebuild(index_ctx_t *ix, store_txn_t *txn, const uint8_t author[CPT_KEY_LEN])
{
	uint8_t newest[8 + CPT_ID_LEN] = {0};
	int rc = index_each_by_author(ix, txn, author, EVT_KEY_BACKUP, s_backup_ev, newest);

	if (rc != 0)
		return rc;
	if (store_get_u64(newest) == 0)
		return store_del(txn, DB_BACKUPS, author, CPT_KEY_LEN);
	return store_put(txn, DB_BACKUPS, author, CPT_KEY_LEN, newest, sizeof(newest));
}

int
ix_backups_changed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	return s_backup_rebuild(ix, txn, e->ev->author);
}

int
index_backup(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t *ts, uint8_t id[CPT_ID_LEN])
{
	store_val_t v;
	int rc = store_get(txn, DB_BACKUPS, key, CPT_KEY_LEN, &v);

	if (rc != 0)
		return rc;
	if (v.len != 8 + CPT_ID_LEN)
		return CPT_EINVAL;
	*ts = store_get_u64(v.data);
	memcpy(id, (const uint8_t *)v.data + 8, CPT_ID_LEN);
	return 0;
}
