/*
 * The feed: post views newest first, paged by (timestamp, id) cursors, with
 * what each shows of its author read now (a name changes without rewriting
 * every post).
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

json_t *
q_post_extra_as(store_txn_t *txn, json_t *post, int lean)
{
	uint8_t key[CPT_KEY_LEN];
	const char *hex = json_string_value(json_object_get(post, "author_key"));

	if (post && hex && !lean && cpt_unhex32(key, hex, strlen(hex)) == 0) {
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

/* ------------------------------------------------- views as text */

void
query_text_add(query_text_t *t, const void *s, size_t n)
{
	if (t->oom)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t nc = t->cap ? t->cap : 4096;
		char *np;
		while (nc < t->len + n + 1)
			nc *= 2;
		if ((np = realloc(t->p, nc)) == NULL) {
			t->oom = 1;
			return;
		}
		t->p = np;
		t->cap = nc;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = 0;
}

static int
s_text_dump_cb(const char *buf, size_t n, void *arg)
{
	query_text_add(arg, buf, n);
	return ((query_text_t *)arg)->oom ? -1 : 0;
}

void
query_text_json(query_text_t *t, const json_t *j)
{
	if (j == NULL ||
	    json_dump_callback(j, s_text_dump_cb, t, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
		t->oom = 1;
}

void
query_text_free(query_text_t *t)
{
	free(t->p);
	memset(t, 0, sizeof(*t));
}

/*
 * What q_author_extra adds, as text, kept between reads: parsing the key
 * record and the profile of each post's author was a third of a feed read.
 * Everything it reads is in the store, so the texts are true while the
 * store's sequence (bumped by every commit) is the one they were made at:
 * the first read after a commit empties them. Shared by the HTTP threads.
 */
#define Q_AUTHORS 512

static struct {
	pthread_mutex_t lock;
	const store_t *st; /* the store they were read from */
	uint64_t seq;      /* at this commit */
	struct q_author {
		int used;                 /* holds key's text */
		uint8_t key[CPT_KEY_LEN]; /* the author's key */
		char handle[64];          /* and handle, as the view names it */
		char *text;               /* ",\"author_photo\":...": malloc'd */
		size_t len;               /* its length */
	} e[Q_AUTHORS];
} A = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
s_authors_clear(void)
{
	for (int i = 0; i < Q_AUTHORS; i++) {
		free(A.e[i].text);
		A.e[i].text = NULL;
		A.e[i].used = 0;
	}
}

static void
s_author_text(store_txn_t *txn, query_text_t *out, const uint8_t key[CPT_KEY_LEN],
              const char *handle)
{
	const store_t *st = store_of(txn);
	uint64_t seq = store_seq(txn);
	struct q_author *e = &A.e[(unsigned)(key[0] | key[1] << 8) % Q_AUTHORS];
	query_text_t t = {0};
	json_t *o;

	pthread_mutex_lock(&A.lock);
	if (A.st != st || A.seq != seq) {
		s_authors_clear();
		A.st = st;
		A.seq = seq;
	}
	if (e->used && memcmp(e->key, key, CPT_KEY_LEN) == 0 && strcmp(e->handle, handle) == 0) {
		query_text_add(out, e->text, e->len);
		pthread_mutex_unlock(&A.lock);
		return;
	}
	pthread_mutex_unlock(&A.lock);
	if ((o = json_object()) == NULL) {
		out->oom = 1;
		return;
	}
	q_author_extra(txn, o, key, handle);
	query_text_json(&t, o);
	json_decref(o);
	/* "{...}" → ",..." (q_author_extra always sets its four members). */
	if (t.oom || t.len < 2) {
		out->oom = 1;
		query_text_free(&t);
		return;
	}
	t.p[0] = ',';
	t.len--;
	query_text_add(out, t.p, t.len);
	pthread_mutex_lock(&A.lock);
	if (A.st == st && A.seq == seq && strlen(handle) < sizeof(e->handle)) {
		free(e->text);
		e->used = 1;
		memcpy(e->key, key, CPT_KEY_LEN);
		snprintf(e->handle, sizeof(e->handle), "%s", handle);
		e->text = t.p; /* taken */
		e->len = t.len;
		t.p = NULL;
	}
	pthread_mutex_unlock(&A.lock);
	query_text_free(&t);
}

/* The "files" member of post id by author key, when its body names files
 * (q_post_extra's rule). A clear body whose bytes hold neither "files" nor
 * a \u escape (the only way to spell a key's letters otherwise) has no such
 * member: its body is not parsed. */
static void
s_files_text(store_txn_t *txn, query_text_t *out, const uint8_t id[CPT_ID_LEN],
             const uint8_t key[CPT_KEY_LEN])
{
	evt_t ev;
	json_t *body = NULL, *f;

	if (index_event(txn, id, &ev) != 0)
		return;
	if (ev.kind == EVT_POST && ev.body != NULL &&
	    memmem(ev.body, ev.body_len, "files", 5) == NULL &&
	    memmem(ev.body, ev.body_len, "\\u", 2) == NULL)
		return;
	if (index_event_open(txn, id, &ev, &body) == 0 && body != NULL &&
	    json_object_get(body, "files") != NULL &&
	    (f = query_files_view(txn, json_object_get(body, "files"), key)) != NULL) {
		query_text_add(out, ",\"files\":", 9);
		query_text_json(out, f);
		json_decref(f);
	}
	json_decref(body);
}

int
q_view_text(store_txn_t *txn, query_text_t *out, const uint8_t *space,
            const uint8_t tsid[STORE_TSID_LEN], const store_val_t *v, const json_t *label,
            int comma)
{
	uint8_t key[CPT_KEY_LEN];
	char handle[64], *s;
	size_t len = 0;
	int files = 1;

	if ((s = index_view_text(txn, space, tsid, v, &len, key, handle, &files)) == NULL)
		return 0;
	if (comma)
		query_text_add(out, ",", 1);
	/* The view's members in their order, then what is added in
	 * q_post_extra's order after the label, which s_src_view sets first:
	 * the author's part is kept between reads (s_author_text). */
	if (len > 0)
		query_text_add(out, s, len - 1); /* without its closing brace */
	free(s);
	if (label) {
		query_text_add(out, ",\"space_name\":", 14);
		query_text_json(out, label);
	}
	s_author_text(txn, out, key, handle);
	if (files)
		s_files_text(txn, out, tsid + 8, key);
	query_text_add(out, "}", 1);
	return 1;
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
		if (k.len == 40 && (p = index_view_json(txn, NULL, k.data, &v, NULL)) != NULL) {
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
