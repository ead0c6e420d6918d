/*
 * The admin calls of the web UI: the users of this site — list, add,
 * disable and enable, reset a password, change a name or a role. Only for
 * admins of this site; every change is a signed event (node/auth/users.c),
 * exactly as with `comptoir user`.
 */
#include <string.h>

#include <sodium.h>

#include "node/http/http_internal.h"

/* A session of an admin of this site, with the CSRF token for changes. */
static int
s_need_admin(http_req_t *r, int change)
{
	if (!(change ? http_need_csrf(r) : http_need_session(r)))
		return 0;
	if (!r->sess.admin) {
		http_fail(r, 403, "not_admin", NULL, NULL,
		          "only the site's admins manage its users");
		return 0;
	}
	return 1;
}

/* Answers a refusal of node/auth/users.c about handle: its status and code from
 * rc, its message from err, the handle beside them (for the translation).
 * state is the code of CPT_ESTATE, which says "already so" or "not so"
 * depending on the call. */
static int
s_refused(http_req_t *r, int rc, const char *state, const char *handle, const char *err)
{
	json_t *p = json_pack("{s:s}", "handle", handle);

	switch (rc) {
	case CPT_EINVAL: return http_fail(r, 400, "bad_request", NULL, p, "%s", err);
	case CPT_ENOTFOUND: return http_fail(r, 404, "no_user", NULL, p, "%s", err);
	case CPT_EPERM: return http_fail(r, 403, "other_site", NULL, p, "%s", err);
	case CPT_EEXIST: return http_fail(r, 409, "user_exists", NULL, p, "%s", err);
	case CPT_ESTATE: return http_fail(r, 409, state, NULL, p, "%s", err);
	case CPT_ENOSPC: /* the disk is full: nothing was stored */
		return http_fail(r, 507, "no_space", NULL, p, "%s", err);
	}
	return http_fail(r, 500, "server_error", NULL, p, "%s", err);
}

/* One user of this site as GET /api/admin/users lists it, or NULL. */
static json_t *
s_user(http_req_t *r, const char *handle)
{
	json_t *all = users_list(r->h->node, 1), *u, *out = NULL;
	size_t i;

	json_array_foreach (all, i, u)
		if (strcmp(json_string_value(json_object_get(u, "handle")) ?: "", handle) == 0) {
			out = json_incref(u);
			break;
		}
	json_decref(all);
	return out;
}

int
api_admin_users(http_req_t *r)
{
	if (!s_need_admin(r, 0))
		return 0;
	return http_reply(r, 200, json_pack("{s:o}", "items", users_list(r->h->node, 1)));
}

int
api_admin_user_add(http_req_t *r)
{
	json_t *body, *v;
	const char *k, *handle, *name = NULL;
	char pw[32], err[512];
	int admin = 0, rc;

	if (!s_need_admin(r, 1) || !http_need_json(r, &body))
		return 0;
	json_object_foreach (body, k, v) {
		if (strcmp(k, "handle") == 0 && json_is_string(v))
			continue;
		if (strcmp(k, "admin") == 0 && json_is_boolean(v))
			continue;
		if (strcmp(k, "name") == 0 && json_is_string(v) &&
		    json_string_length(v) <= EVT_MAX_FIELD)
			continue;
		/* k belongs to body: answer before letting it go. */
		rc = http_fail(
		    r, 400,
		    strcmp(k, "name") == 0 && json_is_string(v) ? "too_long" : "unknown_field", k,
		    strcmp(k, "name") == 0 ? json_pack("{s:i}", "max", EVT_MAX_FIELD) : NULL,
		    "unexpected or wrong field \"%s\"", k);
		json_decref(body);
		return rc;
	}
	handle = json_string_value(json_object_get(body, "handle"));
	if (handle == NULL || !event_valid_handle(handle)) {
		json_decref(body);
		return http_fail(r, 400, "bad_handle", "handle", NULL,
		                 "a handle is 1 to 32 of a-z, 0-9, . _ -");
	}
	admin = json_is_true(json_object_get(body, "admin"));
	name = json_string_value(json_object_get(body, "name"));
	acct_password_generate(pw);
	rc = users_add(r->h->node, handle, admin, name, pw, err, sizeof(err));
	if (rc != 0) {
		sodium_memzero(pw, sizeof(pw));
		/* handle belongs to body: answer before letting it go. */
		rc = s_refused(r, rc, "conflict", handle, err);
		json_decref(body);
		return rc;
	}
	/* The password is shown once, to the admin who hands it over. */
	rc = http_reply(
	    r, 201, json_pack("{s:s, s:s, s:b}", "handle", handle, "password", pw, "admin", admin));
	sodium_memzero(pw, sizeof(pw));
	json_decref(body);
	return rc;
}

int
api_admin_user_disable(http_req_t *r, const char *handle)
{
	char err[512];
	int rc;

	if (!s_need_admin(r, 1))
		return 0;
	if (!event_valid_handle(handle))
		return http_fail(r, 404, "no_user", NULL, NULL, "no such user");
	if (strcmp(handle, r->sess.handle) == 0)
		return http_fail(r, 400, "self", NULL, NULL, "you cannot disable your own account");
	if ((rc = users_disable(r->h->node, handle, err, sizeof(err))) != 0)
		return s_refused(r, rc, "already_disabled", handle, err);
	sess_close_handle(r->h->sess, handle, NULL);
	return http_reply(r, 200, json_pack("{s:s, s:b}", "handle", handle, "disabled", 1));
}

int
api_admin_user_password(http_req_t *r, const char *handle)
{
	char pw[32], err[512];
	int rc;

	if (!s_need_admin(r, 1))
		return 0;
	if (!event_valid_handle(handle))
		return http_fail(r, 404, "no_user", NULL, NULL, "no such user");
	acct_password_generate(pw);
	if ((rc = users_reset(r->h->node, handle, pw, err, sizeof(err))) != 0) {
		sodium_memzero(pw, sizeof(pw));
		return s_refused(r, rc, "conflict", handle, err);
	}
	/* Sessions opened with the old key end: it is revoked. */
	sess_close_handle(r->h->sess, handle, NULL);
	rc = http_reply(r, 200, json_pack("{s:s, s:s}", "handle", handle, "password", pw));
	sodium_memzero(pw, sizeof(pw));
	return rc;
}

int
api_admin_user_enable(http_req_t *r, const char *handle)
{
	char pw[32], err[512];
	int rc;

	if (!s_need_admin(r, 1))
		return 0;
	if (!event_valid_handle(handle))
		return http_fail(r, 404, "no_user", NULL, NULL, "no such user");
	acct_password_generate(pw);
	if ((rc = users_enable(r->h->node, handle, pw, err, sizeof(err))) != 0) {
		sodium_memzero(pw, sizeof(pw));
		return s_refused(r, rc, "not_disabled", handle, err);
	}
	/* A new key: the old password opened the revoked one, so a new one is
	 * shown this once, as for a reset. */
	rc = http_reply(
	    r, 200, json_pack("{s:s, s:s, s:b}", "handle", handle, "password", pw, "disabled", 0));
	sodium_memzero(pw, sizeof(pw));
	return rc;
}

int
api_admin_user_edit(http_req_t *r, const char *handle)
{
	json_t *body, *v, *u;
	const char *k, *name;
	char err[512];
	int admin, rc;

	if (!s_need_admin(r, 1) || !http_need_json(r, &body))
		return 0;
	json_object_foreach (body, k, v) {
		if (strcmp(k, "admin") == 0 && json_is_boolean(v))
			continue;
		if (strcmp(k, "name") == 0 && json_is_string(v) &&
		    json_string_length(v) <= EVT_MAX_FIELD)
			continue;
		rc = http_fail(
		    r, 400,
		    strcmp(k, "name") == 0 && json_is_string(v) ? "too_long" : "unknown_field", k,
		    strcmp(k, "name") == 0 ? json_pack("{s:i}", "max", EVT_MAX_FIELD) : NULL,
		    "unexpected or wrong field \"%s\"", k);
		json_decref(body);
		return rc;
	}
	if (!event_valid_handle(handle)) {
		json_decref(body);
		return http_fail(r, 404, "no_user", NULL, NULL, "no such user");
	}
	v = json_object_get(body, "admin");
	admin = v ? json_is_true(v) : -1;
	if (admin >= 0 && strcmp(handle, r->sess.handle) == 0 && !admin) {
		/* The last admin of a site could lock everyone out of this page. */
		json_decref(body);
		return http_fail(r, 400, "self", "admin", NULL,
		                 "you cannot remove your own admin role");
	}
	name = json_string_value(json_object_get(body, "name"));
	if (name == NULL && admin < 0) {
		json_decref(body);
		return http_fail(r, 400, "empty", NULL, NULL, "give \"name\" or \"admin\"");
	}
	/* Only what changes goes into the event. */
	u = s_user(r, handle);
	if (u && name && strcmp(json_string_value(json_object_get(u, "name")) ?: "", name) == 0)
		name = NULL;
	if (u && admin >= 0 &&
	    (strcmp(json_string_value(json_object_get(u, "role")) ?: "", "admin") == 0) == admin)
		admin = -1;
	json_decref(u);
	rc = name || admin >= 0 ? users_edit(r->h->node, handle, name, admin, err, sizeof(err)) : 0;
	json_decref(body);
	if (rc != 0)
		return s_refused(r, rc, "user_disabled", handle, err);
	/* A role is read at login: sessions opened with the old one end. */
	if (admin >= 0)
		sess_close_handle(r->h->sess, handle, NULL);
	if ((u = s_user(r, handle)) == NULL)
		return http_fail(r, 404, "no_user", NULL, NULL, "no such user");
	return http_reply(r, 200, u);
}
