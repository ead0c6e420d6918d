/*
 * The calls of spaces (docs/API.md, "Spaces"): listing, creating, reading
 * and editing spaces, their feeds and figures, membership actions, and
 * writing in a space (a post, comment, reaction or edit: in clear in an
 * open space, sealed in a private one). Each action is a signed event; what
 * it does is the fold's, so the answer says the effect it had.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/http/http_internal.h"
#include "node/space/space.h"

static const char *
s_site(void)
{
	return index_spaces_site();
}

/* The space as the caller sees it, or replies 404 and NULL. */
static json_t *
s_need_space(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	store_txn_t *txn;
	json_t *s;

	if (!http_read_begin(r, &txn))
		return NULL;
	s = query_space(txn, id, r->sess.handle, s_site());
	store_read_end(r->h->st, &txn);
	if (s == NULL)
		http_fail(r, 404, "no_space", NULL, NULL, "no such space");
	return s;
}

static int
s_reply_space(http_req_t *r, unsigned status, const uint8_t id[CPT_ID_LEN], const char *effect)
{
	json_t *s = s_need_space(r, id);

	if (s == NULL)
		return 0;
	if (effect)
		json_object_set_new(s, "effect", json_string(effect));
	return http_reply(r, status, s);
}

/* What the fold made of event ev in space (enum space_effect), or -1. */
static int
s_effect(http_req_t *r, const uint8_t space[CPT_ID_LEN], const uint8_t ev[CPT_ID_LEN])
{
	store_txn_t *txn;
	space_state_t *st = NULL;
	json_t *keep = NULL;
	int e = -1;

	if (store_read_begin(r->h->st, &txn) != 0)
		return -1;
	if (index_space_fold(&st, &keep, txn, space, NULL) == 0)
		e = space_state_effect(st, ev);
	store_read_end(r->h->st, &txn);
	space_state_destroy(&st);
	json_decref(keep);
	return e;
}

int
api_space_writable(http_req_t *r, const char *space_hex, uint8_t space[CPT_ID_LEN], int *sealed)
{
	json_t *s;
	const char *vis;

	if (http_parse_id(space, space_hex, strlen(space_hex)) != 0) {
		http_error(r, 400, "space", "a space id is 64 lowercase hex digits");
		return 0;
	}
	if ((s = s_need_space(r, space)) == NULL)
		return 0;
	if (!json_is_true(json_object_get(s, "readable"))) {
		json_decref(s);
		http_fail(r, 404, "no_space", "space", NULL, "no such space");
		return 0;
	}
	if (json_is_null(json_object_get(s, "my_role"))) {
		json_decref(s);
		http_fail(r, 403, "not_member", "space", NULL,
		          "only members of the space may write in it");
		return 0;
	}
	if (json_is_true(json_object_get(s, "archived"))) {
		json_decref(s);
		http_fail(r, 403, "archived", "space", NULL, "the space is archived");
		return 0;
	}
	vis = json_string_value(json_object_get(s, "visibility"));
	*sealed = !(vis && strcmp(vis, "open") == 0);
	json_decref(s);
	return 1;
}

int
api_space_publish(http_req_t *r, const char *space_hex, uint16_t kind, const json_t *body,
                  ingest_res_t *res)
{
	return api_space_publish_outer(r, space_hex, kind, body, NULL, res);
}

int
api_space_publish_outer(http_req_t *r, const char *space_hex, uint16_t kind, const json_t *body,
                        const json_t *outer, ingest_res_t *res)
{
	uint8_t space[CPT_ID_LEN], kid[SKEY_ID_LEN];
	json_t *plain, *sealed = NULL, *ev;
	char err[256];
	int ok, rc, is_sealed = 0;

	if (space_hex == NULL)
		return http_publish(r, kind, body, res);
	if (!api_space_writable(r, space_hex, space, &is_sealed))
		return 0;
	if (!is_sealed) {
		/* In clear: a post names its space; the rest follow their post
		 * (a file is named by what refers to it). */
		ev = json_deep_copy(body);
		if (ev && kind == EVT_POST)
			json_object_set_new(ev, "space", json_string(space_hex));
		ok = ev && http_publish(r, kind, ev, res);
		json_decref(ev);
		if (!ok && !r->queued)
			http_error(r, 500, NULL, "out of memory");
		return ok;
	}
	/* Private, or a site space: sealed (PROTOCOL.md 16.5). */
	plain = json_deep_copy(body);
	if (plain == NULL) {
		http_error(r, 500, NULL, "out of memory");
		return 0;
	}
	json_object_set_new(plain, "kind", json_integer(kind));
	rc = node_space_seal(r->h->node, r->sess.key, space, EVT_SEALED, plain, &sealed, kid, err,
	                     sizeof(err));
	/* A file's plaintext holds its key: wiped before it is freed. */
	if (kind == EVT_FILE && json_is_string(json_object_get(plain, "fkey")))
		sodium_memzero((void *)json_string_value(json_object_get(plain, "fkey")),
		               json_string_length(json_object_get(plain, "fkey")));
	json_decref(plain);
	if (rc != 0) {
		http_fail(r, rc == CPT_EPERM || rc == CPT_ESTATE ? 409 : 500, "cannot_seal", NULL,
		          NULL, "%s", err);
		return 0;
	}
	ev = json_pack("{s:s, s:o}", "space", space_hex, "sealed", sealed);
	if (ev && outer)
		json_object_update(ev, (json_t *)outer);
	ok = ev && http_publish(r, EVT_SEALED, ev, res);
	json_decref(ev);
	if (!ok && !r->queued)
		http_error(r, 500, NULL, "out of memory");
	return ok;
}

/* ------------------------------------------------------------- reads */

int
api_spaces(http_req_t *r)
{
	store_txn_t *txn;
	json_t *items;
	const char *q;
	long mine;

	if (!http_need_session(r))
		return 0;
	if ((mine = http_query_int(r, "mine", 0, 0, 1)) < 0)
		return http_error(r, 400, "mine", "\"mine\" must be 0 or 1");
	q = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "q");
	if (q && strlen(q) > 200)
		return http_error(r, 400, "q", "\"q\" must be at most 200 bytes");
	if (!http_read_begin(r, &txn))
		return 0;
	items = query_spaces(txn, r->sess.handle, s_site(), q, (int)mine);
	store_read_end(r->h->st, &txn);
	if (items == NULL)
		return http_error(r, 500, NULL, "the spaces cannot be read");
	return http_reply(r, 200, json_pack("{s:o}", "items", items));
}

int
api_space_get(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	if (!http_need_session(r))
		return 0;
	return s_reply_space(r, 200, id, NULL);
}

int
api_space_feed(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t cur[40];
	char next[81];
	long limit;
	int has;
	store_txn_t *txn;
	query_text_t t = {0};
	int rc;

	if (!http_need_session(r))
		return 0;
	if ((limit = http_query_int(r, "limit", 20, 1, 100)) < 0)
		return http_error(r, 400, "limit", "\"limit\" must be a number from 1 to 100");
	if (!http_query_cursor(r, cur, &has) || !http_read_begin(r, &txn))
		return 0;
	/* Stored views written as they are stored: the same bytes as
	 * {"items": query_space_feed_as(...), "next": ...}. */
	query_text_add(&t, "{\"items\":", 9);
	rc = query_space_feed_as_text(txn, id, r->sess.handle, s_site(), has ? cur : NULL,
	                              (size_t)limit, next, &t);
	store_read_end(r->h->st, &txn);
	if (rc == CPT_ENOTFOUND) {
		query_text_free(&t);
		return http_fail(r, 404, "no_space", NULL, NULL, "no such space");
	}
	query_text_add(&t, ",\"next\":", 8);
	if (next[0]) {
		query_text_add(&t, "\"", 1);
		query_text_add(&t, next, strlen(next));
		query_text_add(&t, "\"", 1);
	} else {
		query_text_add(&t, "null", 4);
	}
	query_text_add(&t, "}", 1);
	return http_reply_text(r, 200, &t);
}

int
api_space_figures(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	store_txn_t *txn;
	json_t *f = NULL;
	long days;

	if (!http_need_session(r))
		return 0;
	if ((days = http_query_int(r, "days", 30, 1, 366)) < 0)
		return http_error(r, 400, "days", "\"days\" must be a number from 1 to 366");
	if (!http_read_begin(r, &txn))
		return 0;
	if (query_space_readable(txn, id, r->sess.handle, s_site()))
		f = query_space_figures(txn, id, hlc_wall_ms() - (uint64_t)days * 86400000ull,
		                        UINT64_MAX);
	store_read_end(r->h->st, &txn);
	if (f == NULL)
		return http_fail(r, 404, "no_space", NULL, NULL, "no such space");
	json_object_set_new(f, "days", json_integer(days));
	return http_reply(r, 200, f);
}

/* ------------------------------------------------------------ writes */

/* The body of a space's profile or settings: name, description, join,
 * visibility (creating only). 1, or replies 400 and 0. */
static int
s_check_fields(http_req_t *r, const json_t *body, int creating)
{
	static const char *const keys[] = {"name",       "description", "join",
	                                   "visibility", "cover",       NULL};
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)body, k, v) {
		int known = 0;
		for (size_t i = 0; keys[i]; i++)
			known |= strcmp(k, keys[i]) == 0;
		if (!known || (!creating && strcmp(k, "visibility") == 0) ||
		    (creating && strcmp(k, "cover") == 0)) {
			http_fail(r, 400, "unknown_field", k, NULL, "unknown field \"%s\"", k);
			return 0;
		}
		if (strcmp(k, "cover") == 0 && json_is_null(v))
			continue; /* takes the cover off */
		if (!json_is_string(v)) {
			http_fail(r, 400, "wrong_type", k, NULL, "\"%s\" must be a string", k);
			return 0;
		}
	}
	return 1;
}

/* The rules of PROTOCOL.md 16.3 on body, answered as a 400 naming the field. */
static int
s_rules_ok(http_req_t *r, uint16_t kind, const json_t *body)
{
	const char *rule = NULL, *dot;

	if (space_body_check(kind, body, &rule) == 0)
		return 1;
	dot = rule ? strchr(rule, '.') : NULL;
	http_fail(r, 400, "bad_field", dot ? dot + 1 : NULL, NULL,
	          "the space breaks rule %s (names: 1 to %d bytes, descriptions up to %d, join: "
	          "open, request or invite)",
	          rule ? rule : "?", SPACE_NAME_MAX, SPACE_DESC_MAX);
	return 0;
}

int
api_space_create(http_req_t *r)
{
	json_t *body, *ev, *profile = NULL, *sealed = NULL;
	const char *vis;
	uint8_t kid[SKEY_ID_LEN];
	ingest_res_t res;
	char err[256];
	int ok, rc;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!s_check_fields(r, body, 1)) {
		json_decref(body);
		return 0;
	}
	vis = json_string_value(json_object_get(body, "visibility"));
	if (vis == NULL)
		json_object_set_new(body, "visibility", json_string(vis = "open"));
	if (json_object_get(body, "join") == NULL)
		json_object_set_new(body, "join", json_string("open"));
	if (strcmp(vis, "private") != 0) {
		if (!s_rules_ok(r, EVT_SPACE, body)) {
			json_decref(body);
			return 0;
		}
		ok = http_publish(r, EVT_SPACE, body, &res);
		json_decref(body);
		return ok ? s_reply_space(r, 201, res.id, NULL) : 0;
	}
	/* Private: the profile sealed, never in clear (16.3). */
	profile = json_object();
	json_object_set(profile, "name", json_object_get(body, "name"));
	if (json_object_get(body, "description"))
		json_object_set(profile, "description", json_object_get(body, "description"));
	ev =
	    json_pack("{s:s, s:O}", "visibility", "private", "join", json_object_get(body, "join"));
	json_decref(body);
	{
		/* The rules of the profile, on a body that shows them in clear. */
		json_t *probe = json_deep_copy(ev);
		json_object_set_new(probe, "visibility", json_string("open"));
		json_object_update(probe, profile);
		ok = s_rules_ok(r, EVT_SPACE, probe);
		json_decref(probe);
	}
	if (!ok) {
		json_decref(profile);
		json_decref(ev);
		return 0;
	}
	rc = node_space_seal(r->h->node, r->sess.key, NULL, EVT_SPACE, profile, &sealed, kid, err,
	                     sizeof(err));
	json_decref(profile);
	if (rc != 0) {
		json_decref(ev);
		return http_fail(r, rc == CPT_ESTATE ? 409 : 500, "cannot_seal", NULL, NULL, "%s",
		                 err);
	}
	json_object_set_new(ev, "sealed", sealed);
	ok = http_publish(r, EVT_SPACE, ev, &res);
	json_decref(ev);
	if (!ok)
		return 0;
	/* The key, sealed to this site under the new id: committed before the
	 * answer, so the space is readable here as soon as it is made. */
	if (node_space_key_to_self(r->h->node, res.id, kid, err, sizeof(err)) != 0)
		return http_error(r, 500, NULL, "the space was made but its key was not: %s", err);
	return s_reply_space(r, 201, res.id, NULL);
}

/* A cover is one of the caller's own picture file events (PROTOCOL.md 18.3),
 * in clear or sealed and opened here. 1, or replies 400 and 0. */
static int
s_cover_ok(http_req_t *r, const char *hex)
{
	uint8_t fid[CPT_ID_LEN];
	store_txn_t *txn;
	evt_t ev;
	json_t *b = NULL;
	int ok = 0;

	if (http_parse_id(fid, hex, strlen(hex)) == 0 && http_read_begin(r, &txn)) {
		ok = index_event_open(txn, fid, &ev, &b) == 0 && b != NULL && ev.kind == EVT_FILE &&
		     sodium_memcmp(ev.author, r->sess.key, CPT_KEY_LEN) == 0 &&
		     blob_type_is_image(json_string_value(json_object_get(b, "type")));
		store_read_end(r->h->st, &txn);
		json_decref(b);
	} else if (r->queued) {
		return 0;
	}
	if (!ok)
		http_fail(r, 400, "bad_cover", "cover", NULL,
		          "\"cover\" must be the id of a picture you uploaded (POST /api/files)");
	return ok;
}

int
api_space_edit(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	json_t *body, *s, *ev;
	char hex[CPT_HEX_ID], err[256];
	ingest_res_t res;
	int ok, e;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!s_check_fields(r, body, 0) || (s = s_need_space(r, id)) == NULL) {
		json_decref(body);
		return 0;
	}
	if (json_is_string(json_object_get(body, "cover")) &&
	    !s_cover_ok(r, json_string_value(json_object_get(body, "cover")))) {
		json_decref(body);
		json_decref(s);
		return 0;
	}
	cpt_hex32(hex, id);
	ev = json_pack("{s:s}", "space", hex);
	if (json_object_get(body, "join"))
		json_object_set(ev, "join", json_object_get(body, "join"));
	if (strcmp(json_string_value(json_object_get(s, "visibility")) ?: "", "private") == 0 &&
	    (json_object_get(body, "name") || json_object_get(body, "description") ||
	     json_object_get(body, "cover"))) {
		/* A private profile is sealed whole: what is not given is kept. */
		json_t *profile = json_object(), *sealed = NULL;
		uint8_t kid[SKEY_ID_LEN];
		int rc;
		json_object_set(profile, "name",
		                json_object_get(body, "name") ?: json_object_get(s, "name"));
		if (json_object_get(body, "description") ||
		    json_is_string(json_object_get(s, "description")))
			json_object_set(profile, "description",
			                json_object_get(body, "description")
			                    ?: json_object_get(s, "description"));
		/* The cover is in the sealed profile too (18.3): kept unless given. */
		{
			json_t *c =
			    json_object_get(body, "cover") ?: json_object_get(s, "cover_id");
			if (json_is_string(c))
				json_object_set(profile, "cover", c);
		}
		rc = node_space_seal(r->h->node, r->sess.key, id, EVT_SPACE, profile, &sealed, kid,
		                     err, sizeof(err));
		json_decref(profile);
		if (rc != 0) {
			json_decref(body);
			json_decref(s);
			json_decref(ev);
			return http_fail(r, 409, "cannot_seal", NULL, NULL, "%s", err);
		}
		json_object_set_new(ev, "sealed", sealed);
	} else {
		if (json_object_get(body, "name"))
			json_object_set(ev, "name", json_object_get(body, "name"));
		if (json_object_get(body, "description"))
			json_object_set(ev, "description", json_object_get(body, "description"));
		if (json_object_get(body, "cover"))
			json_object_set(ev, "cover", json_object_get(body, "cover"));
	}
	json_decref(body);
	json_decref(s);
	if (json_object_get(ev, "sealed") == NULL && !s_rules_ok(r, EVT_SPACE, ev)) {
		json_decref(ev);
		return 0;
	}
	ok = http_publish(r, EVT_SPACE, ev, &res);
	json_decref(ev);
	if (!ok)
		return 0;
	e = s_effect(r, id, res.id);
	if (e != SPACE_APPLIED)
		return http_fail(r, 403, space_effect_name(e), NULL, NULL,
		                 "the change had no effect: %s", space_effect_name(e));
	return s_reply_space(r, 200, id, "applied");
}

int
api_space_archive(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	json_t *body = NULL, *ev, *s;
	char hex[CPT_HEX_ID];
	ingest_res_t res;
	int archived = 1, ok, e;

	if (!http_need_csrf(r))
		return 0;
	if (r->len > 0) {
		if (!http_need_json(r, &body))
			return 0;
		if (json_object_get(body, "archived") &&
		    !json_is_boolean(json_object_get(body, "archived"))) {
			json_decref(body);
			return http_fail(r, 400, "wrong_type", "archived", NULL,
			                 "\"archived\" must be true or false");
		}
		archived = !json_is_false(json_object_get(body, "archived"));
		json_decref(body);
	}
	if ((s = s_need_space(r, id)) == NULL)
		return 0;
	json_decref(s);
	cpt_hex32(hex, id);
	ev = json_pack("{s:s, s:b}", "space", hex, "archived", archived);
	ok = ev && http_publish(r, EVT_SPACE, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	e = s_effect(r, id, res.id);
	if (e != SPACE_APPLIED)
		return http_fail(r, 403, space_effect_name(e), NULL, NULL,
		                 "the change had no effect: %s", space_effect_name(e));
	return s_reply_space(r, 200, id, "applied");
}

/* A member asks for a new key period (PROTOCOL.md 16.8: a suspected leak):
 * this site starts a new epoch, sealed to every member site. */
int
api_space_rotate(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t kid[SKEY_ID_LEN];
	char err[256], hex[2 * SKEY_ID_LEN + 1];
	json_t *s;
	int rc;

	if (!http_need_csrf(r))
		return 0;
	if ((s = s_need_space(r, id)) == NULL)
		return 0;
	if (json_is_null(json_object_get(s, "my_role"))) {
		json_decref(s);
		return http_fail(r, 403, "not_member", NULL, NULL,
		                 "only members of the space may ask for a new key period");
	}
	json_decref(s);
	rc = node_space_rotate(r->h->node, id, kid, err, sizeof(err));
	if (rc != 0)
		return http_fail(r, rc == CPT_EPERM || rc == CPT_ESTATE ? 409 : 500,
		                 "cannot_rotate", NULL, NULL, "%s", err);
	s = s_need_space(r, id);
	if (s == NULL)
		return 0;
	sodium_bin2hex(hex, sizeof(hex), kid, SKEY_ID_LEN);
	json_object_set_new(s, "effect", json_string("applied"));
	json_object_set_new(s, "key", json_string(hex));
	return http_reply(r, 200, s);
}

/* A membership action (PROTOCOL.md 16.3, kind 12): join, leave, request
 * act for the caller; the others name a "user" (and promote and demote a
 * "role"). */
static int
s_member(http_req_t *r, const uint8_t id[CPT_ID_LEN], const char *action)
{
	int needs_user = strcmp(action, "join") != 0 && strcmp(action, "leave") != 0 &&
	                 strcmp(action, "request") != 0;
	int needs_role = strcmp(action, "promote") == 0 || strcmp(action, "demote") == 0;
	json_t *body = NULL, *ev, *s;
	char hex[CPT_HEX_ID];
	ingest_res_t res;
	int ok, e;

	if (!http_need_csrf(r))
		return 0;
	if (needs_user || r->len > 0) {
		if (!http_need_json(r, &body))
			return 0;
	}
	if (needs_user && !json_is_string(json_object_get(body, "user")) &&
	    strcmp(action, "decline") != 0) {
		json_decref(body);
		return http_fail(r, 400, "wrong_type", "user", NULL, "\"user\" must be a handle");
	}
	if (needs_role && !json_is_string(json_object_get(body, "role"))) {
		json_decref(body);
		return http_fail(r, 400, "wrong_type", "role", NULL,
		                 "\"role\" must be \"member\", \"admin\" or \"owner\"");
	}
	/* A private space the caller cannot see does not exist for them: an
	 * invitee sees it, so may join. */
	if ((s = s_need_space(r, id)) == NULL) {
		json_decref(body);
		return 0;
	}
	json_decref(s);
	cpt_hex32(hex, id);
	ev = json_pack("{s:s, s:s}", "space", hex, "action", action);
	if (needs_user && json_object_get(body, "user"))
		json_object_set(ev, "user", json_object_get(body, "user"));
	if (needs_role)
		json_object_set(ev, "role", json_object_get(body, "role"));
	json_decref(body);
	if (!s_rules_ok(r, EVT_SPACE_MEMBER, ev)) {
		json_decref(ev);
		return 0;
	}
	ok = http_publish(r, EVT_SPACE_MEMBER, ev, &res);
	json_decref(ev);
	if (!ok)
		return 0;
	/* Accepted by the trust rules; what it does is the fold's. */
	e = s_effect(r, id, res.id);
	if (e != SPACE_APPLIED)
		return http_fail(r, e == SPACE_NO_RIGHT ? 403 : 409, space_effect_name(e), NULL,
		                 NULL, "the action had no effect: %s", space_effect_name(e));
	if (strcmp(action, "leave") == 0) {
		/* A private space one left is no longer theirs to see. */
		json_t *left;
		store_txn_t *txn;
		if (!http_read_begin(r, &txn))
			return 0;
		left = query_space(txn, id, r->sess.handle, s_site());
		store_read_end(r->h->st, &txn);
		if (left == NULL)
			return http_reply(r, 200,
			                  json_pack("{s:s, s:s}", "id", hex, "effect", "applied"));
		json_object_set_new(left, "effect", json_string("applied"));
		return http_reply(r, 200, left);
	}
	return s_reply_space(r, 200, id, "applied");
}

#define ACTION(name, verb)                                                                         \
	int name(http_req_t *r, const uint8_t id[CPT_ID_LEN])                                      \
	{                                                                                          \
		return s_member(r, id, verb);                                                      \
	}
ACTION(api_space_join, "join")
ACTION(api_space_leave, "leave")
ACTION(api_space_request, "request")
ACTION(api_space_approve, "approve")
ACTION(api_space_decline, "decline")
ACTION(api_space_invite, "invite")
ACTION(api_space_remove, "remove")
ACTION(api_space_promote, "promote")
ACTION(api_space_demote, "demote")
#undef ACTION
