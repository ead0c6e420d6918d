/*
 * The single ingest path: decode, verify, validate by kind, authorise,
 * store, update every index (the registry of node/index), then what the
 * kind does (its entry in kinds.c), all in the caller's write transaction.
 * Local posts and events from peers both come through ingest_txn(). Views
 * are functions of the set of stored events, whatever order they arrived
 * in (docs/ARCHITECTURE.md).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/event/event_internal.h"

void
ingest_ctx_release(ingest_ctx_t *ctx)
{
	index_ctx_release(&ctx->ix);
}

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

/* The event e (stored with its body) takes effect: the indexes, then what
 * its kind does. Trust events change key records, and their purges and
 * releases read them: the cache starts afresh before and after. */
static int
s_apply(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e, int depth)
{
	const ev_kind_t *k = ev_kind(e->ev->kind);
	int was_off = index_cache_is_off(&ctx->ix), rc;

	if (k->trust)
		index_cache_off(&ctx->ix, 1);
	rc = index_added(&ctx->ix, txn, e);
	if (rc == 0 && k->apply)
		rc = k->apply(ctx, txn, e, depth);
	if (k->trust)
		index_cache_off(&ctx->ix, was_off);
	return rc;
}

int
ev_ingest_one(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *buf, size_t len,
              ingest_res_t *res, int depth, int preverified, json_t *pre_body)
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
	/* The body's JSON is checked once, by index_body below. */
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
	/* Signatures checked on worker threads (node/fed/vpool.c) are not
	 * checked again; the federation is, since it costs nothing. */
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
		body = preverified && pre_body ? json_incref(pre_body) : index_body(&ev);
		if (body == NULL)
			return s_refuse(ctx, txn, res, CPT_EINVAL, "body is not a JSON object");
		if ((rc = event_validate(&ev, body, res->why, sizeof(res->why))) != 0) {
			json_decref(body);
			return s_refuse(ctx, txn, res, rc, NULL);
		}
		if (ev_ref_of(&ev, body, ref, 0)) {
			refp = ref;
			memcpy(res->ref, ref, CPT_ID_LEN);
			res->has_ref = 1;
		}
	} else if (!event_redactable(ev.kind)) {
		/* Trust and redaction events carry state that cannot be erased. */
		return s_refuse(ctx, txn, res, CPT_EINVAL,
		                "this kind of event cannot arrive redacted");
	} else if (!ev_is_redacted(ctx, txn, res->id, ev.author)) {
		/* Without its redaction, a bodiless copy would let a peer censor. */
		return s_refuse(ctx, txn, res, CPT_EINVAL,
		                "body missing and no redaction of it is known");
	}
	rc = ev_authorise(ctx, txn, &ev, body, wait, res->why, sizeof(res->why));
	if (rc == CPT_EPENDING) {
		/* While reindexing, an event waits as it would have on arrival,
		 * whatever the cap now: it had been accepted. */
		int prc = 0;
		if (ctx->reindexing)
			prc = store_del(txn, DB_EVENTS, res->id, CPT_ID_LEN);
		if (prc == 0)
			prc = ev_pending_put(ctx, txn, wait, ev.raw, ev.raw_len, res->id,
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
	if (ev.body == NULL ||
	    (event_redactable(ev.kind) && ev_is_redacted(ctx, txn, res->id, ev.author)))
		redacted = 1;
	rc = ctx->reindexing ? store_put(txn, DB_EVENTS, res->id, CPT_ID_LEN, ev.raw,
	                                 redacted ? EVT_FIXED_LEN : ev.raw_len)
	                     : store_put_new(txn, DB_EVENTS, res->id, CPT_ID_LEN, ev.raw,
	                                     redacted ? EVT_FIXED_LEN : ev.raw_len);
	if (rc == CPT_EEXIST) {
		json_decref(body);
		res->rc = CPT_EEXIST;
		return 0;
	}
	/* An erased event refers to nothing: whether it came with its body or
	 * without, it has no DB_BY_REF entry. */
	if (!redacted && body)
		has_iref = ev_ref_of(&ev, body, iref, 1);
	if (rc == 0)
		rc = index_base_add(&ctx->ix, txn, &ev, res->id, has_iref ? iref : NULL);
	if (rc == 0 && !redacted) {
		index_ev_t e = {&ev, body, res->id, refp};
		rc = s_apply(ctx, txn, &e, depth);
	} else if (rc == 0) {
		/* Stored erased: the indexes know it as an event whose body went. */
		evt_t copy = ev;
		index_ev_t e = {&copy, NULL, res->id, refp};
		copy.body = NULL;
		rc = index_removed(&ctx->ix, txn, &e);
	}
	json_decref(body);
	return rc;
}

int
ev_remove(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint8_t **keep,
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
		return rc;
	raw_len = mv.len;
	if ((raw = malloc(raw_len)) == NULL)
		return CPT_ENOMEM;
	memcpy(raw, mv.data, raw_len);
	if (evt_decode(&ev, raw, raw_len, EVT_MAX_BODY) != 0) {
		free(raw);
		return CPT_EINVAL;
	}
	body = index_body(&ev);
	has_ref = body && ev_ref_of(&ev, body, ref, 1);
	rc = store_del(txn, DB_EVENTS, id, CPT_ID_LEN);
	if (rc == 0)
		rc = index_base_del(&ctx->ix, txn, &ev, id, has_ref ? ref : NULL);
	if (rc == 0) {
		index_ev_t e = {&ev, body, id, has_ref ? ref : NULL};
		const ev_kind_t *k = ev_kind(ev.kind);
		rc = index_removed(&ctx->ix, txn, &e);
		/* What the kind did goes too; only an event with its body did
		 * anything (trust events and redactions never lose theirs). */
		if (rc == 0 && body && k->remove)
			rc = k->remove(ctx, txn, &e);
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

int
ingest_txn(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *const *buf, const size_t *len,
           size_t n, ingest_res_t *res)
{
	int rc = 0;

	assert(ctx != NULL && ctx->st != NULL && txn != NULL && (n == 0 || (buf && len && res)));
	index_cache_clear(&ctx->ix); /* a new (or retried) transaction: read afresh */
	/* Folds of spaces too, but a reindex ingests its one transaction an
	 * event at a time: it empties them at its start (reindex.c). */
	if (!ctx->reindexing)
		index_spaces_cache_clear(&ctx->ix);
	/* Index changes of a batch go in at its end (bk_acc_flush); one event
	 * alone is indexed directly. */
	ctx->ix.bk = n > 1 ? bk_acc_new() : NULL;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = ev_ingest_one(ctx, txn, buf[i], len[i], &res[i], 0,
		                   ctx->verified != NULL && ctx->verified[i],
		                   ctx->bodies ? ctx->bodies[i] : NULL);
	if (rc == 0 && ctx->ix.bk)
		rc = bk_acc_flush(ctx->ix.bk, txn);
	bk_acc_free(&ctx->ix.bk);
	return rc;
}
