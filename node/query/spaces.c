/*
 * Spaces as people see them (PROTOCOL.md 16.9): who may see a space and
 * read its content, a space and the list of spaces, a space's feed, the
 * main feed (company-wide posts and the posts of one's spaces, newest
 * first, each labelled), a person's spaces and figures per space. A private
 * space is answered to anyone else as if it did not exist.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/query/query_internal.h"
#include "node/space/space.h"

/* ----------------------------------------------------------- access */

/* The site space of site, as the API shows it (no event makes it). */
static json_t *
s_site_space_json(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *site)
{
	json_t *rec = store_get_json(txn, DB_SITE_SEALS, site, strlen(site));
	const char *title = json_string_value(json_object_get(rec, "title"));
	char hex[CPT_HEX_ID];
	json_t *j;

	cpt_hex32(hex, space);
	j = json_pack("{s:s, s:b, s:s, s:s, s:s, s:b, s:s, s:n, s:n, s:I, s:[], s:[]}", "id", hex,
	              "exists", 1, "site", site, "visibility", "private", "join", "site",
	              "archived", 0, "name", title ? title : site, "description", "creator",
	              "created", (json_int_t)0, "members", "pending");
	json_decref(rec);
	return j;
}

/* The stored state of space, or the site space's when it is the viewer's
 * site's (*site_space set). NULL when there is no such space. */
static json_t *
s_state(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *site, int *site_space)
{
	uint8_t mine[CPT_ID_LEN];

	*site_space = 0;
	if (site && *site) {
		index_site_space(mine, site);
		if (memcmp(mine, space, CPT_ID_LEN) == 0) {
			*site_space = 1;
			return s_site_space_json(txn, space, site);
		}
	}
	return index_space_get(txn, space);
}

/* The role of handle in state s ("member", "admin", "owner"), or NULL. */
static const char *
s_role_in(const json_t *s, const char *handle)
{
	json_t *m;
	size_t i;

	json_array_foreach (json_object_get(s, "members"), i, m) {
		const char *h = json_string_value(json_object_get(m, "handle"));
		if (h && strcmp(h, handle) == 0)
			return json_string_value(json_object_get(m, "role"));
	}
	return NULL;
}

/* handle's invitation or request in s: "invited", "requested" or NULL. */
static const char *
s_pending_in(const json_t *s, const char *handle)
{
	json_t *p;
	size_t i;

	json_array_foreach (json_object_get(s, "pending"), i, p) {
		const char *h = json_string_value(json_object_get(p, "handle"));
		if (h && strcmp(h, handle) == 0)
			return json_is_true(json_object_get(p, "invited")) ? "invited"
			                                                   : "requested";
	}
	return NULL;
}

/* 2: the viewer reads the space's content; 1: sees the space only (an
 * invitee of a private space, or a requester); 0: nothing. */
static int
s_access(const json_t *s, int site_space, const char *handle)
{
	if (s == NULL || !json_is_true(json_object_get(s, "exists")))
		return 0;
	if (site_space)
		return 2;
	if (json_object_get(s, "site") && !json_is_null(json_object_get(s, "site")))
		return 0; /* another site's space */
	if (strcmp(json_string_value(json_object_get(s, "visibility")) ?: "", "open") == 0)
		return 2;
	if (s_role_in(s, handle))
		return 2;
	return s_pending_in(s, handle) ? 1 : 0;
}

int
query_space_readable(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *handle,
                     const char *site)
{
	int ss, a;
	json_t *s = s_state(txn, space, site, &ss);

	a = s_access(s, ss, handle);
	json_decref(s);
	return a == 2;
}

/* The state as a viewer is shown it: what only this site's duties need goes,
 * and members and requests only to those who may see them. */
static json_t *
s_shown(store_txn_t *txn, json_t *s, int access, const char *handle)
{
	const char *role = s_role_in(s, handle), *pend = s_pending_in(s, handle);
	const char *join = json_string_value(json_object_get(s, "join"));
	int admin;
	json_t *pending = json_array(), *p;
	size_t i;

	/* A site space's members are its staff: whoever reads it here. */
	if (role == NULL && access == 2 && join && strcmp(join, "site") == 0)
		role = "member";
	admin = role && strcmp(role, "member") != 0;

	json_object_del(s, "duties");
	/* How many key periods: key events are in clear everywhere (16.12). */
	json_object_set_new(s, "key_periods",
	                    json_integer((json_int_t)json_array_size(json_object_get(s, "keys"))));
	json_object_del(s, "keys");
	json_object_del(s, "write_key");
	json_object_del(s, "epoch_due");
	json_object_del(s, "epoch_by");
	json_object_set_new(s, "my_role", role ? json_string(role) : json_null());
	json_object_set_new(s, "my_pending", pend ? json_string(pend) : json_null());
	json_object_set_new(s, "readable", json_boolean(access == 2));
	json_object_set_new(
	    s, "member_count",
	    json_integer((json_int_t)json_array_size(json_object_get(s, "members"))));
	json_array_foreach (json_object_get(s, "pending"), i, p) {
		const char *h = json_string_value(json_object_get(p, "handle"));
		if (admin || (h && strcmp(h, handle) == 0))
			json_array_append(pending, p);
	}
	json_object_set_new(s, "pending", pending);
	if (access != 2)
		json_object_set_new(s, "members", json_array());
	/* Its cover, to those who read the space (a private one's is sealed
	 * in it: served to its members only). */
	{
		json_t *c = access == 2
		                ? query_cover(txn, json_string_value(json_object_get(s, "cover")),
		                              json_string_value(json_object_get(s, "cover_by")))
		                : NULL;
		json_t *id = json_object_get(s, "cover");
		if (access == 2 && json_is_string(id))
			json_object_set(s, "cover_id", id);
		json_object_set_new(s, "cover", c ? c : json_null());
		json_object_del(s, "cover_by");
	}
	return s;
}

json_t *
query_space(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *handle, const char *site)
{
	int ss, a;
	json_t *s;

	assert(txn != NULL && space != NULL && handle != NULL);
	s = s_state(txn, space, site, &ss);
	if ((a = s_access(s, ss, handle)) == 0) {
		json_decref(s);
		return NULL;
	}
	return s_shown(txn, s, a, handle);
}

json_t *
query_spaces(store_txn_t *txn, const char *handle, const char *site, const char *q, int mine)
{
	store_cur_t *cur;
	store_val_t k, v;
	json_t *out = json_array();
	char fq[256] = "";
	int rc;

	assert(txn != NULL && handle != NULL);
	if (out == NULL)
		return NULL;
	if (q)
		query_fold(q, fq, sizeof(fq));
	if (site && *site) {
		uint8_t ss[CPT_ID_LEN];
		json_t *s;
		index_site_space(ss, site);
		if ((s = s_site_space_json(txn, ss, site)) != NULL) {
			char fn[256];
			query_fold(json_string_value(json_object_get(s, "name")) ?: "", fn,
			           sizeof(fn));
			if (!fq[0] || strstr(fn, fq))
				json_array_append_new(out, s_shown(txn, s, 2, handle));
			else
				json_decref(s);
		}
	}
	if (store_cur_open(txn, DB_SPACES, &cur) != 0)
		return out;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		json_t *s = json_loadb(v.data, v.len, 0, NULL);
		int a = s_access(s, 0, handle);
		const char *name = json_string_value(json_object_get(s, "name"));
		char fn[256];
		if (a == 0 || (mine && !s_role_in(s, handle) && !s_pending_in(s, handle))) {
			json_decref(s);
			continue;
		}
		query_fold(name ? name : "", fn, sizeof(fn));
		if (fq[0] && !strstr(fn, fq)) {
			json_decref(s);
			continue;
		}
		json_array_append_new(out, s_shown(txn, s, a, handle));
	}
	store_cur_close(&cur);
	return out;
}

json_t *
query_person_spaces(store_txn_t *txn, const char *handle, const char *viewer,
                    const char *viewer_site)
{
	uint8_t(*ids)[CPT_ID_LEN] = malloc(512 * CPT_ID_LEN);
	size_t n = 0;
	json_t *out = json_array();

	if (ids == NULL || out == NULL ||
	    index_my_spaces(txn, handle, ids, NULL, NULL, 512, &n) != 0) {
		free(ids);
		return out;
	}
	/* Open ones, and private ones the viewer shares (16.9). */
	for (size_t i = 0; i < n; i++) {
		json_t *s = query_space(txn, ids[i], viewer, viewer_site);
		if (s && json_is_true(json_object_get(s, "readable")))
			json_array_append_new(
			    out, json_pack("{s:O, s:O, s:O, s:s?}", "id", json_object_get(s, "id"),
			                   "name", json_object_get(s, "name"), "visibility",
			                   json_object_get(s, "visibility"), "role",
			                   s_role_in(s, handle)));
		json_decref(s);
	}
	free(ids);
	return out;
}

/* ------------------------------------------------------------ feeds */

/* One source of a merged feed: DB_FEED, or one space's DB_SPACE_FEED. */
struct s_src {
	enum store_db db;
	uint8_t space[CPT_ID_LEN]; /* the space (DB_SPACE_FEED) */
	store_cur_t *cur;
	int valid;        /* cur is on an entry of this source */
	uint8_t at[40];   /* its (ts, id) */
	store_val_t val;  /* its value */
	json_t *name;     /* the space's label, or NULL */
	int named;        /* name was looked up */
	const char *site; /* the reader's site (a site space's label), borrowed */
};

static size_t
s_plen(const struct s_src *s)
{
	return s->db == DB_SPACE_FEED ? CPT_ID_LEN : 0;
}

static void
s_src_take(struct s_src *s, int rc, const store_val_t *k, const store_val_t *v)
{
	size_t p = s_plen(s);

	s->valid = rc == 0 && k->len == p + 40 && memcmp(k->data, s->space, p) == 0;
	if (s->valid) {
		memcpy(s->at, (const uint8_t *)k->data + p, 40);
		s->val = *v; /* a read transaction: valid until it ends */
	}
}

/* Puts the source on its newest entry strictly before before40 (or its
 * newest one). */
static void
s_src_start(store_txn_t *txn, struct s_src *s, const uint8_t *before40)
{
	uint8_t key[CPT_ID_LEN + 40];
	size_t p = s_plen(s);
	store_val_t k = {p + 40, key}, v = {0, NULL};
	int rc;

	s->valid = 0;
	if (store_cur_open(txn, s->db, &s->cur) != 0)
		return;
	memcpy(key, s->space, p);
	if (before40)
		memcpy(key + p, before40, 40);
	else
		memset(key + p, 0xff, 40);
	rc = store_cur_get(s->cur, &k, &v, STORE_SEEK);
	rc = rc == 0 ? store_cur_get(s->cur, &k, &v, STORE_PREV)
	             : store_cur_get(s->cur, &k, &v, STORE_LAST);
	s_src_take(s, rc, &k, &v);
}

static void
s_src_prev(struct s_src *s)
{
	store_val_t k, v = {0, NULL};
	int rc = store_cur_get(s->cur, &k, &v, STORE_PREV);

	s_src_take(s, rc, &k, &v);
}

static json_t *s_label(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *site);

/* The view under the source's cursor, labelled with its space. The label
 * is read the first time a source gives a post of the page: a reader in 200
 * spaces gets 20 posts from a few of them, and reading 200 states for 20
 * labels cost 18 ms a page (docs/BENCHMARKS.md). */
static json_t *
s_src_view(store_txn_t *txn, struct s_src *s)
{
	json_t *p =
	    index_view_json(txn, s->db == DB_SPACE_FEED ? s->space : NULL, s->at, &s->val, NULL);

	if (p && s->db == DB_SPACE_FEED && !s->named) {
		s->name = s_label(txn, s->space, s->site);
		s->named = 1;
	}
	if (p && s->name)
		json_object_set(p, "space_name", s->name);
	return p;
}

/* The view under the source's cursor appended to out as text (q_view_text),
 * labelled as s_src_view labels it. 1 when appended. */
static int
s_src_text(store_txn_t *txn, struct s_src *s, query_text_t *out, int comma)
{
	if (s->db == DB_SPACE_FEED && !s->named) {
		s->name = s_label(txn, s->space, s->site);
		s->named = 1;
	}
	return q_view_text(txn, out, s->db == DB_SPACE_FEED ? s->space : NULL, s->at, &s->val,
	                   s->name, comma);
}

/* Newest first over the sources, before the cursor, up to limit: an array
 * of views, or with out (then NULL is returned) their text appended. */
static json_t *
s_merge(store_txn_t *txn, struct s_src *src, size_t ns, const uint8_t *before40, size_t limit,
        char next[81], query_text_t *out)
{
	json_t *items = out ? NULL : json_array();
	uint8_t last[40];
	size_t n = 0;

	next[0] = 0;
	for (size_t i = 0; i < ns; i++)
		s_src_start(txn, &src[i], before40);
	if (out)
		query_text_add(out, "[", 1);
	while ((items || out) && n < limit) {
		struct s_src *best = NULL;
		json_t *p = NULL;
		int got;
		for (size_t i = 0; i < ns; i++)
			if (src[i].valid && (best == NULL || memcmp(src[i].at, best->at, 40) > 0))
				best = &src[i];
		if (best == NULL)
			break;
		if (out)
			got = s_src_text(txn, best, out, n > 0);
		else
			got = (p = s_src_view(txn, best)) != NULL;
		memcpy(last, best->at, 40);
		s_src_prev(best);
		if (!got)
			continue;
		if (p)
			json_array_append_new(items, q_post_extra(txn, p));
		n++;
	}
	if (out)
		query_text_add(out, "]", 1);
	if (n == limit) {
		/* More when some source still has an entry. */
		for (size_t i = 0; i < ns; i++)
			if (src[i].valid) {
				sodium_bin2hex(next, 81, last, 40);
				break;
			}
	}
	for (size_t i = 0; i < ns; i++)
		store_cur_close(&src[i].cur);
	return items;
}

/* The label of a space's posts: its name, or for a site space its site's
 * title. A new reference or NULL. */
static json_t *
s_label(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *site)
{
	int ss;
	json_t *s = s_state(txn, space, site, &ss), *name;

	name = json_incref(json_object_get(s, "name"));
	json_decref(s);
	return name;
}

json_t *
query_space_feed(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *site,
                 const uint8_t *before40, size_t limit, char next[81])
{
	struct s_src src = {.db = DB_SPACE_FEED};
	json_t *items;

	assert(txn != NULL && space != NULL && next != NULL);
	memcpy(src.space, space, CPT_ID_LEN);
	src.site = site;
	items = s_merge(txn, &src, 1, before40, limit, next, NULL);
	json_decref(src.name);
	return items;
}

/* The space feed of handle into items or out (s_merge); -1 when they may
 * not read it. */
static int
s_space_feed_as(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *handle,
                const char *site, const uint8_t *before40, size_t limit, char next[81],
                json_t **items, query_text_t *out)
{
	struct s_src src = {.db = DB_SPACE_FEED};
	char name[SPACE_NAME_MAX + 1];
	json_t *s;
	int ss;

	assert(txn != NULL && space != NULL && handle != NULL && next != NULL);
	next[0] = 0;
	*items = NULL;
	memcpy(src.space, space, CPT_ID_LEN);
	src.site = site;
	src.named = 1;
	if (index_my_space(txn, handle, space, name) == 1) {
		/* A member reads it: labelled from the list, as the main feed. */
		src.name = name[0] ? json_string(name) : NULL;
	} else {
		/* Anyone else: the state, once, for both access and label. */
		s = s_state(txn, space, site, &ss);
		if (s_access(s, ss, handle) != 2) {
			json_decref(s);
			return -1;
		}
		src.name = json_incref(json_object_get(s, "name"));
		json_decref(s);
	}
	*items = s_merge(txn, &src, 1, before40, limit, next, out);
	json_decref(src.name);
	return 0;
}

json_t *
query_space_feed_as(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *handle,
                    const char *site, const uint8_t *before40, size_t limit, char next[81])
{
	json_t *items;

	if (s_space_feed_as(txn, space, handle, site, before40, limit, next, &items, NULL) != 0)
		return NULL;
	return items;
}

int
query_space_feed_as_text(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *handle,
                         const char *site, const uint8_t *before40, size_t limit, char next[81],
                         query_text_t *out)
{
	json_t *items;

	assert(out != NULL);
	if (s_space_feed_as(txn, space, handle, site, before40, limit, next, &items, out) != 0)
		return CPT_ENOTFOUND;
	return out->oom ? CPT_ENOMEM : 0;
}

#define QUERY_MAX_SPACES 256

static json_t *
s_main_feed(store_txn_t *txn, const char *handle, const char *site, const uint8_t *before40,
            size_t limit, char next[81], query_text_t *out)
{
	uint8_t(*ids)[CPT_ID_LEN] = malloc(QUERY_MAX_SPACES * CPT_ID_LEN);
	char(*names)[SPACE_NAME_MAX + 1] = malloc(QUERY_MAX_SPACES * (SPACE_NAME_MAX + 1));
	struct s_src *src = calloc(QUERY_MAX_SPACES + 2, sizeof(*src));
	size_t n = 0, ns = 0;
	json_t *items = NULL;

	assert(txn != NULL && handle != NULL && next != NULL);
	next[0] = 0;
	if (ids == NULL || names == NULL || src == NULL ||
	    index_my_spaces(txn, handle, ids, NULL, names, QUERY_MAX_SPACES, &n) != 0)
		goto out;
	src[ns++].db = DB_FEED;
	if (site && *site) {
		src[ns].db = DB_SPACE_FEED;
		index_site_space(src[ns].space, site);
		src[ns].site = site;
		ns++;
	}
	for (size_t i = 0; i < n; i++) {
		src[ns].db = DB_SPACE_FEED;
		memcpy(src[ns].space, ids[i], CPT_ID_LEN);
		/* Labelled from the list of my spaces (its names are the fold's). */
		src[ns].name = names[i][0] ? json_string(names[i]) : NULL;
		src[ns].named = 1;
		ns++;
	}
	items = s_merge(txn, src, ns, before40, limit, next, out);
out:
	for (size_t i = 0; src && i < ns; i++)
		json_decref(src[i].name);
	free(src);
	free(ids);
	free(names);
	if (out) /* nothing appended when the sources could not be read: the caller's "[]" */
		return NULL;
	return items ? items : json_array();
}

json_t *
query_main_feed(store_txn_t *txn, const char *handle, const char *site, const uint8_t *before40,
                size_t limit, char next[81])
{
	return s_main_feed(txn, handle, site, before40, limit, next, NULL);
}

int
query_main_feed_text(store_txn_t *txn, const char *handle, const char *site,
                     const uint8_t *before40, size_t limit, char next[81], query_text_t *out)
{
	size_t at = out->len;

	assert(out != NULL);
	(void)s_main_feed(txn, handle, site, before40, limit, next, out);
	if (out->len == at)
		query_text_add(out, "[]", 2);
	return out->oom ? CPT_ENOMEM : 0;
}

/* ---------------------------------------------------------- figures */

json_t *
query_space_figures(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], uint64_t since_ms,
                    uint64_t until_ms)
{
	uint8_t key[CPT_ID_LEN + 40];
	store_cur_t *cur;
	store_val_t k = {sizeof(key), key}, v;
	json_t *authors = json_object(), *out;
	json_int_t posts = 0, comments = 0, recent = 0;
	int rc;

	memset(key, 0, sizeof(key));
	memcpy(key, space, CPT_ID_LEN);
	if (authors == NULL || store_cur_open(txn, DB_SPACE_FEED, &cur) != 0) {
		json_decref(authors);
		return NULL;
	}
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		json_t *p;
		uint64_t created;
		if (k.len != sizeof(key) || memcmp(k.data, space, CPT_ID_LEN) != 0)
			break;
		/* What the record holds: no envelope read (index_view_lean). */
		if ((p = index_view_lean(&v)) == NULL)
			continue;
		posts++;
		comments += json_integer_value(json_object_get(p, "comments"));
		created = HLC_MS(store_get_u64((const uint8_t *)k.data + CPT_ID_LEN));
		if (created >= since_ms && created < until_ms) {
			const char *a = json_string_value(json_object_get(p, "author"));
			recent++;
			if (a && *a)
				json_object_set_new(authors, a, json_true());
		}
		json_decref(p);
	}
	store_cur_close(&cur);
	out =
	    json_pack("{s:I, s:I, s:I, s:I}", "posts", posts, "comments", comments, "posts_recent",
	              recent, "active_members", (json_int_t)json_object_size(authors));
	json_decref(authors);
	return out;
}

/* ------------------------------------------------------------ posts */

json_t *
query_post_as(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], int with_children, const char *handle,
              const char *site)
{
	json_t *p = query_post_any(txn, id, with_children);
	const char *sp = json_string_value(json_object_get(p, "space"));
	uint8_t space[CPT_ID_LEN];

	if (p == NULL || sp == NULL)
		return p;
	/* A post of a space the reader may not read does not exist for them. */
	if (handle == NULL || cpt_unhex32(space, sp, strlen(sp)) != 0 ||
	    !query_space_readable(txn, space, handle, site)) {
		json_decref(p);
		return NULL;
	}
	{
		json_t *name = s_label(txn, space, site);
		json_object_set_new(p, "space_name", name ? name : json_null());
	}
	return p;
}
