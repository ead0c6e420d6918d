/*
 * What is kept without being admitted (PROTOCOL.md 8: pending, held, aside)
 * and the settling that makes admission a function of the set of events.
 * Kept events live in DB_PENDING under the key whose trust state can change
 * their verdict (the author, or the user a site revokes), held ones under a
 * marker and their release time, each with its rule in DB_PENDING_IDS;
 * bounded for new arrivals, never dropped for want of room. When a
 * certificate, an enrolment or a revocation is admitted or leaves, its key
 * is pushed on a work list; settling judges again, key after key, what
 * depends on it: the events kept under it, the events it signed, the
 * enrolments and revocations that name it. The rules are stratified
 * (certificates and the root's revocations, then enrolments, then sites'
 * revocations, then users' events), so this ends, on the same state
 * whatever the order the events came in.
 */
#include <stdlib.h>
#include <string.h>

#include "node/event/event_internal.h"

/* A held event's DB_PENDING key begins with this many 0xff bytes, then its
 * release time (ms, big-endian): no Ed25519 key begins so (2^-192). */
#define HELD_MARK  (CPT_KEY_LEN - 8)
#define SETTLE_MAX 1000000 /* keys settled in one transaction, a guard against a bug */

/* 32 bytes of 0xfe: no Ed25519 key is so. */
const uint8_t ev_trust_dep[CPT_KEY_LEN] = {
    0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe,
    0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe,
};

/* The keys to settle: a stack, with no key twice. */
struct ev_work {
	uint8_t (*keys)[CPT_KEY_LEN]; /* pushed, not settled yet */
	size_t n, cap;                /* how many, room */
};

void
ev_work_free(ingest_ctx_t *ctx)
{
	if (ctx->work) {
		free(ctx->work->keys);
		free(ctx->work);
		ctx->work = NULL;
	}
}

void
ev_work_reset(ingest_ctx_t *ctx)
{
	if (ctx->work)
		ctx->work->n = 0;
}

int
ev_settle_push(ingest_ctx_t *ctx, const uint8_t key[CPT_KEY_LEN])
{
	struct ev_work *w = ctx->work;

	if (w == NULL && (w = ctx->work = calloc(1, sizeof(*w))) == NULL)
		return CPT_ENOMEM;
	for (size_t i = 0; i < w->n; i++)
		if (memcmp(w->keys[i], key, CPT_KEY_LEN) == 0)
			return 0;
	if (w->n == w->cap) {
		void *bigger = realloc(w->keys, (w->cap = w->cap ? 2 * w->cap : 16) * CPT_KEY_LEN);
		if (bigger == NULL)
			return CPT_ENOMEM;
		w->keys = bigger;
	}
	memcpy(w->keys[w->n++], key, CPT_KEY_LEN);
	return 0;
}

/* ------------------------------------------------------------ keeping */

static int
s_is_held_key(const uint8_t *k)
{
	for (int i = 0; i < HELD_MARK; i++)
		if (k[i] != 0xff)
			return 0;
	return 1;
}

int
ev_keep(ingest_ctx_t *ctx, store_txn_t *txn, const ev_verdict_t *v, const uint8_t *raw,
        size_t raw_len, const uint8_t id[CPT_ID_LEN], int capped)
{
	uint8_t k[CPT_KEY_LEN + CPT_ID_LEN];
	store_val_t old;
	int rc;

	if (v->state == EV_HELD) {
		memset(k, 0xff, HELD_MARK);
		memcpy(k + HELD_MARK, v->dep + HELD_MARK, 8);
	} else {
		memcpy(k, v->dep, CPT_KEY_LEN);
	}
	memcpy(k + CPT_KEY_LEN, id, CPT_ID_LEN);
	rc = store_get(txn, DB_PENDING, k, sizeof(k), &old);
	if (rc == 0 && old.len >= raw_len)
		return index_pending_id(txn, k, v->rule); /* kept already, with its body if any */
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	if (rc == CPT_ENOTFOUND && capped && store_count(txn, DB_PENDING) >= ctx->max_pending)
		return CPT_EFULL;
	if ((rc = store_put(txn, DB_PENDING, k, sizeof(k), raw, raw_len)) != 0)
		return rc;
	return index_pending_id(txn, k, v->rule);
}

void
ev_held_verdict(ev_verdict_t *v, uint64_t release)
{
	memset(v, 0, sizeof(*v));
	v->state = EV_HELD;
	v->rc = CPT_EHELD;
	v->rule = "clock.hold";
	memset(v->dep, 0xff, HELD_MARK);
	store_put_u64(v->dep + HELD_MARK, release);
}

int
ev_kept(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int *code, char rule[40])
{
	store_cur_t *cur;
	store_val_t k = {CPT_ID_LEN, (void *)id}, v;
	int rc;

	if ((rc = store_cur_open(txn, DB_PENDING_IDS, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	if (rc == 0 && k.len == CPT_ID_LEN + CPT_KEY_LEN && memcmp(k.data, id, CPT_ID_LEN) == 0) {
		size_t n = v.len < 39 ? v.len : 39;
		memcpy(rule, v.data, n);
		rule[n] = 0;
		*code = strcmp(rule, "clock.hold") == 0     ? CPT_EHELD
		        : strncmp(rule, "revoked.", 8) == 0 ? CPT_EREVOKED
		                                            : CPT_EPENDING;
		rc = 1;
	} else if (rc == 0 || rc == CPT_ENOTFOUND) {
		rc = 0;
	}
	store_cur_close(&cur);
	return rc;
}

/* ---------------------------------------------------------- releasing */

/*
 * Takes out and ingests again, at depth 1 (no new cap), every kept event
 * whose DB_PENDING key lies in [lo, hi] (64 bytes each). Each entry is taken
 * out before it is ingested; one kept again under the same key goes back
 * there, so the walk resumes strictly after the last key seen and ends.
 */
static int
s_reingest_range(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t lo[64], const uint8_t hi[64])
{
	uint8_t from[CPT_KEY_LEN + CPT_ID_LEN];
	int rc, first = 1;

	memcpy(from, lo, sizeof(from));
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
		if (rc == CPT_ENOTFOUND ||
		    (rc == 0 && (k.len != sizeof(from) || memcmp(k.data, hi, sizeof(from)) > 0))) {
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
			rc = index_pending_id(txn, from, NULL);
		if (rc == 0)
			rc = ev_ingest_one(ctx, txn, copy, len, &res, 1, 0, NULL);
		free(copy);
		if (rc != 0)
			return rc;
	}
}

int
event_held_due(store_txn_t *txn, uint64_t now_ms)
{
	uint8_t lo[64];
	store_cur_t *cur;
	store_val_t k = {sizeof(lo), lo}, v;
	int due;

	memset(lo, 0xff, HELD_MARK);
	memset(lo + HELD_MARK, 0, sizeof(lo) - HELD_MARK);
	if (store_cur_open(txn, DB_PENDING, &cur) != 0)
		return 0;
	due = store_cur_get(cur, &k, &v, STORE_SEEK) == 0 && k.len == sizeof(lo) &&
	      s_is_held_key(k.data) && store_get_u64((const uint8_t *)k.data + HELD_MARK) <= now_ms;
	store_cur_close(&cur);
	return due;
}

int
ev_held_release(ingest_ctx_t *ctx, store_txn_t *txn, uint64_t now_ms)
{
	uint8_t lo[64], hi[64];
	store_cur_t *cur;
	store_val_t k, v;
	int rc, due;

	memset(lo, 0xff, HELD_MARK);
	memset(lo + HELD_MARK, 0, sizeof(lo) - HELD_MARK);
	/* Most calls find nothing due: one seek. */
	if ((rc = store_cur_open(txn, DB_PENDING, &cur)) != 0)
		return rc;
	k.len = sizeof(lo);
	k.data = lo;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	due = rc == 0 && k.len == sizeof(lo) && s_is_held_key(k.data) &&
	      store_get_u64((const uint8_t *)k.data + HELD_MARK) <= now_ms;
	store_cur_close(&cur);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	if (!due)
		return 0;
	memcpy(hi, lo, HELD_MARK);
	store_put_u64(hi + HELD_MARK, now_ms);
	memset(hi + CPT_KEY_LEN, 0xff, CPT_ID_LEN);
	if ((rc = s_reingest_range(ctx, txn, lo, hi)) != 0)
		return rc;
	return ev_settle(ctx, txn);
}

/* ----------------------------------------------------------- settling */

/* The ids of db's entries under key (DB_BY_AUTHOR: key ts id; DB_BY_REF:
 * the key's reference number ts id),
 * of the kinds in mask (0: any); *out malloc'd (free it). */
static int
s_ids_under(store_txn_t *txn, enum store_db db, const uint8_t key[CPT_KEY_LEN], uint64_t mask,
            uint8_t **out, size_t *n)
{
	store_cur_t *cur;
	uint8_t num[8];
	/* DB_BY_REF is under the key's reference number (schema 13). */
	size_t pl = db == DB_BY_REF ? sizeof(num) : CPT_KEY_LEN;
	const uint8_t *prefix = db == DB_BY_REF ? num : key;
	store_val_t k = {pl, prefix}, v;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (db == DB_BY_REF && (rc = index_ref_num(txn, key, 0, num)) != 0)
		return rc == CPT_ENOTFOUND ? 0 : rc; /* none: nothing names it */
	if ((rc = store_cur_open(txn, db, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != pl + 8 + CPT_ID_LEN || memcmp(k.data, prefix, pl) != 0)
			break;
		if (mask && (v.len != 2 || ((uint8_t *)v.data)[0] != 0 ||
		             !(mask & (1ull << ((uint8_t *)v.data)[1]))))
			continue;
		if (*n == cap) {
			uint8_t *bigger = realloc(*out, (cap = cap ? 2 * cap : 64) * CPT_ID_LEN);
			if (bigger == NULL) {
				store_cur_close(&cur);
				return CPT_ENOMEM;
			}
			*out = bigger;
		}
		memcpy(*out + (*n)++ * CPT_ID_LEN, (uint8_t *)k.data + pl + 8, CPT_ID_LEN);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND || rc == 0 ? 0 : rc;
}

/* Judges an admitted event again: it stays, or leaves the store for the
 * state its verdict gives (kept, or dropped when refused for good). A
 * redaction that stays erases what it may erase now. */
static int
s_rejudge(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	evt_t ev;
	json_t *body;
	ev_verdict_t v;
	uint8_t *raw, ref[CPT_ID_LEN];
	size_t len;
	int rc;

	if ((rc = index_event(txn, id, &ev)) != 0)
		return rc == CPT_ENOTFOUND ? 0 : rc;
	body = index_body(&ev);
	rc = ev_judge(ctx, txn, &ev, id, body, &v);
	if (rc == 0 && v.state == EV_ADMIT) {
		/* Who may erase depends on enrolments (the roles at the redaction's
		 * time): what it may erase now is erased; a target it erased but no
		 * longer may (a demotion dated before it came after it) leaves the
		 * store, so that a peer's whole copy comes back (PROTOCOL.md 8.6). */
		if (ev.kind == EVT_REDACT && body && ev_ref_of(&ev, body, ref, 0)) {
			index_ev_t e = {&ev, body, id, ref};
			rc = ev_redact_apply(ctx, txn, &e, 1);
			if (rc == 0)
				rc = ev_redact_remove(ctx, txn, &e);
		}
		json_decref(body);
		return rc;
	}
	json_decref(body);
	if (rc != 0)
		return rc;
	if ((rc = ev_remove(ctx, txn, id, &raw, &len)) != 0)
		return rc == CPT_ENOTFOUND ? 0 : rc;
	if (v.state != EV_REFUSE)
		rc = ev_keep(ctx, txn, &v, raw, len, id, 0);
	free(raw);
	return rc;
}

/* Settles one key: see ev_settle. */
static int
s_settle_key(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	uint8_t lo[64], hi[64], *ids;
	size_t n;
	int rc;

	index_cache_clear(&ctx->ix);
	/* What is kept waiting for it, and the sites' enrolments and
	 * revocations that wait (they depend on two keys). */
	for (int pass = 0; pass < 2; pass++) {
		const uint8_t *dep = pass == 0 ? key : ev_trust_dep;
		memcpy(lo, dep, CPT_KEY_LEN);
		memset(lo + CPT_KEY_LEN, 0, CPT_ID_LEN);
		memcpy(hi, dep, CPT_KEY_LEN);
		memset(hi + CPT_KEY_LEN, 0xff, CPT_ID_LEN);
		if ((rc = s_reingest_range(ctx, txn, lo, hi)) != 0)
			return rc;
	}
	/* What it signed, and the enrolments and revocations that name it. */
	if ((rc = s_ids_under(txn, DB_BY_AUTHOR, key, 0, &ids, &n)) == 0)
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = s_rejudge(ctx, txn, ids + i * CPT_ID_LEN);
	free(ids);
	if (rc != 0)
		return rc;
	if ((rc = s_ids_under(txn, DB_BY_REF, key, (1ull << EVT_ENROL) | (1ull << EVT_REVOKE), &ids,
	                      &n)) == 0)
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = s_rejudge(ctx, txn, ids + i * CPT_ID_LEN);
	free(ids);
	return rc;
}

int
ev_settle(ingest_ctx_t *ctx, store_txn_t *txn)
{
	size_t rounds = 0;
	int rc = 0;

	while (rc == 0 && ctx->work && ctx->work->n > 0) {
		uint8_t key[CPT_KEY_LEN];
		if (++rounds > SETTLE_MAX)
			return CPT_EINVAL;
		memcpy(key, ctx->work->keys[--ctx->work->n], CPT_KEY_LEN);
		rc = s_settle_key(ctx, txn, key);
	}
	if (rc != 0 && ctx->work)
		ctx->work->n = 0; /* the transaction aborts: a retry starts afresh */
	/* Only a key settled changed the records: called after every event,
	 * an unconditional clear made each event parse its author's record
	 * again (4% of a receiving node's CPU during a fill). */
	if (rounds > 0)
		index_cache_clear(&ctx->ix);
	return rc;
}

/* ------------------------------------------------------ the table's hooks */

/* The key whose trust state a trust event changes: a certificate's sign_key,
 * the key an enrolment or a revocation names. */
static int
s_trust_key(const index_ev_t *e, uint8_t key[CPT_KEY_LEN])
{
	return index_hex_field(e->body, e->ev->kind == EVT_SITE_CERT ? "sign_key" : "key", key);
}

int
ev_trust_apply(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e, int depth)
{
	uint8_t key[CPT_KEY_LEN];

	(void)txn;
	(void)depth;
	return e->body && s_trust_key(e, key) == 0 ? ev_settle_push(ctx, key) : 0;
}

int
ev_trust_remove(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e)
{
	return ev_trust_apply(ctx, txn, e, 0);
}
