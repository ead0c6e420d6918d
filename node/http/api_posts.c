/*
 * The calls of the feed and the threads: reading the feed, a post and its
 * comments; posting, commenting, reacting, editing and deleting (each a
 * signed event through the node's single ingest path, checked before it is
 * signed so that a refused request changes nothing).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/http/http_internal.h"

static int
s_reply_post(http_req_t *r, unsigned status, const uint8_t id[CPT_ID_LEN], int full)
{
	store_txn_t *txn;
	json_t *p;

	if (!http_read_begin(r, &txn))
		return 0;
	p = full ? query_post_for_as(txn, id, r->sess.key, r->sess.handle, index_spaces_site())
	         : query_post_as(txn, id, 0, r->sess.handle, index_spaces_site());
	store_read_end(r->h->st, &txn);
	if (p == NULL)
		return http_error(r, 500, NULL, "the post was stored but cannot be shown");
	return http_reply(r, status, p);
}

/* Is the post visible to the caller (a post of a space they may not read
 * is not, PROTOCOL.md 16.9)? Copies its author key, and its space (hex,
 * "" when company-wide) when space is not NULL. 1, or replies 404/500 and 0. */
static int
s_need_post_in(http_req_t *r, const uint8_t id[CPT_ID_LEN], uint8_t author[CPT_KEY_LEN],
               char space[CPT_HEX_ID])
{
	store_txn_t *txn;
	json_t *p;
	const char *ak, *sp;
	int ok;

	if (!http_read_begin(r, &txn))
		return 0;
	p = query_post_as(txn, id, 0, r->sess.handle, index_spaces_site());
	store_read_end(r->h->st, &txn);
	if (p == NULL) {
		http_fail(r, 404, "no_post", NULL, NULL, "no such post");
		return 0;
	}
	ak = json_string_value(json_object_get(p, "author_key"));
	ok = ak && cpt_unhex32(author, ak, strlen(ak)) == 0;
	sp = json_string_value(json_object_get(p, "space"));
	if (space)
		snprintf(space, CPT_HEX_ID, "%s", sp ? sp : "");
	json_decref(p);
	if (!ok)
		http_error(r, 500, NULL, "the post view has no author key");
	return ok;
}

int
api_post_create(http_req_t *r)
{
	json_t *body, *ev;
	uint16_t kind;
	ingest_res_t res;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!http_body_ok(r, API_POST, body)) {
		json_decref(body);
		return 0;
	}
	if (json_object_get(body, "space") && !json_is_string(json_object_get(body, "space"))) {
		json_decref(body);
		return http_fail(r, 400, "wrong_type", "space", NULL,
		                 "\"space\" must be a space id");
	}
	ev = api_body_event(API_POST, body, NULL, &kind);
	/* In a space: in clear or sealed, by the space's visibility. */
	ok = ev && api_space_publish(r, json_string_value(json_object_get(body, "space")), kind, ev,
	                             &res);
	json_decref(body);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return s_reply_post(r, 201, res.id, 0);
}

/* Ends a feed's answer written as text: ,"next":… and, when name is not
 * NULL, ,name: last (stolen), then the closing brace. */
static void
s_text_tail(query_text_t *t, const char *next, const char *name, json_t *last)
{
	query_text_add(t, ",\"next\":", 8);
	if (next[0]) {
		query_text_add(t, "\"", 1);
		query_text_add(t, next, strlen(next));
		query_text_add(t, "\"", 1);
	} else {
		query_text_add(t, "null", 4);
	}
	if (name) {
		query_text_add(t, ",\"", 2);
		query_text_add(t, name, strlen(name));
		query_text_add(t, "\":", 2);
		query_text_json(t, last);
	}
	json_decref(last);
	query_text_add(t, "}", 1);
}

int
api_feed(http_req_t *r)
{
	uint8_t cur[40];
	char next[81];
	long limit;
	int has;
	store_txn_t *txn;
	json_t *pinned = NULL;
	query_text_t t = {0};
	const char *view;

	if (!http_need_session(r))
		return 0;
	if ((limit = http_query_int(r, "limit", 20, 1, 100)) < 0)
		return http_error(r, 400, "limit", "\"limit\" must be a number from 1 to 100");
	if (!http_query_cursor(r, cur, &has))
		return 0;
	view = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "view");
	if (view && strcmp(view, "foryou") == 0)
		return api_feed_foryou(r, has ? cur : NULL, (size_t)limit);
	if (view && strcmp(view, "all") != 0)
		return http_error(r, 400, "view", "\"view\" must be all or foryou");
	if (!http_read_begin(r, &txn))
		return 0;
	/* Company-wide posts and those of the reader's spaces (PROTOCOL.md 16.9),
	 * their stored views written as they are stored (query_main_feed_text):
	 * the same bytes as {"items": query_main_feed(...), "next", "pinned"}. */
	query_text_add(&t, "{\"items\":", 9);
	if (query_main_feed_text(txn, r->sess.handle, index_spaces_site(), has ? cur : NULL,
	                         (size_t)limit, next, &t) == 0 &&
	    !has) /* announcements pinned for this person, above the first page */
		pinned = api_feed_pinned(r, txn);
	store_read_end(r->h->st, &txn);
	s_text_tail(&t, next, "pinned", pinned ? pinned : json_array());
	return http_reply_text(r, 200, &t);
}

int
api_comments(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t cur[40];
	char next[81];
	long limit;
	int has;
	store_txn_t *txn;
	json_t *post, *items = NULL;

	if (!http_need_session(r))
		return 0;
	if ((limit = http_query_int(r, "limit", QUERY_COMMENTS_PAGE, 1, 100)) < 0)
		return http_error(r, 400, "limit", "\"limit\" must be a number from 1 to 100");
	if (!http_query_cursor(r, cur, &has) || !http_read_begin(r, &txn))
		return 0;
	if ((post = query_post_as(txn, id, 0, r->sess.handle, index_spaces_site())) != NULL)
		items = query_comments(txn, id, has ? cur : NULL, (size_t)limit, next);
	store_read_end(r->h->st, &txn);
	if (post == NULL)
		return http_fail(r, 404, "no_post", NULL, NULL, "no such post");
	json_decref(post);
	if (items == NULL)
		return http_error(r, 500, NULL, "the comments cannot be read");
	return http_reply(r, 200,
	                  json_pack("{s:o, s:o}", "items", items, "next",
	                            next[0] ? json_string(next) : json_null()));
}

int
api_post_get(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	store_txn_t *txn;
	json_t *p;

	if (!http_need_session(r) || !http_read_begin(r, &txn))
		return 0;
	p = query_post_for_as(txn, id, r->sess.key, r->sess.handle, index_spaces_site());
	store_read_end(r->h->st, &txn);
	if (p == NULL)
		return http_fail(r, 404, "no_post", NULL, NULL, "no such post");
	return http_reply(r, 200, p);
}

/* May the caller erase a post or comment of author? Its author may, and an
 * admin of this site when the author's site enrolled them both: the rule
 * the ingest path applies (event_may_redact), asked of a session admin. */
static int
s_may_delete(http_req_t *r, const uint8_t author[CPT_KEY_LEN])
{
	store_txn_t *txn;
	int ok;

	if (sodium_memcmp(author, r->sess.key, CPT_KEY_LEN) == 0)
		return 1;
	if (!r->sess.admin || store_read_begin(r->h->st, &txn) != 0)
		return 0;
	ok = event_may_redact(txn, r->sess.key, author, hlc_wall_ms());
	store_read_end(r->h->st, &txn);
	return ok;
}

/* The "files" list of post id's body (a new reference, an empty array
 * when none). */
static json_t *
s_files_of(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	store_txn_t *txn;
	evt_t ev;
	json_t *body = NULL, *files = NULL;

	if (store_read_begin(r->h->st, &txn) == 0) {
		/* A sealed post's files are in its plaintext (opened here). */
		if (index_event_open(txn, id, &ev, &body) == 0 && body != NULL)
			files = json_incref(json_object_get(body, "files"));
		store_read_end(r->h->st, &txn);
	}
	json_decref(body);
	return json_is_array(files) ? files : (json_decref(files), json_array());
}

/* Replies with comment id as query_comment shows it. */
static int
s_reply_comment(http_req_t *r, unsigned status, const uint8_t id[CPT_ID_LEN])
{
	store_txn_t *txn;
	json_t *c;

	if (!http_read_begin(r, &txn))
		return 0;
	c = query_comment(txn, id);
	store_read_end(r->h->st, &txn);
	if (c == NULL)
		return http_error(r, 500, NULL, "the comment was stored but cannot be shown");
	return http_reply(r, status, c);
}

int
api_comment_create(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t author[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], space[CPT_HEX_ID] = "";
	json_t *body, *ev;
	uint16_t kind;
	ingest_res_t res;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!http_body_ok(r, API_COMMENT, body) || !s_need_post_in(r, id, author, space)) {
		json_decref(body);
		return 0;
	}
	cpt_hex32(hex, id);
	ev = api_body_event(API_COMMENT, body, hex, &kind);
	json_decref(body);
	ok = ev && api_space_publish(r, space[0] ? space : NULL, kind, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return s_reply_comment(r, 201, res.id);
}

/* Is id a comment that can be shown to the caller (its post is)? Copies
 * its author key, and its post's space (hex, or "") when space is not NULL.
 * 1, or replies 404/500 and 0. */
static int
s_need_comment_in(http_req_t *r, const uint8_t id[CPT_ID_LEN], uint8_t author[CPT_KEY_LEN],
                  char space[CPT_HEX_ID])
{
	store_txn_t *txn;
	json_t *c, *p = NULL;
	const char *ak, *ph, *sp;
	uint8_t post[CPT_ID_LEN];
	int ok;

	if (!http_read_begin(r, &txn))
		return 0;
	c = query_comment(txn, id);
	ph = json_string_value(json_object_get(c, "post"));
	if (c && ph && cpt_unhex32(post, ph, strlen(ph)) == 0)
		p = query_post_as(txn, post, 0, r->sess.handle, index_spaces_site());
	store_read_end(r->h->st, &txn);
	if (p == NULL) {
		json_decref(c);
		c = NULL;
	}
	sp = json_string_value(json_object_get(p, "space"));
	if (space)
		snprintf(space, CPT_HEX_ID, "%s", sp ? sp : "");
	json_decref(p);
	if (c == NULL) {
		http_fail(r, 404, "no_comment", NULL, NULL, "no such comment");
		return 0;
	}
	ak = json_string_value(json_object_get(c, "author_key"));
	ok = ak && cpt_unhex32(author, ak, strlen(ak)) == 0;
	json_decref(c);
	if (!ok)
		http_error(r, 500, NULL, "the comment has no author key");
	return ok;
}

/* ------------------------------------------- editing and deleting */

static int
s_edited_post(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	return s_reply_post(r, 200, id, 1);
}

static int
s_edited_comment(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	return s_reply_comment(r, 200, id);
}

/* What an edit or a deletion is of: a post or a comment. */
struct target {
	const char *word; /* "post" or "comment", for the messages */
	/* Is it visible to the caller? Its author key and its space (hex, or
	 * ""): 1, or replied 404/500 and 0. */
	int (*need)(http_req_t *r, const uint8_t id[CPT_ID_LEN], uint8_t author[CPT_KEY_LEN],
	            char space[CPT_HEX_ID]);
	/* Replies 200 with it as edited. */
	int (*edited)(http_req_t *r, const uint8_t id[CPT_ID_LEN]);
};

static const struct target s_post_t = {"post", s_need_post_in, s_edited_post};
static const struct target s_comment_t = {"comment", s_need_comment_in, s_edited_comment};

/* An edit by its author, sealed as its space says. It names what it edits
 * in "post", a comment as well as a post (PROTOCOL.md 7.9). */
static int
s_edit(http_req_t *r, const uint8_t id[CPT_ID_LEN], const struct target *t)
{
	uint8_t author[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], space[CPT_HEX_ID] = "";
	json_t *body, *ev;
	uint16_t kind;
	ingest_res_t res;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!http_body_ok(r, API_EDIT, body) || !t->need(r, id, author, space)) {
		json_decref(body);
		return 0;
	}
	if (sodium_memcmp(author, r->sess.key, CPT_KEY_LEN) != 0) {
		json_decref(body);
		return http_fail(r, 403, "not_author", NULL, NULL, "only the author may edit a %s",
		                 t->word);
	}
	cpt_hex32(hex, id);
	ev = api_body_event(API_EDIT, body, hex, &kind);
	json_decref(body);
	ok = ev && api_space_publish(r, space[0] ? space : NULL, kind, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return t->edited(r, id);
}

/* A redaction, by its author or an admin of their site (s_may_delete). */
static int
s_delete(http_req_t *r, const uint8_t id[CPT_ID_LEN], const struct target *t)
{
	uint8_t author[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], space[CPT_HEX_ID];
	ingest_res_t res;
	json_t *ev, *files, *f;
	size_t i;
	int ok;

	if (!http_need_csrf(r) || !t->need(r, id, author, space))
		return 0;
	if (!s_may_delete(r, author))
		return http_fail(r, 403, "not_allowed", NULL, NULL,
		                 "only the author or an admin of their site may delete a %s",
		                 t->word);
	cpt_hex32(hex, id);
	ev = json_pack("{s:s}", "target", hex);
	files = s_files_of(r, id);
	ok = ev && http_publish(r, EVT_REDACT, ev, &res);
	json_decref(ev);
	if (!ok) {
		json_decref(files);
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	}
	/* Its files go with it, one redaction each (PROTOCOL.md 18.9). */
	json_array_foreach (files, i, f) {
		uint8_t fid[CPT_ID_LEN];
		if (http_parse_id(fid, json_string_value(f), json_string_length(f)) == 0)
			(void)api_files_redact_of(r, fid, author);
	}
	json_decref(files);
	return http_reply(r, 200, json_pack("{s:s}", "deleted", hex));
}

int
api_post_edit(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	return s_edit(r, id, &s_post_t);
}

int
api_post_delete(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	return s_delete(r, id, &s_post_t);
}

int
api_comment_edit(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	return s_edit(r, id, &s_comment_t);
}

int
api_comment_delete(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	return s_delete(r, id, &s_comment_t);
}

int
api_reaction_set(http_req_t *r, const uint8_t id[CPT_ID_LEN])
{
	uint8_t author[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], space[CPT_HEX_ID] = "";
	json_t *body, *ev;
	uint16_t kind;
	ingest_res_t res;
	int ok;

	if (!http_need_csrf(r) || !http_need_json(r, &body))
		return 0;
	if (!http_body_ok(r, API_REACTION, body) || !s_need_post_in(r, id, author, space)) {
		json_decref(body);
		return 0;
	}
	cpt_hex32(hex, id);
	ev = api_body_event(API_REACTION, body, hex, &kind);
	json_decref(body);
	ok = ev && api_space_publish(r, space[0] ? space : NULL, kind, ev, &res);
	json_decref(ev);
	if (!ok)
		return r->queued ? 0 : http_error(r, 500, NULL, "out of memory");
	return s_reply_post(r, 200, id, 1);
}
