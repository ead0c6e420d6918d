/*
 * The base indexes every event gets when it is stored: its place in time
 * (DB_ORDER, with the reconciliation index), by author (DB_BY_AUTHOR) and
 * by what it refers to (DB_BY_REF); and reading stored events back.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "node/index/index_internal.h"

/* ------------------------------------------------------- stored events */

int
index_event(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], evt_t *ev)
{
	index_env_t e;
	int rc = index_env_read(txn, id, &e);

	if (rc != 0) {
		memset(ev, 0, sizeof(*ev));
		return rc == CPT_EDAMAGED ? CPT_EINVAL : rc;
	}
	/* Stored events passed every check on the way in: the body is parsed
	 * by whoever needs it (index_body), not twice. */
	if (index_env_decode(&e, ev, 1) != 0)
		return CPT_EINVAL;
	/* The rebuilt header dies with e: ev keeps its fields, not raw. */
	ev->raw = NULL;
	ev->raw_len = 0;
	return 0;
}

json_t *
index_body(const evt_t *ev)
{
	json_t *j;

	/* The body rules of evt_decode: no NUL byte, valid UTF-8 (jansson), no
	 * duplicate keys, an object. */
	if (ev->body == NULL || memchr(ev->body, 0, ev->body_len) != NULL)
		return NULL;
	j = json_loadb((const char *)ev->body, ev->body_len, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/*
 * Bodies parsed, by the BLAKE2b-256 of their bytes: the writer reads a post
 * again for each comment and reaction on it (its notification group, its
 * place in a space) and each reference again when the group is computed
 * anew, and parsing those bodies was 15% of the writer's instructions in a
 * catch-up (issue 23, session 12). A parse is a function of the bytes, and
 * the hash names the bytes, so an entry stays right across transactions,
 * redactions and removals (a body that is gone is never looked up).
 * Direct-mapped by the hash's first bytes; IX_BODIES small bodies are a
 * few MB of heap.
 */
#define IX_BODIES 4096

struct ix_bodies {
	struct ix_body {
		uint8_t hash[CPT_HASH_LEN]; /* of the body's bytes */
		uint32_t len;               /* their length */
		json_t *body;               /* the parse, a reference; NULL: a free slot */
	} e[IX_BODIES];
};

static struct ix_body *
s_body_slot(index_ctx_t *ix, const evt_t *ev)
{
	const uint8_t *h = ev->body_hash;

	if (ix->bodies == NULL && (ix->bodies = calloc(1, sizeof(*ix->bodies))) == NULL)
		return NULL;
	return &ix->bodies->e[(h[0] | h[1] << 8 | (unsigned)h[2] << 16) % IX_BODIES];
}

json_t *
index_body_cached(index_ctx_t *ix, const evt_t *ev)
{
	struct ix_body *e;
	json_t *j;

	assert(ix != NULL && ev != NULL);
	if (ev->body == NULL || (e = s_body_slot(ix, ev)) == NULL)
		return index_body(ev);
	if (e->body && e->len == ev->body_len && memcmp(e->hash, ev->body_hash, CPT_HASH_LEN) == 0)
		return json_incref(e->body);
	if ((j = index_body(ev)) != NULL)
		index_body_keep(ix, ev, j);
	return j;
}

void
index_body_keep(index_ctx_t *ix, const evt_t *ev, json_t *body)
{
	struct ix_body *e;

	assert(ix != NULL && ev != NULL);
	if (body == NULL || ev->body == NULL || (e = s_body_slot(ix, ev)) == NULL)
		return;
	json_decref(e->body);
	memcpy(e->hash, ev->body_hash, CPT_HASH_LEN);
	e->len = ev->body_len;
	e->body = json_incref(body);
}

void
ix_bodies_free(index_ctx_t *ix)
{
	if (ix->bodies == NULL)
		return;
	for (size_t i = 0; i < IX_BODIES; i++)
		json_decref(ix->bodies->e[i].body);
	free(ix->bodies);
	ix->bodies = NULL;
}

int
index_hex_field(const json_t *obj, const char *name, uint8_t out[32])
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_string(v))
		return CPT_EINVAL;
	return cpt_unhex32(out, json_string_value(v), json_string_length(v));
}

/* -------------------------------------------------------- base indexes */

/* The reconciliation index follows DB_ORDER: gathered over the batch when
 * the caller gathers (ix->bk), else at once. */
static int
s_bk_change(index_ctx_t *ix, store_txn_t *txn, const uint8_t key[40], int add)
{
	return ix->bk ? bk_acc_add(ix->bk, key, add) : bk_update(txn, key, add);
}

int
index_base_add(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
               const uint8_t *ref)
{
	uint8_t k[CPT_KEY_LEN + 8 + CPT_ID_LEN], kind[2];
	int rc;

	store_put_kind(kind, ev->kind);
	store_tsid(k, ev->ts, id);
	{
		/* The reconciliation index counts each DB_ORDER entry once: an
		 * event indexed again (reindex, re-admission) must not add twice. */
		store_val_t key = {8 + CPT_ID_LEN, k}, val = {2, kind};
		rc = store_put_new(txn, DB_ORDER, key.data, key.len, val.data, val.len);
		if (rc == 0)
			rc = s_bk_change(ix, txn, k, 1);
		else if (rc == CPT_EEXIST)
			rc = 0;
		if (rc != 0)
			return rc;
	}
	memcpy(k, ev->author, CPT_KEY_LEN);
	store_put_u64(k + CPT_KEY_LEN, ev->ts);
	memcpy(k + CPT_KEY_LEN + 8, id, CPT_ID_LEN);
	if ((rc = store_put(txn, DB_BY_AUTHOR, k, sizeof(k), kind, 2)) != 0)
		return rc;
	if (ref) {
		uint8_t rk[INDEX_REF_KEY_LEN];
		if ((rc = index_ref_key(txn, ref, 1, ev->ts, id, rk)) != 0 ||
		    (rc = store_put(txn, DB_BY_REF, rk, sizeof(rk), kind, 2)) != 0)
			return rc;
	}
	return 0;
}

int
index_base_del(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
               const uint8_t *ref)
{
	uint8_t k[CPT_KEY_LEN + 8 + CPT_ID_LEN];
	int rc;

	store_tsid(k, ev->ts, id);
	{
		store_val_t key = {8 + CPT_ID_LEN, k};
		rc = store_del_existing(txn, DB_ORDER, key.data, key.len);
		if (rc == 0)
			rc = s_bk_change(ix, txn, k, 0);
		else if (rc == CPT_ENOTFOUND)
			rc = 0;
		if (rc != 0)
			return rc;
	}
	memcpy(k, ev->author, CPT_KEY_LEN);
	store_put_u64(k + CPT_KEY_LEN, ev->ts);
	memcpy(k + CPT_KEY_LEN + 8, id, CPT_ID_LEN);
	if ((rc = store_del(txn, DB_BY_AUTHOR, k, sizeof(k))) != 0)
		return rc;
	return ref ? index_base_unref(txn, ref, ev->ts, id) : 0;
}

int
index_ref_key(store_txn_t *txn, const uint8_t target[CPT_ID_LEN], int give, uint64_t ts,
              const uint8_t id[CPT_ID_LEN], uint8_t k[INDEX_REF_KEY_LEN])
{
	int rc = index_ref_num(txn, target, give, k);

	if (rc == 0)
		store_tsid(k + 8, ts, id);
	return rc;
}

int
index_base_unref(store_txn_t *txn, const uint8_t ref[CPT_ID_LEN], uint64_t ts,
                 const uint8_t id[CPT_ID_LEN])
{
	uint8_t k[INDEX_REF_KEY_LEN];
	int rc = index_ref_key(txn, ref, 0, ts, id, k);

	if (rc == CPT_ENOTFOUND) /* no number: nothing refers to it */
		return 0;
	return rc != 0 ? rc : store_del(txn, DB_BY_REF, k, sizeof(k));
}

/* Schema 13: DB_BY_REF again under the targets' reference numbers. The
 * old entries (target(32) ts(8) id(32) -> kind, 72 bytes) are read whole
 * and taken out, and each put back under its target's number (given when
 * the target has none: not stored, or a key); entries already keyed by a
 * number (48 bytes) stay. */
int
ix_by_ref_renumber(store_txn_t *txn)
{
	const size_t old = CPT_ID_LEN + 8 + CPT_ID_LEN, each = old + 2;
	size_t n = 0, cap = store_count(txn, DB_BY_REF) + 1;
	uint8_t *all = malloc(cap * each);
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	if (all == NULL)
		return CPT_ENOMEM;
	if ((rc = store_cur_open(txn, DB_BY_REF, &cur)) != 0) {
		free(all);
		return rc;
	}
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && n < cap;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != old || v.len != 2)
			continue; /* not of schema 12 */
		memcpy(all + n * each, k.data, old);
		memcpy(all + n * each + old, v.data, 2);
		n++;
	}
	store_cur_close(&cur);
	if (rc == CPT_ENOTFOUND)
		rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = store_del(txn, DB_BY_REF, all + i * each, old);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const uint8_t *e = all + i * each;
		uint8_t nk[INDEX_REF_KEY_LEN];
		if ((rc = index_ref_key(txn, e, 1, store_get_u64(e + CPT_ID_LEN),
		                        e + CPT_ID_LEN + 8, nk)) == 0)
			rc = store_put(txn, DB_BY_REF, nk, sizeof(nk), e + old, 2);
	}
	free(all);
	return rc;
}

/* ------------------------------------------------------------- walks */

/* Comments, reactions, edits, redactions of target; revocations of a key. */
int
index_each_ref(index_ctx_t *ix, store_txn_t *txn, const uint8_t target[CPT_ID_LEN],
               index_each_fn fn, void *arg)
{
	store_cur_t *cur;
	uint8_t num[8];
	store_val_t k = {8, num}, v;
	int rc = index_ref_num(txn, target, 0, num);

	if (rc != 0) /* no number: nothing refers to it */
		return rc == CPT_ENOTFOUND ? 0 : rc;
	if ((rc = store_cur_open(txn, DB_BY_REF, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len == INDEX_REF_KEY_LEN && memcmp(k.data, num, 8) == 0) {
		uint16_t kind = store_get_kind(&v);
		if ((rc = fn(ix, txn, (uint8_t *)k.data + 16, kind, arg)) != 0)
			break;
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

int
index_each_by_author(index_ctx_t *ix, store_txn_t *txn, const uint8_t author[CPT_KEY_LEN],
                     uint16_t want, index_each_fn fn, void *arg)
{
	store_cur_t *cur;
	store_val_t k = {CPT_KEY_LEN, (void *)author}, v;
	int rc;

	if ((rc = store_cur_open(txn, DB_BY_AUTHOR, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len == CPT_KEY_LEN + 8 + CPT_ID_LEN &&
	       memcmp(k.data, author, CPT_KEY_LEN) == 0) {
		uint16_t kind = store_get_kind(&v);
		if (kind == want &&
		    (rc = fn(ix, txn, (uint8_t *)k.data + CPT_KEY_LEN + 8, kind, arg)) != 0)
			break;
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}
