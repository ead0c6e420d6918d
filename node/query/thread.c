/*
 * A post with its thread: the post's view, its comments paged backwards
 * from a cursor (reactions and edits skipped by their kind, with no load),
 * a comment with the newest edit of its text, and what the caller reacted.
 */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "node/query/query_internal.h"

/* One comment as the API lists it, or NULL when it cannot be shown (not a
 * comment, gone, erased: erased comments have no DB_BY_REF entry, but a
 * store may be old; or not counted by PROTOCOL.md 16.9 on its post, whose
 * place index_post_space gave: where, space). Its text is the newest edit by
 * its own author, as for a post: edits name the comment in "post" and are
 * indexed under it, and in a space count as the comment does. Lean: nothing
 * of its author but "author" and "author_key", and no files. */
static json_t *
s_comment_json(index_ctx_t *ix, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int where,
               const uint8_t space[CPT_ID_LEN], int lean)
{
	evt_t ev;
	index_refs_t acc;
	json_t *b, *c;
	char idhex[CPT_HEX_ID], khex[CPT_HEX_ID], handle[64];

	/* A comment of a private space is sealed: its opened body. */
	if (index_event_open(txn, id, &ev, &b) != 0 || ev.kind != EVT_COMMENT || b == NULL ||
	    where == 2 || (where == 1 && !index_space_ref_in(ix, txn, space, &ev, id, b))) {
		json_decref(b);
		return NULL;
	}
	memset(&acc, 0, sizeof(acc));
	memcpy(acc.author, ev.author, CPT_KEY_LEN);
	acc.text = json_object_get(b, "text");
	acc.space = where == 1 ? space : NULL;
	if (index_refs_in(ix, txn, id, &acc) != 0) {
		json_decref(acc.edit_body);
		json_decref(b);
		return NULL;
	}
	cpt_hex32(idhex, id);
	cpt_hex32(khex, ev.author);
	if (index_handle_of(txn, ev.author, handle) != 0)
		handle[0] = 0;
	c = json_pack("{s:s, s:O, s:s, s:s, s:O, s:I, s:o}", "id", idhex, "post",
	              json_object_get(b, "post"), "author", handle, "author_key", khex, "text",
	              acc.text, "created", (json_int_t)HLC_MS(ev.ts), "edited",
	              acc.edit_body ? json_integer((json_int_t)HLC_MS(acc.edit_ts)) : json_null());
	if (c && !lean)
		q_author_extra(txn, c, ev.author, handle);
	if (c && !lean && json_object_get(b, "files") != NULL)
		json_object_set_new(c, "files",
		                    query_files_view(txn, json_object_get(b, "files"), ev.author));
	json_decref(acc.edit_body);
	json_decref(b);
	return c;
}

static json_t *
s_comment(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int lean)
{
	index_ctx_t ix = {0};
	evt_t ev;
	json_t *b = NULL, *c = NULL;
	uint8_t post[CPT_ID_LEN], space[CPT_ID_LEN];
	const char *ph;
	int where;

	assert(txn != NULL && id != NULL);
	/* Its post's place first: the comment counts by it (16.9). */
	if (index_event_open(txn, id, &ev, &b) != 0 || b == NULL ||
	    (ph = json_string_value(json_object_get(b, "post"))) == NULL ||
	    cpt_unhex32(post, ph, strlen(ph)) != 0) {
		json_decref(b);
		return NULL;
	}
	json_decref(b);
	if ((where = index_post_space(&ix, txn, post, space)) >= 0)
		c = s_comment_json(&ix, txn, id, where, space, lean);
	index_ctx_release(&ix);
	return c;
}

json_t *
query_comment(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	return s_comment(txn, id, 0);
}

json_t *
query_comment_lean(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	return s_comment(txn, id, 1);
}

json_t *
query_comments(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const uint8_t *before40,
               size_t limit, char next[81])
{
	uint8_t from[8 + 40], last[40];
	store_cur_t *cur;
	store_val_t k = {sizeof(from), from}, v;
	json_t *newest = json_array(), *items = NULL;
	size_t n = 0;
	int rc, more = 0, where;
	index_ctx_t ix = {0};
	uint8_t space[CPT_ID_LEN];

	assert(txn != NULL && id != NULL && next != NULL);
	next[0] = 0;
	/* Which comments count on the post (PROTOCOL.md 16.9): the thread
	 * lists those its count counts. */
	if (newest == NULL || (where = index_post_space(&ix, txn, id, space)) < 0) {
		index_ctx_release(&ix);
		json_decref(newest);
		return NULL;
	}
	/* DB_BY_REF is under the post's reference number (schema 13): none,
	 * nothing refers to it. */
	rc = index_ref_num(txn, id, 0, from);
	if (rc == CPT_ENOTFOUND) {
		index_ctx_release(&ix);
		json_decref(newest);
		return json_array();
	}
	if (rc != 0 || store_cur_open(txn, DB_BY_REF, &cur) != 0) {
		index_ctx_release(&ix);
		json_decref(newest);
		return NULL;
	}
	/* Walk the post's references backwards from the cursor (or from the
	 * end): the first limit comments met are the page, one more says that
	 * earlier ones remain. Reactions and edits are skipped by their kind,
	 * with no load. */
	if (before40)
		memcpy(from + 8, before40, 40);
	else
		memset(from + 8, 0xff, 40);
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	rc = rc == 0               ? store_cur_get(cur, &k, &v, STORE_PREV)
	     : rc == CPT_ENOTFOUND ? store_cur_get(cur, &k, &v, STORE_LAST)
	                           : rc;
	while (rc == 0 && k.len == sizeof(from) && memcmp(k.data, from, 8) == 0) {
		if (store_get_kind(&v) == EVT_COMMENT) {
			json_t *c;
			if (n == limit) {
				more = 1;
				break;
			}
			c = s_comment_json(&ix, txn, (uint8_t *)k.data + 8 + 8, where, space, 0);
			if (c != NULL) {
				json_array_append_new(newest, c);
				memcpy(last, (uint8_t *)k.data + 8, 40);
				n++;
			}
		}
		rc = store_cur_get(cur, &k, &v, STORE_PREV);
	}
	store_cur_close(&cur);
	index_ctx_release(&ix);
	if (rc != 0 && rc != CPT_ENOTFOUND) {
		json_decref(newest);
		return NULL;
	}
	/* Oldest first, as a thread reads. */
	if ((items = json_array()) != NULL)
		for (size_t i = json_array_size(newest); i-- > 0;)
			json_array_append(items, json_array_get(newest, i));
	json_decref(newest);
	if (items && more)
		sodium_bin2hex(next, 81, last, sizeof(last));
	return items;
}

/* The view of post id: its feed entry, found by the event's timestamp;
 * a post of a space only when any is set (its reader checked by the
 * caller, query_post_as), from its space's feed. Lean: nothing of its
 * author but "author" and "author_key", and no files. */
static json_t *
s_post_view(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int any, int lean)
{
	evt_t ev;
	json_t *b;
	uint8_t fk[CPT_ID_LEN + 8 + CPT_ID_LEN], space[CPT_ID_LEN];
	const char *sp;
	store_val_t v;

	/* A company-wide post has its view in DB_FEED (never in a space's):
	 * found by the header alone, its body is parsed once, for the view. */
	if (index_event(txn, id, &ev) == 0 && ev.kind == EVT_POST && ev.body != NULL) {
		store_tsid(fk, ev.ts, id);
		if (store_get(txn, DB_FEED, fk, STORE_TSID_LEN, &v) == 0)
			return q_post_extra_as(txn, index_view_json(txn, NULL, fk, &v, NULL), lean);
	}
	if (index_event_open(txn, id, &ev, &b) != 0 || ev.kind != EVT_POST || b == NULL) {
		json_decref(b);
		return NULL;
	}
	sp = json_string_value(json_object_get(b, "space"));
	if (sp == NULL) {
		json_decref(b);
		store_tsid(fk, ev.ts, id);
		return q_post_extra_as(txn, index_view_get(txn, NULL, fk), lean);
	}
	if (!any || cpt_unhex32(space, sp, strlen(sp)) != 0) {
		json_decref(b);
		return NULL;
	}
	json_decref(b);
	store_tsid(fk, ev.ts, id);
	return q_post_extra_as(txn, index_view_get(txn, space, fk), lean);
}

static json_t *
s_post(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int with_children, int any)
{
	json_t *post = s_post_view(txn, id, any, 0), *list;
	char before[81];

	assert(txn != NULL && id != NULL);
	if (post == NULL || !with_children)
		return post;
	/* The newest comments only: a thread of 10,000 took 130 ms and 1.4 MB
	 * per answer (and each reaction on it answers with the post). */
	if ((list = query_comments(txn, id, NULL, QUERY_COMMENTS_PAGE, before)) == NULL) {
		json_decref(post);
		return NULL;
	}
	json_object_set_new(post, "comment_list", list);
	json_object_set_new(post, "comments_before", before[0] ? json_string(before) : json_null());
	return post;
}

json_t *
query_post_any(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int with_children)
{
	return s_post(txn, id, with_children, 1);
}

json_t *
query_post_lean(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	assert(txn != NULL && id != NULL);
	return s_post_view(txn, id, 1, 1);
}

json_t *
query_post(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int with_children)
{
	return s_post(txn, id, with_children, 0);
}

json_t *
query_post_for(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const uint8_t viewer[CPT_KEY_LEN])
{
	return query_post_for_as(txn, id, viewer, NULL, NULL);
}

json_t *
query_post_for_as(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const uint8_t viewer[CPT_KEY_LEN],
                  const char *handle, const char *site)
{
	json_t *p = handle ? query_post_as(txn, id, 1, handle, site) : query_post(txn, id, 1),
	       *mine = json_array();

	/* A store error here shows as an error, not as "no reactions". */
	if (p && (mine == NULL || index_reactions_of(txn, id, viewer, mine) != 0 ||
	          json_object_set(p, "my_reactions", mine) != 0)) {
		json_decref(p);
		p = NULL;
	}
	json_decref(mine);
	return p;
}

/* DB_BY_AUTHOR is author(32) ts(8) id(32) -> kind(2), walked backwards
 * from the author's end. */
json_t *
query_posts_of(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], size_t max)
{
	uint8_t end[CPT_KEY_LEN + 8 + CPT_ID_LEN];
	store_cur_t *cur;
	store_val_t k, v;
	json_t *out = json_array();
	int rc;

	if (out == NULL || store_cur_open(txn, DB_BY_AUTHOR, &cur) != 0)
		return out;
	memcpy(end, key, CPT_KEY_LEN);
	memset(end + CPT_KEY_LEN, 0xff, sizeof(end) - CPT_KEY_LEN);
	k.len = sizeof(end);
	k.data = end;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	rc = rc == 0 ? store_cur_get(cur, &k, &v, STORE_PREV)
	             : store_cur_get(cur, &k, &v, STORE_LAST);
	for (; rc == 0 && json_array_size(out) < max; rc = store_cur_get(cur, &k, &v, STORE_PREV)) {
		const uint8_t *kp = k.data;
		json_t *p;
		if (k.len != sizeof(end) || memcmp(kp, key, CPT_KEY_LEN) != 0)
			break;
		if (store_get_kind(&v) != EVT_POST)
			continue;
		if ((p = query_post(txn, kp + CPT_KEY_LEN + 8, 0)) != NULL)
			json_array_append_new(out, p);
	}
	store_cur_close(&cur);
	return out;
}
