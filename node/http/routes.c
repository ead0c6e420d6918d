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
PLAIN_ROUTE(s_figures, api_figures)
PLAIN_ROUTE(s_report_workbook, api_report_workbook)
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
#undef NAME_ROUTE

/* "*" matches one non-empty path segment, handed to the call. */
static const struct route {
	const char *pattern; /* path, with at most one "*" segment */
	const char *method;  /* the method it answers */
	route_fn fn;         /* the call */
} s_routes[] = {
    {"/api/login", "POST", s_login},
    {"/api/logout", "POST", s_logout},
    {"/api/me", "GET", s_me},
    {"/api/session", "GET", s_session},
    {"/api/me/password", "POST", s_me_password},
    {"/api/feed", "GET", s_feed},
    {"/api/posts", "POST", s_post_create},
    {"/api/posts/*", "GET", s_post_get},
    {"/api/posts/*", "PATCH", s_post_edit},
    {"/api/posts/*", "DELETE", s_post_delete},
    {"/api/posts/*/comments", "POST", s_comment_create},
    {"/api/posts/*/comments", "GET", s_comments},
    {"/api/posts/*/reactions", "POST", s_reaction_set},
    {"/api/comments/*", "PATCH", s_comment_edit},
    {"/api/comments/*", "DELETE", s_comment_delete},
    {"/api/spaces", "GET", s_spaces},
    {"/api/spaces", "POST", s_space_create},
    {"/api/spaces/*", "GET", s_space_get},
    {"/api/spaces/*", "PATCH", s_space_edit},
    {"/api/spaces/*/feed", "GET", s_space_feed},
    {"/api/spaces/*/figures", "GET", s_space_figures},
    {"/api/spaces/*/archive", "POST", s_space_archive},
    {"/api/spaces/*/join", "POST", s_space_join},
    {"/api/spaces/*/leave", "POST", s_space_leave},
    {"/api/spaces/*/request", "POST", s_space_request},
    {"/api/spaces/*/approve", "POST", s_space_approve},
    {"/api/spaces/*/decline", "POST", s_space_decline},
    {"/api/spaces/*/invite", "POST", s_space_invite},
    {"/api/spaces/*/remove", "POST", s_space_remove},
    {"/api/spaces/*/promote", "POST", s_space_promote},
    {"/api/spaces/*/demote", "POST", s_space_demote},
    {"/api/people", "GET", s_people},
    {"/api/figures", "GET", s_figures},
    {"/api/reports/workbook.xlsx", "GET", s_report_workbook},
    {"/api/people/*", "GET", s_person},
    {"/api/profile", "PUT", s_profile_put},
    {"/api/admin/users", "GET", s_admin_users},
    {"/api/admin/users", "POST", s_admin_user_add},
    {"/api/admin/users/*/disable", "POST", s_admin_user_disable},
    {"/api/admin/users/*/password", "POST", s_admin_user_password},
    {"/api/admin/users/*/enable", "POST", s_admin_user_enable},
    {"/api/admin/users/*", "PATCH", s_admin_user_edit},
    {"/api/notifications", "GET", s_notifications},
    {"/api/notifications/count", "GET", s_notifications_count},
    {"/api/notifications/read", "POST", s_notifications_read},
    {"/api/notifications/mute", "POST", s_notifications_mute},
    {"/api/notifications/prefs", "GET", s_prefs_get},
    {"/api/notifications/prefs", "PUT", s_prefs_put},
    {"/api/follows", "GET", s_follows_get},
    {"/api/follows", "POST", s_follows_set},
    {"/api/announcements", "GET", s_announcements},
    {"/api/posts/*/announce", "POST", s_announce},
    {"/api/posts/*/ack", "POST", s_announce_ack},
    {"/api/status", "GET", s_status},
    {"/api/stream", "GET", s_stream},
    {"/metrics", "GET", s_metrics},
    {NULL, NULL, NULL},
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

void
http_route(http_req_t *r)
{
	char arg[256], allow[128] = "";
	int matched = 0;

	for (const struct route *rt = s_routes; rt->pattern; rt++) {
		if (!s_match(rt->pattern, r->url, arg, sizeof(arg)))
			continue;
		matched = 1;
		if (strcmp(rt->method, r->method) == 0) {
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
