/*
 * Outgoing webhooks over HTTP: list, register (the secret shown once),
 * read one with its delivery log, enable or disable, remove, send a test.
 * The rules of who may register what are node/hooks's (hooks_create).
 */
#include <stdio.h>
#include <string.h>

#include "node/http/http_internal.h"

void
http_set_hooks(http_t *h, hooks_t *hooks)
{
	atomic_store(&h->hooks, hooks);
}

static hooks_who_t
s_who(const http_req_t *r)
{
	return (hooks_who_t){r->sess.handle, r->sess.admin};
}

int
api_hooks_list(http_req_t *r)
{
	hooks_who_t who;
	json_t *items;

	if (!http_need_session(r))
		return 0;
	who = s_who(r);
	if ((items = hooks_list(r->h->st, &who)) == NULL)
		return http_error(r, 500, NULL, "store unavailable");
	return http_reply(r, 200, json_pack("{s:o}", "items", items));
}

int
api_hooks_create(http_req_t *r)
{
	hooks_who_t who;
	json_t *body, *view = NULL;
	char err[300] = "";
	int rc;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	who = s_who(r);
	rc = hooks_create(r->h->st, &who, body, &view, err, sizeof(err));
	json_decref(body);
	if (rc == CPT_EINVAL)
		return http_fail(r, 400, "bad_hook", NULL, NULL, "%s", err);
	if (rc == CPT_EPERM)
		return http_fail(r, 403, "not_allowed", NULL, NULL, "%s", err);
	if (rc != 0 || view == NULL) {
		json_decref(view);
		return http_error(r, 500, NULL, "could not store the webhook: %s",
		                  cpt_strerror(rc));
	}
	log_info("hooks", "%s registered the webhook %s", r->sess.handle,
	         json_string_value(json_object_get(view, "id")));
	hooks_changed(atomic_load(&r->h->hooks));
	return http_reply(r, 201, view);
}

int
api_hooks_get(http_req_t *r, const char *id)
{
	hooks_who_t who;
	json_t *view;

	if (!http_need_session(r))
		return 0;
	who = s_who(r);
	if ((view = hooks_get(r->h->st, &who, id)) == NULL)
		return http_error(r, 404, NULL, "no such webhook of yours: %.40s", id);
	return http_reply(r, 200, view);
}

int
api_hooks_edit(http_req_t *r, const char *id)
{
	hooks_who_t who;
	json_t *body, *on;
	int rc;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	who = s_who(r);
	on = json_object_get(body, "enabled");
	if (!json_is_boolean(on) || json_object_size(body) != 1) {
		json_decref(body);
		return http_error(r, 400, "enabled",
		                  "the body must be {\"enabled\": true} or {\"enabled\": false}");
	}
	rc = hooks_enable(r->h->st, &who, id, json_is_true(on));
	json_decref(body);
	if (rc == CPT_ENOTFOUND)
		return http_error(r, 404, NULL, "no such webhook of yours: %.40s", id);
	if (rc != 0)
		return http_error(r, 500, NULL, "could not change the webhook: %s",
		                  cpt_strerror(rc));
	hooks_changed(atomic_load(&r->h->hooks));
	return http_reply(r, 200, hooks_get(r->h->st, &who, id));
}

int
api_hooks_delete(http_req_t *r, const char *id)
{
	hooks_who_t who;
	int rc;

	if (!http_need_csrf(r))
		return 0;
	who = s_who(r);
	rc = hooks_delete(r->h->st, &who, id);
	if (rc == CPT_ENOTFOUND)
		return http_error(r, 404, NULL, "no such webhook of yours: %.40s", id);
	if (rc != 0)
		return http_error(r, 500, NULL, "could not remove the webhook: %s",
		                  cpt_strerror(rc));
	log_info("hooks", "%s removed the webhook %s", r->sess.handle, id);
	return http_reply(r, 200, json_pack("{s:s, s:b}", "id", id, "deleted", 1));
}

int
api_hooks_test(http_req_t *r, const char *id)
{
	hooks_who_t who;
	int rc;

	if (!http_need_csrf(r))
		return 0;
	who = s_who(r);
	rc = hooks_test(r->h->st, &who, id);
	if (rc == CPT_ENOTFOUND)
		return http_error(r, 404, NULL, "no such webhook of yours: %.40s", id);
	if (rc != 0)
		return http_error(r, 500, NULL, "could not queue the test: %s", cpt_strerror(rc));
	hooks_changed(atomic_load(&r->h->hooks));
	return http_reply(r, 202, json_pack("{s:s, s:b}", "id", id, "queued", 1));
}
