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
	size_t reads;             /* records read from the store (index_cache_reads) */
};

void
index_cache_clear(index_ctx_t *ix)
{
	index_cache_renew(ix);
	ix_spaces_cache_clear(ix); /* a fold reads key records too: people, sites */
}

void
index_cache_renew(index_ctx_t *ix)
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

size_t
index_cache_reads(const index_ctx_t *ix)
{
	return ix->cache ? ix->cache->reads : 0;
}

void
index_ctx_release(index_ctx_t *ix)
{
	index_cache_clear(ix);
	free(ix->cache);
	ix->cache = NULL;
	ix_spaces_cache_free(ix);
	ix_bodies_free(ix);
	ix_nums_free(ix);
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
	ix->cache->reads++;
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
	/* As snprintf(out, 64, "%s", h) would, without its format parsing (a
	 * third of this call, made twice per event stored). */
	size_t n = h ? strnlen(h, 63) : 0;

	memcpy(out, h ? h : "", n);
	out[n] = 0;
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

/* Orders windows [not_before, not_after, name]. */
static int
s_window_cmp(const json_t *a, const json_t *b)
{
	for (int i = 0; i < 2; i++) {
		json_int_t x = json_integer_value(json_array_get(a, i));
		json_int_t y = json_integer_value(json_array_get(b, i));
		if (x != y)
			return x < y ? -1 : 1;
	}
	return strcmp(json_string_value(json_array_get(a, 2)) ?: "",
	              json_string_value(json_array_get(b, 2)) ?: "");
}

/*
 * A site certificate: its window [not_before, not_after) under its name
 * joins the windows of its signing key (a key's windows add up: certifying
 * a site again never shortens an older one); the newest certificate gives
 * the name, title, endpoints, curve_key and seal_key. A key certified as a
 * site is never a user: a user record it had is replaced (its enrolments
 * are refused and leave, node/event).
 */
static int
s_site_cert(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const json_t *body,
            const uint8_t id[CPT_ID_LEN])
{
	uint8_t sk[CPT_KEY_LEN];
	char hex[CPT_HEX_ID];
	json_t *old, *rec, *windows, *w, *mine;
	size_t i;
	int rc, newest;

	(void)ix;
	if (index_hex_field(body, "sign_key", sk) != 0)
		return 0;
	old = store_get_json(txn, DB_KEYS, sk, CPT_KEY_LEN);
	if (old && !json_is_string(json_object_get(old, "type"))) {
		json_decref(old);
		old = NULL;
	}
	if (old && strcmp(json_string_value(json_object_get(old, "type")), "site") != 0) {
		json_decref(old);
		old = NULL;
	}
	windows = old ? json_deep_copy(json_object_get(old, "windows")) : NULL;
	if (!json_is_array(windows)) {
		json_decref(windows);
		windows = json_array();
	}
	mine = json_pack("[O, O, O]", json_object_get(body, "not_before"),
	                 json_object_get(body, "not_after"), json_object_get(body, "site"));
	/* Kept sorted, so that the record is the same whatever the order the
	 * certificates came in (verify compares it with a rebuild). */
	json_array_foreach (windows, i, w) {
		if (json_equal(w, mine))
			break;
		if (s_window_cmp(mine, w) < 0) {
			json_array_insert(windows, i, mine);
			break;
		}
	}
	if (i == json_array_size(windows))
		json_array_append(windows, mine);
	json_decref(mine);
	newest = old == NULL || s_newer_than_stored(txn, DB_KEYS, sk, ev->ts, id);
	if (newest) {
		cpt_hex32(hex, id);
		rec = json_pack(
		    "{s:s, s:O, s:O, s:O, s:O, s:O, s:s, s:I}", "type", "site", "site",
		    json_object_get(body, "site"), "curve_key", json_object_get(body, "curve_key"),
		    "endpoints", json_object_get(body, "endpoints"), "not_before",
		    json_object_get(body, "not_before"), "not_after",
		    json_object_get(body, "not_after"), "id", hex, "ts", (json_int_t)ev->ts);
		if (rec && json_is_string(json_object_get(body, "title")))
			json_object_set(rec, "title", json_object_get(body, "title"));
		/* What space keys are sealed to (PROTOCOL.md 7.1): the newest certificate's. */
		if (rec && json_is_string(json_object_get(body, "seal_key")))
			json_object_set(rec, "seal_key", json_object_get(body, "seal_key"));
	} else {
		rec = json_incref(old);
	}
	json_decref(old);
	if (rec == NULL || windows == NULL) {
		json_decref(rec);
		json_decref(windows);
		return CPT_ENOMEM;
	}
	json_object_set_new(rec, "windows", windows);
	rc = store_put_json(txn, DB_KEYS, sk, CPT_KEY_LEN, rec);
	json_decref(rec);
	return rc;
}

/* The handle's enrolments: [[ts, id hex, key hex, by hex, site], ...]
 * sorted by (ts, id). The site name of the first enrolment owns the handle
 * federation-wide; its newest enrolment of the handle names the current key
 * (a password reset enrols a new key; PROTOCOL.md 8.7). */
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
	const char *owner = json_string_value(json_array_get(json_array_get(enrols, 0), 4));
	const char *khex = NULL;
	size_t i;
	json_t *e;

	if (owner == NULL)
		return CPT_ENOTFOUND;
	json_array_foreach (enrols, i, e)
		if (strcmp(json_string_value(json_array_get(e, 4)) ?: "", owner) == 0)
			khex = json_string_value(json_array_get(e, 2));
	return khex ? cpt_unhex32(key, khex, strlen(khex)) : CPT_ENOTFOUND;
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

/* Inserts entry (stolen) into list, sorted by (ts at 0, id hex at 1); an
 * entry of the same id is there already: 0, nothing done. 1 when inserted. */
static int
s_insert_sorted(json_t *list, json_t *entry)
{
	uint64_t ts = (uint64_t)json_integer_value(json_array_get(entry, 0));
	const char *ih = json_string_value(json_array_get(entry, 1));
	uint8_t id[CPT_ID_LEN];
	size_t i, at = json_array_size(list);
	json_t *e;

	if (ih == NULL || cpt_unhex32(id, ih, strlen(ih)) != 0) {
		json_decref(entry);
		return 0;
	}
	json_array_foreach (list, i, e) {
		uint8_t eid[CPT_ID_LEN];
		const char *eh = json_string_value(json_array_get(e, 1));
		if (eh == NULL || cpt_unhex32(eid, eh, strlen(eh)) != 0)
			continue;
		if (memcmp(eid, id, CPT_ID_LEN) == 0) {
			json_decref(entry); /* applied again: once is enough */
			return 0;
		}
		if (store_cmp_tsid(ts, id, (uint64_t)json_integer_value(json_array_get(e, 0)),
		                   eid) < 0) {
			at = i;
			break;
		}
	}
	json_array_insert_new(list, at, entry);
	return 1;
}

/* Removes the entries of list whose id hex (at 1) is hex. */
static void
s_remove_id(json_t *list, const char *hex)
{
	for (size_t i = 0; i < json_array_size(list);) {
		const char *eh = json_string_value(json_array_get(json_array_get(list, i), 1));
		if (eh && strcmp(eh, hex) == 0)
			json_array_remove(list, i);
		else
			i++;
	}
}

/*
 * Writes the user record of key from its admitted enrolments, enrols:
 * [[ts, id hex, site, role, handle, by hex], ...] in (ts, id) order. The
 * record's handle, site, role, by, id and ts are the newest enrolment's;
 * none left: the record goes. A site's record is never touched (a key
 * certified as a site is no user).
 */
static int
s_user_put(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], json_t *enrols)
{
	json_t *old = store_get_json(txn, DB_KEYS, key, CPT_KEY_LEN), *last, *rec;
	const char *type = json_string_value(json_object_get(old, "type"));
	int rc;

	if (type && strcmp(type, "site") == 0) {
		json_decref(old);
		return 0;
	}
	json_decref(old);
	if (json_array_size(enrols) == 0) {
		rc = store_del(txn, DB_KEYS, key, CPT_KEY_LEN);
		return rc == CPT_ENOTFOUND ? 0 : rc;
	}
	last = json_array_get(enrols, json_array_size(enrols) - 1);
	rec = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "type", "user", "handle",
	                json_array_get(last, 4), "site", json_array_get(last, 2), "role",
	                json_array_get(last, 3), "by", json_array_get(last, 5), "id",
	                json_array_get(last, 1), "ts", json_array_get(last, 0), "enrols", enrols);
	if (rec == NULL)
		return CPT_ENOMEM;
	rc = store_put_json(txn, DB_KEYS, key, CPT_KEY_LEN, rec);
	json_decref(rec);
	return rc;
}

/* The admitted enrolments of a user key from its record (a copy), or []. */
static json_t *
s_enrols_of(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	json_t *rec = store_get_json(txn, DB_KEYS, key, CPT_KEY_LEN);
	json_t *e = json_deep_copy(json_object_get(rec, "enrols"));

	json_decref(rec);
	if (!json_is_array(e)) {
		json_decref(e);
		e = json_array();
	}
	return e;
}

static int s_revoked_rebuild(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN]);

/* An enrolment: its place in the handle's list and in the key's record,
 * and the views that show the handle. */
static int
s_enrol(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const json_t *body,
        const uint8_t id[CPT_ID_LEN])
{
	uint8_t uk[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], by[CPT_HEX_ID], khex[CPT_HEX_ID], before[64];
	const char *handle = json_string_value(json_object_get(body, "handle"));
	json_t *list;
	int rc = 0;

	if (index_hex_field(body, "key", uk) != 0 || handle == NULL)
		return 0;
	cpt_hex32(hex, id);
	cpt_hex32(by, ev->author);
	cpt_hex32(khex, uk);
	list = ix_handle_enrols(txn, handle);
	if (s_insert_sorted(list, json_pack("[I, s, s, s, O]", (json_int_t)ev->ts, hex, khex, by,
	                                    json_object_get(body, "site"))))
		rc = store_put_json(txn, DB_HANDLES, handle, strlen(handle), list);
	json_decref(list);
	if (rc != 0)
		return rc;
	if (index_handle_cached(ix, txn, uk, before) != 0)
		before[0] = 0;
	list = s_enrols_of(txn, uk);
	s_insert_sorted(list, json_pack("[I, s, O, O, s, s]", (json_int_t)ev->ts, hex,
	                                json_object_get(body, "site"),
	                                json_object_get(body, "role"), handle, by));
	rc = s_user_put(txn, uk, list);
	json_decref(list);
	/* A site's revocation of the key reaches back to its enrolment: again. */
	if (rc == 0)
		rc = s_revoked_rebuild(txn, uk);
	if (rc != 0)
		return rc;
	index_cache_clear(ix);
	/* Profiles are per handle: a new key of the handle may change who writes it. */
	return s_key_changed(ix, txn, uk, handle, before);
}

/* The enrolment id (its body) left the store: out of its handle's list and
 * of the key's record (none left: the record goes). */
static int
s_unenrol(index_ctx_t *ix, store_txn_t *txn, const json_t *body, const uint8_t id[CPT_ID_LEN])
{
	uint8_t uk[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], before[64];
	const char *handle = json_string_value(json_object_get(body, "handle"));
	json_t *list;
	int rc;

	if (index_hex_field(body, "key", uk) != 0 || handle == NULL)
		return 0;
	cpt_hex32(hex, id);
	list = ix_handle_enrols(txn, handle);
	s_remove_id(list, hex);
	if (json_array_size(list) == 0)
		rc = store_del(txn, DB_HANDLES, handle, strlen(handle));
	else
		rc = store_put_json(txn, DB_HANDLES, handle, strlen(handle), list);
	json_decref(list);
	if (rc == CPT_ENOTFOUND)
		rc = 0;
	if (rc != 0)
		return rc;
	if (index_handle_cached(ix, txn, uk, before) != 0)
		before[0] = 0;
	list = s_enrols_of(txn, uk);
	s_remove_id(list, hex);
	rc = s_user_put(txn, uk, list);
	json_decref(list);
	if (rc == 0)
		rc = s_revoked_rebuild(txn, uk);
	if (rc != 0)
		return rc;
	index_cache_clear(ix);
	return s_key_changed(ix, txn, uk, handle, before);
}

/* Does a window of site record rec contain t (ms) under name? */
static int
s_window_has(const json_t *rec, uint64_t t, const char *name)
{
	json_t *w;
	size_t i;

	json_array_foreach (json_object_get(rec, "windows"), i, w) {
		uint64_t nb = (uint64_t)json_integer_value(json_array_get(w, 0));
		uint64_t na = (uint64_t)json_integer_value(json_array_get(w, 1));
		const char *n = json_string_value(json_array_get(w, 2));
		if (nb <= t && (na == 0 || t < na) && n && name && strcmp(n, name) == 0)
			return 1;
	}
	return 0;
}

/*
 * The revoked state of key (DB_REVOKED) from the revocations of it stored:
 * the smallest max(effective, reach), where a site's revocation reaches back
 * to the earliest enrolment of the key under a name of the site at the
 * revocation's time (PROTOCOL.md 8.4) and the root's to 0; none: no entry.
 * An entry also tells node/event that the key has revocations to read.
 */
static int
s_revoked_rebuild(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	store_cur_t *cur;
	uint8_t num[8];
	store_val_t k = {8, num}, v;
	uint64_t min = UINT64_MAX;
	json_t *krec = NULL;
	int rc, any = 0;
	uint8_t b[8];

	/* DB_BY_REF under the key's reference number (schema 13); none: no
	 * revocation names it (the walk finds nothing). */
	rc = index_ref_num(txn, key, 0, num);
	if (rc == CPT_ENOTFOUND)
		memset(num, 0xff, sizeof(num)); /* no number is all ones */
	else if (rc != 0)
		return rc;
	if ((rc = store_cur_open(txn, DB_BY_REF, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len == INDEX_REF_KEY_LEN && memcmp(k.data, num, 8) == 0) {
		evt_t r;
		json_t *body;
		if (v.len == 2 && ((uint8_t *)v.data)[0] == 0 &&
		    ((uint8_t *)v.data)[1] == EVT_REVOKE &&
		    index_event(txn, (uint8_t *)k.data + 16, &r) == 0 &&
		    (body = index_body(&r)) != NULL) {
			uint64_t eff =
			    (uint64_t)json_integer_value(json_object_get(body, "effective"));
			uint64_t reach = 0;
			json_t *srec = store_get_json(txn, DB_KEYS, r.author, CPT_KEY_LEN), *e;
			size_t i;
			/* The root's revocations reach 0: they name a key no site does. */
			if (srec && json_object_get(srec, "windows")) {
				reach = UINT64_MAX;
				if (krec == NULL)
					krec = store_get_json(txn, DB_KEYS, key, CPT_KEY_LEN);
				json_array_foreach (json_object_get(krec, "enrols"), i, e) {
					if (s_window_has(srec, HLC_MS(r.ts),
					                 json_string_value(json_array_get(e, 2)))) {
						reach = HLC_MS((uint64_t)json_integer_value(
						    json_array_get(e, 0)));
						break;
					}
				}
			}
			json_decref(srec);
			any = 1;
			if (reach != UINT64_MAX && (eff > reach ? eff : reach) < min)
				min = eff > reach ? eff : reach;
			json_decref(body);
		}
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	json_decref(krec);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	if (!any) {
		rc = store_del(txn, DB_REVOKED, key, CPT_KEY_LEN);
		return rc == CPT_ENOTFOUND ? 0 : rc;
	}
	/* Revocations that reach nothing yet still mark the key: UINT64_MAX - 1. */
	store_put_u64(b, min == UINT64_MAX ? UINT64_MAX - 1 : min);
	return store_put(txn, DB_REVOKED, key, CPT_KEY_LEN, b, 8);
}

/* The revoked state of the key a revocation names, again. */
static int
s_revoked_of(store_txn_t *txn, const json_t *body)
{
	uint8_t key[CPT_KEY_LEN];

	return index_hex_field(body, "key", key) == 0 ? s_revoked_rebuild(txn, key) : 0;
}

/* ------------------------------------------------------------- hooks */

int
ix_keys_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	switch (e->ev->kind) {
	case EVT_SITE_CERT: return s_site_cert(ix, txn, e->ev, e->body, e->id);
	case EVT_ENROL: return s_enrol(ix, txn, e->ev, e->body, e->id);
	case EVT_REVOKE: return s_revoked_of(txn, e->body);
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
	case EVT_REVOKE: return s_revoked_of(txn, e->body);
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
index_site_valid_at(const json_t *rec, uint64_t t_ms)
{
	json_t *w;
	size_t i;

	json_array_foreach (json_object_get(rec, "windows"), i, w) {
		uint64_t nb = (uint64_t)json_integer_value(json_array_get(w, 0));
		uint64_t na = (uint64_t)json_integer_value(json_array_get(w, 1));
		if (nb <= t_ms && (na == 0 || t_ms < na))
			return 1;
	}
	return 0;
}

int
index_handle_site(store_txn_t *txn, const char *handle, char out[64])
{
	json_t *enrols;
	const char *site;
	int rc = CPT_ENOTFOUND;

	out[0] = 0;
	if (*handle == 0 || strlen(handle) > 32)
		return CPT_ENOTFOUND;
	enrols = ix_handle_enrols(txn, handle);
	site = json_string_value(json_array_get(json_array_get(enrols, 0), 4));
	if (site) {
		snprintf(out, 64, "%s", site);
		rc = 0;
	}
	json_decref(enrols);
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
