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
 * store may be old). Its text is the newest edit by its own author, as for
 * a post: edits name the comment in "post" and are indexed under it. */
static json_t *
s_comment_json(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	evt_t ev;
	index_refs_t acc;
	json_t *b, *c;
	char idhex[CPT_HEX_ID], khex[CPT_HEX_ID], handle[64];

	/* A comment of a private space is sealed: its opened body. */
	if (index_event_open(txn, id, &ev, &b) != 0 || ev.kind != EVT_COMMENT || b == NULL) {
		json_decref(b);
		return NULL;
	}
	memset(&acc, 0, sizeof(acc));
	memcpy(acc.author, ev.author, CPT_KEY_LEN);
	acc.text = json_object_get(b, "text");
	if (index_refs(txn, id, &acc) != 0) {
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
	if (c)
		q_author_extra(txn, c, ev.author, handle);
	json_decref(acc.edit_body);
	json_decref(b);
	return c;
}

json_t *
query_comment(store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	assert(txn != NULL && id != NULL);
	return s_comment_json(txn, id);
}

json_t *
query_comments(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const uint8_t *before40,
               size_t limit, char next[81])
{
	uint8_t from[CPT_ID_LEN + 40], last[40];
	store_cur_t *cur;
	store_val_t k = {sizeof(from), from}, v;
	json_t *newest = json_array(), *items = NULL;
	size_t n = 0;
	int rc, more = 0;

	assert(txn != NULL && id != NULL && next != NULL);
	next[0] = 0;
	if (newest == NULL || store_cur_open(txn, DB_BY_REF, &cur) != 0) {
		json_decref(newest);
		return NULL;
	}
	/* Walk the post's references backwards from the cursor (or from the
	 * end): the first limit comments met are the page, one more says that
	 * earlier ones remain. Reactions and edits are skipped by their kind,
	 * with no load. */
	memcpy(from, id, CPT_ID_LEN);
	if (before40)
		memcpy(from + CPT_ID_LEN, before40, 40);
	else
		memset(from + CPT_ID_LEN, 0xff, 40);
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	rc = rc == 0               ? store_cur_get(cur, &k, &v, STORE_PREV)
	     : rc == CPT_ENOTFOUND ? store_cur_get(cur, &k, &v, STORE_LAST)
	                           : rc;
	while (rc == 0 && k.len == sizeof(from) && memcmp(k.data, id, CPT_ID_LEN) == 0) {
		if (store_get_kind(&v) == EVT_COMMENT) {
			json_t *c;
			if (n == limit) {
				more = 1;
				break;
			}
			if ((c = s_comment_json(txn, (uint8_t *)k.data + CPT_ID_LEN + 8)) != NULL) {
				json_array_append_new(newest, c);
				memcpy(last, (uint8_t *)k.data + CPT_ID_LEN, 40);
				n++;
			}
		}
		rc = store_cur_get(cur, &k, &v, STORE_PREV);
	}
	store_cur_close(&cur);
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
 * caller, query_post_as), from its space's feed. */
static json_t *
s_post_view(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int any)
{
	evt_t ev;
	json_t *b;
	uint8_t fk[CPT_ID_LEN + 8 + CPT_ID_LEN], space[CPT_ID_LEN];
	const char *sp;

	if (index_event_open(txn, id, &ev, &b) != 0 || ev.kind != EVT_POST || b == NULL) {
		json_decref(b);
		return NULL;
	}
	sp = json_string_value(json_object_get(b, "space"));
	if (sp == NULL) {
		json_decref(b);
		store_tsid(fk, ev.ts, id);
		return q_post_extra(txn, store_get_json(txn, DB_FEED, fk, STORE_TSID_LEN));
	}
	if (!any || cpt_unhex32(space, sp, strlen(sp)) != 0) {
		json_decref(b);
		return NULL;
	}
	json_decref(b);
	memcpy(fk, space, CPT_ID_LEN);
	store_tsid(fk + CPT_ID_LEN, ev.ts, id);
	return q_post_extra(txn, store_get_json(txn, DB_SPACE_FEED, fk, sizeof(fk)));
}

static json_t *
s_post(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int with_children, int any)
{
	json_t *post = s_post_view(txn, id, any), *list;
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
