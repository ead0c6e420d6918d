/*
 * Personal API tokens from the web UI: list mine, make one (shown once, in
 * this answer only), revoke one. Only from a browser session: a token is
 * made from the seed the login unlocked (node/auth/tokens.c seals it under
 * the new token), and a token cannot make or list tokens.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/http/http_internal.h"

#define TOK_MAX_DAYS 3650

int
api_tokens_list(http_req_t *r)
{
	json_t *items;

	if (!http_need_session(r))
		return 0;
	if ((items = tok_list(r->h->st, r->sess.key)) == NULL)
		return http_error(r, 500, NULL, "store unavailable");
	return http_reply(r, 200, json_pack("{s:o}", "items", items));
}

int
api_tokens_create(http_req_t *r)
{
	json_t *body, *view = NULL, *days, *v;
	const char *name, *k;
	char err[160], token[TOK_LEN + 1];
	uint8_t seed[CPT_SEED_LEN];
	sess_anchor_t anchor;
	uint64_t expires = 0;
	unsigned scopes;
	int rc;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	json_object_foreach (body, k, v) {
		if (strcmp(k, "name") != 0 && strcmp(k, "scopes") != 0 &&
		    strcmp(k, "expires_days") != 0 && strcmp(k, "expires_at") != 0) {
			json_decref(body);
			return http_fail(r, 400, "unknown_field", k, NULL,
			                 "unknown field \"%.40s\": name, scopes, expires_days, "
			                 "expires_at",
			                 k);
		}
	}
	name = json_string_value(json_object_get(body, "name"));
	if (name == NULL || name[0] == 0 || strlen(name) > 100) {
		json_decref(body);
		return http_fail(r, 400, "too_long", "name",
		                 json_pack("{s:i, s:i}", "min", 1, "max", 100),
		                 "\"name\" must be 1 to 100 bytes");
	}
	if ((scopes = tok_scopes_parse(json_object_get(body, "scopes"), err, sizeof(err))) == 0) {
		json_decref(body);
		return http_error(r, 400, "scopes", "%s", err);
	}
	if ((scopes & TOK_ADMIN) && !r->sess.admin) {
		json_decref(body);
		return http_fail(r, 403, "not_admin", "scopes", NULL,
		                 "only the site's admins may give a token the admin scope");
	}
	days = json_object_get(body, "expires_days");
	if (days != NULL && !json_is_null(days)) {
		if (!json_is_integer(days) || json_integer_value(days) < 1 ||
		    json_integer_value(days) > TOK_MAX_DAYS) {
			json_decref(body);
			return http_error(
			    r, 400, "expires_days",
			    "\"expires_days\" must be a whole number of days, 1 to %d",
			    TOK_MAX_DAYS);
		}
		expires = hlc_wall_ms() + (uint64_t)json_integer_value(days) * 86400000ull;
	}
	days = json_object_get(body, "expires_at");
	if (days != NULL && !json_is_null(days)) {
		/* An exact time (wall ms), for a script's short-lived token. */
		json_int_t at = json_integer_value(days);
		if (!json_is_integer(days) || at <= (json_int_t)hlc_wall_ms() ||
		    at > (json_int_t)(hlc_wall_ms() + TOK_MAX_DAYS * 86400000ull) || expires != 0) {
			json_decref(body);
			return http_error(r, 400, "expires_at",
			                  "\"expires_at\" must be a time to come (ms since 1970), "
			                  "within %d days, and not with \"expires_days\"",
			                  TOK_MAX_DAYS);
		}
		expires = (uint64_t)at;
	}
	if (sess_seed(r->h->sess, r->token, seed, &anchor) != 0) {
		json_decref(body);
		return http_fail(r, 401, "not_logged_in", NULL, NULL, "session expired");
	}
	rc = tok_create(r->h->st, seed, r->sess.handle, r->sess.admin, &anchor, name, scopes,
	                expires, token, &view);
	sodium_memzero(seed, sizeof(seed));
	if (rc != 0 || view == NULL) {
		json_decref(view);
		json_decref(body);
		return http_error(r, 500, NULL, "could not store the token: %s", cpt_strerror(rc));
	}
	/* The view's name: name is the body's, freed below. */
	log_info("tokens", "%s made the API token %s (%s)", r->sess.handle,
	         json_string_value(json_object_get(view, "id")),
	         json_string_value(json_object_get(view, "name")));
	json_decref(body);
	/* The only time the token is shown: the node keeps a hash of it. */
	json_object_set_new(view, "token", json_string(token));
	sodium_memzero(token, sizeof(token));
	return http_reply(r, 201, view);
}

int
api_tokens_revoke(http_req_t *r, const char *id)
{
	int rc;

	if (!http_need_csrf(r))
		return 0;
	rc = tok_revoke(r->h->st, id, r->sess.key);
	if (rc == CPT_ENOTFOUND)
		return http_error(r, 404, NULL, "no such token of yours: %.20s", id);
	if (rc != 0)
		return http_error(r, 500, NULL, "could not revoke the token: %s", cpt_strerror(rc));
	log_info("tokens", "%s revoked the API token %s", r->sess.handle, id);
	return http_reply(r, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}
