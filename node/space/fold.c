/*
 * The fold of a space (docs/PROTOCOL.md 16.7, 16.8): its governance events in
 * (timestamp, id) order, each applied only if its author had the right in the
 * state the earlier ones made; then the member sites, the keys, the key to
 * write with and the seals still owed. A function of the set of events.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "node/space/space.h"

/* A role change of one person, for space_state_role_at(). */
struct s_change {
	uint64_t ts;            /* position of the event that made it */
	uint8_t id[CPT_ID_LEN]; /* ... and its id */
	int role;               /* the role from then on */
};

/* Everyone a space's events name, sorted by handle. */
struct s_person {
	char *handle;          /* owned */
	const char *site;      /* interned in the state's site names; NULL when unknown */
	int active;            /* holds a valid key now */
	int role;              /* during the fold: the role so far; after: now */
	int pending;           /* 0, S_INVITED or S_REQUESTED */
	size_t pending_by;     /* index of who invited (or the person, for a request) */
	uint64_t pending_ts;   /* when */
	uint64_t since;        /* when the current membership began */
	struct s_change *hist; /* role changes in fold order */
	size_t nhist, chist;   /* used, allocated */
};

enum { S_INVITED = 1, S_REQUESTED = 2 };

/* An archive flag change, for space_state_open_at(). */
struct s_arch {
	uint64_t ts;
	uint8_t id[CPT_ID_LEN];
	int archived;
};

/* A key with the seal keys it is sealed to. */
struct s_key {
	space_key_t pub;                 /* what accessors return; pub.by is interned */
	uint8_t (*holders)[CPT_KEY_LEN]; /* seal keys, in order of first seal */
	size_t chold;                    /* allocated */
};

/* What the fold decided for one input event. */
struct s_effect {
	uint8_t id[CPT_ID_LEN];
	int effect;
};

struct space_state {
	uint8_t id[CPT_ID_LEN];         /* the space's id */
	char *site;                     /* a site space's site, owned; else NULL */
	int exists;                     /* creating event here, or a site space */
	uint64_t created;               /* timestamp of the creating event */
	uint8_t created_id[CPT_ID_LEN]; /* its id */
	size_t creator;                 /* index in people, or SIZE_MAX */
	int vis, join, archived;        /* policies now */
	char *name, *desc;              /* profile now, owned; NULL when unknown */
	char *cover, *cover_by;         /* its cover (a file event id, hex) and the handle that
	                                   set it, owned; NULL when none */
	struct s_person *people;        /* sorted by handle */
	size_t npeople;
	size_t nowners; /* during the fold */
	char **names;   /* interned site names, owned */
	size_t nnames, cnames;
	struct s_arch *arch; /* archive changes in fold order */
	size_t narch, carch;
	struct s_key *keys; /* in order of start */
	size_t nkeys, ckeys;
	struct s_effect *effects; /* sorted by id */
	size_t neffects;
	space_member_t *members; /* results: borrow the strings above */
	size_t nmembers;
	space_pending_t *pending;
	size_t npending;
	space_site_t *sites;
	size_t nsites;
	space_duty_t *duties;
	size_t nduties, cduties;
	int epoch_due;
	const char *epoch_by;
};

/* ------------------------------------------------------------ helpers */

/* Grows *arr (elements of size elem) to hold one more; 0 or CPT_ENOMEM. */
static int
s_grow(void **arr, size_t n, size_t *cap, size_t elem)
{
	void *p;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 8;
	if ((p = realloc(*arr, c * elem)) == NULL)
		return CPT_ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

/* (ts, id) order: -1, 0, 1. */
static int
s_pos_cmp(uint64_t ta, const uint8_t *ia, uint64_t tb, const uint8_t *ib)
{
	if (ta != tb)
		return ta < tb ? -1 : 1;
	return memcmp(ia, ib, CPT_ID_LEN);
}

static int
s_evt_cmp(const void *a, const void *b)
{
	const space_evt_t *x = *(const space_evt_t *const *)a, *y = *(const space_evt_t *const *)b;

	return s_pos_cmp(x->ts, x->id, y->ts, y->id);
}

static int
s_str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The interned copy of a site name, added when new; NULL only for a NULL name
 * or when memory is short (*rc then says so). */
static const char *
s_intern(space_state_t *st, const char *name, int *rc)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < st->nnames; i++)
		if (strcmp(st->names[i], name) == 0)
			return st->names[i];
	if (s_grow((void **)&st->names, st->nnames, &st->cnames, sizeof(char *)) != 0 ||
	    (st->names[st->nnames] = strdup(name)) == NULL) {
		*rc = CPT_ENOMEM;
		return NULL;
	}
	return st->names[st->nnames++];
}

static struct s_person *
s_person(const space_state_t *st, const char *handle)
{
	size_t lo = 0, hi = st->npeople;

	if (handle == NULL)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(st->people[mid].handle, handle);

		if (c == 0)
			return &st->people[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const char *
s_str(const json_t *o, const char *name)
{
	const json_t *v = json_object_get(o, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
s_role_of(const char *name)
{
	if (name == NULL)
		return SPACE_NONE;
	if (strcmp(name, "owner") == 0)
		return SPACE_OWNER;
	if (strcmp(name, "admin") == 0)
		return SPACE_ADMIN;
	if (strcmp(name, "member") == 0)
		return SPACE_MEMBER;
	return SPACE_NONE;
}

/* Replaces an owned string with a copy of value (NULL clears it). */
static int
s_set_str(char **dst, const char *value)
{
	char *c = NULL;

	if (value != NULL && (c = strdup(value)) == NULL)
		return CPT_ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

/* ------------------------------------------------------------ people */

/* A handle list under construction: borrowed strings, sorted later. */
struct s_handles {
	const char **v;
	size_t n, cap;
};

static int
s_add_handle(struct s_handles *h, const char *handle)
{
	if (handle == NULL)
		return 0;
	if (s_grow((void **)&h->v, h->n, &h->cap, sizeof(char *)) != 0)
		return CPT_ENOMEM;
	h->v[h->n++] = handle;
	return 0;
}

/* What the roster callback fills for a site space. */
struct s_roster {
	struct s_handles handles;
	struct {
		const char *handle; /* borrowed until the fold ends... copied at once below */
		int admin, active;
	} * v;
	size_t n, cap;
	char **copies; /* the roster's strings need not outlive the callback: copies */
	size_t ncopies, ccopies;
};

static int
s_roster_add(void *arg, const char *handle, int admin, int active)
{
	struct s_roster *r = arg;
	char *c;

	if (handle == NULL)
		return 0;
	if (s_grow((void **)&r->v, r->n, &r->cap, sizeof(*r->v)) != 0 ||
	    s_grow((void **)&r->copies, r->ncopies, &r->ccopies, sizeof(char *)) != 0 ||
	    (c = strdup(handle)) == NULL)
		return CPT_ENOMEM;
	r->copies[r->ncopies++] = c;
	r->v[r->n].handle = c;
	r->v[r->n].admin = admin;
	r->v[r->n].active = active;
	r->n++;
	return s_add_handle(&r->handles, c);
}

/* Builds the sorted, unique people table from the handles named. */
static int
s_people(space_state_t *st, struct s_handles *h, const space_env_t *env)
{
	size_t u = 0;
	int rc = 0;

	if (h->n > 1) /* qsort of NULL is undefined, even of nothing */
		qsort(h->v, h->n, sizeof(char *), s_str_cmp);
	for (size_t i = 0; i < h->n; i++)
		if (u == 0 || strcmp(h->v[u - 1], h->v[i]) != 0)
			h->v[u++] = h->v[i];
	if (u > 0 && (st->people = calloc(u, sizeof(*st->people))) == NULL)
		return CPT_ENOMEM;
	for (size_t i = 0; i < u; i++) {
		struct s_person *p = &st->people[i];
		const char *site = NULL;
		int active = 0;

		if ((p->handle = strdup(h->v[i])) == NULL)
			return CPT_ENOMEM;
		st->npeople++;
		p->pending_by = SIZE_MAX;
		if (env != NULL && env->person != NULL)
			site = env->person(env->ctx, p->handle, &active);
		p->site = s_intern(st, site, &rc);
		p->active = site != NULL && active;
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
s_set_role(space_state_t *st, struct s_person *p, int role, const space_evt_t *ev)
{
	struct s_change *c;

	if (p->role == SPACE_OWNER)
		st->nowners--;
	if (role == SPACE_OWNER)
		st->nowners++;
	if (p->role == SPACE_NONE && role != SPACE_NONE)
		p->since = ev->ts;
	p->role = role;
	if (s_grow((void **)&p->hist, p->nhist, &p->chist, sizeof(*p->hist)) != 0)
		return CPT_ENOMEM;
	c = &p->hist[p->nhist++];
	c->ts = ev->ts;
	memcpy(c->id, ev->id, CPT_ID_LEN);
	c->role = role;
	return 0;
}

static void
s_clear_pending(struct s_person *p)
{
	p->pending = 0;
	p->pending_by = SIZE_MAX;
	p->pending_ts = 0;
}

/* ----------------------------------------------------------- applying */

/* The cover an edit sets (NULL clears it), with who set it: a cover is a
 * file event of its setter's (PROTOCOL.md 18.3), which the reader checks. */
static int
s_cover(space_state_t *st, const space_evt_t *ev, const char *cover)
{
	int rc = s_set_str(&st->cover, cover);

	return rc != 0 ? rc : s_set_str(&st->cover_by, cover ? ev->author : NULL);
}

/* The profile of a creating event or an edit (PROTOCOL.md 16.4). */
static int
s_profile(space_state_t *st, const space_evt_t *ev)
{
	const json_t *src;
	int rc;

	if (st->vis == SPACE_OPEN) {
		/* In clear; a sealed profile in an open space means nothing. */
		if (json_object_get(ev->body, "name") != NULL &&
		    (rc = s_set_str(&st->name, s_str(ev->body, "name"))) != 0)
			return rc;
		if (json_object_get(ev->body, "description") != NULL &&
		    (rc = s_set_str(&st->desc, s_str(ev->body, "description"))) != 0)
			return rc;
		if (json_object_get(ev->body, "cover") != NULL)
			return s_cover(st, ev, s_str(ev->body, "cover"));
		return 0;
	}
	/* Private: only a sealed profile counts, as a whole; one this site
	 * cannot open makes the name unknown here rather than stale. */
	if (json_object_get(ev->body, "sealed") == NULL)
		return 0;
	src = ev->profile;
	if ((rc = s_set_str(&st->name, src ? s_str(src, "name") : NULL)) != 0)
		return rc;
	if ((rc = s_cover(st, ev, src ? s_str(src, "cover") : NULL)) != 0)
		return rc;
	return s_set_str(&st->desc, src ? s_str(src, "description") : NULL);
}

static int
s_push_arch(space_state_t *st, const space_evt_t *ev, int archived)
{
	struct s_arch *a;

	if (s_grow((void **)&st->arch, st->narch, &st->carch, sizeof(*st->arch)) != 0)
		return CPT_ENOMEM;
	a = &st->arch[st->narch++];
	a->ts = ev->ts;
	memcpy(a->id, ev->id, CPT_ID_LEN);
	a->archived = archived;
	st->archived = archived;
	return 0;
}

/* A creating event (kind 11 whose id is the space's). */
static int
s_create(space_state_t *st, const space_evt_t *ev, int *effect)
{
	const char *vis = s_str(ev->body, "visibility"), *join = s_str(ev->body, "join");
	struct s_person *p = s_person(st, ev->author);

	st->exists = 1;
	st->created = ev->ts;
	memcpy(st->created_id, ev->id, CPT_ID_LEN);
	st->vis = strcmp(vis, "private") == 0 ? SPACE_PRIVATE : SPACE_OPEN;
	st->join = strcmp(join, "request") == 0  ? SPACE_JOIN_REQUEST
	           : strcmp(join, "invite") == 0 ? SPACE_JOIN_INVITE
	                                         : SPACE_JOIN_OPEN;
	*effect = SPACE_APPLIED;
	if (p != NULL) {
		st->creator = (size_t)(p - st->people);
		if (s_set_role(st, p, SPACE_OWNER, ev) != 0)
			return CPT_ENOMEM;
	}
	return s_profile(st, ev);
}

static int
s_edit(space_state_t *st, const space_evt_t *ev, int *effect)
{
	struct s_person *a = s_person(st, ev->author);
	const char *join = s_str(ev->body, "join");
	const json_t *archived = json_object_get(ev->body, "archived");
	int rc;

	if (a == NULL || a->role < SPACE_ADMIN) {
		*effect = SPACE_NO_RIGHT;
		return 0;
	}
	*effect = SPACE_APPLIED;
	if (join != NULL)
		st->join = strcmp(join, "request") == 0  ? SPACE_JOIN_REQUEST
		           : strcmp(join, "invite") == 0 ? SPACE_JOIN_INVITE
		                                         : SPACE_JOIN_OPEN;
	if (archived != NULL && (rc = s_push_arch(st, ev, json_is_true(archived))) != 0)
		return rc;
	return s_profile(st, ev);
}

/* A membership action (PROTOCOL.md 16.7, the table of rights). */
static int
s_member(space_state_t *st, const space_evt_t *ev, int *effect)
{
	const char *action = s_str(ev->body, "action");
	struct s_person *a = s_person(st, ev->author), *u = s_person(st, s_str(ev->body, "user"));
	int want = s_role_of(s_str(ev->body, "role"));

#define NO(e)                                                                                      \
	do {                                                                                       \
		*effect = (e);                                                                     \
		return 0;                                                                          \
	} while (0)

	*effect = SPACE_APPLIED;
	if (a == NULL)
		NO(SPACE_NO_RIGHT);
	if (strcmp(action, "join") == 0) {
		if (a->role != SPACE_NONE)
			NO(SPACE_NO_CHANGE);
		if (st->archived)
			NO(SPACE_ARCHIVED);
		if (a->pending != S_INVITED && st->join != SPACE_JOIN_OPEN)
			NO(SPACE_POLICY);
		s_clear_pending(a);
		return s_set_role(st, a, SPACE_MEMBER, ev);
	}
	if (strcmp(action, "leave") == 0) {
		if (a->role == SPACE_NONE)
			NO(SPACE_NO_CHANGE);
		if (a->role == SPACE_OWNER && st->nowners == 1)
			NO(SPACE_LAST_OWNER);
		return s_set_role(st, a, SPACE_NONE, ev);
	}
	if (strcmp(action, "request") == 0) {
		if (a->role != SPACE_NONE || a->pending != 0)
			NO(SPACE_NO_CHANGE);
		if (st->archived)
			NO(SPACE_ARCHIVED);
		if (st->join != SPACE_JOIN_REQUEST)
			NO(SPACE_POLICY);
		a->pending = S_REQUESTED;
		a->pending_by = (size_t)(a - st->people);
		a->pending_ts = ev->ts;
		return 0;
	}
	if (strcmp(action, "decline") == 0) {
		if (u == NULL || u == a) {
			/* One's own invitation or request. */
			if (a->pending == 0)
				NO(SPACE_NO_CHANGE);
			s_clear_pending(a);
			return 0;
		}
		if (a->role < SPACE_ADMIN)
			NO(SPACE_NO_RIGHT);
		if (u->pending == 0)
			NO(SPACE_NO_CHANGE);
		s_clear_pending(u);
		return 0;
	}
	/* The rest act on someone else and need a role. */
	if (u == NULL)
		NO(SPACE_NO_CHANGE);
	if (strcmp(action, "approve") == 0 || strcmp(action, "invite") == 0) {
		int invite = action[0] == 'i';

		if (a->role < SPACE_ADMIN)
			NO(SPACE_NO_RIGHT);
		if (st->archived)
			NO(SPACE_ARCHIVED);
		if (u->role != SPACE_NONE)
			NO(SPACE_NO_CHANGE);
		if (u->pending == S_REQUESTED) {
			/* An approval, or an invitation of someone who asked: either way in. */
			s_clear_pending(u);
			return s_set_role(st, u, SPACE_MEMBER, ev);
		}
		if (!invite || u->pending == S_INVITED)
			NO(SPACE_NO_CHANGE);
		u->pending = S_INVITED;
		u->pending_by = (size_t)(a - st->people);
		u->pending_ts = ev->ts;
		return 0;
	}
	if (strcmp(action, "remove") == 0) {
		if (u == a || u->role == SPACE_NONE)
			NO(SPACE_NO_CHANGE);
		/* An owner removes anyone (an owner remains: the author); an admin, members. */
		if (!(a->role == SPACE_OWNER ||
		      (a->role == SPACE_ADMIN && u->role == SPACE_MEMBER)))
			NO(SPACE_NO_RIGHT);
		s_clear_pending(u);
		return s_set_role(st, u, SPACE_NONE, ev);
	}
	if (strcmp(action, "promote") == 0) {
		if (u->role == SPACE_NONE || want <= u->role)
			NO(SPACE_NO_CHANGE);
		if (!(a->role == SPACE_OWNER || (a->role == SPACE_ADMIN && want == SPACE_ADMIN)))
			NO(SPACE_NO_RIGHT);
		return s_set_role(st, u, want, ev);
	}
	if (strcmp(action, "demote") == 0) {
		if (u->role == SPACE_NONE || want >= u->role)
			NO(SPACE_NO_CHANGE);
		/* Owners demote; anyone may step down. */
		if (a->role != SPACE_OWNER && u != a)
			NO(SPACE_NO_RIGHT);
		if (u->role == SPACE_OWNER && st->nowners == 1)
			NO(SPACE_LAST_OWNER);
		return s_set_role(st, u, want, ev);
	}
	NO(SPACE_MALFORMED);
#undef NO
}

static struct s_key *
s_key_find(const space_state_t *st, const uint8_t id[SKEY_ID_LEN])
{
	for (size_t i = 0; i < st->nkeys; i++)
		if (memcmp(st->keys[i].pub.id, id, SKEY_ID_LEN) == 0)
			return &st->keys[i];
	return NULL;
}

/* A key event: effective when signed by a member site at its point. */
static int
s_key(space_state_t *st, const space_evt_t *ev, int *effect)
{
	uint8_t kid[SKEY_ID_LEN];
	const json_t *seals = json_object_get(ev->body, "seals"), *s;
	struct s_key *k;
	const char *by;
	size_t i;
	int member_site = 0, rc = 0;

	if (st->site == NULL && st->vis != SPACE_PRIVATE) {
		*effect = SPACE_NOT_HERE; /* open spaces have no keys */
		return 0;
	}
	if (ev->author != NULL) {
		if (st->site != NULL)
			member_site = strcmp(ev->author, st->site) == 0;
		for (i = 0; !member_site && i < st->npeople; i++)
			member_site = st->people[i].role != SPACE_NONE &&
			              st->people[i].site != NULL &&
			              strcmp(st->people[i].site, ev->author) == 0;
	}
	if (!member_site) {
		*effect = SPACE_NO_RIGHT;
		return 0;
	}
	*effect = SPACE_APPLIED;
	if (space_hex_member(kid, ev->body, "key") != 0 ||
	    (by = s_intern(st, ev->author, &rc)) == NULL)
		return rc != 0 ? rc : CPT_EINVAL;
	if ((k = s_key_find(st, kid)) == NULL) {
		if (s_grow((void **)&st->keys, st->nkeys, &st->ckeys, sizeof(*st->keys)) != 0)
			return CPT_ENOMEM;
		k = &st->keys[st->nkeys++];
		memset(k, 0, sizeof(*k));
		memcpy(k->pub.id, kid, SKEY_ID_LEN);
		k->pub.ts = ev->ts;
		memcpy(k->pub.evt, ev->id, CPT_ID_LEN);
		k->pub.by = by;
	}
	json_array_foreach (seals, i, s) {
		uint8_t to[CPT_KEY_LEN];
		int seen = 0;

		if (space_hex_member(to, s, "to") != 0)
			continue;
		for (size_t j = 0; !seen && j < k->pub.nholders; j++)
			seen = memcmp(k->holders[j], to, CPT_KEY_LEN) == 0;
		if (seen)
			continue;
		if (s_grow((void **)&k->holders, k->pub.nholders, &k->chold, CPT_KEY_LEN) != 0)
			return CPT_ENOMEM;
		memcpy(k->holders[k->pub.nholders++], to, CPT_KEY_LEN);
	}
	return 0;
}

/* Decides one event; returns 0 or CPT_ENOMEM, the verdict in *effect. */
static int
s_apply(space_state_t *st, const space_evt_t *ev, int *effect)
{
	uint8_t named[CPT_ID_LEN];
	int has_space;

	if (space_body_check(ev->kind, ev->body, NULL) != 0 ||
	    (ev->kind != EVT_SPACE && ev->kind != EVT_SPACE_MEMBER && ev->kind != EVT_SPACE_KEY)) {
		*effect = SPACE_MALFORMED;
		return 0;
	}
	has_space = space_hex_member(named, ev->body, "space") == 0;
	if (ev->kind == EVT_SPACE && !has_space) {
		/* A creating event: of this space only if it is the one. */
		if (st->site != NULL || memcmp(ev->id, st->id, CPT_ID_LEN) != 0) {
			*effect = SPACE_NOT_HERE;
			return 0;
		}
		return s_create(st, ev, effect);
	}
	if (memcmp(named, st->id, CPT_ID_LEN) != 0 ||
	    (st->site != NULL && ev->kind != EVT_SPACE_KEY)) {
		/* Another space's, or membership of a site space (its staff are). */
		*effect = SPACE_NOT_HERE;
		return 0;
	}
	if (!st->exists) {
		*effect = SPACE_NO_SPACE;
		return 0;
	}
	switch (ev->kind) {
	case EVT_SPACE: return s_edit(st, ev, effect);
	case EVT_SPACE_MEMBER: return s_member(st, ev, effect);
	default: return s_key(st, ev, effect);
	}
}

/* ------------------------------------------------------------ results */

static int
s_site_cmp(const void *a, const void *b)
{
	return strcmp(((const space_site_t *)a)->name, ((const space_site_t *)b)->name);
}

static int
s_effect_cmp(const void *a, const void *b)
{
	return memcmp(((const struct s_effect *)a)->id, ((const struct s_effect *)b)->id,
	              CPT_ID_LEN);
}

static int
s_held(const struct s_key *k, const uint8_t seal[CPT_KEY_LEN])
{
	for (size_t i = 0; i < k->pub.nholders; i++)
		if (memcmp(k->holders[i], seal, CPT_KEY_LEN) == 0)
			return 1;
	return 0;
}

/* Members, pending, member sites, the epoch and the duties, from the end state. */
static int
s_results(space_state_t *st, const space_env_t *env)
{
	size_t nm = 0, np = 0;

	for (size_t i = 0; i < st->npeople; i++) {
		nm +=
		    st->people[i].role != SPACE_NONE && (st->site == NULL || st->people[i].active);
		np += st->people[i].pending != 0;
	}
	if ((nm > 0 && (st->members = calloc(nm, sizeof(*st->members))) == NULL) ||
	    (np > 0 && (st->pending = calloc(np, sizeof(*st->pending))) == NULL))
		return CPT_ENOMEM;
	for (size_t i = 0; i < st->npeople; i++) {
		struct s_person *p = &st->people[i];

		if (p->role != SPACE_NONE && (st->site == NULL || p->active))
			st->members[st->nmembers++] =
			    (space_member_t){p->handle, p->site, p->role, p->active, p->since};
		if (p->pending != 0)
			st->pending[st->npending++] =
			    (space_pending_t){p->handle, p->pending == S_INVITED,
			                      st->people[p->pending_by].handle, p->pending_ts};
	}
	if (st->site == NULL && st->vis != SPACE_PRIVATE)
		return 0; /* open: no member sites, keys or duties */

	/* Member sites: the sites of active members; a site space's site alone. */
	if ((st->sites = calloc(st->nmembers + 1, sizeof(*st->sites))) == NULL)
		return CPT_ENOMEM;
	if (st->site != NULL) {
		int rc = 0;
		st->sites[st->nsites++].name = s_intern(st, st->site, &rc);
		if (rc != 0)
			return rc;
	} else {
		for (size_t i = 0; i < st->nmembers; i++) {
			const char *s = st->members[i].site;
			int seen = 0;

			if (s == NULL || !st->members[i].active)
				continue;
			for (size_t j = 0; !seen && j < st->nsites; j++)
				seen = st->sites[j].name == s; /* interned */
			if (!seen)
				st->sites[st->nsites++].name = s;
		}
	}
	if (st->nsites > 1)
		qsort(st->sites, st->nsites, sizeof(*st->sites), s_site_cmp);
	for (size_t i = 0; i < st->nsites; i++)
		st->sites[i].has_seal =
		    env != NULL && env->seal_key != NULL &&
		    env->seal_key(env->ctx, st->sites[i].name, st->sites[i].seal_key) == 0;
	if (st->nsites == 0)
		return 0;

	/* The epoch: the write key must be held by member sites' current seal keys only. */
	if (st->nkeys == 0) {
		st->epoch_due = 1;
	} else {
		const struct s_key *w = &st->keys[st->nkeys - 1];

		for (size_t h = 0; !st->epoch_due && h < w->pub.nholders; h++) {
			int member = 0;
			for (size_t i = 0; !member && i < st->nsites; i++)
				member =
				    st->sites[i].has_seal &&
				    memcmp(st->sites[i].seal_key, w->holders[h], CPT_KEY_LEN) == 0;
			st->epoch_due = !member;
		}
	}
	for (size_t i = 0; st->epoch_due && st->epoch_by == NULL && i < st->nsites; i++)
		if (st->sites[i].has_seal)
			st->epoch_by = st->sites[i].name;

	/* Duties: every member site holds every key (new member sites read the history). */
	for (size_t k = 0; k < st->nkeys; k++) {
		const char *by = NULL;

		for (size_t i = 0; by == NULL && i < st->nsites; i++)
			if (st->sites[i].has_seal && s_held(&st->keys[k], st->sites[i].seal_key))
				by = st->sites[i].name;
		for (size_t i = 0; i < st->nsites; i++) {
			space_duty_t *d;

			if (!st->sites[i].has_seal || s_held(&st->keys[k], st->sites[i].seal_key))
				continue;
			if (s_grow((void **)&st->duties, st->nduties, &st->cduties,
			           sizeof(*st->duties)) != 0)
				return CPT_ENOMEM;
			d = &st->duties[st->nduties++];
			memcpy(d->key, st->keys[k].pub.id, SKEY_ID_LEN);
			d->to = st->sites[i].name;
			memcpy(d->to_seal, st->sites[i].seal_key, CPT_KEY_LEN);
			d->by = by;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- fold */

int
space_fold(space_state_t **out, const uint8_t space[CPT_ID_LEN], const char *site,
           const space_evt_t *evs, size_t n, const space_env_t *env)
{
	struct s_roster roster = {0};
	const space_evt_t **order = NULL;
	space_state_t *st;
	size_t uniq = 0;
	int rc = CPT_ENOMEM;

	assert(out != NULL && space != NULL && (evs != NULL || n == 0));
	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return CPT_ENOMEM;
	memcpy(st->id, space, CPT_ID_LEN);
	st->creator = SIZE_MAX;
	if (site != NULL && (st->site = strdup(site)) == NULL)
		goto fail;

	/* The order is (timestamp, id): sorting is what makes the result a
	 * function of the set; a repeated id is kept once. */
	if (n > 0 && (order = malloc(n * sizeof(*order))) == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++)
		order[i] = &evs[i];
	if (n > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(order, n, sizeof(*order), s_evt_cmp);
	for (size_t i = 0; i < n; i++)
		if (uniq == 0 || memcmp(order[uniq - 1]->id, order[i]->id, CPT_ID_LEN) != 0)
			order[uniq++] = order[i];

	/* Everyone named, looked up once. */
	if (site != NULL) {
		if (env != NULL && env->roster != NULL &&
		    (rc = env->roster(env->ctx, site, s_roster_add, &roster)) != 0)
			goto fail;
		rc = CPT_ENOMEM;
	} else {
		for (size_t i = 0; i < uniq; i++) {
			if (order[i]->kind == EVT_SPACE_KEY || !json_is_object(order[i]->body))
				continue;
			if (s_add_handle(&roster.handles, order[i]->author) != 0 ||
			    s_add_handle(&roster.handles, s_str(order[i]->body, "user")) != 0)
				goto fail;
		}
	}
	if ((rc = s_people(st, &roster.handles, env)) != 0)
		goto fail;
	rc = CPT_ENOMEM;
	if (site != NULL) {
		/* A site space: private, joined by enrolment, its staff as members. */
		st->exists = 1;
		st->vis = SPACE_PRIVATE;
		st->join = SPACE_JOIN_SITE;
		for (size_t i = 0; i < roster.n; i++) {
			struct s_person *p = s_person(st, roster.v[i].handle);
			int r = 0;
			/* The roster, not the person lookup, says who is this site's. */
			p->active = roster.v[i].active;
			p->site = s_intern(st, site, &r);
			p->role = roster.v[i].admin ? SPACE_ADMIN : SPACE_MEMBER;
			if (r != 0)
				goto fail;
		}
	}

	if (uniq > 0 && (st->effects = calloc(uniq, sizeof(*st->effects))) == NULL)
		goto fail;
	for (size_t i = 0; i < uniq; i++) {
		struct s_effect *e = &st->effects[st->neffects++];

		memcpy(e->id, order[i]->id, CPT_ID_LEN);
		if ((rc = s_apply(st, order[i], &e->effect)) != 0)
			goto fail;
	}
	if (st->neffects > 1)
		qsort(st->effects, st->neffects, sizeof(*st->effects), s_effect_cmp);
	if ((rc = s_results(st, env)) != 0)
		goto fail;
	rc = 0;
	*out = st;
	st = NULL;
fail:
	for (size_t i = 0; i < roster.ncopies; i++)
		free(roster.copies[i]);
	free(roster.copies);
	free(roster.v);
	free(roster.handles.v);
	free(order);
	space_state_destroy(&st);
	return rc;
}

void
space_state_destroy(space_state_t **self_p)
{
	space_state_t *st;

	if (self_p == NULL || (st = *self_p) == NULL)
		return;
	for (size_t i = 0; i < st->npeople; i++) {
		free(st->people[i].handle);
		free(st->people[i].hist);
	}
	free(st->people);
	for (size_t i = 0; i < st->nnames; i++)
		free(st->names[i]);
	free(st->names);
	for (size_t i = 0; i < st->nkeys; i++)
		free(st->keys[i].holders);
	free(st->keys);
	free(st->site);
	free(st->name);
	free(st->desc);
	free(st->cover);
	free(st->cover_by);
	free(st->arch);
	free(st->effects);
	free(st->members);
	free(st->pending);
	free(st->sites);
	free(st->duties);
	free(st);
	*self_p = NULL;
}

/* ------------------------------------------------------------ accessors */

const char *
space_effect_name(int effect)
{
	static const char *const names[] = {
	    [SPACE_APPLIED] = "applied",     [SPACE_NOT_HERE] = "not_here",
	    [SPACE_NO_SPACE] = "no_space",   [SPACE_NO_RIGHT] = "no_right",
	    [SPACE_NO_CHANGE] = "no_change", [SPACE_POLICY] = "policy",
	    [SPACE_ARCHIVED] = "archived",   [SPACE_LAST_OWNER] = "last_owner",
	    [SPACE_MALFORMED] = "malformed",
	};

	if (effect < 0 || (size_t)effect >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[effect];
}

const uint8_t *
space_state_id(const space_state_t *st)
{
	assert(st != NULL);
	return st->id;
}

int
space_state_exists(const space_state_t *st)
{
	assert(st != NULL);
	return st->exists;
}

const char *
space_state_site(const space_state_t *st)
{
	assert(st != NULL);
	return st->site;
}

const char *
space_state_creator(const space_state_t *st)
{
	assert(st != NULL);
	return st->creator == SIZE_MAX ? NULL : st->people[st->creator].handle;
}

uint64_t
space_state_created(const space_state_t *st)
{
	assert(st != NULL);
	return st->created;
}

int
space_state_visibility(const space_state_t *st)
{
	assert(st != NULL);
	return st->vis;
}

int
space_state_join(const space_state_t *st)
{
	assert(st != NULL);
	return st->join;
}

int
space_state_archived(const space_state_t *st)
{
	assert(st != NULL);
	return st->archived;
}

const char *
space_state_name(const space_state_t *st)
{
	assert(st != NULL);
	return st->name;
}

const char *
space_state_description(const space_state_t *st)
{
	assert(st != NULL);
	return st->desc;
}

const char *
space_state_cover(const space_state_t *st, const char **by)
{
	assert(st != NULL);
	if (by != NULL)
		*by = st->cover_by;
	return st->cover;
}

size_t
space_state_nmembers(const space_state_t *st)
{
	assert(st != NULL);
	return st->nmembers;
}

const space_member_t *
space_state_member(const space_state_t *st, size_t i)
{
	assert(st != NULL && i < st->nmembers);
	return &st->members[i];
}

int
space_state_role(const space_state_t *st, const char *handle)
{
	const struct s_person *p;

	assert(st != NULL);
	p = s_person(st, handle);
	if (p == NULL || (st->site != NULL && !p->active))
		return SPACE_NONE;
	return p->role;
}

int
space_state_role_at(const space_state_t *st, const char *handle, uint64_t ts,
                    const uint8_t id[CPT_ID_LEN])
{
	const struct s_person *p;
	int role = SPACE_NONE;

	assert(st != NULL && id != NULL);
	if ((p = s_person(st, handle)) == NULL)
		return SPACE_NONE;
	if (st->site != NULL)
		return p->role;
	for (size_t i = 0; i < p->nhist && s_pos_cmp(p->hist[i].ts, p->hist[i].id, ts, id) < 0; i++)
		role = p->hist[i].role;
	return role;
}

int
space_state_open_at(const space_state_t *st, uint64_t ts, const uint8_t id[CPT_ID_LEN])
{
	int archived = 0;

	assert(st != NULL && id != NULL);
	if (!st->exists)
		return 0;
	if (st->site != NULL)
		return 1;
	if (s_pos_cmp(st->created, st->created_id, ts, id) >= 0)
		return 0;
	for (size_t i = 0; i < st->narch && s_pos_cmp(st->arch[i].ts, st->arch[i].id, ts, id) < 0;
	     i++)
		archived = st->arch[i].archived;
	return !archived;
}

size_t
space_state_npending(const space_state_t *st)
{
	assert(st != NULL);
	return st->npending;
}

const space_pending_t *
space_state_pending(const space_state_t *st, size_t i)
{
	assert(st != NULL && i < st->npending);
	return &st->pending[i];
}

size_t
space_state_nsites(const space_state_t *st)
{
	assert(st != NULL);
	return st->nsites;
}

const space_site_t *
space_state_site_at(const space_state_t *st, size_t i)
{
	assert(st != NULL && i < st->nsites);
	return &st->sites[i];
}

int
space_state_is_member_site(const space_state_t *st, const char *name)
{
	assert(st != NULL);
	for (size_t i = 0; name != NULL && i < st->nsites; i++)
		if (strcmp(st->sites[i].name, name) == 0)
			return 1;
	return 0;
}

size_t
space_state_nkeys(const space_state_t *st)
{
	assert(st != NULL);
	return st->nkeys;
}

const space_key_t *
space_state_key(const space_state_t *st, size_t i)
{
	assert(st != NULL && i < st->nkeys);
	return &st->keys[i].pub;
}

const space_key_t *
space_state_write_key(const space_state_t *st)
{
	assert(st != NULL);
	return st->nkeys > 0 ? &st->keys[st->nkeys - 1].pub : NULL;
}

int
space_state_key_held(const space_state_t *st, size_t i, const uint8_t seal_key[CPT_KEY_LEN])
{
	assert(st != NULL && i < st->nkeys && seal_key != NULL);
	return s_held(&st->keys[i], seal_key);
}

int
space_state_epoch_due(const space_state_t *st)
{
	assert(st != NULL);
	return st->epoch_due;
}

const char *
space_state_epoch_by(const space_state_t *st)
{
	assert(st != NULL);
	return st->epoch_by;
}

size_t
space_state_nduties(const space_state_t *st)
{
	assert(st != NULL);
	return st->nduties;
}

const space_duty_t *
space_state_duty(const space_state_t *st, size_t i)
{
	assert(st != NULL && i < st->nduties);
	return &st->duties[i];
}

int
space_state_effect(const space_state_t *st, const uint8_t id[CPT_ID_LEN])
{
	struct s_effect key, *e;

	assert(st != NULL && id != NULL);
	memcpy(key.id, id, CPT_ID_LEN);
	if (st->neffects == 0)
		return -1; /* bsearch of NULL is undefined, even of nothing */
	e = bsearch(&key, st->effects, st->neffects, sizeof(*st->effects), s_effect_cmp);
	return e != NULL ? e->effect : -1;
}
