/*
 * Unit tests for node/space (PROTOCOL.md 16): the body rules of kinds 11 to
 * 14, sealed bodies and key events, and the fold. Every scene is folded in
 * every order of its events (or in hundreds of shuffles, and with each event
 * given twice) and must give the same state; then each rule of who may do
 * what is checked on its outcome. Random scenes do the same at scale.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "node/space/space.h"

/* ---------------------------------------------------------------- world */

/* The people of the trust records, as env->person and env->roster see them. */
struct s_person {
	const char *handle, *site;
	int active, admin;
};

static struct s_person s_people[] = {
    {"alice", "paris", 1, 1}, {"bob", "paris", 1, 0},    {"gina", "paris", 1, 0},
    {"hugo", "paris", 0, 0},  {"carol", "lyon", 1, 0},   {"dave", "lyon", 1, 0},
    {"erin", "nantes", 1, 0}, {"frank", "nantes", 0, 0},
};
#define NPEOPLE (sizeof(s_people) / sizeof(s_people[0]))

/* Sites and their seal keys; lyon's can be changed by a test (re-certified). */
static const char *const s_sites[] = {"paris", "lyon", "nantes"};
static uint8_t s_seal[3][CPT_KEY_LEN], s_lyon_new[CPT_KEY_LEN], s_outsider[CPT_KEY_LEN];
static int s_lyon_renewed;
static int s_frank_active; /* frank (nantes) is disabled unless a test says so */

static const char *
s_env_person(void *ctx, const char *handle, int *active)
{
	(void)ctx;
	for (size_t i = 0; i < NPEOPLE; i++)
		if (strcmp(s_people[i].handle, handle) == 0) {
			*active =
			    s_people[i].active || (s_frank_active && strcmp(handle, "frank") == 0);
			return s_people[i].site;
		}
	return NULL;
}

static int
s_env_seal(void *ctx, const char *site, uint8_t out[CPT_KEY_LEN])
{
	(void)ctx;
	for (size_t i = 0; i < 3; i++)
		if (strcmp(s_sites[i], site) == 0) {
			memcpy(out, i == 1 && s_lyon_renewed ? s_lyon_new : s_seal[i], CPT_KEY_LEN);
			return 0;
		}
	return CPT_ENOTFOUND;
}

static int
s_env_roster(void *ctx, const char *site, int (*add)(void *, const char *, int, int), void *arg)
{
	(void)ctx;
	for (size_t i = 0; i < NPEOPLE; i++)
		if (strcmp(s_people[i].site, site) == 0) {
			int rc =
			    add(arg, s_people[i].handle, s_people[i].admin, s_people[i].active);
			if (rc != 0)
				return rc;
		}
	return 0;
}

static const space_env_t s_env = {s_env_person, s_env_seal, s_env_roster, NULL};

static int
s_setup(void **state)
{
	uint8_t sk[32];

	(void)state;
	if (cpt_init() != 0)
		return -1;
	for (int i = 0; i < 3; i++)
		crypto_box_keypair(s_seal[i], sk);
	crypto_box_keypair(s_lyon_new, sk);
	crypto_box_keypair(s_outsider, sk);
	return 0;
}

/* ---------------------------------------------------------------- scenes */

#define MAXEV 200

/* A space's events, built in a readable order; folds see them shuffled. */
struct s_scene {
	space_evt_t ev[MAXEV];
	json_t *body[MAXEV];
	json_t *profile[MAXEV];
	size_t n;
	uint8_t space[CPT_ID_LEN];
	char space_hex[CPT_HEX_ID];
	const char *site; /* a site space's site, else NULL */
};

static void
s_scene_free(struct s_scene *sc)
{
	for (size_t i = 0; i < sc->n; i++) {
		json_decref(sc->body[i]);
		json_decref(sc->profile[i]);
	}
	sc->n = 0;
}

/* A valid dummy box of n bytes in base64 (the fold never opens boxes). */
static const char *
s_box(size_t n)
{
	static char out[4][256];
	static int k;
	uint8_t raw[160];

	assert_true(n <= sizeof(raw));
	memset(raw, 0xab, n);
	k = (k + 1) % 4;
	cpt_b64(out[k], raw, n);
	return out[k];
}

static const char *
s_hex32(const uint8_t b[32])
{
	static char out[4][CPT_HEX_ID];
	static int k;

	k = (k + 1) % 4;
	cpt_hex32(out[k], b);
	return out[k];
}

/* The id of key number k of a scene: any 32 bytes will do. */
static const char *
s_kid(int k)
{
	uint8_t id[32];

	memset(id, 0x10 + k, sizeof(id));
	return s_hex32(id);
}

/* A "sealed" object with valid fields. */
static const char *
s_sealed_obj(int key)
{
	static char out[400];

	snprintf(out, sizeof(out),
	         "{\"key\":\"%s\",\"nonce\":\"000102030405060708090a0b0c0d0e0f1011121314151617\","
	         "\"box\":\"%s\"}",
	         s_kid(key), s_box(64 + 16));
	return out;
}

/*
 * Adds an event at (ms, counter) by author with the body fmt (printf), where
 * "$S" stands for the space's id in hex. The id is a hash of everything, so
 * two events at the same time still have an order, fixed but arbitrary.
 */
static size_t s_add(struct s_scene *sc, uint64_t ms, unsigned counter, uint16_t kind,
                    const char *author, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static size_t
s_add(struct s_scene *sc, uint64_t ms, unsigned counter, uint16_t kind, const char *author,
      const char *fmt, ...)
{
	char raw[4096], text[4096], *p = text;
	space_evt_t *e = &sc->ev[sc->n];
	json_error_t err;
	va_list ap;

	assert_true(sc->n < MAXEV);
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	for (const char *r = raw; *r; r++) {
		if (r[0] == '$' && r[1] == 'S') {
			memcpy(p, sc->space_hex, 64);
			p += 64;
			r++;
		} else {
			*p++ = *r;
		}
	}
	*p = '\0';
	sc->body[sc->n] = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	if (sc->body[sc->n] == NULL)
		fail_msg("bad test body %s: %s", text, err.text);
	sc->profile[sc->n] = NULL;
	memset(e, 0, sizeof(*e));
	e->ts = HLC_MAKE(ms, counter);
	e->kind = kind;
	e->author = author;
	e->body = sc->body[sc->n];
	{
		crypto_generichash_state st;
		crypto_generichash_init(&st, NULL, 0, CPT_ID_LEN);
		crypto_generichash_update(&st, (const uint8_t *)&e->ts, sizeof(e->ts));
		crypto_generichash_update(&st, (const uint8_t *)&kind, sizeof(kind));
		crypto_generichash_update(&st, (const uint8_t *)(author ? author : "-"),
		                          strlen(author ? author : "-"));
		crypto_generichash_update(&st, (const uint8_t *)text, strlen(text));
		crypto_generichash_final(&st, e->id, CPT_ID_LEN);
	}
	return sc->n++;
}

/* Creates a space (the scene's space is this event's id). */
static size_t
s_create(struct s_scene *sc, uint64_t ms, const char *author, const char *vis, const char *join)
{
	size_t i;

	if (strcmp(vis, "private") == 0) {
		i = s_add(sc, ms, 0, EVT_SPACE, author,
		          "{\"visibility\":\"private\",\"join\":\"%s\",\"sealed\":%s}", join,
		          s_sealed_obj(1));
		sc->profile[i] =
		    json_pack("{s:s, s:s}", "name", "Comité secret", "description", "d");
		sc->ev[i].profile = sc->profile[i];
	} else {
		i = s_add(sc, ms, 0, EVT_SPACE, author,
		          "{\"visibility\":\"open\",\"join\":\"%s\",\"name\":\"Randonnée\"}", join);
	}
	memcpy(sc->space, sc->ev[i].id, CPT_ID_LEN);
	cpt_hex32(sc->space_hex, sc->space);
	return i;
}

static size_t
s_act(struct s_scene *sc, uint64_t ms, const char *author, const char *action, const char *user,
      const char *role)
{
	char extra[128] = "";

	if (user != NULL)
		snprintf(extra, sizeof(extra), ",\"user\":\"%s\"", user);
	if (role != NULL)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ",\"role\":\"%s\"",
		         role);
	return s_add(sc, ms, 0, EVT_SPACE_MEMBER, author, "{\"space\":\"$S\",\"action\":\"%s\"%s}",
	             action, extra);
}

/* A key event by site: key number k sealed to the seal keys given (NULL-terminated). */
static size_t
s_keyev(struct s_scene *sc, uint64_t ms, unsigned counter, const char *site, int k, ...)
{
	char seals[2048] = "";
	const uint8_t *to;
	va_list ap;

	va_start(ap, k);
	while ((to = va_arg(ap, const uint8_t *)) != NULL)
		snprintf(seals + strlen(seals), sizeof(seals) - strlen(seals),
		         "%s{\"to\":\"%s\",\"box\":\"%s\"}", seals[0] ? "," : "", s_hex32(to),
		         s_box(SKEY_SEAL_LEN));
	va_end(ap);
	return s_add(sc, ms, counter, EVT_SPACE_KEY, site,
	             "{\"space\":\"$S\",\"key\":\"%s\",\"seals\":[%s]}", s_kid(k), seals);
}

#define PARIS  s_seal[0]
#define LYON   s_seal[1]
#define NANTES s_seal[2]

/* -------------------------------------------------------- the state, as text */

/* Everything a state says, in one string: equal strings, equal states. */
static void
s_digest(char *out, size_t cap, const space_state_t *st, const struct s_scene *sc)
{
	size_t n = 0;

#define PUT(...) n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__)
	PUT("exists=%d vis=%d join=%d archived=%d name=%s desc=%s creator=%s created=%llu\n",
	    space_state_exists(st), space_state_visibility(st), space_state_join(st),
	    space_state_archived(st), space_state_name(st) ? space_state_name(st) : "-",
	    space_state_description(st) ? space_state_description(st) : "-",
	    space_state_creator(st) ? space_state_creator(st) : "-",
	    (unsigned long long)space_state_created(st));
	for (size_t i = 0; i < space_state_nmembers(st); i++) {
		const space_member_t *m = space_state_member(st, i);
		PUT("member %s@%s role=%d active=%d since=%llu\n", m->handle,
		    m->site ? m->site : "-", m->role, m->active, (unsigned long long)m->since);
	}
	for (size_t i = 0; i < space_state_npending(st); i++) {
		const space_pending_t *p = space_state_pending(st, i);
		PUT("pending %s invited=%d by=%s ts=%llu\n", p->handle, p->invited, p->by,
		    (unsigned long long)p->ts);
	}
	for (size_t i = 0; i < space_state_nsites(st); i++)
		PUT("site %s seal=%d\n", space_state_site_at(st, i)->name,
		    space_state_site_at(st, i)->has_seal);
	for (size_t i = 0; i < space_state_nkeys(st); i++) {
		const space_key_t *k = space_state_key(st, i);
		PUT("key %.8s ts=%llu by=%s holders=%zu\n", s_hex32(k->id),
		    (unsigned long long)k->ts, k->by, k->nholders);
	}
	PUT("write=%.8s due=%d by=%s\n",
	    space_state_write_key(st) ? s_hex32(space_state_write_key(st)->id) : "-",
	    space_state_epoch_due(st), space_state_epoch_by(st) ? space_state_epoch_by(st) : "-");
	for (size_t i = 0; i < space_state_nduties(st); i++) {
		const space_duty_t *d = space_state_duty(st, i);
		PUT("duty %.8s to=%s by=%s\n", s_hex32(d->key), d->to, d->by ? d->by : "-");
	}
	for (size_t i = 0; i < sc->n; i++)
		PUT("effect %zu %s\n", i, space_effect_name(space_state_effect(st, sc->ev[i].id)));
#undef PUT
	assert_true(n < cap);
}

static space_state_t *
s_fold_list(const struct s_scene *sc, const space_evt_t *evs, size_t n)
{
	space_state_t *st = NULL;

	assert_int_equal(space_fold(&st, sc->space, sc->site, evs, n, &s_env), 0);
	assert_non_null(st);
	return st;
}

/* A small PRNG so that the shuffles are the same at every run. */
static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static uint64_t
s_rand(void)
{
	s_rng ^= s_rng << 13;
	s_rng ^= s_rng >> 7;
	s_rng ^= s_rng << 17;
	return s_rng;
}

static char s_ref[65536], s_got[65536];
static space_evt_t s_perm[2 * MAXEV];
static size_t s_norders;

/* Heap's algorithm: folds every permutation of s_perm[0..n) against s_ref. */
static void
s_permute(const struct s_scene *sc, size_t k, size_t n)
{
	if (k == 1) {
		space_state_t *st = s_fold_list(sc, s_perm, n);
		s_digest(s_got, sizeof(s_got), st, sc);
		space_state_destroy(&st);
		s_norders++;
		if (strcmp(s_ref, s_got) != 0)
			fail_msg("order %zu gives another state:\n%s\n--- instead of ---\n%s",
			         s_norders, s_got, s_ref);
		return;
	}
	for (size_t i = 0; i < k; i++) {
		space_evt_t t;
		s_permute(sc, k - 1, n);
		if (k % 2 == 0)
			t = s_perm[i], s_perm[i] = s_perm[k - 1], s_perm[k - 1] = t;
		else
			t = s_perm[0], s_perm[0] = s_perm[k - 1], s_perm[k - 1] = t;
	}
}

/*
 * Folds the scene in the order written, then in every order (up to 7 events)
 * or in `shuffles` random orders, and with every event given twice: each must
 * give the same state. Returns the state of the written order.
 */
static space_state_t *
s_orders(const struct s_scene *sc, int shuffles)
{
	space_state_t *st = s_fold_list(sc, sc->ev, sc->n);

	s_digest(s_ref, sizeof(s_ref), st, sc);
	s_norders = 0;
	memcpy(s_perm, sc->ev, sc->n * sizeof(*s_perm));
	if (sc->n <= 7) {
		s_permute(sc, sc->n, sc->n);
	} else {
		for (int r = 0; r < shuffles; r++) {
			for (size_t i = sc->n - 1; i > 0; i--) {
				size_t j = (size_t)(s_rand() % (i + 1));
				space_evt_t t = s_perm[i];
				s_perm[i] = s_perm[j];
				s_perm[j] = t;
			}
			s_permute(sc, 1, sc->n);
		}
	}
	/* Every event twice (a relay's duplicate): counted once. */
	if (sc->n == 0)
		return st;
	memcpy(s_perm, sc->ev, sc->n * sizeof(*s_perm));
	memcpy(s_perm + sc->n, sc->ev, sc->n * sizeof(*s_perm));
	for (size_t i = 2 * sc->n - 1; i > 0; i--) {
		size_t j = (size_t)(s_rand() % (i + 1));
		space_evt_t t = s_perm[i];
		s_perm[i] = s_perm[j];
		s_perm[j] = t;
	}
	s_permute(sc, 1, 2 * sc->n);
	return st;
}

static int
s_effect(const space_state_t *st, const struct s_scene *sc, size_t i)
{
	return space_state_effect(st, sc->ev[i].id);
}

#define ASSERT_EFFECT(st, sc, i, e)                                                                \
	do {                                                                                       \
		int got_ = s_effect(st, sc, i);                                                    \
		if (got_ != (e))                                                                   \
			fail_msg("event %zu: %s, expected %s", (size_t)(i),                        \
			         space_effect_name(got_), space_effect_name(e));                   \
	} while (0)

/* ------------------------------------------------------------ membership */

static void
test_join_leave_rejoin(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;
	size_t j1, l1, j2, j3, rm, rj;

	(void)state;
	s_create(&sc, 1000, "alice", "open", "open");
	j1 = s_act(&sc, 1001, "bob", "join", NULL, NULL);
	l1 = s_act(&sc, 1002, "bob", "leave", NULL, NULL);
	j2 = s_act(&sc, 1003, "bob", "join", NULL, NULL);
	j3 = s_act(&sc, 1004, "carol", "join", NULL, NULL);
	rm = s_act(&sc, 1005, "alice", "remove", "carol", NULL);
	rj = s_act(&sc, 1006, "carol", "join", NULL, NULL);
	st = s_orders(&sc, 0);
	assert_int_equal(s_norders, 5040 + 1);
	ASSERT_EFFECT(st, &sc, j1, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, l1, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, j2, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, j3, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, rm, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, rj, SPACE_APPLIED);
	assert_int_equal(space_state_role(st, "alice"), SPACE_OWNER);
	assert_int_equal(space_state_role(st, "bob"), SPACE_MEMBER);
	assert_int_equal(space_state_role(st, "carol"),
	                 SPACE_MEMBER); /* open: back after removal */
	assert_int_equal(space_state_nmembers(st), 3);
	assert_int_equal(space_state_member(st, 1)->since, HLC_MAKE(1003, 0));
	/* What a post at each point would count as. */
	assert_int_equal(space_state_role_at(st, "bob", HLC_MAKE(1001, 5), sc.ev[0].id),
	                 SPACE_MEMBER);
	assert_int_equal(space_state_role_at(st, "bob", HLC_MAKE(1002, 5), sc.ev[0].id),
	                 SPACE_NONE);
	assert_int_equal(space_state_role_at(st, "carol", HLC_MAKE(1005, 5), sc.ev[0].id),
	                 SPACE_NONE);
	assert_int_equal(space_state_role_at(st, "alice", HLC_MAKE(999, 0), sc.ev[0].id),
	                 SPACE_NONE);
	/* Open spaces have no member sites and no keys. */
	assert_int_equal(space_state_nsites(st), 0);
	assert_null(space_state_write_key(st));
	assert_int_equal(space_state_epoch_due(st), 0);
	assert_string_equal(space_state_name(st), "Randonnée");
	space_state_destroy(&st);

	/* The removal after the re-join: the other outcome, in any order too. */
	sc.ev[rj].ts = HLC_MAKE(1004, 1);
	st = s_orders(&sc, 0);
	assert_int_equal(space_state_role(st, "carol"), SPACE_NONE);
	ASSERT_EFFECT(st, &sc, rj, SPACE_NO_CHANGE); /* carol was still a member then */
	space_state_destroy(&st);
	s_scene_free(&sc);
}

static void
test_request_approve_decline(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;
	size_t e[16];
	int k = 0;

	(void)state;
	s_create(&sc, 1000, "alice", "open", "request");
	e[k++] = s_act(&sc, 1001, "carol", "join", NULL, NULL);       /* 0 policy */
	e[k++] = s_act(&sc, 1002, "carol", "request", NULL, NULL);    /* 1 pending */
	e[k++] = s_act(&sc, 1003, "dave", "request", NULL, NULL);     /* 2 pending */
	e[k++] = s_act(&sc, 1004, "erin", "request", NULL, NULL);     /* 3 pending */
	e[k++] = s_act(&sc, 1005, "carol", "request", NULL, NULL);    /* 4 no change */
	e[k++] = s_act(&sc, 1006, "alice", "approve", "carol", NULL); /* 5 carol in */
	e[k++] = s_act(&sc, 1007, "alice", "decline", "dave", NULL);  /* 6 dave out */
	e[k++] = s_act(&sc, 1008, "carol", "approve", "erin", NULL);  /* 7 a member: no right */
	e[k++] = s_act(&sc, 1009, "erin", "decline", NULL, NULL);     /* 8 erin withdraws */
	e[k++] = s_act(&sc, 1010, "alice", "approve", "gina", NULL);  /* 9 nothing asked */
	e[k++] = s_act(&sc, 1011, "bob", "request", NULL, NULL);      /* 10 pending */
	e[k++] = s_act(&sc, 1012, "alice", "invite", "bob",
	               NULL); /* 11 an invite of one who asked: in */
	e[k++] = s_act(&sc, 1013, "gina", "request", NULL, NULL); /* 12 left pending */
	st = s_orders(&sc, 300);
	ASSERT_EFFECT(st, &sc, e[0], SPACE_POLICY);
	ASSERT_EFFECT(st, &sc, e[1], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[4], SPACE_NO_CHANGE);
	ASSERT_EFFECT(st, &sc, e[5], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[6], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[7], SPACE_NO_RIGHT);
	ASSERT_EFFECT(st, &sc, e[8], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[9], SPACE_NO_CHANGE);
	ASSERT_EFFECT(st, &sc, e[11], SPACE_APPLIED);
	assert_int_equal(space_state_role(st, "carol"), SPACE_MEMBER);
	assert_int_equal(space_state_role(st, "bob"), SPACE_MEMBER);
	assert_int_equal(space_state_role(st, "dave"), SPACE_NONE);
	assert_int_equal(space_state_role(st, "erin"), SPACE_NONE);
	assert_int_equal(space_state_npending(st), 1);
	assert_string_equal(space_state_pending(st, 0)->handle, "gina");
	assert_int_equal(space_state_pending(st, 0)->invited, 0);
	assert_string_equal(space_state_pending(st, 0)->by, "gina");
	space_state_destroy(&st);
	s_scene_free(&sc);
}

static void
test_invite_accept(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;
	size_t e[16];
	int k = 0;

	(void)state;
	s_create(&sc, 1000, "alice", "private", "invite");
	e[k++] = s_act(&sc, 1001, "alice", "invite", "carol", NULL); /* 0 */
	e[k++] = s_act(&sc, 1002, "carol", "join", NULL, NULL);      /* 1 accepts */
	e[k++] = s_act(&sc, 1003, "dave", "join", NULL, NULL);       /* 2 not invited */
	e[k++] = s_act(&sc, 1004, "dave", "request", NULL, NULL);    /* 3 not a request space */
	e[k++] = s_act(&sc, 1005, "alice", "invite", "erin", NULL);  /* 4 */
	e[k++] = s_act(&sc, 1006, "erin", "decline", NULL, NULL);    /* 5 declines */
	e[k++] = s_act(&sc, 1007, "erin", "join", NULL, NULL);       /* 6 too late */
	e[k++] = s_act(&sc, 1008, "alice", "invite", "gina", NULL);  /* 7 */
	e[k++] = s_act(&sc, 1009, "alice", "decline", "gina", NULL); /* 8 withdrawn */
	e[k++] = s_act(&sc, 1010, "carol", "invite", "bob", NULL);   /* 9 a member: no right */
	e[k++] = s_act(&sc, 1011, "alice", "invite", "carol", NULL); /* 10 already in */
	e[k++] = s_act(&sc, 1012, "alice", "invite", "bob", NULL);   /* 11 left pending */
	e[k++] = s_act(&sc, 1013, "alice", "invite", "bob", NULL);   /* 12 already invited */
	st = s_orders(&sc, 300);
	ASSERT_EFFECT(st, &sc, e[0], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[1], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[2], SPACE_POLICY);
	ASSERT_EFFECT(st, &sc, e[3], SPACE_POLICY);
	ASSERT_EFFECT(st, &sc, e[5], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[6], SPACE_POLICY);
	ASSERT_EFFECT(st, &sc, e[8], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[9], SPACE_NO_RIGHT);
	ASSERT_EFFECT(st, &sc, e[10], SPACE_NO_CHANGE);
	ASSERT_EFFECT(st, &sc, e[12], SPACE_NO_CHANGE);
	assert_int_equal(space_state_role(st, "carol"), SPACE_MEMBER);
	assert_int_equal(space_state_role(st, "erin"), SPACE_NONE);
	assert_int_equal(space_state_npending(st), 1);
	assert_string_equal(space_state_pending(st, 0)->handle, "bob");
	assert_int_equal(space_state_pending(st, 0)->invited, 1);
	assert_string_equal(space_state_pending(st, 0)->by, "alice");
	/* A private space's sealed profile, opened here. */
	assert_string_equal(space_state_name(st), "Comité secret");
	assert_int_equal(space_state_visibility(st), SPACE_PRIVATE);
	space_state_destroy(&st);
	s_scene_free(&sc);
}

static void
test_roles(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;
	size_t e[24];
	int k = 0;

	(void)state;
	s_create(&sc, 1000, "alice", "open", "open");
	s_act(&sc, 1001, "bob", "join", NULL, NULL);
	s_act(&sc, 1002, "carol", "join", NULL, NULL);
	s_act(&sc, 1003, "dave", "join", NULL, NULL);
	s_act(&sc, 1004, "gina", "join", NULL, NULL);
	e[k++] = s_act(&sc, 1010, "alice", "promote", "bob", "admin"); /* 0 */
	e[k++] = s_act(&sc, 1011, "bob", "promote", "carol", "admin"); /* 1 an admin makes admins */
	e[k++] = s_act(&sc, 1012, "bob", "promote", "dave", "owner");  /* 2 not owners */
	e[k++] = s_act(&sc, 1013, "carol", "demote", "bob", "member"); /* 3 only owners demote */
	e[k++] = s_act(&sc, 1014, "bob", "remove", "carol", NULL); /* 4 an admin removes no admin */
	e[k++] = s_act(&sc, 1015, "bob", "remove", "dave", NULL);  /* 5 ... but a member */
	e[k++] = s_act(&sc, 1016, "carol", "demote", "carol", "member"); /* 6 stepping down */
	e[k++] = s_act(&sc, 1017, "alice", "promote", "bob", "owner");   /* 7 two owners */
	e[k++] = s_act(&sc, 1018, "alice", "promote", "bob", "admin");   /* 8 not a promotion */
	e[k++] = s_act(&sc, 1019, "alice", "leave", NULL, NULL);         /* 9 bob remains owner */
	e[k++] = s_act(&sc, 1020, "bob", "leave", NULL, NULL);           /* 10 the last owner */
	e[k++] = s_act(&sc, 1021, "bob", "demote", "bob", "admin");      /* 11 the last owner */
	e[k++] = s_act(&sc, 1022, "bob", "promote", "gina", "owner");    /* 12 */
	e[k++] = s_act(&sc, 1023, "gina", "remove", "bob", NULL); /* 13 an owner removes an owner */
	e[k++] =
	    s_act(&sc, 1024, "gina", "remove", "gina", NULL); /* 14 oneself: leave is for that */
	e[k++] = s_act(&sc, 1025, "gina", "demote", "carol", "admin"); /* 15 not a demotion */
	st = s_orders(&sc, 300);
	ASSERT_EFFECT(st, &sc, e[0], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[1], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[2], SPACE_NO_RIGHT);
	ASSERT_EFFECT(st, &sc, e[3], SPACE_NO_RIGHT);
	ASSERT_EFFECT(st, &sc, e[4], SPACE_NO_RIGHT);
	ASSERT_EFFECT(st, &sc, e[5], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[6], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[7], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[8], SPACE_NO_CHANGE);
	ASSERT_EFFECT(st, &sc, e[9], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[10], SPACE_LAST_OWNER);
	ASSERT_EFFECT(st, &sc, e[11], SPACE_LAST_OWNER);
	ASSERT_EFFECT(st, &sc, e[12], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[13], SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, e[14], SPACE_NO_CHANGE);
	ASSERT_EFFECT(st, &sc, e[15], SPACE_NO_CHANGE);
	assert_int_equal(space_state_role(st, "alice"), SPACE_NONE);
	assert_int_equal(space_state_role(st, "bob"), SPACE_NONE);
	assert_int_equal(space_state_role(st, "carol"), SPACE_MEMBER);
	assert_int_equal(space_state_role(st, "dave"), SPACE_NONE);
	assert_int_equal(space_state_role(st, "gina"), SPACE_OWNER);
	assert_string_equal(space_state_creator(st), "alice");
	space_state_destroy(&st);
	s_scene_free(&sc);
}

static void
test_admin_removed_then_acting(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;
	size_t before, after, edit;

	(void)state;
	s_create(&sc, 1000, "alice", "private", "invite");
	s_act(&sc, 1001, "alice", "invite", "bob", NULL);
	s_act(&sc, 1002, "bob", "join", NULL, NULL);
	s_act(&sc, 1003, "alice", "promote", "bob", "admin");
	before = s_act(&sc, 1004, "bob", "invite", "carol", NULL);
	s_act(&sc, 1005, "alice", "remove", "bob", NULL);
	after = s_act(&sc, 1006, "bob", "invite", "dave", NULL);
	edit = s_add(&sc, 1007, 0, EVT_SPACE, "bob", "{\"space\":\"$S\",\"join\":\"open\"}");
	st = s_orders(&sc, 500);
	ASSERT_EFFECT(st, &sc, before, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, after, SPACE_NO_RIGHT);
	ASSERT_EFFECT(st, &sc, edit, SPACE_NO_RIGHT);
	assert_int_equal(space_state_join(st), SPACE_JOIN_INVITE);
	assert_int_equal(space_state_npending(st), 1);
	assert_string_equal(space_state_pending(st, 0)->handle, "carol");
	assert_string_equal(space_state_pending(st, 0)->by, "bob"); /* his invitation stands */
	space_state_destroy(&st);
	s_scene_free(&sc);
}

static void
test_concurrent_edits(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;
	size_t a, b, c, early, join;

	(void)state;
	early = s_add(&sc, 900, 0, EVT_SPACE, "alice",
	              "{\"space\":\"%064d\",\"name\":\"Trop tôt\"}", 0);
	s_create(&sc, 1000, "alice", "open", "invite");
	/* The early edit named a space that did not exist yet: rewrite it for this one. */
	json_object_set_new(sc.body[early], "space", json_string(sc.space_hex));
	s_act(&sc, 1001, "alice", "invite", "bob", NULL);
	s_act(&sc, 1002, "bob", "join", NULL, NULL);
	s_act(&sc, 1003, "alice", "promote", "bob", "admin");
	/* Two admins at two sites rename it in the same ms: the greater (ts, id) wins. */
	a = s_add(&sc, 2000, 0, EVT_SPACE, "alice", "{\"space\":\"$S\",\"name\":\"Nom A\"}");
	b = s_add(&sc, 2000, 0, EVT_SPACE, "bob",
	          "{\"space\":\"$S\",\"name\":\"Nom B\",\"description\":\"par B\"}");
	c = s_add(&sc, 2001, 0, EVT_SPACE, "carol", "{\"space\":\"$S\",\"name\":\"Pirate\"}");
	join = s_add(&sc, 2002, 0, EVT_SPACE, "bob", "{\"space\":\"$S\",\"join\":\"open\"}");
	s_act(&sc, 2003, "dave", "join", NULL, NULL);
	st = s_orders(&sc, 500);
	ASSERT_EFFECT(st, &sc, early, SPACE_NO_SPACE);
	ASSERT_EFFECT(st, &sc, a, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, b, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, c, SPACE_NO_RIGHT);
	ASSERT_EFFECT(st, &sc, join, SPACE_APPLIED);
	if (memcmp(sc.ev[a].id, sc.ev[b].id, CPT_ID_LEN) > 0) {
		assert_string_equal(space_state_name(st), "Nom A");
		assert_string_equal(space_state_description(st), "par B"); /* per field */
	} else {
		assert_string_equal(space_state_name(st), "Nom B");
	}
	assert_int_equal(space_state_join(st), SPACE_JOIN_OPEN);
	assert_int_equal(space_state_role(st, "dave"), SPACE_MEMBER);
	space_state_destroy(&st);
	s_scene_free(&sc);
}

static void
test_archived(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;
	size_t arch, j, inv, lv, unarch, j2;
	uint8_t id[CPT_ID_LEN] = {0};

	(void)state;
	s_create(&sc, 1000, "alice", "open", "open");
	s_act(&sc, 1001, "bob", "join", NULL, NULL);
	arch = s_add(&sc, 1002, 0, EVT_SPACE, "alice", "{\"space\":\"$S\",\"archived\":true}");
	j = s_act(&sc, 1003, "carol", "join", NULL, NULL);
	inv = s_act(&sc, 1004, "alice", "invite", "dave", NULL);
	lv = s_act(&sc, 1005, "bob", "leave", NULL, NULL);
	unarch = s_add(&sc, 1006, 0, EVT_SPACE, "alice", "{\"space\":\"$S\",\"archived\":false}");
	j2 = s_act(&sc, 1007, "carol", "join", NULL, NULL);
	st = s_orders(&sc, 0);
	ASSERT_EFFECT(st, &sc, arch, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, j, SPACE_ARCHIVED);
	ASSERT_EFFECT(st, &sc, inv, SPACE_ARCHIVED);
	ASSERT_EFFECT(st, &sc, lv, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, unarch, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, j2, SPACE_APPLIED);
	assert_int_equal(space_state_archived(st), 0);
	/* Content counts only while the space exists and is not archived. */
	assert_int_equal(space_state_open_at(st, HLC_MAKE(999, 0), id), 0);
	assert_int_equal(space_state_open_at(st, HLC_MAKE(1001, 5), id), 1);
	assert_int_equal(space_state_open_at(st, HLC_MAKE(1004, 5), id), 0);
	assert_int_equal(space_state_open_at(st, HLC_MAKE(1007, 5), id), 1);
	space_state_destroy(&st);
	s_scene_free(&sc);
}

static void
test_not_here(void **state)
{
	struct s_scene sc = {0}, other = {0};
	space_state_t *st;
	size_t mine, theirs, create2, bad, nobody;

	(void)state;
	s_create(&other, 500, "bob", "open", "open");
	s_create(&sc, 1000, "alice", "open", "open");
	mine = s_act(&sc, 1001, "carol", "join", NULL, NULL);
	/* An event of another space, and that space's creating event. */
	theirs = s_add(&sc, 1002, 0, EVT_SPACE_MEMBER, "dave",
	               "{\"space\":\"%s\",\"action\":\"join\"}", other.space_hex);
	create2 = s_add(&sc, 1003, 0, EVT_SPACE, "bob",
	                "{\"visibility\":\"open\",\"join\":\"open\",\"name\":\"x\"}");
	/* A body that breaks a rule, and an author no enrolment names. */
	bad = s_add(&sc, 1004, 0, EVT_SPACE_MEMBER, "erin",
	            "{\"space\":\"$S\",\"action\":\"dance\"}");
	nobody = s_act(&sc, 1005, NULL, "join", NULL, NULL);
	st = s_orders(&sc, 0);
	ASSERT_EFFECT(st, &sc, mine, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, theirs, SPACE_NOT_HERE);
	ASSERT_EFFECT(st, &sc, create2, SPACE_NOT_HERE);
	ASSERT_EFFECT(st, &sc, bad, SPACE_MALFORMED);
	ASSERT_EFFECT(st, &sc, nobody, SPACE_NO_RIGHT);
	assert_int_equal(space_state_nmembers(st), 2);
	space_state_destroy(&st);

	/* Without its creating event a space does not exist: nothing applies. */
	memmove(&sc.ev[0], &sc.ev[1], (sc.n - 1) * sizeof(sc.ev[0]));
	sc.n--;
	st = s_orders(&sc, 0);
	assert_int_equal(space_state_exists(st), 0);
	ASSERT_EFFECT(st, &sc, 0, SPACE_NO_SPACE);
	assert_int_equal(space_state_nmembers(st), 0);
	sc.n++; /* for s_scene_free: the bodies are still there */
	memmove(&sc.ev[1], &sc.ev[0], (sc.n - 1) * sizeof(sc.ev[0]));
	space_state_destroy(&st);
	s_scene_free(&sc);
	s_scene_free(&other);
}

/* -------------------------------------------------------------- key epochs */

static void
test_concurrent_epochs(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;
	size_t k1, k2, k3;
	const space_key_t *w;

	(void)state;
	s_create(&sc, 1000, "alice", "private", "invite");
	s_act(&sc, 1001, "alice", "invite", "carol", NULL);
	s_act(&sc, 1002, "carol", "join", NULL, NULL);
	/* Paris and Lyon each start an epoch in the same ms, knowing nothing of the other. */
	k1 = s_keyev(&sc, 1003, 0, "paris", 1, PARIS, LYON, NULL);
	k2 = s_keyev(&sc, 1003, 0, "lyon", 2, PARIS, LYON, NULL);
	/* Nantes has no member: its key is none of the space's. */
	k3 = s_keyev(&sc, 1004, 0, "nantes", 3, PARIS, LYON, NANTES, NULL);
	st = s_orders(&sc, 0);
	ASSERT_EFFECT(st, &sc, k1, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, k2, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, k3, SPACE_NO_RIGHT);
	assert_int_equal(space_state_nkeys(st), 2);
	w = space_state_write_key(st);
	assert_non_null(w);
	/* The key to write with is the same everywhere: the greater (ts, id). */
	assert_memory_equal(
	    w->evt, memcmp(sc.ev[k1].id, sc.ev[k2].id, 32) > 0 ? sc.ev[k1].id : sc.ev[k2].id,
	    CPT_ID_LEN);
	assert_int_equal(space_state_epoch_due(st), 0);
	assert_null(space_state_epoch_by(st));
	assert_int_equal(space_state_nduties(st), 0);
	assert_int_equal(space_state_nsites(st), 2);
	assert_string_equal(space_state_site_at(st, 0)->name, "lyon");
	assert_string_equal(space_state_site_at(st, 1)->name, "paris");
	space_state_destroy(&st);
	s_scene_free(&sc);
}

static void
test_last_member_of_a_site(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;

	(void)state;
	s_create(&sc, 1000, "alice", "private", "invite");
	s_act(&sc, 1001, "alice", "invite", "carol", NULL);
	s_act(&sc, 1002, "carol", "join", NULL, NULL);
	s_keyev(&sc, 1003, 0, "paris", 1, PARIS, LYON, NULL);
	/* No key yet would be due too; with one, all is well. */
	st = s_orders(&sc, 0);
	assert_int_equal(space_state_epoch_due(st), 0);
	space_state_destroy(&st);

	/* Lyon's only member leaves: what is written next must not be Lyon's to read. */
	s_act(&sc, 1004, "carol", "leave", NULL, NULL);
	st = s_orders(&sc, 0);
	assert_int_equal(space_state_nsites(st), 1);
	assert_int_equal(space_state_epoch_due(st), 1);
	assert_string_equal(space_state_epoch_by(st), "paris");
	space_state_destroy(&st);

	/* Paris starts the new epoch, sealed to the remaining sites. */
	s_keyev(&sc, 1005, 0, "paris", 2, PARIS, NULL);
	st = s_orders(&sc, 200);
	assert_int_equal(space_state_epoch_due(st), 0);
	assert_int_equal(space_state_nkeys(st), 2);
	assert_int_equal(space_state_nduties(st), 0);
	space_state_destroy(&st);

	/* Lyon gains a member again: it is owed the keys it lacks (history), by Paris. */
	s_act(&sc, 1006, "alice", "invite", "dave", NULL);
	s_act(&sc, 1007, "dave", "join", NULL, NULL);
	st = s_orders(&sc, 200);
	assert_int_equal(space_state_epoch_due(st), 0);
	assert_int_equal(space_state_nduties(st), 1);
	assert_memory_equal(space_state_duty(st, 0)->key, space_state_key(st, 1)->id, SKEY_ID_LEN);
	assert_string_equal(space_state_duty(st, 0)->to, "lyon");
	assert_memory_equal(space_state_duty(st, 0)->to_seal, LYON, CPT_KEY_LEN);
	assert_string_equal(space_state_duty(st, 0)->by, "paris");
	space_state_destroy(&st);

	/* Paris seals it: nothing owed. A resealing event names an existing key. */
	s_keyev(&sc, 1008, 0, "paris", 2, LYON, NULL);
	st = s_orders(&sc, 200);
	assert_int_equal(space_state_nduties(st), 0);
	assert_int_equal(space_state_nkeys(st), 2);
	assert_int_equal(space_state_key(st, 1)->nholders, 2);
	assert_int_equal(space_state_key_held(st, 1, LYON), 1);
	space_state_destroy(&st);

	/* Lyon is certified again with a new seal key: every key is owed to it
	 * again, and the write key is held by a seal key no member site has now. */
	s_lyon_renewed = 1;
	st = s_orders(&sc, 200);
	assert_int_equal(space_state_epoch_due(st), 1);
	assert_int_equal(space_state_nduties(st), 2);
	assert_memory_equal(space_state_duty(st, 0)->to_seal, s_lyon_new, CPT_KEY_LEN);
	s_lyon_renewed = 0;
	space_state_destroy(&st);
	s_scene_free(&sc);
}

static void
test_disabled_and_outsiders(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;

	(void)state;
	s_create(&sc, 1000, "alice", "private", "invite");
	s_act(&sc, 1001, "alice", "invite", "frank", NULL);
	s_act(&sc, 1002, "frank", "join", NULL, NULL);
	s_keyev(&sc, 1003, 0, "paris", 1, PARIS, NANTES, NULL);
	/* Frank was disabled since: a member still, but Nantes is no member site. */
	st = s_orders(&sc, 0);
	assert_int_equal(space_state_role(st, "frank"), SPACE_MEMBER);
	assert_int_equal(space_state_member(st, 1)->active, 0);
	assert_int_equal(space_state_nsites(st), 1);
	assert_int_equal(space_state_epoch_due(st), 1);
	space_state_destroy(&st);
	s_frank_active = 1;
	st = s_orders(&sc, 0);
	assert_int_equal(space_state_nsites(st), 2);
	assert_int_equal(space_state_epoch_due(st), 0);
	space_state_destroy(&st);
	s_frank_active = 0;

	/* A member site that seals the write key to a site with no member: the next
	 * writer starts a new epoch, so that site reads nothing written after. */
	s_keyev(&sc, 1004, 0, "paris", 2, PARIS, s_outsider, NULL);
	s_frank_active = 1;
	st = s_orders(&sc, 0);
	assert_int_equal(space_state_epoch_due(st), 1);
	assert_string_equal(space_state_epoch_by(st), "nantes");
	space_state_destroy(&st);
	s_frank_active = 0;
	s_scene_free(&sc);
}

static void
test_site_space(void **state)
{
	struct s_scene sc = {0};
	space_state_t *st;
	size_t k1, k2, join, edit;
	uint8_t fed[CPT_FED_LEN] = {1};

	(void)state;
	sc.site = "paris";
	skey_site_space(sc.space, fed, "paris");
	cpt_hex32(sc.space_hex, sc.space);
	join = s_act(&sc, 1000, "carol", "join", NULL, NULL);
	edit = s_add(&sc, 1001, 0, EVT_SPACE, "alice", "{\"space\":\"$S\",\"name\":\"x\"}");
	k1 = s_keyev(&sc, 1002, 0, "paris", 1, PARIS, NULL);
	k2 = s_keyev(&sc, 1003, 0, "lyon", 2, PARIS, LYON, NULL);
	st = s_orders(&sc, 0);
	assert_int_equal(space_state_exists(st), 1);
	assert_string_equal(space_state_site(st), "paris");
	assert_int_equal(space_state_join(st), SPACE_JOIN_SITE);
	assert_int_equal(space_state_visibility(st), SPACE_PRIVATE);
	/* Its members are the site's staff who can log in, not membership events. */
	ASSERT_EFFECT(st, &sc, join, SPACE_NOT_HERE);
	ASSERT_EFFECT(st, &sc, edit, SPACE_NOT_HERE);
	assert_int_equal(space_state_nmembers(st), 3);
	assert_int_equal(space_state_role(st, "alice"), SPACE_ADMIN);
	assert_int_equal(space_state_role(st, "gina"), SPACE_MEMBER);
	assert_int_equal(space_state_role(st, "hugo"), SPACE_NONE);
	assert_int_equal(space_state_role(st, "carol"), SPACE_NONE);
	/* A disabled colleague's old posts still count. */
	assert_int_equal(space_state_role_at(st, "hugo", 5, sc.space), SPACE_MEMBER);
	/* Keys are the site's own: sealed to it alone. */
	ASSERT_EFFECT(st, &sc, k1, SPACE_APPLIED);
	ASSERT_EFFECT(st, &sc, k2, SPACE_NO_RIGHT);
	assert_int_equal(space_state_nsites(st), 1);
	assert_int_equal(space_state_epoch_due(st), 0);
	assert_int_equal(space_state_open_at(st, 1, sc.space), 1);
	space_state_destroy(&st);
	/* Sealed to another site too (a dishonest node): a new epoch is due. */
	s_keyev(&sc, 1004, 0, "paris", 3, PARIS, LYON, NULL);
	st = s_orders(&sc, 0);
	assert_int_equal(space_state_epoch_due(st), 1);
	assert_string_equal(space_state_epoch_by(st), "paris");
	space_state_destroy(&st);
	s_scene_free(&sc);

	/* A site space with no key yet: its site starts the first epoch. */
	sc.site = "lyon";
	skey_site_space(sc.space, fed, "lyon");
	st = s_orders(&sc, 0);
	assert_int_equal(space_state_epoch_due(st), 1);
	assert_string_equal(space_state_epoch_by(st), "lyon");
	assert_int_equal(space_state_nmembers(st), 2);
	space_state_destroy(&st);
}

/* --------------------------------------------------------- random scenes */

static const char *const s_handles[] = {"alice", "bob", "gina", "carol", "dave", "erin"};

/* A random action by a random person, at a time among few (collisions wanted). */
static void
s_random_event(struct s_scene *sc, uint64_t base)
{
	static const char *const actions[] = {"join",   "leave",  "request", "approve", "decline",
	                                      "invite", "remove", "promote", "demote"};
	const char *a = s_handles[s_rand() % 6], *u = s_handles[s_rand() % 6];
	uint64_t ms = base + s_rand() % 40;
	unsigned r = (unsigned)(s_rand() % 20);

	if (r < 2) {
		static const char *const joins[] = {"open", "request", "invite"};
		s_add(sc, ms, (unsigned)(s_rand() % 3), EVT_SPACE, a,
		      "{\"space\":\"$S\",\"join\":\"%s\"%s}", joins[s_rand() % 3],
		      s_rand() % 4 == 0 ? ",\"archived\":true" : ",\"archived\":false");
	} else if (r < 5) {
		static const char *const sites[] = {"paris", "lyon", "nantes"};
		int k = (int)(s_rand() % 4);
		const uint8_t *x = s_seal[s_rand() % 3], *y = s_seal[s_rand() % 3];
		if (x == y)
			s_keyev(sc, ms, (unsigned)(s_rand() % 3), sites[s_rand() % 3], k, x, NULL);
		else
			s_keyev(sc, ms, (unsigned)(s_rand() % 3), sites[s_rand() % 3], k, x, y,
			        NULL);
	} else {
		const char *action = actions[s_rand() % 9];
		int self = strcmp(action, "join") == 0 || strcmp(action, "leave") == 0 ||
		           strcmp(action, "request") == 0 ||
		           (strcmp(action, "decline") == 0 && s_rand() % 2);
		const char *role =
		    strcmp(action, "promote") == 0  ? (s_rand() % 2 ? "admin" : "owner")
		    : strcmp(action, "demote") == 0 ? (s_rand() % 2 ? "admin" : "member")
		                                    : NULL;
		char extra[96] = "";

		if (!self)
			snprintf(extra, sizeof(extra), ",\"user\":\"%s\"", u);
		if (role != NULL)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			         ",\"role\":\"%s\"", role);
		s_add(sc, ms, (unsigned)(s_rand() % 3), EVT_SPACE_MEMBER, a,
		      "{\"space\":\"$S\",\"action\":\"%s\"%s}", action, extra);
	}
}

static void
test_random_scenes(void **state)
{
	size_t applied = 0, total = 0, members = 0, keys = 0;

	(void)state;
	for (int scene = 0; scene < 40; scene++) {
		struct s_scene sc = {0};
		space_state_t *st;
		int nev = 20 + (int)(s_rand() % 40);

		s_create(&sc, 1000, s_handles[s_rand() % 6], s_rand() % 2 ? "private" : "open",
		         s_rand() % 2 ? "open" : "request");
		for (int i = 0; i < nev; i++)
			s_random_event(&sc, 1001);
		st = s_orders(&sc, 100);
		for (size_t i = 0; i < sc.n; i++)
			applied += space_state_effect(st, sc.ev[i].id) == SPACE_APPLIED;
		total += sc.n;
		members += space_state_nmembers(st);
		keys += space_state_nkeys(st);
		space_state_destroy(&st);
		s_scene_free(&sc);
	}
	/* The scenes did something: many events applied, members and keys made. */
	print_message(
	    "random scenes: %zu of %zu events applied, %zu members, %zu keys at the end\n", applied,
	    total, members, keys);
	assert_true(applied > total / 10);
	assert_true(members > 40);
	assert_true(keys > 10);
}

/* ------------------------------------------------------------ body rules */

struct s_rule_case {
	uint16_t kind;
	const char *body; /* "$S" is a space id, "$K" a seal key, "$B" a 112-byte box, "$X" a sealed
	                     object */
	const char *rule; /* NULL: valid */
};

static void
test_body_rules(void **state)
{
	static const struct s_rule_case cases[] = {
	    {EVT_SPACE, "{\"visibility\":\"open\",\"join\":\"open\",\"name\":\"Randonnée\"}", NULL},
	    {EVT_SPACE, "{\"visibility\":\"private\",\"join\":\"invite\",\"sealed\":$X}", NULL},
	    {EVT_SPACE, "{\"visibility\":\"secret\",\"join\":\"open\",\"name\":\"x\"}",
	     "space.visibility"},
	    {EVT_SPACE, "{\"join\":\"open\",\"name\":\"x\"}", "space.visibility"},
	    {EVT_SPACE, "{\"visibility\":\"open\",\"name\":\"x\"}", "space.join"},
	    {EVT_SPACE, "{\"visibility\":\"open\",\"join\":\"always\",\"name\":\"x\"}",
	     "space.join"},
	    {EVT_SPACE, "{\"visibility\":\"open\",\"join\":\"open\"}", "space.name"},
	    {EVT_SPACE, "{\"visibility\":\"open\",\"join\":\"open\",\"name\":\"\"}", "space.name"},
	    {EVT_SPACE, "{\"visibility\":\"open\",\"join\":\"open\",\"name\":\"a\\nb\"}",
	     "space.name"},
	    {EVT_SPACE,
	     "{\"visibility\":\"open\",\"join\":\"open\",\"name\":\"x\",\"description\":"
	     "\"l1\\nl2\"}",
	     NULL},
	    {EVT_SPACE,
	     "{\"visibility\":\"open\",\"join\":\"open\",\"name\":\"x\",\"description\":"
	     "\"\\u0007\"}",
	     "space.description"},
	    {EVT_SPACE, "{\"visibility\":\"open\",\"join\":\"open\",\"name\":\"x\",\"sealed\":$X}",
	     "space.sealed"},
	    {EVT_SPACE,
	     "{\"visibility\":\"private\",\"join\":\"open\",\"name\":\"x\",\"sealed\":$X}",
	     "space.name"},
	    {EVT_SPACE, "{\"visibility\":\"private\",\"join\":\"open\"}", "space.sealed"},
	    {EVT_SPACE,
	     "{\"visibility\":\"open\",\"join\":\"open\",\"name\":\"x\",\"archived\":false}",
	     "space.archived"},
	    {EVT_SPACE, "{\"space\":\"$S\",\"archived\":true}", NULL},
	    {EVT_SPACE, "{\"space\":\"$S\",\"archived\":1}", "space.archived"},
	    {EVT_SPACE, "{\"space\":\"$S\",\"visibility\":\"open\"}", "space.visibility"},
	    {EVT_SPACE, "{\"space\":\"$S\",\"sealed\":$X,\"name\":\"x\"}", "space.sealed"},
	    {EVT_SPACE, "{\"space\":\"ABCD\",\"name\":\"x\"}", "space.space"},
	    {EVT_SPACE_MEMBER, "{\"space\":\"$S\",\"action\":\"join\"}", NULL},
	    {EVT_SPACE_MEMBER, "{\"space\":\"$S\",\"action\":\"decline\"}", NULL},
	    {EVT_SPACE_MEMBER, "{\"space\":\"$S\",\"action\":\"decline\",\"user\":\"bob\"}", NULL},
	    {EVT_SPACE_MEMBER,
	     "{\"space\":\"$S\",\"action\":\"promote\",\"user\":\"bob\",\"role\":\"owner\"}", NULL},
	    {EVT_SPACE_MEMBER, "{\"action\":\"join\"}", "space_member.space"},
	    {EVT_SPACE_MEMBER, "{\"space\":\"$S\",\"action\":\"kick\",\"user\":\"bob\"}",
	     "space_member.action"},
	    {EVT_SPACE_MEMBER, "{\"space\":\"$S\",\"action\":\"join\",\"user\":\"bob\"}",
	     "space_member.user"},
	    {EVT_SPACE_MEMBER, "{\"space\":\"$S\",\"action\":\"invite\"}", "space_member.user"},
	    {EVT_SPACE_MEMBER, "{\"space\":\"$S\",\"action\":\"invite\",\"user\":\"Bob\"}",
	     "space_member.user"},
	    {EVT_SPACE_MEMBER,
	     "{\"space\":\"$S\",\"action\":\"promote\",\"user\":\"bob\",\"role\":\"member\"}",
	     "space_member.role"},
	    {EVT_SPACE_MEMBER,
	     "{\"space\":\"$S\",\"action\":\"demote\",\"user\":\"bob\",\"role\":\"owner\"}",
	     "space_member.role"},
	    {EVT_SPACE_MEMBER,
	     "{\"space\":\"$S\",\"action\":\"remove\",\"user\":\"bob\",\"role\":\"admin\"}",
	     "space_member.role"},
	    {EVT_SPACE_KEY,
	     "{\"space\":\"$S\",\"key\":\"$S\",\"seals\":[{\"to\":\"$K\",\"box\":\"$B\"}]}", NULL},
	    {EVT_SPACE_KEY, "{\"space\":\"$S\",\"key\":\"$S\",\"seals\":[]}", "space_key.seals"},
	    {EVT_SPACE_KEY, "{\"space\":\"$S\",\"seals\":[{\"to\":\"$K\",\"box\":\"$B\"}]}",
	     "space_key.key"},
	    {EVT_SPACE_KEY,
	     "{\"space\":\"$S\",\"key\":\"$S\",\"seals\":[{\"to\":\"$K\",\"box\":\"$B\"},{\"to\":"
	     "\"$K\",\"box\":\"$B\"}]}",
	     "space_key.to"},
	    {EVT_SPACE_KEY,
	     "{\"space\":\"$S\",\"key\":\"$S\",\"seals\":[{\"to\":"
	     "\"0000000000000000000000000000000000000000000000000000000000000000\",\"box\":\"$B\"}]"
	     "}",
	     "space_key.to"},
	    {EVT_SPACE_KEY,
	     "{\"space\":\"$S\",\"key\":\"$S\",\"seals\":[{\"to\":\"$K\",\"box\":\"QQ==\"}]}",
	     "space_key.box"},
	    {EVT_SEALED, "{\"space\":\"$S\",\"sealed\":$X}", NULL},
	    {EVT_SEALED, "{\"sealed\":$X}", "sealed.space"},
	    {EVT_SEALED, "{\"space\":\"$S\"}", "sealed.sealed"},
	    {EVT_SEALED,
	     "{\"space\":\"$S\",\"sealed\":{\"key\":\"$S\",\"nonce\":\"00\",\"box\":\"$B\"}}",
	     "sealed.nonce"},
	    {EVT_SEALED,
	     "{\"space\":\"$S\",\"sealed\":{\"nonce\":"
	     "\"000102030405060708090a0b0c0d0e0f1011121314151617\",\"box\":\"$B\"}}",
	     "sealed.key"},
	    {EVT_SEALED,
	     "{\"space\":\"$S\",\"sealed\":{\"key\":\"$S\",\"nonce\":"
	     "\"000102030405060708090a0b0c0d0e0f1011121314151617\",\"box\":\"QUJD\"}}",
	     "sealed.box"},
	    {EVT_SEALED,
	     "{\"space\":\"$S\",\"sealed\":{\"key\":\"$S\",\"nonce\":"
	     "\"000102030405060708090a0b0c0d0e0f1011121314151617\",\"box\":\"QR==\"}}",
	     "sealed.box"},
	    {EVT_POST, "{\"text\":\"x\",\"space\":\"$S\"}", NULL},
	    {EVT_POST, "{\"text\":\"x\",\"space\":7}", "post.space"},
	    {EVT_POST, "{\"text\":\"x\"}", NULL},
	};
	char space_hex[CPT_HEX_ID], seal_hex[CPT_HEX_ID];

	(void)state;
	memset(space_hex, 'a', 64);
	space_hex[64] = '\0';
	cpt_hex32(seal_hex, PARIS);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[2048], *p = text;
		const char *rule = NULL;
		json_error_t err;
		json_t *b;
		int rc;

		for (const char *r = cases[i].body; *r; r++) {
			const char *sub = NULL;
			if (r[0] == '$' && r[1] == 'S')
				sub = space_hex;
			else if (r[0] == '$' && r[1] == 'K')
				sub = seal_hex;
			else if (r[0] == '$' && r[1] == 'B')
				sub = s_box(SKEY_SEAL_LEN);
			else if (r[0] == '$' && r[1] == 'X')
				sub = s_sealed_obj(1);
			if (sub != NULL) {
				p += sprintf(p, "%s", sub);
				r++;
			} else {
				*p++ = *r;
			}
		}
		*p = '\0';
		if ((b = json_loads(text, 0, &err)) == NULL)
			fail_msg("case %zu: bad JSON %s", i, text);
		rc = space_body_check(cases[i].kind, b, &rule);
		if (cases[i].rule == NULL && rc != 0)
			fail_msg("case %zu: %s refused by %s", i, text, rule);
		if (cases[i].rule != NULL && (rc != CPT_EINVAL || strcmp(rule, cases[i].rule) != 0))
			fail_msg("case %zu: %s: want %s, got %d %s", i, text, cases[i].rule, rc,
			         rc ? rule : "(accepted)");
		json_decref(b);
	}
	json_t *empty = json_object();
	assert_int_equal(space_body_check(EVT_PROFILE, empty, NULL), 0);
	json_decref(empty);
}

/* ------------------------------------------------ sealed bodies, end to end */

static void
test_seal_unseal(void **state)
{
	skey_ring_t *paris = skey_ring_new(8), *lyon = skey_ring_new(8);
	key_curve_t *paris_seal = key_curve_new(), *lyon_seal = key_curve_new(),
	            *b_seal = key_curve_new();
	uint8_t fed[CPT_FED_LEN], alice[CPT_KEY_LEN], bob[CPT_KEY_LEN], space[CPT_ID_LEN],
	    kid[SKEY_ID_LEN];
	uint8_t pks[2][CPT_KEY_LEN];
	skey_ctx_t ctx, moved;
	json_t *plain, *sealed, *opened = NULL, *keybody, *post;
	const char *rule = NULL;
	uint16_t inner = 0;
	char *text;

	(void)state;
	memset(fed, 1, sizeof(fed));
	memset(alice, 2, sizeof(alice));
	memset(bob, 3, sizeof(bob));
	memset(space, 4, sizeof(space));
	ctx = (skey_ctx_t){fed, EVT_SEALED, alice, space};

	/* Paris makes the key and seals it to both member sites; Lyon opens its seal. */
	assert_int_equal(skey_ring_generate(paris, kid), 0);
	memcpy(pks[0], key_curve_public(paris_seal), CPT_KEY_LEN);
	memcpy(pks[1], key_curve_public(lyon_seal), CPT_KEY_LEN);
	assert_int_equal(space_key_body(&keybody, paris, space, kid, (const uint8_t(*)[32])pks, 2),
	                 0);
	assert_int_equal(space_body_check(EVT_SPACE_KEY, keybody, &rule), 0);
	assert_int_equal(space_key_open(lyon, keybody, lyon_seal), 0);
	assert_int_equal(skey_ring_has(lyon, kid), 1);
	/* A site with no seal in the event. */
	assert_int_equal(space_key_open(lyon, keybody, b_seal), CPT_ENOTFOUND);
	json_decref(keybody);
	/* Two seals to one key, or none: refused before sealing anything. */
	memcpy(pks[1], pks[0], CPT_KEY_LEN);
	assert_int_equal(space_key_body(&keybody, paris, space, kid, (const uint8_t(*)[32])pks, 2),
	                 CPT_EINVAL);
	assert_int_equal(space_key_body(&keybody, paris, space, kid, (const uint8_t(*)[32])pks, 0),
	                 CPT_EINVAL);

	/* Alice's post, sealed at Paris, read at Lyon. */
	post = json_pack("{s:i, s:s}", "kind", EVT_POST, "text", "Les salaires de 2025 sont prêts");
	assert_int_equal(space_seal(&sealed, paris, kid, &ctx, post), 0);
	text = json_dumps(sealed, JSON_COMPACT);
	assert_null(strstr(text, "salaires"));
	free(text);
	plain = json_pack("{s:s, s:O}", "space",
	                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	                  "sealed", sealed);
	assert_int_equal(space_body_check(EVT_SEALED, plain, &rule), 0);
	json_decref(plain);
	assert_int_equal(space_unseal(&opened, &inner, lyon, &ctx, sealed, &rule), 0);
	assert_int_equal(inner, EVT_POST);
	assert_string_equal(json_string_value(json_object_get(opened, "text")),
	                    "Les salaires de 2025 sont prêts");
	json_decref(opened);
	/* Moved into Bob's event: does not open. A site without the key: not found. */
	moved = ctx, moved.author = bob;
	assert_int_equal(space_unseal(&opened, &inner, lyon, &moved, sealed, &rule), CPT_EAUTH);
	{
		skey_ring_t *nantes = skey_ring_new(1);
		assert_int_equal(space_unseal(&opened, &inner, nantes, &ctx, sealed, &rule),
		                 CPT_ENOTFOUND);
		skey_ring_destroy(&nantes);
	}
	json_decref(sealed);
	json_decref(post);

	/* Plaintexts that break a rule are not content, whoever sealed them. */
	{
		static const struct {
			uint16_t outer;
			const char *text;
			const char *rule;
		} bad[] = {
		    {EVT_SEALED, "{\"kind\":5,\"fields\":{}}", "plain.kind"},
		    {EVT_SEALED, "{\"kind\":6}", "post.text"},
		    {EVT_SEALED, "{\"kind\":6,\"text\":\"x\",\"space\":\"y\"}", "plain.space"},
		    {EVT_SEALED, "{\"kind\":7,\"text\":\"x\"}", "comment.post"},
		    {EVT_SEALED,
		     "{\"kind\":8,\"post\":\""
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		     "\",\"reaction\":\"\",\"on\":true}",
		     "reaction.reaction"},
		    {EVT_SEALED, "{\"kind\":6,\"text\":\"x\",\"text\":\"y\"}", "plain.json"},
		    {EVT_SEALED, "[1]", "plain.json"},
		    {EVT_SEALED, "{\"kind\":6,\"text\":\"x\"} x", "plain.json"},
		    {EVT_SPACE, "{\"description\":\"x\"}", "plain.name"},
		    {EVT_POST, "{\"text\":\"x\"}", "plain.kind"},
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			rule = NULL;
			assert_int_equal(space_plain_parse(&opened, &inner, bad[i].outer,
			                                   (const uint8_t *)bad[i].text,
			                                   strlen(bad[i].text), &rule),
			                 CPT_EINVAL);
			assert_null(opened);
			if (strcmp(rule, bad[i].rule) != 0)
				fail_msg("plaintext %s: rule %s, want %s", bad[i].text, rule,
				         bad[i].rule);
		}
		assert_int_equal(
		    space_plain_parse(&opened, &inner, EVT_SEALED,
		                      (const uint8_t *)"{\"kind\":6,\"text\":\"a\0b\"}", 24, &rule),
		    CPT_EINVAL);
		/* Padding is JSON whitespace. */
		assert_int_equal(space_plain_parse(&opened, &inner, EVT_SPACE,
		                                   (const uint8_t *)"{\"name\":\"RH\"}      ", 19,
		                                   &rule),
		                 0);
		assert_int_equal(inner, EVT_SPACE);
		json_decref(opened);
	}
	skey_ring_destroy(&paris);
	skey_ring_destroy(&lyon);
	key_curve_destroy(&paris_seal);
	key_curve_destroy(&lyon_seal);
	key_curve_destroy(&b_seal);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_join_leave_rejoin),
	    cmocka_unit_test(test_request_approve_decline),
	    cmocka_unit_test(test_invite_accept),
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_admin_removed_then_acting),
	    cmocka_unit_test(test_concurrent_edits),
	    cmocka_unit_test(test_archived),
	    cmocka_unit_test(test_not_here),
	    cmocka_unit_test(test_concurrent_epochs),
	    cmocka_unit_test(test_last_member_of_a_site),
	    cmocka_unit_test(test_disabled_and_outsiders),
	    cmocka_unit_test(test_site_space),
	    cmocka_unit_test(test_random_scenes),
	    cmocka_unit_test(test_body_rules),
	    cmocka_unit_test(test_seal_unseal),
	};
	return cmocka_run_group_tests(tests, s_setup, NULL);
}
