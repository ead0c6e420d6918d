/*
 * The routing table: every call of the API, its method and its path, in
 * one place (docs/API.md lists the same). A "*" segment of a path is handed
 * to the call; a path that no call matches is a file of the web UI.
 */
#include <stdio.h>
#include <string.h>

#include "node/http/http_internal.h"

typedef int (*route_fn)(http_req_t *r, const char *arg);

/* Wrappers that parse the path argument of a call. */
#define ID_ROUTE(name, api)                                                                        \
	static int name(http_req_t *r, const char *arg)                                            \
	{                                                                                          \
		uint8_t id[CPT_ID_LEN];                                                            \
		if (http_parse_id(id, arg, strlen(arg)) != 0)                                      \
			return http_error(r, 400, NULL, "a post id is 64 lowercase hex digits");   \
		return api(r, id);                                                                 \
	}
ID_ROUTE(s_post_get, api_post_get)
ID_ROUTE(s_post_edit, api_post_edit)
ID_ROUTE(s_post_delete, api_post_delete)
ID_ROUTE(s_comment_create, api_comment_create)
ID_ROUTE(s_comments, api_comments)
ID_ROUTE(s_comment_edit, api_comment_edit)
ID_ROUTE(s_comment_delete, api_comment_delete)
ID_ROUTE(s_reaction_set, api_reaction_set)
ID_ROUTE(s_announce, api_announce)
ID_ROUTE(s_announce_ack, api_announce_ack)
#undef ID_ROUTE

/* Spaces: the argument is a space id. */
#define SPACE_ROUTE(name, api)                                                                     \
	static int name(http_req_t *r, const char *arg)                                            \
	{                                                                                          \
		uint8_t id[CPT_ID_LEN];                                                            \
		if (http_parse_id(id, arg, strlen(arg)) != 0)                                      \
			return http_error(r, 400, NULL, "a space id is 64 lowercase hex digits");  \
		return api(r, id);                                                                 \
	}
SPACE_ROUTE(s_space_get, api_space_get)
SPACE_ROUTE(s_space_edit, api_space_edit)
SPACE_ROUTE(s_space_feed, api_space_feed)
SPACE_ROUTE(s_space_figures, api_space_figures)
SPACE_ROUTE(s_space_archive, api_space_archive)
SPACE_ROUTE(s_space_rotate, api_space_rotate)
SPACE_ROUTE(s_space_join, api_space_join)
SPACE_ROUTE(s_space_leave, api_space_leave)
SPACE_ROUTE(s_space_request, api_space_request)
SPACE_ROUTE(s_space_approve, api_space_approve)
SPACE_ROUTE(s_space_decline, api_space_decline)
SPACE_ROUTE(s_space_invite, api_space_invite)
SPACE_ROUTE(s_space_remove, api_space_remove)
SPACE_ROUTE(s_space_promote, api_space_promote)
SPACE_ROUTE(s_space_demote, api_space_demote)
#undef SPACE_ROUTE

#define PLAIN_ROUTE(name, api)                                                                     \
	static int name(http_req_t *r, const char *arg)                                            \
	{                                                                                          \
		return api(r);                                                                     \
	}
PLAIN_ROUTE(s_login, api_login)
PLAIN_ROUTE(s_logout, api_logout)
PLAIN_ROUTE(s_me, api_me)
PLAIN_ROUTE(s_session, api_session)
PLAIN_ROUTE(s_me_password, api_me_password)
PLAIN_ROUTE(s_post_create, api_post_create)
PLAIN_ROUTE(s_feed, api_feed)
PLAIN_ROUTE(s_people, api_people)
PLAIN_ROUTE(s_search, api_search)
PLAIN_ROUTE(s_figures, api_figures)
PLAIN_ROUTE(s_profile_put, api_profile_put)
PLAIN_ROUTE(s_admin_users, api_admin_users)
PLAIN_ROUTE(s_admin_user_add, api_admin_user_add)
PLAIN_ROUTE(s_status, api_status)
PLAIN_ROUTE(s_stream, api_stream)
PLAIN_ROUTE(s_metrics, api_metrics)
PLAIN_ROUTE(s_notifications, api_notifications)
PLAIN_ROUTE(s_notifications_count, api_notifications_count)
PLAIN_ROUTE(s_notifications_read, api_notifications_read)
PLAIN_ROUTE(s_notifications_mute, api_notifications_mute)
PLAIN_ROUTE(s_prefs_get, api_prefs_get)
PLAIN_ROUTE(s_prefs_put, api_prefs_put)
PLAIN_ROUTE(s_follows_get, api_follows_get)
PLAIN_ROUTE(s_follows_set, api_follows_set)
PLAIN_ROUTE(s_announcements, api_announcements)
PLAIN_ROUTE(s_spaces, api_spaces)
PLAIN_ROUTE(s_space_create, api_space_create)
PLAIN_ROUTE(s_tokens_list, api_tokens_list)
PLAIN_ROUTE(s_openapi, api_openapi)
PLAIN_ROUTE(s_tokens_create, api_tokens_create)
#undef PLAIN_ROUTE

/* The calls whose argument is a handle, passed as it is. */
#define NAME_ROUTE(name, api)                                                                      \
	static int name(http_req_t *r, const char *arg)                                            \
	{                                                                                          \
		return api(r, arg);                                                                \
	}
NAME_ROUTE(s_admin_user_disable, api_admin_user_disable)
NAME_ROUTE(s_admin_user_password, api_admin_user_password)
NAME_ROUTE(s_admin_user_enable, api_admin_user_enable)
NAME_ROUTE(s_admin_user_edit, api_admin_user_edit)
NAME_ROUTE(s_person, api_person)
NAME_ROUTE(s_tokens_revoke, api_tokens_revoke)
#undef NAME_ROUTE

/* "*" matches one non-empty path segment, handed to the call. */
static const struct route {
	const char *pattern; /* path, with at most one "*" segment */
	const char *method;  /* the method it answers */
	route_fn fn;         /* the call */
	unsigned scope;      /* what an API token needs for it (enum tok_scope); 0: a
	                        browser session only (logins, passwords, tokens) */
} s_routes[] = {
    {"/api/login", "POST", s_login, 0},
    {"/api/logout", "POST", s_logout, 0},
    {"/api/me", "GET", s_me, TOK_READ},
    {"/api/session", "GET", s_session, 0},
    {"/api/me/password", "POST", s_me_password, 0},
    {"/api/feed", "GET", s_feed, TOK_READ},
    {"/api/posts", "POST", s_post_create, TOK_WRITE},
    {"/api/posts/*", "GET", s_post_get, TOK_READ},
    {"/api/posts/*", "PATCH", s_post_edit, TOK_WRITE},
    {"/api/posts/*", "DELETE", s_post_delete, TOK_WRITE},
    {"/api/posts/*/comments", "POST", s_comment_create, TOK_WRITE},
    {"/api/posts/*/comments", "GET", s_comments, TOK_READ},
    {"/api/posts/*/reactions", "POST", s_reaction_set, TOK_WRITE},
    {"/api/comments/*", "PATCH", s_comment_edit, TOK_WRITE},
    {"/api/comments/*", "DELETE", s_comment_delete, TOK_WRITE},
    {"/api/spaces", "GET", s_spaces, TOK_READ},
    {"/api/spaces", "POST", s_space_create, TOK_SPACES},
    {"/api/spaces/*", "GET", s_space_get, TOK_READ},
    {"/api/spaces/*", "PATCH", s_space_edit, TOK_SPACES},
    {"/api/spaces/*/feed", "GET", s_space_feed, TOK_READ},
    {"/api/spaces/*/figures", "GET", s_space_figures, TOK_READ},
    {"/api/spaces/*/archive", "POST", s_space_archive, TOK_SPACES},
    {"/api/spaces/*/join", "POST", s_space_join, TOK_SPACES},
    {"/api/spaces/*/leave", "POST", s_space_leave, TOK_SPACES},
    {"/api/spaces/*/request", "POST", s_space_request, TOK_SPACES},
    {"/api/spaces/*/approve", "POST", s_space_approve, TOK_SPACES},
    {"/api/spaces/*/decline", "POST", s_space_decline, TOK_SPACES},
    {"/api/spaces/*/invite", "POST", s_space_invite, TOK_SPACES},
    {"/api/spaces/*/remove", "POST", s_space_remove, TOK_SPACES},
    {"/api/spaces/*/promote", "POST", s_space_promote, TOK_SPACES},
    {"/api/spaces/*/demote", "POST", s_space_demote, TOK_SPACES},
    {"/api/spaces/*/rotate", "POST", s_space_rotate, TOK_SPACES},
    {"/api/people", "GET", s_people, TOK_READ},
    {"/api/search", "GET", s_search, TOK_READ},
    {"/api/figures", "GET", s_figures, TOK_READ},
    {"/api/people/*", "GET", s_person, TOK_READ},
    {"/api/profile", "PUT", s_profile_put, 0},
    {"/api/admin/users", "GET", s_admin_users, TOK_ADMIN},
    {"/api/admin/users", "POST", s_admin_user_add, TOK_ADMIN},
    {"/api/admin/users/*/disable", "POST", s_admin_user_disable, TOK_ADMIN},
    {"/api/admin/users/*/password", "POST", s_admin_user_password, TOK_ADMIN},
    {"/api/admin/users/*/enable", "POST", s_admin_user_enable, TOK_ADMIN},
    {"/api/admin/users/*", "PATCH", s_admin_user_edit, TOK_ADMIN},
    {"/api/notifications", "GET", s_notifications, TOK_READ},
    {"/api/notifications/count", "GET", s_notifications_count, TOK_READ},
    {"/api/notifications/read", "POST", s_notifications_read, 0},
    {"/api/notifications/mute", "POST", s_notifications_mute, 0},
    {"/api/notifications/prefs", "GET", s_prefs_get, TOK_READ},
    {"/api/notifications/prefs", "PUT", s_prefs_put, 0},
    {"/api/follows", "GET", s_follows_get, TOK_READ},
    {"/api/follows", "POST", s_follows_set, 0},
    {"/api/announcements", "GET", s_announcements, TOK_READ},
    {"/api/posts/*/announce", "POST", s_announce, TOK_WRITE},
    {"/api/posts/*/ack", "POST", s_announce_ack, TOK_WRITE},
    {"/api/tokens", "GET", s_tokens_list, 0},
    {"/api/tokens", "POST", s_tokens_create, 0},
    {"/api/tokens/*", "DELETE", s_tokens_revoke, 0},
    {"/api/openapi.json", "GET", s_openapi, TOK_ALL},
    {"/api/status", "GET", s_status, TOK_READ},
    {"/api/stream", "GET", s_stream, 0},
    {"/metrics", "GET", s_metrics, TOK_READ},
    {NULL, NULL, NULL, 0},
};

/* Does path match pattern? The "*" segment is copied into arg. */
static int
s_match(const char *pattern, const char *path, char *arg, size_t arglen)
{
	while (*pattern && *path) {
		if (*pattern == '*') {
			size_t n = strcspn(path, "/");
			if (n == 0 || n >= arglen)
				return 0;
			memcpy(arg, path, n);
			arg[n] = 0;
			path += n;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	return *pattern == 0 && *path == 0;
}

/* A request with an Authorization header: the token must be valid and
 * hold the route's scope. 1 to go on, or 0 when answered. */
static int
s_token_ok(http_req_t *r, const struct route *rt)
{
	int rc;

	if (MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization") == NULL)
		return 1;
	if ((rc = http_has_session(r)) < 0) {
		http_error(r, 500, NULL, "store unavailable");
		return 0;
	}
	if (rc == 0) {
		http_fail(r, 401, "bad_token", NULL, NULL,
		          "the API token is malformed, unknown, revoked or expired "
		          "(Authorization: Bearer cpt_...)");
		return 0;
	}
	if (rt->scope == 0) {
		http_fail(r, 403, "session_only", NULL, NULL,
		          "%s %s needs a browser session, not an API token", rt->method,
		          rt->pattern);
		return 0;
	}
	if ((r->tok.scopes & rt->scope) == 0) {
		json_t *need = tok_scopes_json(rt->scope);
		json_t *p = json_pack("{s:o}", "scope", need);
		http_fail(r, 403, "scope", NULL, p, "this API token lacks the scope \"%s\"",
		          json_string_value(json_array_get(need, 0)));
		return 0;
	}
	return 1;
}

const char *
http_route_pattern(size_t i, const char **method, unsigned *scope)
{
	if (i >= sizeof(s_routes) / sizeof(s_routes[0]) - 1)
		return NULL;
	*method = s_routes[i].method;
	*scope = s_routes[i].scope;
	return s_routes[i].pattern;
}

void
http_route(http_req_t *r)
{
	char arg[256], allow[128] = "";
	int matched = 0;

	/* /api/v1/X is /api/X: the first version of the API is the current one,
	 * and the paths without a version keep working. */
	if (strncmp(r->url, "/api/v1/", 8) == 0) {
		int n = snprintf(r->v1url, sizeof(r->v1url), "/api/%s", r->url + 8);
		if (n < 0 || (size_t)n >= sizeof(r->v1url)) {
			http_error(r, 404, NULL, "no such call: %.200s...", r->url);
			return;
		}
		r->url = r->v1url;
	}
	for (const struct route *rt = s_routes; rt->pattern; rt++) {
		if (!s_match(rt->pattern, r->url, arg, sizeof(arg)))
			continue;
		matched = 1;
		if (strcmp(rt->method, r->method) == 0) {
			if (s_token_ok(r, rt))
				rt->fn(r, arg);
			return;
		}
		if (strlen(allow) + strlen(rt->method) + 3 < sizeof(allow))
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
			         allow[0] ? ", " : "", rt->method);
	}
	if (matched) {
		const char *hdr[] = {"Allow", allow, NULL};
		json_t *j = json_pack("{s:s, s:s}", "error", "method not allowed", "allow", allow);
		http_reply_hdr(r, 405, j, hdr);
		return;
	}
	if (strncmp(r->url, "/api/", 5) == 0 || strcmp(r->url, "/api") == 0 ||
	    strcmp(r->url, "/metrics") == 0) {
		http_error(r, 404, NULL, "no such call: %s", r->url);
		return;
	}
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		const char *hdr[] = {"Allow", "GET, HEAD", NULL};
		http_reply_hdr(
		    r, 405,
		    json_pack("{s:s, s:s}", "error", "method not allowed", "allow", "GET, HEAD"),
		    hdr);
		return;
	}
	http_asset(r);
}
