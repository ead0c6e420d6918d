/*
 * What a person sees of notifications, following and announcements: their
 * notification groups with their own read marks, mutes and preferences
 * applied (the fold of their sealed kind 17 events), the people they
 * follow, the "For you" feed, and the announcements pinned for them.
 * Everything is read now from the events: a function of the event set.
 */
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/query/query_internal.h"

/* ------------------------------------------------------ preferences */

static const char *const s_digests[] = {"off", "immediate", "daily", "weekly", NULL};
static const char *const s_langs[] = {"en", "fr", NULL};

static int
s_one_of(const char *v, const char *const *set)
{
	for (size_t i = 0; v && set[i]; i++)
		if (strcmp(v, set[i]) == 0)
			return 1;
	return 0;
}

static int
s_is_type(const char *t)
{
	return s_one_of(t, index_notify_types());
}

int
query_pref_check(const char *name, const json_t *v, char *why, size_t wl)
{
	if (strncmp(name, "inapp.", 6) == 0 || strncmp(name, "mail.", 5) == 0) {
		const char *t = name + (name[0] == 'i' ? 6 : 5);
		if (!s_is_type(t)) {
			snprintf(why, wl, "no such kind of notification: \"%s\"", t);
			return CPT_EINVAL;
		}
		if (!json_is_boolean(v)) {
			snprintf(why, wl, "\"%s\" must be true or false", name);
			return CPT_EINVAL;
		}
		return 0;
	}
	if (strcmp(name, "digest") == 0) {
		if (!s_one_of(json_string_value(v), s_digests)) {
			snprintf(why, wl, "\"digest\" must be off, immediate, daily or weekly");
			return CPT_EINVAL;
		}
		return 0;
	}
	if (strcmp(name, "lang") == 0) {
		if (!s_one_of(json_string_value(v), s_langs)) {
			snprintf(why, wl, "\"lang\" must be en or fr");
			return CPT_EINVAL;
		}
		return 0;
	}
	if (strcmp(name, "email") == 0) {
		const char *e = json_string_value(v), *at;
		size_t len = e ? strlen(e) : 0;
		int ok = e && len >= 3 && len <= 254 && (at = strchr(e, '@')) != NULL && at > e &&
		         at[1] != 0 && strchr(at + 1, '@') == NULL;
		for (size_t i = 0; ok && i < len; i++)
			ok = (unsigned char)e[i] > 0x20 && e[i] != 0x7f &&
			     !strchr("<>()[]\\,;:\"", e[i]);
		if (!ok && !(e && len == 0)) {
			snprintf(why, wl,
			         "\"email\" must be an address such as name@example.com, or \"\"");
			return CPT_EINVAL;
		}
		return 0;
	}
	if (strncmp(name, "space.", 6) == 0) {
		uint8_t id[CPT_ID_LEN];
		const char *s = json_string_value(v);
		if (strlen(name) != 6 + 2 * CPT_ID_LEN ||
		    cpt_unhex32(id, name + 6, 2 * CPT_ID_LEN) != 0) {
			snprintf(why, wl, "\"%s\": a space is named by its 64-hex-digit id", name);
			return CPT_EINVAL;
		}
		if (!s || (strcmp(s, "all") != 0 && strcmp(s, "mentions") != 0 &&
		           strcmp(s, "off") != 0)) {
			snprintf(why, wl, "\"%s\" must be all, mentions or off", name);
			return CPT_EINVAL;
		}
		return 0;
	}
	snprintf(why, wl, "no such preference: \"%s\"", name);
	return CPT_EINVAL;
}

json_t *
query_prefs(const json_t *mine)
{
	json_t *set = json_object_get(mine, "prefs");
	json_t *out = json_pack("{s:s, s:s, s:s, s:{}, s:{}, s:{}}", "digest", "daily", "lang",
	                        "en", "email", "", "inapp", "mail", "spaces");
	const char *const *types = index_notify_types();
	const char *name;
	json_t *v;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; types[i]; i++) {
		json_object_set_new(json_object_get(out, "inapp"), types[i], json_true());
		json_object_set_new(json_object_get(out, "mail"), types[i],
		                    json_boolean(strcmp(types[i], "reaction") != 0));
	}
	json_object_foreach (set, name, v) {
		if (strncmp(name, "inapp.", 6) == 0 && json_is_boolean(v) && s_is_type(name + 6))
			json_object_set(json_object_get(out, "inapp"), name + 6, v);
		else if (strncmp(name, "mail.", 5) == 0 && json_is_boolean(v) &&
		         s_is_type(name + 5))
			json_object_set(json_object_get(out, "mail"), name + 5, v);
		else if (strncmp(name, "space.", 6) == 0 && json_is_string(v))
			json_object_set(json_object_get(out, "spaces"), name + 6, v);
		else if (strcmp(name, "digest") == 0 && s_one_of(json_string_value(v), s_digests))
			json_object_set(out, name, v);
		else if (strcmp(name, "lang") == 0 && s_one_of(json_string_value(v), s_langs))
			json_object_set(out, name, v);
		else if (strcmp(name, "email") == 0 && json_is_string(v))
			json_object_set(out, name, v);
	}
	return out;
}

/* ------------------------------------------------------ notifications */

struct nwalk {
	store_txn_t *txn;     /* where */
	const json_t *read;   /* group hex -> [latest, n] */
	const json_t *mute;   /* group hex -> bool */
	const json_t *on;     /* type -> bool: the in-app preferences */
	const char *channel;  /* "inapp" or "mail": which preferences */
	const json_t *spaces; /* space hex -> "all", "mentions" or "off" */
	json_t *items;        /* the page, or NULL: count only */
	size_t limit;         /* page size */
	uint64_t since;       /* only groups with an enabled item newer than this */
	size_t unread;        /* unread groups seen */
	int unread_only;      /* list unread groups only */
	uint8_t last[40];     /* the cursor of the last listed */
	int more;             /* more groups remain after the page */
};

/* Is the group unread, given its whole latest and n? */
static int
s_unread(const json_t *read, const char *hex, uint64_t latest, uint64_t n)
{
	json_t *m = json_object_get(read, hex);

	return m == NULL || (uint64_t)json_integer_value(json_array_get(m, 0)) < latest ||
	       (uint64_t)json_integer_value(json_array_get(m, 1)) < n;
}

/* The record with the types the person turned off taken out; latest the
 * newest of those left. NULL when none is left. */
static json_t *
s_filter(const struct nwalk *w, const char *rec, size_t len, uint64_t *latest)
{
	json_t *r = json_loadb(rec, len, 0, NULL), *types, *t;
	const char *ty;
	void *tmp;
	uint64_t l = 0;

	if (r == NULL)
		return NULL;
	types = json_object_get(r, "types");
	json_object_foreach_safe (types, tmp, ty, t) {
		if (json_is_false(json_object_get(w->on, ty)))
			json_object_del(types, ty);
		else if ((uint64_t)json_integer_value(json_object_get(t, "ts")) > l)
			l = (uint64_t)json_integer_value(json_object_get(t, "ts"));
	}
	if (json_object_size(types) == 0) {
		json_decref(r);
		return NULL;
	}
	*latest = l;
	return r;
}

/* The preference for the space of group (a space's own group, or a post
 * of a space): "all" when none is set or the group is of no space. Read
 * only when the person set some preference per space. */
static const char *
s_space_pref(const struct nwalk *w, const char hex[2 * CPT_ID_LEN + 1],
             const uint8_t group[CPT_ID_LEN])
{
	const char *v = json_string_value(json_object_get(w->spaces, hex)), *sp;
	evt_t ev;
	json_t *b = NULL;

	if (v || json_object_size(w->spaces) == 0)
		return v ? v : "all";
	if (index_event_open(w->txn, group, &ev, &b) != 0 || b == NULL) {
		json_decref(b);
		return "all";
	}
	sp = json_string_value(json_object_get(b, "space"));
	v = sp ? json_string_value(json_object_get(w->spaces, sp)) : NULL;
	json_decref(b);
	return v ? v : "all"; /* v is the preferences' string, alive for the walk */
}

/* A record per a space's preference "mentions": only what names me (a
 * mention) or asks me (a request, an invitation) is left. */
static void
s_mentions_only(json_t *r)
{
	json_t *types = json_object_get(r, "types"), *t;
	const char *ty;
	void *tmp;
	uint64_t l = 0;

	json_object_foreach_safe (types, tmp, ty, t) {
		if (strcmp(ty, "mention") != 0 && strcmp(ty, "space_request") != 0 &&
		    strcmp(ty, "space_invite") != 0)
			json_object_del(types, ty);
		else if ((uint64_t)json_integer_value(json_object_get(t, "ts")) > l)
			l = (uint64_t)json_integer_value(json_object_get(t, "ts"));
	}
	json_object_set_new(r, "latest", json_integer((json_int_t)l));
}

/* Does any type of the preferences' channel say no? */
static int
s_some_off(const json_t *on)
{
	const char *ty;
	json_t *v;

	json_object_foreach ((json_t *)on, ty, v) {
		if (json_is_false(v))
			return 1;
	}
	return 0;
}

/* The post a group is about, as a notification shows it. */
static json_t *
s_about(store_txn_t *txn, const uint8_t group[CPT_ID_LEN])
{
	/* A post of a space too: the index keeps a group only for a person who
	 * may read its post (PROTOCOL.md 17.3). */
	json_t *p = query_post_any(txn, group, 0), *out;
	const char *text;
	char cut[201];
	size_t len;

	if (p == NULL)
		return json_null();
	text = json_string_value(json_object_get(p, "text"));
	len = text ? strlen(text) : 0;
	if (len > 200) {
		/* Cut on a character boundary: no half of a UTF-8 sequence. */
		len = 200;
		while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(cut, text ? text : "", len);
	cut[len] = 0;
	out = json_pack("{s:O, s:O, s:O, s:s}", "id", json_object_get(p, "id"), "author",
	                json_object_get(p, "author"), "author_name",
	                json_object_get(p, "author_name"), "text", cut);
	json_decref(p);
	return out ? out : json_null();
}

/* The names (profile names, else null) of the actors a group names. */
static json_t *
s_names(store_txn_t *txn, const json_t *types)
{
	json_t *out = json_object(), *t, *h;
	const char *ty;
	size_t i;

	if (out == NULL)
		return json_null();
	json_object_foreach ((json_t *)types, ty, t) {
		json_array_foreach (json_object_get(t, "by"), i, h) {
			const char *handle = json_string_value(h);
			json_t *prof, *name;
			if (handle == NULL || json_object_get(out, handle))
				continue;
			prof = store_get_json(txn, DB_PROFILES, handle, strlen(handle));
			name = json_object_get(json_object_get(prof, "fields"), "name");
			json_object_set_new(out, handle,
			                    json_is_string(name) ? json_incref(name) : json_null());
			json_decref(prof);
		}
	}
	return out;
}

int
query_parse_mark(const char *s, uint64_t *latest, uint64_t *n)
{
	char *end;
	unsigned long long l, c;

	if (s == NULL || *s < '0' || *s > '9')
		return CPT_EINVAL;
	l = strtoull(s, &end, 10);
	if (*end != ':' || end[1] < '0' || end[1] > '9')
		return CPT_EINVAL;
	c = strtoull(end + 1, &end, 10);
	if (*end != 0 || l == ULLONG_MAX || c == ULLONG_MAX || l > INT64_MAX || c > INT64_MAX)
		return CPT_EINVAL;
	*latest = l;
	*n = c;
	return 0;
}

static int
s_group(void *arg, uint64_t latest, const uint8_t group[CPT_ID_LEN], uint64_t n, const char *rec,
        size_t len)
{
	struct nwalk *w = arg;
	char hex[2 * CPT_ID_LEN + 1], mark[48];
	uint64_t shown = latest;
	json_t *r = NULL, *item;
	const char *sp;
	int unread;

	if (latest <= w->since)
		return 1; /* newest first: nothing newer follows */
	sodium_bin2hex(hex, sizeof(hex), group, CPT_ID_LEN);
	if (json_is_true(json_object_get(w->mute, hex)))
		return 0;
	sp = s_space_pref(w, hex, group);
	if (strcmp(sp, "off") == 0)
		return 0; /* a space the person turned off (PROTOCOL.md 17.4) */
	if ((w->items || s_some_off(w->on) || strcmp(sp, "mentions") == 0) &&
	    (r = s_filter(w, rec, len, &shown)) == NULL)
		return 0; /* only kinds the person turned off */
	if (strcmp(sp, "mentions") == 0) {
		s_mentions_only(r);
		shown = (uint64_t)json_integer_value(json_object_get(r, "latest"));
		if (json_object_size(json_object_get(r, "types")) == 0) {
			json_decref(r);
			return 0;
		}
	}
	if (shown <= w->since) {
		json_decref(r);
		return 0;
	}
	unread = s_unread(w->read, hex, latest, n);
	w->unread += unread;
	if (w->items == NULL || (w->unread_only && !unread)) {
		json_decref(r);
		return 0;
	}
	if (json_array_size(w->items) == w->limit) {
		json_decref(r);
		w->more = 1;
		return 0; /* the rest is still counted */
	}
	/* The mark as text: a timestamp of 57 bits or more is not a number a
	 * browser keeps exactly (JavaScript's doubles stop at 2^53). */
	snprintf(mark, sizeof(mark), "%llu:%llu", (unsigned long long)latest,
	         (unsigned long long)n);
	item =
	    json_pack("{s:s, s:I, s:I, s:b, s:s, s:O, s:o, s:o}", "group", hex, "latest",
	              (json_int_t)shown, "at", (json_int_t)HLC_MS(shown), "unread", unread, "mark",
	              mark, "types", json_object_get(r, "types"), "names",
	              s_names(w->txn, json_object_get(r, "types")), "post", s_about(w->txn, group));
	json_decref(r);
	if (item == NULL)
		return CPT_ENOMEM;
	json_array_append_new(w->items, item);
	store_put_u64(w->last, latest);
	memcpy(w->last + 8, group, CPT_ID_LEN);
	return 0;
}

json_t *
query_notifications(store_txn_t *txn, const json_t *mine, const char *handle,
                    const query_notify_opts_t *o)
{
	json_t *prefs = query_prefs(mine), *out = NULL;
	struct nwalk w = {0};
	char next[81] = "";
	int rc;

	assert(txn != NULL && handle != NULL && o != NULL);
	if (prefs == NULL)
		return NULL;
	w.txn = txn;
	w.read = json_object_get(mine, "read");
	w.mute = json_object_get(mine, "mute");
	w.on = json_object_get(prefs, o->mail ? "mail" : "inapp");
	w.spaces = json_object_get(prefs, "spaces");
	w.items = json_array();
	w.limit = o->limit;
	w.since = o->since;
	w.unread_only = o->unread_only;
	if (w.items == NULL) {
		json_decref(prefs);
		return NULL;
	}
	rc = index_notify_each(txn, handle, o->before, s_group, &w);
	if (rc != 0 && rc != 1) {
		json_decref(w.items);
		json_decref(prefs);
		return NULL;
	}
	if (w.more)
		sodium_bin2hex(next, sizeof(next), w.last, 40);
	/* The unread count covers the whole list only when it started at the top. */
	out = json_pack("{s:o, s:o, s:o}", "items", w.items, "next",
	                next[0] ? json_string(next) : json_null(), "unread",
	                o->before ? json_null() : json_integer((json_int_t)w.unread));
	json_decref(prefs);
	return out;
}

long
query_unread(store_txn_t *txn, const json_t *mine, const char *handle)
{
	json_t *prefs = query_prefs(mine);
	struct nwalk w = {0};
	int rc;

	if (prefs == NULL)
		return -1;
	w.txn = txn;
	w.read = json_object_get(mine, "read");
	w.mute = json_object_get(mine, "mute");
	w.on = json_object_get(prefs, "inapp");
	w.spaces = json_object_get(prefs, "spaces");
	rc = index_notify_each(txn, handle, NULL, s_group, &w);
	json_decref(prefs);
	return rc == 0 || rc == 1 ? (long)w.unread : -1;
}

/* ---------------------------------------------------------- following */

struct fwalk {
	json_t *regs; /* "what/target" -> [ts, id hex, on] */
};

static int
s_follow_one(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	struct fwalk *f = arg;
	evt_t ev;
	json_t *b;
	const char *what, *target;
	char key[128];

	(void)ix;
	if (kind != EVT_FOLLOW || index_event(txn, id, &ev) != 0 || (b = index_body(&ev)) == NULL)
		return 0;
	what = json_string_value(json_object_get(b, "what"));
	target = json_string_value(json_object_get(b, "target"));
	if (what && target && strlen(what) + strlen(target) + 2 < sizeof(key)) {
		/* By author: walked in (ts, id) order, so the last one wins. */
		size_t wl = strlen(what);
		memcpy(key, what, wl);
		key[wl] = '/';
		strcpy(key + wl + 1, target);
		json_object_set_new(f->regs, key,
		                    json_boolean(json_is_true(json_object_get(b, "on"))));
	}
	json_decref(b);
	return 0;
}

json_t *
query_follows(store_txn_t *txn, const uint8_t user[CPT_KEY_LEN])
{
	index_ctx_t ix = {0};
	struct fwalk f = {json_object()};
	json_t *out = json_pack("{s:[], s:[]}", "people", "spaces");
	const char *key;
	json_t *on;
	int rc;

	if (f.regs == NULL || out == NULL) {
		json_decref(f.regs);
		json_decref(out);
		return NULL;
	}
	rc = index_each_by_author(&ix, txn, user, EVT_FOLLOW, s_follow_one, &f);
	index_ctx_release(&ix);
	json_object_foreach (f.regs, key, on) {
		if (!json_is_true(on))
			continue;
		if (strncmp(key, "person/", 7) == 0)
			json_array_append_new(json_object_get(out, "people"), json_string(key + 7));
		else if (strncmp(key, "space/", 6) == 0)
			json_array_append_new(json_object_get(out, "spaces"), json_string(key + 6));
	}
	json_decref(f.regs);
	if (rc != 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* ---------------------------------------------------- the For you feed */

/* One (ts, id) of a post, for the merge. */
struct tsid {
	uint8_t k[40];
};

static int
s_tsid_desc(const void *a, const void *b)
{
	return -memcmp(((const struct tsid *)a)->k, ((const struct tsid *)b)->k, 40);
}

/* Up to max posts of key strictly before before40 (or from the newest),
 * appended to *v (n, cap). */
static int
s_posts_before(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], const uint8_t *before40,
               size_t max, struct tsid **v, size_t *n, size_t *cap)
{
	uint8_t at[CPT_KEY_LEN + 40];
	store_cur_t *cur;
	store_val_t k, val;
	size_t got = 0;
	int rc;

	if ((rc = store_cur_open(txn, DB_BY_AUTHOR, &cur)) != 0)
		return rc;
	memcpy(at, key, CPT_KEY_LEN);
	if (before40)
		memcpy(at + CPT_KEY_LEN, before40, 40);
	else
		memset(at + CPT_KEY_LEN, 0xff, 40);
	k.len = sizeof(at);
	k.data = at;
	rc = store_cur_get(cur, &k, &val, STORE_SEEK);
	rc = rc == 0               ? store_cur_get(cur, &k, &val, STORE_PREV)
	     : rc == CPT_ENOTFOUND ? store_cur_get(cur, &k, &val, STORE_LAST)
	                           : rc;
	for (; rc == 0 && got < max; rc = store_cur_get(cur, &k, &val, STORE_PREV)) {
		if (k.len != sizeof(at) || memcmp(k.data, key, CPT_KEY_LEN) != 0)
			break;
		if (store_get_kind(&val) != EVT_POST)
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 64;
			struct tsid *nv = realloc(*v, nc * sizeof(*nv));
			if (nv == NULL) {
				rc = CPT_ENOMEM;
				break;
			}
			*v = nv;
			*cap = nc;
		}
		memcpy((*v)[(*n)++].k, (const uint8_t *)k.data + CPT_KEY_LEN, 40);
		got++;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* Up to max posts of space's feed (DB_SPACE_FEED: the posts that count
 * there) strictly before before40, appended as s_posts_before does. */
static int
s_space_posts_before(store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const uint8_t *before40,
                     size_t max, struct tsid **v, size_t *n, size_t *cap)
{
	uint8_t at[CPT_ID_LEN + 40];
	store_cur_t *cur;
	store_val_t k, val;
	size_t got = 0;
	int rc;

	if ((rc = store_cur_open(txn, DB_SPACE_FEED, &cur)) != 0)
		return rc;
	memcpy(at, space, CPT_ID_LEN);
	if (before40)
		memcpy(at + CPT_ID_LEN, before40, 40);
	else
		memset(at + CPT_ID_LEN, 0xff, 40);
	k.len = sizeof(at);
	k.data = at;
	rc = store_cur_get(cur, &k, &val, STORE_SEEK);
	rc = rc == 0               ? store_cur_get(cur, &k, &val, STORE_PREV)
	     : rc == CPT_ENOTFOUND ? store_cur_get(cur, &k, &val, STORE_LAST)
	                           : rc;
	for (; rc == 0 && got < max; rc = store_cur_get(cur, &k, &val, STORE_PREV)) {
		if (k.len != sizeof(at) || memcmp(k.data, space, CPT_ID_LEN) != 0)
			break;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 64;
			struct tsid *nv = realloc(*v, nc * sizeof(*nv));
			if (nv == NULL) {
				rc = CPT_ENOMEM;
				break;
			}
			*v = nv;
			*cap = nc;
		}
		memcpy((*v)[(*n)++].k, (const uint8_t *)k.data + CPT_ID_LEN, 40);
		got++;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

#define FORYOU_MAX_SPACES 256

/* The spaces whose posts the For you feed of handle shows: theirs, their
 * site's, and those they follow (PROTOCOL.md 17.6). */
static int
s_foryou_spaces(store_txn_t *txn, const char *handle, const json_t *follows, const char *site,
                size_t limit, const uint8_t *before40, struct tsid **v, size_t *n, size_t *cap)
{
	uint8_t(*ids)[CPT_ID_LEN] = malloc(FORYOU_MAX_SPACES * CPT_ID_LEN), sp[CPT_ID_LEN];
	size_t ns = 0, i;
	json_t *x;
	int rc;

	if (ids == NULL)
		return CPT_ENOMEM;
	rc = index_my_spaces(txn, handle, ids, NULL, NULL, FORYOU_MAX_SPACES, &ns);
	for (i = 0; rc == 0 && i < ns; i++)
		rc = s_space_posts_before(txn, ids[i], before40, limit + 1, v, n, cap);
	free(ids);
	if (rc == 0 && site && *site) {
		index_site_space(sp, site);
		rc = s_space_posts_before(txn, sp, before40, limit + 1, v, n, cap);
	}
	json_array_foreach (json_object_get(follows, "spaces"), i, x) {
		const char *hx = json_string_value(x);
		if (rc != 0)
			break;
		if (hx && cpt_unhex32(sp, hx, strlen(hx)) == 0 &&
		    query_space_readable(txn, sp, handle, site))
			rc = s_space_posts_before(txn, sp, before40, limit + 1, v, n, cap);
	}
	return rc;
}

json_t *
query_foryou(store_txn_t *txn, const uint8_t viewer[CPT_KEY_LEN], const uint8_t *before40,
             size_t limit, char next[81])
{
	json_t *follows = query_follows(txn, viewer), *items = json_array(), *h;
	struct tsid *v = NULL;
	size_t n = 0, cap = 0, i, shown = 0;
	const char *site = index_spaces_site();
	char handle[64];
	int rc;

	assert(txn != NULL && next != NULL);
	next[0] = 0;
	if (follows == NULL || items == NULL) {
		json_decref(follows);
		json_decref(items);
		return NULL;
	}
	/* One's own posts, each followed person's (their key now), and the
	 * posts of my spaces, my site's space and the spaces I follow
	 * (PROTOCOL.md 17.6), merged by (ts, id); each shown only to a reader
	 * who may read it. */
	if (index_handle_of(txn, viewer, handle) != 0)
		handle[0] = 0;
	rc = s_posts_before(txn, viewer, before40, limit + 1, &v, &n, &cap);
	if (rc == 0 && handle[0])
		rc = s_foryou_spaces(txn, handle, follows, site, limit, before40, &v, &n, &cap);
	json_array_foreach (json_object_get(follows, "people"), i, h) {
		uint8_t key[CPT_KEY_LEN];
		if (rc != 0)
			break;
		if (index_key_of(txn, json_string_value(h), key) == 0 &&
		    memcmp(key, viewer, CPT_KEY_LEN) != 0)
			rc = s_posts_before(txn, key, before40, limit + 1, &v, &n, &cap);
	}
	json_decref(follows);
	if (rc != 0) {
		free(v);
		json_decref(items);
		return NULL;
	}
	if (n > 1) /* no qsort of a NULL array (an empty feed): undefined */
		qsort(v, n, sizeof(*v), s_tsid_desc);
	for (i = 0; i < n && shown < limit; i++) {
		json_t *p;
		if (i > 0 && memcmp(v[i].k, v[i - 1].k, 40) == 0)
			continue; /* a followed person's post in one of my spaces */
		p = handle[0] ? query_post_as(txn, v[i].k + 8, 0, handle, site)
		              : query_post(txn, v[i].k + 8, 0);
		if (p == NULL)
			continue; /* erased, or not visible to the viewer */
		json_array_append_new(items, p);
		shown++;
		if (shown == limit && i + 1 < n)
			sodium_bin2hex(next, 81, v[i].k, 40);
	}
	free(v);
	return items;
}

/* ------------------------------------------------------ announcements */

/* The site of the first site certificate in (ts, id) order: the founding
 * site, whose admins speak for the whole company (PROTOCOL.md 17.5). The
 * first events of a store are its certificates: the walk is short. A
 * certificate record (DB_KEYS) would not do: it holds the newest
 * certificate of a key, and a site certified again looks younger. */
static void
s_founding_site(store_txn_t *txn, char out[64])
{
	store_cur_t *cur;
	store_val_t k, v;

	out[0] = 0;
	if (store_cur_open(txn, DB_ORDER, &cur) != 0)
		return;
	for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0 && out[0] == 0;
	     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		evt_t ev;
		json_t *b;
		const char *site;
		if (k.len != STORE_TSID_LEN || store_get_kind(&v) != EVT_SITE_CERT ||
		    index_event(txn, (const uint8_t *)k.data + 8, &ev) != 0 ||
		    (b = index_body(&ev)) == NULL)
			continue;
		site = json_string_value(json_object_get(b, "site"));
		if (site && strlen(site) < 64)
			strcpy(out, site);
		json_decref(b);
	}
	store_cur_close(&cur);
}

/* The site and role of a user key now, when it is an enrolled, unrevoked user. */
static int
s_user(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], char site[64], int *admin)
{
	json_t *rec = index_key_info(txn, key);
	const char *type = json_string_value(json_object_get(rec, "type"));
	const char *s = json_string_value(json_object_get(rec, "site"));
	const char *role = json_string_value(json_object_get(rec, "role"));
	int ok = type && strcmp(type, "user") == 0 && s && strlen(s) < 64 &&
	         index_revoked_at(txn, key) == UINT64_MAX;

	if (ok) {
		strcpy(site, s);
		*admin = role && strcmp(role, "admin") == 0;
	}
	json_decref(rec);
	return ok;
}

struct awalk {
	store_txn_t *txn;      /* where */
	const uint8_t *viewer; /* who looks */
	char vsite[64];        /* their site */
	char founding[64];     /* the founding site */
	uint64_t now;          /* ms */
	int pinned_only;       /* only those still pinned for the viewer */
	json_t *done;          /* post hex -> true: its newest valid announce was seen */
	json_t *out;           /* the list */
};

/* Acks of a post: whether viewer acked, and how many distinct people of
 * scope ("all", or a site name) did. */
struct acks {
	store_txn_t *txn;
	const uint8_t *viewer;
	const char *scope_site; /* NULL: anyone */
	json_t *who;            /* handles counted */
	int mine;
};

static int
s_ack_one(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	struct acks *a = arg;
	evt_t ev;
	char site[64], h[64];
	int admin;

	(void)ix;
	if (kind != EVT_ACK || index_event(txn, id, &ev) != 0 || ev.body == NULL)
		return 0;
	if (memcmp(ev.author, a->viewer, CPT_KEY_LEN) == 0)
		a->mine = 1;
	if (s_user(txn, ev.author, site, &admin) &&
	    (a->scope_site == NULL || strcmp(site, a->scope_site) == 0) &&
	    index_handle_of(txn, ev.author, h) == 0)
		json_object_set_new(a->who, h, json_true());
	return 0;
}

/* Staff of a scope now: handles whose current key is an unrevoked user of
 * site (or of any site when NULL). */
static size_t
s_staff(store_txn_t *txn, const char *site)
{
	store_cur_t *cur;
	store_val_t k, v;
	size_t n = 0;

	if (store_cur_open(txn, DB_HANDLES, &cur) != 0)
		return 0;
	for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0;
	     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		char h[64], s[64];
		uint8_t key[CPT_KEY_LEN];
		int admin;
		if (k.len >= sizeof(h))
			continue;
		memcpy(h, k.data, k.len);
		h[k.len] = 0;
		if (index_key_of(txn, h, key) == 0 && s_user(txn, key, s, &admin) &&
		    (site == NULL || strcmp(s, site) == 0))
			n++;
	}
	store_cur_close(&cur);
	return n;
}

static int
s_announce_one(void *arg, uint64_t ts, const uint8_t id[CPT_ID_LEN], const uint8_t post[CPT_ID_LEN])
{
	struct awalk *w = arg;
	char phex[2 * CPT_ID_LEN + 1], asite[64];
	evt_t ev;
	json_t *b, *p;
	const char *scope;
	uint64_t until;
	int admin, valid, rc = 0;
	index_ctx_t ix = {0};
	struct acks a = {w->txn, w->viewer, NULL, NULL, 0};

	(void)ts;
	sodium_bin2hex(phex, sizeof(phex), post, CPT_ID_LEN);
	if (json_object_get(w->done, phex))
		return 0;
	if (index_event(w->txn, id, &ev) != 0 || (b = index_body(&ev)) == NULL)
		return 0;
	scope = json_string_value(json_object_get(b, "scope"));
	until = (uint64_t)json_integer_value(json_object_get(b, "until"));
	/* Counts when its author is an admin now: of their site for "site",
	 * of the founding site for "all". An older valid one may count when
	 * the newest does not. */
	valid = scope && s_user(w->txn, ev.author, asite, &admin) && admin &&
	        (strcmp(scope, "site") == 0 || strcmp(asite, w->founding) == 0);
	if (!valid) {
		json_decref(b);
		return 0;
	}
	json_object_set_new(w->done, phex, json_true());
	if ((strcmp(scope, "site") == 0 && strcmp(asite, w->vsite) != 0) ||
	    (until != 0 && until <= w->now && w->pinned_only) ||
	    (p = query_post(w->txn, post, 0)) == NULL) {
		json_decref(b);
		return 0;
	}
	a.who = json_object();
	a.scope_site = strcmp(scope, "site") == 0 ? asite : NULL;
	if (a.who == NULL || index_each_ref(&ix, w->txn, post, s_ack_one, &a) != 0)
		rc = CPT_ENOMEM;
	index_ctx_release(&ix);
	if (rc == 0 && !(w->pinned_only && a.mine)) {
		json_t *ann = json_pack("{s:s, s:I, s:I, s:b}", "scope", scope, "until",
		                        (json_int_t)until, "ts", (json_int_t)ev.ts, "read", a.mine);
		/* "read by N of M" for the post's author only (and the admin who
		 * announced it). */
		const char *ak = json_string_value(json_object_get(p, "author_key"));
		char vhex[2 * CPT_KEY_LEN + 1];
		sodium_bin2hex(vhex, sizeof(vhex), w->viewer, CPT_KEY_LEN);
		if (ann && ((ak && strcmp(ak, vhex) == 0) ||
		            memcmp(ev.author, w->viewer, CPT_KEY_LEN) == 0)) {
			json_object_set_new(ann, "read_by",
			                    json_integer((json_int_t)json_object_size(a.who)));
			json_object_set_new(
			    ann, "of", json_integer((json_int_t)s_staff(w->txn, a.scope_site)));
		}
		json_object_set_new(p, "announcement", ann ? ann : json_null());
		json_array_append_new(w->out, p);
	} else {
		json_decref(p);
	}
	json_decref(a.who);
	json_decref(b);
	return rc;
}

json_t *
query_announcements(store_txn_t *txn, const uint8_t viewer[CPT_KEY_LEN], uint64_t now_ms,
                    int pinned_only)
{
	struct awalk w = {0};
	int admin, rc;

	assert(txn != NULL && viewer != NULL);
	w.txn = txn;
	w.viewer = viewer;
	w.now = now_ms;
	w.pinned_only = pinned_only;
	if (!s_user(txn, viewer, w.vsite, &admin))
		w.vsite[0] = 0;
	s_founding_site(txn, w.founding);
	w.done = json_object();
	w.out = json_array();
	if (w.done == NULL || w.out == NULL) {
		json_decref(w.done);
		json_decref(w.out);
		return NULL;
	}
	rc = index_announce_each(txn, s_announce_one, &w);
	json_decref(w.done);
	if (rc != 0) {
		json_decref(w.out);
		return NULL;
	}
	return w.out;
}

int
query_may_announce(store_txn_t *txn, const uint8_t user[CPT_KEY_LEN], const char *scope)
{
	char site[64], founding[64];
	int admin;

	if (!s_user(txn, user, site, &admin) || !admin)
		return 0;
	if (strcmp(scope, "site") == 0)
		return 1;
	s_founding_site(txn, founding);
	return strcmp(site, founding) == 0;
}
