/*
 * The JSON calls of the HTTP API: login and sessions, posts, comments,
 * reactions, the feed, people and profiles. Each checks everything it was
 * sent before it signs anything, so a refused request changes nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/http/http_internal.h"
#include "node/http/http_internal.h"

#define MAX_TEXT     EVT_MAX_TEXT /* post and comment text, bytes */
#define MAX_REACTION 32
#define MAX_FIELD    EVT_MAX_FIELD
#define MAX_BIO      EVT_MAX_BIO
#define MAX_SKILLS   32
#define MAX_SKILL    64
#define MAX_QUERY    100
#define PERSON_POSTS 20

/* ------------------------------------------------------------- helpers */

/* ---------------------------------------------------------- body checks */

/*
 * What the body of each call may hold, checked before anything is signed.
 * They take a parsed body and no request, so that the fuzz target
 * (tests/fuzz/fuzz_http_body.c) runs these very checks, and then checks
 * that what they let through makes an event the ingest path accepts.
 */

static const char *const s_login_keys[] = {"handle", "password", NULL};
static const char *const s_password_keys[] = {"old", "new", NULL};
static const char *const s_text_keys[] = {"text", NULL};
static const char *const s_reaction_keys[] = {"reaction", "on", NULL};
static const char *const s_profile_keys[] = {"name",     "title", "department", "site", "phone",
                                             "location", "bio",   "skills",     NULL};

/* Fills in a refusal: its code and field, the bounds broken (or -1), the
 * message (cut on a character: it goes out as JSON). Returns CPT_EINVAL. */
static int s_refuse(api_refusal_t *out, const char *code, const char *name, long long min,
                    long long max, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
s_refuse(api_refusal_t *out, const char *code, const char *name, long long min, long long max,
         const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
	http_utf8_trim(out->why);
	out->code = code;
	out->field = name;
	out->min = min;
	out->max = max;
	return CPT_EINVAL;
}

/* Refuses keys of body other than those of allowed (NULL-terminated). */
static int
s_only_keys(const json_t *body, const char *const *allowed, api_refusal_t *out)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)body, k, v)
	{
		int ok = 0;
		for (int i = 0; allowed[i]; i++)
			ok |= strcmp(k, allowed[i]) == 0;
		if (!ok)
			return s_refuse(out, "unknown_field", k, -1, -1, "unknown field \"%s\"", k);
	}
	return 0;
}

/* A string field of min..max bytes. Empty and too long are told apart:
 * the UI says which. */
static int
s_want_str(const json_t *body, const char *name, size_t min, size_t max, api_refusal_t *out)
{
	json_t *v = json_object_get(body, name);

	if (!json_is_string(v))
		return s_refuse(out, "wrong_type", name, -1, -1, "\"%s\" must be a string", name);
	/* jansson refuses \u0000 unless asked, so the length is the C length. */
	if (json_string_length(v) < min || json_string_length(v) > max)
		return s_refuse(out, json_string_length(v) < min ? "too_short" : "too_long", name,
		                (long long)min, (long long)max, "\"%s\" must be %zu to %zu bytes", name,
		                min, max);
	return 0;
}

/* One profile field, as views.c will check it. */
static int
s_profile_field(const char *k, const json_t *v, api_refusal_t *out)
{
	size_t max = strcmp(k, "bio") == 0 ? MAX_BIO : MAX_FIELD, i;
	json_t *s;

	if (json_is_null(v))
		return 0;
	if (strcmp(k, "skills") != 0) {
		if (json_is_string(v) && json_string_length(v) <= max)
			return 0;
		return s_refuse(out, json_is_string(v) ? "too_long" : "wrong_type", k, -1,
		                (long long)max, "\"%s\" must be a string of at most %zu bytes or null",
		                k, max);
	}
	if (!json_is_array(v) || json_array_size(v) > MAX_SKILLS)
		return s_refuse(out, "wrong_type", k, -1, -1,
		                "\"skills\" must be a list of at most %d strings", MAX_SKILLS);
	json_array_foreach(v, i, s)
	{
		if (!json_is_string(s) || json_string_length(s) == 0 ||
		    json_string_length(s) > MAX_SKILL)
			return s_refuse(out, "wrong_type", k, -1, -1,
			                "each skill must be a string of 1 to %d bytes", MAX_SKILL);
	}
	return 0;
}

int
api_body_check(enum api_body call, const json_t *body, api_refusal_t *out)
{
	const char *k;
	json_t *v, *on;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->min = out->max = -1;
	switch (call) {
	case API_LOGIN:
		if ((rc = s_only_keys(body, s_login_keys, out)) == 0 &&
		    (rc = s_want_str(body, "handle", 1, 64, out)) == 0)
			rc = s_want_str(body, "password", 0, ACCT_MAX_PASSWORD, out);
		return rc;
	case API_PASSWORD:
		if ((rc = s_only_keys(body, s_password_keys, out)) == 0 &&
		    (rc = s_want_str(body, "old", 0, ACCT_MAX_PASSWORD, out)) == 0)
			rc = s_want_str(body, "new", ACCT_MIN_PASSWORD, ACCT_MAX_PASSWORD, out);
		return rc;
	case API_POST:
	case API_EDIT:
	case API_COMMENT:
		if ((rc = s_only_keys(body, s_text_keys, out)) == 0)
			rc = s_want_str(body, "text", 1, MAX_TEXT, out);
		return rc;
	case API_REACTION:
		if ((rc = s_only_keys(body, s_reaction_keys, out)) == 0 &&
		    (rc = s_want_str(body, "reaction", 1, MAX_REACTION, out)) == 0 &&
		    (on = json_object_get(body, "on")) != NULL && !json_is_boolean(on))
			rc = s_refuse(out, "wrong_type", "on", -1, -1, "\"on\" must be true or false");
		return rc;
	case API_PROFILE:
		if ((rc = s_only_keys(body, s_profile_keys, out)) != 0)
			return rc;
		if (json_object_size(body) == 0)
			return s_refuse(out, "empty", NULL, -1, -1, "give at least one profile field");
		json_object_foreach((json_t *)body, k, v)
		{
			if ((rc = s_profile_field(k, v, out)) != 0)
				return rc;
		}
		return 0;
	case API_BODY_COUNT:
		break;
	}
	return s_refuse(out, "bad_request", NULL, -1, -1, "no such call");
}

json_t *
api_body_event(enum api_body call, const json_t *body, const char *post, uint16_t *kind)
{
	const char *text = json_string_value(json_object_get(body, "text"));
	json_t *on;

	switch (call) {
	case API_POST:
		*kind = EVT_POST;
		return json_pack("{s:s}", "text", text);
	case API_EDIT:
		*kind = EVT_EDIT;
		return json_pack("{s:s, s:s}", "post", post, "text", text);
	case API_COMMENT:
		*kind = EVT_COMMENT;
		return json_pack("{s:s, s:s}", "post", post, "text", text);
	case API_REACTION:
		*kind = EVT_REACTION;
		on = json_object_get(body, "on");
		return json_pack("{s:s, s:s, s:b}", "post", post, "reaction",
		                 json_string_value(json_object_get(body, "reaction")), "on",
		                 on ? json_is_true(on) : 1);
	case API_PROFILE:
		*kind = EVT_PROFILE;
		return json_pack("{s:O}", "fields", body);
	case API_LOGIN:
	case API_PASSWORD:
	case API_BODY_COUNT:
		break;
	}
	return NULL;
}

/* A body that fails api_body_check is answered 400 with its code, naming
 * the field and the bounds it broke. */
static int
s_body_ok(http_req_t *r, enum api_body call, const json_t *body)
{
	api_refusal_t why;
	json_t *params = NULL;

	if (api_body_check(call, body, &why) == 0)
		return 1;
	if (why.min >= 0 || why.max >= 0) {
		params = json_object();
		if (params && why.min >= 0)
			json_object_set_new(params, "min", json_integer(why.min));
		if (params && why.max >= 0)
			json_object_set_new(params, "max", json_integer(why.max));
	}
	http_fail(r, 400, why.code, why.field, params, "%s", why.why);
	return 0;
}

static int
s_read_begin(http_req_t *r, store_txn_t **txn)
{
	if (store_read_begin(r->h->st, txn) == 0)
		return 1;
	http_error(r, 500, NULL, "store unavailable");
	return 0;
}

/*
 * Signs body as kind with the caller's key and ingests it. Returns 1 when it
 * was stored (res->id is the event), or replies and returns 0. No read
 * transaction may be open here: the write waits for map growth, which
 * waits for readers.
 */
static int
s_publish(http_req_t *r, uint16_t kind, const json_t *body, ingest_res_t *res)
{
	int rc = sess_publish(r->h->sess, r->token, r->h->node, kind, body, res);

	if (rc == CPT_ENOTFOUND) {
		http_fail(r, 401, "not_logged_in", NULL, NULL, "session expired");
		return 0;
	}
	if (rc == CPT_ENOSPC) {
		/* 507 Insufficient Storage: nothing was stored, try again later. */
		http_error(r, 507, NULL, "no space left on device (%s): nothing was stored",
		           store_dir(r->h->st));
		return 0;
	}
	if (rc != 0) {
		http_error(r, 500, NULL, "could not sign the event: %s", cpt_strerror(rc));
		return 0;
	}
	switch (res->rc) {
	case 0:
		return 1;
	case CPT_EINVAL:
		http_error(r, 400, NULL, "%s", res->why[0] ? res->why : "invalid event");
		return 0;
	case CPT_EPERM:
	case CPT_EREVOKED:
		http_fail(r, 403, res->rc == CPT_EREVOKED ? "revoked" : "forbidden", NULL, NULL, "%s",
		          res->why[0] ? res->why : cpt_strerror(res->rc));
		return 0;
	default:
		http_error(r, 500, NULL, "the event was not stored: %s",
		           res->why[0] ? res->why : cpt_strerror(res->rc));
		return 0;
	}
}

/* Parses a decimal query argument in lo..hi; def when absent. -1 when bad. */
static long
s_query_int(http_req_t *r, const char *name, long def, long lo, long hi)
{
	const char *s = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	long v = 0;

	if (s == NULL)
		return def;
	if (*s == 0 || strlen(s) > 6)
		return -1;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v < lo || v > hi ? -1 : v;
}

/* The post as GET /api/posts/ID shows it, or NULL when it is not visible. */
static json_t *
s_post_full(http_req_t *r, store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	json_t *p = query_post(txn, id, 1), *mine = json_array();

	/* A store error here shows as an error, not as "no reactions". */
	if (p && (mine == NULL || index_reactions_of(txn, id, r->sess.key, mine) != 0 ||
		  json_object_set(p, "my_reactions", mine) != 0)) {
		json_decref(p);
		p = NULL;
	}
	json_decref(mine);
	return p;
}

static int
s_reply_post(http_req_t *r, unsigned status, const uint8_t id[CPT_ID_LEN], int full)
{
	store_txn_t *txn;
	json_t *p;

	if (!s_read_begin(r, &txn))
		return 0;
	p = full ? s_post_full(r, txn, id) : query_post(txn, id, 0);
	store_read_end(r->h->st, &txn);
	if (p == NULL)
		return http_error(r, 500, NULL, "the post was stored but cannot be shown");
	return http_reply(r, status, p);
}

/* Is the post visible? Copies its author key. 1, or replies 404/500 and 0. */
static int
s_need_post(http_req_t *r, const uint8_t id[CPT_ID_LEN], uint8_t author[CPT_KEY_LEN])
{
	store_txn_t *txn;
	json_t *p;
	const char *ak;
	int ok;

	if (!s_read_begin(r, &txn))
		return 0;
	p = query_post(txn, id, 0);
	store_read_end(r->h->st, &txn);
	if (p == NULL) {
		http_fail(r, 404, "no_post", NULL, NULL, "no such post");
		return 0;
	}
	ak = json_string_value(json_object_get(p, "author_key"));
	ok = ak && cpt_unhex32(author, ak, strlen(ak)) == 0;
	json_decref(p);
	if (!ok)
		http_error(r, 500, NULL, "the post view has no author key");
	return ok;
}

/* --------------------------------------------------------------- login */

#define DEVICE_COOKIE "comptoir_device"

/* Loads the newest key backup of key: its body, new reference, or NULL;
 * *ts (when not NULL) gets its timestamp. */
static json_t *
s_load_backup(store_t *st, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t *ts)
{
	store_val_t k = {CPT_KEY_LEN, (void *)key}, v;
	evt_t ev;

	if (store_get(txn, DB_BACKUPS, k.data, k.len, &v) != 0 || v.len != 8 + CPT_ID_LEN)
		return NULL;
	if (ts)
		*ts = store_get_u64(v.data);
	k.len = CPT_ID_LEN;
	k.data = (uint8_t *)v.data + 8;
	if (store_get(txn, DB_EVENTS, k.data, k.len, &v) != 0 ||
	    evt_decode(&ev, v.data, v.len, EVT_MAX_BODY) != 0 || ev.body == NULL ||
	    ev.kind != EVT_KEY_BACKUP || memcmp(ev.author, key, CPT_KEY_LEN) != 0)
		return NULL;
	/* Parsed (copied) before the transaction ends. */
	return json_loadb((const char *)ev.body, ev.body_len, 0, NULL);
}

/* Is key an admin enrolled by this site? */
static int
s_is_site_admin(http_t *h, const json_t *rec)
{
	const key_sign_t *site = node_site_key(h->node);
	const char *role = json_string_value(json_object_get(rec, "role"));
	const char *by = json_string_value(json_object_get(rec, "by"));
	char hex[CPT_HEX_ID];

	if (role == NULL || strcmp(role, "admin") != 0)
		return 0;
	if (site == NULL) {
		const char *s = json_string_value(json_object_get(rec, "site"));
		return s && strcmp(s, h->site) == 0;
	}
	cpt_hex32(hex, key_sign_public(site));
	return by && strcmp(by, hex) == 0;
}

/* 429 with Retry-After: too many attempts from this address or on this account. */
static int
s_too_many(http_req_t *r, unsigned retry, const char *msg)
{
	char ra[16];
	const char *hdr[] = {"Retry-After", ra, NULL};

	snprintf(ra, sizeof(ra), "%u", retry ? retry : 1);
	return http_reply_hdr(r, 429, json_pack("{s:s, s:i}", "error", msg, "retry_after",
	                                        (int)(retry ? retry : 1)),
	                      hdr);
}

static int
s_kdf_busy(http_req_t *r)
{
	const char *hdr[] = {"Retry-After", "1", NULL};

	return http_reply_hdr(r, 503,
	                      json_pack("{s:s}", "error", "too many logins at once, try again"), hdr);
}

static int
s_login_failed(http_req_t *r, const char *handle, int trusted)
{
	acct_login_done(handle, trusted, -1, hlc_wall_ms());
	node_count_login(r->h->node, 0);
	log_info("http", "failed login from %s", r->addr);
	return http_fail(r, 401, "wrong_login", NULL, NULL, "wrong handle or password");
}

/* The user record's enrolling site and time: what the session is checked
 * against (sess_anchor_t). 0, or -1 when the record lacks them. */
static int
s_anchor(const json_t *rec, uint64_t backup_ts, sess_anchor_t *a)
{
	const char *by = json_string_value(json_object_get(rec, "by"));
	json_t *ts = json_object_get(rec, "ts");

	memset(a, 0, sizeof(*a));
	if (by == NULL || cpt_unhex32(a->site, by, strlen(by)) != 0 || !json_is_integer(ts))
		return -1;
	a->enrol_ms = HLC_MS((uint64_t)json_integer_value(ts));
	a->backup_ts = backup_ts;
	return 0;
}

/*
 * Login. In order, before any argon2id run: the per-address bucket, then
 * the account's back-off (a browser holding this handle's device cookie is
 * not held back by it). A handle that does not exist runs no KDF: it waits
 * for a slot as a login would and sleeps about a KDF's time (acct_kdf_pause).
 */
int
api_login(http_req_t *r)
{
	http_t *h = r->h;
	json_t *body, *backup = NULL, *person = NULL, *rec = NULL, *out;
	const char *handle, *pw;
	uint8_t key[CPT_KEY_LEN];
	char token[SESS_TOKEN_LEN + 1], cookie[128], dcookie[160], dev[ACCT_DEVICE_LEN + 1];
	sess_info_t info;
	sess_anchor_t anchor;
	key_sign_t *kp;
	store_txn_t *txn;
	uint64_t backup_ts = 0;
	unsigned retry = 0;
	int rc = 0, known, admin, disabled, trusted;

	if (!http_need_json(r, &body))
		return 0;
	if (!s_body_ok(r, API_LOGIN, body)) {
		json_decref(body);
		return 0;
	}
	handle = json_string_value(json_object_get(body, "handle"));
	pw = json_string_value(json_object_get(body, "password"));
	if (!http_login_allowed(h, r->addr, &retry)) {
		json_decref(body);
		log_warnx("http", "login rate limit reached by %s", r->addr);
		return s_too_many(r, retry, "too many login attempts, try later");
	}
	trusted = acct_device_check(node_site_key(h->node), handle,
	                            MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, DEVICE_COOKIE));
	if (!acct_login_allow(handle, trusted, hlc_wall_ms(), &retry)) {
		/* The handle is logged only when it is one (no newline in the log). */
		log_warnx("http", "login of %s refused from %s: the account is in back-off",
		          event_valid_handle(handle) ? handle : "(not a handle)", r->addr);
		json_decref(body);
		return s_too_many(r, retry, "too many failed logins on this account, try later");
	}
	if (!s_read_begin(r, &txn)) {
		acct_login_done(handle, trusted, 0, hlc_wall_ms());
		json_decref(body);
		return 0;
	}
	known = event_valid_handle(handle) && index_key_of(txn, handle, key) == 0;
	if (known) {
		backup = s_load_backup(h->st, txn, key, &backup_ts);
		person = query_person(txn, handle);
		rec = index_key_info(txn, key);
	}
	store_read_end(h->st, &txn);
	if (backup == NULL || person == NULL || rec == NULL ||
	    s_anchor(rec, backup_ts, &anchor) != 0) {
		json_decref(backup);
		json_decref(person);
		json_decref(rec);
		rc = acct_kdf_pause();
		if (rc == CPT_EAGAIN) {
			acct_login_done(handle, trusted, 0, hlc_wall_ms());
			json_decref(body);
			return s_kdf_busy(r);
		}
		rc = s_login_failed(r, handle, trusted);
		json_decref(body);
		return rc;
	}
	kp = acct_backup_open(backup, pw, trusted, &rc);
	json_decref(backup);
	if (kp == NULL) {
		json_decref(person);
		json_decref(rec);
		if (rc == CPT_EAUTH) {
			rc = s_login_failed(r, handle, trusted);
			json_decref(body);
			return rc;
		}
		acct_login_done(handle, trusted, 0, hlc_wall_ms());
		json_decref(body);
		if (rc == CPT_EAGAIN)
			return s_kdf_busy(r);
		log_warnx("http", "key backup of %s cannot be opened: %s", handle, cpt_strerror(rc));
		return http_error(r, 500, NULL, "the key backup of this account is unreadable");
	}
	/* The password was right: what follows is not a failed guess. */
	acct_login_done(handle, trusted, 1, hlc_wall_ms());
	disabled = json_is_true(json_object_get(person, "disabled"));
	admin = s_is_site_admin(h, rec);
	json_decref(rec);
	if (disabled || sodium_memcmp(key_sign_public(kp), key, CPT_KEY_LEN) != 0) {
		key_sign_destroy(&kp);
		json_decref(person);
		json_decref(body);
		node_count_login(h->node, 0);
		return http_fail(r, 403, "disabled", NULL, NULL, "this account is disabled");
	}
	rc = sess_open(h->sess, &kp, handle, admin, &anchor, token, &info);
	key_sign_destroy(&kp); /* NULL when the table took it */
	if (rc != 0) {
		json_decref(person);
		json_decref(body);
		if (rc == CPT_EFULL) {
			const char *hdr[] = {"Retry-After", "60", NULL};
			return http_reply_hdr(
			    r, 503, json_pack("{s:s}", "error", "too many open sessions"), hdr);
		}
		return http_error(r, 500, NULL, "cannot open a session: %s", cpt_strerror(rc));
	}
	node_count_login(h->node, 1);
	log_info("http", "login of %s from %s", handle, r->addr);
	snprintf(cookie, sizeof(cookie), "comptoir_session=%s; Path=/; HttpOnly; SameSite=Strict",
	         token);
	sodium_memzero(token, sizeof(token));
	/* This browser is now known for this handle (a year): guesses by others
	 * on the account do not hold it back. */
	acct_device_cookie(node_site_key(h->node), handle, dev);
	snprintf(dcookie, sizeof(dcookie),
	         DEVICE_COOKIE "=%s; Path=/api/login; HttpOnly; SameSite=Strict; Max-Age=31536000",
	         dev);
	out = json_pack("{s:s, s:s, s:b, s:o}", "handle", info.handle, "csrf_token", info.csrf,
	                "admin", info.admin, "person", person);
	json_decref(body);
	{
		/* The session's cookie last: one reader of a single Set-Cookie sees it. */
		const char *hdr[5];
		int k = 0;
		if (dev[0]) {
			hdr[k++] = "Set-Cookie";
			hdr[k++] = dcookie;
		}
		hdr[k++] = "Set-Cookie";
		hdr[k++] = cookie;
		hdr[k] = NULL;
		http_reply_hdr(r, 200, out, hdr);
	}
	sodium_memzero(cookie, sizeof(cookie));
	return 0;
}

int
api_logout(http_req_t *r)
{
	const char *hdr[] = {
	    "Set-Cookie", "comptoir_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", NULL};

	if (!http_need_csrf(r))
		return 0;
	sess_close(r->h->sess, r->token);
	return http_reply_hdr(r, 200, json_pack("{s:b}", "logged_out", 1), hdr);
}

/* What the UI checks before sending: the limits the API and the event rules
 * apply (node.h), so that the UI keeps no copy of them. */
static json_t *
s_limits(void)
{
	return json_pack("{s:i, s:i, s:i}", "text", EVT_MAX_TEXT, "field", EVT_MAX_FIELD, "bio",
	                 EVT_MAX_BIO);
}

/* GET /api/me and GET /api/session: the caller's session. Without one, me
 * answers 401 and session 200 {"logged_in": false}: a page opened before
 * signing in is not an error. */
static int
s_me(http_req_t *r, int optional)
{
	store_txn_t *txn;
	json_t *person;

	/* http_has_session has checked the key state (disabled, reset). */
	if (optional && http_has_session(r) == 0)
		return http_reply(r, 200, json_pack("{s:b, s:o}", "logged_in", 0, "limits", s_limits()));
	if (!http_need_session(r) || !s_read_begin(r, &txn))
		return 0;
	person = query_person(txn, r->sess.handle);
	store_read_end(r->h->st, &txn);
	if (person == NULL)
		return http_error(r, 500, NULL, "no profile for %s", r->sess.handle);
	return http_reply(r, 200,
	                  json_pack("{s:b, s:s, s:s, s:b, s:o, s:o}", "logged_in", 1, "handle",
	                            r->sess.handle, "csrf_token", r->sess.csrf, "admin",
	                            r->sess.admin, "person", person, "limits", s_limits()));
}

int
api_me(http_req_t *r)
{
	return s_me(r, 0);
}

int
api_session(http_req_t *r)
{
	return s_me(r, 1);
}


/*
 * A person changes their own password: the current key backup is opened
 * with the old one and the SAME seed is sealed under the new one, published
 * as a new key-backup event. The key, the handle and everything signed stay;
 * the person's other sessions close (here now, at other sites when the event
 * arrives: their anchor's backup is no longer the newest).
 */
int
api_me_password(http_req_t *r)
{
	http_t *h = r->h;
	json_t *body, *backup, *nb;
	const char *old, *pw;
	uint8_t *seed;
	uint64_t old_ts = 0, new_ts = 0;
	ingest_res_t res;
	key_sign_t *kp;
	store_txn_t *txn;
	unsigned retry = 0;
	int rc;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!s_body_ok(r, API_PASSWORD, body)) {
		json_decref(body);
		return 0;
	}
	old = json_string_value(json_object_get(body, "old"));
	pw = json_string_value(json_object_get(body, "new"));
	/* Guessing the old password from an open session costs what a login
	 * does: the address's bucket, and a failure on the account. The
	 * account's back-off does not stop it (a signed-in person is trusted,
	 * as a known browser is: acct_login_allow would always say yes). */
	if (!http_login_allowed(h, r->addr, &retry)) {
		json_decref(body);
		return s_too_many(r, retry, "too many password attempts, try later");
	}
	if (!s_read_begin(r, &txn)) {
		json_decref(body);
		return 0;
	}
	backup = s_load_backup(h->st, txn, r->sess.key, &old_ts);
	store_read_end(h->st, &txn);
	if (backup == NULL) {
		json_decref(body);
		return http_error(r, 500, NULL, "no key backup for %s", r->sess.handle);
	}
	kp = acct_backup_open(backup, old, 1, &rc);
	json_decref(backup);
	if (kp == NULL) {
		acct_login_done(r->sess.handle, 1, rc == CPT_EAUTH ? -1 : 0, hlc_wall_ms());
		json_decref(body);
		if (rc == CPT_EAUTH)
			return http_error(r, 403, "old", "the current password is wrong");
		if (rc == CPT_EAGAIN)
			return s_kdf_busy(r);
		return http_error(r, 500, NULL, "the key backup cannot be opened: %s", cpt_strerror(rc));
	}
	acct_login_done(r->sess.handle, 1, 1, hlc_wall_ms());
	if (sodium_memcmp(key_sign_public(kp), r->sess.key, CPT_KEY_LEN) != 0 ||
	    (seed = sodium_malloc(CPT_SEED_LEN)) == NULL) {
		key_sign_destroy(&kp);
		json_decref(body);
		return http_error(r, 500, NULL, "the key backup does not hold this session's key");
	}
	key_sign_seed(kp, seed);
	key_sign_destroy(&kp);
	nb = acct_backup_make(r->sess.handle, seed, pw);
	sodium_free(seed);
	json_decref(body); /* the passwords: r->body is wiped when the request ends */
	if (nb == NULL)
		return http_error(r, 500, NULL, "out of memory");
	/* This session accepts the backup it is about to publish; the others
	 * see a newer backup than theirs and close. */
	if (sess_rebase(h->sess, r->token, UINT64_MAX) != 0) {
		json_decref(nb);
		return http_error(r, 401, NULL, "session expired");
	}
	rc = s_publish(r, EVT_KEY_BACKUP, nb, &res);
	json_decref(nb);
	if (!rc) {
		/* Not stored (s_publish answered): the session keeps its anchor. */
		if (sess_rebase(h->sess, r->token, old_ts) != 0)
			log_warnx("http", "session of %s closed during a password change", r->sess.handle);
		return 0;
	}
	if (store_read_begin(h->st, &txn) == 0) {
		json_decref(s_load_backup(h->st, txn, r->sess.key, &new_ts));
		store_read_end(h->st, &txn);
	}
	if (new_ts == 0 || sess_rebase(h->sess, r->token, new_ts) != 0) {
		sess_close_handle(h->sess, r->sess.handle, NULL);
		return http_error(r, 500, NULL, "the password was changed, but this session cannot "
		                                "follow: log in again");
	}
	sess_close_handle(h->sess, r->sess.handle, r->token);
	log_info("http", "%s changed their password from %s", r->sess.handle, r->addr);
	return http_reply(r, 200, json_pack("{s:b}", "changed", 1));
}

/* ---------------------------------------------------------------- posts */

int
api_post_create(http_req_t *r)
{
	json_t *body, *ev;
	uint16_t kind;
	ingest_res_t res;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!s_body_ok(r, API_POST, body)) {
		json_decref(body);
		return 0;
	}
	ev = api_body_event(API_POST, body, NULL, &kind);
	json_decref(body);
	ok = ev && s_publish(r, kind, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return s_reply_post(r, 201, res.id, 0);
}

/* Parses the "before" cursor (80 hex: ts, id) into cur. 1 when absent
 * (*has = 0) or good (*has = 1); replies 400 and 0 when bad. */
static int
s_query_cursor(http_req_t *r, uint8_t cur[40], int *has)
{
	const char *before = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "before");
	int ok;

	*has = before != NULL;
	if (before == NULL)
		return 1;
	ok = strlen(before) == 80;
	for (size_t i = 0; ok && i < 80; i++)
		ok = isdigit((unsigned char)before[i]) || (before[i] >= 'a' && before[i] <= 'f');
	if (ok) {
		size_t n = 0;
		ok = sodium_hex2bin(cur, 40, before, 80, NULL, &n, NULL) == 0 && n == 40;
	}
	if (!ok)
		http_error(r, 400, "before", "\"before\" must be a cursor of 80 hex digits");
	return ok;
}

int
api_feed(http_req_t *r)
{
	uint8_t cur[40];
	char next[81];
	long limit;
	int has;
	store_txn_t *txn;
	json_t *items;

	if (!http_need_session(r))
		return 0;
	if ((limit = s_query_int(r, "limit", 20, 1, 100)) < 0)
		return http_error(r, 400, "limit", "\"limit\" must be a number from 1 to 100");
	if (!s_query_cursor(r, cur, &has))
		return 0;
	if (!s_read_begin(r, &txn))
		return 0;
	items = query_feed(txn, has ? cur : NULL, (size_t)limit, next);
	store_read_end(r->h->st, &txn);
	return http_reply(r, 200,
	                  json_pack("{s:o, s:o}", "items", items, "next",
	                            next[0] ? json_string(next) : json_null()));
}

int
api_comments(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t cur[40];
	char next[81];
	long limit;
	int has;
	store_txn_t *txn;
	json_t *post, *items = NULL;

	if (!http_need_session(r))
		return 0;
	if ((limit = s_query_int(r, "limit", QUERY_COMMENTS_PAGE, 1, 100)) < 0)
		return http_error(r, 400, "limit", "\"limit\" must be a number from 1 to 100");
	if (!s_query_cursor(r, cur, &has) || !s_read_begin(r, &txn))
		return 0;
	if ((post = query_post(txn, id, 0)) != NULL)
		items = query_comments(txn, id, has ? cur : NULL, (size_t)limit, next);
	store_read_end(r->h->st, &txn);
	if (post == NULL)
		return http_fail(r, 404, "no_post", NULL, NULL, "no such post");
	json_decref(post);
	if (items == NULL)
		return http_error(r, 500, NULL, "the comments cannot be read");
	return http_reply(r, 200,
	                  json_pack("{s:o, s:o}", "items", items, "next",
	                            next[0] ? json_string(next) : json_null()));
}

int
api_post_get(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	store_txn_t *txn;
	json_t *p;

	if (!http_need_session(r) || !s_read_begin(r, &txn))
		return 0;
	p = s_post_full(r, txn, id);
	store_read_end(r->h->st, &txn);
	if (p == NULL)
		return http_fail(r, 404, "no_post", NULL, NULL, "no such post");
	return http_reply(r, 200, p);
}

int
api_post_edit(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t author[CPT_KEY_LEN];
	char hex[CPT_HEX_ID];
	json_t *body, *ev;
	uint16_t kind;
	ingest_res_t res;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!s_body_ok(r, API_EDIT, body) || !s_need_post(r, id, author)) {
		json_decref(body);
		return 0;
	}
	if (sodium_memcmp(author, r->sess.key, CPT_KEY_LEN) != 0) {
		json_decref(body);
		return http_fail(r, 403, "not_author", NULL, NULL, "only the author may edit a post");
	}
	cpt_hex32(hex, id);
	ev = api_body_event(API_EDIT, body, hex, &kind);
	json_decref(body);
	ok = ev && s_publish(r, kind, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return s_reply_post(r, 200, id, 1);
}

/* May the caller erase a post or comment of author? Its author may, and an
 * admin of the site that enrolled the author (ingest checks the same rule). */
static int
s_may_delete(http_req_t *r, const uint8_t author[CPT_KEY_LEN])
{
	store_txn_t *txn;
	json_t *mine, *theirs;
	const char *a, *b;
	int ok;

	if (sodium_memcmp(author, r->sess.key, CPT_KEY_LEN) == 0)
		return 1;
	if (!r->sess.admin || store_read_begin(r->h->st, &txn) != 0)
		return 0;
	mine = index_key_info(txn, r->sess.key);
	theirs = index_key_info(txn, author);
	store_read_end(r->h->st, &txn);
	a = json_string_value(json_object_get(mine, "by"));
	b = json_string_value(json_object_get(theirs, "by"));
	ok = a && b && strcmp(a, b) == 0;
	json_decref(mine);
	json_decref(theirs);
	return ok;
}

int
api_post_delete(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t author[CPT_KEY_LEN];
	char hex[CPT_HEX_ID];
	ingest_res_t res;
	json_t *ev;
	int ok;

	if (!http_need_csrf(r) || !s_need_post(r, id, author))
		return 0;
	if (!s_may_delete(r, author))
		return http_fail(r, 403, "not_allowed", NULL, NULL,
		                 "only the author or an admin of their site may delete a post");
	cpt_hex32(hex, id);
	ev = json_pack("{s:s}", "target", hex);
	ok = ev && s_publish(r, EVT_REDACT, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return http_reply(r, 200, json_pack("{s:s}", "deleted", hex));
}

/* Replies with comment id as view_comment shows it. */
static int
s_reply_comment(http_req_t *r, unsigned status, const uint8_t id[CPT_ID_LEN])
{
	store_txn_t *txn;
	json_t *c;

	if (!s_read_begin(r, &txn))
		return 0;
	c = query_comment(txn, id);
	store_read_end(r->h->st, &txn);
	if (c == NULL)
		return http_error(r, 500, NULL, "the comment was stored but cannot be shown");
	return http_reply(r, status, c);
}

int
api_comment_create(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t author[CPT_KEY_LEN];
	char hex[CPT_HEX_ID];
	json_t *body, *ev;
	uint16_t kind;
	ingest_res_t res;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!s_body_ok(r, API_COMMENT, body) || !s_need_post(r, id, author)) {
		json_decref(body);
		return 0;
	}
	cpt_hex32(hex, id);
	ev = api_body_event(API_COMMENT, body, hex, &kind);
	json_decref(body);
	ok = ev && s_publish(r, kind, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return s_reply_comment(r, 201, res.id);
}

/* Is id a comment that can be shown? Copies its author key. 1, or replies
 * 404/500 and 0. */
static int
s_need_comment(http_req_t *r, const uint8_t id[CPT_ID_LEN], uint8_t author[CPT_KEY_LEN])
{
	store_txn_t *txn;
	json_t *c;
	const char *ak;
	int ok;

	if (!s_read_begin(r, &txn))
		return 0;
	c = query_comment(txn, id);
	store_read_end(r->h->st, &txn);
	if (c == NULL) {
		http_fail(r, 404, "no_comment", NULL, NULL, "no such comment");
		return 0;
	}
	ak = json_string_value(json_object_get(c, "author_key"));
	ok = ak && cpt_unhex32(author, ak, strlen(ak)) == 0;
	json_decref(c);
	if (!ok)
		http_error(r, 500, NULL, "the comment has no author key");
	return ok;
}

int
api_comment_edit(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t author[CPT_KEY_LEN];
	char hex[CPT_HEX_ID];
	json_t *body, *ev;
	uint16_t kind;
	ingest_res_t res;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!s_body_ok(r, API_EDIT, body) || !s_need_comment(r, id, author)) {
		json_decref(body);
		return 0;
	}
	if (sodium_memcmp(author, r->sess.key, CPT_KEY_LEN) != 0) {
		json_decref(body);
		return http_fail(r, 403, "not_author", NULL, NULL, "only the author may edit a comment");
	}
	/* An edit names what it edits in "post": here the comment (PROTOCOL.md). */
	cpt_hex32(hex, id);
	ev = api_body_event(API_EDIT, body, hex, &kind);
	json_decref(body);
	ok = ev && s_publish(r, kind, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return s_reply_comment(r, 200, id);
}

int
api_comment_delete(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t author[CPT_KEY_LEN];
	char hex[CPT_HEX_ID];
	ingest_res_t res;
	json_t *ev;
	int ok;

	if (!http_need_csrf(r) || !s_need_comment(r, id, author))
		return 0;
	if (!s_may_delete(r, author))
		return http_fail(r, 403, "not_allowed", NULL, NULL,
		                 "only the author or an admin of their site may delete a comment");
	cpt_hex32(hex, id);
	ev = json_pack("{s:s}", "target", hex);
	ok = ev && s_publish(r, EVT_REDACT, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return http_reply(r, 200, json_pack("{s:s}", "deleted", hex));
}

int
api_reaction_set(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t author[CPT_KEY_LEN];
	char hex[CPT_HEX_ID];
	json_t *body, *ev;
	uint16_t kind;
	ingest_res_t res;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!s_body_ok(r, API_REACTION, body) || !s_need_post(r, id, author)) {
		json_decref(body);
		return 0;
	}
	cpt_hex32(hex, id);
	ev = api_body_event(API_REACTION, body, hex, &kind);
	json_decref(body);
	ok = ev && s_publish(r, kind, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return s_reply_post(r, 200, id, 1);
}

/* --------------------------------------------------------------- people */

int
api_people(http_req_t *r)
{
	const char *q = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "q");
	long limit;
	store_txn_t *txn;
	json_t *items;

	if (!http_need_session(r))
		return 0;
	if (q && strlen(q) > MAX_QUERY)
		return http_fail(r, 400, "too_long", "q", json_pack("{s:i}", "max", MAX_QUERY),
		                 "\"q\" must be at most %d bytes", MAX_QUERY);
	if ((limit = s_query_int(r, "limit", 20, 1, 100)) < 0)
		return http_error(r, 400, "limit", "\"limit\" must be a number from 1 to 100");
	if (!s_read_begin(r, &txn))
		return 0;
	items = query_people(txn, q ? q : "", (size_t)limit);
	store_read_end(r->h->st, &txn);
	return http_reply(r, 200, json_pack("{s:o}", "items", items));
}

int
api_figures(http_req_t *r)
{
	http_t *h = r->h;
	struct http_fig *hit = NULL, *oldest = NULL;
	long days;
	uint64_t now;
	store_txn_t *txn;
	json_t *f;

	if (!http_need_session(r))
		return 0;
	if ((days = s_query_int(r, "days", 30, 1, QUERY_FIGURES_MAX_DAYS)) < 0)
		return http_error(r, 400, "days", "\"days\" must be a number from 1 to %d",
		                  QUERY_FIGURES_MAX_DAYS);
	/* One computation at a time; an answer less than a minute old is
	 * served again (a copy: the cached one stays the cache's). */
	pthread_mutex_lock(&h->fig_lock);
	now = hlc_wall_ms();
	for (size_t i = 0; i < HTTP_FIG_SLOTS; i++) {
		struct http_fig *e = &h->fig[i];
		if (e->json && e->days == (unsigned)days && now >= e->at_ms &&
		    now - e->at_ms < HTTP_FIG_MAX_AGE_MS)
			hit = e;
		if (oldest == NULL || e->at_ms < oldest->at_ms)
			oldest = e;
	}
	if (hit == NULL) {
		json_t *fresh;
		if (!s_read_begin(r, &txn)) {
			pthread_mutex_unlock(&h->fig_lock);
			return 0;
		}
		fresh = query_figures(txn, now, (unsigned)days);
		store_read_end(h->st, &txn);
		if (fresh && json_object_set_new(fresh, "computed", json_integer((json_int_t)now)) == 0) {
			json_decref(oldest->json);
			oldest->days = (unsigned)days;
			oldest->at_ms = now;
			oldest->json = fresh;
			hit = oldest;
		} else {
			json_decref(fresh);
		}
	}
	f = hit ? json_deep_copy(hit->json) : NULL;
	pthread_mutex_unlock(&h->fig_lock);
	if (f == NULL)
		return http_error(r, 500, NULL, "the figures cannot be computed");
	return http_reply(r, 200, f);
}

/* The newest visible posts of key, newest first: DB_BY_AUTHOR is
 * author(32) ts(8) id(32) -> kind(2), walked backwards from the author's end. */
static json_t *
s_posts_of(store_t *st, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], size_t max)
{
	uint8_t end[CPT_KEY_LEN + 8 + CPT_ID_LEN];
	store_cur_t *cur;
	store_val_t k, v;
	json_t *out = json_array();
	int rc;

	if (out == NULL || store_cur_open(txn, DB_BY_AUTHOR, &cur) != 0)
		return out;
	memcpy(end, key, CPT_KEY_LEN);
	memset(end + CPT_KEY_LEN, 0xff, sizeof(end) - CPT_KEY_LEN);
	k.len = sizeof(end);
	k.data = end;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	rc =
	    rc == 0 ? store_cur_get(cur, &k, &v, STORE_PREV) : store_cur_get(cur, &k, &v, STORE_LAST);
	for (; rc == 0 && json_array_size(out) < max; rc = store_cur_get(cur, &k, &v, STORE_PREV)) {
		const uint8_t *kp = k.data;
		json_t *p;
		if (k.len != sizeof(end) || memcmp(kp, key, CPT_KEY_LEN) != 0)
			break;
		if (store_get_kind(&v) != EVT_POST)
			continue;
		if ((p = query_post(txn, kp + CPT_KEY_LEN + 8, 0)) != NULL)
			json_array_append_new(out, p);
	}
	store_cur_close(&cur);
	return out;
}

int
api_person(http_req_t *r, const char *handle)
{
	uint8_t key[CPT_KEY_LEN];
	store_txn_t *txn;
	json_t *p = NULL;

	if (!http_need_session(r))
		return 0;
	if (!event_valid_handle(handle))
		return http_fail(r, 404, "no_person", NULL, NULL, "no such person");
	if (!s_read_begin(r, &txn))
		return 0;
	if ((p = query_person(txn, handle)) != NULL &&
	    index_key_of(txn, handle, key) == 0)
		json_object_set_new(p, "posts", s_posts_of(r->h->st, txn, key, PERSON_POSTS));
	store_read_end(r->h->st, &txn);
	if (p == NULL)
		return http_fail(r, 404, "no_person", NULL, NULL, "no such person");
	return http_reply(r, 200, p);
}

int
api_profile_put(http_req_t *r)
{
	json_t *body, *v, *ev;
	uint16_t kind;
	ingest_res_t res;
	store_txn_t *txn;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!s_body_ok(r, API_PROFILE, body)) {
		json_decref(body);
		return 0;
	}
	ev = api_body_event(API_PROFILE, body, NULL, &kind);
	json_decref(body);
	ok = ev && s_publish(r, kind, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	if (!s_read_begin(r, &txn))
		return 0;
	v = query_person(txn, r->sess.handle);
	store_read_end(r->h->st, &txn);
	if (v == NULL)
		return http_error(r, 500, NULL, "the profile was stored but cannot be shown");
	return http_reply(r, 200, v);
}
