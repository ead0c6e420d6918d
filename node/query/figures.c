/*
 * Figures for management: adoption per site and exchange between sites over
 * the last N days (GET /api/figures, `comptoir figures`, the web UI's
 * Figures page).
 *
 * Computed on demand from the event set itself: the events of the period in
 * time order (DB_ORDER), each author's key record for their home site, and
 * for a comment or a reaction the post it answers. Every site holding the
 * same events therefore gives the same figures, whatever order they arrived
 * in; nothing is kept up to date on the write path. The cost grows with the
 * events of the period (about 3 µs each), not with the store.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/query/query_internal.h"

json_t *
q_fig_counters(void)
{
	return json_pack("{s:i, s:i, s:i, s:i, s:{}}", "staff", 0, "posts", 0, "comments", 0,
	                 "reactions", 0, "seen");
}

void
q_fig_add(json_t *o, const char *field, json_int_t n)
{
	json_t *v = json_object_get(o, field);
	json_object_set_new(o, field, json_integer((v ? json_integer_value(v) : 0) + n));
}

/* The counters of site, made on first use. */
json_t *
q_fig_site(struct fig *f, const char *site)
{
	json_t *s = json_object_get(f->sites, site);

	if (s == NULL && (s = q_fig_counters()) != NULL)
		json_object_set_new(f->sites, site, s);
	return s;
}

/* [site, handle] of a user key, or NULL (not a user key we know). */
json_t *
q_fig_who(struct fig *f, const uint8_t key[CPT_KEY_LEN])
{
	char hex[CPT_HEX_ID];
	json_t *w, *rec;

	cpt_hex32(hex, key);
	if ((w = json_object_get(f->who, hex)) != NULL)
		return json_is_array(w) ? w : NULL;
	rec = index_key_info(f->txn, key);
	if (rec && json_is_string(json_object_get(rec, "site")) &&
	    json_is_string(json_object_get(rec, "handle")))
		w = json_pack("[O, O]", json_object_get(rec, "site"),
		              json_object_get(rec, "handle"));
	else
		w = json_null();
	json_decref(rec);
	json_object_set_new(f->who, hex, w ? w : json_null());
	return json_is_array(w) ? w : NULL;
}

/* [site, handle] of the author of post id, or NULL (not a post, or its
 * author unknown). */
static json_t *
s_post_who(struct fig *f, const uint8_t id[CPT_ID_LEN])
{
	char hex[CPT_HEX_ID];
	json_t *w;
	evt_t ev;

	cpt_hex32(hex, id);
	if ((w = json_object_get(f->post_who, hex)) == NULL) {
		w = NULL;
		if (index_event(f->txn, id, &ev) == 0 && ev.kind == EVT_POST)
			w = q_fig_who(f, ev.author);
		json_object_set(f->post_who, hex, w ? w : json_null());
	}
	return json_is_array(w) ? w : NULL;
}

void
q_fig_count(json_t *c, const char *what, const char *handle)
{
	if (what)
		q_fig_add(c, what, 1);
	json_object_set(json_object_get(c, "seen"), handle, json_true());
}

/* One event of the period. A sealed event (a private space's post, comment,
 * reaction or edit) makes its author active and is counted nowhere else: its
 * author and time are in clear at every site, its kind and its post are
 * not (PROTOCOL.md 16.12), so every site counts it alike; without it, staff
 * who write in their site's space or a private one looked inactive. */
static void
s_event(struct fig *f, const uint8_t id[CPT_ID_LEN], uint16_t kind)
{
	const char *what = kind == EVT_POST       ? "posts"
	                   : kind == EVT_COMMENT  ? "comments"
	                   : kind == EVT_REACTION ? "reactions"
	                                          : NULL;
	evt_t ev;
	json_t *w, *site, *body = NULL, *to_w = NULL;
	const char *handle, *home;
	uint64_t ms;

	if ((what == NULL && kind != EVT_SEALED) || index_event(f->txn, id, &ev) != 0 ||
	    (w = q_fig_who(f, ev.author)) == NULL)
		return;
	home = json_string_value(json_array_get(w, 0));
	handle = json_string_value(json_array_get(w, 1));
	if ((site = q_fig_site(f, home)) == NULL)
		return;
	q_fig_count(site, what, handle);
	ms = HLC_MS(ev.ts);
	{
		/* Weeks back from now; an event from a clock ahead counts now. */
		uint64_t back = ms < f->now_ms ? (f->now_ms - ms) / QUERY_WEEK_MS : 0;
		if (back < f->nweeks)
			q_fig_count(f->weeks[f->nweeks - 1 - back], what, handle);
	}
	if (what == NULL) {
		/* Sealed: active, nothing else (the report's months and
		 * departments likewise). */
		if (f->rep)
			q_report_event(f, id, &ev, kind, w, NULL, NULL);
		return;
	}
	/* A deleted event has no body left (a comment then says not which
	 * post it answered); a post's body is read for the report alone (does it
	 * ask?). */
	if (kind != EVT_POST || f->rep)
		body = index_body(&ev);
	if (kind != EVT_POST) {
		/* Exchange: staff of one site answering a post of another. */
		json_t *pair;
		uint8_t post[CPT_ID_LEN];
		const char *to;
		char k[140];
		if (body && index_hex_field(body, "post", post) == 0 &&
		    (to_w = s_post_who(f, post)) != NULL &&
		    (to = json_string_value(json_array_get(to_w, 0))) != NULL &&
		    strcmp(to, home) != 0) {
			snprintf(k, sizeof(k), "%s\n%s", home, to);
			if ((pair = json_object_get(f->pairs, k)) == NULL) {
				pair = json_pack("{s:s, s:s, s:i, s:i}", "from", home, "to", to,
				                 "comments", 0, "reactions", 0);
				json_object_set_new(f->pairs, k, pair);
			}
			if (pair)
				q_fig_add(pair, what, 1);
		}
	}
	if (f->rep)
		q_report_event(f, id, &ev, kind, w, body, to_w);
	json_decref(body);
}

/* Every certified site that is not revoked, so that a site with no staff
 * yet shows as such (a new site is exactly what adoption figures watch). */
static void
s_sites(struct fig *f)
{
	store_cur_t *cur;
	store_val_t k, v;

	if (store_cur_open(f->txn, DB_KEYS, &cur) != 0)
		return;
	for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0;
	     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		json_t *rec;
		const char *site;
		if (k.len != CPT_KEY_LEN || (rec = json_loadb(v.data, v.len, 0, NULL)) == NULL)
			continue;
		site = json_string_value(json_object_get(rec, "site"));
		if (site &&
		    strcmp(json_string_value(json_object_get(rec, "type")) ?: "", "site") == 0 &&
		    index_revoked_at(f->txn, k.data) == UINT64_MAX)
			q_fig_site(f, site);
		json_decref(rec);
	}
	store_cur_close(&cur);
}

/* Staff per home site: enrolled handles whose current key is not revoked. */
static void
s_staff(struct fig *f)
{
	store_cur_t *cur;
	store_val_t k, v;

	if (store_cur_open(f->txn, DB_HANDLES, &cur) != 0)
		return;
	for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0;
	     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		char h[64];
		uint8_t key[CPT_KEY_LEN];
		json_t *w, *site;
		if (k.len >= sizeof(h))
			continue;
		memcpy(h, k.data, k.len);
		h[k.len] = 0;
		if (index_key_of(f->txn, h, key) != 0 ||
		    index_revoked_at(f->txn, key) != UINT64_MAX ||
		    (w = q_fig_who(f, key)) == NULL ||
		    (site = q_fig_site(f, json_string_value(json_array_get(w, 0)))) == NULL)
			continue;
		q_fig_add(site, "staff", 1);
		if (f->rep)
			q_report_staff(f, h);
	}
	store_cur_close(&cur);
}

/* {"posts", "comments", "reactions", "active"} of a counter set, plus its
 * "staff" when it has one. */
json_t *
q_fig_out(json_t *c, int with_staff)
{
	json_t *o =
	    json_pack("{s:O, s:O, s:O, s:I}", "posts", json_object_get(c, "posts"), "comments",
	              json_object_get(c, "comments"), "reactions", json_object_get(c, "reactions"),
	              "active", (json_int_t)json_object_size(json_object_get(c, "seen")));
	if (o && with_staff)
		json_object_set(o, "staff", json_object_get(c, "staff"));
	return o;
}

/* Sites by name; pairs by "from", then "to". */
static int
s_by_name(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *f = json_object_get(x, "site") ? "site" : "from";
	int c = strcmp(json_string_value(json_object_get(x, f)) ?: "",
	               json_string_value(json_object_get(y, f)) ?: "");
	return c ? c
	         : strcmp(json_string_value(json_object_get(x, "to")) ?: "",
	                  json_string_value(json_object_get(y, "to")) ?: "");
}

/* The values of object o as a sorted array: sites (keyed by name) with their
 * counts, or the pairs as they are. */
json_t *
q_fig_sorted(json_t *o, int name_site)
{
	size_t n = json_object_size(o), i = 0;
	json_t **v = calloc(n ? n : 1, sizeof(*v)), *arr = json_array(), *val;
	const char *key;

	if (v == NULL || arr == NULL) {
		free(v);
		json_decref(arr);
		return NULL;
	}
	json_object_foreach (o, key, val) {
		if (name_site) {
			json_t *counts = q_fig_out(val, 1);
			v[i] = counts ? json_pack("{s:s}", "site", key) : NULL;
			if (v[i])
				json_object_update(v[i], counts);
			json_decref(counts);
		} else {
			v[i] = json_incref(val);
		}
		if (v[i])
			i++;
	}
	if (i > 1)
		qsort(v, i, sizeof(*v), s_by_name);
	for (size_t j = 0; j < i; j++)
		json_array_append_new(arr, v[j]);
	free(v);
	return arr;
}

int
q_fig_walk(struct fig *f)
{
	uint8_t from[40];
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	f->who = json_object();
	f->post_who = json_object();
	f->sites = json_object();
	f->pairs = json_object();
	f->weeks = calloc(f->nweeks ? f->nweeks : 1, sizeof(*f->weeks));
	if (!f->who || !f->post_who || !f->sites || !f->pairs || !f->weeks)
		return CPT_ENOMEM;
	for (size_t i = 0; i < f->nweeks; i++)
		if ((f->weeks[i] = q_fig_counters()) == NULL)
			return CPT_ENOMEM;
	s_sites(f);
	s_staff(f);
	store_put_u64(from, f->from_ms << 16);
	memset(from + 8, 0, 32);
	if ((rc = store_cur_open(f->txn, DB_ORDER, &cur)) != 0)
		return rc;
	k.len = sizeof(from);
	k.data = from;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != 40)
			continue;
		if (store_get_u64(k.data) >> 16 >= f->to_ms)
			break;
		s_event(f, (uint8_t *)k.data + 8, store_get_kind(&v));
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND || rc == 0 ? 0 : rc;
}

void
q_fig_free(struct fig *f)
{
	for (size_t i = 0; f->weeks && i < f->nweeks; i++)
		json_decref(f->weeks[i]);
	free(f->weeks);
	json_decref(f->who);
	json_decref(f->post_who);
	json_decref(f->sites);
	json_decref(f->pairs);
	memset(f, 0, sizeof(*f));
}

json_t *
q_fig_weeks(struct fig *f)
{
	json_t *weeks = json_array();

	for (size_t i = 0; weeks && i < f->nweeks; i++) {
		json_t *w = q_fig_out(f->weeks[i], 0);
		uint64_t back = (uint64_t)(f->nweeks - i) * QUERY_WEEK_MS;
		uint64_t start = f->now_ms - back > f->from_ms ? f->now_ms - back : f->from_ms;
		if (w)
			json_object_set_new(w, "start", json_integer((json_int_t)start));
		json_array_append_new(weeks, w ? w : json_null());
	}
	return weeks;
}

json_t *
query_figures(store_txn_t *txn, uint64_t now_ms, unsigned days)
{
	struct fig f = {.txn = txn};
	json_t *out = NULL;

	assert(txn != NULL);
	if (days < 1 || days > QUERY_FIGURES_MAX_DAYS || now_ms < days * QUERY_DAY_MS)
		return NULL;
	f.nweeks = (days + 6) / 7;
	f.from_ms = now_ms - (uint64_t)days * QUERY_DAY_MS;
	f.now_ms = now_ms;
	f.to_ms = UINT64_MAX;
	if (q_fig_walk(&f) == 0)
		out = json_pack("{s:i, s:I, s:I, s:o, s:o, s:o}", "days", (int)days, "from",
		                (json_int_t)f.from_ms, "to", (json_int_t)now_ms, "sites",
		                q_fig_sorted(f.sites, 1), "exchange", q_fig_sorted(f.pairs, 0),
		                "weeks", q_fig_weeks(&f));
	if (out) {
		json_t *sp = query_figures_spaces(txn, now_ms, days);
		if (sp == NULL || json_object_set_new(out, "spaces", sp) != 0) {
			json_decref(out);
			out = NULL;
		}
	}
	q_fig_free(&f);
	return out;
}

/* ------------------------------------------------------ per space */

/*
 * A private space's figures (site: a site's space, else NULL) from its sealed
 * events, which every site stores whether it can open them or not: the
 * events of kind 14 naming the space (DB_SPACE_ITEMS: its `space` is in
 * clear) whose author was a member at their position (PROTOCOL.md 16.9, the
 * part that needs no key). Its feed (DB_SPACE_FEED) holds them only at member
 * sites, so counting from it gave a site with no member 0. A sealed event
 * does not say whether it is a post, a comment, a reaction or an edit, and
 * putting that in clear would show the shape of the space's threads
 * (16.12): "posts" counts the messages, "comments" is null, and "sealed"
 * says so. The same numbers at every site holding the same events.
 */
static json_t *
s_sealed_figures(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *site,
                 uint64_t since_ms, uint64_t until_ms)
{
	struct fig f = {.txn = txn};
	uint8_t key[CPT_ID_LEN + 40];
	store_cur_t *cur = NULL;
	store_val_t k = {sizeof(key), key}, v;
	space_state_t *st = NULL;
	json_t *keep = NULL, *authors = json_object(), *out = NULL;
	json_int_t all = 0, recent = 0;
	int rc;

	memset(key, 0, sizeof(key));
	memcpy(key, space, CPT_ID_LEN);
	if (authors == NULL || (f.who = json_object()) == NULL)
		goto done;
	if (site == NULL &&
	    (index_space_fold(&st, &keep, txn, space, NULL) != 0 || !space_state_exists(st)))
		goto done;
	if (store_cur_open(txn, DB_SPACE_ITEMS, &cur) != 0)
		goto done;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		const uint8_t *id = (const uint8_t *)k.data + CPT_ID_LEN + 8;
		const char *handle;
		uint64_t ts, ms;
		json_t *w;
		evt_t ev;
		if (k.len != sizeof(key) || memcmp(k.data, space, CPT_ID_LEN) != 0)
			break;
		if (store_get_kind(&v) != EVT_SEALED)
			continue; /* a post naming a private space in clear counts nowhere */
		ts = store_get_u64((const uint8_t *)k.data + CPT_ID_LEN);
		if (index_event(txn, id, &ev) != 0 || (w = q_fig_who(&f, ev.author)) == NULL)
			continue;
		handle = json_string_value(json_array_get(w, 1));
		if (site ? strcmp(json_string_value(json_array_get(w, 0)), site) != 0
		         : !space_state_open_at(st, ts, id) ||
		               space_state_role_at(st, handle, ts, id) < SPACE_MEMBER)
			continue;
		all++;
		ms = HLC_MS(ts);
		if (ms >= since_ms && ms < until_ms) {
			recent++;
			json_object_set_new(authors, handle, json_true());
		}
	}
	if (rc == 0 || rc == CPT_ENOTFOUND)
		out = json_pack("{s:I, s:n, s:I, s:I, s:b}", "posts", all, "comments",
		                "posts_recent", recent, "active_members",
		                (json_int_t)json_object_size(authors), "sealed", 1);
done:
	store_cur_close(&cur);
	space_state_destroy(&st);
	json_decref(keep);
	json_decref(f.who);
	json_decref(authors);
	return out;
}

/* One space's line: its figures (query_space_figures, or s_sealed_figures
 * for a private space) with what names it. */
static json_t *
s_space_line(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const json_t *rec, const char *site,
             uint64_t since_ms, uint64_t until_ms)
{
	const char *vis = json_string_value(json_object_get(rec, "visibility"));
	int open = site == NULL && vis && strcmp(vis, "open") == 0;
	json_t *f = open ? query_space_figures(txn, id, since_ms, until_ms)
	                 : s_sealed_figures(txn, id, site, since_ms, until_ms);
	char hex[CPT_HEX_ID];

	if (f == NULL)
		return NULL;
	cpt_hex32(hex, id);
	json_object_set_new(f, "id", json_string(hex));
	if (site) {
		json_object_set_new(f, "name", json_string(site));
		json_object_set_new(f, "visibility", json_string("private"));
		json_object_set_new(f, "site", json_string(site));
		json_object_set_new(f, "archived", json_false());
		json_object_set_new(f, "members", json_null());
		return f;
	}
	json_object_set(f, "name",
	                json_object_get(rec, "name") ? json_object_get(rec, "name") : json_null());
	json_object_set(f, "visibility", json_object_get(rec, "visibility"));
	json_object_set_new(f, "site", json_null());
	json_object_set_new(f, "archived",
	                    json_boolean(json_is_true(json_object_get(rec, "archived"))));
	json_object_set_new(
	    f, "members",
	    json_integer((json_int_t)json_array_size(json_object_get(rec, "members"))));
	return f;
}

/* Most posts first, then by id: the same order at every site. */
static int
s_by_posts(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t px = json_integer_value(json_object_get(x, "posts"));
	json_int_t py = json_integer_value(json_object_get(y, "posts"));

	if (px != py)
		return px > py ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "id")),
	              json_string_value(json_object_get(y, "id")));
}

json_t *
query_figures_spaces(store_txn_t *txn, uint64_t now_ms, unsigned days)
{
	assert(txn != NULL);
	if (days < 1 || days > QUERY_FIGURES_MAX_DAYS || now_ms < days * QUERY_DAY_MS)
		return NULL;
	return q_fig_spaces(txn, now_ms - (uint64_t)days * QUERY_DAY_MS, UINT64_MAX);
}

json_t *
q_fig_spaces(store_txn_t *txn, uint64_t since, uint64_t until)
{
	struct fig f = {.txn = txn};
	json_t *lines = json_array(), *out = NULL, *x, *rec;
	json_t **v = NULL;
	store_cur_t *cur;
	store_val_t k, val;
	const char *site;
	size_t i, n;
	int rc;

	if (lines == NULL)
		goto done;
	/* The spaces folded here (DB_SPACES), then each site's own. */
	if (store_cur_open(txn, DB_SPACES, &cur) != 0)
		goto done;
	for (rc = store_cur_get(cur, &k, &val, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &val, STORE_NEXT)) {
		if (k.len != CPT_ID_LEN || (rec = json_loadb(val.data, val.len, 0, NULL)) == NULL)
			continue;
		if (json_is_true(json_object_get(rec, "exists")) &&
		    (x = s_space_line(txn, k.data, rec, NULL, since, until)) != NULL)
			json_array_append_new(lines, x);
		json_decref(rec);
	}
	store_cur_close(&cur);
	if (rc != CPT_ENOTFOUND)
		goto done;
	if ((f.sites = json_object()) == NULL)
		goto done;
	s_sites(&f);
	json_object_foreach (f.sites, site, x) {
		uint8_t id[CPT_ID_LEN];
		json_t *line;
		index_site_space(id, site);
		if ((line = s_space_line(txn, id, NULL, site, since, until)) != NULL)
			json_array_append_new(lines, line);
	}
	n = json_array_size(lines);
	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL || (out = json_array()) == NULL)
		goto done;
	json_array_foreach (lines, i, x)
		v[i] = x;
	qsort(v, n, sizeof(*v), s_by_posts);
	for (i = 0; i < n; i++)
		json_array_append(out, v[i]);
done:
	free(v);
	json_decref(f.sites);
	json_decref(lines);
	return out;
}

void
query_figures_spaces_for(store_txn_t *txn, json_t *spaces, const char *handle, const char *site)
{
	json_t *x;
	size_t i;

	assert(txn != NULL);
	json_array_foreach (spaces, i, x) {
		uint8_t id[CPT_ID_LEN];
		const char *hex = json_string_value(json_object_get(x, "id"));
		const char *vis = json_string_value(json_object_get(x, "visibility"));
		int hide = vis == NULL || strcmp(vis, "open") != 0;
		/* A site space is named by its site, which every site knows. */
		if (json_is_string(json_object_get(x, "site")))
			hide = 0;
		if (hide && hex && cpt_unhex32(id, hex, strlen(hex)) == 0 && handle &&
		    query_space_readable(txn, id, handle, site))
			hide = 0;
		if (hide) {
			json_object_set_new(x, "name", json_null());
			json_object_set_new(x, "hidden", json_true());
		}
	}
}
