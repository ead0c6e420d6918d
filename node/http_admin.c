/*
 * The admin calls of the web UI: the users of this site — list, add,
 * disable, reset a password. Only for admins of this site; every change is
 * a signed event (node/users.c), exactly as with `comptoir user`.
 */
#include <string.h>

#include <sodium.h>

#include "node/http_internal.h"

/* A session of an admin of this site, with the CSRF token for changes. */
static int
s_need_admin(http_req_t *r, int change)
{
	if (!(change ? http_need_csrf(r) : http_need_session(r)))
		return 0;
	if (!r->sess.admin) {
		http_error(r, 403, NULL, "only the site's admins manage its users");
		return 0;
	}
	return 1;
}

static unsigned
s_status_of(int rc)
{
	switch (rc) {
	case CPT_EINVAL: return 400;
	case CPT_ENOTFOUND: return 404;
	case CPT_EPERM: return 403;
	case CPT_EEXIST: return 409;
	case CPT_ENOSPC: return 507; /* the disk is full: nothing was stored */
	}
	return 500;
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
	json_object_foreach(body, k, v) {
		if (strcmp(k, "handle") == 0 && json_is_string(v))
			continue;
		if (strcmp(k, "admin") == 0 && json_is_boolean(v))
			continue;
		if (strcmp(k, "name") == 0 && json_is_string(v) && json_string_length(v) <= 200)
			continue;
		/* k belongs to body: answer before letting it go. */
		rc = http_error(r, 400, k, "unexpected or wrong field \"%s\"", k);
		json_decref(body);
		return rc;
	}
	handle = json_string_value(json_object_get(body, "handle"));
	if (handle == NULL || !vw_valid_handle(handle)) {
		json_decref(body);
		return http_error(r, 400, "handle", "a handle is 1 to 32 of a-z, 0-9, . _ -");
	}
	admin = json_is_true(json_object_get(body, "admin"));
	name = json_string_value(json_object_get(body, "name"));
	acct_password_generate(pw);
	rc = users_add(r->h->node, handle, admin, name, pw, err, sizeof(err));
	if (rc != 0) {
		json_decref(body);
		sodium_memzero(pw, sizeof(pw));
		return http_error(r, s_status_of(rc), NULL, "%s", err);
	}
	/* The password is shown once, to the admin who hands it over. */
	rc = http_reply(r, 201, json_pack("{s:s, s:s, s:b}", "handle", handle, "password", pw, "admin",
					  admin));
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
	if (!vw_valid_handle(handle))
		return http_error(r, 404, NULL, "no such user");
	if (strcmp(handle, r->sess.handle) == 0)
		return http_error(r, 400, NULL, "you cannot disable your own account");
	if ((rc = users_disable(r->h->node, handle, err, sizeof(err))) != 0)
		return http_error(r, s_status_of(rc), NULL, "%s", err);
	sess_close_handle(r->h->sess, handle);
	return http_reply(r, 200, json_pack("{s:s, s:b}", "handle", handle, "disabled", 1));
}

int
api_admin_user_password(http_req_t *r, const char *handle)
{
	char pw[32], err[512];
	int rc;

	if (!s_need_admin(r, 1))
		return 0;
	if (!vw_valid_handle(handle))
		return http_error(r, 404, NULL, "no such user");
	acct_password_generate(pw);
	if ((rc = users_reset(r->h->node, handle, pw, err, sizeof(err))) != 0) {
		sodium_memzero(pw, sizeof(pw));
		return http_error(r, s_status_of(rc), NULL, "%s", err);
	}
	/* Sessions opened with the old key end: it is revoked. */
	sess_close_handle(r->h->sess, handle);
	rc = http_reply(r, 200, json_pack("{s:s, s:s}", "handle", handle, "password", pw));
	sodium_memzero(pw, sizeof(pw));
	return rc;
}
