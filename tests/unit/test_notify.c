/*
 * Unit tests of notifications, following and announcements (PROTOCOL.md
 * 17): the notifications index (node/index/notify.c) and the personal
 * state (mine.c) are functions of the event set, whatever the order and the
 * batching, and reindex gives them back byte for byte; what the queries
 * read from them (groups, read marks that a late arrival does not fool,
 * mutes, follows, announcements by admins only); the body rules of kinds 16
 * to 19; a personal box opens only for its author, federation and key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/ingest_fixture.h"

#include "node/event/event_internal.h"

/* The scene. Indexes into ev[] are named. */
enum {
	N_CERT,
	N_EN_ALICE, /* admin */
	N_EN_BOB,
	N_EN_CAROL,
	N_POST,   /* alice: "hello @bob" */
	N_POST2,  /* bob: "bob's own" */
	N_C1,     /* bob comments */
	N_C2,     /* carol: "@alice see", redacted by N_RED */
	N_C3,     /* alice: "thanks @carol" */
	N_C4,     /* carol, late: older than bob's read mark, arrives whenever */
	N_LIKE_B, /* bob likes, then */
	N_UNLIKE_B /* takes it back */,
	N_LIKE_C,  /* carol likes */
	N_HEART_C, /* and hearts */
	N_RED,     /* carol erases her comment C2 */
	N_F_ON,    /* bob follows alice, then */
	N_F_OFF,   /* stops */
	N_F_CAROL, /* bob follows carol */
	N_ANN,     /* alice (admin) announces her post */
	N_ANN_BOB, /* bob (not an admin) announces his */
	N_ACK,     /* bob has read alice's announcement */
	N_MINE1,   /* bob: read mark of the post's group, mute it */
	N_MINE2,   /* bob: unmute it (newer) */
	N_COUNT
};

typedef struct scene {
	ev_t ev[N_COUNT];
} scene_t;

static uint8_t s_bob_k[INDEX_MINE_KEY_LEN]; /* bob's personal key */
static uint8_t s_removing[CPT_ID_LEN];      /* the event s_remove_fn takes out */

/* A kind 17 event of k with plaintext plain (stolen). */
static void
s_mine(ev_t *e, int k, const uint8_t pk[INDEX_MINE_KEY_LEN], uint64_t ts, json_t *plain)
{
	json_t *body = index_mine_seal(pk, s_fed, fx_pk(k), plain);

	assert_non_null(body);
	json_decref(plain);
	fx_mk(e, k, EVT_MINE, ts, body);
}

static void
s_scene(scene_t *s)
{
	ev_t *e = s->ev;
	uint8_t seed[CPT_SEED_LEN];

	key_sign_seed(s_keys[K_BOB], seed);
	index_mine_derive(s_bob_k, seed);
	fx_cert(&e[N_CERT], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&e[N_EN_ALICE], K_PARIS, K_ALICE, "alice", "paris", "admin", TS(2, 0));
	fx_enrol(&e[N_EN_BOB], K_PARIS, K_BOB, "bob", "paris", "member", TS(2, 1));
	fx_enrol(&e[N_EN_CAROL], K_PARIS, K_CAROL, "carol", "paris", "member", TS(2, 2));
	fx_post(&e[N_POST], K_ALICE, TS(200, 0), "hello @bob");
	fx_post(&e[N_POST2], K_BOB, TS(205, 0), "bob's own");
	fx_child(&e[N_C1], K_BOB, EVT_COMMENT, TS(260, 0), &e[N_POST], "nice");
	fx_child(&e[N_C2], K_CAROL, EVT_COMMENT, TS(270, 0), &e[N_POST], "@alice see");
	fx_child(&e[N_C3], K_ALICE, EVT_COMMENT, TS(280, 0), &e[N_POST], "thanks @carol");
	fx_child(&e[N_C4], K_CAROL, EVT_COMMENT, TS(275, 0), &e[N_POST], "late from lyon");
	fx_react(&e[N_LIKE_B], K_BOB, TS(210, 0), &e[N_POST], "like", 1);
	fx_react(&e[N_UNLIKE_B], K_BOB, TS(220, 0), &e[N_POST], "like", 0);
	fx_react(&e[N_LIKE_C], K_CAROL, TS(215, 0), &e[N_POST], "like", 1);
	fx_react(&e[N_HEART_C], K_CAROL, TS(240, 0), &e[N_POST], "heart", 1);
	fx_redact(&e[N_RED], K_CAROL, TS(290, 0), &e[N_C2]);
	fx_mk(&e[N_F_ON], K_BOB, EVT_FOLLOW, TS(300, 0),
	      json_pack("{s:s, s:s, s:b}", "what", "person", "target", "alice", "on", 1));
	fx_mk(&e[N_F_OFF], K_BOB, EVT_FOLLOW, TS(310, 0),
	      json_pack("{s:s, s:s, s:b}", "what", "person", "target", "alice", "on", 0));
	fx_mk(&e[N_F_CAROL], K_BOB, EVT_FOLLOW, TS(305, 0),
	      json_pack("{s:s, s:s, s:b}", "what", "person", "target", "carol", "on", 1));
	fx_mk(&e[N_ANN], K_ALICE, EVT_ANNOUNCE, TS(320, 0),
	      json_pack("{s:s, s:s, s:i}", "post", e[N_POST].hex, "scope", "site", "until", 0));
	fx_mk(&e[N_ANN_BOB], K_BOB, EVT_ANNOUNCE, TS(330, 0),
	      json_pack("{s:s, s:s, s:i}", "post", e[N_POST2].hex, "scope", "site", "until", 0));
	fx_mk(&e[N_ACK], K_BOB, EVT_ACK, TS(340, 0), json_pack("{s:s}", "post", e[N_POST].hex));
	/* Bob read the group when it held the mention and alice's reply (its
	 * newest at 280, two items): carol's late comment, older than the
	 * mark's time, still makes it unread. */
	s_mine(&e[N_MINE1], K_BOB, s_bob_k, TS(350, 0),
	       json_pack("{s:{s:[I, i]}, s:{s:b}, s:{s:s}}", "read", e[N_POST].hex,
	                 (json_int_t)TS(280, 0), 2, "mute", e[N_POST].hex, 1, "prefs", "digest",
	                 "weekly"));
	s_mine(&e[N_MINE2], K_BOB, s_bob_k, TS(360, 0),
	       json_pack("{s:{s:b}}", "mute", e[N_POST].hex, 0));
}

static void
s_scene_free(scene_t *s)
{
	for (int i = 0; i < N_COUNT; i++)
		fx_free(&s->ev[i]);
}

static int
s_put_key_fn(store_txn_t *txn, void *arg)
{
	(void)arg;
	return index_mine_key_put(txn, fx_pk(K_BOB), s_bob_k);
}

/* The record of handle's group for post, parsed, or NULL. */
struct find {
	const uint8_t *group;
	json_t *rec;
	uint64_t n;
	size_t groups;
};

static int
s_find_fn(void *arg, uint64_t latest, const uint8_t group[CPT_ID_LEN], uint64_t n, const char *rec,
          size_t len)
{
	struct find *f = arg;

	(void)latest;
	f->groups++;
	if (memcmp(group, f->group, CPT_ID_LEN) == 0) {
		f->rec = json_loadb(rec, len, 0, NULL);
		f->n = n;
	}
	return 0;
}

static json_t *
s_group(fx_t *f, const char *handle, const ev_t *post, uint64_t *n, size_t *groups)
{
	store_txn_t *txn;
	struct find fd = {post->id, NULL, 0, 0};

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	assert_int_equal(index_notify_each(txn, handle, NULL, s_find_fn, &fd), 0);
	store_read_end(f->st, &txn);
	if (n)
		*n = fd.n;
	if (groups)
		*groups = fd.groups;
	return fd.rec;
}

static json_int_t
s_n(const json_t *rec, const char *type)
{
	return json_integer_value(
	    json_object_get(json_object_get(json_object_get(rec, "types"), type), "n"));
}

static const char *
s_by0(const json_t *rec, const char *type)
{
	return json_string_value(json_array_get(
	    json_object_get(json_object_get(json_object_get(rec, "types"), type), "by"), 0));
}

/* What the scene must give, whatever the order. */
static void
s_check(fx_t *f, scene_t *s)
{
	ev_t *e = s->ev;
	json_t *rec, *mine, *fl, *ann, *list;
	store_txn_t *txn;
	uint64_t n;
	size_t groups;
	long unread;

	/* Alice: bob's and carol's comments (carol's erased one gone), carol's
	 * two reactions grouped (bob took his back). */
	rec = s_group(f, "alice", &e[N_POST], &n, &groups);
	assert_non_null(rec);
	assert_int_equal(groups, 1);
	assert_int_equal(s_n(rec, "comment"), 2);
	assert_string_equal(s_by0(rec, "comment"), "carol"); /* the newest first */
	assert_int_equal(s_n(rec, "reaction"), 2);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(json_object_get(rec, "types"), "reaction"), "actors")),
	                 1);
	assert_null(json_object_get(json_object_get(rec, "types"), "mention"));
	assert_int_equal(n, 4);
	assert_int_equal(json_integer_value(json_object_get(rec, "latest")),
	                 (json_int_t)TS(275, 0));
	json_decref(rec);

	/* Bob: alice's mention, then replies after his comment by carol (the
	 * late one) and alice; nothing of his own post. */
	rec = s_group(f, "bob", &e[N_POST], &n, &groups);
	assert_non_null(rec);
	assert_int_equal(groups, 1);
	assert_int_equal(s_n(rec, "mention"), 1);
	assert_int_equal(s_n(rec, "reply"), 2);
	assert_int_equal(n, 3);
	json_decref(rec);

	/* Carol: alice's mention in C3 and her reply after carol's late C4. */
	rec = s_group(f, "carol", &e[N_POST], &n, NULL);
	assert_non_null(rec);
	assert_int_equal(s_n(rec, "mention"), 1);
	assert_int_equal(s_n(rec, "reply"), 1);
	assert_string_equal(s_by0(rec, "mention"), "alice");
	json_decref(rec);

	assert_int_equal(store_write(f->st, s_put_key_fn, NULL), 0);
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	mine = index_mine_state(txn, s_fed, fx_pk(K_BOB));
	assert_non_null(mine);
	assert_true(json_is_true(json_object_get(mine, "known")));
	assert_int_equal(json_integer_value(json_object_get(mine, "opened")), 2);
	/* The newer unmute wins; the preference stays. */
	assert_true(json_is_false(json_object_get(json_object_get(mine, "mute"), e[N_POST].hex)));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(mine, "prefs"), "digest")), "weekly");
	/* Carol's late comment makes the group unread again. */
	unread = query_unread(txn, mine, "bob");
	assert_int_equal(unread, 1);
	json_decref(mine);

	/* Follows: the newest event per target. */
	fl = query_follows(txn, fx_pk(K_BOB));
	assert_non_null(fl);
	assert_int_equal(json_array_size(json_object_get(fl, "people")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(fl, "people"), 0)),
	                    "carol");
	json_decref(fl);

	/* Announcements: alice's counts (an admin), bob's does not; bob has
	 * read it, carol has not; alice (the author) sees 1 of 3. */
	ann = query_announcements(txn, fx_pk(K_CAROL), T0 + 1000, 1);
	assert_non_null(ann);
	assert_int_equal(json_array_size(ann), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ann, 0), "id")),
	                    e[N_POST].hex);
	json_decref(ann);
	ann = query_announcements(txn, fx_pk(K_BOB), T0 + 1000, 1);
	assert_int_equal(json_array_size(ann), 0);
	json_decref(ann);
	ann = query_announcements(txn, fx_pk(K_ALICE), T0 + 1000, 0);
	list = json_object_get(json_array_get(ann, 0), "announcement");
	assert_int_equal(json_integer_value(json_object_get(list, "read_by")), 1);
	assert_int_equal(json_integer_value(json_object_get(list, "of")), 3);
	json_decref(ann);
	store_read_end(f->st, &txn);
}

/* Ingests list in order, in batches of random sizes; snapshots it. */
static void
s_run(fx_t *f, ev_t **list, size_t n, uint64_t *seed, snap_t *out)
{
	ingest_res_t res[N_COUNT];

	fx_open_scratch(f);
	for (size_t at = 0; at < n;) {
		size_t k = 1 + fx_rand(seed) % 5;
		if (k > n - at)
			k = n - at;
		assert_int_equal(fx_ingest_n(f, list + at, k, res + at), 0);
		at += k;
	}
	for (size_t i = 0; i < n; i++)
		if (res[i].rc != 0 && res[i].rc != CPT_EPENDING)
			fail_msg("event %zu (%s): %s (%s)", i, evt_kind_name(res[i].kind),
			         cpt_strerror(res[i].rc), res[i].why);
	assert_int_equal(fx_count(f, DB_PENDING), 0);
	fx_snap(f->st, out);
}

/* The scene in order, then in 150 random orders and batchings: the same
 * bytes in every database each time, and the values above; reindex gives
 * the same bytes back. */
static void
test_orders(void **state)
{
	scene_t s;
	ev_t *list[N_COUNT];
	snap_t first, cur;
	uint64_t seed = 18;
	fx_t f;
	char err[256];

	(void)state;
	s_scene(&s);
	for (int i = 0; i < N_COUNT; i++)
		list[i] = &s.ev[i];
	s_run(&f, list, N_COUNT, &seed, &first);
	assert_true(first.entries[DB_NOTIFY] == 3); /* alice, bob, carol on the post; none else */
	assert_true(first.entries[DB_ANNOUNCE] == 2);
	s_check(&f, &s); /* it keeps bob's personal key: snapshot again */
	fx_snap_free(&first);
	fx_snap(f.st, &first);
	/* reindex: every view from the events alone, the same bytes (the
	 * personal key, local, stays) */
	if (event_reindex(&f.ctx, err, sizeof(err)) != 0)
		fail_msg("reindex: %s", err);
	fx_snap(f.st, &cur);
	FX_SNAP_EQUAL(&first, &cur, "reindex");
	fx_snap_free(&cur);
	fx_close(&f);
	fx_snap_free(&first);
	s_run(&f, list, N_COUNT, &seed, &first);
	fx_close(&f);
	for (int run = 0; run < 150; run++) {
		char what[64];
		fx_shuffle(list, N_COUNT, &seed);
		s_run(&f, list, N_COUNT, &seed, &cur);
		snprintf(what, sizeof(what), "random order %d", run);
		FX_SNAP_EQUAL(&first, &cur, what);
		if (run % 25 == 0)
			s_check(&f, &s);
		fx_snap_free(&cur);
		fx_close(&f);
	}
	fx_snap_free(&first);
	s_scene_free(&s);
}

/* A personal box opens under its key, for its author, in its federation,
 * and nowhere else. */
static void
test_mine_box(void **state)
{
	uint8_t k[INDEX_MINE_KEY_LEN], k2[INDEX_MINE_KEY_LEN], seed[CPT_SEED_LEN],
	    fed2[CPT_FED_LEN];
	json_t *plain = json_pack("{s:{s:s}}", "prefs", "lang", "fr"), *box, *back;
	const char *b64;
	char why[128];

	(void)state;
	key_sign_seed(s_keys[K_ALICE], seed);
	index_mine_derive(k, seed);
	key_sign_seed(s_keys[K_BOB], seed);
	index_mine_derive(k2, seed);
	assert_memory_not_equal(k, k2, sizeof(k));
	box = index_mine_seal(k, s_fed, fx_pk(K_ALICE), plain);
	assert_non_null(box);
	back = index_mine_open(k, s_fed, fx_pk(K_ALICE), box);
	assert_non_null(back);
	assert_true(json_equal(back, plain));
	json_decref(back);
	assert_null(index_mine_open(k2, s_fed, fx_pk(K_ALICE), box));
	assert_null(index_mine_open(k, s_fed, fx_pk(K_BOB), box));
	memcpy(fed2, s_fed, sizeof(fed2));
	fed2[0] ^= 1;
	assert_null(index_mine_open(k, fed2, fx_pk(K_ALICE), box));
	/* Padded to a multiple of 64 bytes, plus the tag. */
	b64 = json_string_value(json_object_get(box, "box"));
	assert_int_equal(strlen(b64), cpt_b64_len(64 + 16));
	/* The body rule accepts it, and refuses a box cut short. */
	assert_int_equal(ev_check_mine(box, why, sizeof(why)), 0);
	json_object_set_new(box, "box", json_string("QQ=="));
	assert_int_equal(ev_check_mine(box, why, sizeof(why)), CPT_EINVAL);
	json_object_set_new(box, "box", json_string("not base64"));
	assert_int_equal(ev_check_mine(box, why, sizeof(why)), CPT_EINVAL);
	json_decref(box);
	json_decref(plain);
}

/* The body rules of kinds 16, 18 and 19. */
static void
test_body_rules(void **state)
{
	static const char hex[] =
	    "0101010101010101010101010101010101010101010101010101010101010101";
	struct {
		const char *body;
		int (*check)(const json_t *, char *, size_t);
		int ok;
	} cases[] = {
	    {"{\"what\":\"person\",\"target\":\"bob\",\"on\":true}", ev_check_follow, 1},
	    {"{\"what\":\"person\",\"target\":\"Bob\",\"on\":true}", ev_check_follow, 0},
	    {"{\"what\":\"person\",\"target\":\"bob\",\"on\":1}", ev_check_follow, 0},
	    {"{\"what\":\"group\",\"target\":\"bob\",\"on\":true}", ev_check_follow, 0},
	    {"{\"what\":\"space\",\"target\":\"bob\",\"on\":true}", ev_check_follow, 0},
	    {"{\"post\":\"H\",\"scope\":\"site\",\"until\":0}", ev_check_announce, 1},
	    {"{\"post\":\"H\",\"scope\":\"site\"}", ev_check_announce, 0},
	    {"{\"post\":\"H\",\"scope\":\"site\",\"until\":-1}", ev_check_announce, 0},
	    {"{\"post\":\"H\",\"scope\":\"world\",\"until\":0}", ev_check_announce, 0},
	    {"{\"post\":\"H\",\"scope\":\"all\",\"until\":1800000000000}", ev_check_announce, 1},
	    {"{\"post\":\"H\"}", ev_check_ack, 1},
	    {"{\"post\":\"ABAB\"}", ev_check_ack, 0},
	};
	char why[128], buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *h = strchr(cases[i].body, 'H');
		json_t *b;
		if (h && h[1] == '"')
			snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(h - cases[i].body),
			         cases[i].body, hex, h + 1);
		else
			snprintf(buf, sizeof(buf), "%s", cases[i].body);
		b = json_loads(buf, 0, NULL);
		assert_non_null(b);
		if ((cases[i].check(b, why, sizeof(why)) == 0) != cases[i].ok)
			fail_msg("%s: expected %s (%s)", buf, cases[i].ok ? "valid" : "refused",
			         why);
		json_decref(b);
	}
}

/* ------------------------------------------------- the space hook */

static const char *
s_space_person(void *ctx, const char *handle, int *active)
{
	(void)ctx;
	*active = strcmp(handle, "gone") != 0;
	return "paris";
}

static int
s_space_seal(void *ctx, const char *site, uint8_t out[CPT_KEY_LEN])
{
	(void)ctx;
	(void)site;
	(void)out;
	return CPT_ENOTFOUND;
}

static int
s_space_roster(void *ctx, const char *site,
               int (*add)(void *arg, const char *handle, int admin, int active), void *arg)
{
	(void)ctx;
	(void)site;
	(void)add;
	(void)arg;
	return 0;
}

struct hook_arg {
	space_state_t *st;
};

static int
s_hook_fn(store_txn_t *txn, void *arg)
{
	struct hook_arg *h = arg;
	index_ctx_t ix = {0};
	int rc = index_notify_space(&ix, txn, h->st);

	index_ctx_release(&ix);
	return rc;
}

/* The hook the space index calls after its fold: a request notifies the
 * space's active admins and owners, an invitation the person invited; once
 * approved, declined or archived, nothing is left. Written against the pure
 * fold of node/space (PROTOCOL.md 16.7), ahead of the space index. */
static void
test_space_hook(void **state)
{
	static const space_env_t env = {s_space_person, s_space_seal, s_space_roster, NULL};
	space_evt_t ev[6];
	json_t *b[6];
	uint8_t space[CPT_ID_LEN];
	char hex[CPT_HEX_ID];
	space_state_t *st = NULL;
	struct hook_arg ha;
	json_t *rec;
	fx_t f;
	ev_t fake = {0};

	(void)state;
	memset(ev, 0, sizeof(ev));
	memset(space, 0x5a, sizeof(space));
	cpt_hex32(hex, space);
	b[0] =
	    json_pack("{s:s, s:s, s:s}", "visibility", "open", "join", "request", "name", "Rando");
	b[1] = json_pack("{s:s, s:s, s:s, s:s}", "space", hex, "action", "promote", "user", "dora",
	                 "role", "admin");
	b[2] = json_pack("{s:s, s:s}", "space", hex, "action", "request");
	b[3] = json_pack("{s:s, s:s, s:s}", "space", hex, "action", "invite", "user", "carol");
	b[4] = json_pack("{s:s, s:s, s:s}", "space", hex, "action", "approve", "user", "bob");
	b[5] = json_pack("{s:s, s:s, s:s}", "space", hex, "action", "invite", "user", "dora");
	const char *authors[] = {"alice", "alice", "bob", "alice", "alice", "alice"};
	uint16_t kinds[] = {EVT_SPACE,        EVT_SPACE_MEMBER, EVT_SPACE_MEMBER,
	                    EVT_SPACE_MEMBER, EVT_SPACE_MEMBER, EVT_SPACE_MEMBER};
	for (int i = 0; i < 6; i++) {
		ev[i].ts = TS(100 + 10 * (uint64_t)i, 0);
		memset(ev[i].id, i + 1, CPT_ID_LEN);
		ev[i].kind = kinds[i];
		ev[i].author = authors[i];
		ev[i].body = b[i];
	}
	memcpy(ev[0].id, space, CPT_ID_LEN); /* the creation's id is the space's */
	fx_open(&f);

	/* Creation, dora a member? (promote of a non-member has no effect),
	 * bob asks, carol is invited. */
	assert_int_equal(space_fold(&st, space, NULL, ev, 4, &env), 0);
	ha.st = st;
	assert_int_equal(store_write(f.st, s_hook_fn, &ha), 0);
	memcpy(fake.id, space, CPT_ID_LEN);
	rec = s_group(&f, "alice", &fake, NULL, NULL);
	assert_non_null(rec);
	assert_int_equal(s_n(rec, "space_request"), 1);
	assert_string_equal(s_by0(rec, "space_request"), "bob");
	json_decref(rec);
	rec = s_group(&f, "carol", &fake, NULL, NULL);
	assert_non_null(rec);
	assert_int_equal(s_n(rec, "space_invite"), 1);
	assert_string_equal(s_by0(rec, "space_invite"), "alice");
	json_decref(rec);
	assert_null(s_group(&f, "bob", &fake, NULL, NULL)); /* nobody hears of their own request */
	space_state_destroy(&st);

	/* bob approved: alice's request item goes; dora invited. */
	assert_int_equal(space_fold(&st, space, NULL, ev, 6, &env), 0);
	ha.st = st;
	assert_int_equal(store_write(f.st, s_hook_fn, &ha), 0);
	assert_null(s_group(&f, "alice", &fake, NULL, NULL));
	rec = s_group(&f, "dora", &fake, NULL, NULL);
	assert_non_null(rec);
	assert_int_equal(s_n(rec, "space_invite"), 1);
	json_decref(rec);
	assert_int_equal(fx_count(&f, DB_NOTIFY), 2); /* carol's and dora's invitations */
	space_state_destroy(&st);
	fx_close(&f);
	for (int i = 0; i < 6; i++)
		json_decref(b[i]);
}

/* Records whose bytes are to be as json_dumps writes them. */
struct rec_arg {
	uint8_t group[CPT_ID_LEN]; /* the group */
	json_t *recs;              /* handle -> record */
};

static int
s_recs_fn(store_txn_t *txn, void *arg)
{
	struct rec_arg *a = arg;
	index_ctx_t ix = {0};
	int rc = index_notify_group(&ix, txn, a->group, a->recs);

	index_ctx_release(&ix);
	return rc;
}

/* A group's records are stored as json_dumps(rec, JSON_COMPACT) writes
 * them, after the 8 bytes of their count, whatever they hold: the writer's
 * own serializer (node/index/notify.c, s_dump) for plain ones, json_dumps
 * for strings it would escape (a quote, a control character, non-ASCII).
 * Readers and `comptoir verify` (a rebuild) compare those bytes. */
static void
test_record_bytes(void **state)
{
	struct rec_arg a;
	fx_t f;
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t seen = 0;
	int rc;

	(void)state;
	memset(a.group, 0x3c, sizeof(a.group));
	a.recs = json_pack(
	    "{s:{s:I, s:{s:{s:i, s:I, s:[s, s, s], s:i}, s:{s:i, s:I, s:[], s:i}}},"
	    " s:{s:I, s:{s:{s:i, s:I, s:[s], s:i, s:b, s:b, s:n, s:{}, s:I, s:I}}},"
	    " s:{s:I, s:{s:{s:i, s:I, s:[s, s], s:i}}}}",
	    "bob", "latest", (json_int_t)1765000000123, "types", "comment", "n", 3, "ts",
	    (json_int_t)1765000000123, "by", "carol", "alice", "d.e-f_g", "actors", 4, "reaction",
	    "n", 0, "ts", (json_int_t)0, "by", "actors", 0, "carol", "latest", (json_int_t)-5,
	    "types", "mention", "n", -1, "ts", (json_int_t)9007199254740993, "by", "bob", "actors",
	    1, "t", 1, "f", 0, "z", "o", "lo", (json_int_t)INT64_MIN, "hi", (json_int_t)INT64_MAX,
	    "zoe", "latest", (json_int_t)7, "types", "reply", "n", 2, "ts", (json_int_t)7, "by",
	    "z\xc3\xb6"
	    "e \"q\"",
	    "tab\there", "actors", 2);
	assert_non_null(a.recs);
	fx_open(&f);
	assert_int_equal(store_write(f.st, s_recs_fn, &a), 0);
	assert_int_equal(store_read_begin(f.st, &txn), 0);
	assert_int_equal(store_cur_open(txn, DB_NOTIFY, &cur), 0);
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		const char *h = (const char *)k.data; /* handle, NUL, latest, group */
		char *want = json_dumps(json_object_get(a.recs, h), JSON_COMPACT);
		assert_non_null(want);
		assert_true(v.len >= 8);
		assert_int_equal(v.len - 8, strlen(want));
		assert_memory_equal((const char *)v.data + 8, want, strlen(want));
		free(want);
		seen++;
	}
	assert_int_equal(rc, CPT_ENOTFOUND);
	store_cur_close(&cur);
	store_read_end(f.st, &txn);
	assert_int_equal(seen, 3);
	fx_close(&f);
	json_decref(a.recs);
}

/* The reference number of id (schema 13) as a number, or 0 when none. */
static uint64_t
s_ref_num(fx_t *f, const uint8_t id[CPT_ID_LEN])
{
	store_txn_t *txn;
	uint8_t num[8];
	int rc;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	rc = index_ref_num(txn, id, 0, num);
	store_read_end(f->st, &txn);
	if (rc == CPT_ENOTFOUND)
		return 0;
	assert_int_equal(rc, 0);
	return store_get_u64(num);
}

/* The number DB_EVENT_IDS gives id, or 0 when it is not stored. */
static uint64_t
s_seq(fx_t *f, const uint8_t id[CPT_ID_LEN])
{
	size_t len = 0;
	uint8_t *v = fx_get(f, DB_EVENT_IDS, id, CPT_ID_LEN, &len);
	uint64_t n = v && len == 8 ? store_get_u64(v) : 0;

	free(v);
	return n;
}

/* Whether DB_NOTIFY_BY holds who's entry under the number num. */
static int
s_by_has(fx_t *f, uint64_t num, const char *who)
{
	uint8_t k[8 + 64];
	size_t hl = strlen(who);

	store_put_u64(k, num);
	memcpy(k + 8, who, hl);
	return fx_has(f, DB_NOTIFY_BY, k, 8 + hl);
}

/* A schema 12 store: DB_BY_REF, DB_NOTIFY_BY and DB_REACTIONS put back
 * under the targets' ids. */
static int
s_to_v12_fn(store_txn_t *txn, void *arg)
{
	uint8_t b[8];
	int rc = fx_ref_unnumber(txn);

	(void)arg;
	store_put_u64(b, 12);
	if (rc == 0)
		rc = store_meta_put(txn, "schema", b, 8);
	return rc;
}

/* Whether DB_BY_REF holds e's reference under num. */
static int
s_ref_has(fx_t *f, uint64_t num, const ev_t *e)
{
	uint8_t k[INDEX_REF_KEY_LEN];

	store_put_u64(k, num);
	store_tsid(k + 8, e->ts, e->id);
	return fx_has(f, DB_BY_REF, k, sizeof(k));
}

/* Whether DB_REACTIONS holds author's register of reaction under num. */
static int
s_reg_has(fx_t *f, uint64_t num, int author, const char *reaction)
{
	uint8_t k[8 + CPT_KEY_LEN + 64];
	size_t rl = strlen(reaction);

	store_put_u64(k, num);
	memcpy(k + 8, fx_pk(author), CPT_KEY_LEN);
	memcpy(k + 8 + CPT_KEY_LEN, reaction, rl);
	return fx_has(f, DB_REACTIONS, k, 8 + CPT_KEY_LEN + rl);
}

/* The references, the groups' index and the reaction registers are keyed
 * by the target's number in the store (8 bytes, then the reference's ts
 * and id, the handle, or the author and the reaction), not its id; a
 * store of schema 12 (keyed by ids) is
 * brought to 13 at its opening: the same entries under numbers, the same
 * answers, and opened again nothing changes. */
static void
test_groups_keyed_by_number(void **state)
{
	scene_t s;
	ev_t *list[N_COUNT];
	ingest_res_t res[N_COUNT];
	snap_t a, b;
	uint8_t sb[8];
	size_t len = sizeof(sb);
	store_txn_t *txn;
	char err[512] = "";
	uint64_t n;
	size_t nref, nnum;
	fx_t f;

	(void)state;
	s_scene(&s);
	for (int i = 0; i < N_COUNT; i++)
		list[i] = &s.ev[i];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, list, N_COUNT, res), 0);
	n = s_seq(&f, s.ev[N_POST].id);
	assert_true(n > 0);
	assert_int_equal(s_ref_num(&f, s.ev[N_POST].id), n);
	assert_true(s_by_has(&f, n, "alice") && s_by_has(&f, n, "bob") && s_by_has(&f, n, "carol"));
	assert_int_equal(fx_count(&f, DB_NOTIFY_BY), 3);
	/* bob's like (taken back), carol's like and heart */
	assert_true(s_reg_has(&f, n, K_BOB, "like") && s_reg_has(&f, n, K_CAROL, "like") &&
	            s_reg_has(&f, n, K_CAROL, "heart"));
	assert_int_equal(fx_count(&f, DB_REACTIONS), 3);
	assert_true(s_ref_has(&f, n, &s.ev[N_C1]) && s_ref_has(&f, n, &s.ev[N_LIKE_B]));
	nref = fx_count(&f, DB_BY_REF);
	/* The keys enrolled are referred to (their enrolments): numbered. */
	nnum = fx_count(&f, DB_REF_NUMS);
	assert_int_equal(nnum, 3);
	fx_snap(f.st, &a);
	/* Back to schema 12's layout, then opened. */
	assert_int_equal(store_write(f.st, s_to_v12_fn, NULL), 0);
	assert_false(s_by_has(&f, n, "alice"));
	assert_false(s_reg_has(&f, n, K_CAROL, "heart"));
	assert_false(s_ref_has(&f, n, &s.ev[N_C1]));
	store_close(&f.st);
	for (int round = 0; round < 2; round++) {
		if (index_store_open(&f.st, f.dir, 0, err, sizeof(err)) != 0)
			fail_msg("store_open: %s", err);
		f.ctx.st = f.st;
		assert_true(s_by_has(&f, n, "alice") && s_by_has(&f, n, "bob") &&
		            s_by_has(&f, n, "carol"));
		assert_int_equal(fx_count(&f, DB_NOTIFY_BY), 3);
		assert_true(s_reg_has(&f, n, K_CAROL, "heart"));
		assert_int_equal(fx_count(&f, DB_REACTIONS), 3);
		assert_true(s_ref_has(&f, n, &s.ev[N_C1]) && s_ref_has(&f, n, &s.ev[N_LIKE_B]));
		assert_int_equal(fx_count(&f, DB_BY_REF), nref);
		fx_snap(f.st, &b);
		FX_SNAP_EQUAL(&a, &b, round ? "opened again" : "schema 12 moved to 13");
		fx_snap_free(&b);
		assert_int_equal(store_read_begin(f.st, &txn), 0);
		assert_int_equal(store_meta_get(txn, "schema", sb, &len), 0);
		store_read_end(f.st, &txn);
		assert_int_equal(store_get_u64(sb), 13);
		if (round == 0)
			store_close(&f.st);
	}
	s_check(&f, &s);
	fx_snap_free(&a);
	fx_close(&f);
	s_scene_free(&s);
}

static uint64_t s_bogus_num; /* s_bogus_fn: under which number */
static const ev_t *s_bogus;  /* and which event it says refers there */

static int
s_bogus_fn(store_txn_t *txn, void *arg)
{
	uint8_t k[INDEX_REF_KEY_LEN], kind[2];

	(void)arg;
	store_put_u64(k, s_bogus_num);
	store_tsid(k + 8, s_bogus->ts, s_bogus->id);
	store_put_kind(kind, EVT_COMMENT);
	return store_put(txn, DB_BY_REF, k, sizeof(k), kind, 2);
}

static int
s_remove_fn(store_txn_t *txn, void *arg)
{
	fx_t *f = arg;

	return ev_remove(&f->ctx, txn, s_removing, NULL, NULL);
}

/* A post stored after a comment and a reaction on it, last: the comment
 * gave it a number (DB_REF_NUMS) before it came. Then taken out (as a
 * revocation takes events back) and stored again: its number stays its
 * own, and its envelope's number is never given to the next event; its
 * group goes and comes back under it. A post numbered by its envelope,
 * commented, taken out and stored again keeps that number. The store then
 * answers as one that got the same events in another order; verify finds
 * the views equal to a rebuild. */
static void
test_number_kept(void **state)
{
	scene_t s;
	ev_t *e;
	ev_t *first[] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
	ev_t *other[] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}, x;
	ingest_res_t res[9];
	snap_t a, b;
	size_t nev;
	char err[256];
	uint64_t n0, seq, p2;
	fx_t f, g;

	(void)state;
	s_scene(&s);
	e = s.ev;
	first[0] = &e[N_CERT];
	first[1] = &e[N_EN_ALICE];
	first[2] = &e[N_EN_BOB];
	first[3] = &e[N_EN_CAROL];
	first[4] = &e[N_C1]; /* before its post */
	first[5] = &e[N_LIKE_C];
	first[6] = &e[N_POST];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, first, 4, res), 0);
	assert_int_equal(s_ref_num(&f, e[N_POST].id), 0); /* nothing asked for one */
	/* The comment's reference: the post is given a number before it comes. */
	assert_int_equal(fx_ingest_n(&f, first + 4, 1, res), 0);
	n0 = s_ref_num(&f, e[N_POST].id);
	assert_true(n0 > 0);
	assert_true(s_ref_has(&f, n0, &e[N_C1]));
	/* The reaction's register, under the same. */
	assert_int_equal(fx_ingest_n(&f, first + 5, 1, res), 0);
	assert_int_equal(s_ref_num(&f, e[N_POST].id), n0);
	assert_true(s_reg_has(&f, n0, K_CAROL, "like"));
	assert_int_equal(fx_ingest_n(&f, first + 6, 1, res), 0);
	assert_int_equal(res[0].rc, 0);
	seq = s_seq(&f, e[N_POST].id);
	assert_true(seq > n0); /* its envelope's is another */
	assert_int_equal(s_ref_num(&f, e[N_POST].id), n0);
	assert_true(s_by_has(&f, n0, "alice"));
	/* Taken out: the group goes, the number stays the post's. */
	memcpy(s_removing, e[N_POST].id, CPT_ID_LEN);
	assert_int_equal(store_write(f.st, s_remove_fn, &f), 0);
	assert_int_equal(s_seq(&f, e[N_POST].id), 0);
	assert_int_equal(s_ref_num(&f, e[N_POST].id), n0);
	assert_false(s_by_has(&f, n0, "alice"));
	assert_int_equal(fx_count(&f, DB_NOTIFY_BY), 0);
	/* The next event stored does not take the post's envelope number (it
	 * was the last). */
	FX_IN(&f, &e[N_POST2], 0);
	assert_true(s_seq(&f, e[N_POST2].id) > seq);
	/* Back: a new envelope number, the same reference number. */
	FX_IN(&f, &e[N_POST], 0);
	assert_true(s_seq(&f, e[N_POST].id) > n0);
	assert_int_equal(s_ref_num(&f, e[N_POST].id), n0);
	assert_true(s_by_has(&f, n0, "alice"));
	/* Bob's post, numbered by its envelope when alice comments on it, then
	 * taken out: its envelope's number stays its reference number (the
	 * comment's reference is under it), and comes back with it. */
	fx_child(&x, K_ALICE, EVT_COMMENT, TS(400, 0), &e[N_POST2], "bob's, commented");
	p2 = s_seq(&f, e[N_POST2].id);
	assert_int_equal(s_ref_num(&f, e[N_POST2].id), p2);
	FX_IN(&f, &x, 0);
	assert_true(s_ref_has(&f, p2, &x) && s_by_has(&f, p2, "bob"));
	memcpy(s_removing, e[N_POST2].id, CPT_ID_LEN);
	assert_int_equal(store_write(f.st, s_remove_fn, &f), 0);
	assert_int_equal(s_seq(&f, e[N_POST2].id), 0);
	assert_int_equal(s_ref_num(&f, e[N_POST2].id), p2);
	assert_true(s_ref_has(&f, p2, &x));
	assert_false(s_by_has(&f, p2, "bob"));
	FX_IN(&f, &e[N_POST2], 0);
	assert_true(s_seq(&f, e[N_POST2].id) > p2);
	assert_int_equal(s_ref_num(&f, e[N_POST2].id), p2);
	assert_true(s_by_has(&f, p2, "bob"));
	fx_snap(f.st, &a);
	if (event_verify(&f.ctx, &nev, err, sizeof(err)) != 0)
		fail_msg("verify: %s", err);
	assert_int_equal(nev, 9);
	/* The same events, the post first. */
	other[0] = &e[N_CERT];
	other[1] = &e[N_EN_ALICE];
	other[2] = &e[N_EN_BOB];
	other[3] = &e[N_EN_CAROL];
	other[4] = &e[N_POST];
	other[5] = &e[N_POST2];
	other[6] = &e[N_C1];
	other[7] = &e[N_LIKE_C];
	other[8] = &x;
	fx_open(&g);
	assert_int_equal(fx_ingest_n(&g, other, 9, res), 0);
	fx_snap(g.st, &b);
	FX_SNAP_EQUAL(&a, &b, "taken out and back, against the post first");
	/* A reference the events do not make, under the post's number: verify
	 * sees it (the numbers put back as ids). */
	s_bogus_num = n0;
	s_bogus = &e[N_C3];
	assert_int_equal(store_write(f.st, s_bogus_fn, NULL), 0);
	assert_int_not_equal(event_verify(&f.ctx, &nev, err, sizeof(err)), 0);
	fx_snap_free(&a);
	fx_snap_free(&b);
	fx_close(&g);
	fx_close(&f);
	fx_free(&x);
	s_scene_free(&s);
}

/* s_abort_fn: ingests one event, then fails: the transaction aborts. */
static int
s_abort_fn(store_txn_t *txn, void *arg)
{
	fx_t *f = ((void **)arg)[0];
	const ev_t *e = ((void **)arg)[1];
	const uint8_t *buf = e->buf;
	size_t len = e->len;
	ingest_res_t res;
	int rc = ingest_txn(&f->ctx, txn, &buf, &len, 1, &res);

	assert_int_equal(rc, 0);
	assert_int_equal(res.rc, 0);
	return CPT_EINVAL;
}

/* The reference numbers a transaction asks for are remembered for that
 * transaction (index_ref_memo_begin, from ingest_txn): a batch of a post,
 * comments and reactions on it asks the store once per post, and the rest
 * from the memo; a number given by a transaction that aborts is not
 * remembered into the next (which gives that number to the next envelope).
 * The store answers as one that got the same events one per transaction. */
static void
test_numbers_remembered_per_transaction(void **state)
{
	scene_t s;
	ev_t *e, q[3], qc[2];
	ev_t *batch[8], *one[1];
	void *arg[2];
	ingest_res_t res[8];
	snap_t a, b;
	size_t nev, hits;
	char err[256];
	uint64_t aborted, p2;
	fx_t f, g;

	(void)state;
	s_scene(&s);
	e = s.ev;
	for (int i = 0; i < 4; i++)
		batch[i] = &e[N_CERT + i];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, batch, 4, res), 0);
	/* A comment before its post gives the post a number, in a transaction
	 * that aborts: the number is not kept, by the store nor the memo. */
	arg[0] = &f;
	arg[1] = &e[N_C1];
	assert_int_not_equal(store_write(f.st, s_abort_fn, arg), 0);
	assert_int_equal(s_ref_num(&f, e[N_POST].id), 0);
	/* Bob's post takes the next envelope number: the one the aborted
	 * transaction gave. */
	FX_IN(&f, &e[N_POST2], 0);
	p2 = s_seq(&f, e[N_POST2].id);
	aborted = p2;
	/* The batch: the comment first again (a number for the post, given
	 * now), the post, the reactions and comments on it. */
	batch[0] = &e[N_C1];
	batch[1] = &e[N_POST];
	batch[2] = &e[N_LIKE_B];
	batch[3] = &e[N_LIKE_C];
	batch[4] = &e[N_HEART_C];
	batch[5] = &e[N_C3];
	batch[6] = &e[N_C4];
	assert_int_equal(fx_ingest_n(&f, batch, 7, res), 0);
	for (int i = 0; i < 7; i++)
		assert_int_equal(res[i].rc, 0);
	/* Every one of the seven asks for the post's number several times
	 * (its reference's key, the view, the group's walk and entries, the
	 * registers): all but the first from the memo. */
	hits = index_ref_memo_hits();
	assert_true(hits >= 20);
	assert_true(s_ref_num(&f, e[N_POST].id) > aborted);
	assert_int_equal(s_ref_num(&f, e[N_POST2].id), p2);
	assert_true(s_ref_has(&f, s_ref_num(&f, e[N_POST].id), &e[N_C3]));
	assert_true(s_by_has(&f, s_ref_num(&f, e[N_POST].id), "alice"));
	fx_snap(f.st, &a);
	if (event_verify(&f.ctx, &nev, err, sizeof(err)) != 0)
		fail_msg("verify: %s", err);
	assert_int_equal(nev, 12);
	/* The same events, one transaction each, in the same order. */
	fx_open(&g);
	for (int i = 0; i < 4; i++)
		FX_IN(&g, &e[N_CERT + i], 0);
	FX_IN(&g, &e[N_POST2], 0);
	for (int i = 0; i < 7; i++) {
		one[0] = batch[i];
		assert_int_equal(fx_ingest_n(&g, one, 1, res), 0);
		assert_int_equal(res[0].rc, 0);
	}
	fx_snap(g.st, &b);
	FX_SNAP_EQUAL(&a, &b, "one batch, against one transaction each");
	fx_snap_free(&a);
	fx_snap_free(&b);
	fx_close(&g);
	/* Two posts that never came, each commented in one transaction: two
	 * numbers given in a row, the second above the floor the first raised
	 * (kept for the transaction), neither an envelope's. */
	fx_post(&q[0], K_CAROL, TS(600, 0), "never here 1");
	fx_post(&q[1], K_CAROL, TS(601, 0), "never here 2");
	fx_child(&qc[0], K_BOB, EVT_COMMENT, TS(610, 0), &q[0], "on the first");
	fx_child(&qc[1], K_BOB, EVT_COMMENT, TS(611, 0), &q[1], "on the second");
	fx_post(&q[2], K_BOB, TS(620, 0), "after them");
	batch[0] = &qc[0];
	batch[1] = &qc[1];
	batch[2] = &q[2];
	assert_int_equal(fx_ingest_n(&f, batch, 3, res), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i].rc, 0);
	assert_true(s_ref_num(&f, q[0].id) > 0);
	assert_true(s_ref_num(&f, q[1].id) > s_ref_num(&f, q[0].id));
	assert_true(s_seq(&f, q[2].id) > s_ref_num(&f, q[1].id));
	if (event_verify(&f.ctx, &nev, err, sizeof(err)) != 0)
		fail_msg("verify: %s", err);
	fx_close(&f);
	for (int i = 0; i < 3; i++)
		fx_free(&q[i]);
	fx_free(&qc[0]);
	fx_free(&qc[1]);
	s_scene_free(&s);
}

/* A post stored that nothing referred to before looks for no reference,
 * register or group entry under its number (index_ref_fresh): three posts
 * in one transaction are told so three times each (their view, their
 * group's computation and its entries); a post that a comment in the same
 * transaction referred to first is not, nor one after an entry was put under
 * its number (a mention's group, then a comment in the same transaction:
 * the group's old entries are taken out). The store answers as one that
 * got the same events one per transaction. */
static void
test_fresh_post_looks_for_nothing(void **state)
{
	scene_t s;
	ev_t *e, mp, mc, p3[3];
	ev_t *batch[8], *all[16], *one[1];
	ingest_res_t res[8];
	snap_t a, b;
	size_t nev, n = 0;
	char err[256], text[32];
	fx_t f, g;

	(void)state;
	s_scene(&s);
	e = s.ev;
	fx_open(&f);
	for (int i = 0; i < 4; i++)
		all[n++] = batch[i] = &e[N_CERT + i];
	assert_int_equal(fx_ingest_n(&f, batch, 4, res), 0);
	/* Three posts nothing refers to. */
	for (int i = 0; i < 3; i++) {
		snprintf(text, sizeof(text), "fresh %d", i);
		fx_post(&p3[i], K_BOB, TS(100 + i, 0), text);
		all[n++] = batch[i] = &p3[i];
	}
	assert_int_equal(fx_ingest_n(&f, batch, 3, res), 0);
	assert_int_equal(index_ref_memo_fresh(), 9);
	for (int i = 0; i < 3; i++)
		assert_true(fx_in_feed(&f, &p3[i]));
	/* The comment first: the post has a number before it comes. */
	all[n++] = batch[0] = &e[N_C1];
	all[n++] = batch[1] = &e[N_POST];
	all[n++] = batch[2] = &e[N_LIKE_C];
	all[n++] = batch[3] = &e[N_C3];
	assert_int_equal(fx_ingest_n(&f, batch, 4, res), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(res[i].rc, 0);
	assert_int_equal(index_ref_memo_fresh(), 0);
	/* A post mentioning bob (its group has an entry at once), then carol's
	 * comment on it mentioning him again: the group is computed again, and
	 * bob's entry under its old newest time taken out. */
	fx_post(&mp, K_ALICE, TS(500, 0), "for @bob");
	fx_child(&mc, K_CAROL, EVT_COMMENT, TS(510, 0), &mp, "and me, @bob");
	all[n++] = batch[0] = &mp;
	all[n++] = batch[1] = &mc;
	assert_int_equal(fx_ingest_n(&f, batch, 2, res), 0);
	assert_int_equal(res[0].rc, 0);
	assert_int_equal(res[1].rc, 0);
	/* The post's view, its group (s_compute) and its entries' clearing. */
	assert_int_equal(index_ref_memo_fresh(), 3);
	fx_snap(f.st, &a);
	if (event_verify(&f.ctx, &nev, err, sizeof(err)) != 0)
		fail_msg("verify: %s", err);
	assert_int_equal(nev, n);
	fx_open(&g);
	for (size_t i = 0; i < n; i++) {
		one[0] = all[i];
		assert_int_equal(fx_ingest_n(&g, one, 1, res), 0);
		assert_int_equal(res[0].rc, 0);
	}
	fx_snap(g.st, &b);
	FX_SNAP_EQUAL(&a, &b, "in batches, against one transaction each");
	fx_snap_free(&a);
	fx_snap_free(&b);
	fx_close(&g);
	fx_close(&f);
	for (int i = 0; i < 3; i++)
		fx_free(&p3[i]);
	fx_free(&mp);
	fx_free(&mc);
	s_scene_free(&s);
}

static int
s_setup(void **state)
{
	(void)state;
	fx_keys_init();
	fx_template_init();
	return 0;
}

static int
s_teardown(void **state)
{
	(void)state;
	fx_scratch_free();
	fx_rmtree(s_template);
	fx_keys_free();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_body_rules),
	    cmocka_unit_test(test_mine_box),
	    cmocka_unit_test(test_orders),
	    cmocka_unit_test(test_record_bytes),
	    cmocka_unit_test(test_space_hook),
	    cmocka_unit_test(test_groups_keyed_by_number),
	    cmocka_unit_test(test_number_kept),
	    cmocka_unit_test(test_numbers_remembered_per_transaction),
	    cmocka_unit_test(test_fresh_post_looks_for_nothing),
	};
	return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
