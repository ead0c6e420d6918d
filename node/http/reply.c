/*
 * Replies and what every call checks first: the common headers, JSON
 * answers and errors with their stable codes, the session and CSRF guards,
 * request bodies, query arguments, the login rate limit, and publishing an
 * event with the session's key (the answer a refusal gets).
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "node/http/http_internal.h"

/* Sent with every response: the UI loads nothing from elsewhere, is never
 * framed, and no response is cached or sniffed into another type. */
/* Name, value pairs. */
/* clang-format off */
static const char *const s_common_hdr[] = {
	"Cache-Control", "no-store",
	"X-Content-Type-Options", "nosniff",
	"X-Frame-Options", "DENY",
	"Referrer-Policy", "no-referrer",
	"Content-Security-Policy",
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	NULL,
};
/* clang-format on */

/* ------------------------------------------------------------- replies */

/* The common headers, and HSTS on a request that came over HTTPS. */
void
http_add_common(http_req_t *r, struct MHD_Response *resp)
{
	for (int i = 0; s_common_hdr[i]; i += 2)
		MHD_add_response_header(resp, s_common_hdr[i], s_common_hdr[i + 1]);
	if (r->https && r->h->hsts_max_age > 0) {
		char v[32];
		snprintf(v, sizeof(v), "max-age=%u", r->h->hsts_max_age);
		MHD_add_response_header(resp, "Strict-Transport-Security", v);
	}
}

int
http_queue(http_req_t *r, unsigned status, const char *type, const void *data, size_t len,
           enum MHD_ResponseMemoryMode mode, const char *const *hdr)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;

	resp = MHD_create_response_from_buffer(len, (void *)data, mode);
	if (resp == NULL)
		return 0;
	http_add_common(r, resp);
	if (type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	for (int i = 0; hdr && hdr[i]; i += 2) {
		/* Under HTTPS every cookie is Secure: never sent back over plain HTTP. */
		if (r->https && strcasecmp(hdr[i], "Set-Cookie") == 0) {
			size_t n = strlen(hdr[i + 1]) + sizeof("; Secure");
			char *secure = malloc(n);
			if (secure == NULL) {
				MHD_destroy_response(resp);
				return 0;
			}
			snprintf(secure, n, "%s; Secure", hdr[i + 1]);
			MHD_add_response_header(resp, hdr[i], secure);
			sodium_memzero(secure, n); /* it held the session token */
			free(secure);
			continue;
		}
		MHD_add_response_header(resp, hdr[i], hdr[i + 1]);
	}
	ok = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	if (ok == MHD_YES) {
		r->queued = 1;
		node_count_http(r->h->node, status);
	}
	return 0;
}

int
http_reply_hdr(http_req_t *r, unsigned status, json_t *json, const char *const *hdr)
{
	char *text;

	/* A body that could not be built (memory) must not go out as a success. */
	text = json ? json_dumps(json, JSON_COMPACT) : NULL;
	json_decref(json);
	if (text == NULL) {
		static const char oom[] = "{\"error\":\"out of memory\"}";
		return http_queue(r, 500, "application/json", oom, sizeof(oom) - 1,
		                  MHD_RESPMEM_PERSISTENT, NULL);
	}
	http_queue(r, status, "application/json", text, strlen(text), MHD_RESPMEM_MUST_COPY, hdr);
	free(text);
	return 0;
}

int
http_reply(http_req_t *r, unsigned status, json_t *json)
{
	return http_reply_hdr(r, status, json, NULL);
}

int
http_reply_text(http_req_t *r, unsigned status, query_text_t *t)
{
	if (t->oom || t->p == NULL) {
		static const char oom[] = "{\"error\":\"out of memory\"}";
		query_text_free(t);
		return http_queue(r, 500, "application/json", oom, sizeof(oom) - 1,
		                  MHD_RESPMEM_PERSISTENT, NULL);
	}
	http_queue(r, status, "application/json", t->p, t->len, MHD_RESPMEM_MUST_COPY, NULL);
	query_text_free(t);
	return 0;
}

/* The code of an error that has none of its own: its status's. */
static const char *
s_status_code(unsigned status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "not_logged_in";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method";
	case 409: return "conflict";
	case 413: return "too_large";
	case 415: return "media_type";
	case 429: return "rate_limited";
	case 503: return "busy";
	case 507: return "no_space";
	}
	return status >= 500 ? "server_error" : "error";
}

static int
s_verror(http_req_t *r, unsigned status, const char *code, const char *field, json_t *params,
         const char *fmt, va_list ap)
{
	char msg[256];
	json_t *j;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* A message cut inside a character would not be a JSON string. */
	http_utf8_trim(msg);
	j = json_pack("{s:s, s:s}", "error", msg, "code", code ? code : s_status_code(status));
	if (j && field)
		json_object_set_new(j, "field", json_string(field));
	if (j && params)
		json_object_update_missing(j, params); /* never over "error" or "code" */
	json_decref(params);
	return http_reply(r, status, j);
}

int
http_error(http_req_t *r, unsigned status, const char *field, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = s_verror(r, status, NULL, field, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int
http_fail(http_req_t *r, unsigned status, const char *code, const char *field, json_t *params,
          const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = s_verror(r, status, code, field, params, fmt, ap);
	va_end(ap);
	return rc;
}

/* -------------------------------------------------------------- guards */

static int
s_is_token(const char *s)
{
	if (s == NULL || strlen(s) != SESS_TOKEN_LEN)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return 0;
	return 1;
}

/* An "Authorization: Bearer cpt_..." request: 1 with r->sess filled, 0 for
 * a token that is malformed, unknown, revoked or expired, -1 store error. */
static int
s_bearer(http_req_t *r, const char *auth)
{
	const char *v = auth;
	int rc;

	if (strncasecmp(v, "Bearer ", 7) != 0)
		return 0;
	v += 7;
	while (*v == ' ')
		v++;
	if (!tok_shape_ok(v))
		return 0;
	rc = tok_check(r->h->st, v, hlc_wall_ms(), &r->tok);
	if (rc != 0)
		return rc == CPT_EIO ? -1 : 0;
	memset(&r->sess, 0, sizeof(r->sess));
	snprintf(r->sess.handle, sizeof(r->sess.handle), "%s", r->tok.handle);
	memcpy(r->sess.key, r->tok.key, CPT_KEY_LEN);
	/* An admin's token acts as an admin only with the admin scope, and only
	 * while its person is still an admin here: the role is read now, as a
	 * login reads it (a demotion closes sessions; a token has none). */
	r->sess.admin = r->tok.admin && (r->tok.scopes & TOK_ADMIN);
	if (r->sess.admin) {
		store_txn_t *txn;
		json_t *rec;
		if (store_read_begin(r->h->st, &txn) != 0)
			return -1;
		rec = index_key_info(txn, r->tok.key);
		r->sess.admin =
		    rec && acct_is_site_admin(node_site_key(r->h->node), r->h->site, rec);
		json_decref(rec);
		store_read_end(r->h->st, &txn);
	}
	snprintf(r->bearer, sizeof(r->bearer), "%s", v);
	r->via_token = 1;
	r->has_sess = 1;
	return 1;
}

int
http_has_session(http_req_t *r)
{
	const char *tok;
	int rc;

	if (r->has_sess)
		return 1;
	/* A request that carries a token is that token's, or nobody's: a bad
	 * token never falls back to a cookie sent along. */
	tok = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	if (tok != NULL)
		return s_bearer(r, tok);
	/* The one check every route makes: sess_get also reads the key state in
	 * the store, so a revoked key, a disabled account or a changed password
	 * ends the session at its next request, whatever the call. */
	tok = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, HTTP_COOKIE);
	rc = s_is_token(tok) ? sess_get(r->h->sess, tok, &r->sess) : CPT_ENOTFOUND;
	if (rc == 0) {
		snprintf(r->token, sizeof(r->token), "%s", tok);
		r->has_sess = 1;
		return 1;
	}
	return rc == CPT_EIO ? -1 : 0;
}

int
http_need_session(http_req_t *r)
{
	int rc = http_has_session(r);

	if (rc > 0)
		return 1;
	if (rc < 0)
		http_error(r, 500, NULL, "store unavailable");
	else
		http_error(r, 401, NULL, "not logged in");
	return 0;
}

int
http_need_csrf(http_req_t *r)
{
	const char *got;

	if (!http_need_session(r))
		return 0;
	if (r->via_token)
		return 1;
	got = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
	/* Constant time: the token is a secret a cross-site page must not guess. */
	if (got == NULL || strlen(got) != SESS_TOKEN_LEN ||
	    sodium_memcmp(got, r->sess.csrf, SESS_TOKEN_LEN) != 0) {
		http_fail(r, 403, "csrf", NULL, NULL, "missing or wrong X-CSRF-Token header");
		return 0;
	}
	return 1;
}

/* Is the media type of a Content-Type value application/json? */
static int
s_is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == 0 || *ct == ';';
}

int
http_need_json(http_req_t *r, json_t **out)
{
	char why[256];
	json_t *j;

	*out = NULL;
	if (!s_is_json_type(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	                                                MHD_HTTP_HEADER_CONTENT_TYPE))) {
		http_error(r, 415, NULL, "the body must be sent as Content-Type: application/json");
		return 0;
	}
	if ((j = http_parse_body(r->body ? r->body : "", r->len, why, sizeof(why))) == NULL) {
		http_error(r, 400, NULL, "%s", why);
		return 0;
	}
	*out = j;
	return 1;
}

json_t *
http_parse_body(const char *buf, size_t len, char *why, size_t wl)
{
	json_error_t err;
	json_t *j;

	/* Duplicate keys are refused as the envelope decoder refuses them: two
	 * readers of one body must never see different values. */
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL) {
		/* jansson quotes the bytes near the error, which may not be
		 * UTF-8: the message would then not be a JSON string (found by
		 * tests/fuzz/fuzz_http_body.c). Only printable ASCII goes out. */
		for (char *p = err.text; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				*p = '?';
		snprintf(why, wl, "malformed JSON: %s", err.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(why, wl, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

void
http_utf8_trim(char *s)
{
	size_t n = strlen(s), start = n, need;
	unsigned char c;

	/* The start of the last character, at most 4 bytes back. */
	while (start > 0 && n - start < 4 && ((unsigned char)s[start - 1] & 0xc0) == 0x80)
		start--;
	if (start == 0)
		return;
	c = (unsigned char)s[start - 1];
	need = c < 0x80             ? 1
	       : (c & 0xe0) == 0xc0 ? 2
	       : (c & 0xf0) == 0xe0 ? 3
	       : (c & 0xf8) == 0xf0 ? 4
	                            : 0;
	if (need != n - start + 1)
		s[start - 1] = 0;
}

int
http_parse_id(uint8_t out[CPT_ID_LEN], const char *s, size_t len)
{
	if (len != 2 * CPT_ID_LEN)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return -1;
	return cpt_unhex32(out, s, len) == 0 ? 0 : -1;
}

/* --------------------------------------------------------- arguments */

/* Parses a decimal query argument in lo..hi; def when absent. -1 when bad. */
long
http_query_int(http_req_t *r, const char *name, long def, long lo, long hi)
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

/* Parses the "before" cursor (80 hex: ts, id) into cur. 1 when absent
 * (*has = 0) or good (*has = 1); replies 400 and 0 when bad. */
int
http_query_cursor(http_req_t *r, uint8_t cur[40], int *has)
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

/* ------------------------------------------------------- login limiter */

/* Takes one from the bucket of name (refilled at rate per minute, at most
 * size): 1, or 0 with *retry_s the seconds until one is there. */
static int
s_bucket_take(http_t *h, const char *name, double rate, double size, unsigned *retry_s)
{
	uint64_t now = hlc_wall_ms();
	struct http_rl *b = NULL, *stalest = &h->rl[0];
	int ok;

	pthread_mutex_lock(&h->rl_lock);
	for (size_t i = 0; i < HTTP_RL_SLOTS && b == NULL; i++) {
		if (strcmp(h->rl[i].addr, name) == 0)
			b = &h->rl[i];
		else if (h->rl[i].last_ms < stalest->last_ms)
			stalest = &h->rl[i];
	}
	if (b == NULL) {
		/* A full bucket for a new name: the stalest one was full by now
		 * anyway when it is older than a minute. */
		b = stalest;
		snprintf(b->addr, sizeof(b->addr), "%s", name);
		b->tokens = size;
		b->last_ms = now;
	}
	if (now > b->last_ms)
		b->tokens = fmin(size, b->tokens + (double)(now - b->last_ms) * rate / 60000.0);
	b->last_ms = now;
	ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	else
		*retry_s = (unsigned)ceil((1.0 - b->tokens) * 60.0 / rate);
	pthread_mutex_unlock(&h->rl_lock);
	if (!ok && *retry_s == 0)
		*retry_s = 1;
	return ok;
}

int
http_login_allowed(http_t *h, const char *addr, unsigned *retry_s)
{
	/* tokens per minute, also the bucket size */
	return s_bucket_take(h, addr, h->login_per_minute, h->login_per_minute, retry_s);
}

int
http_token_write_allowed(http_t *h, const char *id, unsigned *retry_s)
{
	char name[48];

	/* One token of several a person holds (a bot's and a script's) cannot
	 * take the whole of the person's bucket before the others. */
	snprintf(name, sizeof(name), "t:%s", id);
	return s_bucket_take(h, name, h->writes_per_minute / 2.0 + 1, h->writes_burst / 2.0 + 1,
	                     retry_s);
}

int
http_write_allowed(http_t *h, const uint8_t key[CPT_KEY_LEN], unsigned *retry_s)
{
	char name[48] = "w:";

	/* 16 bytes of the key name the person: an address is never "w:..." */
	sodium_bin2hex(name + 2, sizeof(name) - 2, key, 16);
	return s_bucket_take(h, name, h->writes_per_minute, h->writes_burst, retry_s);
}
/* 429 with Retry-After: too many attempts from this address or on this account. */
int
http_too_many(http_req_t *r, unsigned retry, const char *msg)
{
	char ra[16];
	const char *hdr[] = {"Retry-After", ra, NULL};

	snprintf(ra, sizeof(ra), "%u", retry ? retry : 1);
	return http_reply_hdr(
	    r, 429, json_pack("{s:s, s:i}", "error", msg, "retry_after", (int)(retry ? retry : 1)),
	    hdr);
}

/* ------------------------------------------------------------ writes */

int
http_read_begin(http_req_t *r, store_txn_t **txn)
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
int
http_sign(http_req_t *r, uint16_t kind, const json_t *body, uint8_t **out, size_t *out_len)
{
	if (r->via_token)
		return tok_sign(r->h->st, r->bearer, r->h->node, kind, body, out, out_len);
	return sess_sign(r->h->sess, r->token, r->h->node, kind, body, out, out_len);
}

int
http_publish(http_req_t *r, uint16_t kind, const json_t *body, ingest_res_t *res)
{
	unsigned retry = 0;
	int rc;

	/* Every signed write of the API comes here: one person cannot flood
	 * every site's feed (the login's own key backup included: it is rare). */
	if (r->has_sess && !http_write_allowed(r->h, r->sess.key, &retry)) {
		http_too_many(r, retry,
		              "too many writes by this person: wait and try again "
		              "(limits.writes_per_minute)");
		return 0;
	}
	if (r->via_token && !http_token_write_allowed(r->h, r->tok.id, &retry)) {
		http_too_many(r, retry,
		              "too many writes with this token: wait and try again "
		              "(limits.writes_per_minute)");
		return 0;
	}
	if (r->via_token)
		rc = tok_publish(r->h->st, r->bearer, r->h->node, kind, body, res);
	else
		rc = sess_publish(r->h->sess, r->token, r->h->node, kind, body, res);
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
	case 0: return 1;
	case CPT_EINVAL:
		http_error(r, 400, NULL, "%s", res->why[0] ? res->why : "invalid event");
		return 0;
	case CPT_EPERM:
	case CPT_EREVOKED:
		http_fail(r, 403, res->rc == CPT_EREVOKED ? "revoked" : "forbidden", NULL, NULL,
		          "%s", res->why[0] ? res->why : cpt_strerror(res->rc));
		return 0;
	default:
		http_error(r, 500, NULL, "the event was not stored: %s",
		           res->why[0] ? res->why : cpt_strerror(res->rc));
		return 0;
	}
}
