/*
 * The followers of each space (DB_SPACE_FOLLOWS): for each space and each
 * author of a kind 16 event naming it, that author's register (PROTOCOL.md
 * 17.1), so that a new post of the space finds who hears of it (space_post,
 * 17.3) without reading every person's follows.
 */
#include <assert.h>
#include <string.h>

#include "node/index/index_internal.h"

#define FOLLOW_KEY_LEN (CPT_ID_LEN + CPT_KEY_LEN)
#define FOLLOW_VAL_LEN (8 + CPT_ID_LEN + 1)

/* The register of one (author, space) while it is worked out. */
struct reg {
	const uint8_t *space; /* in: the space */
	int found;            /* a follow event of it was seen */
	uint8_t v[FOLLOW_VAL_LEN];
};

/* The space a follow body names, into space: 1, or 0 (a person, or none). */
static int
s_space_of(const json_t *b, uint8_t space[CPT_ID_LEN])
{
	const char *what = json_string_value(json_object_get(b, "what"));
	const char *target = json_string_value(json_object_get(b, "target"));

	return what && target && strcmp(what, "space") == 0 &&
	       cpt_unhex32(space, target, strlen(target)) == 0;
}

/* One of the author's follow events, in (ts, id) order: the last of the
 * space wins. An erased one says nothing. */
static int
s_reg_one(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	struct reg *r = arg;
	uint8_t space[CPT_ID_LEN];
	evt_t ev;
	json_t *b;

	(void)ix;
	(void)kind;
	if (index_event(txn, id, &ev) != 0 || (b = index_body(&ev)) == NULL)
		return 0;
	if (s_space_of(b, space) && memcmp(space, r->space, CPT_ID_LEN) == 0) {
		r->found = 1;
		store_put_u64(r->v, ev.ts);
		memcpy(r->v + 8, id, CPT_ID_LEN);
		r->v[8 + CPT_ID_LEN] = json_is_true(json_object_get(b, "on"));
	}
	json_decref(b);
	return 0;
}

/* The posts of space from (ts, id) on hear again whether who follows it. */
static int
s_posts_from(index_ctx_t *ix, store_txn_t *txn, const uint8_t space[CPT_ID_LEN],
             const uint8_t from[8 + CPT_ID_LEN], const char *who)
{
	uint8_t start[CPT_ID_LEN + 8 + CPT_ID_LEN], post[CPT_ID_LEN];
	store_cur_t *cur;
	store_val_t k = {sizeof(start), start}, v;
	int rc;

	memcpy(start, space, CPT_ID_LEN);
	memcpy(start + CPT_ID_LEN, from, 8 + CPT_ID_LEN);
	if ((rc = store_cur_open(txn, DB_SPACE_FEED, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len == sizeof(start) && memcmp(k.data, space, CPT_ID_LEN) == 0) {
		/* Copied: the notification index writes under the cursor. */
		memcpy(post, (const uint8_t *)k.data + CPT_ID_LEN + 8, CPT_ID_LEN);
		if ((rc = index_notify_post_for(ix, txn, post, who)) != 0)
			break;
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* A follow event came or went: the author's register of its space again,
 * from the follow events that stay. When it changed, the posts of the
 * space after the earlier of the two registers that follow are computed
 * again for the author alone: the others' items do not change. */
int
ix_follows_changed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t space[CPT_ID_LEN], key[FOLLOW_KEY_LEN], old[FOLLOW_VAL_LEN];
	const uint8_t *from = NULL;
	struct reg r = {space, 0, {0}};
	store_val_t ov;
	char who[64];
	int rc, had;

	if (e->body == NULL || !s_space_of(e->body, space))
		return 0;
	memcpy(key, space, CPT_ID_LEN);
	memcpy(key + CPT_ID_LEN, e->ev->author, CPT_KEY_LEN);
	rc = store_get(txn, DB_SPACE_FOLLOWS, key, sizeof(key), &ov);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	had = rc == 0 && ov.len == FOLLOW_VAL_LEN;
	if (had)
		memcpy(old, ov.data, FOLLOW_VAL_LEN);
	if ((rc = index_each_by_author(ix, txn, e->ev->author, EVT_FOLLOW, s_reg_one, &r)) != 0)
		return rc;
	if (had == r.found && (!had || memcmp(old, r.v, FOLLOW_VAL_LEN) == 0))
		return 0;
	rc = r.found ? store_put(txn, DB_SPACE_FOLLOWS, key, sizeof(key), r.v, FOLLOW_VAL_LEN)
	             : store_del(txn, DB_SPACE_FOLLOWS, key, sizeof(key));
	if (rc != 0)
		return rc;
	/* Which posts may change: those after a register that follows. */
	if (had && old[8 + CPT_ID_LEN])
		from = old;
	if (r.found && r.v[8 + CPT_ID_LEN] &&
	    (from == NULL ||
	     store_cmp_tsid(store_get_u64(r.v), r.v + 8, store_get_u64(from), from + 8) < 0))
		from = r.v;
	if (from == NULL || index_handle_cached(ix, txn, e->ev->author, who) != 0)
		return 0;
	return s_posts_from(ix, txn, space, from, who);
}

int
ix_space_followers(index_ctx_t *ix, store_txn_t *txn, const uint8_t space[CPT_ID_LEN], uint64_t ts,
                   const uint8_t id[CPT_ID_LEN], void (*fn)(const char *who, void *arg), void *arg)
{
	store_cur_t *cur;
	store_val_t k = {CPT_ID_LEN, (void *)space}, v;
	char who[64];
	int rc;

	if ((rc = store_cur_open(txn, DB_SPACE_FOLLOWS, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len == FOLLOW_KEY_LEN && memcmp(k.data, space, CPT_ID_LEN) == 0) {
		const uint8_t *r = v.data;
		/* Following, and since before the post. */
		if (v.len == FOLLOW_VAL_LEN && r[8 + CPT_ID_LEN] &&
		    store_cmp_tsid(store_get_u64(r), r + 8, ts, id) < 0 &&
		    index_handle_cached(ix, txn, (const uint8_t *)k.data + CPT_ID_LEN, who) == 0)
			fn(who, arg);
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* Each follow event in (ts, id) order: the last of each (space, author)
 * wins, as s_reg_one decides. */
static int
s_rebuild_fn(store_txn_t *txn, const store_val_t *k, const store_val_t *v, void *arg)
{
	const uint8_t *id = (const uint8_t *)k->data + 8;
	uint8_t key[FOLLOW_KEY_LEN], val[FOLLOW_VAL_LEN];
	evt_t ev;
	json_t *b;
	int rc = 0;

	(void)arg;
	if (k->len != STORE_TSID_LEN || store_get_kind(v) != EVT_FOLLOW ||
	    index_event(txn, id, &ev) != 0 || (b = index_body(&ev)) == NULL)
		return 0;
	if (s_space_of(b, key)) {
		memcpy(key + CPT_ID_LEN, ev.author, CPT_KEY_LEN);
		store_put_u64(val, ev.ts);
		memcpy(val + 8, id, CPT_ID_LEN);
		val[8 + CPT_ID_LEN] = json_is_true(json_object_get(b, "on"));
		rc = store_put(txn, DB_SPACE_FOLLOWS, key, sizeof(key), val, sizeof(val));
	}
	json_decref(b);
	return rc;
}

int
ix_follows_rebuild(store_txn_t *txn)
{
	return store_rebuild(txn, DB_SPACE_FOLLOWS, DB_ORDER, s_rebuild_fn, NULL);
}
