/*
 * The feed: post views newest first, paged by (timestamp, id) cursors, with
 * what each shows of its author read now (a name changes without rewriting
 * every post).
 */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "node/query/query_internal.h"

void
q_author_extra(store_txn_t *txn, json_t *obj, const uint8_t key[CPT_KEY_LEN], const char *handle)
{
	json_t *rec = index_key_info(txn, key), *prof = NULL, *site, *name;

	if (handle && *handle)
		prof = store_get_json(txn, DB_PROFILES, handle, strlen(handle));
	site = json_object_get(rec, "site");
	name = json_object_get(json_object_get(prof, "fields"), "name");
	/* The photo of the profile's newest "photo" (PROTOCOL.md 18.3), null
	 * when none: the UI shows initials then. */
	{
		const char *ph =
		    json_string_value(json_object_get(json_object_get(prof, "fields"), "photo"));
		json_t *url = ph ? query_photo_url(txn, ph, key) : NULL;
		json_object_set_new(obj, "author_photo", url ? url : json_null());
	}
	json_object_set_new(obj, "author_site",
	                    json_is_string(site) ? json_incref(site) : json_null());
	json_object_set_new(obj, "author_name",
	                    json_is_string(name) ? json_incref(name) : json_null());
	/* A service account's posts are shown as a bot's (its enrolment's role). */
	json_object_set_new(
	    obj, "author_bot",
	    json_boolean(json_string_value(json_object_get(rec, "role")) &&
	                 strcmp(json_string_value(json_object_get(rec, "role")), "bot") == 0));
	json_decref(rec);
	json_decref(prof);
}

void
q_author_site(store_txn_t *txn, json_t *obj, const uint8_t key[CPT_KEY_LEN])
{
	json_t *rec = index_key_info(txn, key), *site = json_object_get(rec, "site");

	json_object_set_new(obj, "author_site",
	                    json_is_string(site) ? json_incref(site) : json_null());
	json_decref(rec);
}

json_t *
q_post_extra_as(store_txn_t *txn, json_t *post, int lean)
{
	uint8_t key[CPT_KEY_LEN];
	const char *hex = json_string_value(json_object_get(post, "author_key"));

	if (post && hex && cpt_unhex32(key, hex, strlen(hex)) == 0 && lean) {
		q_author_site(txn, post, key);
	} else if (post && hex && cpt_unhex32(key, hex, strlen(hex)) == 0) {
		const char *idh = json_string_value(json_object_get(post, "id"));
		uint8_t id[CPT_ID_LEN];
		evt_t ev;
		json_t *body = NULL;
		q_author_extra(txn, post, key, json_string_value(json_object_get(post, "author")));
		/* Its files, read now: a file event that arrives after its post
		 * shows when it comes (a view is a function of the event set). */
		if (idh && cpt_unhex32(id, idh, strlen(idh)) == 0 &&
		    index_event_open(txn, id, &ev, &body) == 0 && body != NULL &&
		    json_object_get(body, "files") != NULL)
			json_object_set_new(
			    post, "files",
			    query_files_view(txn, json_object_get(body, "files"), key));
		json_decref(body);
	}
	return post;
}

json_t *
q_post_extra(store_txn_t *txn, json_t *post)
{
	return q_post_extra_as(txn, post, 0);
}

json_t *
query_feed(store_txn_t *txn, const uint8_t *before40, size_t limit, char next[81])
{
	store_cur_t *cur;
	store_val_t k, v;
	json_t *items = json_array();
	uint8_t last[40];
	size_t n = 0;
	int rc;

	assert(txn != NULL && next != NULL);
	next[0] = 0;
	if (store_cur_open(txn, DB_FEED, &cur) != 0)
		return items;
	if (before40) {
		k.len = 40;
		k.data = (void *)before40;
		rc = store_cur_get(cur, &k, &v, STORE_SEEK);
		/* Start strictly before the cursor. */
		rc = rc == 0 ? store_cur_get(cur, &k, &v, STORE_PREV)
		             : store_cur_get(cur, &k, &v, STORE_LAST);
	} else {
		rc = store_cur_get(cur, &k, &v, STORE_LAST);
	}
	while (rc == 0 && n < limit) {
		json_t *p;
		if (k.len == 40 && (p = json_loadb(v.data, v.len, 0, NULL)) != NULL) {
			json_array_append_new(items, q_post_extra(txn, p));
			n++;
			memcpy(last, k.data, 40);
		}
		rc = store_cur_get(cur, &k, &v, STORE_PREV);
	}
	if (rc == 0 && n == limit)
		sodium_bin2hex(next, 81, last, 40);
	store_cur_close(&cur);
	return items;
}
