/*
 * The index of spaces (docs/PROTOCOL.md 16): each space's governance events,
 * its folded state (node/space) stored so that lists and membership are
 * reads, "my spaces" per person, the posts and sealed events that name a
 * space, what this site opened of them with its key ring, and each site's
 * newest seal key. A space is folded again whenever one of its governance
 * events comes or goes, and its content is then decided again: every view is
 * a function of the event set, whatever the order.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config/config.h"
#include "node/blob/blob.h"
#include "node/index/index_internal.h"
#include "node/space/space.h"

/* ------------------------------------------------------- this site */

/*
 * The key ring and the seal key pair of this site: one per process (a
 * process opens one node), set by node/core when it opens the node, so that
 * the ingest path, reindex and verify open what this site may open. The
 * lock guards the ring: the writer adds keys while HTTP threads seal.
 */
static struct {
	pthread_mutex_t lock;     /* guards ring */
	skey_ring_t *ring;        /* borrowed from the caller of setup; NULL: opens nothing */
	const key_curve_t *seal;  /* this site's seal key pair, borrowed; NULL: none */
	uint8_t fed[CPT_FED_LEN]; /* the federation */
	int has_fed;              /* fed is set */
	char site[64];            /* this site's name */
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

void
index_spaces_setup(skey_ring_t *ring, const key_curve_t *seal, const uint8_t fed[CPT_FED_LEN],
                   const char *site)
{
	pthread_mutex_lock(&S.lock);
	S.ring = ring;
	S.seal = seal;
	if (fed) {
		memcpy(S.fed, fed, CPT_FED_LEN);
		S.has_fed = 1;
	}
	snprintf(S.site, sizeof(S.site), "%s", site ? site : "");
	pthread_mutex_unlock(&S.lock);
}

skey_ring_t *
index_spaces_ring_lock(void)
{
	pthread_mutex_lock(&S.lock);
	return S.ring;
}

void
index_spaces_ring_unlock(void)
{
	pthread_mutex_unlock(&S.lock);
}

const char *
index_spaces_site(void)
{
	return S.site;
}

void
index_site_space(uint8_t out[CPT_ID_LEN], const char *site)
{
	skey_site_space(out, S.fed, site);
}

/* ------------------------------------------------------------- keys */

static void
s_key3(uint8_t k[CPT_ID_LEN + 40], const uint8_t space[CPT_ID_LEN], uint64_t ts,
       const uint8_t id[CPT_ID_LEN])
{
	memcpy(k, space, CPT_ID_LEN);
	store_tsid(k + CPT_ID_LEN, ts, id);
}

/* Keys gathered before writing (a cursor must not outlive the writes it
 * does not expect) are kept as hex strings in a JSON array. */
static json_t *
s_hex(const void *p, size_t n)
{
	char buf[2 * (CPT_ID_LEN + 64) + 1];

	if (2 * n + 1 > sizeof(buf))
		return NULL;
	sodium_bin2hex(buf, sizeof(buf), p, n);
	return json_string(buf);
}

static int
s_unhex(uint8_t *out, size_t n, const json_t *x)
{
	const char *h = json_string_value(x);
	size_t got = 0;

	if (h == NULL || strlen(h) != 2 * n ||
	    sodium_hex2bin(out, n, h, strlen(h), NULL, &got, NULL) != 0 || got != n)
		return -1;
	return 0;
}

/* ------------------------------------------------ the fold's world */

/* What the fold's callbacks read, and the strings they hand out (kept in
 * keep until the state is destroyed). */
struct s_env {
	store_txn_t *txn;
	json_t *keep;
};

static const char *
s_keep_str(struct s_env *e, const char *s)
{
	json_t *j = json_string(s);

	if (j == NULL || json_array_append_new(e->keep, j) != 0)
		return NULL;
	return json_string_value(j);
}

static const char *
s_env_person(void *ctx, const char *handle, int *active)
{
	struct s_env *e = ctx;
	uint8_t key[CPT_KEY_LEN];
	json_t *rec;
	const char *site;

	*active = 0;
	if (index_key_of(e->txn, handle, key) != 0)
		return NULL;
	rec = index_key_info(e->txn, key);
	site = json_string_value(json_object_get(rec, "site"));
	site = site ? s_keep_str(e, site) : NULL;
	json_decref(rec);
	*active = index_revoked_at(e->txn, key) == UINT64_MAX;
	return site;
}

static int
s_env_seal_key(void *ctx, const char *site, uint8_t out[CPT_KEY_LEN])
{
	struct s_env *e = ctx;
	json_t *rec = store_get_json(e->txn, DB_SITE_SEALS, site, strlen(site));
	int rc = rec && index_hex_field(rec, "seal_key", out) == 0 ? 0 : CPT_ENOTFOUND;

	json_decref(rec);
	return rc;
}

/* Every handle of site: a scan of the handles, only for a site space. */
static int
s_env_roster(void *ctx, const char *site,
             int (*add)(void *arg, const char *handle, int admin, int active), void *arg)
{
	struct s_env *e = ctx;
	store_cur_t *cur;
	store_val_t k, v;
	int rc, arc = 0;

	if ((rc = store_cur_open(e->txn, DB_HANDLES, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && arc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		char h[64];
		uint8_t key[CPT_KEY_LEN];
		json_t *rec;
		const char *s, *role;
		if (k.len == 0 || k.len >= sizeof(h))
			continue;
		memcpy(h, k.data, k.len);
		h[k.len] = 0;
		if (index_key_of(e->txn, h, key) != 0 ||
		    (rec = index_key_info(e->txn, key)) == NULL)
			continue;
		s = json_string_value(json_object_get(rec, "site"));
		role = json_string_value(json_object_get(rec, "role"));
		if (s && strcmp(s, site) == 0)
			arc = add(arg, h, role && strcmp(role, "admin") == 0,
			          index_revoked_at(e->txn, key) == UINT64_MAX);
		json_decref(rec);
	}
	store_cur_close(&cur);
	if (arc != 0)
		return arc;
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* The site name of a site key, from its record, or NULL (kept in e). */
static const char *
s_site_of_key(struct s_env *e, const uint8_t key[CPT_KEY_LEN])
{
	json_t *rec = index_key_info(e->txn, key);
	const char *type = json_string_value(json_object_get(rec, "type"));
	const char *site = json_string_value(json_object_get(rec, "site"));
	const char *out = type && strcmp(type, "site") == 0 && site ? s_keep_str(e, site) : NULL;

	json_decref(rec);
	return out;
}

/* Opens a sealed profile (kind 11) with the ring, or NULL. */
static json_t *
s_open_profile(const evt_t *ev, const json_t *body)
{
	json_t *sealed = json_object_get(body, "sealed"), *plain = NULL;
	uint8_t space[CPT_ID_LEN];
	int has_space = space_hex_member(space, body, "space") == 0;
	skey_ctx_t c = {S.fed, EVT_SPACE, ev->author, has_space ? space : NULL};
	uint16_t ik;
	const char *rule;

	if (!json_is_object(sealed) || !S.has_fed)
		return NULL;
	pthread_mutex_lock(&S.lock);
	if (S.ring == NULL || space_unseal(&plain, &ik, S.ring, &c, sealed, &rule) != 0)
		plain = NULL;
	pthread_mutex_unlock(&S.lock);
	return plain;
}

/* One governance event read for the fold. */
struct s_gov {
	space_evt_t *evs;
	size_t n, cap;
	struct s_env *env;
	json_t *bodies; /* what evs point into */
};

static int
s_gov_add(struct s_gov *g, store_txn_t *txn, const uint8_t *id)
{
	evt_t ev;
	json_t *body, *prof = NULL;
	space_evt_t *x;
	char h[64];

	if (index_event(txn, id, &ev) != 0 || (body = index_body(&ev)) == NULL)
		return 0;
	if (g->n == g->cap) {
		size_t nc = g->cap ? 2 * g->cap : 16;
		space_evt_t *ne = realloc(g->evs, nc * sizeof(*ne));
		if (ne == NULL) {
			json_decref(body);
			return CPT_ENOMEM;
		}
		g->evs = ne;
		g->cap = nc;
	}
	json_array_append_new(g->bodies, body);
	x = &g->evs[g->n++];
	memset(x, 0, sizeof(*x));
	x->ts = ev.ts;
	memcpy(x->id, id, CPT_ID_LEN);
	x->kind = ev.kind;
	x->body = body;
	if (ev.kind == EVT_SPACE_KEY) {
		x->author = s_site_of_key(g->env, ev.author);
	} else {
		x->author = index_handle_of(txn, ev.author, h) == 0 ? s_keep_str(g->env, h) : NULL;
		if (ev.kind == EVT_SPACE && (prof = s_open_profile(&ev, body)) != NULL) {
			json_array_append_new(g->bodies, prof);
			x->profile = prof;
		}
	}
	return 0;
}

int
index_space_fold(space_state_t **out, json_t **keep, store_txn_t *txn,
                 const uint8_t space[CPT_ID_LEN], const char *site)
{
	struct s_env env = {txn, json_array()};
	struct s_gov g = {NULL, 0, 0, &env, json_array()};
	space_env_t fenv = {s_env_person, s_env_seal_key, s_env_roster, &env};
	uint8_t from[CPT_ID_LEN + 40];
	store_cur_t *cur;
	store_val_t k = {sizeof(from), from}, v;
	int rc;

	*out = NULL;
	*keep = NULL;
	if (env.keep == NULL || g.bodies == NULL) {
		rc = CPT_ENOMEM;
		goto done;
	}
	/* The creating event is indexed under its own id too (s_gov_key). */
	memset(from, 0, sizeof(from));
	memcpy(from, space, CPT_ID_LEN);
	if ((rc = store_cur_open(txn, DB_SPACE_GOV, &cur)) != 0)
		goto done;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != sizeof(from) || memcmp(k.data, space, CPT_ID_LEN) != 0)
			break;
		if ((rc = s_gov_add(&g, txn, (const uint8_t *)k.data + CPT_ID_LEN + 8)) != 0)
			break;
	}
	store_cur_close(&cur);
	if (rc != 0 && rc != CPT_ENOTFOUND)
		goto done;
	rc = space_fold(out, space, site, g.evs, g.n, &fenv);
done:
	free(g.evs);
	if (rc == 0) {
		/* The state copies what it keeps of the bodies; the strings the
		 * callbacks handed out stay with the caller. */
		json_array_append_new(env.keep, g.bodies);
		*keep = env.keep;
	} else {
		json_decref(g.bodies);
		json_decref(env.keep);
	}
	return rc;
}

/* ---------------------------------------------------- stored state */

static const char *
s_join_name(int j)
{
	switch (j) {
	case SPACE_JOIN_OPEN: return "open";
	case SPACE_JOIN_REQUEST: return "request";
	case SPACE_JOIN_INVITE: return "invite";
	case SPACE_JOIN_SITE: return "site";
	}
	return "?";
}

static const char *
s_role_name(int r)
{
	switch (r) {
	case SPACE_MEMBER: return "member";
	case SPACE_ADMIN: return "admin";
	case SPACE_OWNER: return "owner";
	}
	return "none";
}

/* The state as stored in DB_SPACES (and shown by the API, less what is
 * only for this site's duties). */
static json_t *
s_state_json(const space_state_t *st)
{
	char hex[CPT_HEX_ID];
	json_t *j, *members = json_array(), *pending = json_array(), *sites = json_array(),
	           *keys = json_array(), *duties = json_array();
	const space_key_t *wk = space_state_write_key(st);

	for (size_t i = 0; i < space_state_nmembers(st); i++) {
		const space_member_t *m = space_state_member(st, i);
		json_array_append_new(members, json_pack("{s:s, s:s?, s:s, s:b, s:I}", "handle",
		                                         m->handle, "site", m->site, "role",
		                                         s_role_name(m->role), "active", m->active,
		                                         "since", (json_int_t)m->since));
	}
	for (size_t i = 0; i < space_state_npending(st); i++) {
		const space_pending_t *p = space_state_pending(st, i);
		json_array_append_new(pending, json_pack("{s:s, s:b, s:s?, s:I}", "handle",
		                                         p->handle, "invited", p->invited, "by",
		                                         p->by, "ts", (json_int_t)p->ts));
	}
	for (size_t i = 0; i < space_state_nsites(st); i++)
		json_array_append_new(sites, json_string(space_state_site_at(st, i)->name));
	for (size_t i = 0; i < space_state_nkeys(st); i++) {
		cpt_hex32(hex, space_state_key(st, i)->id);
		json_array_append_new(keys, json_string(hex));
	}
	for (size_t i = 0; i < space_state_nduties(st); i++) {
		const space_duty_t *d = space_state_duty(st, i);
		char th[CPT_HEX_ID];
		cpt_hex32(hex, d->key);
		cpt_hex32(th, d->to_seal);
		json_array_append_new(duties, json_pack("{s:s, s:s, s:s, s:s?}", "key", hex, "to",
		                                        d->to, "to_seal", th, "by", d->by));
	}
	cpt_hex32(hex, space_state_id(st));
	j = json_pack("{s:s, s:b, s:s?, s:s, s:s, s:b, s:s?, s:s?, s:s?, s:I, s:o, s:o, s:o, s:o, "
	              "s:o, s:b, s:s?}",
	              "id", hex, "exists", space_state_exists(st), "site", space_state_site(st),
	              "visibility", space_state_visibility(st) == SPACE_OPEN ? "open" : "private",
	              "join", s_join_name(space_state_join(st)), "archived",
	              space_state_archived(st), "name", space_state_name(st), "description",
	              space_state_description(st), "creator", space_state_creator(st), "created",
	              (json_int_t)HLC_MS(space_state_created(st)), "members", members, "pending",
	              pending, "sites", sites, "keys", keys, "duties", duties, "epoch_due",
	              space_state_epoch_due(st), "epoch_by", space_state_epoch_by(st));
	if (j && wk) {
		cpt_hex32(hex, wk->id);
		json_object_set_new(j, "write_key", json_string(hex));
	}
	if (j && space_state_cover(st, NULL) != NULL) {
		const char *by = NULL, *cover = space_state_cover(st, &by);
		json_object_set_new(j, "cover", json_string(cover));
		json_object_set_new(j, "cover_by", by ? json_string(by) : json_null());
	}
	return j;
}

static int
s_my_key(uint8_t *k, const char *handle, const uint8_t space[CPT_ID_LEN])
{
	size_t n = strlen(handle);

	if (n == 0 || n > 32)
		return -1;
	memcpy(k, handle, n);
	k[n] = 0;
	memcpy(k + n + 1, space, CPT_ID_LEN);
	return (int)(n + 1 + CPT_ID_LEN);
}

/* DB_SPACES and DB_MY_SPACES from the state. */
static int
s_store_state(store_txn_t *txn, const space_state_t *st)
{
	const uint8_t *space = space_state_id(st);
	json_t *old = store_get_json(txn, DB_SPACES, space, CPT_ID_LEN), *m, *j;
	uint8_t k[64 + CPT_ID_LEN];
	size_t i;
	int rc = 0, kl;

	json_array_foreach (json_object_get(old, "members"), i, m) {
		const char *h = json_string_value(json_object_get(m, "handle"));
		if (h && (kl = s_my_key(k, h, space)) > 0 &&
		    (rc = store_del(txn, DB_MY_SPACES, k, (size_t)kl)) != 0)
			break;
	}
	json_decref(old);
	if (rc != 0)
		return rc;
	/* A site space's members are its staff: the main feed finds it by the
	 * reader's site, not by a list. */
	if (space_state_site(st) == NULL)
		for (i = 0; i < space_state_nmembers(st) && rc == 0; i++) {
			/* The role, then the space's name: the main feed labels its
			 * posts from here, without reading each space's state. */
			const space_member_t *mm = space_state_member(st, i);
			const char *name = space_state_name(st);
			uint8_t val[1 + SPACE_NAME_MAX];
			size_t nl = name ? strlen(name) : 0;
			if (nl > SPACE_NAME_MAX)
				nl = SPACE_NAME_MAX;
			val[0] = (uint8_t)mm->role;
			memcpy(val + 1, name ? name : "", nl);
			if ((kl = s_my_key(k, mm->handle, space)) > 0)
				rc = store_put(txn, DB_MY_SPACES, k, (size_t)kl, val, 1 + nl);
		}
	if (rc != 0)
		return rc;
	if ((j = s_state_json(st)) == NULL)
		return CPT_ENOMEM;
	rc = store_put_json(txn, DB_SPACES, space, CPT_ID_LEN, j);
	json_decref(j);
	return rc;
}

json_t *
index_space_get(store_txn_t *txn, const uint8_t space[CPT_ID_LEN])
{
	return store_get_json(txn, DB_SPACES, space, CPT_ID_LEN);
}

/* -------------------------------------------- the state, cached */

/*
 * The folded states of spaces, kept so that content asks role_at of a
 * state folded once, not once per event (a post in a space of 1,000 members
 * cost a fold of its 1,000 joins: docs/BENCHMARKS.md, "Spaces"). Within one
 * transaction every context keeps them (a batch of posts across many spaces
 * folds each once). The node's writer context keeps them between its
 * transactions too (index_txn_begin/end): a fold is a function of what it
 * reads, and everything it reads changes only
 *   - by a governance event of its space coming or going (s_refold drops
 *     and refolds the space, in the transaction that changes it),
 *   - by the trust records (people's sites and keys, handles, the sites'
 *     seal keys): every change of them empties all folds (index_cache_clear,
 *     index_cache_off),
 *   - by the key ring, which only grows: with the key event of its space
 *     (refolded) or with a key made here before anything is sealed with it;
 * and another process's commit, or an aborted one of ours, is seen by the
 * store's sequence and by the state each entry was built in: an entry built
 * in a transaction is "tentative" until that transaction commits, and is
 * dropped when it does not. Direct-mapped by the space id's first bytes.
 */
#define IX_SPACES_CACHE 256

struct ix_spaces_cache {
	struct ix_spaces_entry {
		int used;                  /* holds space's state */
		int tentative;             /* built in a transaction not known committed */
		uint8_t space[CPT_ID_LEN]; /* the space */
		char site[64];             /* the site it was folded as the space of; "" none */
		space_state_t *st;         /* its fold */
		json_t *keep;              /* what the fold borrows */
	} e[IX_SPACES_CACHE];
	int in_txn;       /* between index_txn_begin and index_txn_end */
	uint64_t seq;     /* the store's sequence the kept entries are true at */
	uint64_t txn_seq; /* the sequence the current transaction started from */
	size_t folds;     /* folds made (index_spaces_folds) */
};

static void
s_entry_clear(struct ix_spaces_entry *e)
{
	space_state_destroy(&e->st);
	json_decref(e->keep);
	e->keep = NULL;
	e->used = 0;
	e->tentative = 0;
}

static struct ix_spaces_entry *
s_entry(struct ix_spaces_cache *c, const uint8_t space[CPT_ID_LEN])
{
	return &c->e[(unsigned)(space[0] | space[1] << 8) % IX_SPACES_CACHE];
}

static struct ix_spaces_cache *
s_cache(index_ctx_t *ix)
{
	if (ix->spaces == NULL)
		ix->spaces = calloc(1, sizeof(*ix->spaces));
	return ix->spaces;
}

void
ix_spaces_cache_clear(index_ctx_t *ix)
{
	if (ix->spaces == NULL)
		return;
	for (int i = 0; i < IX_SPACES_CACHE; i++)
		if (ix->spaces->e[i].used)
			s_entry_clear(&ix->spaces->e[i]);
}

void
index_spaces_cache_clear(index_ctx_t *ix)
{
	/* Kept between the writer's transactions: index_txn_begin decides. */
	if (ix->keep_folds && ix->spaces && ix->spaces->in_txn)
		return;
	ix_spaces_cache_clear(ix);
}

void
ix_spaces_cache_free(index_ctx_t *ix)
{
	ix_spaces_cache_clear(ix);
	free(ix->spaces);
	ix->spaces = NULL;
}

void
index_txn_begin(index_ctx_t *ix, store_txn_t *txn)
{
	struct ix_spaces_cache *c;
	uint64_t seq = store_seq(txn);

	if (!ix->keep_folds || (c = s_cache(ix)) == NULL)
		return;
	/* A retry after an abort: what the aborted attempt built goes. */
	for (int i = 0; i < IX_SPACES_CACHE; i++)
		if (c->e[i].used && c->e[i].tentative)
			s_entry_clear(&c->e[i]);
	/* Someone else committed since (the CLI, another context). */
	if (seq != c->seq)
		ix_spaces_cache_clear(ix);
	c->seq = seq;
	c->txn_seq = seq;
	c->in_txn = 1;
}

void
index_txn_end(index_ctx_t *ix, int committed)
{
	struct ix_spaces_cache *c = ix->spaces;

	if (c == NULL || !c->in_txn)
		return;
	for (int i = 0; i < IX_SPACES_CACHE; i++)
		if (c->e[i].used && c->e[i].tentative) {
			if (committed)
				c->e[i].tentative = 0;
			else
				s_entry_clear(&c->e[i]);
		}
	/* A commit bumps the sequence by one (store_write); without one the
	 * store is as it was and the entries kept from before stay true. */
	c->seq = committed ? c->txn_seq + 1 : c->txn_seq;
	c->in_txn = 0;
}

size_t
index_spaces_folds(const index_ctx_t *ix)
{
	return ix->spaces ? ix->spaces->folds : 0;
}

/* The state of space is stale (one of its governance events came or went). */
static void
s_cache_drop(index_ctx_t *ix, const uint8_t space[CPT_ID_LEN])
{
	struct ix_spaces_entry *e;

	if (ix->spaces == NULL)
		return;
	e = s_entry(ix->spaces, space);
	if (e->used && memcmp(e->space, space, CPT_ID_LEN) == 0)
		s_entry_clear(e);
}

/* Which site a space is the site space of, by the author who writes in
 * it: a site space is found from its site's name, and only its staff write
 * there. out gets the author's site; 1 when space is that site's space. */
static int
s_is_site_space(store_txn_t *txn, const uint8_t space[CPT_ID_LEN],
                const uint8_t author[CPT_KEY_LEN], char site[64])
{
	json_t *rec = index_key_info(txn, author);
	const char *s = json_string_value(json_object_get(rec, "site"));
	uint8_t ss[CPT_ID_LEN];
	int yes = 0;

	site[0] = 0;
	if (s && S.has_fed && strlen(s) < 64) {
		snprintf(site, 64, "%s", s);
		skey_site_space(ss, S.fed, s);
		yes = memcmp(ss, space, CPT_ID_LEN) == 0;
	}
	json_decref(rec);
	return yes;
}

static const space_state_t *
s_state(index_ctx_t *ix, store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *site)
{
	struct ix_spaces_cache *c = s_cache(ix);
	struct ix_spaces_entry *e;
	const char *as = site ? site : "";

	if (c == NULL || strlen(as) >= sizeof(e->site))
		return NULL;
	e = s_entry(c, space);
	/* A space folded as a site's space differs from the same id folded
	 * without one: the entry holds one way only. */
	if (e->used && memcmp(e->space, space, CPT_ID_LEN) == 0 && strcmp(e->site, as) == 0)
		return e->st;
	if (e->used)
		s_entry_clear(e);
	c->folds++;
	if (index_space_fold(&e->st, &e->keep, txn, space, site) != 0)
		return NULL;
	memcpy(e->space, space, CPT_ID_LEN);
	snprintf(e->site, sizeof(e->site), "%s", as);
	e->used = 1;
	/* Until its transaction is known committed (index_txn_end); outside
	 * the writer's brackets every entry is, and none outlives its
	 * transaction. */
	e->tentative = 1;
	return e->st;
}

int
index_spaces_cache_check(index_ctx_t *ix, store_txn_t *txn, char *why, size_t whylen)
{
	int n = 0;

	if (ix->spaces == NULL)
		return 0;
	for (int i = 0; i < IX_SPACES_CACHE; i++) {
		struct ix_spaces_entry *e = &ix->spaces->e[i];
		space_state_t *fresh = NULL;
		json_t *keep = NULL, *a, *b;
		char hex[CPT_HEX_ID];
		int same;
		if (!e->used)
			continue;
		if (index_space_fold(&fresh, &keep, txn, e->space, e->site[0] ? e->site : NULL) !=
		    0)
			return CPT_ENOMEM;
		a = s_state_json(e->st);
		b = s_state_json(fresh);
		same = a && b && json_equal(a, b);
		json_decref(a);
		json_decref(b);
		space_state_destroy(&fresh);
		json_decref(keep);
		if (!same) {
			cpt_hex32(hex, e->space);
			snprintf(why, whylen, "the fold kept of space %s differs from a fresh one",
			         hex);
			return -1;
		}
		n++;
	}
	return n;
}

/* ------------------------------------------------------ content */

int
ix_space_place(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
               const json_t *body, uint8_t space[CPT_ID_LEN])
{
	const space_state_t *st;
	int sealed = json_is_true(json_object_get(body, "sealed_here")), role;
	char site[64], handle[64];

	if (json_object_get(body, "space") == NULL)
		return 0;
	if (space_hex_member(space, body, "space") != 0)
		return -1;
	if (s_is_site_space(txn, space, ev->author, site))
		/* Staff of the site, disabled since or not (PROTOCOL.md 16.9). */
		return sealed ? 1 : -1;
	if ((st = s_state(ix, txn, space, NULL)) == NULL || !space_state_exists(st))
		return -1;
	if ((space_state_visibility(st) == SPACE_OPEN) == sealed)
		return -1; /* a private space's post in clear, or sealed in an open one */
	if (!space_state_open_at(st, ev->ts, id))
		return -1;
	if (index_handle_cached(ix, txn, ev->author, handle) != 0)
		return -1;
	role = space_state_role_at(st, handle, ev->ts, id);
	return role >= SPACE_MEMBER ? 1 : -1;
}

int
ix_space_ref_in(index_ctx_t *ix, store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const evt_t *ev,
                const uint8_t id[CPT_ID_LEN], const json_t *body)
{
	const space_state_t *st;
	int sealed = json_is_true(json_object_get(body, "sealed_here"));
	uint8_t rs[CPT_ID_LEN];
	char site[64], handle[64];

	/* A sealed reference is of its own space: it counts on that one's posts. */
	if (sealed &&
	    (space_hex_member(rs, body, "space") != 0 || memcmp(rs, space, CPT_ID_LEN) != 0))
		return 0;
	if (s_is_site_space(txn, space, ev->author, site))
		return sealed; /* staff of the site, disabled since or not */
	if ((st = s_state(ix, txn, space, NULL)) == NULL || !space_state_exists(st))
		return 0;
	if ((space_state_visibility(st) == SPACE_OPEN) == sealed)
		return 0; /* in clear on a private space's post, or sealed on an open one's */
	if (index_handle_cached(ix, txn, ev->author, handle) != 0)
		return 0;
	return space_state_role_at(st, handle, ev->ts, id) >= SPACE_MEMBER;
}

int
ix_space_ref_counts(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
                    const evt_t *ev, const uint8_t id[CPT_ID_LEN], const json_t *body)
{
	uint8_t space[CPT_ID_LEN];
	int where = index_post_space(ix, txn, post, space);

	if (where < 0)
		return where;
	if (where != 1)
		return where == 0; /* company-wide: every one; nowhere: none */
	return ix_space_ref_in(ix, txn, space, ev, id, body);
}

int
index_post_space(index_ctx_t *ix, store_txn_t *txn, const uint8_t post[CPT_ID_LEN],
                 uint8_t space[CPT_ID_LEN])
{
	evt_t pe;
	json_t *pb = NULL;
	int rc = index_event_open_in(ix, txn, post, &pe, &pb), where;

	assert(ix != NULL && txn != NULL && post != NULL && space != NULL);
	if (rc != 0 || pb == NULL || pe.kind != EVT_POST) {
		json_decref(pb);
		return rc == 0 || rc == CPT_ENOTFOUND || rc == CPT_EINVAL ? 0 : rc;
	}
	where = ix_space_place(ix, txn, &pe, post, pb, space);
	json_decref(pb);
	return where == 0 ? 0 : where > 0 ? 1 : 2;
}

int
index_space_ref_in(index_ctx_t *ix, store_txn_t *txn, const uint8_t space[CPT_ID_LEN],
                   const evt_t *ev, const uint8_t id[CPT_ID_LEN], const json_t *body)
{
	assert(ix != NULL && txn != NULL && space != NULL && ev != NULL && body != NULL);
	return ix_space_ref_in(ix, txn, space, ev, id, body);
}

/* The body of an opened sealed event as views read it: its plaintext,
 * with the outer event's space and a mark that it was sealed. */
int
index_event_open(store_txn_t *txn, const uint8_t id[CPT_ID_LEN], evt_t *ev, json_t **body)
{
	return index_event_open_in(NULL, txn, id, ev, body);
}

int
index_event_open_in(index_ctx_t *ix, store_txn_t *txn, const uint8_t id[CPT_ID_LEN], evt_t *ev,
                    json_t **body)
{
	int rc = index_event(txn, id, ev);
	json_t *o;

	*body = NULL;
	if (rc != 0)
		return rc;
	if (ev->kind != EVT_SEALED) {
		*body = ix ? index_body_cached(ix, ev) : index_body(ev);
		return 0;
	}
	if (ev->body == NULL)
		return 0;
	o = store_get_json(txn, DB_OPENED, id, CPT_ID_LEN);
	if (o && json_is_integer(json_object_get(o, "kind"))) {
		ev->kind = (uint16_t)json_integer_value(json_object_get(o, "kind"));
		*body = o;
	} else {
		json_decref(o);
	}
	return 0;
}

/* A sealed file (PROTOCOL.md 18.4): its fields follow 18.3 and 18.4, and
 * the outer "blobs" are exactly its blob and its thumbnails', in order, so
 * that what every site keeps is what members read. 1 yes, 0 not content. */
static int
s_file_ok(const json_t *plain, const json_t *outer)
{
	const json_t *blobs = json_object_get(outer, "blobs"), *thumbs, *t;
	char why[160];
	size_t i;

	if (blob_file_check(plain, 1, why, sizeof(why)) != 0)
		return 0;
	thumbs = json_object_get(plain, "thumbs");
	if (!json_is_array(blobs) || json_array_size(blobs) != 1 + json_array_size(thumbs) ||
	    !json_equal(json_array_get(blobs, 0), json_object_get(plain, "blob")))
		return 0;
	json_array_foreach (thumbs, i, t)
		if (!json_equal(json_array_get(blobs, i + 1), json_object_get(t, "blob")))
			return 0;
	return 1;
}

/* Opens sealed event id (ev, body: its outer event) with the ring. 0 with
 * *plain (the inner body, "space" and "sealed_here" added) or CPT_ENOTFOUND
 * (no key here), CPT_EAUTH, CPT_EINVAL: not content. */
static int
s_open_sealed(const evt_t *ev, const json_t *body, json_t **plain)
{
	uint8_t space[CPT_ID_LEN];
	skey_ctx_t c = {S.fed, EVT_SEALED, ev->author, space};
	uint16_t ik = 0;
	const char *rule;
	int rc;

	*plain = NULL;
	if (!S.has_fed || space_hex_member(space, body, "space") != 0)
		return CPT_EINVAL;
	pthread_mutex_lock(&S.lock);
	rc = S.ring ? space_unseal(plain, &ik, S.ring, &c, json_object_get(body, "sealed"), &rule)
	            : CPT_ENOTFOUND;
	pthread_mutex_unlock(&S.lock);
	if (rc != 0)
		return rc;
	if (ik == EVT_FILE && !s_file_ok(*plain, body)) {
		json_decref(*plain);
		*plain = NULL;
		return CPT_EINVAL;
	}
	json_object_set(*plain, "space", json_object_get(body, "space"));
	json_object_set_new(*plain, "sealed_here", json_true());
	if (!json_is_integer(json_object_get(*plain, "kind")))
		json_object_set_new(*plain, "kind", json_integer(ik));
	return 0;
}

/* A sealed event opened here takes effect as its inner kind: DB_OPENED,
 * its reference, the post it is or changes. */
static int
s_opened_added(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
               json_t *plain)
{
	evt_t inner = *ev;
	uint8_t ref[CPT_ID_LEN];
	int has_ref, rc;

	inner.kind = (uint16_t)json_integer_value(json_object_get(plain, "kind"));
	if ((rc = store_put_json(txn, DB_OPENED, id, CPT_ID_LEN, plain)) != 0)
		return rc;
	has_ref = inner.kind != EVT_POST && index_hex_field(plain, "post", ref) == 0;
	if (has_ref) {
		uint8_t k[INDEX_REF_KEY_LEN], kv[2];
		store_put_kind(kv, inner.kind);
		if ((rc = index_ref_key(txn, ref, 1, ev->ts, id, k)) != 0 ||
		    (rc = store_put(txn, DB_BY_REF, k, sizeof(k), kv, 2)) != 0)
			return rc;
	}
	{
		index_ev_t e = {&inner, plain, id, has_ref ? ref : NULL};
		rc = inner.kind == EVT_POST ? ix_post_rebuild_ev(ix, txn, id, NULL, NULL)
		                            : ix_posts_added(ix, txn, &e);
	}
	/* Notifications of the post it is or is about (PROTOCOL.md 17.3). */
	if (rc == 0 && (inner.kind == EVT_POST || has_ref))
		rc = index_notify_post(ix, txn, inner.kind == EVT_POST ? id : ref);
	return rc;
}

/* What s_opened_added did, undone (the sealed event or its body left). */
static int
s_opened_removed(index_ctx_t *ix, store_txn_t *txn, const evt_t *ev, const uint8_t id[CPT_ID_LEN],
                 const uint8_t space[CPT_ID_LEN])
{
	json_t *plain = store_get_json(txn, DB_OPENED, id, CPT_ID_LEN);
	evt_t inner = *ev;
	uint8_t ref[CPT_ID_LEN], fk[CPT_ID_LEN + 40];
	int has_ref, rc;

	if (plain == NULL)
		return 0;
	inner.kind = (uint16_t)json_integer_value(json_object_get(plain, "kind"));
	inner.body = NULL;
	has_ref = inner.kind != EVT_POST && index_hex_field(plain, "post", ref) == 0;
	rc = store_del(txn, DB_OPENED, id, CPT_ID_LEN);
	if (rc == 0 && has_ref)
		rc = index_base_unref(txn, ref, ev->ts, id);
	if (rc == 0 && inner.kind == EVT_POST) {
		s_key3(fk, space, ev->ts, id);
		rc = store_del(txn, DB_SPACE_FEED, fk, sizeof(fk));
	} else if (rc == 0) {
		index_ev_t e = {&inner, plain, id, has_ref ? ref : NULL};
		rc = ix_posts_removed(ix, txn, &e);
	}
	if (rc == 0 && (inner.kind == EVT_POST || has_ref))
		rc = index_notify_post(ix, txn, inner.kind == EVT_POST ? id : ref);
	json_decref(plain);
	return rc;
}

/* Whether anything refers to post (DB_BY_REF). */
static int
s_has_refs(store_txn_t *txn, const uint8_t post[CPT_ID_LEN])
{
	store_cur_t *cur;
	uint8_t num[8];
	store_val_t k = {8, num}, v;
	int yes, rc = index_ref_num(txn, post, 0, num);

	if (rc == CPT_ENOTFOUND)
		return 0; /* no number: nothing refers to it */
	if (rc != 0 || store_cur_open(txn, DB_BY_REF, &cur) != 0)
		return 1; /* counted again rather than left stale */
	yes = store_cur_get(cur, &k, &v, STORE_SEEK) == 0 && k.len >= 8 &&
	      memcmp(k.data, num, 8) == 0;
	store_cur_close(&cur);
	return yes;
}

/* The content of space decided again after its state changed: sealed
 * events opened with keys that came, posts' views in or out. */
static int
s_content_again(index_ctx_t *ix, store_txn_t *txn, const uint8_t space[CPT_ID_LEN])
{
	uint8_t from[CPT_ID_LEN + 40];
	store_cur_t *cur;
	store_val_t k = {sizeof(from), from}, v;
	json_t *todo = json_array(), *x;
	size_t i;
	int rc;

	/* Gathered first: opening writes DB_BY_REF and views, not this
	 * database, but a cursor must not outlive writes it does not expect. */
	memset(from, 0, sizeof(from));
	memcpy(from, space, CPT_ID_LEN);
	if (todo == NULL)
		return CPT_ENOMEM;
	if ((rc = store_cur_open(txn, DB_SPACE_ITEMS, &cur)) != 0) {
		json_decref(todo);
		return rc;
	}
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != sizeof(from) || memcmp(k.data, space, CPT_ID_LEN) != 0)
			break;
		json_array_append_new(todo, s_hex(k.data, k.len));
	}
	store_cur_close(&cur);
	if (rc != CPT_ENOTFOUND && rc != 0) {
		json_decref(todo);
		return rc;
	}
	rc = 0;
	json_array_foreach (todo, i, x) {
		uint8_t kp[CPT_ID_LEN + 40];
		const uint8_t *id = kp + CPT_ID_LEN + 8;
		evt_t ev;
		json_t *b = NULL, *plain;
		store_val_t ov;
		int has;
		if (s_unhex(kp, sizeof(kp), x) != 0)
			continue;
		if ((rc = index_event(txn, id, &ev)) != 0) {
			rc = rc == CPT_ENOTFOUND ? 0 : rc;
			if (rc)
				break;
			continue;
		}
		if (ev.kind == EVT_SEALED && ev.body &&
		    store_get(txn, DB_OPENED, id, CPT_ID_LEN, &ov) == CPT_ENOTFOUND) {
			b = index_body(&ev);
			if (b && s_open_sealed(&ev, b, &plain) == 0) {
				rc = s_opened_added(ix, txn, &ev, id, plain);
				json_decref(plain);
			}
			json_decref(b);
			if (rc)
				break;
			continue;
		}
		/* A post (clear, or opened): is its view where it should be? */
		if ((rc = index_event_open(txn, id, &ev, &b)) != 0)
			break;
		if (ev.kind == EVT_POST && b) {
			uint8_t sp[CPT_ID_LEN];
			int place = ix_space_place(ix, txn, &ev, id, b, sp);
			has = store_get(txn, DB_SPACE_FEED, kp, sizeof(from), &ov) == 0;
			/* Who counts on a post is its space's members at their
			 * comment's, reaction's or edit's position (PROTOCOL.md
			 * 16.9): a post with references is counted again. */
			if ((place == 1) != has || (place == 1 && s_has_refs(txn, id)))
				rc = ix_post_refs_rebuild(ix, txn, id);
			/* Who may read it, so who hears of it, may have changed. */
			if (rc == 0)
				rc = index_notify_post(ix, txn, id);
		}
		json_decref(b);
		if (rc)
			break;
	}
	json_decref(todo);
	return rc;
}

/* Folds space again and stores what it says, then its content. */
static int
s_refold(index_ctx_t *ix, store_txn_t *txn, const uint8_t space[CPT_ID_LEN], const char *site)
{
	const space_state_t *st;
	int rc;

	s_cache_drop(ix, space);
	if ((st = s_state(ix, txn, space, site)) == NULL)
		return CPT_ENOMEM;
	/* A site space is not stored: its members are its staff, read as such. */
	if (site == NULL && (rc = s_store_state(txn, st)) != 0)
		return rc;
	/* Its requests and invitations (PROTOCOL.md 17.3). */
	if (site == NULL && (rc = index_notify_space(ix, txn, st)) != 0)
		return rc;
	return s_content_again(ix, txn, space);
}

/* ------------------------------------------------------------- hooks */

/* The space a governance event is indexed under: its "space", or its own
 * id when it creates one. */
static int
s_gov_space(const index_ev_t *e, uint8_t space[CPT_ID_LEN])
{
	if (e->body == NULL)
		return -1;
	if (space_hex_member(space, e->body, "space") == 0)
		return 0;
	if (e->ev->kind != EVT_SPACE)
		return -1;
	memcpy(space, e->id, CPT_ID_LEN);
	return 0;
}

/* The newest certificate of a site: its seal key (PROTOCOL.md 7.1) and
 * its title (a site space's name, 16.6). */
static int
s_site_cert(store_txn_t *txn, const index_ev_t *e, int add)
{
	const char *site = json_string_value(json_object_get(e->body, "site"));
	uint8_t sk[CPT_KEY_LEN], oid[CPT_ID_LEN];
	json_t *old, *rec;
	char hex[CPT_HEX_ID];
	int rc;

	(void)sk;
	if (site == NULL)
		return 0;
	old = store_get_json(txn, DB_SITE_SEALS, site, strlen(site));
	if (!add) {
		/* A certificate never leaves but with the store (repair): drop the
		 * record it made; a reindex builds it again from those left. */
		int mine = old && index_hex_field(old, "id", oid) == 0 &&
		           memcmp(oid, e->id, CPT_ID_LEN) == 0;
		json_decref(old);
		return mine ? store_del(txn, DB_SITE_SEALS, site, strlen(site)) : 0;
	}
	if (old && index_hex_field(old, "id", oid) == 0 &&
	    store_cmp_tsid((uint64_t)json_integer_value(json_object_get(old, "ts")), oid, e->ev->ts,
	                   e->id) >= 0) {
		json_decref(old);
		return 0;
	}
	json_decref(old);
	cpt_hex32(hex, e->id);
	rec = json_pack("{s:I, s:s}", "ts", (json_int_t)e->ev->ts, "id", hex);
	if (rec == NULL)
		return CPT_ENOMEM;
	/* A certificate of version 1 has no seal key: the site cannot be a
	 * member site of a private space until it is certified again. */
	if (index_hex_field(e->body, "seal_key", sk) == 0)
		json_object_set(rec, "seal_key", json_object_get(e->body, "seal_key"));
	if (json_is_string(json_object_get(e->body, "title")))
		json_object_set(rec, "title", json_object_get(e->body, "title"));
	rc = store_put_json(txn, DB_SITE_SEALS, site, strlen(site), rec);
	json_decref(rec);
	return rc;
}

/* Spaces whose member sites may have changed with a person's key: those
 * the handle of key is a member of. */
static int
s_person_changed(index_ctx_t *ix, store_txn_t *txn, const uint8_t key[CPT_KEY_LEN])
{
	char h[64];
	uint8_t from[64 + CPT_ID_LEN];
	store_cur_t *cur;
	store_val_t k, v;
	json_t *todo = json_array(), *x;
	size_t n, i;
	int rc;

	if (todo == NULL)
		return CPT_ENOMEM;
	if (index_handle_of(txn, key, h) != 0 || (n = strlen(h)) == 0) {
		json_decref(todo);
		return 0;
	}
	memcpy(from, h, n);
	from[n] = 0;
	k.len = n + 1;
	k.data = from;
	if ((rc = store_cur_open(txn, DB_MY_SPACES, &cur)) != 0) {
		json_decref(todo);
		return rc;
	}
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != n + 1 + CPT_ID_LEN || memcmp(k.data, from, n + 1) != 0)
			break;
		json_array_append_new(todo, s_hex((const uint8_t *)k.data + n + 1, CPT_ID_LEN));
	}
	store_cur_close(&cur);
	rc = rc == CPT_ENOTFOUND ? 0 : rc;
	json_array_foreach (todo, i, x) {
		uint8_t sp[CPT_ID_LEN];
		if (rc == 0 && s_unhex(sp, sizeof(sp), x) == 0)
			rc = s_refold(ix, txn, sp, NULL);
	}
	json_decref(todo);
	return rc;
}

/* A site's certificate came or went: its seal key (and whether it has one)
 * is what makes it a member site and what keys are sealed to, so the spaces
 * where it is a member site, or has members, are folded again (the stored
 * state's sites, duties and epoch would otherwise depend on whether the
 * certificate came before or after their events). */
static int
s_site_changed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e, int add)
{
	const char *site = json_string_value(json_object_get(e->body, "site"));
	store_cur_t *cur;
	store_val_t k, v;
	json_t *todo, *x;
	size_t i;
	int rc;

	if ((rc = s_site_cert(txn, e, add)) != 0 || site == NULL)
		return rc;
	if ((todo = json_array()) == NULL)
		return CPT_ENOMEM;
	if ((rc = store_cur_open(txn, DB_SPACES, &cur)) != 0) {
		json_decref(todo);
		return rc;
	}
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		json_t *st, *m;
		size_t j;
		int hit = 0;
		if (k.len != CPT_ID_LEN || (st = json_loadb(v.data, v.len, 0, NULL)) == NULL)
			continue;
		json_array_foreach (json_object_get(st, "sites"), j, m)
			hit |= json_is_string(m) && strcmp(json_string_value(m), site) == 0;
		json_array_foreach (json_object_get(st, "members"), j, m) {
			const char *ms = json_string_value(json_object_get(m, "site"));
			hit |= ms && strcmp(ms, site) == 0;
		}
		json_decref(st);
		if (hit)
			json_array_append_new(todo, s_hex(k.data, CPT_ID_LEN));
	}
	store_cur_close(&cur);
	rc = rc == CPT_ENOTFOUND ? 0 : rc;
	json_array_foreach (todo, i, x) {
		uint8_t sp[CPT_ID_LEN];
		if (rc == 0 && s_unhex(sp, sizeof(sp), x) == 0)
			rc = s_refold(ix, txn, sp, NULL);
	}
	json_decref(todo);
	return rc;
}

int
ix_spaces_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t space[CPT_ID_LEN], k[CPT_ID_LEN + 40], kv[2];
	int rc;

	switch (e->ev->kind) {
	case EVT_SITE_CERT: return e->body ? s_site_changed(ix, txn, e, 1) : 0;
	case EVT_ENROL:
	case EVT_REVOKE: {
		/* A person enrolled or disabled: the member sites of their spaces. */
		uint8_t key[CPT_KEY_LEN];
		if (e->body == NULL || index_hex_field(e->body, "key", key) != 0)
			return 0;
		return s_person_changed(ix, txn, key);
	}
	case EVT_SPACE:
	case EVT_SPACE_MEMBER:
	case EVT_SPACE_KEY:
		if (s_gov_space(e, space) != 0)
			return 0;
		s_key3(k, space, e->ev->ts, e->id);
		store_put_kind(kv, e->ev->kind);
		if ((rc = store_put(txn, DB_SPACE_GOV, k, sizeof(k), kv, 2)) != 0)
			return rc;
		if (e->ev->kind == EVT_SPACE_KEY && S.seal && S.has_fed) {
			/* A key sealed to this site joins the ring: what it opens is
			 * decided again by the refold below. */
			int orc;
			pthread_mutex_lock(&S.lock);
			orc = S.ring ? space_key_open(S.ring, e->body, S.seal) : CPT_ENOTFOUND;
			pthread_mutex_unlock(&S.lock);
			if (orc == CPT_EINVAL)
				log_warnx("spaces",
				          "space key event names a key or space it does not seal "
				          "(a dishonest sealer): ignored");
		}
		{
			/* A site space is named by its site: a key event signed by a
			 * site for its own space. */
			char site[64];
			int ss = e->ev->kind == EVT_SPACE_KEY &&
			         s_is_site_space(txn, space, e->ev->author, site);
			return s_refold(ix, txn, space, ss ? site : NULL);
		}
	case EVT_POST:
	case EVT_SEALED:
		if (e->body == NULL || space_hex_member(space, e->body, "space") != 0)
			return 0;
		s_key3(k, space, e->ev->ts, e->id);
		store_put_kind(kv, e->ev->kind);
		if ((rc = store_put(txn, DB_SPACE_ITEMS, k, sizeof(k), kv, 2)) != 0)
			return rc;
		if (e->ev->kind == EVT_SEALED) {
			json_t *plain;
			if (s_open_sealed(e->ev, e->body, &plain) != 0)
				return 0; /* not a member site, or the key is yet to come */
			rc = s_opened_added(ix, txn, e->ev, e->id, plain);
			json_decref(plain);
			return rc;
		}
		return 0; /* the posts index placed its view */
	}
	return 0;
}

int
ix_spaces_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t space[CPT_ID_LEN], k[CPT_ID_LEN + 40];
	int rc;

	switch (e->ev->kind) {
	case EVT_SITE_CERT: return e->body ? s_site_changed(ix, txn, e, 0) : 0;
	case EVT_ENROL:
	case EVT_REVOKE: return ix_spaces_added(ix, txn, e);
	case EVT_SPACE:
	case EVT_SPACE_MEMBER:
	case EVT_SPACE_KEY:
		if (s_gov_space(e, space) != 0)
			return 0;
		s_key3(k, space, e->ev->ts, e->id);
		if ((rc = store_del(txn, DB_SPACE_GOV, k, sizeof(k))) != 0)
			return rc;
		{
			char site[64];
			int ss = e->ev->kind == EVT_SPACE_KEY &&
			         s_is_site_space(txn, space, e->ev->author, site);
			return s_refold(ix, txn, space, ss ? site : NULL);
		}
	case EVT_POST:
	case EVT_SEALED:
		if (e->body == NULL || space_hex_member(space, e->body, "space") != 0)
			return 0;
		s_key3(k, space, e->ev->ts, e->id);
		if ((rc = store_del(txn, DB_SPACE_ITEMS, k, sizeof(k))) != 0 ||
		    (rc = store_del(txn, DB_SPACE_FEED, k, sizeof(k))) != 0)
			return rc;
		return e->ev->kind == EVT_SEALED ? s_opened_removed(ix, txn, e->ev, e->id, space)
		                                 : 0;
	}
	return 0;
}

/* ------------------------------------------------------------ reads */

int
index_spaces_load(store_txn_t *txn)
{
	store_cur_t *cur;
	store_val_t k, v;
	int rc;
	size_t opened = 0;

	if (S.seal == NULL || !S.has_fed)
		return 0;
	if ((rc = store_cur_open(txn, DB_SPACE_GOV, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		evt_t ev;
		json_t *b;
		if (store_get_kind(&v) != EVT_SPACE_KEY || k.len != CPT_ID_LEN + 40)
			continue;
		if (index_event(txn, (const uint8_t *)k.data + CPT_ID_LEN + 8, &ev) != 0 ||
		    (b = index_body(&ev)) == NULL)
			continue;
		pthread_mutex_lock(&S.lock);
		if (S.ring && space_key_open(S.ring, b, S.seal) == 0)
			opened++;
		pthread_mutex_unlock(&S.lock);
		json_decref(b);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

int
index_my_space(store_txn_t *txn, const char *handle, const uint8_t space[CPT_ID_LEN],
               char name[SPACE_NAME_MAX + 1])
{
	uint8_t k[64 + CPT_ID_LEN];
	size_t hl = strlen(handle), nl;
	store_val_t v;
	int rc;

	if (hl == 0 || hl > 32)
		return 0;
	memcpy(k, handle, hl);
	k[hl] = 0;
	memcpy(k + hl + 1, space, CPT_ID_LEN);
	if ((rc = store_get(txn, DB_MY_SPACES, k, hl + 1 + CPT_ID_LEN, &v)) != 0)
		return rc == CPT_ENOTFOUND ? 0 : rc;
	if (name) {
		nl = v.len > 1 ? v.len - 1 : 0;
		if (nl > SPACE_NAME_MAX)
			nl = SPACE_NAME_MAX;
		memcpy(name, (const char *)v.data + 1, nl);
		name[nl] = 0;
	}
	return 1;
}

int
index_my_spaces(store_txn_t *txn, const char *handle, uint8_t (*out)[CPT_ID_LEN], int *roles,
                char (*names)[SPACE_NAME_MAX + 1], size_t max, size_t *n)
{
	uint8_t from[64 + CPT_ID_LEN];
	size_t hl = strlen(handle);
	store_cur_t *cur;
	store_val_t k, v;
	int rc;

	*n = 0;
	if (hl == 0 || hl > 32)
		return 0;
	memcpy(from, handle, hl);
	from[hl] = 0;
	k.len = hl + 1;
	k.data = from;
	if ((rc = store_cur_open(txn, DB_MY_SPACES, &cur)) != 0)
		return rc;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0 && *n < max;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != hl + 1 + CPT_ID_LEN || memcmp(k.data, from, hl + 1) != 0)
			break;
		memcpy(out[*n], (const uint8_t *)k.data + hl + 1, CPT_ID_LEN);
		if (roles)
			roles[*n] = v.len >= 1 ? *(const uint8_t *)v.data : SPACE_MEMBER;
		if (names) {
			size_t nl = v.len > 1 ? v.len - 1 : 0;
			if (nl > SPACE_NAME_MAX)
				nl = SPACE_NAME_MAX;
			memcpy(names[*n], (const char *)v.data + 1, nl);
			names[*n][nl] = 0;
		}
		(*n)++;
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}
