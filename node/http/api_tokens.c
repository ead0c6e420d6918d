/*
 * Personal API tokens from the web UI: list mine, make one (shown once, in
 * this answer only), revoke one; the same for the bots I own, and site
 * admins add bots. Only from a browser session: a token is
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

/* What a new token is: its name, scopes and expiry from body. 1, or 0
 * when answered (a 400 or 403 naming the field). name borrows body. */
static int
s_token_params(http_req_t *r, json_t *body, const char **name, unsigned *scopes, uint64_t *expires)
{
	json_t *days, *v;
	const char *k;
	char err[160];

	*expires = 0;
	json_object_foreach (body, k, v) {
		if (strcmp(k, "name") != 0 && strcmp(k, "scopes") != 0 &&
		    strcmp(k, "expires_days") != 0 && strcmp(k, "expires_at") != 0) {
			http_fail(r, 400, "unknown_field", k, NULL,
			          "unknown field \"%.40s\": name, scopes, expires_days, expires_at",
			          k);
			return 0;
		}
	}
	*name = json_string_value(json_object_get(body, "name"));
	if (*name == NULL || (*name)[0] == 0 || strlen(*name) > 100) {
		http_fail(r, 400, "too_long", "name", json_pack("{s:i, s:i}", "min", 1, "max", 100),
		          "\"name\" must be 1 to 100 bytes");
		return 0;
	}
	if ((*scopes = tok_scopes_parse(json_object_get(body, "scopes"), err, sizeof(err))) == 0) {
		http_error(r, 400, "scopes", "%s", err);
		return 0;
	}
	days = json_object_get(body, "expires_days");
	if (days != NULL && !json_is_null(days)) {
		if (!json_is_integer(days) || json_integer_value(days) < 1 ||
		    json_integer_value(days) > TOK_MAX_DAYS) {
			http_error(r, 400, "expires_days",
			           "\"expires_days\" must be a whole number of days, 1 to %d",
			           TOK_MAX_DAYS);
			return 0;
		}
		*expires = hlc_wall_ms() + (uint64_t)json_integer_value(days) * 86400000ull;
	}
	days = json_object_get(body, "expires_at");
	if (days != NULL && !json_is_null(days)) {
		/* An exact time (wall ms), for a script's short-lived token. */
		json_int_t at = json_integer_value(days);
		if (!json_is_integer(days) || at <= (json_int_t)hlc_wall_ms() ||
		    at > (json_int_t)(hlc_wall_ms() + TOK_MAX_DAYS * 86400000ull) ||
		    *expires != 0) {
			http_error(r, 400, "expires_at",
			           "\"expires_at\" must be a time to come (ms since 1970), "
			           "within %d days, and not with \"expires_days\"",
			           TOK_MAX_DAYS);
			return 0;
		}
		*expires = (uint64_t)at;
	}
	return 1;
}

int
api_tokens_create(http_req_t *r)
{
	json_t *body, *view = NULL;
	const char *name;
	char token[TOK_LEN + 1];
	uint8_t seed[CPT_SEED_LEN];
	sess_anchor_t anchor;
	uint64_t expires = 0;
	unsigned scopes;
	int rc;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!s_token_params(r, body, &name, &scopes, &expires)) {
		json_decref(body);
		return 0;
	}
	if ((scopes & TOK_ADMIN) && !r->sess.admin) {
		json_decref(body);
		return http_fail(r, 403, "not_admin", "scopes", NULL,
		                 "only the site's admins may give a token the admin scope");
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

/* ------------------------------------------------------------- bots */

int
api_bots_list(http_req_t *r)
{
	json_t *bots, *b;
	size_t i;

	if (!http_need_session(r))
		return 0;
	/* Mine; every bot of the site for its admins. */
	if ((bots = users_bots(r->h->st, r->sess.admin ? NULL : r->sess.handle)) == NULL)
		return http_error(r, 500, NULL, "store unavailable");
	json_array_foreach (bots, i, b) {
		uint8_t key[CPT_KEY_LEN];
		json_t *toks = NULL;
		if (users_bot_key(r->h->st, NULL, json_string_value(json_object_get(b, "handle")),
		                  key) == 0)
			toks = tok_list(r->h->st, key);
		json_object_set_new(b, "tokens", toks ? toks : json_array());
	}
	return http_reply(r, 200, json_pack("{s:o}", "items", bots));
}

int
api_bots_add(http_req_t *r)
{
	json_t *body, *v = NULL;
	const char *k, *handle, *owner, *name;
	char err[256] = "";
	int rc;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!r->sess.admin) {
		json_decref(body);
		return http_fail(r, 403, "not_admin", NULL, NULL,
		                 "only the site's admins add bots");
	}
	json_object_foreach (body, k, v) {
		if (strcmp(k, "handle") != 0 && strcmp(k, "owner") != 0 && strcmp(k, "name") != 0) {
			/* k is body's: answered before body goes. */
			http_fail(r, 400, "unknown_field", k, NULL,
			          "unknown field \"%.40s\": handle, owner, name", k);
			json_decref(body);
			return 0;
		}
	}
	handle = json_string_value(json_object_get(body, "handle"));
	owner = json_string_value(json_object_get(body, "owner"));
	name = json_string_value(json_object_get(body, "name"));
	if (handle == NULL || owner == NULL) {
		json_decref(body);
		return http_error(r, 400, handle ? "owner" : "handle",
		                  "\"handle\" and \"owner\" are needed");
	}
	rc = users_add_bot(r->h->node, handle, name, owner, err, sizeof(err));
	if (rc == 0) {
		log_info("users", "%s added the bot %s, owned by %s", r->sess.handle, handle,
		         owner);
		v = json_pack("{s:s, s:s, s:s?, s:b}", "handle", handle, "owner", owner, "name",
		              name, "bot", 1);
	}
	json_decref(body);
	if (rc == CPT_EINVAL)
		return http_error(r, 400, "handle", "%s", err);
	if (rc == CPT_EEXIST)
		return http_fail(r, 409, "user_exists", "handle", NULL, "%s", err);
	if (rc == CPT_ENOTFOUND)
		return http_error(r, 400, "owner", "%s", err);
	if (rc != 0)
		return http_error(r, 500, NULL, "%s", err);
	return http_reply(r, 201, v);
}

int
api_bots_token(http_req_t *r, const char *bot)
{
	json_t *body, *view = NULL;
	const char *name;
	char token[TOK_LEN + 1];
	uint8_t seed[CPT_SEED_LEN], key[CPT_KEY_LEN];
	sess_anchor_t anchor;
	uint64_t expires = 0;
	unsigned scopes;
	int rc;

	if (!http_need_csrf(r))
		return 0;
	if (users_bot_key(r->h->st, r->sess.handle, bot, key) != 0)
		return http_error(r, 404, NULL, "no such bot of yours: %.40s", bot);
	if (!http_need_json(r, &body))
		return 0;
	if (!s_token_params(r, body, &name, &scopes, &expires)) {
		json_decref(body);
		return 0;
	}
	if (scopes & TOK_ADMIN) {
		json_decref(body);
		return http_fail(r, 403, "not_admin", "scopes", NULL,
		                 "a bot's token cannot have the admin scope");
	}
	if (sess_seed(r->h->sess, r->token, seed, &anchor) != 0) {
		json_decref(body);
		return http_fail(r, 401, "not_logged_in", NULL, NULL, "session expired");
	}
	rc = users_bot_token(r->h->st, seed, r->sess.handle, bot, name, scopes, expires, token,
	                     &view);
	sodium_memzero(seed, sizeof(seed));
	json_decref(body);
	if (rc != 0 || view == NULL) {
		json_decref(view);
		return http_error(r, 500, NULL, "could not make the bot's token: %s",
		                  cpt_strerror(rc));
	}
	log_info("tokens", "%s made the API token %s of the bot %s", r->sess.handle,
	         json_string_value(json_object_get(view, "id")), bot);
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
	if (rc == CPT_ENOTFOUND) {
		/* A token of one of my bots: their owner manages them. */
		json_t *bots = users_bots(r->h->st, r->sess.handle), *b;
		size_t i;
		json_array_foreach (bots, i, b) {
			uint8_t key[CPT_KEY_LEN];
			if (rc == CPT_ENOTFOUND &&
			    users_bot_key(r->h->st, r->sess.handle,
			                  json_string_value(json_object_get(b, "handle")),
			                  key) == 0)
				rc = tok_revoke(r->h->st, id, key);
		}
		json_decref(bots);
	}
	if (rc == CPT_ENOTFOUND)
		return http_error(r, 404, NULL, "no such token of yours: %.20s", id);
	if (rc != 0)
		return http_error(r, 500, NULL, "could not revoke the token: %s", cpt_strerror(rc));
	log_info("tokens", "%s revoked the API token %s", r->sess.handle, id);
	return http_reply(r, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}
