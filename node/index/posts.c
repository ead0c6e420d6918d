/*
 * Views derived from the events: body validation by kind, the key records of
 * the trust chain, posts with their counters, the feed, profiles, mentions,
 * key backups; and the read side the HTTP API renders. Every view is
 * recomputed from stored events, so arrival order never changes the result.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "node/event/event_internal.h"
#include "node/node.h"

#define MAX_TEXT     VW_MAX_TEXT
#define MAX_FIELD    VW_MAX_FIELD
#define MAX_BIO      VW_MAX_BIO
#define MAX_SKILLS   32
#define MAX_SKILL    64
#define MAX_REACTION 32

static const char *const s_profile_fields[] = {"name",	   "title", "department", "site",
					       "phone",	   "location", "bio",	     "skills", NULL};

/* ------------------------------------------------------------ validation */

static int
s_is_name(const char *s, size_t len, size_t max, const char *extra)
{
	if (len == 0 || len > max || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(islower(c) || isdigit(c) || strchr(extra, c)) || c == 0)
			return 0;
	}
	return 1;
}

int
vw_valid_handle(const char *s)
{
	return s_is_name(s, strlen(s), 32, "._-");
}

int
vw_valid_site(const char *s)
{
	return s_is_name(s, strlen(s), 63, "-");
}

int
vw_valid_title(const char *s, size_t len)
{
	json_t *probe;

	if (len < 1 || len > VW_MAX_TITLE)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	/* UTF-8 (a JSON string is; command-line input may not be). */
	if ((probe = json_stringn(s, len)) == NULL)
		return 0;
	json_decref(probe);
	return 1;
}

/* Field checks write why and return 0 when the field is wrong. */
static int
s_want_str(const json_t *b, const char *name, size_t min, size_t max, char *why, size_t wl)
{
	json_t *v = json_object_get(b, name);

	if (!json_is_string(v)) {
		snprintf(why, wl, "\"%s\" must be a string", name);
		return 0;
	}
	if (json_string_length(v) < min || json_string_length(v) > max) {
		snprintf(why, wl, "\"%s\" must be %zu to %zu bytes", name, min, max);
		return 0;
	}
	return 1;
}

static int
s_want_hex(const json_t *b, const char *name, size_t bytes, char *why, size_t wl)
{
	json_t *v = json_object_get(b, name);
	uint8_t tmp[64];
	size_t n = 0;
	const char *end;

	if (!json_is_string(v) || json_string_length(v) != 2 * bytes || bytes > sizeof(tmp) ||
	    sodium_hex2bin(tmp, sizeof(tmp), json_string_value(v), 2 * bytes, NULL, &n, &end) != 0 ||
	    n != bytes) {
		snprintf(why, wl, "\"%s\" must be %zu hex digits", name, 2 * bytes);
		return 0;
	}
	return 1;
}

static int
s_want_int(const json_t *b, const char *name, char *why, size_t wl)
{
	json_t *v = json_object_get(b, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(why, wl, "\"%s\" must be a non-negative integer", name);
		return 0;
	}
	return 1;
}

static int
s_check_profile(const json_t *body, char *why, size_t wl)
{
	json_t *fields = json_object_get(body, "fields"), *v;
	const char *k;

	if (!json_is_object(fields) || json_object_size(fields) == 0) {
		snprintf(why, wl, "\"fields\" must be a non-empty object");
		return 0;
	}
	json_object_foreach(fields, k, v) {
		int known = 0;
		for (int i = 0; s_profile_fields[i]; i++)
			known |= strcmp(k, s_profile_fields[i]) == 0;
		if (!known)
			continue; /* a newer node's field: ignored */
		if (json_is_null(v))
			continue;
		if (strcmp(k, "skills") == 0) {
			size_t i;
			json_t *s;
			if (!json_is_array(v) || json_array_size(v) > MAX_SKILLS) {
				snprintf(why, wl, "\"skills\" must be a list of at most %d strings", MAX_SKILLS);
				return 0;
			}
			json_array_foreach(v, i, s) {
				if (!json_is_string(s) || json_string_length(s) == 0 ||
				    json_string_length(s) > MAX_SKILL) {
					snprintf(why, wl, "each skill must be 1 to %d bytes", MAX_SKILL);
					return 0;
				}
			}
		} else if (!json_is_string(v) ||
			   json_string_length(v) > (strcmp(k, "bio") == 0 ? MAX_BIO : MAX_FIELD)) {
			snprintf(why, wl, "\"%s\" must be a string of at most %d bytes or null", k,
				 strcmp(k, "bio") == 0 ? MAX_BIO : MAX_FIELD);
			return 0;
		}
	}
	return 1;
}

int
vw_validate(const evt_t *ev, const json_t *b, char *why, size_t wl)
{
	int ok = 1;

	switch (ev->kind) {
	case EVT_SITE_CERT: {
		json_t *eps = json_object_get(b, "endpoints"), *e;
		size_t i;
		ok = s_want_str(b, "site", 1, 63, why, wl) && s_want_hex(b, "sign_key", 32, why, wl) &&
		     s_want_hex(b, "curve_key", 32, why, wl) && s_want_int(b, "not_before", why, wl) &&
		     s_want_int(b, "not_after", why, wl);
		if (ok && !vw_valid_site(json_string_value(json_object_get(b, "site")))) {
			snprintf(why, wl, "\"site\" is not a valid site name");
			ok = 0;
		}
		/* Optional: the name staff read ("Nantes plant"). */
		if (ok && json_object_get(b, "title") &&
		    (!json_is_string(json_object_get(b, "title")) ||
		     !vw_valid_title(json_string_value(json_object_get(b, "title")),
				     json_string_length(json_object_get(b, "title"))))) {
			snprintf(why, wl, "\"title\" must be 1 to %d bytes without control characters",
				 VW_MAX_TITLE);
			ok = 0;
		}
		if (ok && (!json_is_array(eps) || json_array_size(eps) > 16)) {
			snprintf(why, wl, "\"endpoints\" must be a list of at most 16 strings");
			ok = 0;
		}
		if (ok)
			json_array_foreach(eps, i, e) if (!json_is_string(e) || json_string_length(e) > 255)
			{
				snprintf(why, wl, "\"endpoints\" must be strings of at most 255 bytes");
				ok = 0;
				break;
			}
		break;
	}
	case EVT_ENROL: {
		const char *role;
		ok = s_want_str(b, "handle", 1, 32, why, wl) && s_want_hex(b, "key", 32, why, wl) &&
		     s_want_str(b, "site", 1, 63, why, wl) && s_want_str(b, "role", 1, 16, why, wl);
		if (ok && !vw_valid_handle(json_string_value(json_object_get(b, "handle")))) {
			snprintf(why, wl, "\"handle\" is not a valid handle");
			ok = 0;
		}
		role = json_string_value(json_object_get(b, "role"));
		if (ok && strcmp(role, "member") != 0 && strcmp(role, "admin") != 0) {
			snprintf(why, wl, "\"role\" must be \"member\" or \"admin\"");
			ok = 0;
		}
		break;
	}
	case EVT_REVOKE:
		ok = s_want_hex(b, "key", 32, why, wl) && s_want_int(b, "effective", why, wl);
		if (ok && json_object_get(b, "reason"))
			ok = s_want_str(b, "reason", 0, 256, why, wl);
		break;
	case EVT_KEY_BACKUP:
		ok = s_want_str(b, "handle", 1, 32, why, wl) && s_want_str(b, "kdf", 1, 16, why, wl) &&
		     s_want_int(b, "ops", why, wl) && s_want_int(b, "mem", why, wl) &&
		     s_want_hex(b, "salt", 16, why, wl) && s_want_hex(b, "nonce", 24, why, wl) &&
		     s_want_hex(b, "box", 48, why, wl);
		if (ok && strcmp(json_string_value(json_object_get(b, "kdf")), "argon2id13") != 0) {
			snprintf(why, wl, "\"kdf\" must be \"argon2id13\"");
			ok = 0;
		}
		break;
	case EVT_PROFILE:
		ok = s_check_profile(b, why, wl);
		break;
	case EVT_POST:
		ok = s_want_str(b, "text", 1, MAX_TEXT, why, wl);
		break;
	case EVT_COMMENT:
	case EVT_EDIT:
		ok = s_want_hex(b, "post", 32, why, wl) && s_want_str(b, "text", 1, MAX_TEXT, why, wl);
		break;
	case EVT_REACTION:
		ok = s_want_hex(b, "post", 32, why, wl) &&
		     s_want_str(b, "reaction", 1, MAX_REACTION, why, wl);
		if (ok && !json_is_boolean(json_object_get(b, "on"))) {
			snprintf(why, wl, "\"on\" must be true or false");
			ok = 0;
		}
		break;
	case EVT_REDACT:
		ok = s_want_hex(b, "target", 32, why, wl);
		break;
	}
	return ok ? 0 : CPT_EINVAL;
}

/* ------------------------------------------------------------ trust views */

/* Keeps the newer of the stored record and rec, by ("ts", "id"). */
static int
s_newer_than_stored(store_txn_t *txn, enum store_db dbi, const uint8_t key[32], uint64_t ts,
		    const uint8_t id[CPT_ID_LEN])
{
	json_t *old = store_get_json(txn, dbi, key, 32);
	uint8_t oid[CPT_ID_LEN];
	int newer = 1;

	if (old && ig_hex_field(old, "id", oid) == 0)
		newer = store_cmp_tsid(ts, id, (uint64_t)json_integer_value(json_object_get(old, "ts")), oid) > 0;
	json_decref(old);
	return newer;
}

int
vw_site_cert(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
	     const uint8_t id[CPT_ID_LEN])
{
	uint8_t sk[CPT_KEY_LEN];
	char hex[CPT_HEX_ID];
	json_t *rec;
	int rc;

	if (ig_hex_field(body, "sign_key", sk) != 0)
		return 0;
	if (!s_newer_than_stored(txn, DB_KEYS, sk, ev->ts, id))
		return 0;
	cpt_hex32(hex, id);
	rec = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:s, s:I}", "type", "site", "site",
			json_object_get(body, "site"), "curve_key", json_object_get(body, "curve_key"),
			"endpoints", json_object_get(body, "endpoints"), "not_before",
			json_object_get(body, "not_before"), "not_after", json_object_get(body, "not_after"),
			"id", hex, "ts", (json_int_t)ev->ts);
	if (rec == NULL)
		return CPT_ENOMEM;
	if (json_is_string(json_object_get(body, "title")))
		json_object_set(rec, "title", json_object_get(body, "title"));
	rc = store_put_json(txn, DB_KEYS, sk, CPT_KEY_LEN, rec);
	json_decref(rec);
	return rc;
}

/* The handle's enrolments: [[ts, id hex, key hex, by hex], ...] sorted by
 * (ts, id). The site of the first enrolment owns the handle federation-wide;
 * its newest enrolment of the handle names the current key (a password reset
 * enrols a new key). */
static json_t *
s_handle_enrols(store_txn_t *txn, store_t *st, const char *handle)
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
	json_array_foreach(enrols, i, e) if (strcmp(json_string_value(json_array_get(e, 3)), first_by) == 0)
		khex = json_string_value(json_array_get(e, 2));
	return cpt_unhex32(key, khex, strlen(khex));
}

static int s_profile_rebuild_handle(ingest_ctx_t *ctx, store_txn_t *txn, const char *handle);
static int s_posts_of_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN]);

/* Views that depend on which handle a key has: the profiles of the handle
 * whose enrolments changed and of the key's handle before and after, and,
 * when the key's handle changed, its posts (they show the handle). */
static int
s_key_changed(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], const char *enrolled,
              const char *before)
{
	char after[64];
	int rc;

	if (ig_handle_of(ctx, txn, key, after) != 0)
		after[0] = 0;
	if ((rc = s_profile_rebuild_handle(ctx, txn, enrolled)) != 0)
		return rc;
	if (before[0] && strcmp(before, enrolled) != 0 &&
	    (rc = s_profile_rebuild_handle(ctx, txn, before)) != 0)
		return rc;
	if (after[0] && strcmp(after, enrolled) != 0 && strcmp(after, before) != 0 &&
	    (rc = s_profile_rebuild_handle(ctx, txn, after)) != 0)
		return rc;
	if (strcmp(before, after) != 0)
		return s_posts_of_rebuild(ctx, txn, key);
	return 0;
}

int
vw_enrol(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
	 const uint8_t id[CPT_ID_LEN])
{
	uint8_t uk[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], by[CPT_HEX_ID], khex[CPT_HEX_ID], before[64];
	const char *handle = json_string_value(json_object_get(body, "handle"));
	json_t *rec, *enrols, *e;
	size_t i, at;
	int rc, present = 0;

	if (ig_hex_field(body, "key", uk) != 0 || handle == NULL)
		return 0;
	cpt_hex32(hex, id);
	cpt_hex32(by, ev->author);
	cpt_hex32(khex, uk);
	enrols = s_handle_enrols(txn, ctx->st, handle);
	at = json_array_size(enrols);
	json_array_foreach(enrols, i, e) {
		uint8_t eid[CPT_ID_LEN];
		const char *eh = json_string_value(json_array_get(e, 1));
		if (eh == NULL || cpt_unhex32(eid, eh, strlen(eh)) != 0)
			continue;
		if (memcmp(eid, id, CPT_ID_LEN) == 0) {
			/* Applied again (an enrolment re-admitted): once is enough. */
			present = 1;
			break;
		}
		if (store_cmp_tsid(ev->ts, id, (uint64_t)json_integer_value(json_array_get(e, 0)), eid) < 0) {
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
	if (ig_handle_of(ctx, txn, uk, before) != 0)
		before[0] = 0;
	if (s_newer_than_stored(txn, DB_KEYS, uk, ev->ts, id)) {
		rec = json_pack("{s:s, s:s, s:O, s:O, s:s, s:s, s:I}", "type", "user", "handle", handle,
				"site", json_object_get(body, "site"), "role", json_object_get(body, "role"),
				"by", by, "id", hex, "ts", (json_int_t)ev->ts);
		if (rec == NULL)
			return CPT_ENOMEM;
		rc = store_put_json(txn, DB_KEYS, uk, CPT_KEY_LEN, rec);
		json_decref(rec);
		if (rc != 0)
			return rc;
	}
	/* Profiles are per handle: a new key of the handle may change who writes it. */
	return s_key_changed(ctx, txn, uk, handle, before);
}

/* Every enrolment of key still stored, by id, from the handle lists. A full
 * scan: it runs only when a site is revoked from before its enrolments. */
static int
s_enrols_of_key(store_txn_t *txn, store_t *st, const char *khex, json_t *out)
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
		json_array_foreach(list, i, e)
		{
			const char *kh = json_string_value(json_array_get(e, 2));
			if (kh && strcmp(kh, khex) == 0)
				json_array_append(out, json_array_get(e, 1));
		}
		json_decref(list);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

int
vw_unenrol(ingest_ctx_t *ctx, store_txn_t *txn, const json_t *body, const uint8_t id[CPT_ID_LEN])
{
	uint8_t uk[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], khex[CPT_HEX_ID], before[64];
	const char *handle = json_string_value(json_object_get(body, "handle"));
	json_t *enrols, *e, *rec, *others;
	size_t i;
	int rc;

	if (ig_hex_field(body, "key", uk) != 0 || handle == NULL)
		return 0;
	cpt_hex32(hex, id);
	cpt_hex32(khex, uk);
	enrols = s_handle_enrols(txn, ctx->st, handle);
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
	if (ig_handle_of(ctx, txn, uk, before) != 0)
		before[0] = 0;
	/* The key record came from this enrolment: rebuild it from the others. */
	rec = view_key_info(ctx->st, txn, uk);
	if (rec && json_string_value(json_object_get(rec, "id")) &&
	    strcmp(json_string_value(json_object_get(rec, "id")), hex) == 0) {
		json_decref(rec);
		if ((rc = store_del(txn, DB_KEYS, uk, CPT_KEY_LEN)) != 0)
			return rc;
		others = json_array();
		rc = s_enrols_of_key(txn, ctx->st, khex, others);
		json_array_foreach(others, i, e)
		{
			uint8_t eid[CPT_ID_LEN];
			evt_t ev;
			json_t *b;
			if (rc != 0)
				break;
			if (cpt_unhex32(eid, json_string_value(e), json_string_length(e)) != 0 ||
			    ig_load_event(ctx, txn, eid, &ev) != 0 || (b = ig_body(&ev)) == NULL)
				continue;
			rc = vw_enrol(ctx, txn, &ev, b, eid);
			json_decref(b);
		}
		json_decref(others);
		if (rc != 0)
			return rc;
	} else {
		json_decref(rec);
	}
	return s_key_changed(ctx, txn, uk, handle, before);
}

/* ------------------------------------------------------------- mentions */

/* Calls fn for each distinct @handle of text (at most 32). */
static void
s_each_mention(const char *text, void (*fn)(const char *h, void *arg), void *arg)
{
	char seen[32][33];
	int n = 0;

	for (const char *p = text; (p = strchr(p, '@')) != NULL; p++) {
		char h[33];
		size_t len = 0;
		int dup = 0;
		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.'))
			continue;
		while (len < 32 && (islower((unsigned char)p[1 + len]) || isdigit((unsigned char)p[1 + len]) ||
				    (len > 0 && strchr("._-", p[1 + len]) && p[1 + len])))
			len++;
		while (len > 0 && strchr("._-", p[len])) /* "@bob." ends a sentence */
			len--;
		if (len == 0)
			continue;
		memcpy(h, p + 1, len);
		h[len] = 0;
		for (int i = 0; i < n; i++)
			dup |= strcmp(seen[i], h) == 0;
		if (dup || n == 32)
			continue;
		strcpy(seen[n++], h);
		fn(h, arg);
	}
}

struct mention_arg {
	ingest_ctx_t *ctx;
	store_txn_t *txn;
	const evt_t *ev;
	const uint8_t *id;
	int add;
	int rc;
	json_t *list;
};

static void
s_mention_put(const char *h, void *argp)
{
	struct mention_arg *a = argp;
	uint8_t k[33 + 1 + 8 + CPT_ID_LEN];
	size_t hl = strlen(h);
	int rc;

	if (a->rc != 0)
		return;
	memcpy(k, h, hl);
	k[hl] = 0;
	store_put_u64(k + hl + 1, a->ev->ts);
	memcpy(k + hl + 9, a->id, CPT_ID_LEN);
	if (a->add)
		rc = store_put(a->txn, DB_MENTIONS, k, hl + 9 + CPT_ID_LEN, "", 0);
	else
		rc = store_del(a->txn, DB_MENTIONS, k, hl + 9 + CPT_ID_LEN);
	a->rc = rc;
}

int
vw_mentions(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *have_body,
	    const uint8_t id[CPT_ID_LEN], int add)
{
	json_t *body = have_body ? json_incref((json_t *)have_body) : ig_body(ev);
	struct mention_arg a = {ctx, txn, ev, id, add, 0, NULL};
	const char *text;

	if (body == NULL)
		return 0;
	if ((text = json_string_value(json_object_get(body, "text"))) != NULL)
		s_each_mention(text, s_mention_put, &a);
	json_decref(body);
	return a.rc;
}

static void
s_mention_list(const char *h, void *argp)
{
	json_array_append_new(((struct mention_arg *)argp)->list, json_string(h));
}

/* ---------------------------------------------------------------- posts */

/* Calls fn for each event referring to target (comments, reactions, edits,
 * redactions) in (timestamp, id) order; stops at a nonzero return. */
typedef int (*ref_fn)(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg);

static int
s_each_ref(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t target[CPT_ID_LEN], ref_fn fn, void *arg)
{
	store_cur_t *cur;
	store_val_t k = {CPT_ID_LEN, (void *)target}, v;
	int rc;

	if ((rc = store_cur_open(txn, DB_BY_REF, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len == CPT_ID_LEN + 8 + CPT_ID_LEN &&
	       memcmp(k.data, target, CPT_ID_LEN) == 0) {
		uint16_t kind = store_get_kind(&v);
		if ((rc = fn(ctx, txn, (uint8_t *)k.data + CPT_ID_LEN + 8, kind, arg)) != 0)
			break;
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

struct post_acc {
	uint8_t author[CPT_KEY_LEN]; /* the post's author: only its edits count */
	uint64_t edit_ts;            /* newest edit so far */
	uint8_t edit_id[CPT_ID_LEN]; /* its id */
	json_t *text;                /* current text (borrowed or owned by edit_body) */
	json_t *edit_body;           /* body of the newest edit */
	size_t comments;             /* visible comments */
};

/* What the view needs from one reference. An erased comment has no DB_BY_REF
 * entry (ingest.c), so each entry of a comment is one visible comment: no
 * load. Reactions are counted from DB_REACTIONS; only edits are read. */
static int
s_post_ref(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	struct post_acc *a = arg;
	evt_t ev;
	json_t *b;

	if (kind == EVT_COMMENT)
		a->comments++;
	if (kind != EVT_EDIT)
		return 0;
	if (ig_load_event(ctx, txn, id, &ev) != 0 || (b = ig_body(&ev)) == NULL)
		return 0;
	if (sodium_memcmp(ev.author, a->author, CPT_KEY_LEN) == 0 &&
	    (a->edit_body == NULL || store_cmp_tsid(ev.ts, id, a->edit_ts, a->edit_id) > 0)) {
		json_decref(a->edit_body);
		a->edit_body = json_incref(b);
		a->edit_ts = ev.ts;
		memcpy(a->edit_id, id, CPT_ID_LEN);
		a->text = json_object_get(b, "text");
	}
	json_decref(b);
	return 0;
}

/* ------------------------------------------------------------ reactions */

/* DB_REACTIONS holds, for each post, author and reaction, the newest
 * (timestamp, id) reaction event: last writer wins. A reaction that arrives
 * changes one entry and at most one count of the post view, whatever the
 * number of reactions already there; a reaction that goes rebuilds the post's
 * entries from the reactions that stay. */

#define REG_KEY_MAX (CPT_ID_LEN + CPT_KEY_LEN + MAX_REACTION)
#define REG_VAL_LEN (8 + CPT_ID_LEN + 1)

static size_t
s_reg_key(uint8_t k[REG_KEY_MAX], const uint8_t post[CPT_ID_LEN], const uint8_t author[CPT_KEY_LEN],
	  const char *reaction)
{
	size_t n = strlen(reaction);

	if (n > MAX_REACTION) /* validated on the way in; a bound all the same */
		n = MAX_REACTION;
	memcpy(k, post, CPT_ID_LEN);
	memcpy(k + CPT_ID_LEN, author, CPT_KEY_LEN);
	memcpy(k + CPT_ID_LEN + CPT_KEY_LEN, reaction, n);
	return CPT_ID_LEN + CPT_KEY_LEN + n;
}

/* Records reaction event id (ev, body) on post if it is the newest of its
 * author and name there. *delta gets the change of that name's count: -1, 0
 * or +1. Returns 0 or an LMDB error. */
static int
s_reg_put(store_t *st, store_txn_t *txn, const uint8_t post[CPT_ID_LEN], const evt_t *ev,
	  const uint8_t id[CPT_ID_LEN], const json_t *body, int *delta)
{
	const char *r = json_string_value(json_object_get(body, "reaction"));
	int on = json_is_true(json_object_get(body, "on")), was = 0, rc;
	uint8_t k[REG_KEY_MAX], val[REG_VAL_LEN];
	size_t kl;
	store_val_t v;

	*delta = 0;
	if (r == NULL || *r == 0)
		return 0;
	kl = s_reg_key(k, post, ev->author, r);
	rc = store_get(txn, DB_REACTIONS, k, kl, &v);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	if (rc == 0 && v.len == REG_VAL_LEN) {
		const uint8_t *p = v.data;
		if (store_cmp_tsid(store_get_u64(p), p + 8, ev->ts, id) >= 0)
			return 0; /* an older one, arrived late: changes nothing */
		was = p[8 + CPT_ID_LEN] != 0;
	}
	store_put_u64(val, ev->ts);
	memcpy(val + 8, id, CPT_ID_LEN);
	val[8 + CPT_ID_LEN] = (uint8_t)on;
	if ((rc = store_put(txn, DB_REACTIONS, k, kl, val, sizeof(val))) != 0)
		return rc;
	*delta = on - was;
	return 0;
}

/* Deletes every entry of DB_REACTIONS under prefix (plen bytes). */
static int
s_reg_clear(store_t *st, store_txn_t *txn, const uint8_t *prefix, size_t plen)
{
	store_cur_t *cur;
	store_val_t k = {plen, (void *)prefix}, v;
	int rc;

	if ((rc = store_cur_open(txn, DB_REACTIONS, &cur)) != 0)
		return rc;
	/* Seek again after each delete: the first entry left under prefix. */
	for (;;) {
		k.len = plen;
		k.data = (void *)prefix;
		rc = store_cur_get(cur, &k, &v, STORE_SEEK);
		if (rc != 0 || k.len < plen || memcmp(k.data, prefix, plen) != 0)
			break;
		if ((rc = store_cur_del(cur)) != 0)
			break;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

static int
s_reg_ref(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	const uint8_t *post = arg;
	evt_t ev;
	json_t *b;
	int delta, rc;

	if (kind != EVT_REACTION)
		return 0;
	if (ig_load_event(ctx, txn, id, &ev) != 0 || (b = ig_body(&ev)) == NULL)
		return 0;
	rc = s_reg_put(ctx->st, txn, post, &ev, id, b, &delta);
	json_decref(b);
	return rc;
}

int
vw_reactions_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t post[CPT_ID_LEN])
{
	int rc = s_reg_clear(ctx->st, txn, post, CPT_ID_LEN);

	return rc != 0 ? rc : s_each_ref(ctx, txn, post, s_reg_ref, (void *)post);
}

static int
s_reg_build_fn(store_txn_t *txn, const store_val_t *k, const store_val_t *v, void *arg)
{
	ingest_ctx_t *ctx = arg;
	const uint8_t *kp = k->data;

	if (k->len != CPT_ID_LEN + 8 + CPT_ID_LEN || store_get_kind(v) != EVT_REACTION)
		return 0;
	return s_reg_ref(ctx, txn, kp + CPT_ID_LEN + 8, EVT_REACTION, (void *)kp);
}

int
vw_reactions_build(store_t *st, store_txn_t *txn)
{
	ingest_ctx_t ctx = {.st = st};

	return store_rebuild(txn, DB_REACTIONS, DB_BY_REF, s_reg_build_fn, &ctx);
}

/* The view's "reactions": how many authors have each reaction on. */
static json_t *
s_reaction_counts(store_t *st, store_txn_t *txn, const uint8_t post[CPT_ID_LEN])
{
	store_cur_t *cur;
	store_val_t k = {CPT_ID_LEN, (void *)post}, v;
	json_t *counts = json_object();
	int rc;

	if (counts == NULL || store_cur_open(txn, DB_REACTIONS, &cur) != 0) {
		json_decref(counts); /* no view at all rather than a view without its counts */
		return NULL;
	}
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		char name[MAX_REACTION + 1];
		size_t n;
		if (k.len < CPT_ID_LEN + CPT_KEY_LEN || memcmp(k.data, post, CPT_ID_LEN) != 0)
			break;
		if (v.len != REG_VAL_LEN || ((uint8_t *)v.data)[8 + CPT_ID_LEN] == 0)
			continue;
		n = k.len - CPT_ID_LEN - CPT_KEY_LEN;
		if (n > MAX_REACTION)
			continue;
		memcpy(name, (uint8_t *)k.data + CPT_ID_LEN + CPT_KEY_LEN, n);
		name[n] = 0;
		json_object_set_new(counts, name,
				    json_integer(json_integer_value(json_object_get(counts, name)) + 1));
	}
	store_cur_close(&cur);
	return counts;
}

int
view_my_reactions(store_t *st, store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
		  const uint8_t author[CPT_KEY_LEN], json_t *out)
{
	uint8_t prefix[CPT_ID_LEN + CPT_KEY_LEN];
	store_cur_t *cur;
	store_val_t k = {sizeof(prefix), prefix}, v;
	int rc;

	memcpy(prefix, post, CPT_ID_LEN);
	memcpy(prefix + CPT_ID_LEN, author, CPT_KEY_LEN);
	if ((rc = store_cur_open(txn, DB_REACTIONS, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len < sizeof(prefix) || memcmp(k.data, prefix, sizeof(prefix)) != 0)
			break;
		if (v.len == REG_VAL_LEN && ((uint8_t *)v.data)[8 + CPT_ID_LEN] != 0)
			json_array_append_new(out, json_stringn((char *)k.data + sizeof(prefix),
								k.len - sizeof(prefix)));
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* A comment or reaction came: the register, then the post view by what
 * changed (one count), without reading the post's other references. */
int
vw_post_ref_added(ingest_ctx_t *ctx, store_txn_t *txn, const evt_t *ev, const json_t *body,
		  const uint8_t id[CPT_ID_LEN], const uint8_t post[CPT_ID_LEN])
{
	const char *r = NULL;
	int delta = 0, rc;
	evt_t pe;
	uint8_t fk[8 + CPT_ID_LEN];
	json_t *view, *counts;

	if (ev->kind == EVT_REACTION) {
		if ((rc = s_reg_put(ctx->st, txn, post, ev, id, body, &delta)) != 0)
			return rc;
		if (delta == 0)
			return 0;
		r = json_string_value(json_object_get(body, "reaction"));
	} else if (ev->kind != EVT_COMMENT) {
		return vw_post_rebuild(ctx, txn, post);
	}
	/* The view exists while the post is here with its body. */
	rc = ig_load_event(ctx, txn, post, &pe);
	if (rc != 0)
		return rc == CPT_ENOTFOUND || rc == CPT_EINVAL ? 0 : rc;
	if (pe.kind != EVT_POST || pe.body == NULL)
		return 0;
	store_put_u64(fk, pe.ts);
	memcpy(fk + 8, post, CPT_ID_LEN);
	if ((view = store_get_json(txn, DB_FEED, fk, sizeof(fk))) == NULL ||
	    !json_is_object(counts = json_object_get(view, "reactions"))) {
		json_decref(view);
		return vw_post_rebuild(ctx, txn, post);
	}
	if (r == NULL) {
		json_object_set_new(view, "comments",
				    json_integer(json_integer_value(json_object_get(view, "comments")) + 1));
	} else {
		char name[MAX_REACTION + 1];
		json_int_t n;
		snprintf(name, sizeof(name), "%s", r);
		n = json_integer_value(json_object_get(counts, name)) + delta;
		if (n > 0)
			json_object_set_new(counts, name, json_integer(n));
		else
			json_object_del(counts, name);
	}
	rc = store_put_json(txn, DB_FEED, fk, sizeof(fk), view);
	json_decref(view);
	return rc;
}

int
vw_post_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	return vw_post_rebuild_ev(ctx, txn, id, NULL, NULL);
}

/* The post view from the post and what refers to it, in DB_FEED under the
 * post's (ts, id). A caller that has just decoded and parsed the post (a new
 * post) passes both in: no reload. A caller that has just taken the post out
 * of the store passes its header (have, without body): the view to delete is
 * found by its timestamp. */
int
vw_post_rebuild_ev(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const evt_t *have,
		   const json_t *have_body)
{
	evt_t ev;
	json_t *body = NULL, *view = NULL, *counts, *mentions;
	struct post_acc acc;
	struct mention_arg ma;
	uint8_t fk[8 + CPT_ID_LEN];
	char idhex[CPT_HEX_ID], author[CPT_HEX_ID], handle[64];
	int rc;

	if (have && have_body && have->kind == EVT_POST) {
		ev = *have;
		body = json_incref((json_t *)have_body);
		rc = 0;
	} else {
		rc = ig_load_event(ctx, txn, id, &ev);
		if (rc != 0 && rc != CPT_ENOTFOUND)
			return rc;
		if (rc == 0 && ev.kind != EVT_POST)
			return 0;
		if (rc == 0)
			body = ig_body(&ev);
	}
	if (body == NULL) {
		/* Gone or erased: out of the feed. The key needs the timestamp:
		 * from the header when the event is still here, else from the
		 * caller that just removed it. Neither: it never had a view. */
		uint64_t ts;
		if (rc == 0)
			ts = ev.ts;
		else if (have && have->kind == EVT_POST)
			ts = have->ts;
		else
			return 0;
		store_put_u64(fk, ts);
		memcpy(fk + 8, id, CPT_ID_LEN);
		return store_del(txn, DB_FEED, fk, sizeof(fk));
	}
	memset(&acc, 0, sizeof(acc));
	memcpy(acc.author, ev.author, CPT_KEY_LEN);
	acc.text = json_object_get(body, "text");
	rc = s_each_ref(ctx, txn, id, s_post_ref, &acc);
	if (rc != 0)
		goto out;
	counts = s_reaction_counts(ctx->st, txn, id);
	mentions = json_array();
	ma.list = mentions;
	s_each_mention(json_string_value(acc.text), s_mention_list, &ma);
	cpt_hex32(idhex, id);
	cpt_hex32(author, ev.author);
	if (ig_handle_of(ctx, txn, ev.author, handle) != 0)
		handle[0] = 0;
	view = json_pack("{s:s, s:s, s:s, s:O, s:I, s:I, s:o, s:I, s:o, s:o}", "id", idhex, "author",
			 handle, "author_key", author, "text", acc.text, "created",
			 (json_int_t)HLC_MS(ev.ts), "ts", (json_int_t)ev.ts, "edited",
			 acc.edit_body ? json_integer((json_int_t)HLC_MS(acc.edit_ts)) : json_null(),
			 "comments", (json_int_t)acc.comments, "reactions", counts, "mentions", mentions);
	if (view == NULL) {
		rc = CPT_ENOMEM;
		goto out;
	}
	store_put_u64(fk, ev.ts);
	memcpy(fk + 8, id, CPT_ID_LEN);
	rc = store_put_json(txn, DB_FEED, fk, sizeof(fk), view);
out:
	json_decref(view);
	json_decref(acc.edit_body);
	json_decref(body);
	return rc;
}

/* ------------------------------------------------------------- profiles */

/* Calls fn for each event by author, in (timestamp, id) order. */
static int
s_each_by_author(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t author[CPT_KEY_LEN], uint16_t want,
		 ref_fn fn, void *arg)
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
		    (rc = fn(ctx, txn, (uint8_t *)k.data + CPT_KEY_LEN + 8, kind, arg)) != 0)
			break;
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* Collects [ts, id hex] of events into a JSON array (arg). */
static int
s_collect_ev(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	store_val_t v;
	char hex[CPT_HEX_ID];

	if (store_get(txn, DB_EVENTS, id, CPT_ID_LEN, &v) != 0 || v.len < EVT_FIXED_LEN)
		return 0;
	cpt_hex32(hex, id);
	json_array_append_new(arg, json_pack("[I, s]", (json_int_t)store_get_u64((uint8_t *)v.data + 68), hex));
	return 0;
}

static int
s_cmp_tsid_json(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t tx = json_integer_value(json_array_get(x, 0)), ty = json_integer_value(json_array_get(y, 0));

	if (tx != ty)
		return (uint64_t)tx < (uint64_t)ty ? -1 : 1;
	return strcmp(json_string_value(json_array_get(x, 1)), json_string_value(json_array_get(y, 1)));
}

/* Sorts an array of [ts, id hex] by (timestamp, id): hex order is byte order. */
static void
s_sort_tsid(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **items = calloc(n ? n : 1, sizeof(*items));

	if (items == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	qsort(items, n, sizeof(*items), s_cmp_tsid_json);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	free(items);
}

struct profile_acc {
	json_t *fields;  /* field -> value, last writer wins */
	uint64_t updated; /* newest profile timestamp */
};

static int
s_profile_ev(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	struct profile_acc *a = arg;
	evt_t ev;
	json_t *b, *f, *v;
	const char *k;

	if (ig_load_event(ctx, txn, id, &ev) != 0 || (b = ig_body(&ev)) == NULL)
		return 0;
	/* Events come in (timestamp, id) order: a later one overwrites. An
	 * enrolment by the handle's site may carry the name its admins gave
	 * (the site cannot sign the user's profile): a write of "name", where
	 * "" clears it. Anything else in it is not a name and changes nothing. */
	if (ev.kind == EVT_ENROL) {
		v = json_object_get(b, "name");
		if (json_is_string(v) && json_string_length(v) <= MAX_FIELD) {
			if (json_string_length(v) == 0)
				json_object_del(a->fields, "name");
			else
				json_object_set(a->fields, "name", v);
			a->updated = ev.ts;
		}
		json_decref(b);
		return 0;
	}
	f = json_object_get(b, "fields");
	json_object_foreach(f, k, v) {
		for (int i = 0; s_profile_fields[i]; i++)
			if (strcmp(k, s_profile_fields[i]) == 0) {
				if (json_is_null(v))
					json_object_del(a->fields, k);
				else
					json_object_set(a->fields, k, v);
			}
	}
	a->updated = ev.ts;
	json_decref(b);
	return 0;
}

/* Appends [ts, id hex] of the enrolment of entry e ([ts, id, key, by] of a
 * DB_HANDLES list) to evs when it carries a "name". */
static void
s_enrol_name(ingest_ctx_t *ctx, store_txn_t *txn, const json_t *e, json_t *evs)
{
	const char *ih = json_string_value(json_array_get(e, 1));
	uint8_t id[CPT_ID_LEN];
	evt_t ev;
	json_t *b;

	if (ih == NULL || cpt_unhex32(id, ih, strlen(ih)) != 0 || ig_load_event(ctx, txn, id, &ev) != 0 ||
	    (b = ig_body(&ev)) == NULL)
		return;
	if (json_object_get(b, "name"))
		json_array_append_new(evs, json_pack("[I, s]", (json_int_t)ev.ts, ih));
	json_decref(b);
}

/* Profiles are per handle: the LWW registers merge the profile events of
 * every key the owning site enrolled for the handle and that still has this
 * handle (a key enrolled again under another handle writes that one), and
 * the names the owning site's enrolments of the handle carry. */
static int
s_profile_rebuild_handle(ingest_ctx_t *ctx, store_txn_t *txn, const char *handle)
{
	struct profile_acc acc = {json_object(), 0};
	json_t *rec, *enrols, *e, *evs, *seen;
	const char *first_by;
	size_t i;
	int rc = 0;

	enrols = s_handle_enrols(txn, ctx->st, handle);
	first_by = json_string_value(json_array_get(json_array_get(enrols, 0), 3));
	/* Gather the profile events of every key, then apply them in order. */
	evs = json_array();
	seen = json_object();
	json_array_foreach(enrols, i, e) {
		uint8_t k[CPT_KEY_LEN];
		char now[64];
		const char *kh = json_string_value(json_array_get(e, 2));
		if (first_by == NULL || strcmp(json_string_value(json_array_get(e, 3)), first_by) != 0)
			continue;
		/* The owning site's enrolments that name the person. */
		s_enrol_name(ctx, txn, e, evs);
		if (kh == NULL || json_object_get(seen, kh) || cpt_unhex32(k, kh, strlen(kh)) != 0 ||
		    ig_handle_of(ctx, txn, k, now) != 0 || strcmp(now, handle) != 0)
			continue;
		json_object_set_new(seen, kh, json_true());
		if ((rc = s_each_by_author(ctx, txn, k, EVT_PROFILE, s_collect_ev, evs)) != 0)
			break;
	}
	json_decref(seen);
	if (rc == 0) {
		s_sort_tsid(evs);
		json_array_foreach(evs, i, e) {
			uint8_t id[CPT_ID_LEN];
			const char *ih = json_string_value(json_array_get(e, 1));
			if (cpt_unhex32(id, ih, strlen(ih)) == 0 &&
			    (rc = s_profile_ev(ctx, txn, id, EVT_PROFILE, &acc)) != 0)
				break;
		}
	}
	json_decref(evs);
	json_decref(enrols);
	if (rc != 0 || acc.updated == 0) {
		json_decref(acc.fields);
		return rc != 0 ? rc : store_del(txn, DB_PROFILES, handle, strlen(handle));
	}
	rec = json_pack("{s:o, s:I}", "fields", acc.fields, "updated", (json_int_t)HLC_MS(acc.updated));
	if (rec == NULL)
		return CPT_ENOMEM;
	rc = store_put_json(txn, DB_PROFILES, handle, strlen(handle), rec);
	json_decref(rec);
	return rc;
}

int
vw_profile_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t author[CPT_KEY_LEN])
{
	char handle[64];

	if (ig_handle_of(ctx, txn, author, handle) != 0)
		return 0;
	return s_profile_rebuild_handle(ctx, txn, handle);
}

static int
s_post_of_key(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	(void)kind;
	(void)arg;
	return vw_post_rebuild(ctx, txn, id);
}

/* The posts of a key show its handle: rebuilt when the handle changes. */
static int
s_posts_of_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	return s_each_by_author(ctx, txn, key, EVT_POST, s_post_of_key, NULL);
}

static int
s_backup_ev(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	evt_t ev;
	uint8_t *out = arg;

	if (ig_load_event(ctx, txn, id, &ev) != 0 || ev.body == NULL)
		return 0;
	store_put_u64(out, ev.ts);
	memcpy(out + 8, id, CPT_ID_LEN);
	return 0;
}

int
vw_backup_rebuild(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t author[CPT_KEY_LEN])
{
	uint8_t newest[8 + CPT_ID_LEN] = {0};
	int rc = s_each_by_author(ctx, txn, author, EVT_KEY_BACKUP, s_backup_ev, newest);

	if (rc != 0)
		return rc;
	if (store_get_u64(newest) == 0)
		return store_del(txn, DB_BACKUPS, author, CPT_KEY_LEN);
	return store_put(txn, DB_BACKUPS, author, CPT_KEY_LEN, newest, sizeof(newest));
}

/* ------------------------------------------------------------ read side */

json_t *
view_key_info(store_t *st, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	return store_get_json(txn, DB_KEYS, key, CPT_KEY_LEN);
}

int
view_handle_of(store_t *st, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], char out[64])
{
	json_t *rec = view_key_info(st, txn, key);
	const char *h = json_string_value(json_object_get(rec, "handle"));
	int rc = h ? 0 : CPT_ENOTFOUND;

	snprintf(out, 64, "%s", h ? h : "");
	json_decref(rec);
	return rc;
}

int
view_key_of(store_t *st, store_txn_t *txn, const char *handle, uint8_t key[CPT_KEY_LEN])
{
	json_t *enrols;
	int rc;

	if (*handle == 0 || strlen(handle) > 32)
		return CPT_ENOTFOUND;
	enrols = s_handle_enrols(txn, st, handle);
	rc = s_handle_owner(enrols, key);
	json_decref(enrols);
	return rc;
}

/* Adds what a post or comment shows of its author, read now from the key
 * record and the profile: "author_site", the home site, and "author_name",
 * the profile's name, or null. They are not kept in the stored view: a name
 * changes without rebuilding every post of its author, and the feed shows
 * names from its first paint instead of handles. */
static void
s_author_extra(store_t *st, store_txn_t *txn, json_t *obj, const uint8_t key[CPT_KEY_LEN],
	       const char *handle)
{
	json_t *rec = view_key_info(st, txn, key), *prof = NULL, *site, *name;

	if (handle && *handle)
		prof = store_get_json(txn, DB_PROFILES, handle, strlen(handle));
	site = json_object_get(rec, "site");
	name = json_object_get(json_object_get(prof, "fields"), "name");
	json_object_set_new(obj, "author_site", json_is_string(site) ? json_incref(site) : json_null());
	json_object_set_new(obj, "author_name", json_is_string(name) ? json_incref(name) : json_null());
	json_decref(rec);
	json_decref(prof);
}

/* The same for a post view, whose author is "author_key" and "author". */
static json_t *
s_post_extra(store_t *st, store_txn_t *txn, json_t *post)
{
	uint8_t key[CPT_KEY_LEN];
	const char *hex = json_string_value(json_object_get(post, "author_key"));

	if (post && hex && cpt_unhex32(key, hex, strlen(hex)) == 0)
		s_author_extra(st, txn, post, key, json_string_value(json_object_get(post, "author")));
	return post;
}

/* One comment as the API lists it, or NULL when it cannot be shown (not a
 * comment, gone, erased: erased comments have no DB_BY_REF entry, but a
 * store may be old). Its text is the newest edit by its own author, as for
 * a post: edits name the comment in "post" and are indexed under it. */
static json_t *
s_comment_json(ingest_ctx_t *ctx, store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	evt_t ev;
	struct post_acc acc;
	json_t *b, *c;
	char idhex[CPT_HEX_ID], khex[CPT_HEX_ID], handle[64];

	if (ig_load_event(ctx, txn, id, &ev) != 0 || ev.kind != EVT_COMMENT ||
	    (b = ig_body(&ev)) == NULL)
		return NULL;
	memset(&acc, 0, sizeof(acc));
	memcpy(acc.author, ev.author, CPT_KEY_LEN);
	acc.text = json_object_get(b, "text");
	if (s_each_ref(ctx, txn, id, s_post_ref, &acc) != 0) {
		json_decref(acc.edit_body);
		json_decref(b);
		return NULL;
	}
	cpt_hex32(idhex, id);
	cpt_hex32(khex, ev.author);
	if (view_handle_of(ctx->st, txn, ev.author, handle) != 0)
		handle[0] = 0;
	c = json_pack("{s:s, s:O, s:s, s:s, s:O, s:I, s:o}", "id", idhex, "post",
		      json_object_get(b, "post"), "author", handle, "author_key", khex, "text", acc.text,
		      "created", (json_int_t)HLC_MS(ev.ts), "edited",
		      acc.edit_body ? json_integer((json_int_t)HLC_MS(acc.edit_ts)) : json_null());
	if (c)
		s_author_extra(ctx->st, txn, c, ev.author, handle);
	json_decref(acc.edit_body);
	json_decref(b);
	return c;
}

json_t *
view_comment(store_t *st, store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	ingest_ctx_t ctx = {.st = st};

	return s_comment_json(&ctx, txn, id);
}

json_t *
view_comments(store_t *st, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const uint8_t *before40,
	      size_t limit, char next[81])
{
	ingest_ctx_t ctx = {.st = st};
	uint8_t from[CPT_ID_LEN + 40], last[40];
	store_cur_t *cur;
	store_val_t k = {sizeof(from), from}, v;
	json_t *newest = json_array(), *items = NULL;
	size_t n = 0;
	int rc, more = 0;

	next[0] = 0;
	if (newest == NULL || store_cur_open(txn, DB_BY_REF, &cur) != 0) {
		json_decref(newest);
		return NULL;
	}
	/* Walk the post's references backwards from the cursor (or from the
	 * end): the first limit comments met are the page, one more says that
	 * earlier ones remain. Reactions and edits are skipped by their kind,
	 * with no load. */
	memcpy(from, id, CPT_ID_LEN);
	if (before40)
		memcpy(from + CPT_ID_LEN, before40, 40);
	else
		memset(from + CPT_ID_LEN, 0xff, 40);
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	rc = rc == 0 ? store_cur_get(cur, &k, &v, STORE_PREV)
	     : rc == CPT_ENOTFOUND ? store_cur_get(cur, &k, &v, STORE_LAST) : rc;
	while (rc == 0 && k.len == sizeof(from) && memcmp(k.data, id, CPT_ID_LEN) == 0) {
		if (store_get_kind(&v) == EVT_COMMENT) {
			json_t *c;
			if (n == limit) {
				more = 1;
				break;
			}
			if ((c = s_comment_json(&ctx, txn, (uint8_t *)k.data + CPT_ID_LEN + 8)) != NULL) {
				json_array_append_new(newest, c);
				memcpy(last, (uint8_t *)k.data + CPT_ID_LEN, 40);
				n++;
			}
		}
		rc = store_cur_get(cur, &k, &v, STORE_PREV);
	}
	store_cur_close(&cur);
	if (rc != 0 && rc != CPT_ENOTFOUND) {
		json_decref(newest);
		return NULL;
	}
	/* Oldest first, as a thread reads. */
	if ((items = json_array()) != NULL)
		for (size_t i = json_array_size(newest); i-- > 0;)
			json_array_append(items, json_array_get(newest, i));
	json_decref(newest);
	if (items && more)
		sodium_bin2hex(next, 81, last, sizeof(last));
	return items;
}

/* The view of post id: its feed entry, found by the timestamp in the
 * stored envelope's header. */
static json_t *
s_post_view(store_t *st, store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	store_val_t v;
	evt_t ev;
	uint8_t fk[8 + CPT_ID_LEN];

	if (store_get(txn, DB_EVENTS, id, CPT_ID_LEN, &v) != 0 ||
	    evt_decode_lazy(&ev, v.data, v.len, EVT_MAX_BODY) != 0 || ev.kind != EVT_POST)
		return NULL;
	store_put_u64(fk, ev.ts);
	memcpy(fk + 8, id, CPT_ID_LEN);
	return s_post_extra(st, txn, store_get_json(txn, DB_FEED, fk, sizeof(fk)));
}

json_t *
view_post(store_t *st, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int with_children)
{
	json_t *post = s_post_view(st, txn, id), *list;
	char before[81];

	if (post == NULL || !with_children)
		return post;
	/* The newest comments only: a thread of 10,000 took 130 ms and 1.4 MB
	 * per answer (and each reaction on it answers with the post). */
	if ((list = view_comments(st, txn, id, NULL, VIEW_COMMENTS_PAGE, before)) == NULL) {
		json_decref(post);
		return NULL;
	}
	json_object_set_new(post, "comment_list", list);
	json_object_set_new(post, "comments_before", before[0] ? json_string(before) : json_null());
	return post;
}

json_t *
view_feed(store_t *st, store_txn_t *txn, const uint8_t *before40, size_t limit, char next[81])
{
	store_cur_t *cur;
	store_val_t k, v;
	json_t *items = json_array();
	uint8_t last[40];
	size_t n = 0;
	int rc;

	next[0] = 0;
	if (store_cur_open(txn, DB_FEED, &cur) != 0)
		return items;
	if (before40) {
		k.len = 40;
		k.data = (void *)before40;
		rc = store_cur_get(cur, &k, &v, STORE_SEEK);
		/* Start strictly before the cursor. */
		rc = rc == 0 ? store_cur_get(cur, &k, &v, STORE_PREV)
			     : store_cur_get(cur, &k, &v, STORE_LAST);
	} else {
		rc = store_cur_get(cur, &k, &v, STORE_LAST);
	}
	while (rc == 0 && n < limit) {
		json_t *p;
		if (k.len == 40 && (p = json_loadb(v.data, v.len, 0, NULL)) != NULL) {
			json_array_append_new(items, s_post_extra(st, txn, p));
			n++;
			memcpy(last, k.data, 40);
		}
		rc = store_cur_get(cur, &k, &v, STORE_PREV);
	}
	if (rc == 0 && n == limit)
		sodium_bin2hex(next, 81, last, 40);
	store_cur_close(&cur);
	return items;
}

json_t *
view_person(store_t *st, store_txn_t *txn, const char *handle)
{
	uint8_t key[CPT_KEY_LEN];
	json_t *rec, *prof, *out;
	char hex[CPT_HEX_ID];
	ingest_ctx_t ctx = {.st = st};

	if (view_key_of(st, txn, handle, key) != 0)
		return NULL;
	if ((rec = view_key_info(st, txn, key)) == NULL)
		return NULL;
	prof = store_get_json(txn, DB_PROFILES, handle, strlen(handle));
	cpt_hex32(hex, key);
	out = json_pack("{s:s, s:s, s:O, s:O, s:b}", "handle", handle, "key", hex, "home_site",
			json_object_get(rec, "site"), "role", json_object_get(rec, "role"), "disabled",
			ig_revoked_at(&ctx, txn, key) != UINT64_MAX);
	if (out) {
		json_t *fields = prof ? json_object_get(prof, "fields") : NULL;
		/* A person without a profile yet gets an empty one, owned by out. */
		json_object_set_new(out, "profile", fields ? json_incref(fields) : json_object());
		json_object_set_new(out, "updated", prof ? json_incref(json_object_get(prof, "updated"))
							   : json_null());
	}
	json_decref(prof);
	json_decref(rec);
	return out;
}

/* What each code point of U+00C0..U+017F folds to, one character each; the
 * digits stand for two letters (1 ae, 2 th, 3 ss, 4 ij, 5 oe) and "." for a
 * code point kept as it is (the signs × and ÷). */
static const char s_latin[] =
    /* U+00C0 ÀÁÂÃÄÅÆÇ ÈÉÊË ÌÍÎÏ ÐÑ ÒÓÔÕÖ × Ø ÙÚÛÜ Ý Þ ß */
    "aaaaaa1ceeeeiiiidnooooo.ouuuuy23"
    /* U+00E0 àáâãäåæç èéêë ìíîï ðñ òóôõö ÷ ø ùúûü ý þ ÿ */
    "aaaaaa1ceeeeiiiidnooooo.ouuuuy2y"
    /* U+0100 ĀāĂăĄą ĆćĈĉĊċČč ĎďĐđ ĒēĔĕĖėĘęĚě */
    "aaaaaaccccccccddddeeeeeeeeee"
    /* U+011C ĜĝĞğĠġĢģ ĤĥĦħ ĨĩĪīĬĭĮįİı Ĳĳ Ĵĵ Ķķĸ */
    "gggggggghhhhiiiiiiiiii44jjkkk"
    /* U+0139 ĹĺĻļĽľĿŀŁł ŃńŅņŇňŉŊŋ ŌōŎŏŐő Œœ */
    "llllllllllnnnnnnnnnoooooo55"
    /* U+0154 ŔŕŖŗŘř ŚśŜŝŞşŠš ŢţŤťŦŧ ŨũŪūŬŭŮůŰűŲų Ŵŵ ŶŷŸ ŹźŻżŽž ſ */
    "rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

void
vw_fold(const char *s, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	if (cap == 0)
		return;
	while (*p && n + 1 < cap) {
		unsigned cp = 0;
		size_t len = 1;
		if (p[0] < 0x80) {
			out[n++] = (char)tolower(p[0]);
			p++;
			continue;
		}
		/* Two-byte sequences hold every code point folded here. */
		if ((p[0] & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
			cp = (unsigned)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
			len = 2;
		}
		if (cp >= 0x300 && cp <= 0x36f) {
			p += len; /* a combining accent: "e" + U+0301 is "é" */
			continue;
		}
		if (cp >= 0xc0 && cp <= 0x17f && s_latin[cp - 0xc0] != '.') {
			static const char *const two[] = {"ae", "th", "ss", "ij", "oe"};
			char c = s_latin[cp - 0xc0];
			if (c >= '1' && c <= '5') {
				if (n + 2 >= cap)
					break;
				memcpy(out + n, two[c - '1'], 2);
				n += 2;
			} else {
				out[n++] = c;
			}
			p += len;
			continue;
		}
		/* Anything else, byte for byte; a sequence is never cut. */
		len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 1;
		for (size_t i = 1; i < len; i++)
			if (p[i] == 0) {
				len = i;
				break;
			}
		if (n + len >= cap)
			break;
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
	out[n] = 0;
}

/* Does hay, folded, contain fq (folded already)? Profile fields are at
 * most MAX_BIO bytes and folding never lengthens them. */
static int
s_contains(const char *hay, const char *fq)
{
	char f[MAX_BIO + 1];

	if (hay == NULL)
		return 0;
	vw_fold(hay, f, sizeof(f));
	return strstr(f, fq) != NULL;
}

/* Does person p match the folded query fq? */
static int
s_person_matches(const json_t *p, const char *fq)
{
	static const char *const fields[] = {"name", "title", "department", "site", "location", NULL};
	json_t *prof = json_object_get(p, "profile"), *s;
	size_t i;

	if (fq == NULL || *fq == 0)
		return 1;
	if (s_contains(json_string_value(json_object_get(p, "handle")), fq) ||
	    s_contains(json_string_value(json_object_get(p, "home_site")), fq))
		return 1;
	for (i = 0; fields[i]; i++)
		if (s_contains(json_string_value(json_object_get(prof, fields[i])), fq))
			return 1;
	json_array_foreach(json_object_get(prof, "skills"), i, s) if (s_contains(json_string_value(s), fq))
		return 1;
	return 0;
}

json_t *
view_people(store_t *st, store_txn_t *txn, const char *q, size_t limit)
{
	store_cur_t *cur;
	store_val_t k, v;
	json_t *out = json_array();
	char fq[MAX_BIO + 1];
	int rc;

	/* Folded once; the API caps q far below this. */
	vw_fold(q ? q : "", fq, sizeof(fq));
	if (store_cur_open(txn, DB_HANDLES, &cur) != 0)
		return out;
	rc = store_cur_get(cur, &k, &v, STORE_FIRST);
	while (rc == 0 && json_array_size(out) < limit) {
		char h[64];
		json_t *p;
		if (k.len < sizeof(h)) {
			memcpy(h, k.data, k.len);
			h[k.len] = 0;
			p = view_person(st, txn, h);
			if (p && !json_is_true(json_object_get(p, "disabled")) && s_person_matches(p, fq))
				json_array_append(out, p);
			json_decref(p);
		}
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return out;
}
