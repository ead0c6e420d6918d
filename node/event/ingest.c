/*
 * The single ingest path: decode, verify, authorise, validate by kind, store
 * and update every view in the caller's write transaction. Local posts and
 * events from peers both come through ingest_txn(). Views are functions of the
 * set of stored events, whatever order they arrived in (docs/ARCHITECTURE.md).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/node.h"
#include "node/event/event_internal.h"

#define PENDING_DEPTH 4 /* admitting a certificate admits what waited on it, this deep */

/* Loads a stored event by id into ev; ev borrows from the txn. */
int
ig_load_event(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], evt_t *ev)
{
	store_val_t v;
	int rc = store_get(txn, DB_EVENTS, id, CPT_ID_LEN, &v);

	if (rc != 0)
		return rc == CPT_ENOTFOUND ? CPT_ENOTFOUND : rc;
	/* Stored events passed every check on the way in: the body is parsed
	 * by whoever needs it (ig_body), not twice. */
	return evt_decode_lazy(ev, v.data, v.len, EVT_MAX_BODY) == 0 ? 0 : CPT_EINVAL;
}

json_t *
ig_body(const evt_t *ev)
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

int
ig_hex_field(const json_t *obj, const char *name, uint8_t out[32])
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_string(v))
		return CPT_EINVAL;
	return cpt_unhex32(out, json_string_value(v), json_string_length(v));
}

/* ------------------------------------------------------- key state */

/* The smallest effective revocation time of key, or UINT64_MAX. */
uint64_t
ig_revoked_at(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	store_val_t v;

	if (store_get(txn, DB_REVOKED, key, CPT_KEY_LEN, &v) != 0 || v.len != 8)
		return UINT64_MAX;
	return store_get_u64(v.data);
}

/* What a key is at time ts_ms: KEY_ROOT, KEY_SITE, KEY_USER; KEY_UNKNOWN when
 * nothing vouches for it yet; KEY_REVOKED or KEY_EXPIRED. info (optional) gets
 * the key record. */
/*
 * Key records are read for every event (who may sign it) and were parsed
 * from JSON each time: the parse cost as much as the store. A small cache per
 * ingest context keeps them parsed; it is emptied at the start of every
 * ingest_txn (a retried or new transaction) and whenever an event changes
 * the trust state (certificate, enrolment, revocation, purge).
 */
#define IG_CACHE 256

struct ig_cache {
	struct ig_centry {
		int used;                 /* slot holds key */
		uint8_t key[CPT_KEY_LEN]; /* the key */
		json_t *rec;              /* its DB_KEYS record, NULL when none */
		uint64_t revoked;         /* ig_revoked_at(key) */
	} e[IG_CACHE];
	struct ig_centry scratch;     /* read through, while the trust state changes */
	int off;                      /* in a trust event's effects: keep nothing */
};

void
ig_cache_clear(ingest_ctx_t *ctx)
{
	if (ctx->cache == NULL)
		return;
	for (int i = 0; i < IG_CACHE; i++) {
		json_decref(ctx->cache->e[i].rec);
		ctx->cache->e[i].rec = NULL;
		ctx->cache->e[i].used = 0;
	}
	json_decref(ctx->cache->scratch.rec);
	ctx->cache->scratch.rec = NULL;
}

/* While a trust event takes effect, records change under the readers: the
 * cache is emptied and keeps nothing until it is over. */
static void
s_cache_off(ingest_ctx_t *ctx, int off)
{
	if (ctx->cache == NULL && off && (ctx->cache = calloc(1, sizeof(*ctx->cache))) == NULL)
		return; /* no cache at all: s_cached reads through */
	ig_cache_clear(ctx);
	if (ctx->cache)
		ctx->cache->off = off;
}

void
ingest_ctx_release(ingest_ctx_t *ctx)
{
	ig_cache_clear(ctx);
	free(ctx->cache);
	ctx->cache = NULL;
}

static struct ig_centry *
s_cached(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	struct ig_centry *e;
	unsigned h = (unsigned)(key[0] | key[1] << 8) % IG_CACHE;

	if (ctx->cache == NULL && (ctx->cache = calloc(1, sizeof(*ctx->cache))) == NULL)
		return NULL; /* callers treat it as "unknown": the event waits, nothing is lost */
	e = ctx->cache->off ? &ctx->cache->scratch : &ctx->cache->e[h];
	if (!ctx->cache->off && e->used && memcmp(e->key, key, CPT_KEY_LEN) == 0)
		return e;
	json_decref(e->rec);
	e->used = 1;
	memcpy(e->key, key, CPT_KEY_LEN);
	e->rec = store_get_json(txn, DB_KEYS, key, CPT_KEY_LEN);
	e->revoked = ig_revoked_at(ctx, txn, key);
	return e;
}

/* What a key is at time ts_ms: KEY_ROOT, KEY_SITE, KEY_USER; KEY_UNKNOWN when
 * nothing vouches for it yet; KEY_REVOKED or KEY_EXPIRED. info (optional) gets
 * the key record (a new reference). */
int
ig_key_status(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t ts_ms,
	      json_t **info)
{
	struct ig_centry *e;
	json_t *rec;
	const char *type;
	int status;

	if (info)
		*info = NULL;
	if (sodium_memcmp(key, ctx->root, CPT_KEY_LEN) == 0)
		return KEY_ROOT;
	if ((e = s_cached(ctx, txn, key)) == NULL)
		return KEY_UNKNOWN;
	if (e->revoked <= ts_ms)
		return KEY_REVOKED;
	if (e->rec == NULL)
		return KEY_UNKNOWN;
	/* Held: a later lookup (the enrolling site) may evict the entry. */
	rec = json_incref(e->rec);
	type = json_string_value(json_object_get(rec, "type"));
	if (type && strcmp(type, "site") == 0) {
		uint64_t nb = (uint64_t)json_integer_value(json_object_get(rec, "not_before"));
		uint64_t na = (uint64_t)json_integer_value(json_object_get(rec, "not_after"));
		status = (ts_ms < nb || (na != 0 && ts_ms >= na)) ? KEY_EXPIRED : KEY_SITE;
	} else if (type && strcmp(type, "user") == 0) {
		/* The enrolling site must not have been revoked before it enrolled. */
		uint8_t by[CPT_KEY_LEN];
		uint64_t enrol_ms = HLC_MS((uint64_t)json_integer_value(json_object_get(rec, "ts")));
		struct ig_centry *be;
		status = KEY_USER;
		if (ig_hex_field(rec, "by", by) != 0 || (be = s_cached(ctx, txn, by)) == NULL ||
		    be->revoked <= enrol_ms)
			status = KEY_REVOKED;
	} else {
		status = KEY_UNKNOWN;
	}
	if (info && status != KEY_UNKNOWN)
		*info = rec;
	else
		json_decref(rec);
	return status;
}

/* The handle of a user key, through the cache. */
int
ig_handle_of(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], char out[64])
{
	struct ig_centry *e = s_cached(ctx, txn, key);
	const char *h = e ? json_string_value(json_object_get(e->rec, "handle")) : NULL;

	snprintf(out, 64, "%s", h ? h : "");
	return h ? 0 : CPT_ENOTFOUND;
}

/* ------------------------------------------------------------ indexes */

/* The reconciliation index follows DB_ORDER: gathered over the batch when
 * ingest_txn gathers (ctx->bk), else at once. */
static int
s_bk_change(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[40], int add)
{
	return ctx->bk ? bk_acc_add(ctx->bk, key, add) : bk_update(ctx->st, txn, key, add);
}

static int
s_index(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
	const uint8_t *ref)
{
	uint8_t k[CPT_KEY_LEN + 8 + CPT_ID_LEN], kind[2] = {(uint8_t)(ev->kind >> 8), (uint8_t)ev->kind};
	int rc;

	store_put_u64(k, ev->ts);
	memcpy(k + 8, id, CPT_ID_LEN);
	{
		/* The reconciliation index counts each DB_ORDER entry once: an
		 * event indexed again (reindex, re-admission) must not add twice. */
		store_val_t key = {8 + CPT_ID_LEN, k}, val = {2, kind};
		rc = store_put_new(txn, DB_ORDER, key.data, key.len, val.data, val.len);
		if (rc == 0)
			rc = s_bk_change(ctx, txn, k, 1);
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
		memcpy(k, ref, CPT_ID_LEN);
		if ((rc = store_put(txn, DB_BY_REF, k, sizeof(k), kind, 2)) != 0)
			return rc;
	}
	return 0;
}

static int
s_unindex(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
	  const uint8_t *ref)
{
	uint8_t k[CPT_KEY_LEN + 8 + CPT_ID_LEN];
	int rc;

	store_put_u64(k, ev->ts);
	memcpy(k + 8, id, CPT_ID_LEN);
	{
		store_val_t key = {8 + CPT_ID_LEN, k};
		rc = store_del_existing(txn, DB_ORDER, key.data, key.len);
		if (rc == 0)
			rc = s_bk_change(ctx, txn, k, 0);
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
	if (ref) {
		memcpy(k, ref, CPT_ID_LEN);
		if ((rc = store_del(txn, DB_BY_REF, k, sizeof(k))) != 0)
			return rc;
	}
	return 0;
}

/* The event a comment, reaction, edit or redaction refers to. With keys set,
 * also the key a revocation names: revocations are indexed in DB_BY_REF under
 * that key so that its revoked state can be rebuilt when one of them goes. */
static int
s_ref_of(const evt_t *ev, const json_t *body, uint8_t ref[CPT_ID_LEN], int keys)
{
	switch (ev->kind) {
	case EVT_COMMENT:
	case EVT_REACTION:
	case EVT_EDIT:
		return ig_hex_field(body, "post", ref) == 0;
	case EVT_REDACT:
		return ig_hex_field(body, "target", ref) == 0;
	case EVT_REVOKE:
		return keys && ig_hex_field(body, "key", ref) == 0;
	}
	return 0;
}

/* ----------------------------------------------------------- pending */

static int s_ingest_one(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *buf, size_t len,
			ingest_res_t *res, int depth, int preverified, json_t *pre_body);

int
ig_pending_id(store_t *st, store_txn_t *txn, const uint8_t k[CPT_KEY_LEN + CPT_ID_LEN], int add)
{
	uint8_t ik[CPT_ID_LEN + CPT_KEY_LEN];

	memcpy(ik, k + CPT_KEY_LEN, CPT_ID_LEN);
	memcpy(ik + CPT_ID_LEN, k, CPT_KEY_LEN);
	if (add)
		return store_put(txn, DB_PENDING_IDS, ik, sizeof(ik), "", 0);
	return store_del(txn, DB_PENDING_IDS, ik, sizeof(ik));
}

int
ig_is_pending(store_t *st, store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	store_cur_t *cur;
	store_val_t k = {CPT_ID_LEN, (void *)id}, v;
	int found;

	if (store_cur_open(txn, DB_PENDING_IDS, &cur) != 0)
		return 0;
	found = store_cur_get(cur, &k, &v, STORE_SEEK) == 0 &&
		k.len == CPT_ID_LEN + CPT_KEY_LEN && memcmp(k.data, id, CPT_ID_LEN) == 0;
	store_cur_close(&cur);
	return found;
}

/* Puts an event aside until the key wait is vouched for. The cap applies to
 * new arrivals only: an event already waiting is not refused for want of
 * room, and events moved back from the store (capped = 0) are never dropped. */
static int
s_pending_put(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t wait[CPT_KEY_LEN], const uint8_t *raw,
              size_t raw_len, const uint8_t id[CPT_ID_LEN], int capped)
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
	if (rc == CPT_ENOTFOUND && capped &&
	    store_count(txn, DB_PENDING) >= ctx->max_pending)
		return CPT_EFULL;
	if ((rc = store_put(txn, DB_PENDING, k, sizeof(k), raw, raw_len)) != 0)
		return rc;
	return ig_pending_id(ctx->st, txn, k, 1);
}

/* Admits what waited for key. Each entry is taken out before it is ingested
 * again; one that must wait again for the same key goes back under the same
 * (key, id), so the walk resumes strictly after the last id seen and ends. */
static int
s_pending_release(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], int depth)
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
		if (rc == CPT_ENOTFOUND || (rc == 0 && (k.len != sizeof(from) ||
		                                       memcmp(k.data, key, CPT_KEY_LEN) != 0))) {
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
			rc = ig_pending_id(ctx->st, txn, from, 0);
		if (rc == 0)
			rc = s_ingest_one(ctx, txn, copy, len, &res, depth + 1, 0, NULL);
		free(copy);
		if (rc != 0)
			return rc;
	}
}

/* --------------------------------------------------------- authorise */

/* May this author sign this kind of event? 0, CPT_EPENDING (wait gets the
 * key whose certificate or enrolment is missing), CPT_EPERM, CPT_EREVOKED;
 * why says what is wrong. */
static int
s_authorise(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
            uint8_t wait[CPT_KEY_LEN], char *why, size_t whylen)
{
	json_t *info = NULL;
	int st = ig_key_status(ctx, txn, ev->author, HLC_MS(ev->ts), &info);
	int rc = 0;

	switch (st) {
	case KEY_UNKNOWN:
		memcpy(wait, ev->author, CPT_KEY_LEN);
		snprintf(why, whylen, "author not certified yet");
		return CPT_EPENDING;
	case KEY_REVOKED:
		snprintf(why, whylen, "author key revoked");
		return CPT_EREVOKED;
	case KEY_EXPIRED:
		snprintf(why, whylen, "site certificate not valid at the event's time");
		return CPT_EPERM;
	}
	switch (ev->kind) {
	case EVT_SITE_CERT:
		if (st != KEY_ROOT)
			rc = CPT_EPERM;
		break;
	case EVT_ENROL:
		if (st != KEY_SITE) {
			rc = CPT_EPERM;
		} else if (body) {
			/* A site enrols users for itself only. */
			const char *a = json_string_value(json_object_get(info, "site"));
			const char *b = json_string_value(json_object_get(body, "site"));
			if (!a || !b || strcmp(a, b) != 0)
				rc = CPT_EPERM;
		}
		break;
	case EVT_REVOKE: {
		uint8_t target[CPT_KEY_LEN];
		/* The root is what the federation is: a revocation of it would purge
		 * every certificate here and be ignored wherever it came first. */
		if (body && ig_hex_field(body, "key", target) == 0 &&
		    sodium_memcmp(target, ctx->root, CPT_KEY_LEN) == 0) {
			rc = CPT_EPERM;
			break;
		}
		if (st == KEY_ROOT)
			break;
		if (st != KEY_SITE) {
			rc = CPT_EPERM;
		} else if (body) {
			/* A site revokes the users it enrolled, or itself. */
			uint8_t by[CPT_KEY_LEN];
			json_t *t;
			rc = CPT_EPERM;
			if (ig_hex_field(body, "key", target) == 0) {
				if (sodium_memcmp(target, ev->author, CPT_KEY_LEN) == 0)
					rc = 0;
				t = store_get_json(txn, DB_KEYS, target, CPT_KEY_LEN);
				if (t && ig_hex_field(t, "by", by) == 0 &&
				    sodium_memcmp(by, ev->author, CPT_KEY_LEN) == 0)
					rc = 0;
				else if (t == NULL && rc != 0) {
					/* The user is not known here yet: wait for the enrolment. */
					memcpy(wait, target, CPT_KEY_LEN);
					snprintf(why, whylen, "revoked key not known yet");
					json_decref(info);
					return CPT_EPENDING;
				}
				json_decref(t);
			}
		}
		break;
	}
	case EVT_KEY_BACKUP:
	case EVT_PROFILE:
	case EVT_POST:
	case EVT_COMMENT:
	case EVT_REACTION:
	case EVT_EDIT:
	case EVT_REDACT:
		if (st != KEY_USER)
			rc = CPT_EPERM;
		break;
	default:
		break; /* unknown kinds: any certified author; stored and relayed */
	}
	if (rc == CPT_EPERM)
		snprintf(why, whylen, "%s may not be signed by this key", evt_kind_name(ev->kind));
	json_decref(info);
	return rc;
}

/* ------------------------------------------------------------ apply */

/* Erases the body of a stored event: keeps header and signature. */
static int
s_strip_body(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	store_val_t v;
	uint8_t fixed[EVT_FIXED_LEN];
	int rc = store_get(txn, DB_EVENTS, id, CPT_ID_LEN, &v);

	if (rc != 0 || v.len <= EVT_FIXED_LEN)
		return rc == CPT_ENOTFOUND ? 0 : rc;
	memcpy(fixed, v.data, EVT_FIXED_LEN);
	return store_put(txn, DB_EVENTS, id, CPT_ID_LEN, fixed, sizeof(fixed));
}

/* Is the redaction rid (stored) allowed to erase an event by target_author? */
static int
s_redaction_allowed(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t rid[CPT_ID_LEN],
		    const uint8_t target_author[CPT_KEY_LEN])
{
	evt_t r;
	json_t *ra, *ta;
	int ok = 0;

	if (ig_load_event(ctx, txn, rid, &r) != 0)
		return 0;
	if (sodium_memcmp(r.author, target_author, CPT_KEY_LEN) == 0)
		return 1;
	/* An admin of the site that enrolled the target's author. */
	ra = store_get_json(txn, DB_KEYS, r.author, CPT_KEY_LEN);
	ta = store_get_json(txn, DB_KEYS, target_author, CPT_KEY_LEN);
	if (ra && ta) {
		const char *role = json_string_value(json_object_get(ra, "role"));
		const char *rs = json_string_value(json_object_get(ra, "by"));
		const char *ts = json_string_value(json_object_get(ta, "by"));
		ok = role && strcmp(role, "admin") == 0 && rs && ts && strcmp(rs, ts) == 0;
	}
	json_decref(ra);
	json_decref(ta);
	return ok;
}

int
ig_redactable(unsigned kind)
{
	switch (kind) {
	case EVT_SITE_CERT:
	case EVT_ENROL:
	case EVT_REVOKE:
	case EVT_REDACT:
		return 0;
	}
	return 1;
}

/* Is the event id (by author) erased by a redaction we hold? */
static int
s_is_redacted(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
	      const uint8_t author[CPT_KEY_LEN])
{
	store_cur_t *cur;
	store_val_t k = {CPT_ID_LEN, (void *)id}, v;
	int rc, found = 0;

	if (store_cur_open(txn, DB_TOMBSTONES, &cur) != 0)
		return 0;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len == 2 * CPT_ID_LEN && memcmp(k.data, id, CPT_ID_LEN) == 0) {
		if (s_redaction_allowed(ctx, txn, (const uint8_t *)k.data + CPT_ID_LEN, author)) {
			found = 1;
			break;
		}
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return found;
}

/* Brings the views of one stored event up to date after it came or went. */
static int
s_refresh_for(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
	      const uint8_t *ref)
{
	switch (ev->kind) {
	case EVT_POST:
		/* ev: the header, for the view's key when the post just left */
		return vw_post_rebuild_ev(ctx, txn, id, ev, NULL);
	case EVT_REACTION: {
		/* A reaction went: its post's registers from those that stay. */
		int rc = ref ? vw_reactions_rebuild(ctx, txn, ref) : 0;
		return rc == 0 && ref ? vw_post_rebuild(ctx, txn, ref) : rc;
	}
	case EVT_COMMENT:
	case EVT_EDIT:
		return ref ? vw_post_rebuild(ctx, txn, ref) : 0;
	case EVT_PROFILE:
		return vw_profile_rebuild(ctx, txn, ev->author);
	case EVT_KEY_BACKUP:
		return vw_backup_rebuild(ctx, txn, ev->author);
	}
	return 0;
}

/* A redaction: record the tombstone and erase the target if it is here. */
static int
s_apply_redaction(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t rid[CPT_ID_LEN],
		  const uint8_t target[CPT_ID_LEN])
{
	uint8_t k[CPT_ID_LEN + 8 + CPT_ID_LEN];
	evt_t t;
	json_t *tb;
	uint8_t tref[CPT_ID_LEN];
	int rc, has_ref;

	memcpy(k, target, CPT_ID_LEN);
	memcpy(k + CPT_ID_LEN, rid, CPT_ID_LEN);
	if ((rc = store_put(txn, DB_TOMBSTONES, k, 2 * CPT_ID_LEN, "", 0)) != 0)
		return rc;
	if (ig_load_event(ctx, txn, target, &t) != 0 || t.body == NULL || !ig_redactable(t.kind))
		return 0; /* not here yet, already erased, or not erasable */
	if (!s_redaction_allowed(ctx, txn, rid, t.author))
		return 0;
	tb = ig_body(&t);
	has_ref = tb && s_ref_of(&t, tb, tref, 1);
	json_decref(tb);
	/* Mentions of the erased text go with it. */
	if (t.kind == EVT_POST || t.kind == EVT_COMMENT)
		if ((rc = vw_mentions(ctx, txn, &t, NULL, target, 0)) != 0)
			return rc;
	{
		/* t borrows from the txn and the value is about to be replaced:
		 * keep the header fields only (author and ts are copies). */
		evt_t copy = t;
		copy.body = NULL;
		copy.raw = NULL;
		if ((rc = s_strip_body(ctx, txn, target)) != 0)
			return rc;
		/* An erased event refers to nothing any more, exactly as one that
		 * arrives without its body: its DB_BY_REF entry goes. */
		if (has_ref) {
			memcpy(k, tref, CPT_ID_LEN);
			store_put_u64(k + CPT_ID_LEN, copy.ts);
			memcpy(k + CPT_ID_LEN + 8, target, CPT_ID_LEN);
			if ((rc = store_del(txn, DB_BY_REF, k, sizeof(k))) != 0)
				return rc;
		}
		return s_refresh_for(ctx, txn, &copy, target, has_ref ? tref : NULL);
	}
}

static int s_remove_event(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
                          uint8_t **keep, size_t *keep_len);

/* A redaction went (purged with its author's key): its tombstone goes, and a
 * target it alone had erased leaves the store. Its body is lost here; without
 * the event, sync fetches it whole again from a peer that kept it. */
static int
s_unredact(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t target[CPT_ID_LEN],
           const uint8_t rid[CPT_ID_LEN])
{
	uint8_t k[2 * CPT_ID_LEN];
	store_val_t v;
	evt_t t;
	int rc;

	memcpy(k, target, CPT_ID_LEN);
	memcpy(k + CPT_ID_LEN, rid, CPT_ID_LEN);
	if ((rc = store_del(txn, DB_TOMBSTONES, k, sizeof(k))) != 0)
		return rc;
	rc = store_get(txn, DB_EVENTS, target, CPT_ID_LEN, &v);
	if (rc != 0)
		return rc == CPT_ENOTFOUND ? 0 : rc;
	if (v.len != EVT_FIXED_LEN || evt_decode(&t, v.data, v.len, EVT_MAX_BODY) != 0 ||
	    t.body != NULL || s_is_redacted(ctx, txn, target, t.author))
		return 0;
	rc = s_remove_event(ctx, txn, target, NULL, NULL);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* The revoked state of key from the revocations still stored: the smallest
 * effective time, or none. */
static int
s_revoked_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
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
		    ig_load_event(ctx, txn, (uint8_t *)k.data + CPT_KEY_LEN + 8, &r) == 0 &&
		    (body = ig_body(&r)) != NULL) {
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

/* Moves one stored event back to pending, waiting for key. An index entry k
 * (of db) without its event is dropped instead. */
static int
s_unadmit_one(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN],
              const uint8_t id[CPT_ID_LEN], enum store_db db, const uint8_t *k, size_t klen)
{
	uint8_t *raw;
	size_t len;
	int rc = s_remove_event(ctx, txn, id, &raw, &len);

	if (rc == CPT_ENOTFOUND)
		return store_del(txn, db, k, klen);
	if (rc != 0)
		return rc;
	rc = s_pending_put(ctx, txn, key, raw, len, id, 0);
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
		if (rc != 0 || mk.len != sizeof(k) ||
		    memcmp(mk.data, key, CPT_KEY_LEN) != 0) {
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
		    ((uint8_t *)mv.data)[1] == EVT_REVOKE &&
		    ig_load_event(ctx, txn, id, &r) == 0 &&
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

/* An enrolment went (its site was revoked from before it was made): the
 * user's key is as if the enrolment had not come. */
static int
s_unenrol(ingest_ctx_t *ctx, store_txn_t *txn, const json_t *body, const uint8_t id[CPT_ID_LEN])
{
	uint8_t uk[CPT_KEY_LEN];
	store_val_t v;
	int rc;

	if (ig_hex_field(body, "key", uk) != 0)
		return 0;
	if ((rc = vw_unenrol(ctx, txn, body, id)) != 0)
		return rc;
	rc = store_get(txn, DB_KEYS, uk, CPT_KEY_LEN, &v);
	if (rc != CPT_ENOTFOUND)
		return rc; /* another enrolment still vouches for it, or an error */
	return s_unadmit(ctx, txn, uk);
}

/* Takes a stored event out of the store and of every view, as if it had never
 * come. With keep, *keep gets a copy of the stored bytes (the caller frees it).
 * Returns 0, CPT_ENOTFOUND when it is not stored, or a store error. */
static int
s_remove_event(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint8_t **keep,
               size_t *keep_len)
{
	store_val_t mv;
	uint8_t *raw, ref[CPT_ID_LEN];
	size_t raw_len;
	evt_t ev;
	json_t *body;
	int rc, has_ref;

	if (keep)
		*keep = NULL;
	if ((rc = store_get(txn, DB_EVENTS, id, CPT_ID_LEN, &mv)) != 0)
		return rc == CPT_ENOTFOUND ? CPT_ENOTFOUND : rc;
	raw_len = mv.len;
	if ((raw = malloc(raw_len)) == NULL)
		return CPT_ENOMEM;
	memcpy(raw, mv.data, raw_len);
	if (evt_decode(&ev, raw, raw_len, EVT_MAX_BODY) != 0) {
		free(raw);
		return CPT_EINVAL;
	}
	body = ig_body(&ev);
	has_ref = body && s_ref_of(&ev, body, ref, 1);
	rc = store_del(txn, DB_EVENTS, id, CPT_ID_LEN);
	if (rc == 0)
		rc = s_unindex(ctx, txn, &ev, id, has_ref ? ref : NULL);
	if (rc == 0 && body && (ev.kind == EVT_POST || ev.kind == EVT_COMMENT))
		rc = vw_mentions(ctx, txn, &ev, NULL, id, 0);
	if (rc == 0) {
		switch (body ? ev.kind : 0) {
		case EVT_REDACT:
			rc = has_ref ? s_unredact(ctx, txn, ref, id) : 0;
			break;
		case EVT_REVOKE:
			rc = has_ref ? s_revoked_rebuild(ctx, txn, ref) : 0;
			break;
		case EVT_ENROL:
			rc = s_unenrol(ctx, txn, body, id);
			break;
		case EVT_SITE_CERT:
			break; /* signed by the root, which is never revoked */
		default:
			rc = s_refresh_for(ctx, txn, &ev, id, has_ref ? ref : NULL);
		}
	}
	json_decref(body);
	if (rc == 0 && keep) {
		*keep = raw;
		*keep_len = raw_len;
	} else {
		free(raw);
	}
	return rc;
}

/* Deletes every event by key from effective_ms on: a revocation always wins,
 * even over events stored before it arrived. */
static int
s_purge_after(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t effective_ms)
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
		if (rc != 0 || mk.len != sizeof(k) ||
		    memcmp(mk.data, key, CPT_KEY_LEN) != 0) {
			store_cur_close(&cur);
			return rc == CPT_ENOTFOUND || rc == 0 ? 0 : rc;
		}
		memcpy(k, mk.data, sizeof(k));
		store_cur_close(&cur);
		rc = s_remove_event(ctx, txn, k + CPT_KEY_LEN + 8, NULL, NULL);
		if (rc == CPT_ENOTFOUND)
			rc = store_del(txn, DB_BY_AUTHOR, k, sizeof(k));
		if (rc != 0)
			return rc;
	}
}

static int
s_apply(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
	const uint8_t id[CPT_ID_LEN], const uint8_t *ref, int depth)
{
	int rc = 0;

	switch (ev->kind) {
	case EVT_SITE_CERT:
		if ((rc = vw_site_cert(ctx, txn, ev, body, id)) == 0) {
			uint8_t sk[CPT_KEY_LEN];
			if (ig_hex_field(body, "sign_key", sk) == 0)
				rc = s_pending_release(ctx, txn, sk, depth);
		}
		return rc;
	case EVT_ENROL:
		if ((rc = vw_enrol(ctx, txn, ev, body, id)) == 0) {
			uint8_t uk[CPT_KEY_LEN];
			if (ig_hex_field(body, "key", uk) == 0)
				rc = s_pending_release(ctx, txn, uk, depth);
		}
		return rc;
	case EVT_REVOKE: {
		uint8_t key[CPT_KEY_LEN], b[8];
		uint64_t eff = (uint64_t)json_integer_value(json_object_get(body, "effective"));
		if (ig_hex_field(body, "key", key) != 0)
			return 0;
		if (eff < ig_revoked_at(ctx, txn, key)) {
			store_put_u64(b, eff);
			if ((rc = store_put(txn, DB_REVOKED, key, CPT_KEY_LEN, b, 8)) != 0)
				return rc;
			/* Anything the key signed from then on goes. */
			if ((rc = s_purge_after(ctx, txn, key, eff)) != 0)
				return rc;
		}
		return 0;
	}
	case EVT_REDACT:
		return ref ? s_apply_redaction(ctx, txn, id, ref) : 0;
	case EVT_POST:
		if ((rc = vw_mentions(ctx, txn, ev, body, id, 1)) != 0)
			return rc;
		return vw_post_rebuild_ev(ctx, txn, id, ev, body);
	case EVT_COMMENT:
		if ((rc = vw_mentions(ctx, txn, ev, body, id, 1)) != 0)
			return rc;
		/* fall through */
	case EVT_REACTION:
		/* One more reference: the post view changes by difference. */
		return ref ? vw_post_ref_added(ctx, txn, ev, body, id, ref) : 0;
	default:
		return s_refresh_for(ctx, txn, ev, id, ref);
	}
}

/* ------------------------------------------------------------- ingest */

/* Refuses the event with rc (res->why may already say why). While
 * reindexing the event is in DB_EVENTS and must leave it, as it would never
 * have been stored. Returns 0 or a store error. */
static int
s_refuse(ingest_ctx_t *ctx, store_txn_t *txn, ingest_res_t *res, int rc, const char *why)
{
	res->rc = rc;
	if (why)
		snprintf(res->why, sizeof(res->why), "%s", why);
	if (!ctx->reindexing)
		return 0;
	return store_del(txn, DB_EVENTS, res->id, CPT_ID_LEN);
}

/* Returns a store error (abort the txn) or 0; the event's fate is in res. */
static int
s_ingest_one(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *buf, size_t len, ingest_res_t *res,
	     int depth, int preverified, json_t *pre_body)
{
	evt_t ev;
	json_t *body = NULL;
	uint8_t ref[CPT_ID_LEN], iref[CPT_ID_LEN], wait[CPT_KEY_LEN];
	const uint8_t *refp = NULL;
	store_val_t v;
	int rc, redacted = 0, has_iref = 0;
	uint64_t now = ctx->now_ms ? ctx->now_ms : hlc_wall_ms();

	memset(res, 0, sizeof(*res));
	/* Undecodable or badly signed bytes are left where they are, even while
	 * reindexing: verify reports them. */
	/* The body's JSON is checked once, by ig_body below. */
	if ((rc = evt_decode_lazy(&ev, buf, len, ctx->max_body)) != 0) {
		res->rc = rc;
		snprintf(res->why, sizeof(res->why), "%s", cpt_strerror(rc));
		return 0;
	}
	res->kind = ev.kind;
	evt_id(res->id, &ev);
	/* A duplicate costs a lookup, not a signature check: relays in a mesh
	 * receive most events more than once. The id commits to the signature,
	 * so a stored id means these very bytes were verified before. For a
	 * batch the pool verified, the lookup was the sync thread's (or skipped
	 * while batches brought no duplicates): the store's put below
	 * (store_put_new) catches the rest, before this function writes
	 * anything — a stored event's author is known, so it never waits in
	 * DB_PENDING. */
	if (!ctx->reindexing && !preverified) {
		rc = store_get(txn, DB_EVENTS, res->id, CPT_ID_LEN, &v);
		if (rc == 0) {
			res->rc = CPT_EEXIST;
			return 0;
		}
		if (rc != CPT_ENOTFOUND)
			return rc;
	}
	/* Signatures checked on worker threads (node/verify.c) are not checked
	 * again; the federation is, since it costs nothing. */
	if (preverified)
		rc = sodium_memcmp(ev.fed, ctx->fed, CPT_FED_LEN) == 0 ? 0 : CPT_EFEDERATION;
	else
		rc = evt_verify(&ev, ctx->fed);
	if (rc != 0) {
		res->rc = rc;
		snprintf(res->why, sizeof(res->why), "%s", cpt_strerror(rc));
		return 0;
	}
	if (HLC_MS(ev.ts) > now + HLC_MAX_DRIFT_MS)
		return s_refuse(ctx, txn, res, CPT_EAGAIN, "timestamp too far in the future");
	if (ev.body) {
		/* Parsed by the worker that verified these very bytes, if any. */
		body = preverified && pre_body ? json_incref(pre_body) : ig_body(&ev);
		if (body == NULL)
			return s_refuse(ctx, txn, res, CPT_EINVAL, "body is not a JSON object");
		if ((rc = vw_validate(&ev, body, res->why, sizeof(res->why))) != 0) {
			json_decref(body);
			return s_refuse(ctx, txn, res, rc, NULL);
		}
		if (s_ref_of(&ev, body, ref, 0)) {
			refp = ref;
			memcpy(res->ref, ref, CPT_ID_LEN);
			res->has_ref = 1;
		}
	} else if (!ig_redactable(ev.kind)) {
		/* Trust and redaction events carry state that cannot be erased. */
		return s_refuse(ctx, txn, res, CPT_EINVAL,
		                "this kind of event cannot arrive redacted");
	} else if (!s_is_redacted(ctx, txn, res->id, ev.author)) {
		/* Without its redaction, a bodiless copy would let a peer censor. */
		return s_refuse(ctx, txn, res, CPT_EINVAL,
		                "body missing and no redaction of it is known");
	}
	rc = s_authorise(ctx, txn, &ev, body, wait, res->why, sizeof(res->why));
	if (rc == CPT_EPENDING) {
		/* While reindexing, an event waits as it would have on arrival,
		 * whatever the cap now: it had been accepted. */
		int prc = 0;
		if (ctx->reindexing)
			prc = store_del(txn, DB_EVENTS, res->id, CPT_ID_LEN);
		if (prc == 0)
			prc = s_pending_put(ctx, txn, wait, ev.raw, ev.raw_len, res->id,
			                    !ctx->reindexing);
		json_decref(body);
		if (prc == CPT_EFULL) {
			res->rc = CPT_EFULL;
			snprintf(res->why, sizeof(res->why),
			         "too many events wait for a certificate");
			return 0;
		}
		res->rc = prc == 0 ? CPT_EPENDING : prc;
		return prc;
	}
	if (rc != 0) {
		json_decref(body);
		return s_refuse(ctx, txn, res, rc, NULL);
	}
	/* A body erased by a redaction we already hold is never accepted again. */
	if (ev.body == NULL || (ig_redactable(ev.kind) && s_is_redacted(ctx, txn, res->id, ev.author)))
		redacted = 1;
	{
		store_val_t key = {CPT_ID_LEN, res->id}, val = {redacted ? EVT_FIXED_LEN : ev.raw_len,
							      (void *)ev.raw};
		rc = ctx->reindexing ? store_put(txn, DB_EVENTS, key.data, key.len, val.data, val.len)
				     : store_put_new(txn, DB_EVENTS, key.data, key.len, val.data, val.len);
		if (rc == CPT_EEXIST) {
			json_decref(body);
			res->rc = CPT_EEXIST;
			return 0;
		}
	}
	/* An erased event refers to nothing: whether it came with its body or
	 * without, it has no DB_BY_REF entry. */
	if (!redacted && body)
		has_iref = s_ref_of(&ev, body, iref, 1);
	if (rc == 0)
		rc = s_index(ctx, txn, &ev, res->id, has_iref ? iref : NULL);
	if (rc == 0 && !redacted) {
		/* Trust events change key records, and their purges and releases
		 * read them: the cache starts afresh before and after. */
		int trust = ev.kind == EVT_SITE_CERT || ev.kind == EVT_ENROL || ev.kind == EVT_REVOKE;
		int was_off = ctx->cache && ctx->cache->off;
		if (trust)
			s_cache_off(ctx, 1);
		rc = s_apply(ctx, txn, &ev, body, res->id, refp, depth);
		if (trust)
			s_cache_off(ctx, was_off);
	} else if (rc == 0) {
		evt_t copy = ev;
		copy.body = NULL;
		rc = s_refresh_for(ctx, txn, &copy, res->id, refp);
	}
	json_decref(body);
	return rc;
}

int
ingest_txn(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *const *buf, const size_t *len, size_t n,
	   ingest_res_t *res)
{
	int rc = 0;

	ig_cache_clear(ctx); /* a new (or retried) transaction: read afresh */
	/* Index changes of a batch go in at its end (bk_acc_flush); one event
	 * alone is indexed directly. */
	ctx->bk = n > 1 ? bk_acc_new() : NULL;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = s_ingest_one(ctx, txn, buf[i], len[i], &res[i], 0,
				  ctx->verified != NULL && ctx->verified[i],
				  ctx->bodies ? ctx->bodies[i] : NULL);
	if (rc == 0 && ctx->bk)
		rc = bk_acc_flush(ctx->bk, ctx->st, txn);
	bk_acc_free(&ctx->bk);
	return rc;
}
