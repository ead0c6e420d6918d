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
	ev_work_free(ctx);
	free(ctx->later);
	ctx->later = NULL;
	ctx->n_later = ctx->cap_later = 0;
}

/* An event stored at depth > 0, for the caller's announcements. Out of
 * memory, it is not recorded: reconciliation still brings it to peers. */
static void
s_note_later(ingest_ctx_t *ctx, const evt_t *ev, const ingest_res_t *res)
{
	ingest_later_t *x;

	if (ctx->n_later == ctx->cap_later) {
		size_t cap = ctx->cap_later ? 2 * ctx->cap_later : 16;
		ingest_later_t *bigger = realloc(ctx->later, cap * sizeof(*bigger));
		if (bigger == NULL)
			return;
		ctx->later = bigger;
		ctx->cap_later = cap;
	}
	x = &ctx->later[ctx->n_later++];
	memcpy(x->id, res->id, CPT_ID_LEN);
	x->ts = ev->ts;
	x->kind = res->kind;
	memcpy(x->ref, res->ref, CPT_ID_LEN);
	x->has_ref = res->has_ref;
}

/* Refuses the event with rc and rule (res->why may already say why). While
 * reindexing the event is stored and must leave it, as it would never
 * have been stored. Returns 0 or a store error. */
static int
s_refuse(ingest_ctx_t *ctx, store_txn_t *txn, ingest_res_t *res, int rc, const char *rule,
         const char *why)
{
	int drc;

	res->rc = rc;
	if (rule)
		snprintf(res->rule, sizeof(res->rule), "%s", rule);
	if (why)
		snprintf(res->why, sizeof(res->why), "%s", why);
	if (!ctx->reindexing)
		return 0;
	drc = index_env_del(txn, res->id);
	return drc == CPT_ENOTFOUND ? 0 : drc;
}

/* The rule of a decoding error (PROTOCOL.md 8.8). */
static const char *
s_decode_rule(int rc)
{
	switch (rc) {
	case CPT_EVERSION: return "decode.version";
	case CPT_ETOOBIG: return "decode.size";
	case CPT_EHASH: return "decode.hash";
	case CPT_EFEDERATION: return "decode.federation";
	case CPT_ESIG: return "decode.signature";
	}
	return "decode.structure";
}

/* What an event's verdict says, in words, for res->why. */
static const char *
s_verdict_why(const char *rule)
{
	static const struct {
		const char *rule, *why;
	} words[] = {
	    {"author.kind", "this key may never sign this kind of event"},
	    {"author.unknown", "author not enrolled or certified yet"},
	    {"author.not_site", "only a site key signs this, and no certificate names the author"},
	    {"user.before_enrolment", "dated before its author's first enrolment"},
	    {"site.window", "signed outside the site's certificate windows (under that name)"},
	    {"revoke.not_enrolled", "the revoked key is not enrolled under the revoker's name"},
	    {"enrol.site_key", "a site key cannot be enrolled as a user"},
	    {"revoke.site_key", "only the root revokes a site key"},
	    {"revoked.effective", "author key revoked at the event's time"},
	    {"revoked.unvouched", "dated before the revocation's vouch.to and not listed in it"},
	    {"clock.hold", "dated more than 5 minutes ahead: held until its time"},
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(words[i].rule, rule) == 0)
			return words[i].why;
	return rule;
}

/* Keeps the event (pending, held or aside) and says so in res. A new
 * arrival (depth 0, not reindexing) counts against max_pending. While
 * reindexing it leaves the envelopes first. 0 or a store error. */
static int
s_keep(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, ingest_res_t *res,
       const ev_verdict_t *v, int depth)
{
	int rc = 0;

	if (ctx->reindexing) {
		rc = index_env_del(txn, res->id);
		rc = rc == CPT_ENOTFOUND ? 0 : rc;
	}
	if (rc == 0)
		rc = ev_keep(ctx, txn, v, ev->raw, ev->raw_len, res->id,
		             depth == 0 && !ctx->reindexing);
	if (rc == CPT_EFULL) {
		res->rc = CPT_EFULL;
		snprintf(res->rule, sizeof(res->rule), "pending.full");
		snprintf(res->why, sizeof(res->why),
		         "too many events kept without being admitted (limits.max_pending)");
		return 0;
	}
	res->rc = rc == 0 ? v->rc : rc;
	snprintf(res->rule, sizeof(res->rule), "%s", v->rule);
	snprintf(res->why, sizeof(res->why), "%s", s_verdict_why(v->rule));
	return rc;
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

/* Checks of PROTOCOL.md 8.1 step 5: what no other event can change. */
static const char *
s_never(const ingest_ctx_t *ctx, const evt_t *ev, const json_t *body)
{
	/* Public keys: memcmp (sodium_memcmp's constant time is for secrets,
	 * and cost 1% of the writer's instructions on every event). */
	int by_root = memcmp(ev->author, ctx->root, CPT_KEY_LEN) == 0;
	uint8_t target[CPT_KEY_LEN];

	if (ev->kind == EVT_SITE_CERT && !by_root)
		return "author.kind";
	if (by_root && ev->kind != EVT_SITE_CERT && ev->kind != EVT_REVOKE &&
	    !(ev_kind(ev->kind)->signers & EV_BY_ROOT))
		return "author.kind";
	if (ev->kind == EVT_REVOKE && body && index_hex_field(body, "key", target) == 0 &&
	    sodium_memcmp(target, ctx->root, CPT_KEY_LEN) == 0)
		return "revoke.root";
	return NULL;
}

/* evt_decode_lazy; for bytes a verify worker decoded (preverified), the
 * body's hash is not computed again: the worker compared it with the
 * header's on these very bytes, as it checked their signature. */
static int
s_decode(evt_t *ev, const uint8_t *buf, size_t len, size_t max_body, int preverified)
{
	if (!preverified || buf == NULL || len < EVT_FIXED_LEN)
		return evt_decode_lazy(ev, buf, len, max_body);
	return evt_decode_parts(ev, buf, len > EVT_FIXED_LEN ? buf + EVT_FIXED_LEN : NULL,
	                        len - EVT_FIXED_LEN, max_body, 1 | EVT_DECODE_HASHED);
}

int
ev_ingest_one(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *buf, size_t len,
              ingest_res_t *res, int depth, int preverified, json_t *pre_body)
{
	const ev_kind_t *k;
	evt_t ev;
	json_t *body = NULL;
	uint8_t ref[CPT_ID_LEN], iref[CPT_ID_LEN];
	const uint8_t *refp = NULL;
	const char *never;
	ev_verdict_t v;
	char rule[40];
	int rc, redacted = 0, has_iref = 0, code;
	uint64_t now = ctx->now_ms ? ctx->now_ms : hlc_wall_ms();

	memset(res, 0, sizeof(*res));
	/* 1. Undecodable or badly signed bytes are left where they are, even
	 * while reindexing: verify reports them. The body's JSON is checked
	 * once, by index_body below. */
	if ((rc = s_decode(&ev, buf, len, ctx->max_body, preverified)) != 0) {
		res->rc = rc;
		snprintf(res->rule, sizeof(res->rule), "%s", s_decode_rule(rc));
		snprintf(res->why, sizeof(res->why), "%s", cpt_strerror(rc));
		return 0;
	}
	res->kind = ev.kind;
	k = ev_kind(ev.kind);
	evt_id(res->id, &ev);
	/* 2. A duplicate costs a lookup, not a signature check: relays in a mesh
	 * receive most events more than once. The id commits to the signature,
	 * so a stored id means these very bytes were verified before. For a
	 * batch the pool verified, the lookup was the sync thread's (or skipped
	 * while batches brought no duplicates): the store's put below
	 * (store_put_new) catches the rest. An event kept without being
	 * admitted answers the code of its state, unchanged. */
	if (!ctx->reindexing && !preverified) {
		rc = index_env_ts(txn, res->id, NULL);
		if (rc == 0) {
			res->rc = CPT_EEXIST;
			return 0;
		}
		if (rc != CPT_ENOTFOUND)
			return rc;
	}
	/* Most stores keep nothing waiting: one count instead of a seek. */
	if (!ctx->reindexing && depth == 0 && store_count(txn, DB_PENDING_IDS) > 0) {
		if ((rc = ev_kept(txn, res->id, &code, rule)) < 0)
			return rc;
		if (rc == 1) {
			res->rc = code;
			snprintf(res->rule, sizeof(res->rule), "%s", rule);
			snprintf(res->why, sizeof(res->why), "%s", s_verdict_why(rule));
			return 0;
		}
	}
	/* Signatures checked on worker threads (node/event/vpool.c) are not
	 * checked again; the federation is, since it costs nothing. */
	if (preverified)
		rc = memcmp(ev.fed, ctx->fed, CPT_FED_LEN) == 0 ? 0 : CPT_EFEDERATION; /* public */
	else
		rc = evt_verify(&ev, ctx->fed);
	if (rc != 0) {
		res->rc = rc;
		snprintf(res->rule, sizeof(res->rule), "%s", s_decode_rule(rc));
		snprintf(res->why, sizeof(res->why), "%s", cpt_strerror(rc));
		return 0;
	}
	/* 3. Too far ahead: not kept, a peer offers it again later. */
	if (HLC_MS(ev.ts) > now + HLC_MAX_DRIFT_MS)
		return s_refuse(ctx, txn, res, CPT_EAGAIN, "clock.future",
		                "timestamp more than 24 hours ahead");
	/* 4. The body rules of its kind. */
	if (ev.body) {
		/* Parsed by the worker that verified these very bytes, if any. */
		body = preverified && pre_body ? json_incref(pre_body) : index_body(&ev);
		if (body == NULL)
			return s_refuse(ctx, txn, res, CPT_EINVAL, "decode.structure",
			                "body is not a JSON object");
		rc = event_validate(&ev, body, res->why, sizeof(res->why));
		if (rc == 0 && k->check)
			rc = k->check(ctx, &ev, body, res->why, sizeof(res->why));
		if (rc != 0) {
			json_decref(body);
			return s_refuse(ctx, txn, res, rc,
			                ev_rule_of(ev.kind, res->why, rule, sizeof(rule)), NULL);
		}
		if (ev_ref_of(&ev, body, ref, 0)) {
			refp = ref;
			memcpy(res->ref, ref, CPT_ID_LEN);
			res->has_ref = 1;
		}
	} else if (!event_redactable(ev.kind)) {
		/* Trust and redaction events carry state that cannot be erased. */
		return s_refuse(ctx, txn, res, CPT_EINVAL, "redacted.kind",
		                "this kind of event cannot arrive redacted");
	}
	/* 5. What no other event can change. */
	if ((never = s_never(ctx, &ev, body)) != NULL) {
		json_decref(body);
		return s_refuse(ctx, txn, res, CPT_EPERM, never,
		                strcmp(never, "revoke.root") == 0
		                    ? "the root key cannot be revoked"
		                    : "this key may never sign this kind of event");
	}
	/* 6. Dated ahead: held until its time. 7. The set rules. */
	if (HLC_MS(ev.ts) > now + EVT_HOLD_MS)
		ev_held_verdict(&v, HLC_MS(ev.ts) - EVT_HOLD_MS);
	else if ((rc = ev_judge(ctx, txn, &ev, res->id, body, &v)) != 0) {
		json_decref(body);
		return rc;
	}
	if (v.state == EV_ADMIT && k->authorise) {
		/* Further rules of a kind on its signer (spaces). */
		int st = event_key_status(ctx, txn, ev.author, HLC_MS(ev.ts), NULL);
		uint8_t wait[CPT_KEY_LEN];
		rc = k->authorise(ctx, txn, &ev, body, st, NULL, wait, res->why, sizeof(res->why));
		if (rc == CPT_EPENDING) {
			v.state = EV_PENDING;
			v.rc = CPT_EPENDING;
			v.rule = "author.unknown";
			memcpy(v.dep, wait, CPT_KEY_LEN);
		} else if (rc != 0) {
			v.state = EV_REFUSE;
			v.rc = rc;
			v.rule = "author.kind";
		}
	}
	if (v.state == EV_REFUSE) {
		json_decref(body);
		return s_refuse(ctx, txn, res, v.rc, v.rule, s_verdict_why(v.rule));
	}
	if (v.state != EV_ADMIT) {
		json_decref(body);
		return s_keep(ctx, txn, &ev, res, &v, depth);
	}
	/* A bodiless copy is admitted only with an allowed redaction of it:
	 * otherwise a peer could censor by stripping bodies (8.6). */
	if (ev.body == NULL && !ev_is_redacted(ctx, txn, res->id, ev.author))
		return s_refuse(ctx, txn, res, CPT_EINVAL, "redacted.no_redaction",
		                "body missing and no redaction of it is known");
	/* A body erased by a redaction we already hold is never accepted again. */
	if (ev.body == NULL ||
	    (event_redactable(ev.kind) && ev_is_redacted(ctx, txn, res->id, ev.author)))
		redacted = 1;
	/* Decoded above: the body's hash was checked (here, or by the verify
	 * worker that decoded these bytes). */
	rc = index_env_put(txn, res->id, ev.raw, redacted ? EVT_FIXED_LEN : ev.raw_len,
	                   (ctx->reindexing ? 0 : INDEX_ENV_NEW) | INDEX_ENV_HASHED);
	if (rc == CPT_EEXIST) {
		json_decref(body);
		res->rc = CPT_EEXIST;
		return 0;
	}
	/* An erased event refers to nothing: whether it came with its body or
	 * without, it has no DB_BY_REF entry. */
	if (!redacted && body && refp) {
		/* The same field (a kind that refers to an event): read above. */
		memcpy(iref, ref, CPT_ID_LEN);
		has_iref = 1;
	} else if (!redacted && body) {
		has_iref = ev_ref_of(&ev, body, iref, 1);
	}
	if (rc == 0)
		rc = index_base_add(&ctx->ix, txn, &ev, res->id, has_iref ? iref : NULL);
	if (rc == 0 && !redacted) {
		index_ev_t e = {&ev, body, res->id, refp};
		/* The events that refer to it read its body again (notification
		 * groups, places in spaces): parsed already. */
		if (body)
			index_body_keep(&ctx->ix, &ev, body);
		rc = s_apply(ctx, txn, &e, depth);
	} else if (rc == 0) {
		/* Stored erased: the indexes know it as an event whose body went. */
		evt_t copy = ev;
		index_ev_t e = {&copy, NULL, res->id, refp};
		copy.body = NULL;
		rc = index_removed(&ctx->ix, txn, &e);
	}
	json_decref(body);
	if (rc == 0 && depth > 0 && !ctx->reindexing)
		s_note_later(ctx, &ev, res);
	/* What it admits, takes back or puts aside, once, at the outermost call. */
	if (rc == 0 && depth == 0)
		rc = ev_settle(ctx, txn);
	return rc;
}

int
ev_remove(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], uint8_t **keep,
          size_t *keep_len)
{
	index_env_t mv;
	uint8_t *raw, ref[CPT_ID_LEN];
	size_t raw_len;
	evt_t ev;
	json_t *body;
	int rc, has_ref;

	if (keep)
		*keep = NULL;
	if ((rc = index_env_read(txn, id, &mv)) != 0)
		return rc == CPT_EDAMAGED ? CPT_EINVAL : rc;
	if ((raw = index_env_dup(&mv, &raw_len)) == NULL)
		return CPT_ENOMEM;
	if (evt_decode(&ev, raw, raw_len, EVT_MAX_BODY) != 0) {
		free(raw);
		return CPT_EINVAL;
	}
	body = index_body(&ev);
	has_ref = body && ev_ref_of(&ev, body, ref, 1);
	rc = index_env_del(txn, id);
	if (rc == 0)
		rc = index_base_del(&ctx->ix, txn, &ev, id, has_ref ? ref : NULL);
	if (rc == 0) {
		index_ev_t e = {&ev, body, id, has_ref ? ref : NULL};
		const ev_kind_t *k = ev_kind(ev.kind);
		if (k->trust)
			index_cache_clear(&ctx->ix); /* the records change under the cache */
		rc = index_removed(&ctx->ix, txn, &e);
		if (k->trust)
			index_cache_clear(&ctx->ix);
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
	index_cache_renew(&ctx->ix); /* a new (or retried) transaction: read afresh */
	ev_work_reset(ctx);
	/* The reference numbers asked for are remembered for this attempt
	 * only (a retry's are asked again). */
	index_ref_memo_begin(&ctx->ix, txn);
	/* Held events whose time has come go first, as if they arrived now. */
	if (!ctx->reindexing &&
	    (rc = ev_held_release(ctx, txn, ctx->now_ms ? ctx->now_ms : hlc_wall_ms())) != 0) {
		index_ref_memo_end();
		return rc;
	}
	/* Folds of spaces too, but a reindex ingests its one transaction an
	 * event at a time: it empties them at its start (reindex.c). */
	if (!ctx->reindexing)
		index_spaces_cache_clear(&ctx->ix);
	/* Index changes of a batch go in at its end (bk_acc_flush); one event
	 * alone is indexed directly. */
	ctx->ix.bk = n > 1 ? bk_acc_new() : NULL;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (ctx->await && (rc = ctx->await(ctx->await_arg, i, ctx->await_may_stop)) != 0)
			break;
		rc = ev_ingest_one(ctx, txn, buf[i], len[i], &res[i], 0,
		                   ctx->verified != NULL && ctx->verified[i],
		                   ctx->bodies ? ctx->bodies[i] : NULL);
	}
	if (rc == 0 && ctx->ix.bk)
		rc = bk_acc_flush(ctx->ix.bk, txn);
	bk_acc_free(&ctx->ix.bk);
	index_ref_memo_end();
	return rc;
}
