/*
 * The notifications index (DB_NOTIFY, DB_NOTIFY_BY): for each person, one
 * group per post they have something to hear about (mentioned, a comment on
 * their post, a reply after theirs, reactions), recomputed from the post and
 * every event referring to it, so that it is a function of the event set.
 * Read marks and mutes are personal and sealed (mine.c): the query applies
 * them, the index never sees them.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/index/index_internal.h"

/* The types of a group, in the order a record lists them. */
static const char *const s_types[] = {"mention",    "comment",       "reply",        "reaction",
                                      "space_post", "space_request", "space_invite", NULL};

#define NOTIFY_ACTORS 3 /* actors named per type ("Claire and 4 others") */

/* What a group is made of while it is computed. */
struct group {
	json_t *recs;     /* handle -> record being built */
	json_t *reacts;   /* "author hex/reaction" -> [ts, handle, on]: the registers */
	json_t *comments; /* [[ts, handle], ...]: the comments, in (ts, id) order */
	json_t *first;    /* handle -> index in comments of their first comment */
	char author[64];  /* the post's author's handle */
	const char *only; /* compute this person's record alone, or NULL: everyone's */
	index_ctx_t *ix;  /* the transaction's context */
	store_txn_t *txn; /* where */
};

/* The record of who, made when missing; NULL when memory is short. */
static json_t *
s_rec(struct group *g, const char *who)
{
	json_t *rec = json_object_get(g->recs, who);

	if (rec == NULL) {
		rec = json_pack("{s:I, s:{}}", "latest", (json_int_t)0, "types");
		if (rec == NULL || json_object_set_new(g->recs, who, rec) != 0)
			return NULL;
	}
	return rec;
}

static void
s_latest(json_t *obj, uint64_t ts)
{
	const char *name = json_object_get(obj, "latest") ? "latest" : "ts";

	if ((uint64_t)json_integer_value(json_object_get(obj, name)) < ts)
		json_object_set_new(obj, name, json_integer((json_int_t)ts));
}

/* Adds one item of type to who's record: ts, by whom. Actors are kept in
 * "_who" (handle -> their newest ts) until s_trim names the newest. */
static void
s_add(struct group *g, const char *who, const char *type, uint64_t ts, const char *by)
{
	json_t *rec, *t, *w, *old;

	if (who[0] == 0 || strcmp(who, by) == 0)
		return; /* nobody hears of their own doing */
	if (g->only && strcmp(who, g->only) != 0)
		return;
	if ((rec = s_rec(g, who)) == NULL)
		return;
	s_latest(rec, ts);
	t = json_object_get(json_object_get(rec, "types"), type);
	if (t == NULL) {
		t = json_pack("{s:i, s:I, s:{}}", "n", 0, "ts", (json_int_t)0, "_who");
		if (t == NULL || json_object_set_new(json_object_get(rec, "types"), type, t) != 0)
			return;
	}
	json_object_set_new(t, "n", json_integer(json_integer_value(json_object_get(t, "n")) + 1));
	s_latest(t, ts);
	w = json_object_get(t, "_who");
	old = json_object_get(w, by);
	if (old == NULL || (uint64_t)json_integer_value(old) < ts)
		json_object_set_new(w, by, json_integer((json_int_t)ts));
}

/* One actor, for sorting. */
struct actor {
	const char *h;
	uint64_t ts;
};

static int
s_actor_cmp(const void *a, const void *b)
{
	const struct actor *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts > y->ts ? -1 : 1;
	return strcmp(x->h, y->h);
}

/* Names each type's newest NOTIFY_ACTORS actors ("by", newest first, ties
 * by handle) and counts them ("actors") once the group is complete. */
static int
s_trim(json_t *recs)
{
	const char *h, *ty, *a;
	json_t *rec, *t, *v;

	json_object_foreach (recs, h, rec) {
		json_object_foreach (json_object_get(rec, "types"), ty, t) {
			json_t *w = json_object_get(t, "_who"), *by;
			size_t n = json_object_size(w), i = 0;
			struct actor *list;
			if (w == NULL)
				continue; /* made whole by s_set_replies */
			if ((list = malloc((n ? n : 1) * sizeof(*list))) == NULL)
				return CPT_ENOMEM;
			json_object_foreach (w, a, v) {
				list[i].h = a;
				list[i++].ts = (uint64_t)json_integer_value(v);
			}
			qsort(list, n, sizeof(*list), s_actor_cmp);
			by = json_array();
			for (i = 0; by && i < n && i < NOTIFY_ACTORS; i++)
				json_array_append_new(by, json_string(list[i].h));
			free(list);
			if (by == NULL)
				return CPT_ENOMEM;
			json_object_set_new(t, "by", by);
			json_object_set_new(t, "actors", json_integer((json_int_t)n));
			json_object_del(t, "_who");
		}
	}
	return 0;
}

/* Replies: for each person who commented, the comments after their first
 * one by others. One walk back over the comments, keeping who commented
 * after each point (newest first) and how many comments each wrote:
 * linear in the thread, where adding each reply to every earlier commenter
 * was quadratic (and cubic with its actors). */
static int
s_set_replies(struct group *g)
{
	size_t n = json_array_size(g->comments);
	json_t *after, *in_after, *by_count;
	int rc = 0;

	if (n == 0)
		return 0; /* no comment, no reply: most posts, as they come */
	after = json_array();
	in_after = json_object();
	by_count = json_object();
	if (after == NULL || in_after == NULL || by_count == NULL)
		rc = CPT_ENOMEM;
	for (size_t i = n; rc == 0 && i-- > 0;) {
		json_t *c = json_array_get(g->comments, i);
		const char *h = json_string_value(json_array_get(c, 1));
		size_t total = n - 1 - i; /* comments after this one */
		if ((size_t)json_integer_value(json_object_get(g->first, h)) == i &&
		    strcmp(h, g->author) != 0 && (g->only == NULL || strcmp(h, g->only) == 0)) {
			size_t mine = (size_t)json_integer_value(json_object_get(by_count, h));
			size_t replies = total - mine, actors = json_array_size(after);
			if (replies > 0) {
				json_t *rec = s_rec(g, h), *by = json_array(), *t;
				uint64_t newest = 0;
				actors -= json_object_get(in_after, h) != NULL;
				for (size_t j = 0; by && j < json_array_size(after) &&
				                   json_array_size(by) < NOTIFY_ACTORS;
				     j++) {
					json_t *x = json_array_get(after, j);
					const char *xh = json_string_value(json_array_get(x, 1));
					if (strcmp(xh, h) == 0)
						continue;
					if (newest == 0)
						newest = (uint64_t)json_integer_value(
						    json_array_get(x, 0));
					json_array_append_new(by, json_string(xh));
				}
				t = by ? json_pack("{s:I, s:I, s:o, s:I}", "n", (json_int_t)replies,
				                   "ts", (json_int_t)newest, "by", by, "actors",
				                   (json_int_t)actors)
				       : NULL;
				if (rec == NULL || t == NULL ||
				    json_object_set_new(json_object_get(rec, "types"), "reply",
				                        t) != 0) {
					rc = CPT_ENOMEM;
					break;
				}
				s_latest(rec, newest);
			}
		}
		json_object_set_new(
		    by_count, h,
		    json_integer(json_integer_value(json_object_get(by_count, h)) + 1));
		if (json_object_get(in_after, h) == NULL) {
			/* walked back: the first seen is each one's newest */
			json_object_set_new(in_after, h, json_true());
			json_array_append(after, c);
		}
	}
	json_decref(after);
	json_decref(in_after);
	json_decref(by_count);
	return rc;
}

struct mention_to {
	struct group *g; /* the group */
	uint64_t ts;     /* the text's time */
	const char *by;  /* its author */
};

static void
s_mention_to(const char *h, void *arg)
{
	struct mention_to *m = arg;

	s_add(m->g, h, "mention", m->ts, m->by);
}

/* A follower of the post's space (ix_space_followers): one space_post,
 * once, whatever the number of their keys that follow. */
static void
s_follower(const char *h, void *arg)
{
	struct mention_to *m = arg;
	json_t *rec = json_object_get(m->g->recs, h);

	if (json_object_get(json_object_get(rec, "types"), "space_post") == NULL)
		s_add(m->g, h, "space_post", m->ts, m->by);
}

/* One event referring to the post, in (ts, id) order. */
static int
s_ref(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	struct group *g = arg;
	char by[64];
	evt_t ev;
	json_t *b;

	if (kind != EVT_COMMENT && kind != EVT_REACTION)
		return 0;
	/* Opened: a sealed comment of a private space says what its plaintext says. */
	if (index_event_open_in(ix, txn, id, &ev, &b) != 0 || b == NULL)
		return 0; /* erased, or sealed and not opened here: it says nothing */
	if (index_handle_cached(ix, txn, ev.author, by) != 0) {
		json_decref(b);
		return 0;
	}
	if (kind == EVT_COMMENT) {
		const char *text = json_string_value(json_object_get(b, "text"));
		struct mention_to m = {g, ev.ts, by};
		s_add(g, g->author, "comment", ev.ts, by);
		if (json_object_get(g->first, by) == NULL)
			json_object_set_new(g->first, by,
			                    json_integer((json_int_t)json_array_size(g->comments)));
		json_array_append_new(g->comments, json_pack("[I, s]", (json_int_t)ev.ts, by));
		if (text)
			ix_each_mention(text, s_mention_to, &m);
	} else {
		/* The register of (author, reaction): the last in (ts, id) order wins. */
		const char *r = json_string_value(json_object_get(b, "reaction"));
		char hex[2 * CPT_KEY_LEN + 1], key[2 * CPT_KEY_LEN + 2 + EVT_MAX_REACTION + 1];
		if (r && strlen(r) <= EVT_MAX_REACTION) {
			sodium_bin2hex(hex, sizeof(hex), ev.author, CPT_KEY_LEN);
			memcpy(key, hex, 2 * CPT_KEY_LEN);
			key[2 * CPT_KEY_LEN] = '/';
			strcpy(key + 2 * CPT_KEY_LEN + 1, r);
			json_object_set_new(g->reacts, key,
			                    json_pack("[I, s, b]", (json_int_t)ev.ts, by,
			                              json_is_true(json_object_get(b, "on"))));
		}
	}
	json_decref(b);
	return 0;
}

/* Who of recs may read the post of space (PROTOCOL.md 17.3): anyone in an
 * open space; in a private space its active members; in a site space the
 * staff of the site. The others' records are taken out, so that nothing of
 * a space reaches a person who may not read it. The stored state is the
 * space index's fold, stored before it calls index_notify_post. */
static int
s_readers_only(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const uint8_t space[CPT_ID_LEN],
               json_t *recs)
{
	json_t *st = index_space_get(txn, space), *keep = json_object(), *m, *rec;
	const char *h, *vis = json_string_value(json_object_get(st, "visibility"));
	size_t i;

	if (keep == NULL) {
		json_decref(st);
		return CPT_ENOMEM;
	}
	if (st && vis && strcmp(vis, "open") == 0) {
		json_decref(st);
		json_decref(keep);
		return 0;
	}
	if (st) {
		json_array_foreach (json_object_get(st, "members"), i, m) {
			const char *mh = json_string_value(json_object_get(m, "handle"));
			if (mh && json_is_true(json_object_get(m, "active")))
				json_object_set_new(keep, mh, json_true());
		}
	} else {
		/* A site space (not stored): the staff of the author's site. */
		json_t *ai = index_key_info(txn, ev->author);
		const char *site = json_string_value(json_object_get(ai, "site"));
		uint8_t ss[CPT_ID_LEN];
		if (site && (index_site_space(ss, site), memcmp(ss, space, CPT_ID_LEN) == 0)) {
			json_object_foreach (recs, h, rec) {
				uint8_t key[CPT_KEY_LEN];
				json_t *hi;
				if (index_key_of(txn, h, key) != 0)
					continue;
				hi = index_key_info(txn, key);
				if (json_equal(json_object_get(hi, "site"),
				               json_object_get(ai, "site")))
					json_object_set_new(keep, h, json_true());
				json_decref(hi);
			}
		}
		json_decref(ai);
	}
	(void)ix;
	{
		void *tmp;
		json_object_foreach_safe (recs, tmp, h, rec) {
			if (json_object_get(keep, h) == NULL)
				json_object_del(recs, h);
		}
	}
	json_decref(st);
	json_decref(keep);
	return 0;
}

/* The groups of post id, computed: handle -> record (a new reference), or
 * NULL when it has none (gone, erased, not a post, or in a space). only:
 * that person's record alone, or NULL. known: the post itself when the
 * caller holds it decoded and parsed (a post in clear being ingested, just
 * stored with its body), else NULL. */
static json_t *
s_compute(index_ctx_t *ix, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], const char *only,
          const index_ev_t *known, int rc_out[1])
{
	struct group g = {0};
	evt_t ev;
	json_t *b;
	const char *key;
	json_t *reg;
	uint8_t in_space[CPT_ID_LEN];
	int rc = 0;

	*rc_out = 0;
	/* A post in clear being ingested is neither read nor parsed again (2%
	 * of a receiving node's CPU, issue 23; reading it back, 5% of the
	 * writer's instructions, session 12): what the store holds under id is
	 * that very event. Else through the cache of bodies parsed. A sealed
	 * post opened here is read as its plaintext; one not opened (this site
	 * is not a member site) notifies nobody. */
	if (known && known->ev->kind == EVT_POST && known->ev->body && known->body) {
		ev = *known->ev;
		b = json_incref((json_t *)known->body);
	} else {
		rc = index_event_open_in(ix, txn, id, &ev, &b);
	}
	if (rc != 0) {
		if (rc != CPT_ENOTFOUND && rc != CPT_EINVAL)
			*rc_out = rc;
		return NULL;
	}
	if (ev.kind != EVT_POST || b == NULL) {
		json_decref(b);
		return NULL;
	}
	if (json_object_get(b, "space") && ix_space_place(ix, txn, &ev, id, b, in_space) != 1) {
		/* Not (or not yet) a post of its space: it counts nowhere. */
		json_decref(b);
		return NULL;
	}
	if (index_handle_cached(ix, txn, ev.author, g.author) != 0) {
		json_decref(b);
		return NULL;
	}
	g.ix = ix;
	g.txn = txn;
	g.only = only;
	g.recs = json_object();
	g.reacts = json_object();
	g.comments = json_array();
	g.first = json_object();
	if (g.recs && g.reacts && g.comments && g.first) {
		const char *text = json_string_value(json_object_get(b, "text"));
		struct mention_to m = {&g, ev.ts, g.author};
		if (text)
			ix_each_mention(text, s_mention_to, &m);
		/* A post of a space: its followers since before it (17.3). */
		if (json_object_get(b, "space"))
			*rc_out = ix_space_followers(ix, txn, in_space, ev.ts, id, s_follower, &m);
		/* A post just stored that nothing referred to: no reference to
		 * walk (index_ref_fresh). */
		if (*rc_out == 0 && !(known && index_ref_fresh(txn, id)))
			*rc_out = index_each_ref(ix, txn, id, s_ref, &g);
		json_object_foreach (g.reacts, key, reg) {
			if (json_is_true(json_array_get(reg, 2)))
				s_add(&g, g.author, "reaction",
				      (uint64_t)json_integer_value(json_array_get(reg, 0)),
				      json_string_value(json_array_get(reg, 1)));
		}
		if (*rc_out == 0)
			*rc_out = s_trim(g.recs);
		if (*rc_out == 0)
			*rc_out = s_set_replies(&g);
		if (*rc_out == 0 && json_object_get(b, "space"))
			*rc_out = s_readers_only(ix, txn, &ev, in_space, g.recs);
	} else {
		*rc_out = CPT_ENOMEM;
	}
	json_decref(b);
	json_decref(g.reacts);
	json_decref(g.comments);
	json_decref(g.first);
	if (*rc_out != 0) {
		json_decref(g.recs);
		return NULL;
	}
	return g.recs;
}

/* The DB_NOTIFY key of (handle, latest, group) into k; its length. */
static size_t
s_key(uint8_t *k, const char *h, uint64_t latest, const uint8_t group[CPT_ID_LEN])
{
	size_t hl = strlen(h);

	memcpy(k, h, hl);
	k[hl] = 0;
	store_put_u64(k + hl + 1, latest);
	memcpy(k + hl + 9, group, CPT_ID_LEN);
	return hl + 9 + CPT_ID_LEN;
}

/* DB_NOTIFY_BY is keyed by the group's reference number (schema 13,
 * index_ref_num): the groups of recent posts, nearly all that change, sit
 * in its last pages. */
#define NUM_LEN 8

/* Takes out every entry of group, whose number is num. */
static int
s_clear(store_txn_t *txn, const uint8_t group[CPT_ID_LEN], const uint8_t num[NUM_LEN])
{
	store_cur_t *cur;
	store_val_t k = {NUM_LEN, (void *)num}, v;
	uint8_t nk[64 + 9 + CPT_ID_LEN];
	char h[64];
	int rc;

	if ((rc = store_cur_open(txn, DB_NOTIFY_BY, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len > NUM_LEN && k.len < NUM_LEN + sizeof(h) &&
	       memcmp(k.data, num, NUM_LEN) == 0) {
		size_t hl = k.len - NUM_LEN;
		if (v.len != 8) {
			rc = CPT_EINVAL;
			break;
		}
		memcpy(h, (const uint8_t *)k.data + NUM_LEN, hl);
		h[hl] = 0;
		rc = store_del(txn, DB_NOTIFY, nk, s_key(nk, h, store_get_u64(v.data), group));
		if (rc == 0)
			rc = store_cur_del(cur);
		if (rc == 0)
			rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* A growing buffer of bytes (s_dump). */
struct out {
	char *p;         /* the bytes */
	size_t len, cap; /* used, room */
	int stack;       /* p is the caller's array (not malloc'd) */
	int no;          /* a value s_dump does not write as json_dumps would, or no memory */
};

static void
s_out(struct out *o, const char *s, size_t n)
{
	if (o->no)
		return;
	if (o->len + n > o->cap) {
		size_t cap = 2 * (o->len + n);
		char *np = o->stack ? malloc(cap) : realloc(o->p, cap);
		if (np == NULL) {
			o->no = 1;
			return;
		}
		if (o->stack)
			memcpy(np, o->p, o->len);
		o->p = np;
		o->cap = cap;
		o->stack = 0;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* A string json_dumps writes as it is: printable ASCII without '"' or
 * '\\' (handles, types). Anything else is left to json_dumps. */
static void
s_out_str(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '"' ||
		    s[i] == '\\')
			o->no = 1;
	s_out(o, "\"", 1);
	s_out(o, s, n);
	s_out(o, "\"", 1);
}

/* j as json_dumps(j, JSON_COMPACT) writes it (members in their order; the
 * records are objects, arrays, integers and plain strings), without its
 * cycle check's bookkeeping, which made a record's dump cost 17,000
 * instructions (issue 23, session 12). Anything else sets o->no. */
static void
s_dump(struct out *o, const json_t *j)
{
	char num[32];
	const char *k;
	json_t *v;
	size_t i, first = 1;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		s_out(o, "{", 1);
		json_object_foreach ((json_t *)j, k, v) {
			if (!first)
				s_out(o, ",", 1);
			first = 0;
			s_out_str(o, k, strlen(k));
			s_out(o, ":", 1);
			s_dump(o, v);
		}
		s_out(o, "}", 1);
		return;
	case JSON_ARRAY:
		s_out(o, "[", 1);
		json_array_foreach (j, i, v) {
			if (i)
				s_out(o, ",", 1);
			s_dump(o, v);
		}
		s_out(o, "]", 1);
		return;
	case JSON_INTEGER: {
		/* As "%" JSON_INTEGER_FORMAT writes it, without snprintf's format
		 * parsing (800 instructions a number, two numbers per record). */
		json_int_t x = json_integer_value(j);
		unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
		size_t at = sizeof(num);
		do {
			num[--at] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (x < 0)
			num[--at] = '-';
		s_out(o, num + at, sizeof(num) - at);
		return;
	}
	case JSON_STRING: s_out_str(o, json_string_value(j), json_string_length(j)); return;
	case JSON_TRUE: s_out(o, "true", 4); return;
	case JSON_FALSE: s_out(o, "false", 5); return;
	case JSON_NULL: s_out(o, "null", 4); return;
	default: o->no = 1; return;
	}
}

/* Puts who's record of group (DB_NOTIFY, and DB_NOTIFY_BY to find it). */
static int
s_put(store_txn_t *txn, const uint8_t group[CPT_ID_LEN], const uint8_t num[NUM_LEN], const char *h,
      const json_t *rec)
{
	uint8_t k[64 + 9 + CPT_ID_LEN], bk[NUM_LEN + 64], lt[8], *val;
	char small[512];
	struct out o = {0};
	size_t hl = strlen(h), jl;
	uint64_t latest = (uint64_t)json_integer_value(json_object_get(rec, "latest"));
	uint64_t n = 0;
	const char *ty;
	json_t *t;
	char *js;
	int rc;

	if (hl == 0 || hl >= 64)
		return 0;
	json_object_foreach ((json_t *)json_object_get(rec, "types"), ty, t) {
		n += (uint64_t)json_integer_value(json_object_get(t, "n"));
	}
	/* The value: the items' count (8 bytes), then the record: a reader
	 * tells unread from read with no JSON to parse. The record's bytes are
	 * json_dumps's (s_dump, or json_dumps itself for what s_dump leaves). */
	o.p = small;
	o.cap = sizeof(small);
	o.stack = 1;
	s_out(&o, "01234567", 8); /* the count's place */
	s_dump(&o, rec);
	if (o.no) {
		if (!o.stack)
			free(o.p);
		if ((js = json_dumps(rec, JSON_COMPACT)) == NULL)
			return CPT_ENOMEM;
		jl = strlen(js);
		if ((val = malloc(8 + jl)) == NULL) {
			free(js);
			return CPT_ENOMEM;
		}
		memcpy(val + 8, js, jl);
		free(js);
	} else {
		val = (uint8_t *)o.p;
		jl = o.len - 8;
	}
	store_put_u64(val, n);
	rc = store_put(txn, DB_NOTIFY, k, s_key(k, h, latest, group), val, 8 + jl);
	if (val != (uint8_t *)small)
		free(val);
	if (rc != 0)
		return rc;
	memcpy(bk, num, NUM_LEN);
	memcpy(bk + NUM_LEN, h, hl);
	store_put_u64(lt, latest);
	return store_put(txn, DB_NOTIFY_BY, bk, NUM_LEN + hl, lt, 8);
}

/* The number of group into num: 0, CPT_ENOTFOUND (none, give unset: it
 * has no entry) or a store error. */
static int
s_num(store_txn_t *txn, const uint8_t group[CPT_ID_LEN], int give, uint8_t num[NUM_LEN])
{
	return index_ref_num(txn, group, give, num);
}

int
index_notify_group(index_ctx_t *ix, store_txn_t *txn, const uint8_t group[CPT_ID_LEN],
                   const json_t *recs)
{
	const char *h;
	json_t *rec;
	int rc, fresh;

	uint8_t num[NUM_LEN];

	(void)ix;
	assert(txn != NULL && group != NULL);
	/* A post just stored that nothing referred to has no entry to take
	 * out (index_ref_fresh: asked before s_num, which ends it). */
	fresh = index_ref_fresh(txn, group);
	/* A group with nothing to hear of needs no number. */
	if (fresh && json_object_size(recs) == 0)
		return 0;
	rc = s_num(txn, group, json_object_size(recs) > 0, num);
	if (rc == CPT_ENOTFOUND)
		return 0;
	if (rc != 0 || (!fresh && (rc = s_clear(txn, group, num)) != 0))
		return rc;
	json_object_foreach ((json_t *)recs, h, rec) {
		if ((rc = s_put(txn, group, num, h, rec)) != 0)
			return rc;
	}
	return 0;
}

int
index_notify_post_for(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
                      const char *who)
{
	uint8_t bk[NUM_LEN + 64], k[64 + 9 + CPT_ID_LEN];
	size_t hl = strlen(who);
	store_val_t v;
	json_t *recs, *rec;
	int rc;

	assert(txn != NULL && post != NULL && who != NULL);
	if (hl == 0 || hl >= 64)
		return 0;
	recs = s_compute(ix, txn, post, who, NULL, &rc);
	if (rc != 0)
		return rc;
	rec = json_object_get(recs, who);
	rc = s_num(txn, post, rec != NULL, bk);
	/* Who's entry only: out, then in again as computed. */
	if (rc == 0) {
		memcpy(bk + NUM_LEN, who, hl);
		rc = store_get(txn, DB_NOTIFY_BY, bk, NUM_LEN + hl, &v);
	}
	if (rc == 0 && v.len == 8) {
		rc = store_del(txn, DB_NOTIFY, k, s_key(k, who, store_get_u64(v.data), post));
		if (rc == 0)
			rc = store_del(txn, DB_NOTIFY_BY, bk, NUM_LEN + hl);
	}
	if (rc == CPT_ENOTFOUND)
		rc = 0;
	if (rc == 0 && rec != NULL)
		rc = s_put(txn, post, bk, who, rec);
	json_decref(recs);
	return rc;
}

/* index_notify_post, with the post when the caller holds it (known, or
 * NULL). */
static int
s_notify_post(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
              const index_ev_t *known)
{
	int rc;
	json_t *recs = s_compute(ix, txn, post, NULL, known, &rc);

	if (rc != 0)
		return rc;
	rc = index_notify_group(ix, txn, post, recs);
	json_decref(recs);
	return rc;
}

int
index_notify_post(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN])
{
	return s_notify_post(ix, txn, post, NULL);
}

/* The post an event is about: itself, or what it refers to. */
static const uint8_t *
s_post_of(const index_ev_t *e)
{
	return e->ev->kind == EVT_POST ? e->id : e->ref;
}

int
ix_notify_changed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	const uint8_t *p = s_post_of(e);

	return p ? index_notify_post(ix, txn, p) : 0;
}

int
ix_notify_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	const uint8_t *p = s_post_of(e);

	if (p == NULL)
		return 0;
	/* A post being added: its body is at hand (when one leaves, the store
	 * says what remains of it: ix_notify_changed). */
	return s_notify_post(ix, txn, p, e->ev->kind == EVT_POST ? e : NULL);
}

/* Every post again (a store from before the index: schema 4). */
static int
s_rebuild_fn(store_txn_t *txn, const store_val_t *k, const store_val_t *v, void *arg)
{
	index_ctx_t *ix = arg;

	if (k->len != STORE_TSID_LEN || store_get_kind(v) != EVT_POST)
		return 0;
	return index_notify_post(ix, txn, (const uint8_t *)k->data + 8);
}

int
ix_notify_rebuild(store_txn_t *txn)
{
	index_ctx_t ix = {0};
	int rc = store_drop(txn, DB_NOTIFY_BY);

	if (rc == 0)
		rc = store_rebuild(txn, DB_NOTIFY, DB_ORDER, s_rebuild_fn, &ix);
	index_ctx_release(&ix);
	return rc;
}

/* Schema 13: DB_NOTIFY_BY again from DB_NOTIFY (handle 0x00 latest(8)
 * group(32)), under the groups' numbers instead of their ids. */
int
ix_notify_by_renumber(store_txn_t *txn)
{
	store_cur_t *cur;
	store_val_t k, v;
	uint8_t bk[NUM_LEN + 64], lt[8];
	int rc;

	if ((rc = store_drop(txn, DB_NOTIFY_BY)) != 0 ||
	    (rc = store_cur_open(txn, DB_NOTIFY, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		const uint8_t *p = k.data, *z = k.len > 9 + CPT_ID_LEN ? memchr(p, 0, k.len) : NULL;
		size_t hl = z ? (size_t)(z - p) : 0;
		if (hl == 0 || hl >= 64 || k.len != hl + 9 + CPT_ID_LEN)
			continue; /* not an entry this index writes */
		/* Copied: the cursor's bytes are not ours past the puts. */
		memcpy(bk + NUM_LEN, p, hl);
		memcpy(lt, p + hl + 1, 8);
		{
			uint8_t group[CPT_ID_LEN];
			memcpy(group, p + hl + 9, CPT_ID_LEN);
			if ((rc = index_ref_num(txn, group, 1, bk)) != 0 ||
			    (rc = store_put(txn, DB_NOTIFY_BY, bk, NUM_LEN + hl, lt, 8)) != 0)
				break;
		}
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

const char *const *
index_notify_types(void)
{
	return s_types;
}

int
index_notify_each(store_txn_t *txn, const char *handle, const uint8_t *before, index_notify_fn fn,
                  void *arg)
{
	store_cur_t *cur;
	uint8_t start[64 + 9 + CPT_ID_LEN];
	size_t hl = strlen(handle), sl;
	store_val_t k, v;
	int rc;

	assert(txn != NULL && handle != NULL && fn != NULL);
	if (hl == 0 || hl >= 64)
		return 0;
	/* Start at the cursor, or just past the person's last entry. */
	memcpy(start, handle, hl);
	start[hl] = before ? 0 : 1;
	sl = hl + 1;
	if (before) {
		memcpy(start + hl + 1, before, 8 + CPT_ID_LEN);
		sl += 8 + CPT_ID_LEN;
	}
	if ((rc = store_cur_open(txn, DB_NOTIFY, &cur)) != 0)
		return rc;
	k.len = sl;
	k.data = start;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	rc = rc == 0               ? store_cur_get(cur, &k, &v, STORE_PREV)
	     : rc == CPT_ENOTFOUND ? store_cur_get(cur, &k, &v, STORE_LAST)
	                           : rc;
	while (rc == 0 && k.len == hl + 9 + CPT_ID_LEN && memcmp(k.data, handle, hl) == 0 &&
	       ((const uint8_t *)k.data)[hl] == 0) {
		const uint8_t *p = (const uint8_t *)k.data + hl + 1;
		if (v.len < 8) {
			rc = CPT_EINVAL;
			break;
		}
		if ((rc = fn(arg, store_get_u64(p), p + 8, store_get_u64(v.data),
		             (const char *)v.data + 8, v.len - 8)) != 0)
			break;
		rc = store_cur_get(cur, &k, &v, STORE_PREV);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* -------------------------------------------------------------- spaces */

int
index_notify_space(index_ctx_t *ix, store_txn_t *txn, const space_state_t *st)
{
	struct group g = {0};
	size_t np, nm;
	int rc = 0;

	assert(txn != NULL && st != NULL);
	if ((g.recs = json_object()) == NULL)
		return CPT_ENOMEM;
	/* An archived space, or one that does not exist (yet): nothing waits. */
	np = space_state_exists(st) && !space_state_archived(st) ? space_state_npending(st) : 0;
	nm = space_state_nmembers(st);
	for (size_t i = 0; i < np; i++) {
		const space_pending_t *p = space_state_pending(st, i);
		if (p->invited) {
			s_add(&g, p->handle, "space_invite", p->ts, p->by);
			continue;
		}
		/* A request: every admin and owner hears of it. */
		for (size_t j = 0; j < nm; j++) {
			const space_member_t *m = space_state_member(st, j);
			if (m->role >= SPACE_ADMIN && m->active)
				s_add(&g, m->handle, "space_request", p->ts, p->handle);
		}
	}
	if ((rc = s_trim(g.recs)) == 0)
		rc = index_notify_group(ix, txn, space_state_id(st), g.recs);
	json_decref(g.recs);
	return rc;
}

/* ------------------------------------------------------- announcements */

/* Which announcement counts, and for whom, is read when shown (the
 * author's role now: node/query/notify.c); the index only finds them. */
int
ix_announce_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t k[STORE_TSID_LEN];

	(void)ix;
	if (e->ref == NULL)
		return 0;
	store_tsid(k, e->ev->ts, e->id);
	return store_put(txn, DB_ANNOUNCE, k, sizeof(k), e->ref, CPT_ID_LEN);
}

int
ix_announce_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t k[STORE_TSID_LEN];

	(void)ix;
	store_tsid(k, e->ev->ts, e->id);
	return store_del(txn, DB_ANNOUNCE, k, sizeof(k));
}

int
index_announce_each(store_txn_t *txn,
                    int (*fn)(void *arg, uint64_t ts, const uint8_t id[CPT_ID_LEN],
                              const uint8_t post[CPT_ID_LEN]),
                    void *arg)
{
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	assert(txn != NULL && fn != NULL);
	if ((rc = store_cur_open(txn, DB_ANNOUNCE, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_LAST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_PREV)) {
		if (k.len != STORE_TSID_LEN || v.len != CPT_ID_LEN)
			continue;
		if ((rc = fn(arg, store_get_u64(k.data), (const uint8_t *)k.data + 8, v.data)) != 0)
			break;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}
