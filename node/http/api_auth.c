/*
 * The calls of signing in and out: login (the per-address bucket, the
 * account's back-off, argon2id in a bounded number of slots), logout, who
 * the session is, and a person changing their own password.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/http/http_internal.h"

#define DEVICE_COOKIE "comptoir_device"

static int
s_kdf_busy(http_req_t *r)
{
	const char *hdr[] = {"Retry-After", "1", NULL};

	return http_reply_hdr(
	    r, 503, json_pack("{s:s}", "error", "too many logins at once, try again"), hdr);
}

static int
s_login_failed(http_req_t *r, const char *handle, int trusted)
{
	acct_login_done(handle, trusted, -1, hlc_wall_ms());
	node_count_login(r->h->node, 0);
	log_info("http", "failed login from %s", r->addr);
	return http_fail(r, 401, "wrong_login", NULL, NULL, "wrong handle or password");
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
	if (!http_body_ok(r, API_LOGIN, body)) {
		json_decref(body);
		return 0;
	}
	handle = json_string_value(json_object_get(body, "handle"));
	pw = json_string_value(json_object_get(body, "password"));
	if (!http_login_allowed(h, r->addr, &retry)) {
		json_decref(body);
		log_warnx("http", "login rate limit reached by %s", r->addr);
		return http_too_many(r, retry, "too many login attempts, try later");
	}
	trusted =
	    acct_device_check(node_site_key(h->node), handle,
	                      MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, DEVICE_COOKIE));
	if (!acct_login_allow(handle, trusted, hlc_wall_ms(), &retry)) {
		/* The handle is logged only when it is one (no newline in the log). */
		log_warnx("http", "login of %s refused from %s: the account is in back-off",
		          event_valid_handle(handle) ? handle : "(not a handle)", r->addr);
		json_decref(body);
		return http_too_many(r, retry, "too many failed logins on this account, try later");
	}
	if (!http_read_begin(r, &txn)) {
		acct_login_done(handle, trusted, 0, hlc_wall_ms());
		json_decref(body);
		return 0;
	}
	known = event_valid_handle(handle) && index_key_of(txn, handle, key) == 0;
	if (known) {
		backup = acct_backup_load(txn, key, &backup_ts);
		person = query_person(txn, handle);
		rec = index_key_info(txn, key);
	}
	store_read_end(h->st, &txn);
	if (backup == NULL || person == NULL || rec == NULL ||
	    sess_anchor_of(rec, backup_ts, &anchor) != 0) {
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
		log_warnx("http", "key backup of %s cannot be opened: %s", handle,
		          cpt_strerror(rc));
		return http_error(r, 500, NULL, "the key backup of this account is unreadable");
	}
	/* The password was right: what follows is not a failed guess. */
	acct_login_done(handle, trusted, 1, hlc_wall_ms());
	disabled = json_is_true(json_object_get(person, "disabled"));
	admin = acct_is_site_admin(node_site_key(h->node), h->site, rec);
	json_decref(rec);
	if (disabled || sodium_memcmp(key_sign_public(kp), key, CPT_KEY_LEN) != 0) {
		key_sign_destroy(&kp);
		json_decref(person);
		json_decref(body);
		node_count_login(h->node, 0);
		return http_fail(r, 403, "disabled", NULL, NULL, "this account is disabled");
	}
	/* The node keeps the person's personal key: their read marks follow
	 * them here, and their digests go out while they are away. */
	if ((rc = acct_mine_remember(node_store(h->node), kp)) != 0)
		log_warnx("http", "cannot keep the personal key of %s: %s", handle,
		          cpt_strerror(rc));
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
		return http_reply(r, 200,
		                  json_pack("{s:b, s:o}", "logged_in", 0, "limits", s_limits()));
	if (!http_need_session(r) || !http_read_begin(r, &txn))
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
	if (!http_body_ok(r, API_PASSWORD, body)) {
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
		return http_too_many(r, retry, "too many password attempts, try later");
	}
	if (!http_read_begin(r, &txn)) {
		json_decref(body);
		return 0;
	}
	backup = acct_backup_load(txn, r->sess.key, &old_ts);
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
		return http_error(r, 500, NULL, "the key backup cannot be opened: %s",
		                  cpt_strerror(rc));
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
	rc = http_publish(r, EVT_KEY_BACKUP, nb, &res);
	json_decref(nb);
	if (!rc) {
		/* Not stored (s_publish answered): the session keeps its anchor. */
		if (sess_rebase(h->sess, r->token, old_ts) != 0)
			log_warnx("http", "session of %s closed during a password change",
			          r->sess.handle);
		return 0;
	}
	if (store_read_begin(h->st, &txn) == 0) {
		json_decref(acct_backup_load(txn, r->sess.key, &new_ts));
		store_read_end(h->st, &txn);
	}
	if (new_ts == 0 || sess_rebase(h->sess, r->token, new_ts) != 0) {
		sess_close_handle(h->sess, r->sess.handle, NULL);
		return http_error(r, 500, NULL,
		                  "the password was changed, but this session cannot "
		                  "follow: log in again");
	}
	sess_close_handle(h->sess, r->sess.handle, r->token);
	log_info("http", "%s changed their password from %s", r->sess.handle, r->addr);
	return http_reply(r, 200, json_pack("{s:b}", "changed", 1));
}
