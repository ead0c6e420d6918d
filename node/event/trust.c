/*
 * Who may sign what, and who may erase what: the status of a key at a time
 * (root, certified site, enrolled user, or revoked, expired, unknown), the
 * signers each kind allows (the table of kinds.c) with the further rules of
 * enrolments and revocations, and the redaction rule the API applies too.
 * The root key signs site certificates and revocations; a certified site
 * enrols its own users and revokes them or itself; users sign the rest.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/event/event_internal.h"

int
event_key_status(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN],
                 uint64_t ts_ms, json_t **info)
{
	json_t *rec;
	const char *type;
	uint64_t revoked;
	int status;

	if (info)
		*info = NULL;
	if (sodium_memcmp(key, ctx->root, CPT_KEY_LEN) == 0)
		return EVENT_KEY_ROOT;
	/* No cache could be made: "unknown", the event waits, nothing is lost. */
	if (index_key_cached(&ctx->ix, txn, key, &rec, &revoked) != 0)
		return EVENT_KEY_UNKNOWN;
	if (revoked <= ts_ms) {
		json_decref(rec);
		return EVENT_KEY_REVOKED;
	}
	if (rec == NULL)
		return EVENT_KEY_UNKNOWN;
	type = json_string_value(json_object_get(rec, "type"));
	if (type && strcmp(type, "site") == 0) {
		uint64_t nb = (uint64_t)json_integer_value(json_object_get(rec, "not_before"));
		uint64_t na = (uint64_t)json_integer_value(json_object_get(rec, "not_after"));
		status =
		    (ts_ms < nb || (na != 0 && ts_ms >= na)) ? EVENT_KEY_EXPIRED : EVENT_KEY_SITE;
	} else if (type && strcmp(type, "user") == 0) {
		/* The enrolling site must not have been revoked before it enrolled. */
		uint8_t by[CPT_KEY_LEN];
		uint64_t enrol_ms =
		    HLC_MS((uint64_t)json_integer_value(json_object_get(rec, "ts")));
		json_t *brec;
		uint64_t by_revoked;
		status = EVENT_KEY_USER;
		if (index_hex_field(rec, "by", by) != 0 ||
		    index_key_cached(&ctx->ix, txn, by, &brec, &by_revoked) != 0)
			status = EVENT_KEY_REVOKED;
		else {
			json_decref(brec);
			if (by_revoked <= enrol_ms)
				status = EVENT_KEY_REVOKED;
		}
	} else {
		status = EVENT_KEY_UNKNOWN;
	}
	if (info && status != EVENT_KEY_UNKNOWN)
		*info = rec;
	else
		json_decref(rec);
	return status;
}

/* ENROL: a site enrols users for itself only. */
int
ev_authorise_enrol(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
                   int status, const json_t *signer, uint8_t wait[CPT_KEY_LEN], char *why,
                   size_t wl)
{
	const char *a, *b;

	if (body == NULL)
		return 0;
	a = json_string_value(json_object_get(signer, "site"));
	b = json_string_value(json_object_get(body, "site"));
	return a && b && strcmp(a, b) == 0 ? 0 : CPT_EPERM;
}

/* REVOKE: never of the root; the root revokes any key, a site the users it
 * enrolled or itself (a user not known here yet: wait for the enrolment). */
int
ev_authorise_revoke(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
                    int status, const json_t *signer, uint8_t wait[CPT_KEY_LEN], char *why,
                    size_t wl)
{
	uint8_t target[CPT_KEY_LEN], by[CPT_KEY_LEN];
	json_t *t;
	int rc;

	/* The root is what the federation is: a revocation of it would purge
	 * every certificate here and be ignored wherever it came first. */
	if (body && index_hex_field(body, "key", target) == 0 &&
	    sodium_memcmp(target, ctx->root, CPT_KEY_LEN) == 0)
		return CPT_EPERM;
	if (status == EVENT_KEY_ROOT || body == NULL)
		return 0;
	rc = CPT_EPERM;
	if (index_hex_field(body, "key", target) == 0) {
		if (sodium_memcmp(target, ev->author, CPT_KEY_LEN) == 0)
			rc = 0;
		t = index_key_info(txn, target);
		if (t && index_hex_field(t, "by", by) == 0 &&
		    sodium_memcmp(by, ev->author, CPT_KEY_LEN) == 0)
			rc = 0;
		else if (t == NULL && rc != 0) {
			/* The user is not known here yet: wait for the enrolment. */
			memcpy(wait, target, CPT_KEY_LEN);
			snprintf(why, wl, "revoked key not known yet");
			return CPT_EPENDING;
		}
		json_decref(t);
	}
	return rc;
}

int
ev_authorise(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
             uint8_t wait[CPT_KEY_LEN], char *why, size_t whylen)
{
	const ev_kind_t *k = ev_kind(ev->kind);
	json_t *info = NULL;
	int st = event_key_status(ctx, txn, ev->author, HLC_MS(ev->ts), &info);
	int rc = 0;

	switch (st) {
	case EVENT_KEY_UNKNOWN:
		memcpy(wait, ev->author, CPT_KEY_LEN);
		snprintf(why, whylen, "author not certified yet");
		return CPT_EPENDING;
	case EVENT_KEY_REVOKED:
		json_decref(info); /* a user whose enrolling site was revoked has one */
		snprintf(why, whylen, "author key revoked");
		return CPT_EREVOKED;
	case EVENT_KEY_EXPIRED:
		json_decref(info);
		snprintf(why, whylen, "site certificate not valid at the event's time");
		return CPT_EPERM;
	}
	if (!(k->signers & EV_BY(st)))
		rc = CPT_EPERM;
	else if (k->authorise)
		rc = k->authorise(ctx, txn, ev, body, st, info, wait, why, whylen);
	if (rc == CPT_EPERM)
		snprintf(why, whylen, "%s may not be signed by this key", evt_kind_name(ev->kind));
	json_decref(info);
	return rc;
}

int
event_may_redact(store_txn_t *txn, const uint8_t redactor[CPT_KEY_LEN],
                 const uint8_t author[CPT_KEY_LEN])
{
	json_t *ra, *ta;
	int ok = 0;

	if (sodium_memcmp(redactor, author, CPT_KEY_LEN) == 0)
		return 1;
	/* An admin of the site that enrolled the author. */
	ra = index_key_info(txn, redactor);
	ta = index_key_info(txn, author);
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
