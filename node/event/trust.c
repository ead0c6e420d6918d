/*
 * Who may sign what, and who may erase what: the set rules of PROTOCOL.md
 * 8.2 to 8.6 on one event, from the trust records of what is admitted now
 * (node/index/keys.c: a site key's certificate windows, a user key's
 * admitted enrolments, the admitted revocations of a key). The verdict is
 * admitted, pending, aside or refused, with the rule that decided it; the
 * settling of pending.c makes the whole a function of the set of events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/event/event_internal.h"

/* ------------------------------------------------------------- records */

static int
s_is_root(const ingest_ctx_t *ctx, const uint8_t key[CPT_KEY_LEN])
{
	return memcmp(key, ctx->root, CPT_KEY_LEN) == 0; /* public keys: no constant time */
}

static int
s_type_is(const json_t *rec, const char *type)
{
	const char *t = json_string_value(json_object_get(rec, "type"));

	return t && strcmp(t, type) == 0;
}

/* Does a window of site record rec contain t (ms), under name when given? */
static int
s_in_window(const json_t *rec, uint64_t t, const char *name)
{
	json_t *w;
	size_t i;

	json_array_foreach (json_object_get(rec, "windows"), i, w) {
		uint64_t nb = (uint64_t)json_integer_value(json_array_get(w, 0));
		uint64_t na = (uint64_t)json_integer_value(json_array_get(w, 1));
		const char *n = json_string_value(json_array_get(w, 2));
		if (nb <= t && (na == 0 || t < na) && (name == NULL || (n && strcmp(n, name) == 0)))
			return 1;
	}
	return 0;
}

/* The earliest admitted enrolment of user record rec, in ms; UINT64_MAX: none. */
static uint64_t
s_first_enrol(const json_t *rec)
{
	json_t *e = json_array_get(json_object_get(rec, "enrols"), 0);

	return e ? HLC_MS((uint64_t)json_integer_value(json_array_get(e, 0))) : UINT64_MAX;
}

/* ------------------------------------------------------------ revocations */

/* One admitted revocation of a key, as the rules read it. */
struct rev {
	int by_root;       /* signed by the root: what it covers is refused for good */
	uint64_t eff;      /* effective */
	uint64_t reach;    /* how far back it reaches (8.4): 0 for the root's */
	uint64_t from, to; /* vouch range [from, to) */
	char *ids;         /* vouch.ids, a copy */
};

struct revs {
	ingest_ctx_t *ctx;  /* the context */
	const uint8_t *key; /* the revoked key */
	const json_t *krec; /* its record (a user's enrolments), or NULL */
	struct rev *r;      /* found */
	size_t n, cap;      /* how many, room */
};

/*
 * The reach of a site's revocation of key (8.4): the earliest admitted
 * enrolment of key under a name of the revoker at the revocation's time.
 * UINT64_MAX when there is none (the revocation is then not admitted).
 */
static uint64_t
s_reach(const json_t *site_rec, uint64_t t, const json_t *krec)
{
	json_t *e;
	size_t i;

	json_array_foreach (json_object_get(krec, "enrols"), i, e) {
		const char *site = json_string_value(json_array_get(e, 2));
		if (site && s_in_window(site_rec, t, site))
			return HLC_MS((uint64_t)json_integer_value(json_array_get(e, 0)));
	}
	return UINT64_MAX;
}

static int
s_rev_fn(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	struct revs *a = arg;
	evt_t r;
	json_t *b, *v;
	struct rev *x;
	int rc;

	(void)ix;
	if (kind != EVT_REVOKE)
		return 0;
	if ((rc = index_event(txn, id, &r)) != 0)
		return rc == CPT_ENOTFOUND ? 0 : rc;
	if ((b = index_body(&r)) == NULL)
		return 0;
	if (a->n == a->cap) {
		struct rev *bigger = realloc(a->r, (a->cap = a->cap ? 2 * a->cap : 4) * sizeof(*x));
		if (bigger == NULL) {
			json_decref(b);
			return CPT_ENOMEM;
		}
		a->r = bigger;
	}
	x = &a->r[a->n];
	memset(x, 0, sizeof(*x));
	v = json_object_get(b, "vouch");
	x->by_root = s_is_root(a->ctx, r.author);
	x->eff = (uint64_t)json_integer_value(json_object_get(b, "effective"));
	x->from = (uint64_t)json_integer_value(json_object_get(v, "from"));
	x->to = (uint64_t)json_integer_value(json_object_get(v, "to"));
	x->ids = strdup(json_string_value(json_object_get(v, "ids")) ?: "");
	json_decref(b);
	if (x->ids == NULL)
		return CPT_ENOMEM;
	if (x->by_root) {
		x->reach = 0;
	} else {
		json_t *srec = index_key_info(txn, r.author);
		x->reach = s_reach(srec, HLC_MS(r.ts), a->krec);
		json_decref(srec);
		if (x->reach == UINT64_MAX) {
			free(x->ids); /* stored, but no longer authorised: settling takes it back */
			return 0;
		}
	}
	a->n++;
	return 0;
}

static void
s_revs_free(struct revs *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->r[i].ids);
	free(a->r);
}

/* Is the 16-byte prefix of id in the vouch list ids? */
static int
s_vouched(const char *ids, const uint8_t id[CPT_ID_LEN])
{
	char want[33];
	size_t n = strlen(ids);

	sodium_bin2hex(want, sizeof(want), id, 16);
	for (size_t i = 0; i + 32 <= n; i += 32)
		if (memcmp(ids + i, want, 32) == 0)
			return 1;
	return 0;
}

/* covered(x) of 8.5 among the revocations by the root (by_root = 1) or by
 * sites: the rule that covers x at t, or NULL. */
static const char *
s_covered(const struct revs *a, int by_root, uint64_t t, const uint8_t id[CPT_ID_LEN])
{
	for (size_t i = 0; i < a->n; i++) {
		const struct rev *r = &a->r[i];
		if (r->by_root == by_root && (r->eff > r->reach ? r->eff : r->reach) <= t)
			return "revoked.effective";
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct rev *r = &a->r[i];
		if (r->by_root == by_root && (r->from > r->reach ? r->from : r->reach) <= t &&
		    t < r->to && !s_vouched(r->ids, id))
			return "revoked.unvouched";
	}
	return NULL;
}

/* The admitted revocations of key (krec: its record, for the reach). */
static int
s_revs(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], const json_t *krec,
       struct revs *a)
{
	memset(a, 0, sizeof(*a));
	a->ctx = ctx;
	a->key = key;
	a->krec = krec;
	return index_each_ref(&ctx->ix, txn, key, s_rev_fn, a);
}

/* ------------------------------------------------------------- verdicts */

static void
s_set(ev_verdict_t *v, enum ev_state state, int rc, const char *rule, const uint8_t *dep)
{
	v->state = state;
	v->rc = rc;
	v->rule = rule;
	if (dep)
		memcpy(v->dep, dep, CPT_KEY_LEN);
}

/* site_check(s, t) of 8.3: 0 when the site key may sign at t, else 1 with
 * the verdict set. */
static int
s_site_check(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
             const json_t *srec, uint64_t revoked, ev_verdict_t *v, int *err)
{
	uint64_t t = HLC_MS(ev->ts);
	const char *rule = NULL;
	struct revs a;

	*err = 0;
	if (revoked != UINT64_MAX) {
		if ((*err = s_revs(ctx, txn, ev->author, NULL, &a)) != 0) {
			s_revs_free(&a);
			return 1;
		}
		rule = s_covered(&a, 1, t, id);
		s_revs_free(&a);
		if (rule) {
			s_set(v, EV_REFUSE, CPT_EREVOKED, rule, NULL);
			return 1;
		}
	}
	if (!s_in_window(srec, t, NULL)) {
		s_set(v, EV_PENDING, CPT_EPENDING, "site.window", ev->author);
		return 1;
	}
	return 0;
}

/* An event signed by a site key (8.3, 8.4). Returns a store error or 0. */
static int
s_judge_site(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
             const json_t *body, const json_t *srec, uint64_t revoked, ev_verdict_t *v)
{
	const ev_kind_t *k = ev_kind(ev->kind);
	uint64_t t = HLC_MS(ev->ts);
	uint8_t target[CPT_KEY_LEN];
	json_t *trec;
	uint64_t trev;
	int err;

	if (!(k->signers & EV_BY_SITE)) {
		s_set(v, EV_REFUSE, CPT_EPERM, "author.kind", NULL);
		return 0;
	}
	if (ev->kind == EVT_ENROL || ev->kind == EVT_REVOKE) {
		if (body == NULL || index_hex_field(body, "key", target) != 0) {
			s_set(v, EV_REFUSE, CPT_EINVAL, "redacted.kind", NULL);
			return 0;
		}
		if (index_key_cached(&ctx->ix, txn, target, &trec, &trev) != 0)
			return CPT_ENOMEM;
		if (s_type_is(trec, "site")) {
			json_decref(trec);
			s_set(v, EV_REFUSE, CPT_EPERM,
			      ev->kind == EVT_ENROL ? "enrol.site_key" : "revoke.site_key", NULL);
			return 0;
		}
		/* The site key may sign then at all: revoked, or outside its windows.
		 * A site's enrolments and revocations that wait depend on two keys
		 * (the signer's and the one they name): they wait under the trust
		 * marker, judged again whenever any key is settled (pending.c). */
		if (s_site_check(ctx, txn, ev, id, srec, revoked, v, &err)) {
			if (v->state == EV_PENDING)
				memcpy(v->dep, ev_trust_dep, CPT_KEY_LEN);
			json_decref(trec);
			return err;
		}
		if (ev->kind == EVT_ENROL) {
			/* A site enrols under a name its certificate gave it then. */
			const char *site = json_string_value(json_object_get(body, "site"));
			if (!s_in_window(srec, t, site))
				s_set(v, EV_PENDING, CPT_EPENDING, "site.window", ev_trust_dep);
			else
				s_set(v, EV_ADMIT, 0, NULL, NULL);
		} else if (s_reach(srec, t, trec) == UINT64_MAX) {
			/* It revokes only keys that agreed to be its users. */
			s_set(v, EV_PENDING, CPT_EPENDING, "revoke.not_enrolled", ev_trust_dep);
		} else {
			s_set(v, EV_ADMIT, 0, NULL, NULL);
		}
		json_decref(trec);
		return 0;
	}
	if (s_site_check(ctx, txn, ev, id, srec, revoked, v, &err))
		return err;
	s_set(v, EV_ADMIT, 0, NULL, NULL);
	return 0;
}

/* An event signed by a key that is neither the root nor a site's (8.5). */
static int
s_judge_user(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
             const json_t *urec, uint64_t revoked, ev_verdict_t *v)
{
	const ev_kind_t *k = ev_kind(ev->kind);
	uint64_t t = HLC_MS(ev->ts), first = s_first_enrol(urec);
	const char *rule;
	struct revs a;
	int rc;

	if (!s_type_is(urec, "user") || first == UINT64_MAX) {
		s_set(v, EV_PENDING, CPT_EPENDING, "author.unknown", ev->author);
		return 0;
	}
	if (!(k->signers & EV_BY_USER)) {
		s_set(v, EV_PENDING, CPT_EPENDING, "author.not_site", ev->author);
		return 0;
	}
	if (t < first) {
		s_set(v, EV_PENDING, CPT_EPENDING, "user.before_enrolment", ev->author);
		return 0;
	}
	s_set(v, EV_ADMIT, 0, NULL, NULL);
	if (revoked == UINT64_MAX)
		return 0; /* no revocation of it is admitted: the common case, no read */
	if ((rc = s_revs(ctx, txn, ev->author, urec, &a)) != 0) {
		s_revs_free(&a);
		return rc;
	}
	if ((rule = s_covered(&a, 1, t, id)) != NULL)
		s_set(v, EV_REFUSE, CPT_EREVOKED, rule, NULL);
	else if ((rule = s_covered(&a, 0, t, id)) != NULL)
		s_set(v, EV_ASIDE, CPT_EREVOKED, rule, ev->author);
	s_revs_free(&a);
	return 0;
}

int
ev_judge(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
         const json_t *body, ev_verdict_t *v)
{
	const ev_kind_t *k = ev_kind(ev->kind);
	json_t *rec;
	uint64_t revoked;
	int rc;

	memset(v, 0, sizeof(*v));
	if (s_is_root(ctx, ev->author)) {
		/* The root signs certificates and revocations, and unknown kinds;
		 * what it may not sign was refused before (8.1 step 5). */
		if (k->signers & EV_BY_ROOT)
			s_set(v, EV_ADMIT, 0, NULL, NULL);
		else
			s_set(v, EV_REFUSE, CPT_EPERM, "author.kind", NULL);
		return 0;
	}
	if (ev->kind == EVT_SITE_CERT) {
		s_set(v, EV_REFUSE, CPT_EPERM, "author.kind", NULL);
		return 0;
	}
	/* Without a cache the key reads as unknown: the event waits, nothing is lost. */
	if (index_key_cached(&ctx->ix, txn, ev->author, &rec, &revoked) != 0) {
		s_set(v, EV_PENDING, CPT_EPENDING, "author.unknown", ev->author);
		return 0;
	}
	if (s_type_is(rec, "site"))
		rc = s_judge_site(ctx, txn, ev, id, body, rec, revoked, v);
	else
		rc = s_judge_user(ctx, txn, ev, id, rec, revoked, v);
	json_decref(rec);
	return rc;
}

/* ------------------------------------------------------- key statuses */

int
event_key_status(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN],
                 uint64_t ts_ms, json_t **info)
{
	json_t *rec;
	uint64_t revoked;
	int status = EVENT_KEY_UNKNOWN;

	if (info)
		*info = NULL;
	if (s_is_root(ctx, key))
		return EVENT_KEY_ROOT;
	if (index_key_cached(&ctx->ix, txn, key, &rec, &revoked) != 0)
		return EVENT_KEY_UNKNOWN;
	if (rec && revoked <= ts_ms)
		status = EVENT_KEY_REVOKED;
	else if (s_type_is(rec, "site"))
		status = s_in_window(rec, ts_ms, NULL) ? EVENT_KEY_SITE : EVENT_KEY_EXPIRED;
	else if (s_type_is(rec, "user") && s_first_enrol(rec) <= ts_ms)
		status = EVENT_KEY_USER;
	if (info && status != EVENT_KEY_UNKNOWN)
		*info = rec;
	else
		json_decref(rec);
	return status;
}

/* ------------------------------------------------------------ redaction */

/* e(k, t) of 8.6: the newest admitted enrolment of key dated at or before
 * t (ms), from its record: [ts, id, site, role, handle, by], or NULL. */
static const json_t *
s_enrol_at(const json_t *rec, uint64_t t)
{
	const json_t *found = NULL, *e;
	size_t i;

	json_array_foreach (json_object_get(rec, "enrols"), i, e) {
		if (HLC_MS((uint64_t)json_integer_value(json_array_get(e, 0))) > t)
			break;
		found = e;
	}
	return found;
}

int
event_may_redact(store_txn_t *txn, const uint8_t redactor[CPT_KEY_LEN],
                 const uint8_t author[CPT_KEY_LEN], uint64_t t_ms)
{
	json_t *ra, *ta;
	const json_t *er, *et;
	int ok = 0;

	if (sodium_memcmp(redactor, author, CPT_KEY_LEN) == 0)
		return 1;
	/* An admin of the author's site, by name, with the roles of that time. */
	ra = index_key_info(txn, redactor);
	ta = index_key_info(txn, author);
	er = s_enrol_at(ra, t_ms);
	et = s_enrol_at(ta, t_ms);
	if (er && et) {
		const char *role = json_string_value(json_array_get(er, 3));
		const char *rs = json_string_value(json_array_get(er, 2));
		const char *ts = json_string_value(json_array_get(et, 2));
		ok = role && strcmp(role, "admin") == 0 && rs && ts && strcmp(rs, ts) == 0;
	}
	json_decref(ra);
	json_decref(ta);
	return ok;
}
