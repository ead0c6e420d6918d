/*
 * Notifications of spaces (PROTOCOL.md 17.3) through the single ingest path:
 * a scene of an open, a private and a request-to-join space with mentions,
 * a sealed comment, a removal, a request and an invitation, ingested in many
 * orders and batchings, gives the same databases byte for byte (and again
 * after reindex); a private space's posts notify only its members.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ingest_fixture.h"
#include "node/event/event_internal.h"
#include "node/space/space.h"

enum {
	X_CERT,
	X_EN_ALICE,
	X_EN_BOB,
	X_EN_CAROL,
	X_EN_DAVE,
	X_OPEN,       /* alice makes the open space O */
	X_PRIV,       /* alice makes the private space P, its profile sealed */
	X_REQ_SPACE,  /* alice makes R, open, joined on request */
	X_KEY,        /* paris seals P's key to itself */
	X_BOB_JOIN,   /* bob joins O at 20 */
	X_BOB_POST1,  /* ... posts at 25: counts */
	X_BOB_LEAVE,  /* ... leaves at 30 */
	X_BOB_POST2,  /* ... posts "@alice" at 35: does not count, notifies nobody */
	X_BOB_JOIN2,  /* ... joins again at 40 */
	X_PROMOTE,    /* alice makes bob an admin of O at 41 */
	X_BOB_POST3,  /* bob posts "@carol" at 45 in O (open): carol hears */
	X_INVITE,     /* alice invites carol to P at 20 */
	X_CAROL_JOIN, /* carol accepts at 21 */
	X_CAROL_POST, /* carol's sealed post "@alice" at 30: alice hears */
	X_REMOVE,     /* alice removes carol at 50 */
	X_CAROL_LATE, /* carol's sealed post at 55: does not count */
	X_ALICE_POST, /* alice's sealed post "@bob" at 60: bob, not a member, hears nothing */
	X_COMMENT, /* alice's sealed comment on carol's post at 61: carol, removed, hears nothing */
	X_BOB_ASKS,    /* bob asks to join R at 70: alice, its owner, hears */
	X_INVITE_DAVE, /* alice invites dave to P at 71: dave hears */
	X_DAVE_FOLLOW, /* dave follows O at 72: its posts in his For you feed */
	X_COUNT
};

static key_curve_t *s_seal;
static skey_ring_t *s_author_ring; /* the writers' keys, to make the scene */
static uint8_t s_key[SKEY_ID_LEN];
static ev_t s_ev[X_COUNT];

static json_t *
s_sealed(uint16_t kind, int author, const uint8_t *space, json_t *plain)
{
	skey_ctx_t c = {s_fed, kind, fx_pk(author), space};
	json_t *sealed = NULL;

	assert_int_equal(space_seal(&sealed, s_author_ring, s_key, &c, plain), 0);
	json_decref(plain);
	return sealed;
}

static void
s_member(ev_t *e, int k, uint64_t ts, const ev_t *space, const char *action, const char *user,
         const char *role)
{
	json_t *b = json_pack("{s:s, s:s}", "space", space->hex, "action", action);

	if (user)
		json_object_set_new(b, "user", json_string(user));
	if (role)
		json_object_set_new(b, "role", json_string(role));
	fx_mk(e, k, EVT_SPACE_MEMBER, ts, b);
}

static void
s_scene(void)
{
	ev_t *e = s_ev;
	char hex[CPT_HEX_ID], seal[CPT_HEX_ID], sk[CPT_HEX_ID];
	json_t *b;

	cpt_hex32(seal, key_curve_public(s_seal));
	/* Protocol version 2: keys are valid points, the certificate is valid
	 * from its own time (PROTOCOL.md 7.1). */
	fx_mk(&e[X_CERT], K_ROOT, EVT_SITE_CERT, TS(1, 0),
	      json_pack("{s:s, s:s, s:s, s:s, s:[s], s:I, s:I}", "site", "paris", "sign_key",
	                fx_hexkey(K_PARIS, sk), "curve_key", fx_x25519(0x11, hex), "seal_key", seal,
	                "endpoints", "tcp://127.0.0.1:7400", "not_before",
	                (json_int_t)HLC_MS(TS(1, 0)), "not_after", (json_int_t)0));
	fx_enrol(&e[X_EN_ALICE], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	fx_enrol(&e[X_EN_BOB], K_PARIS, K_BOB, "bob", "paris", "member", TS(2, 1));
	fx_enrol(&e[X_EN_CAROL], K_PARIS, K_CAROL, "carol", "paris", "member", TS(2, 2));
	fx_enrol(&e[X_EN_DAVE], K_PARIS, K_DAVE, "dave", "paris", "member", TS(2, 3));
	fx_mk(
	    &e[X_REQ_SPACE], K_ALICE, EVT_SPACE, TS(13, 0),
	    json_pack("{s:s, s:s, s:s}", "visibility", "open", "join", "request", "name", "Choir"));
	s_member(&e[X_BOB_ASKS], K_BOB, TS(70, 0), &e[X_REQ_SPACE], "request", NULL, NULL);
	fx_mk(&e[X_OPEN], K_ALICE, EVT_SPACE, TS(10, 0),
	      json_pack("{s:s, s:s, s:s}", "visibility", "open", "join", "open", "name", "Hiking"));
	b = json_pack("{s:s, s:s, s:o}", "visibility", "private", "join", "invite", "sealed",
	              s_sealed(EVT_SPACE, K_ALICE, NULL,
	                       json_pack("{s:s, s:s}", "name", "Budget", "description", "2025")));
	fx_mk(&e[X_PRIV], K_ALICE, EVT_SPACE, TS(11, 0), b);
	{
		uint8_t pk[CPT_KEY_LEN];
		memcpy(pk, key_curve_public(s_seal), CPT_KEY_LEN);
		assert_int_equal(space_key_body(&b, s_author_ring, e[X_PRIV].id, s_key,
		                                (const uint8_t(*)[CPT_KEY_LEN]) & pk, 1),
		                 0);
		fx_mk(&e[X_KEY], K_PARIS, EVT_SPACE_KEY, TS(12, 0), b);
	}
	s_member(&e[X_BOB_JOIN], K_BOB, TS(20, 0), &e[X_OPEN], "join", NULL, NULL);
	fx_mk(&e[X_BOB_POST1], K_BOB, EVT_POST, TS(25, 0),
	      json_pack("{s:s, s:s}", "text", "one", "space", e[X_OPEN].hex));
	s_member(&e[X_BOB_LEAVE], K_BOB, TS(30, 0), &e[X_OPEN], "leave", NULL, NULL);
	fx_mk(&e[X_BOB_POST2], K_BOB, EVT_POST, TS(35, 0),
	      json_pack("{s:s, s:s}", "text", "two @alice", "space", e[X_OPEN].hex));
	s_member(&e[X_BOB_JOIN2], K_BOB, TS(40, 0), &e[X_OPEN], "join", NULL, NULL);
	s_member(&e[X_PROMOTE], K_ALICE, TS(41, 0), &e[X_OPEN], "promote", "bob", "admin");
	fx_mk(&e[X_BOB_POST3], K_BOB, EVT_POST, TS(45, 0),
	      json_pack("{s:s, s:s}", "text", "three @carol", "space", e[X_OPEN].hex));
	s_member(&e[X_INVITE], K_ALICE, TS(20, 0), &e[X_PRIV], "invite", "carol", NULL);
	s_member(&e[X_CAROL_JOIN], K_CAROL, TS(21, 0), &e[X_PRIV], "join", NULL, NULL);
	fx_mk(
	    &e[X_CAROL_POST], K_CAROL, EVT_SEALED, TS(30, 0),
	    json_pack("{s:s, s:o}", "space", e[X_PRIV].hex, "sealed",
	              s_sealed(EVT_SEALED, K_CAROL, e[X_PRIV].id,
	                       json_pack("{s:i, s:s}", "kind", 6, "text", "carol secret @alice"))));
	s_member(&e[X_REMOVE], K_ALICE, TS(50, 0), &e[X_PRIV], "remove", "carol", NULL);
	fx_mk(&e[X_CAROL_LATE], K_CAROL, EVT_SEALED, TS(55, 0),
	      json_pack("{s:s, s:o}", "space", e[X_PRIV].hex, "sealed",
	                s_sealed(EVT_SEALED, K_CAROL, e[X_PRIV].id,
	                         json_pack("{s:i, s:s}", "kind", 6, "text", "too late"))));
	fx_mk(&e[X_ALICE_POST], K_ALICE, EVT_SEALED, TS(60, 0),
	      json_pack("{s:s, s:o}", "space", e[X_PRIV].hex, "sealed",
	                s_sealed(EVT_SEALED, K_ALICE, e[X_PRIV].id,
	                         json_pack("{s:i, s:s}", "kind", 6, "text", "alice secret @bob"))));
	fx_mk(&e[X_COMMENT], K_ALICE, EVT_SEALED, TS(61, 0),
	      json_pack("{s:s, s:o}", "space", e[X_PRIV].hex, "sealed",
	                s_sealed(EVT_SEALED, K_ALICE, e[X_PRIV].id,
	                         json_pack("{s:i, s:s, s:s}", "kind", 7, "post",
	                                   e[X_CAROL_POST].hex, "text", "a sealed reply"))));
	s_member(&e[X_INVITE_DAVE], K_ALICE, TS(71, 0), &e[X_PRIV], "invite", "dave", NULL);
	fx_mk(&e[X_DAVE_FOLLOW], K_DAVE, EVT_FOLLOW, TS(72, 0),
	      json_pack("{s:s, s:s, s:b}", "what", "space", "target", e[X_OPEN].hex, "on", 1));
}

struct find {
	const uint8_t *group;
	json_t *rec;
	size_t groups;
};

static int
s_find_fn(void *arg, uint64_t latest, const uint8_t group[CPT_ID_LEN], uint64_t n, const char *rec,
          size_t len)
{
	struct find *f = arg;

	(void)latest;
	(void)n;
	f->groups++;
	if (f->group && memcmp(group, f->group, CPT_ID_LEN) == 0)
		f->rec = json_loadb(rec, len, 0, NULL);
	return 0;
}

/* handle's record of group (NULL: none; a new reference), and how many
 * groups handle has in all. */
static json_t *
s_group(fx_t *f, const char *handle, const ev_t *group, size_t *groups)
{
	store_txn_t *txn;
	struct find fd = {group ? group->id : NULL, NULL, 0};

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	assert_int_equal(index_notify_each(txn, handle, NULL, s_find_fn, &fd), 0);
	store_read_end(f->st, &txn);
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

/* The texts of k's For you feed, newest first, joined by commas. */
static void
s_foryou(fx_t *f, int k, char *out, size_t cap)
{
	store_txn_t *txn;
	char next[81];
	json_t *items, *p;
	size_t i;

	out[0] = 0;
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	items = query_foryou(txn, fx_pk(k), NULL, 50, next);
	store_read_end(f->st, &txn);
	assert_non_null(items);
	json_array_foreach (items, i, p)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "",
		         json_string_value(json_object_get(p, "text")));
	json_decref(items);
}

/* What the scene must give, whatever the order. */
static void
s_check(fx_t *f)
{
	json_t *rec;
	size_t groups;

	/* Alice: carol's sealed post mentions her (read from its plaintext);
	 * bob asks to join R, which she owns. Not bob's "two @alice", posted
	 * in O while he was not a member. */
	rec = s_group(f, "alice", &s_ev[X_CAROL_POST], &groups);
	assert_non_null(rec);
	assert_int_equal(s_n(rec, "mention"), 1);
	assert_string_equal(s_by0(rec, "mention"), "carol");
	json_decref(rec);
	rec = s_group(f, "alice", &s_ev[X_REQ_SPACE], NULL);
	assert_non_null(rec);
	assert_int_equal(s_n(rec, "space_request"), 1);
	assert_string_equal(s_by0(rec, "space_request"), "bob");
	json_decref(rec);
	assert_int_equal(groups, 2);
	/* Bob: mentioned in a private space he is not in: nothing. */
	assert_null(s_group(f, "bob", NULL, &groups));
	assert_int_equal(groups, 0);
	/* Carol: the mention in the open space O, whose member she is not;
	 * not alice's comment on her post of P, where she was removed. */
	rec = s_group(f, "carol", &s_ev[X_BOB_POST3], &groups);
	assert_non_null(rec);
	assert_int_equal(s_n(rec, "mention"), 1);
	json_decref(rec);
	assert_int_equal(groups, 1);
	/* Dave: invited to P. */
	rec = s_group(f, "dave", &s_ev[X_PRIV], &groups);
	assert_non_null(rec);
	assert_int_equal(s_n(rec, "space_invite"), 1);
	assert_string_equal(s_by0(rec, "space_invite"), "alice");
	json_decref(rec);
	assert_int_equal(groups, 1);
	assert_int_equal(fx_count(f, DB_NOTIFY), 4);
}

/* How many groups handle's list shows with one preference per space set
 * (space.<hex of sp> = v), and the types of the first. */
static size_t
s_listed(fx_t *f, const char *handle, const ev_t *sp, const char *v, char *types, size_t cap)
{
	store_txn_t *txn;
	char name[80];
	query_notify_opts_t o = {NULL, 50, 0, 0, 0};
	json_t *mine = json_pack("{s:{}}", "prefs"), *out, *t;
	const char *ty;
	size_t n;

	snprintf(name, sizeof(name), "space.%s", sp->hex);
	json_object_set_new(json_object_get(mine, "prefs"), name, json_string(v));
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	out = query_notifications(txn, mine, handle, &o);
	store_read_end(f->st, &txn);
	assert_non_null(out);
	n = json_array_size(json_object_get(out, "items"));
	types[0] = 0;
	json_object_foreach (
	    json_object_get(json_array_get(json_object_get(out, "items"), 0), "types"), ty, t)
		snprintf(types + strlen(types), cap - strlen(types), "%s%s", types[0] ? "," : "",
		         ty);
	json_decref(out);
	json_decref(mine);
	return n;
}

/* Preferences per space (PROTOCOL.md 17.4): "off" hides a space's groups,
 * its posts' and its own; "mentions" keeps only mentions, requests and
 * invitations; another space's preference changes nothing. */
static void
s_check_prefs(fx_t *f)
{
	char types[128];

	assert_int_equal(s_listed(f, "carol", &s_ev[X_OPEN], "off", types, sizeof(types)), 0);
	assert_int_equal(s_listed(f, "carol", &s_ev[X_OPEN], "mentions", types, sizeof(types)), 1);
	assert_string_equal(types, "mention");
	assert_int_equal(s_listed(f, "carol", &s_ev[X_PRIV], "off", types, sizeof(types)), 1);
	assert_int_equal(s_listed(f, "alice", &s_ev[X_PRIV], "off", types, sizeof(types)), 1);
	assert_string_equal(types, "space_request"); /* R's, not P's post */
	assert_int_equal(s_listed(f, "alice", &s_ev[X_REQ_SPACE], "off", types, sizeof(types)), 1);
	assert_string_equal(types, "mention");
	assert_int_equal(s_listed(f, "alice", &s_ev[X_REQ_SPACE], "mentions", types, sizeof(types)),
	                 2);
	assert_int_equal(s_listed(f, "dave", &s_ev[X_PRIV], "off", types, sizeof(types)), 0);
	assert_int_equal(s_listed(f, "dave", &s_ev[X_PRIV], "all", types, sizeof(types)), 1);
}

/* The For you feed with spaces (PROTOCOL.md 17.6): my spaces' posts (P's
 * sealed ones opened, O's that count), those of a space I follow, my own;
 * never a post of a space I may not read, nor one that does not count. */
static void
s_check_foryou(fx_t *f)
{
	char texts[512];

	s_foryou(f, K_ALICE, texts, sizeof(texts));
	assert_string_equal(texts, "alice secret @bob,three @carol,carol secret @alice,one");
	s_foryou(f, K_BOB, texts, sizeof(texts)); /* not "two": it does not count in O */
	assert_string_equal(texts, "three @carol,one");
	s_foryou(f, K_CAROL, texts, sizeof(texts)); /* removed from P */
	assert_string_equal(texts, "");
	s_foryou(f, K_DAVE, texts, sizeof(texts)); /* follows O; only invited to P */
	assert_string_equal(texts, "three @carol,one");
}

/* Ingests the scene in list's order in random batches, with a key ring of
 * its own; snapshots every database (after a reindex when reindex). */
static void
s_run(fx_t *f, ev_t **list, size_t n, uint64_t *seed, snap_t *out, snap_t *reindexed)
{
	ingest_res_t res[X_COUNT];
	skey_ring_t *ring = skey_ring_new(16);
	char err[256];

	assert_non_null(ring);
	index_spaces_setup(ring, s_seal, s_fed, "paris");
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
	if (reindexed) {
		if (event_reindex(&f->ctx, err, sizeof(err)) != 0)
			fail_msg("reindex: %s", err);
		fx_snap(f->st, reindexed);
	}
	index_spaces_setup(NULL, NULL, NULL, NULL);
	skey_ring_destroy(&ring);
}

static void
test_orders_converge(void **state)
{
	ev_t *list[X_COUNT];
	snap_t first, s;
	uint64_t seed = 0x17e18;
	fx_t f;

	(void)state;
	for (int i = 0; i < X_COUNT; i++)
		list[i] = &s_ev[i];
	/* In (timestamp, id) order first, then reindexed: the same bytes. */
	s_run(&f, list, X_COUNT, &seed, &first, &s);
	s_check(&f);
	s_check_foryou(&f);
	s_check_prefs(&f);
	FX_SNAP_EQUAL(&first, &s, "reindex");
	fx_snap_free(&s);
	fx_close(&f);
	for (int run = 0; run < 200; run++) {
		char what[64];
		fx_shuffle(list, X_COUNT, &seed);
		s_run(&f, list, X_COUNT, &seed, &s, NULL);
		snprintf(what, sizeof(what), "order %d", run);
		FX_SNAP_EQUAL(&first, &s, what);
		if (run % 40 == 0)
			s_check(&f);
		fx_snap_free(&s);
		fx_close(&f);
	}
	fx_snap_free(&first);
}

static int
s_setup(void **state)
{
	(void)state;
	fx_keys_init();
	fx_template_init();
	assert_non_null(s_seal = key_curve_new());
	assert_non_null(s_author_ring = skey_ring_new(4));
	assert_int_equal(skey_ring_generate(s_author_ring, s_key), 0);
	s_scene();
	return 0;
}

static int
s_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < X_COUNT; i++)
		fx_free(&s_ev[i]);
	skey_ring_destroy(&s_author_ring);
	key_curve_destroy(&s_seal);
	fx_keys_free();
	fx_rmtree(s_template);
	fx_scratch_free();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_orders_converge),
	};

	return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
