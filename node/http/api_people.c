/*
 * The calls of people: the directory search, a person with their newest
 * posts, and one's own profile.
 */
#include <string.h>

#include "node/http/http_internal.h"

#define PERSON_POSTS 20 /* newest posts shown with a person */

/* The directory: the search index's people, filtered by site, department
 * and skill; with no words, everyone in handle order. The answer keeps its
 * shape ({"items": [...]}) and gains "next". */
int
api_people(http_req_t *r)
{
	search_q_t q;
	search_t *s;
	char err[512];
	json_t *out, *grp;
	int rc;

	if (!http_need_session(r) || !api_search_args(r, &q, 20))
		return 0;
	if ((s = http_need_search(r)) == NULL)
		return 0;
	q.type = SEARCH_PEOPLE;
	if (q.q == NULL)
		q.q = "";
	out = search_find(s, &q, r->sess.key, &rc, err, sizeof(err));
	if (out == NULL && rc == CPT_EINVAL)
		return http_fail(r, 400, "no_words", "q", NULL, "%s", err);
	if (out == NULL)
		return http_error(r, 500, NULL, "%s", err);
	grp = json_incref(json_object_get(out, "people"));
	json_decref(out);
	return http_reply(r, 200, grp);
}

int
api_person(http_req_t *r, const char *handle)
{
	uint8_t key[CPT_KEY_LEN];
	store_txn_t *txn;
	json_t *p = NULL;

	if (!http_need_session(r))
		return 0;
	if (!event_valid_handle(handle))
		return http_fail(r, 404, "no_person", NULL, NULL, "no such person");
	if (!http_read_begin(r, &txn))
		return 0;
	if ((p = query_person(txn, handle)) != NULL && index_key_of(txn, handle, key) == 0)
		json_object_set_new(p, "posts", query_posts_of(txn, key, PERSON_POSTS));
	/* Their open spaces, and the private ones the viewer shares (16.9). */
	if (p)
		json_object_set_new(
		    p, "spaces",
		    query_person_spaces(txn, handle, r->sess.handle, index_spaces_site()));
	store_read_end(r->h->st, &txn);
	if (p == NULL)
		return http_fail(r, 404, "no_person", NULL, NULL, "no such person");
	return http_reply(r, 200, p);
}

int
api_profile_put(http_req_t *r)
{
	json_t *body, *v, *ev;
	uint16_t kind;
	ingest_res_t res;
	store_txn_t *txn;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!http_body_ok(r, API_PROFILE, body)) {
		json_decref(body);
		return 0;
	}
	ev = api_body_event(API_PROFILE, body, NULL, &kind);
	json_decref(body);
	ok = ev && http_publish(r, kind, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	if (!http_read_begin(r, &txn))
		return 0;
	v = query_person(txn, r->sess.handle);
	store_read_end(r->h->st, &txn);
	if (v == NULL)
		return http_error(r, 500, NULL, "the profile was stored but cannot be shown");
	return http_reply(r, 200, v);
}
