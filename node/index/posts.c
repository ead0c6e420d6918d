/*
 * Post views (DB_FEED under the post's (ts, id); the record is views.c's)
 * and the reaction registers they count from (DB_REACTIONS). A view is a function of the stored
 * events: rebuilt from the post and what refers to it, or changed by
 * difference when a comment or a reaction comes (the same result, which the
 * order tests check).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/index/index_internal.h"

/* ---------------------------------------------------------- references */

/* What the view needs from one reference. An erased comment has no DB_BY_REF
 * entry (index_base_unref), so each entry of a comment is one visible
 * comment: no load. Reactions are counted from DB_REACTIONS; only edits are
 * read. */
static int
s_post_ref(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	index_refs_t *a = arg;
	evt_t ev;
	json_t *b;

	if (kind == EVT_COMMENT && a->space == NULL)
		a->comments++;
	if (kind != EVT_EDIT && (kind != EVT_COMMENT || a->space == NULL))
		return 0;
	/* An edit may be sealed: its opened body (node/index/spaces.c). */
	if (index_event_open_in(ix, txn, id, &ev, &b) != 0 || b == NULL)
		return 0;
	/* In a space, only its members' count (PROTOCOL.md 16.9). */
	if (a->space && !ix_space_ref_in(ix, txn, a->space, &ev, id, b)) {
		json_decref(b);
		return 0;
	}
	if (kind == EVT_COMMENT) {
		a->comments++;
		json_decref(b);
		return 0;
	}
	if (sodium_memcmp(ev.author, a->author, CPT_KEY_LEN) == 0 &&
	    (a->edit_body == NULL || store_cmp_tsid(ev.ts, id, a->edit_ts, a->edit_id) > 0)) {
		json_decref(a->edit_body);
		a->edit_body = json_incref(b);
		a->edit_ts = ev.ts;
		memcpy(a->edit_id, id, CPT_ID_LEN);
		a->text = json_object_get(b, "text");
	}
	json_decref(b);
	return 0;
}

int
index_refs_in(index_ctx_t *ix, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], index_refs_t *acc)
{
	assert(ix != NULL && txn != NULL && acc != NULL);
	return index_each_ref(ix, txn, id, s_post_ref, acc);
}

int
index_refs(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], index_refs_t *acc)
{
	index_ctx_t ix = {0};
	int rc = index_refs_in(&ix, txn, id, acc);

	index_ctx_release(&ix); /* a space's fold when acc->space is set */
	return rc;
}

/* ------------------------------------------------------------ reactions */

/* DB_REACTIONS holds, for each post, author and reaction, the newest
 * (timestamp, id) reaction event: last writer wins. A reaction that arrives
 * changes one entry and at most one count of the post view, whatever the
 * number of reactions already there; a reaction that goes rebuilds the post's
 * entries from the reactions that stay. */

/* Schema 13: the registers are keyed by the post's reference number
 * (index_ref_num), not its id: a reaction, nearly always to a recent post,
 * changes the last pages. */
#define REG_NUM     8
#define REG_KEY_MAX (REG_NUM + CPT_KEY_LEN + EVT_MAX_REACTION)
#define REG_VAL_LEN (8 + CPT_ID_LEN + 1)

static size_t
s_reg_key(uint8_t k[REG_KEY_MAX], const uint8_t num[REG_NUM], const uint8_t author[CPT_KEY_LEN],
          const char *reaction)
{
	size_t n = strlen(reaction);

	if (n > EVT_MAX_REACTION) /* validated on the way in; a bound all the same */
		n = EVT_MAX_REACTION;
	memcpy(k, num, REG_NUM);
	memcpy(k + REG_NUM, author, CPT_KEY_LEN);
	memcpy(k + REG_NUM + CPT_KEY_LEN, reaction, n);
	return REG_NUM + CPT_KEY_LEN + n;
}

/* The number of post into num for a read: 0, CPT_ENOTFOUND (none: post
 * has no register) or a store error. */
static int
s_reg_num(store_txn_t *txn, const uint8_t post[CPT_ID_LEN], uint8_t num[REG_NUM])
{
	return index_ref_num(txn, post, 0, num);
}

/* Records reaction event id (ev, body) on post if it is the newest of its
 * author and name there. *delta gets the change of that name's count: -1, 0
 * or +1. Returns 0 or a store error. */
static int
s_reg_put(store_txn_t *txn, const uint8_t post[CPT_ID_LEN], const evt_t *ev,
          const uint8_t id[CPT_ID_LEN], const json_t *body, int *delta)
{
	const char *r = json_string_value(json_object_get(body, "reaction"));
	int on = json_is_true(json_object_get(body, "on")), was = 0, rc;
	uint8_t k[REG_KEY_MAX], val[REG_VAL_LEN];
	size_t kl;
	store_val_t v;

	uint8_t num[REG_NUM];

	*delta = 0;
	if (r == NULL || *r == 0)
		return 0;
	/* A post not stored yet is given its number now. */
	if ((rc = index_ref_num(txn, post, 1, num)) != 0)
		return rc;
	kl = s_reg_key(k, num, ev->author, r);
	rc = store_get(txn, DB_REACTIONS, k, kl, &v);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		return rc;
	if (rc == 0 && v.len == REG_VAL_LEN) {
		const uint8_t *p = v.data;
		if (store_cmp_tsid(store_get_u64(p), p + 8, ev->ts, id) >= 0)
			return 0; /* an older one, arrived late: changes nothing */
		was = p[8 + CPT_ID_LEN] != 0;
	}
	store_put_u64(val, ev->ts);
	memcpy(val + 8, id, CPT_ID_LEN);
	val[8 + CPT_ID_LEN] = (uint8_t)on;
	if ((rc = store_put(txn, DB_REACTIONS, k, kl, val, sizeof(val))) != 0)
		return rc;
	*delta = on - was;
	return 0;
}

/* Deletes every entry of DB_REACTIONS under prefix (plen bytes). */
static int
s_reg_clear(store_txn_t *txn, const uint8_t *prefix, size_t plen)
{
	store_cur_t *cur;
	store_val_t k = {plen, (void *)prefix}, v;
	int rc;

	if ((rc = store_cur_open(txn, DB_REACTIONS, &cur)) != 0)
		return rc;
	/* Seek again after each delete: the first entry left under prefix. */
	for (;;) {
		k.len = plen;
		k.data = (void *)prefix;
		rc = store_cur_get(cur, &k, &v, STORE_SEEK);
		if (rc != 0 || k.len < plen || memcmp(k.data, prefix, plen) != 0)
			break;
		if ((rc = store_cur_del(cur)) != 0)
			break;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* The post whose registers are built, and its place when known. */
struct s_reg_arg {
	const uint8_t *post;  /* the post */
	int known;            /* its place is known: space says it */
	const uint8_t *space; /* its space, or NULL: company-wide */
};

static int
s_reg_ref(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	const struct s_reg_arg *a = arg;
	evt_t ev;
	json_t *b;
	int delta, rc;

	if (kind != EVT_REACTION)
		return 0;
	if (index_event_open_in(ix, txn, id, &ev, &b) != 0 || b == NULL)
		return 0;
	/* In a space, only its members' reactions (PROTOCOL.md 16.9). */
	rc = !a->known  ? ix_space_ref_counts(ix, txn, a->post, &ev, id, b)
	     : a->space ? ix_space_ref_in(ix, txn, a->space, &ev, id, b)
	                : 1;
	if (rc == 1)
		rc = s_reg_put(txn, a->post, &ev, id, b, &delta);
	json_decref(b);
	return rc < 0 ? rc : 0;
}

/* The reaction registers of post, from its reactions still stored (after
 * one went, or its space's membership changed). */
static int
s_reactions_rebuild_in(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN], int known,
                       const uint8_t *space)
{
	struct s_reg_arg a = {post, known, space};
	uint8_t num[REG_NUM];
	int rc = s_reg_num(txn, post, num);

	if (rc == 0)
		rc = s_reg_clear(txn, num, REG_NUM);
	else if (rc == CPT_ENOTFOUND)
		rc = 0; /* no register yet */
	return rc != 0 ? rc : index_each_ref(ix, txn, post, s_reg_ref, &a);
}

static int
s_reactions_rebuild(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN])
{
	return s_reactions_rebuild_in(ix, txn, post, 0, NULL);
}

static int
s_reg_build_fn(store_txn_t *txn, const store_val_t *k, const store_val_t *v, void *arg)
{
	index_ctx_t *ix = arg;
	uint8_t id[CPT_ID_LEN], post[CPT_ID_LEN];
	struct s_reg_arg a = {post, 0, NULL};
	evt_t ev;
	json_t *body;
	int has;

	if (k->len != INDEX_REF_KEY_LEN || store_get_kind(v) != EVT_REACTION)
		return 0;
	/* The key has the post's number (schema 13): its id is the
	 * reaction's "post" (of its plaintext when sealed). */
	memcpy(id, (const uint8_t *)k->data + 16, CPT_ID_LEN);
	if (index_event_open_in(ix, txn, id, &ev, &body) != 0 || body == NULL)
		return 0;
	has = index_hex_field(body, "post", post) == 0;
	json_decref(body);
	return has ? s_reg_ref(ix, txn, id, EVT_REACTION, &a) : 0;
}

int
ix_reactions_build(store_txn_t *txn)
{
	index_ctx_t ix = {0};
	int rc = store_rebuild(txn, DB_REACTIONS, DB_BY_REF, s_reg_build_fn, &ix);

	index_ctx_release(&ix); /* the folds the members were asked of, the bodies read */
	return rc;
}

static int
s_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The view's "reactions": how many authors have each reaction on, the names
 * in byte order (as the views stored as JSON had them, JSON_SORT_KEYS). */
json_t *
ix_reaction_counts(store_txn_t *txn, const uint8_t post[CPT_ID_LEN])
{
	store_cur_t *cur;
	uint8_t num[REG_NUM];
	store_val_t k = {REG_NUM, num}, v;
	json_t *counts = json_object();
	int rc = counts ? s_reg_num(txn, post, num) : CPT_ENOMEM;

	if (rc == CPT_ENOTFOUND)
		return counts; /* no register */
	if (rc != 0 || store_cur_open(txn, DB_REACTIONS, &cur) != 0) {
		json_decref(counts); /* no view at all rather than a view without its counts */
		return NULL;
	}
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		char name[EVT_MAX_REACTION + 1];
		size_t n;
		if (k.len < REG_NUM + CPT_KEY_LEN || memcmp(k.data, num, REG_NUM) != 0)
			break;
		if (v.len != REG_VAL_LEN || ((uint8_t *)v.data)[8 + CPT_ID_LEN] == 0)
			continue;
		n = k.len - REG_NUM - CPT_KEY_LEN;
		if (n > EVT_MAX_REACTION)
			continue;
		memcpy(name, (uint8_t *)k.data + REG_NUM + CPT_KEY_LEN, n);
		name[n] = 0;
		json_object_set_new(
		    counts, name,
		    json_integer(json_integer_value(json_object_get(counts, name)) + 1));
	}
	store_cur_close(&cur);
	if (json_object_size(counts) > 1) {
		/* Found author by author: put in byte order. */
		const char **names = malloc(json_object_size(counts) * sizeof(*names)), *nk;
		json_t *sorted = json_object(), *n;
		size_t m = 0;
		if (names && sorted) {
			json_object_foreach (counts, nk, n)
				names[m++] = nk;
			qsort(names, m, sizeof(names[0]), s_name_cmp);
			for (size_t i = 0; i < m; i++)
				json_object_set(sorted, names[i],
				                json_object_get(counts, names[i]));
		} else {
			json_decref(sorted);
			sorted = NULL;
		}
		free(names);
		if (sorted == NULL) {
			json_decref(counts); /* no view rather than one out of order */
			return NULL;
		}
		json_decref(counts);
		counts = sorted;
	}
	return counts;
}

/* Whether some reaction on post is on (its registers): 1, 0, or a store
 * error. Stops at the first: a popular post's thousands are not counted. */
static int
s_reaction_any(store_txn_t *txn, const uint8_t post[CPT_ID_LEN])
{
	store_cur_t *cur;
	uint8_t num[REG_NUM];
	store_val_t k = {REG_NUM, num}, v;
	int rc = s_reg_num(txn, post, num), on = 0;

	if (rc != 0)
		return rc == CPT_ENOTFOUND ? 0 : rc;
	if ((rc = store_cur_open(txn, DB_REACTIONS, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0 && !on;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len < REG_NUM + CPT_KEY_LEN || memcmp(k.data, num, REG_NUM) != 0)
			break;
		on = v.len == REG_VAL_LEN && ((uint8_t *)v.data)[8 + CPT_ID_LEN] != 0;
	}
	store_cur_close(&cur);
	return rc != 0 && rc != CPT_ENOTFOUND ? rc : on;
}

int
index_reactions_of(store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
                   const uint8_t author[CPT_KEY_LEN], json_t *out)
{
	uint8_t prefix[REG_NUM + CPT_KEY_LEN];
	store_cur_t *cur;
	store_val_t k = {sizeof(prefix), prefix}, v;
	int rc = s_reg_num(txn, post, prefix);

	if (rc != 0)
		return rc == CPT_ENOTFOUND ? 0 : rc;
	memcpy(prefix + REG_NUM, author, CPT_KEY_LEN);
	if ((rc = store_cur_open(txn, DB_REACTIONS, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len < sizeof(prefix) || memcmp(k.data, prefix, sizeof(prefix)) != 0)
			break;
		if (v.len == REG_VAL_LEN && ((uint8_t *)v.data)[8 + CPT_ID_LEN] != 0)
			json_array_append_new(out, json_stringn((char *)k.data + sizeof(prefix),
			                                        k.len - sizeof(prefix)));
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* A comment or reaction came: a reaction's register, or the post view's
 * count of comments, without reading the post's other references. */
static int
s_post_ref_added(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const json_t *body,
                 const uint8_t id[CPT_ID_LEN], const uint8_t post[CPT_ID_LEN])
{
	int delta = 0, rc;
	evt_t pe;
	uint8_t fk[8 + CPT_ID_LEN];
	store_val_t rec;
	json_t *view = NULL;

	/* In a space, only its members' count (PROTOCOL.md 16.9). */
	if (ev->kind == EVT_REACTION || ev->kind == EVT_COMMENT) {
		rc = ix_space_ref_counts(ix, txn, post, ev, id, body);
		if (rc <= 0)
			return rc;
	}
	if (ev->kind == EVT_REACTION) {
		if ((rc = s_reg_put(txn, post, ev, id, body, &delta)) != 0)
			return rc;
		if (delta == 0)
			return 0;
	} else if (ev->kind != EVT_COMMENT) {
		return ix_post_rebuild(ix, txn, post);
	}
	/* The view exists while the post is here with its body. */
	rc = index_event(txn, post, &pe);
	if (rc != 0)
		return rc == CPT_ENOTFOUND || rc == CPT_EINVAL ? 0 : rc;
	if (pe.kind != EVT_POST || pe.body == NULL)
		return pe.kind == EVT_SEALED ? ix_post_rebuild(ix, txn, post) : 0;
	store_put_u64(fk, pe.ts);
	memcpy(fk + 8, post, CPT_ID_LEN);
	if (store_get(txn, DB_FEED, fk, sizeof(fk), &rec) != 0 ||
	    (view = index_view_lean(&rec)) == NULL) {
		json_decref(view);
		return ix_post_rebuild(ix, txn, post);
	}
	if (ev->kind == EVT_REACTION) {
		/* Its count is read from the registers (index_view_json); the
		 * record says only whether one is on, rewritten in place (the same
		 * size) when that changes. */
		int on = delta > 0 ? 1 : s_reaction_any(txn, post);
		rc = on < 0 ? on : 0;
		if (rc == 0 && on != json_is_true(json_object_get(view, "reacted"))) {
			json_object_set_new(view, "reacted", json_boolean(on));
			rc = ix_view_put(txn, DB_FEED, fk, sizeof(fk), view, 1);
		}
		json_decref(view);
		return rc;
	}
	json_object_set_new(
	    view, "comments",
	    json_integer(json_integer_value(json_object_get(view, "comments")) + 1));
	rc = ix_view_put(txn, DB_FEED, fk, sizeof(fk), view, 1);
	json_decref(view);
	return rc;
}

int
ix_post_rebuild(index_ctx_t *ix, store_txn_t *txn, const uint8_t id[CPT_ID_LEN])
{
	return ix_post_rebuild_ev(ix, txn, id, NULL, NULL);
}

int
ix_post_rebuild_ev(index_ctx_t *ix, store_txn_t *txn, const uint8_t id[CPT_ID_LEN],
                   const evt_t *have, const json_t *have_body)
{
	evt_t ev;
	json_t *body = NULL;
	index_refs_t acc;
	uint8_t fk[8 + CPT_ID_LEN];
	char handle[64];
	uint8_t space[CPT_ID_LEN];
	int rc, where, reacted, fresh;

	if (have && have_body && have->kind == EVT_POST) {
		ev = *have;
		body = json_incref((json_t *)have_body);
		rc = 0;
	} else {
		/* A sealed post opened here reads as a post (node/index/spaces.c). */
		rc = index_event_open_in(ix, txn, id, &ev, &body);
		if (rc != 0 && rc != CPT_ENOTFOUND)
			return rc;
		if (rc == 0 && ev.kind != EVT_POST) {
			json_decref(body);
			return 0;
		}
	}
	if (body == NULL) {
		/* Gone or erased: out of the feed. The key needs the timestamp:
		 * from the header when the event is still here, else from the
		 * caller that just removed it. Neither: it never had a view. */
		uint64_t ts;
		if (rc == 0)
			ts = ev.ts;
		else if (have && have->kind == EVT_POST)
			ts = have->ts;
		else
			return 0;
		store_put_u64(fk, ts);
		memcpy(fk + 8, id, CPT_ID_LEN);
		return store_del(txn, DB_FEED, fk, sizeof(fk));
	}
	/* A post of a space has its view in DB_SPACE_FEED, when it counts
	 * there (PROTOCOL.md 16.9), and never in the company-wide feed. */
	where = ix_space_place(ix, txn, &ev, id, body, space);
	if (where != 0) {
		uint8_t sk[CPT_ID_LEN + 8 + CPT_ID_LEN];
		memcpy(sk, space, CPT_ID_LEN);
		store_tsid(sk + CPT_ID_LEN, ev.ts, id);
		if (where < 0) {
			rc = store_del(txn, DB_SPACE_FEED, sk, sizeof(sk));
			json_decref(body);
			return rc;
		}
	}
	memset(&acc, 0, sizeof(acc));
	memcpy(acc.author, ev.author, CPT_KEY_LEN);
	acc.text = json_object_get(body, "text");
	if (where > 0)
		acc.space = space;
	/* A post just stored that nothing referred to: no reference, no
	 * register to look for (three searches of the four databases' a post
	 * view reads, for 80% of a catch-up's events). */
	fresh = have && have_body && index_ref_fresh(txn, id);
	if (where > 0 && !fresh) {
		/* Who counts on it is decided with the post's space known: a
		 * reaction that came before its post was kept in the registers. */
		if ((rc = s_reactions_rebuild_in(ix, txn, id, 1, space)) != 0)
			goto out;
	}
	rc = fresh ? 0 : index_each_ref(ix, txn, id, s_post_ref, &acc);
	if (rc != 0)
		goto out;
	/* Whether some reaction is on: the first register that is says so. */
	if ((reacted = fresh ? 0 : s_reaction_any(txn, id)) < 0) {
		rc = reacted;
		goto out;
	}
	if (index_handle_cached(ix, txn, ev.author, handle) != 0)
		handle[0] = 0;
	/* A view needs its text (a post's rules require one: never reached). */
	if (acc.text == NULL) {
		rc = CPT_ENOMEM;
		goto out;
	}
	/* What the stored record keeps (views.c), written from the fields, not
	 * from a JSON view made for it; the rest of what the API shows is read
	 * when it is read: from the post's envelope and key, and the counts of
	 * reactions from their registers (DB_REACTIONS). */
	if (where > 0) {
		uint8_t sk[CPT_ID_LEN + 8 + CPT_ID_LEN];
		memcpy(sk, space, CPT_ID_LEN);
		store_tsid(sk + CPT_ID_LEN, ev.ts, id);
		rc = ix_view_put_rec(txn, DB_SPACE_FEED, sk, sizeof(sk), handle,
		                     (uint64_t)acc.comments, reacted, acc.edit_body != NULL,
		                     HLC_MS(acc.edit_ts), acc.text);
		goto out;
	}
	store_put_u64(fk, ev.ts);
	memcpy(fk + 8, id, CPT_ID_LEN);
	rc = ix_view_put_rec(txn, DB_FEED, fk, sizeof(fk), handle, (uint64_t)acc.comments, reacted,
	                     acc.edit_body != NULL, HLC_MS(acc.edit_ts), acc.text);
out:
	json_decref(acc.edit_body);
	json_decref(body);
	return rc;
}

int
ix_post_refs_rebuild(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN])
{
	/* A post of a space rebuilds its registers with its view. */
	return ix_post_rebuild(ix, txn, post);
}

static int
s_post_of_key(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	(void)kind;
	(void)arg;
	return ix_post_rebuild(ix, txn, id);
}

/* The posts of a key show its handle: rebuilt when the handle changes. */
int
ix_posts_of_rebuild(index_ctx_t *ix, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	return index_each_by_author(ix, txn, key, EVT_POST, s_post_of_key, NULL);
}

/* ------------------------------------------------------------- hooks */

int
ix_posts_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	switch (e->ev->kind) {
	case EVT_POST: return ix_post_rebuild_ev(ix, txn, e->id, e->ev, e->body);
	case EVT_COMMENT:
	case EVT_REACTION:
		/* One more reference: the post view changes by difference. */
		return e->ref ? s_post_ref_added(ix, txn, e->ev, e->body, e->id, e->ref) : 0;
	case EVT_EDIT: return e->ref ? ix_post_rebuild(ix, txn, e->ref) : 0;
	}
	return 0;
}

int
ix_posts_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	switch (e->ev->kind) {
	case EVT_POST:
		/* e->ev: the header, for the view's key when the post just left */
		return ix_post_rebuild_ev(ix, txn, e->id, e->ev, NULL);
	case EVT_REACTION: {
		/* A reaction went: its post's registers from those that stay. */
		int rc = e->ref ? s_reactions_rebuild(ix, txn, e->ref) : 0;
		return rc == 0 && e->ref ? ix_post_rebuild(ix, txn, e->ref) : rc;
	}
	case EVT_COMMENT:
	case EVT_EDIT: return e->ref ? ix_post_rebuild(ix, txn, e->ref) : 0;
	}
	return 0;
}
