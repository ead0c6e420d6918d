/*
 * The spaces index (node/index/spaces.c) through the single ingest path:
 * a scene of an open and a private space (membership, a removal and a
 * re-join, roles, a key sealed to the site, sealed posts) ingested in
 * hundreds of orders and batchings gives the same databases byte for byte,
 * and the views the scene must give: members, feeds per space (a post counts
 * only when its author is a member at its position), sealed posts opened
 * once their key comes, the main feed, a private space hidden from others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ingest_fixture.h"
#include "node/space/space.h"

enum {
	X_CERT,
	X_EN_ALICE,
	X_EN_BOB,
	X_EN_CAROL,
	X_OPEN,       /* alice makes the open space O */
	X_PRIV,       /* alice makes the private space P, its profile sealed */
	X_KEY,        /* paris seals P's key to itself */
	X_BOB_JOIN,   /* bob joins O at 20 */
	X_BOB_POST1,  /* ... posts at 25: counts */
	X_BOB_LEAVE,  /* ... leaves at 30 */
	X_BOB_POST2,  /* ... posts at 35: does not count */
	X_BOB_JOIN2,  /* ... joins again at 40 */
	X_PROMOTE,    /* alice makes bob an admin of O at 41 */
	X_BOB_POST3,  /* bob posts at 45: counts */
	X_INVITE,     /* alice invites carol to P at 20 */
	X_CAROL_JOIN, /* carol accepts at 21 */
	X_CAROL_POST, /* carol's sealed post at 30: counts */
	X_REMOVE,     /* alice removes carol at 50 */
	X_CAROL_LATE, /* carol's sealed post at 55: does not count */
	X_ALICE_POST, /* alice's sealed post at 60 */
	X_COMMENT,    /* alice's sealed comment on carol's post at 61 */
	/* Comments, reactions and edits count when their author is a member of
	 * the post's space at their position (PROTOCOL.md 16.9). */
	X_BOB_CMT,    /* bob comments on "one" at 26: counts */
	X_CAROL_CMT,  /* carol, never in O, comments on "one" at 27: does not count */
	X_ALICE_LIKE, /* alice likes "one" at 28: counts */
	X_CAROL_LIKE, /* carol likes "one" at 29: does not count */
	X_BOB_LIKE,   /* bob, out of O since 30, likes "one" at 32: does not count */
	X_BOB_EDIT,   /* ... and edits it at 33: does not count */
	X_CLEAR_CMT,  /* alice's comment in clear on carol's sealed post at 62: nowhere */
	X_BOB_CMT_ED, /* bob, out of O, edits his comment "in" at 34: does not count */
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
	      json_pack("{s:s, s:s}", "text", "two", "space", e[X_OPEN].hex));
	s_member(&e[X_BOB_JOIN2], K_BOB, TS(40, 0), &e[X_OPEN], "join", NULL, NULL);
	s_member(&e[X_PROMOTE], K_ALICE, TS(41, 0), &e[X_OPEN], "promote", "bob", "admin");
	fx_mk(&e[X_BOB_POST3], K_BOB, EVT_POST, TS(45, 0),
	      json_pack("{s:s, s:s}", "text", "three", "space", e[X_OPEN].hex));
	s_member(&e[X_INVITE], K_ALICE, TS(20, 0), &e[X_PRIV], "invite", "carol", NULL);
	s_member(&e[X_CAROL_JOIN], K_CAROL, TS(21, 0), &e[X_PRIV], "join", NULL, NULL);
	fx_mk(&e[X_CAROL_POST], K_CAROL, EVT_SEALED, TS(30, 0),
	      json_pack("{s:s, s:o}", "space", e[X_PRIV].hex, "sealed",
	                s_sealed(EVT_SEALED, K_CAROL, e[X_PRIV].id,
	                         json_pack("{s:i, s:s}", "kind", 6, "text", "carol secret"))));
	s_member(&e[X_REMOVE], K_ALICE, TS(50, 0), &e[X_PRIV], "remove", "carol", NULL);
	fx_mk(&e[X_CAROL_LATE], K_CAROL, EVT_SEALED, TS(55, 0),
	      json_pack("{s:s, s:o}", "space", e[X_PRIV].hex, "sealed",
	                s_sealed(EVT_SEALED, K_CAROL, e[X_PRIV].id,
	                         json_pack("{s:i, s:s}", "kind", 6, "text", "too late"))));
	fx_mk(&e[X_ALICE_POST], K_ALICE, EVT_SEALED, TS(60, 0),
	      json_pack("{s:s, s:o}", "space", e[X_PRIV].hex, "sealed",
	                s_sealed(EVT_SEALED, K_ALICE, e[X_PRIV].id,
	                         json_pack("{s:i, s:s}", "kind", 6, "text", "alice secret"))));
	fx_mk(&e[X_COMMENT], K_ALICE, EVT_SEALED, TS(61, 0),
	      json_pack("{s:s, s:o}", "space", e[X_PRIV].hex, "sealed",
	                s_sealed(EVT_SEALED, K_ALICE, e[X_PRIV].id,
	                         json_pack("{s:i, s:s, s:s}", "kind", 7, "post",
	                                   e[X_CAROL_POST].hex, "text", "a sealed reply"))));
	fx_mk(&e[X_BOB_CMT], K_BOB, EVT_COMMENT, TS(26, 0),
	      json_pack("{s:s, s:s}", "post", e[X_BOB_POST1].hex, "text", "in"));
	fx_mk(&e[X_CAROL_CMT], K_CAROL, EVT_COMMENT, TS(27, 0),
	      json_pack("{s:s, s:s}", "post", e[X_BOB_POST1].hex, "text", "out"));
	fx_mk(
	    &e[X_ALICE_LIKE], K_ALICE, EVT_REACTION, TS(28, 0),
	    json_pack("{s:s, s:s, s:b}", "post", e[X_BOB_POST1].hex, "reaction", "like", "on", 1));
	fx_mk(
	    &e[X_CAROL_LIKE], K_CAROL, EVT_REACTION, TS(29, 0),
	    json_pack("{s:s, s:s, s:b}", "post", e[X_BOB_POST1].hex, "reaction", "like", "on", 1));
	fx_mk(&e[X_BOB_LIKE], K_BOB, EVT_REACTION, TS(32, 0),
	      json_pack("{s:s, s:s, s:b}", "post", e[X_BOB_POST1].hex, "reaction", "wow", "on", 1));
	fx_mk(&e[X_BOB_EDIT], K_BOB, EVT_EDIT, TS(33, 0),
	      json_pack("{s:s, s:s}", "post", e[X_BOB_POST1].hex, "text", "one edited while out"));
	fx_mk(&e[X_CLEAR_CMT], K_ALICE, EVT_COMMENT, TS(62, 0),
	      json_pack("{s:s, s:s}", "post", e[X_CAROL_POST].hex, "text", "in clear"));
	fx_mk(&e[X_BOB_CMT_ED], K_BOB, EVT_EDIT, TS(34, 0),
	      json_pack("{s:s, s:s}", "post", e[X_BOB_CMT].hex, "text", "in, edited while out"));
}

/* The texts of a space's feed, newest first, joined by commas. */
static void
s_feed_texts(fx_t *f, const ev_t *space, char *out, size_t cap)
{
	store_txn_t *txn;
	char next[81];
	json_t *items, *p;
	size_t i;

	out[0] = 0;
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	items = query_space_feed(txn, space->id, "paris", NULL, 50, next);
	store_read_end(f->st, &txn);
	json_array_foreach (items, i, p)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "",
		         json_string_value(json_object_get(p, "text")));
	json_decref(items);
}

/* The feeds as the API writes them (stored views spliced as text) are the
 * bytes of the same feeds built as JSON and dumped. */
static void
s_text_same(store_txn_t *txn, const char *handle)
{
	const ev_t *spaces[] = {&s_ev[X_OPEN], &s_ev[X_PRIV]};
	char next[81], next2[81];
	query_text_t t = {0};
	json_t *items;
	char *dump;

	items = query_main_feed(txn, handle, "paris", NULL, 50, next);
	dump = json_dumps(items, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_int_equal(query_main_feed_text(txn, handle, "paris", NULL, 50, next2, &t), 0);
	assert_string_equal(t.p, dump);
	assert_string_equal(next, next2);
	free(dump);
	json_decref(items);
	query_text_free(&t);
	for (size_t i = 0; i < 2; i++) {
		int rc;
		items = query_space_feed_as(txn, spaces[i]->id, handle, "paris", NULL, 50, next);
		rc = query_space_feed_as_text(txn, spaces[i]->id, handle, "paris", NULL, 50, next2,
		                              &t);
		if (items == NULL) {
			assert_int_equal(rc, CPT_ENOTFOUND);
		} else {
			assert_int_equal(rc, 0);
			dump = json_dumps(items, JSON_COMPACT | JSON_ENCODE_ANY);
			assert_string_equal(t.p, dump);
			free(dump);
		}
		json_decref(items);
		query_text_free(&t);
	}
}

static void
s_check(fx_t *f)
{
	store_txn_t *txn;
	json_t *s, *feed, *post;
	char texts[256], next[81];

	s_feed_texts(f, &s_ev[X_OPEN], texts, sizeof(texts));
	assert_string_equal(texts, "three,one");
	s_feed_texts(f, &s_ev[X_PRIV], texts, sizeof(texts));
	assert_string_equal(texts, "alice secret,carol secret");
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	s = query_space(txn, s_ev[X_OPEN].id, "bob", "paris");
	assert_non_null(s);
	assert_string_equal(json_string_value(json_object_get(s, "my_role")), "admin");
	json_decref(s);
	s = query_space(txn, s_ev[X_PRIV].id, "alice", "paris");
	assert_non_null(s);
	assert_string_equal(json_string_value(json_object_get(s, "name")), "Budget");
	assert_int_equal(json_integer_value(json_object_get(s, "member_count")), 1);
	json_decref(s);
	/* Carol was removed: the space and its posts do not exist for her. */
	assert_null(query_space(txn, s_ev[X_PRIV].id, "carol", "paris"));
	assert_null(query_post_as(txn, s_ev[X_ALICE_POST].id, 0, "carol", "paris"));
	assert_null(query_post(txn, s_ev[X_ALICE_POST].id, 0));
	post = query_post_as(txn, s_ev[X_CAROL_POST].id, 1, "alice", "paris");
	assert_non_null(post);
	assert_int_equal(json_integer_value(json_object_get(post, "comments")), 1);
	/* The thread lists what the count counts: not the comment in clear. */
	assert_int_equal(json_array_size(json_object_get(post, "comment_list")), 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(post, "comment_list"), 0), "text")),
	                    "a sealed reply");
	json_decref(post);
	/* Only the members' comment and reaction count on "one"; bob's edit
	 * while out of O does not change its text (checked by the feed above). */
	post = query_post_as(txn, s_ev[X_BOB_POST1].id, 1, "alice", "paris");
	assert_non_null(post);
	assert_int_equal(json_integer_value(json_object_get(post, "comments")), 1);
	/* Its thread too: bob's comment alone, in its text before his edit
	 * made while out of O; carol's comment is no comment of it. */
	s = json_object_get(post, "comment_list");
	assert_int_equal(json_array_size(s), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(s, 0), "text")), "in");
	assert_null(query_comment(txn, s_ev[X_CAROL_CMT].id));
	s = query_comment(txn, s_ev[X_BOB_CMT].id);
	assert_non_null(s);
	assert_string_equal(json_string_value(json_object_get(s, "text")), "in");
	json_decref(s);
	s = json_object_get(post, "reactions");
	assert_int_equal(json_object_size(s), 1);
	assert_int_equal(json_integer_value(json_object_get(s, "like")), 1);
	json_decref(post);
	s_text_same(txn, "alice");
	s_text_same(txn, "bob");
	s_text_same(txn, "carol");
	feed = query_main_feed(txn, "carol", "paris", NULL, 50, next);
	assert_int_equal(json_array_size(feed), 0); /* not in O, removed from P */
	json_decref(feed);
	feed = query_main_feed(txn, "alice", "paris", NULL, 50, next);
	assert_int_equal(json_array_size(feed), 4);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(feed, 0), "space_name")), "Budget");
	json_decref(feed);
	store_read_end(f->st, &txn);
}

/* The figures of the spaces for management as the workbook has them (no
 * private name), as text: what every site holding the scene must give,
 * member site or not (issue 21). */
static char *
s_space_figures(fx_t *f)
{
	store_txn_t *txn;
	json_t *sp;
	char *out;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	sp = query_figures_spaces(txn, T0 + 1000, 1);
	assert_non_null(sp);
	query_figures_spaces_for(txn, sp, NULL, NULL);
	store_read_end(f->st, &txn);
	out = json_dumps(sp, JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(out);
	json_decref(sp);
	return out;
}

/* The line of the private space P in the figures: its sealed messages
 * by members (carol's first post, alice's post and comment; not carol's
 * post after her removal), from two writers. */
static void
s_check_figures(const char *text)
{
	json_t *sp = json_loads(text, 0, NULL), *x, *p = NULL;
	size_t i;

	assert_non_null(sp);
	json_array_foreach (sp, i, x)
		if (strcmp(json_string_value(json_object_get(x, "id")), s_ev[X_PRIV].hex) == 0)
			p = x;
	assert_non_null(p);
	assert_true(json_is_true(json_object_get(p, "sealed")));
	assert_true(json_is_null(json_object_get(p, "name")));
	assert_true(json_is_null(json_object_get(p, "comments")));
	assert_int_equal(json_integer_value(json_object_get(p, "posts")), 3);
	assert_int_equal(json_integer_value(json_object_get(p, "posts_recent")), 3);
	assert_int_equal(json_integer_value(json_object_get(p, "active_members")), 2);
	assert_int_equal(json_integer_value(json_object_get(p, "members")), 1);
	json_decref(sp);
}

static char *s_figs_first; /* the figures of the first order, at the member site */

/* Ingests the scene in list's order in random batches, with a key ring of
 * its own (empty: keys come with the key event, as at a site), and
 * snapshots every database. */
static void
s_run(fx_t *f, ev_t **list, size_t n, uint64_t *seed, snap_t *out)
{
	ingest_res_t res[X_COUNT + 16];
	skey_ring_t *ring = skey_ring_new(16);

	assert_true(n <= X_COUNT + 16);
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
	index_spaces_setup(NULL, NULL, NULL, NULL);
	skey_ring_destroy(&ring);
}

static void
test_orders_converge(void **state)
{
	ev_t *list[X_COUNT];
	snap_t first, s;
	uint64_t seed = 0x5ace5;
	fx_t f;

	(void)state;
	for (int i = 0; i < X_COUNT; i++)
		list[i] = &s_ev[i];
	/* In (timestamp, id) order first, as reindex replays. */
	s_run(&f, list, X_COUNT, &seed, &first);
	s_check(&f);
	s_figs_first = s_space_figures(&f);
	s_check_figures(s_figs_first);
	fx_close(&f);
	for (int run = 0; run < 300; run++) {
		char what[64];
		fx_shuffle(list, X_COUNT, &seed);
		s_run(&f, list, X_COUNT, &seed, &s);
		snprintf(what, sizeof(what), "order %d", run);
		FX_SNAP_EQUAL(&first, &s, what);
		if (run % 50 == 0)
			s_check(&f);
		{
			char *figs = s_space_figures(&f);
			if (strcmp(figs, s_figs_first) != 0)
				fail_msg("%s: figures of the spaces differ:\n%s\n%s", what,
				         s_figs_first, figs);
			free(figs);
		}
		fx_snap_free(&s);
		fx_close(&f);
	}
	fx_snap_free(&first);
}

/* A site without the key stores the sealed events and shows nothing. */
static void
test_no_key_no_content(void **state)
{
	ev_t *list[X_COUNT];
	ingest_res_t res[X_COUNT];
	store_txn_t *txn;
	fx_t f;
	json_t *s;

	(void)state;
	for (int i = 0; i < X_COUNT; i++)
		list[i] = &s_ev[i];
	index_spaces_setup(NULL, NULL, s_fed, "lyon"); /* no ring: not a member site */
	fx_open_scratch(&f);
	assert_int_equal(fx_ingest_n(&f, list, X_COUNT, res), 0);
	assert_int_equal(fx_count(&f, DB_OPENED), 0);
	assert_int_equal(store_read_begin(f.st, &txn), 0);
	s = query_space(txn, s_ev[X_PRIV].id, "alice", "lyon");
	assert_non_null(s); /* membership is in clear (PROTOCOL.md 16.14) */
	assert_true(json_is_null(json_object_get(s, "name")));
	json_decref(s);
	assert_null(query_post_as(txn, s_ev[X_ALICE_POST].id, 0, "alice", "lyon"));
	store_read_end(f.st, &txn);
	/* It counts the private space as the member site does (issue 21). */
	{
		char *figs = s_space_figures(&f);
		assert_non_null(s_figs_first);
		assert_string_equal(figs, s_figs_first);
		free(figs);
	}
	fx_close(&f);
	index_spaces_setup(NULL, NULL, NULL, NULL);
}

/* ------------------------------------------- folds kept between commits */

/* Beyond the scene: a revocation and a new certificate of the site with
 * another seal key (the trust records the folds read change, with no event
 * of a space), redactions of a clear and a sealed post, and a second space
 * joined and posted in. */
enum {
	Y_REVOKE,
	Y_REDACT,
	Y_REDACT_SEALED,
	Y_TEAM,
	Y_TEAM_JOIN,
	Y_TEAM_POST,
	Y_CERT2, /* paris certified again with another seal key: no space's event */
	Y_COUNT
};
static ev_t s_more[Y_COUNT];

static void
s_more_scene(void)
{
	fx_revoke(&s_more[Y_REVOKE], K_PARIS, K_CAROL, HLC_MS(TS(70, 0)), TS(70, 0));
	fx_redact(&s_more[Y_REDACT], K_BOB, TS(71, 0), &s_ev[X_BOB_POST3]);
	fx_redact(&s_more[Y_REDACT_SEALED], K_ALICE, TS(72, 0), &s_ev[X_ALICE_POST]);
	fx_mk(&s_more[Y_TEAM], K_BOB, EVT_SPACE, TS(13, 0),
	      json_pack("{s:s, s:s, s:s}", "visibility", "open", "join", "open", "name", "Team"));
	s_member(&s_more[Y_TEAM_JOIN], K_ALICE, TS(14, 0), &s_more[Y_TEAM], "join", NULL, NULL);
	fx_mk(&s_more[Y_TEAM_POST], K_ALICE, EVT_POST, TS(15, 0),
	      json_pack("{s:s, s:s}", "text", "team", "space", s_more[Y_TEAM].hex));
	{
		char hex[CPT_HEX_ID], seal[CPT_HEX_ID], sk[CPT_HEX_ID];
		fx_mk(&s_more[Y_CERT2], K_ROOT, EVT_SITE_CERT, TS(75, 0),
		      json_pack("{s:s, s:s, s:s, s:s, s:[s], s:I, s:I}", "site", "paris",
		                "sign_key", fx_hexkey(K_PARIS, sk), "curve_key",
		                fx_x25519(0x11, hex), "seal_key", fx_x25519(0x22, seal),
		                "endpoints", "tcp://127.0.0.1:7400", "not_before",
		                (json_int_t)HLC_MS(TS(75, 0)), "not_after", (json_int_t)0));
	}
}

/* The scene and its additions converge over orders through the plain
 * ingest: a certificate with a new seal key folds the spaces of its site
 * again (before, DB_SPACES kept the sites and duties of whichever seal key
 * was there when the space's events came). */
static void
test_more_converge(void **state)
{
	ev_t *list[X_COUNT + Y_COUNT];
	size_t n = 0;
	uint64_t seed = 0xce27;
	snap_t first, s;
	fx_t f;

	(void)state;
	for (int i = 0; i < X_COUNT; i++)
		list[n++] = &s_ev[i];
	for (int i = 0; i < Y_COUNT; i++)
		list[n++] = &s_more[i];
	s_run(&f, list, n, &seed, &first);
	fx_close(&f);
	for (int run = 0; run < 20; run++) {
		char what[64];
		fx_shuffle(list, n, &seed);
		s_run(&f, list, n, &seed, &s);
		snprintf(what, sizeof(what), "order %d", run);
		FX_SNAP_EQUAL(&first, &s, what);
		fx_snap_free(&s);
		fx_close(&f);
	}
	fx_snap_free(&first);
}

/* One bracketed transaction of the node's kind: ingest, then commit or
 * abort (abort = 1: the function fails after ingesting, as a transaction
 * that runs out of room does). */
struct kept_batch {
	fx_t *f;
	ev_t **evs;
	size_t n;
	int abort;
	ingest_res_t *res;
};

static int
s_kept_fn(store_txn_t *txn, void *arg)
{
	struct kept_batch *b = arg;
	const uint8_t *bufs[8];
	size_t lens[8];
	int rc;

	index_txn_begin(&b->f->ctx.ix, txn);
	for (size_t i = 0; i < b->n; i++) {
		bufs[i] = b->evs[i]->buf;
		lens[i] = b->evs[i]->len;
	}
	rc = ingest_txn(&b->f->ctx, txn, bufs, lens, b->n, b->res);
	return rc == 0 && b->abort ? CPT_EINVAL : rc;
}

/* The folds the writer keeps, compared with fresh folds after each of its
 * transactions, committed or aborted, in random orders with another
 * writer's commits between (the CLI's): never ahead of the store, never
 * behind; and the databases at the end are those of the plain ingest. */
static void
test_kept_folds(void **state)
{
	ev_t *list[X_COUNT + Y_COUNT];
	size_t n = 0, compared = 0, aborted = 0;
	uint64_t seed = 0xf01d;
	snap_t first, s;
	fx_t f;

	(void)state;
	for (int i = 0; i < X_COUNT; i++)
		list[n++] = &s_ev[i];
	for (int i = 0; i < Y_COUNT; i++)
		list[n++] = &s_more[i];
	s_run(&f, list, n, &seed, &first);
	fx_close(&f);
	for (int run = 0; run < 40; run++) {
		ingest_res_t res[X_COUNT + Y_COUNT];
		skey_ring_t *ring = skey_ring_new(16);
		fx_t other;
		char what[64], why[160];
		assert_non_null(ring);
		index_spaces_setup(ring, s_seal, s_fed, "paris");
		fx_shuffle(list, n, &seed);
		fx_open_scratch(&f);
		f.ctx.ix.keep_folds = 1;
		memset(&other, 0, sizeof(other));
		other = f; /* the same store, a context of its own */
		memset(&other.ctx.ix, 0, sizeof(other.ctx.ix));
		for (size_t at = 0; at < n;) {
			size_t k = 1 + fx_rand(&seed) % 4;
			uint64_t r = fx_rand(&seed) % 8;
			store_txn_t *txn;
			int rc, got;
			if (k > n - at)
				k = n - at;
			if (r == 0) {
				/* Another writer commits these: the kept folds must go. */
				assert_int_equal(fx_ingest_n(&other, list + at, k, res + at), 0);
				at += k;
				continue;
			}
			struct kept_batch b = {&f, list + at, k, r == 1, res + at};
			rc = store_write(f.st, s_kept_fn, &b);
			index_txn_end(&f.ctx.ix, rc == 0);
			if (r == 1) {
				assert_int_equal(rc, CPT_EINVAL);
				aborted++; /* the same events come again in the next one */
			} else {
				assert_int_equal(rc, 0);
				at += k;
			}
			assert_int_equal(store_read_begin(f.st, &txn), 0);
			got = index_spaces_cache_check(&f.ctx.ix, txn, why, sizeof(why));
			store_read_end(f.st, &txn);
			if (got < 0)
				fail_msg("run %d, after %s of %zu: %s", run,
				         r == 1 ? "an abort" : "a commit", at, why);
			compared += (size_t)got;
		}
		ingest_ctx_release(&other.ctx);
		fx_snap(f.st, &s);
		snprintf(what, sizeof(what), "kept folds, order %d", run);
		FX_SNAP_EQUAL(&first, &s, what);
		fx_snap_free(&s);
		fx_close(&f);
		index_spaces_setup(NULL, NULL, NULL, NULL);
		skey_ring_destroy(&ring);
	}
	/* The check compared something, and aborts happened. */
	assert_true(compared > 100);
	assert_true(aborted > 10);
	fx_snap_free(&first);
}

/* A post in a space in a later transaction uses the fold kept: no fold. */
static void
test_post_folds_nothing(void **state)
{
	ev_t *head[] = {&s_ev[X_CERT], &s_ev[X_EN_ALICE], &s_ev[X_EN_BOB],   &s_ev[X_EN_CAROL],
	                &s_ev[X_OPEN], &s_ev[X_BOB_JOIN], &s_ev[X_BOB_POST1]};
	ev_t *tail[] = {&s_ev[X_BOB_LEAVE], &s_ev[X_BOB_POST2], &s_ev[X_BOB_JOIN2],
	                &s_ev[X_BOB_POST3]};
	ingest_res_t res[8];
	skey_ring_t *ring = skey_ring_new(16);
	fx_t f;
	size_t before;

	(void)state;
	assert_non_null(ring);
	index_spaces_setup(ring, s_seal, s_fed, "paris");
	fx_open_scratch(&f);
	f.ctx.ix.keep_folds = 1;
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++) {
		struct kept_batch b = {&f, &head[i], 1, 0, res};
		assert_int_equal(store_write(f.st, s_kept_fn, &b), 0);
		index_txn_end(&f.ctx.ix, 1);
		assert_int_equal(res[0].rc, 0);
	}
	/* Each post alone, each in its transaction, the space folded already:
	 * a leave and a join fold it again, a post does not. */
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
		struct kept_batch b = {&f, &tail[i], 1, 0, res};
		before = index_spaces_folds(&f.ctx.ix);
		assert_int_equal(store_write(f.st, s_kept_fn, &b), 0);
		index_txn_end(&f.ctx.ix, 1);
		assert_int_equal(res[0].rc, 0);
		if (i % 2 == 1) /* a post */
			assert_int_equal(index_spaces_folds(&f.ctx.ix), before);
		else
			assert_int_equal(index_spaces_folds(&f.ctx.ix), before + 1);
	}
	fx_close(&f);
	index_spaces_setup(NULL, NULL, NULL, NULL);
	skey_ring_destroy(&ring);
}

/* ------------------------------------------- post views, schema 8 */

/* Company-wide posts beside the scene: a mention, escapes, an edit, a
 * deleted post, comments and reactions (names out of byte order). */
enum {
	Z_MENTION,
	Z_ESCAPES,
	Z_EDITED,
	Z_EDIT,
	Z_GONE,
	Z_REDACT,
	Z_CMT1,
	Z_CMT2,
	Z_LIKE1,
	Z_LIKE2,
	Z_ZZ,
	Z_AA,
	Z_AA_OFF,
	Z_COUNT
};
static ev_t s_z[Z_COUNT];

static void
s_z_scene(void)
{
	fx_post(&s_z[Z_MENTION], K_ALICE, TS(70, 0), "Canteen closed @bob and @carol.");
	fx_post(&s_z[Z_ESCAPES], K_BOB, TS(71, 0),
	        "quote \" slash / \xc3\xa9 tab\t line\n \xe2\x80\xa8 <b>x</b>");
	fx_post(&s_z[Z_EDITED], K_CAROL, TS(72, 0), "to be edited");
	fx_child(&s_z[Z_EDIT], K_CAROL, EVT_EDIT, TS(73, 0), &s_z[Z_EDITED], "edited, @alice");
	fx_post(&s_z[Z_GONE], K_ALICE, TS(74, 0), "to be deleted");
	fx_redact(&s_z[Z_REDACT], K_ALICE, TS(75, 0), &s_z[Z_GONE]);
	fx_child(&s_z[Z_CMT1], K_BOB, EVT_COMMENT, TS(76, 0), &s_z[Z_MENTION], "first");
	fx_child(&s_z[Z_CMT2], K_CAROL, EVT_COMMENT, TS(77, 0), &s_z[Z_MENTION], "second");
	fx_react(&s_z[Z_LIKE1], K_BOB, TS(78, 0), &s_z[Z_MENTION], "like", 1);
	fx_react(&s_z[Z_LIKE2], K_CAROL, TS(79, 0), &s_z[Z_MENTION], "like", 1);
	fx_react(&s_z[Z_ZZ], K_ALICE, TS(80, 0), &s_z[Z_MENTION], "zz", 1);
	fx_react(&s_z[Z_AA], K_ALICE, TS(81, 0), &s_z[Z_MENTION], "aa", 1);
	fx_react(&s_z[Z_AA_OFF], K_BOB, TS(82, 0), &s_z[Z_EDITED], "aa", 0);
}

/* The view of post (in space's feed, or the company-wide one) as
 * index_view_get makes it, dumped as schema 7 stored it (sorted keys,
 * compact), against want: a format(author key, id, created, ts) of the
 * stored JSON views, written out here rather than taken from the code. */
static void
s_view_is(fx_t *f, const ev_t *post, int author, uint64_t ts, const ev_t *space, const char *format)
{
	char want[1024], akey[CPT_HEX_ID], tsid[40], *got;
	store_txn_t *txn;
	json_t *v;

	cpt_hex32(akey, fx_pk(author));
	snprintf(want, sizeof(want), format, akey, (unsigned long long)HLC_MS(ts), post->hex,
	         (unsigned long long)ts);
	store_tsid((uint8_t *)tsid, ts, post->id);
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	v = index_view_get(txn, space ? space->id : NULL, (uint8_t *)tsid);
	store_read_end(f->st, &txn);
	assert_non_null(v);
	got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(got, want);
	free(got);
	got = json_dumps(v, JSON_COMPACT);
	assert_string_equal(got, want);
	free(got);
	json_decref(v);
}

/* What the API shows of every post, for each reader, as one text. */
static char *
s_answers(fx_t *f)
{
	const char *who[] = {"alice", "bob", "carol"};
	const ev_t *posts[] = {&s_ev[X_BOB_POST1],  &s_ev[X_BOB_POST3], &s_ev[X_CAROL_POST],
	                       &s_ev[X_ALICE_POST], &s_z[Z_MENTION],    &s_z[Z_ESCAPES],
	                       &s_z[Z_EDITED],      &s_z[Z_GONE]};
	const ev_t *spaces[] = {&s_ev[X_OPEN], &s_ev[X_PRIV]};
	query_text_t all = {0}, t = {0};
	store_txn_t *txn;
	char next[81], *figs;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	for (size_t w = 0; w < 3; w++) {
		assert_int_equal(query_main_feed_text(txn, who[w], "paris", NULL, 50, next, &t), 0);
		query_text_add(&all, t.p, t.len);
		query_text_free(&t);
		for (size_t i = 0; i < 2; i++)
			if (query_space_feed_as_text(txn, spaces[i]->id, who[w], "paris", NULL, 50,
			                             next, &t) == 0) {
				query_text_add(&all, t.p, t.len);
				query_text_free(&t);
			}
		for (size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
			json_t *p = query_post_as(txn, posts[i]->id, 1, who[w], "paris");
			query_text_add(&all, "\n", 1);
			if (p)
				query_text_json(&all, p);
			json_decref(p);
		}
	}
	{
		json_t *feed = query_feed(txn, NULL, 50, next);
		query_text_json(&all, feed);
		json_decref(feed);
	}
	store_read_end(f->st, &txn);
	figs = s_space_figures(f);
	query_text_add(&all, figs, strlen(figs));
	free(figs);
	assert_false(all.oom);
	return all.p;
}

/* The views of db back as schema 7 held them (JSON in old), keeping only
 * the first keep records of db: the state a step to schema 8 killed after
 * moving keep records leaves. */
struct to7 {
	size_t keep_feed;  /* records of DB_FEED kept */
	size_t keep_space; /* of DB_SPACE_FEED */
};

static int
s_back_to_7(store_txn_t *txn, enum store_db db, enum store_db old, size_t keep)
{
	store_cur_t *cur;
	store_val_t k, v;
	size_t n = 0;
	int rc;

	assert_int_equal(store_cur_open(txn, db, &cur), 0);
	for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		uint8_t key[CPT_ID_LEN + 40];
		size_t p = db == DB_SPACE_FEED ? CPT_ID_LEN : 0;
		json_t *j =
		    index_view_json(txn, p ? k.data : NULL, (const uint8_t *)k.data + p, &v, NULL);
		assert_non_null(j);
		assert_int_equal(k.len, p + 40);
		memcpy(key, k.data, k.len);
		assert_int_equal(store_put_json(txn, old, key, p + 40, j), 0);
		json_decref(j);
		if (n++ >= keep)
			assert_int_equal(store_cur_del(cur), 0);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

static int
s_to7_fn(store_txn_t *txn, void *arg)
{
	const struct to7 *a = arg;
	uint8_t v[8];
	int rc;

	store_put_u64(v, 7);
	if ((rc = s_back_to_7(txn, DB_FEED, DB_FEED_V7, a->keep_feed)) != 0 ||
	    (rc = s_back_to_7(txn, DB_SPACE_FEED, DB_SPACE_FEED_V7, a->keep_space)) != 0)
		return rc;
	return store_meta_put(txn, "schema", v, 8);
}

/* A store of schema 7 (post views as JSON) is moved to schema 8 when
 * opened: the same databases as a store made by this version, and the same
 * answers, byte for byte, for every reader; also when the step was killed
 * after some of its transactions (they commit records in key order, DB_FEED
 * first: what is moved is a prefix). */
static void
test_views_move_to_8(void **state)
{
	ev_t *list[X_COUNT + Z_COUNT];
	snap_t first, s;
	uint64_t seed = 0x8;
	char *want, *got, err[256] = "";
	size_t n = 0, nf, ns;
	fx_t f;
	const struct to7 cases[] = {{0, 0}, {1, 0}, {3, 0}, {(size_t)-1, 1}, {(size_t)-1, 0}};

	(void)state;
	for (int i = 0; i < X_COUNT; i++)
		list[n++] = &s_ev[i];
	for (int i = 0; i < Z_COUNT; i++)
		list[n++] = &s_z[i];
	s_run(&f, list, n, &seed, &first);
	want = s_answers(&f);
	/* The scene has what the records hold: an edit, reactions, comments,
	 * mentions, sealed posts; and the views are small. */
	assert_non_null(strstr(want, "\"edited\":"));
	assert_non_null(strstr(want, "\"text\":\"edited, @alice\""));
	assert_non_null(strstr(want, "\"mentions\":[\"bob\",\"carol\"]"));
	assert_non_null(strstr(want, "\"reactions\":{\"aa\":1,\"like\":2,\"zz\":1}"));
	assert_non_null(strstr(want, "\"text\":\"alice secret\""));
	assert_null(strstr(want, "to be deleted"));
	/* The feed's text (index_view_text: without parsing a clear post's
	 * body) is the JSON path's, here with escapes, edits, mentions. */
	{
		store_txn_t *txn;
		assert_int_equal(store_read_begin(f.st, &txn), 0);
		s_text_same(txn, "alice");
		s_text_same(txn, "carol");
		store_read_end(f.st, &txn);
	}
	/* The views as schema 7 stored them, member for member. */
	s_view_is(&f, &s_z[Z_MENTION], K_ALICE, TS(70, 0), NULL,
	          "{\"author\":\"alice\",\"author_key\":\"%s\",\"comments\":2,\"created\":%llu,"
	          "\"edited\":null,\"id\":\"%s\",\"mentions\":[\"bob\",\"carol\"],\"reactions\":"
	          "{\"aa\":1,\"like\":2,\"zz\":1},\"text\":\"Canteen closed @bob and @carol.\","
	          "\"ts\":%llu}");
	s_view_is(
	    &f, &s_z[Z_ESCAPES], K_BOB, TS(71, 0), NULL,
	    "{\"author\":\"bob\",\"author_key\":\"%s\",\"comments\":0,\"created\":%llu,"
	    "\"edited\":null,\"id\":\"%s\",\"mentions\":[],\"reactions\":{},\"text\":"
	    "\"quote \\\" slash / \xc3\xa9 tab\\t line\\n \xe2\x80\xa8 <b>x</b>\",\"ts\":%llu}");
	s_view_is(
	    &f, &s_z[Z_EDITED], K_CAROL, TS(72, 0), NULL,
	    "{\"author\":\"carol\",\"author_key\":\"%s\",\"comments\":0,\"created\":%llu,"
	    "\"edited\":1700000000073,\"id\":\"%s\",\"mentions\":[\"alice\"],\"reactions\":{},"
	    "\"text\":\"edited, @alice\",\"ts\":%llu}");
	{
		char fmt[512], sp[CPT_HEX_ID];
		cpt_hex32(sp, s_ev[X_PRIV].id);
		snprintf(fmt, sizeof(fmt),
		         "{\"author\":\"alice\",\"author_key\":\"%%s\",\"comments\":0,\"created\":"
		         "%%llu,\"edited\":null,\"id\":\"%%s\",\"mentions\":[],\"reactions\":{},"
		         "\"space\":\"%s\",\"text\":\"alice secret\",\"ts\":%%llu}",
		         sp);
		s_view_is(&f, &s_ev[X_ALICE_POST], K_ALICE, TS(60, 0), &s_ev[X_PRIV], fmt);
	}
	nf = fx_count(&f, DB_FEED);
	ns = fx_count(&f, DB_SPACE_FEED);
	if (nf < 3 || ns < 3)
		fail_msg("%zu company-wide views, %zu in spaces", nf, ns);
	fx_close(&f);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct to7 a = cases[c];
		uint8_t v[8];
		size_t len = sizeof(v);
		store_txn_t *txn;
		char what[64];
		s_run(&f, list, n, &seed, &s);
		fx_snap_free(&s);
		assert_int_equal(store_write(f.st, s_to7_fn, &a), 0);
		assert_int_equal(fx_count(&f, DB_FEED_V7), nf);
		assert_int_equal(fx_count(&f, DB_SPACE_FEED_V7), ns);
		store_close(&f.st);
		if (index_store_open(&f.st, f.dir, 0, err, sizeof(err)) != 0)
			fail_msg("index_store_open: %s", err);
		s_scratch_st = f.st; /* the shared scratch store, opened again */
		fx_snap(f.st, &s);
		snprintf(what, sizeof(what), "schema 7 moved to 8, case %zu", c);
		FX_SNAP_EQUAL(&first, &s, what);
		fx_snap_free(&s);
		assert_int_equal(store_read_begin(f.st, &txn), 0);
		assert_int_equal(store_meta_get(txn, "schema", v, &len), 0);
		store_read_end(f.st, &txn);
		assert_int_equal(store_get_u64(v), INDEX_SCHEMA); /* and the steps after 8 */
		got = s_answers(&f);
		assert_string_equal(got, want);
		free(got);
		fx_close(&f);
	}
	fx_snap_free(&first);
	free(want);
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
	s_more_scene();
	s_z_scene();
	return 0;
}

static int
s_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < X_COUNT; i++)
		fx_free(&s_ev[i]);
	free(s_figs_first);
	s_figs_first = NULL;
	for (int i = 0; i < Y_COUNT; i++)
		fx_free(&s_more[i]);
	for (int i = 0; i < Z_COUNT; i++)
		fx_free(&s_z[i]);
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
	    cmocka_unit_test(test_orders_converge),    cmocka_unit_test(test_no_key_no_content),
	    cmocka_unit_test(test_more_converge),      cmocka_unit_test(test_kept_folds),
	    cmocka_unit_test(test_post_folds_nothing), cmocka_unit_test(test_views_move_to_8),
	};

	return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
