/*
 * Redactions: a redaction is kept as a tombstone (node/index/tombstones.c)
 * even before its target arrives; when the target is here and the
 * redaction allowed (event_may_redact), its body is erased from the store
 * and from every index, and a body erased is never accepted again. A
 * bodiless copy of an event is accepted only when such a redaction of it is
 * known: otherwise a peer could censor by stripping bodies.
 */
#include <string.h>

#include "node/event/event_internal.h"

/* Is the redaction rid (stored) allowed to erase an event by author, with
 * the roles of its own time (PROTOCOL.md 8.6)? */
static int
s_allowed(store_txn_t *txn, const uint8_t rid[CPT_ID_LEN], const uint8_t author[CPT_KEY_LEN])
{
	evt_t r;

	if (index_event(txn, rid, &r) != 0)
		return 0;
	return event_may_redact(txn, r.author, author, HLC_MS(r.ts));
}

struct redacted {
	store_txn_t *txn;      /* where */
	const uint8_t *author; /* the target's author */
};

static int
s_tomb_allowed(void *arg, const uint8_t rid[CPT_ID_LEN])
{
	struct redacted *a = arg;

	return s_allowed(a->txn, rid, a->author);
}

int
ev_is_redacted(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
               const uint8_t author[CPT_KEY_LEN])
{
	struct redacted a = {txn, author};

	(void)ctx;
	return index_tombstones(txn, id, s_tomb_allowed, &a) != 0;
}

/* Erases the body of a stored event: keeps header and signature. */
static int
s_strip_body(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	index_env_t v;
	uint8_t fixed[EVT_FIXED_LEN];
	int rc = index_env_read(txn, id, &v);

	if (rc != 0 || v.body == NULL)
		return rc == CPT_ENOTFOUND ? 0 : rc;
	memcpy(fixed, v.fixed, EVT_FIXED_LEN); /* v dies with the put */
	return index_env_put(txn, id, fixed, sizeof(fixed), 0);
}

/* A redaction came (its tombstone is recorded): erase the target if it is
 * here with its body, erasable, and the redaction allowed. */
int
ev_redact_apply(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e, int depth)
{
	const uint8_t *target = e->ref;
	evt_t t;
	json_t *tb;
	uint8_t tref[CPT_ID_LEN];
	int rc, has_ref;

	(void)depth;
	if (target == NULL)
		return 0;
	if (index_event(txn, target, &t) != 0 || t.body == NULL || !event_redactable(t.kind))
		return 0; /* not here yet, already erased, or not erasable */
	if (!s_allowed(txn, e->id, t.author))
		return 0;
	/* The body, parsed now: t borrows from the transaction, and the value
	 * is about to be replaced. The indexes still need its text (mentions). */
	tb = index_body(&t);
	has_ref = tb && ev_ref_of(&t, tb, tref, 1);
	{
		/* Keep the header fields only (author and ts are copies). */
		evt_t copy = t;
		index_ev_t gone = {&copy, tb, target, has_ref ? tref : NULL};
		copy.body = NULL;
		copy.raw = NULL;
		rc = s_strip_body(txn, target);
		/* An erased event refers to nothing any more, exactly as one that
		 * arrives without its body: its DB_BY_REF entry goes. */
		if (rc == 0 && has_ref)
			rc = index_base_unref(txn, tref, copy.ts, target);
		if (rc == 0)
			rc = index_removed(&ctx->ix, txn, &gone);
	}
	json_decref(tb);
	return rc;
}

/* A redaction went (purged with its author's key; its tombstone is gone):
 * a target it alone had erased leaves the store. Its body is lost here;
 * without the event, sync fetches it whole again from a peer that kept it. */
int
ev_redact_remove(ingest_ctx_t *ctx, store_txn_t *txn, const index_ev_t *e)
{
	const uint8_t *target = e->ref;
	index_env_t v;
	evt_t t;
	int rc;

	if (target == NULL)
		return 0;
	rc = index_env_read(txn, target, &v);
	if (rc != 0)
		return rc == CPT_ENOTFOUND ? 0 : rc;
	if (v.body != NULL || index_env_decode(&v, &t, 0) != 0 || t.body != NULL ||
	    ev_is_redacted(ctx, txn, target, t.author))
		return 0;
	rc = ev_remove(ctx, txn, target, NULL, NULL);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}
