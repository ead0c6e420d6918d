/*
 * The search call: GET /api/search over posts, comments, people and spaces,
 * with its filters, for the person of the session (node/search decides
 * what they may read). The directory (api_people.c) asks the same index.
 */
#include <stdlib.h>
#include <string.h>

#include "node/http/http_internal.h"

void
http_set_search(http_t *h, search_t *s)
{
	atomic_store(&h->search, s);
}

search_t *
http_need_search(http_req_t *r)
{
	search_t *s = atomic_load(&r->h->search);

	if (s == NULL)
		http_fail(r, 503, "search_unavailable", NULL, NULL,
		          "the search index is not open yet: try again in a moment");
	return s;
}

/* A text argument of at most max bytes: 1 (absent: *out NULL) or 0 after
 * replying 400. */
static int
s_arg(http_req_t *r, const char *name, size_t max, const char **out)
{
	*out = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	if (*out && strlen(*out) > max) {
		http_fail(r, 400, "too_long", name, json_pack("{s:i}", "max", (int)max),
		          "\"%s\" must be at most %zu bytes", name, max);
		return 0;
	}
	if (*out && **out == 0)
		*out = NULL;
	return 1;
}

/* A time bound: milliseconds since 1970 (up to 15 digits). 1 or 0 after 400. */
static int
s_ms(http_req_t *r, const char *name, uint64_t *out)
{
	const char *s = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	char *end;

	*out = 0;
	if (s == NULL || *s == 0)
		return 1;
	if (strlen(s) > 15 || strspn(s, "0123456789") != strlen(s)) {
		http_fail(r, 400, "bad_request", name, NULL,
		          "\"%s\" must be a time in milliseconds since 1970", name);
		return 0;
	}
	*out = strtoull(s, &end, 10);
	return 1;
}

/* The filters both calls share into q; 1, or 0 after replying 400. */
int
api_search_args(http_req_t *r, search_q_t *q, long def_limit)
{
	const char *type, *order;
	long limit, offset;

	memset(q, 0, sizeof(*q));
	if (!s_arg(r, "q", SEARCH_MAX_Q, &q->q) || !s_arg(r, "type", 16, &type) ||
	    !s_arg(r, "site", 64, &q->site) || !s_arg(r, "author", 64, &q->author) ||
	    !s_arg(r, "space", 64, &q->space) || !s_arg(r, "department", 100, &q->department) ||
	    !s_arg(r, "skill", 100, &q->skill) || !s_arg(r, "order", 16, &order) ||
	    !s_ms(r, "before", &q->before_ms) || !s_ms(r, "after", &q->after_ms))
		return 0;
	if (type == NULL || strcmp(type, "all") == 0)
		q->type = SEARCH_ALL;
	else if (strcmp(type, "posts") == 0)
		q->type = SEARCH_POSTS;
	else if (strcmp(type, "people") == 0)
		q->type = SEARCH_PEOPLE;
	else if (strcmp(type, "spaces") == 0)
		q->type = SEARCH_SPACES;
	else
		return http_fail(r, 400, "bad_request", "type", NULL,
		                 "\"type\" must be all, posts, people or spaces"),
		       0;
	if (order == NULL || strcmp(order, "best") == 0)
		q->newest = 0;
	else if (strcmp(order, "newest") == 0)
		q->newest = 1;
	else
		return http_fail(r, 400, "bad_request", "order", NULL,
		                 "\"order\" must be best or newest"),
		       0;
	if ((limit = http_query_int(r, "limit", def_limit, 1, SEARCH_MAX_LIMIT)) < 0)
		return http_error(r, 400, "limit", "\"limit\" must be a number from 1 to %d",
		                  SEARCH_MAX_LIMIT),
		       0;
	if ((offset = http_query_int(r, "offset", 0, 0, 100000)) < 0)
		return http_error(r, 400, "offset", "\"offset\" must be a number from 0 to 100000"),
		       0;
	q->limit = (size_t)limit;
	q->offset = (size_t)offset;
	return 1;
}

/* Runs q for the session's person and replies. */
int
api_search_reply(http_req_t *r, search_t *s, const search_q_t *q)
{
	char err[512];
	json_t *out;
	int rc;

	out = search_find(s, q, r->sess.key, &rc, err, sizeof(err));
	if (out == NULL && rc == CPT_EINVAL)
		return http_fail(r, 400, q->q && *q->q ? "no_words" : "empty", "q", NULL, "%s",
		                 err);
	if (out == NULL)
		return http_error(r, 500, NULL, "%s", err);
	return http_reply(r, 200, out);
}

int
api_search(http_req_t *r)
{
	search_q_t q;
	search_t *s;

	if (!http_need_session(r) || !api_search_args(r, &q, 10))
		return 0;
	if ((s = http_need_search(r)) == NULL)
		return 0;
	return api_search_reply(r, s, &q);
}
