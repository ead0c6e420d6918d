/*
 * The trust records: what each key is (DB_KEYS: a site's certificate, a
 * user's enrolment, who vouched), since when it is revoked (DB_REVOKED),
 * and which key each handle names (DB_HANDLES). Only the records: what a
 * revocation or a new certificate does to other events (purges, events
 * admitted from pending) is node/event's. A small cache keeps records
 * parsed while a transaction ingests: every event's authorisation reads them.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/index/index_internal.h"

/* ------------------------------------------------------- the cache */

/*
 * Key records are read for every event (who may sign it) and were parsed
 * from JSON each time: the parse cost as much as the store. A small cache per
 * context keeps them parsed; the event layer empties it at the start of every
 * transaction (a retried or new one) and whenever an event changes the trust
 * state (certificate, enrolment, revocation, purge).
 */
#define IX_CACHE 256

struct ix_cache {
	struct ix_centry {
		int used;                 /* slot holds key */
		uint8_t key[CPT_KEY_LEN]; /* the key */
		json_t *rec;              /* its DB_KEYS record, NULL when none */
		uint64_t revoked;         /* index_revoked_at(key) */
	} e[IX_CACHE];
	struct ix_centry scratch; /* read through, while the trust state changes */
	int off;                  /* in a trust event's effects: keep nothing */
};

void
index_cache_clear(index_ctx_t *ix)
{
	assert(ix != NULL);
	if (ix->cache == NULL)
		return;
	for (int i = 0; i < IX_CACHE; i++) {
		json_decref(ix->cache->e[i].rec);
		ix->cache->e[i].rec = NULL;
		ix->cache->e[i].used = 0;
	}
	json_decref(ix->cache->scratch.rec);
	ix->cache->scratch.rec = NULL;
}

void
index_cache_off(index_ctx_t *ix, int off)
{
	assert(ix != NULL);
	ix_spaces_cache_clear(ix); /* a fold reads key records too: people, sites */
	if (ix->cache == NULL && off && (ix->cache = calloc(1, sizeof(*ix->cache))) == NULL)
		return; /* no cache at all: s_cached reads through */
	index_cache_clear(ix);
	if (ix->cache)
		ix->cache->off = off;
}

int
index_cache_is_off(const index_ctx_t *ix)
{
	return ix->cache && ix->cache->off;
}

void
index_ctx_release(index_ctx_t *ix)
{
	index_cache_clear(ix);
	free(ix->cache);
	ix->cache = NULL;
	ix_spaces_cache_free(ix);
}

static struct ix_centry *
s_cached(index_ctx_t *ix, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	struct ix_centry *e;
	unsigned h = (unsigned)(key[0] | key[1] << 8) % IX_CACHE;

	if (ix->cache == NULL && (ix->cache = calloc(1, sizeof(*ix->cache))) == NULL)
		return NULL; /* callers treat it as "unknown": the event waits, nothing is lost */
	e = ix->cache->off ? &ix->cache->scratch : &ix->cache->e[h];
	if (!ix->cache->off && e->used && memcmp(e->key, key, CPT_KEY_LEN) == 0)
		return e;
	json_decref(e->rec);
	e->used = 1;
	memcpy(e->key, key, CPT_KEY_LEN);
	e->rec = store_get_json(txn, DB_KEYS, key, CPT_KEY_LEN);
	e->revoked = index_revoked_at(txn, key);
	return e;
}

int
index_key_cached(index_ctx_t *ix, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], json_t **rec,
                 uint64_t *revoked)
{
	struct ix_centry *e = s_cached(ix, txn, key);

	*rec = NULL;
	*revoked = UINT64_MAX;
	if (e == NULL)
		return CPT_ENOMEM;
	/* A new reference: a later lookup (the enrolling site) may evict the entry. */
	*rec = json_incref(e->rec);
	*revoked = e->revoked;
	return 0;
}

int
index_handle_cached(index_ctx_t *ix, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], char out[64])
{
	struct ix_centry *e = s_cached(ix, txn, key);
	const char *h = e ? json_string_value(json_object_get(e->rec, "handle")) : NULL;

	snprintf(out, 64, "%s", h ? h : "");
	return h ? 0 : CPT_ENOTFOUND;
}

/* ---------------------------------------------------------- reads */

int
index_revoked(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t *ms)
{
	store_val_t v;
	int rc = store_get(txn, DB_REVOKED, key, CPT_KEY_LEN, &v);

	if (rc == 0)
		*ms = v.len == 8 ? store_get_u64(v.data) : UINT64_MAX;
	return rc;
}

uint64_t
index_revoked_at(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	store_val_t v;

	if (store_get(txn, DB_REVOKED, key, CPT_KEY_LEN, &v) != 0 || v.len != 8)
		return UINT64_MAX;
	return store_get_u64(v.data);
}

/* ------------------------------------------------------------ records */

/* Keeps the newer of the stored record and rec, by ("ts", "id"). */
static int
s_newer_than_stored(store_txn_t *txn, enum store_db dbi, const uint8_t key[32], uint64_t ts,
                    const uint8_t id[CPT_ID_LEN])
{
	json_t *old = store_get_json(txn, dbi, key, 32);
	uint8_t oid[CPT_ID_LEN];
	int newer = 1;

	if (old && index_hex_field(old, "id", oid) == 0)
		newer =
		    store_cmp_tsid(ts, id, (uint64_t)json_integer_value(json_object_get(old, "ts")),
		                   oid) > 0;
	json_decref(old);
	return newer;
}

/* A site certificate: the record of its signing key, when it is the newest. */
static int
s_site_cert(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const json_t *body,
            const uint8_t id[CPT_ID_LEN])
{
	uint8_t sk[CPT_KEY_LEN];
	char hex[CPT_HEX_ID];
	json_t *rec;
	int rc;

	if (index_hex_field(body, "sign_key", sk) != 0)
		return 0;
	if (!s_newer_than_stored(txn, DB_KEYS, sk, ev->ts, id))
		return 0;
	cpt_hex32(hex, id);
	rec = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:s, s:I}", "type", "site", "site",
	                json_object_get(body, "site"), "curve_key",
	                json_object_get(body, "curve_key"), "endpoints",
	                json_object_get(body, "endpoints"), "not_before",
	                json_object_get(body, "not_before"), "not_after",
	                json_object_get(body, "not_after"), "id", hex, "ts", (json_int_t)ev->ts);
	if (rec == NULL)
		return CPT_ENOMEM;
	if (json_is_string(json_object_get(body, "title")))
		json_object_set(rec, "title", json_object_get(body, "title"));
	/* What space keys are sealed to (PROTOCOL.md 7.1): the newest certificate's. */
	if (json_is_string(json_object_get(body, "seal_key")))
		json_object_set(rec, "seal_key", json_object_get(body, "seal_key"));
	rc = store_put_json(txn, DB_KEYS, sk, CPT_KEY_LEN, rec);
	json_decref(rec);
	return rc;
}

/* The handle's enrolments: [[ts, id hex, key hex, by hex], ...] sorted by
 * (ts, id). The site of the first enrolment owns the handle federation-wide;
 * its newest enrolment of the handle names the current key (a password reset
 * enrols a new key). */
json_t *
ix_handle_enrols(store_txn_t *txn, const char *handle)
{
	json_t *j = store_get_json(txn, DB_HANDLES, handle, strlen(handle));

	if (j && json_is_array(j))
		return j;
	json_decref(j);
	return json_array();
}

/* The current key of a handle from its enrolment list; 0 or CPT_ENOTFOUND. */
static int
s_handle_owner(const json_t *enrols, uint8_t key[CPT_KEY_LEN])
{
	const char *first_by = json_string_value(json_array_get(json_array_get(enrols, 0), 3));
	const char *khex = NULL;
	size_t i;
	json_t *e;

	if (first_by == NULL)
		return CPT_ENOTFOUND;
	json_array_foreach (enrols, i, e)
		if (strcmp(json_string_value(json_array_get(e, 3)), first_by) == 0)
			khex = json_string_value(json_array_get(e, 2));
	return cpt_unhex32(key, khex, strlen(khex));
}

/* Views that depend on which handle a key has: the profiles of the handle
 * whose enrolments changed and of the key's handle before and after, and,
 * when the key's handle changed, its posts (they show the handle). */
static int
s_key_changed(index_ctx_t *ix, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN],
              const char *enrolled, const char *before)
{
	char after[64];
	int rc;

	if (index_handle_cached(ix, txn, key, after) != 0)
		after[0] = 0;
	if ((rc = ix_profile_rebuild_handle(ix, txn, enrolled)) != 0)
		return rc;
	if (before[0] && strcmp(before, enrolled) != 0 &&
	    (rc = ix_profile_rebuild_handle(ix, txn, before)) != 0)
		return rc;
	if (after[0] && strcmp(after, enrolled) != 0 && strcmp(after, before) != 0 &&
	    (rc = ix_profile_rebuild_handle(ix, txn, after)) != 0)
		return rc;
	if (strcmp(before, after) != 0)
		return ix_posts_of_rebuild(ix, txn, key);
	return 0;
}

/* An enrolment: its place in the handle's list, the key's record when it
 * is the newest, and the views that show the handle. */
static int
s_enrol(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const json_t *body,
        const uint8_t id[CPT_ID_LEN])
{
	uint8_t uk[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], by[CPT_HEX_ID], khex[CPT_HEX_ID], before[64];
	const char *handle = json_string_value(json_object_get(body, "handle"));
	json_t *rec, *enrols, *e;
	size_t i, at;
	int rc, present = 0;

	if (index_hex_field(body, "key", uk) != 0 || handle == NULL)
		return 0;
	cpt_hex32(hex, id);
	cpt_hex32(by, ev->author);
	cpt_hex32(khex, uk);
	enrols = ix_handle_enrols(txn, handle);
	at = json_array_size(enrols);
	json_array_foreach (enrols, i, e) {
		uint8_t eid[CPT_ID_LEN];
		const char *eh = json_string_value(json_array_get(e, 1));
		if (eh == NULL || cpt_unhex32(eid, eh, strlen(eh)) != 0)
			continue;
		if (memcmp(eid, id, CPT_ID_LEN) == 0) {
			/* Applied again (an enrolment re-admitted): once is enough. */
			present = 1;
			break;
		}
		if (store_cmp_tsid(ev->ts, id, (uint64_t)json_integer_value(json_array_get(e, 0)),
		                   eid) < 0) {
			at = i;
			break;
		}
	}
	rc = 0;
	if (!present) {
		json_array_insert_new(enrols, at,
		                      json_pack("[I, s, s, s]", (json_int_t)ev->ts, hex, khex, by));
		rc = store_put_json(txn, DB_HANDLES, handle, strlen(handle), enrols);
	}
	json_decref(enrols);
	if (rc != 0)
		return rc;
	if (index_handle_cached(ix, txn, uk, before) != 0)
		before[0] = 0;
	if (s_newer_than_stored(txn, DB_KEYS, uk, ev->ts, id)) {
		rec = json_pack("{s:s, s:s, s:O, s:O, s:s, s:s, s:I}", "type", "user", "handle",
		                handle, "site", json_object_get(body, "site"), "role",
		                json_object_get(body, "role"), "by", by, "id", hex, "ts",
		                (json_int_t)ev->ts);
		if (rec == NULL)
			return CPT_ENOMEM;
		rc = store_put_json(txn, DB_KEYS, uk, CPT_KEY_LEN, rec);
		json_decref(rec);
		if (rc != 0)
			return rc;
	}
	/* Profiles are per handle: a new key of the handle may change who writes it. */
	return s_key_changed(ix, txn, uk, handle, before);
}

/* Every enrolment of key still stored, by id, from the handle lists. A full
 * scan: it runs only when a site is revoked from before its enrolments. */
static int
s_enrols_of_key(store_txn_t *txn, const char *khex, json_t *out)
{
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	if ((rc = store_cur_open(txn, DB_HANDLES, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		json_t *list = json_loadb(v.data, v.len, 0, NULL), *e;
		size_t i;
		json_array_foreach (list, i, e) {
			const char *kh = json_string_value(json_array_get(e, 2));
			if (kh && strcmp(kh, khex) == 0)
				json_array_append(out, json_array_get(e, 1));
		}
		json_decref(list);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* The enrolment id (its body) left the store: out of its handle's list, and
 * the key's record rebuilt from the enrolments that remain (none: deleted). */
static int
s_unenrol(index_ctx_t *ix, store_txn_t *txn, const json_t *body, const uint8_t id[CPT_ID_LEN])
{
	uint8_t uk[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], khex[CPT_HEX_ID], before[64];
	const char *handle = json_string_value(json_object_get(body, "handle"));
	json_t *enrols, *e, *rec, *others;
	size_t i;
	int rc;

	if (index_hex_field(body, "key", uk) != 0 || handle == NULL)
		return 0;
	cpt_hex32(hex, id);
	cpt_hex32(khex, uk);
	enrols = ix_handle_enrols(txn, handle);
	for (i = 0; i < json_array_size(enrols);) {
		e = json_array_get(enrols, i);
		if (json_string_value(json_array_get(e, 1)) &&
		    strcmp(json_string_value(json_array_get(e, 1)), hex) == 0)
			json_array_remove(enrols, i);
		else
			i++;
	}
	if (json_array_size(enrols) == 0)
		rc = store_del(txn, DB_HANDLES, handle, strlen(handle));
	else
		rc = store_put_json(txn, DB_HANDLES, handle, strlen(handle), enrols);
	json_decref(enrols);
	if (rc != 0)
		return rc;
	if (index_handle_cached(ix, txn, uk, before) != 0)
		before[0] = 0;
	/* The key record came from this enrolment: rebuild it from the others. */
	rec = index_key_info(txn, uk);
	if (rec && json_string_value(json_object_get(rec, "id")) &&
	    strcmp(json_string_value(json_object_get(rec, "id")), hex) == 0) {
		json_decref(rec);
		if ((rc = store_del(txn, DB_KEYS, uk, CPT_KEY_LEN)) != 0)
			return rc;
		others = json_array();
		rc = s_enrols_of_key(txn, khex, others);
		json_array_foreach (others, i, e) {
			uint8_t eid[CPT_ID_LEN];
			evt_t ev;
			json_t *b;
			if (rc != 0)
				break;
			if (cpt_unhex32(eid, json_string_value(e), json_string_length(e)) != 0 ||
			    index_event(txn, eid, &ev) != 0 || (b = index_body(&ev)) == NULL)
				continue;
			rc = s_enrol(ix, txn, &ev, b, eid);
			json_decref(b);
		}
		json_decref(others);
		if (rc != 0)
			return rc;
	} else {
		json_decref(rec);
	}
	return s_key_changed(ix, txn, uk, handle, before);
}

/* The revoked state of key from the revocations still stored: the smallest
 * effective time, or none. */
static int
s_revoked_rebuild(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	store_cur_t *cur;
	store_val_t k = {CPT_KEY_LEN, (void *)key}, v;
	uint64_t min = UINT64_MAX;
	uint8_t b[8];
	int rc;

	if ((rc = store_cur_open(txn, DB_BY_REF, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len == CPT_KEY_LEN + 8 + CPT_ID_LEN &&
	       memcmp(k.data, key, CPT_KEY_LEN) == 0) {
		evt_t r;
		json_t *body;
		if (v.len == 2 && ((uint8_t *)v.data)[0] == 0 &&
		    ((uint8_t *)v.data)[1] == EVT_REVOKE &&
		    index_event(txn, (uint8_t *)k.data + CPT_KEY_LEN + 8, &r) == 0 &&
		    (body = index_body(&r)) != NULL) {
			uint64_t eff =
			    (uint64_t)json_integer_value(json_object_get(body, "effective"));
			if (eff < min)
				min = eff;
			json_decref(body);
		}
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	if (min == UINT64_MAX)
		return store_del(txn, DB_REVOKED, key, CPT_KEY_LEN);
	store_put_u64(b, min);
	return store_put(txn, DB_REVOKED, key, CPT_KEY_LEN, b, 8);
}

/* A revocation: the key's revoked time goes down to its effective time. */
static int
s_revoked_lower(store_txn_t *txn, const json_t *body)
{
	uint8_t key[CPT_KEY_LEN], b[8];
	uint64_t eff = (uint64_t)json_integer_value(json_object_get(body, "effective"));

	if (index_hex_field(body, "key", key) != 0 || eff >= index_revoked_at(txn, key))
		return 0;
	store_put_u64(b, eff);
	return store_put(txn, DB_REVOKED, key, CPT_KEY_LEN, b, 8);
}

/* ------------------------------------------------------------- hooks */

int
ix_keys_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	switch (e->ev->kind) {
	case EVT_SITE_CERT: return s_site_cert(ix, txn, e->ev, e->body, e->id);
	case EVT_ENROL: return s_enrol(ix, txn, e->ev, e->body, e->id);
	case EVT_REVOKE: return s_revoked_lower(txn, e->body);
	}
	return 0;
}

int
ix_keys_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	/* Trust events never arrive erased (node/event refuses them): only
	 * events that left the store come here, with their bodies. A site
	 * certificate leaves only with the root, which is never revoked. */
	if (e->body == NULL)
		return 0;
	switch (e->ev->kind) {
	case EVT_ENROL: return s_unenrol(ix, txn, e->body, e->id);
	case EVT_REVOKE: return e->ref ? s_revoked_rebuild(txn, e->ref) : 0;
	}
	return 0;
}

/* ------------------------------------------------------------ read side */

json_t *
index_key_info(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	return store_get_json(txn, DB_KEYS, key, CPT_KEY_LEN);
}

int
index_handle_of(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], char out[64])
{
	json_t *rec = index_key_info(txn, key);
	const char *h = json_string_value(json_object_get(rec, "handle"));
	int rc = h ? 0 : CPT_ENOTFOUND;

	snprintf(out, 64, "%s", h ? h : "");
	json_decref(rec);
	return rc;
}

int
index_key_of(store_txn_t *txn, const char *handle, uint8_t key[CPT_KEY_LEN])
{
	json_t *enrols;
	int rc;

	if (*handle == 0 || strlen(handle) > 32)
		return CPT_ENOTFOUND;
	enrols = ix_handle_enrols(txn, handle);
	rc = s_handle_owner(enrols, key);
	json_decref(enrols);
	return rc;
}
