/*
 * Unit tests for the single ingest path (node/event/, node/index/:
 * ingest, the indexes, reindex and verify): the trust chain and pending events, revocations and
 * their purge, redactions, views that are the same whatever order events arrive in, mentions, and
 * reindex/verify giving back exactly the views ingest made.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "node/event/event.h"
#include "tests/unit/ingest_fixture.h"

/* ------------------------------------------------------------ helpers */

/* The trust events most tests start from: paris and lyon certified; alice,
 * bob, carol members of paris, dave its admin. */
typedef struct world {
	ev_t cert_paris; /* root certifies paris */
	ev_t cert_lyon;  /* root certifies lyon */
	ev_t en_alice;   /* paris enrols alice */
	ev_t en_bob;     /* paris enrols bob */
	ev_t en_carol;   /* paris enrols carol */
	ev_t en_dave;    /* paris enrols dave, admin */
} world_t;

static void
s_world(world_t *w)
{
	fx_cert(&w->cert_paris, K_PARIS, "paris", TS(1, 0));
	fx_cert(&w->cert_lyon, K_LYON, "lyon", TS(1, 1));
	fx_enrol(&w->en_alice, K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	fx_enrol(&w->en_bob, K_PARIS, K_BOB, "bob", "paris", "member", TS(2, 1));
	fx_enrol(&w->en_carol, K_PARIS, K_CAROL, "carol", "paris", "member", TS(2, 2));
	fx_enrol(&w->en_dave, K_PARIS, K_DAVE, "dave", "paris", "admin", TS(2, 3));
}

static void
s_world_free(world_t *w)
{
	fx_free(&w->cert_paris);
	fx_free(&w->cert_lyon);
	fx_free(&w->en_alice);
	fx_free(&w->en_bob);
	fx_free(&w->en_carol);
	fx_free(&w->en_dave);
}

static void
s_world_in(fx_t *f, world_t *w)
{
	FX_IN(f, &w->cert_paris, 0);
	FX_IN(f, &w->cert_lyon, 0);
	FX_IN(f, &w->en_alice, 0);
	FX_IN(f, &w->en_bob, 0);
	FX_IN(f, &w->en_carol, 0);
	FX_IN(f, &w->en_dave, 0);
}

static const char *
s_text(const json_t *view)
{
	return json_string_value(json_object_get(view, "text"));
}

static json_int_t
s_int(const json_t *obj, const char *name)
{
	return json_integer_value(json_object_get(obj, name));
}

/* ----------------------------------------------------------- trust */

static void
test_user_pending_until_enrolled(void **state)
{
	fx_t f;
	world_t w;
	ev_t post, prof;
	json_t *v;

	(void)state;
	s_world(&w);
	fx_post(&post, K_ALICE, TS(10, 0), "early bird");
	fx_mk(&prof, K_ALICE, EVT_PROFILE, TS(11, 0),
	      json_pack("{s:{s:s}}", "fields", "name", "Alice"));
	fx_open(&f);
	FX_IN(&f, &w.cert_paris, 0);
	FX_IN(&f, &post, CPT_EPENDING);
	FX_IN(&f, &prof, CPT_EPENDING);
	/* Sent again while it waits: still one copy. */
	FX_IN(&f, &post, CPT_EPENDING);
	assert_int_equal(fx_count(&f, DB_PENDING), 2);
	/* Found by id too (sync does not ask for it again), under the key it
	 * waits for. */
	{
		uint8_t ik[CPT_ID_LEN + CPT_KEY_LEN];
		memcpy(ik, post.id, CPT_ID_LEN);
		memcpy(ik + CPT_ID_LEN, fx_pk(K_ALICE), CPT_KEY_LEN);
		assert_int_equal(fx_count(&f, DB_PENDING_IDS), 2);
		assert_true(fx_has(&f, DB_PENDING_IDS, ik, sizeof(ik)));
	}
	assert_int_equal(fx_stored_len(&f, &post), 0);
	assert_false(fx_in_feed(&f, &post));
	assert_null(fx_post_view(&f, &post));

	FX_IN(&f, &w.en_alice, 0);
	assert_int_equal(fx_count(&f, DB_PENDING), 0);
	assert_int_equal(fx_count(&f, DB_PENDING_IDS), 0);
	assert_int_equal(fx_stored_len(&f, &post), post.len);
	assert_true(fx_in_feed(&f, &post));
	v = fx_post_view(&f, &post);
	assert_non_null(v);
	assert_string_equal(s_text(v), "early bird");
	assert_string_equal(json_string_value(json_object_get(v, "author")), "alice");
	json_decref(v);
	v = fx_person(&f, "alice");
	assert_non_null(v);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(v, "profile"), "name")), "Alice");
	json_decref(v);
	FX_IN(&f, &post, CPT_EEXIST);
	fx_close(&f);
	fx_free(&post);
	fx_free(&prof);
	s_world_free(&w);
}

static void
test_enrol_waits_for_site_cert(void **state)
{
	fx_t f;
	world_t w;
	ev_t post, backup;
	json_t *v;

	(void)state;
	s_world(&w);
	fx_post(&post, K_ALICE, TS(10, 0), "hello");
	fx_backup(&backup, K_ALICE, TS(9, 0), "alice", 1);
	fx_open(&f);
	/* Nothing known yet: the enrolment waits for its site, the post for the
	 * enrolment. */
	FX_IN(&f, &w.en_alice, CPT_EPENDING);
	FX_IN(&f, &post, CPT_EPENDING);
	FX_IN(&f, &backup, CPT_EPENDING);
	assert_int_equal(fx_count(&f, DB_PENDING), 3);
	assert_int_equal(fx_env_count(&f), 0);
	assert_int_equal(fx_count(&f, DB_KEYS), 0);

	FX_IN(&f, &w.cert_paris, 0);
	assert_int_equal(fx_count(&f, DB_PENDING), 0);
	assert_int_equal(fx_env_count(&f), 4);
	assert_true(fx_has(&f, DB_KEYS, fx_pk(K_ALICE), CPT_KEY_LEN));
	assert_true(fx_has(&f, DB_BACKUPS, fx_pk(K_ALICE), CPT_KEY_LEN));
	assert_true(fx_in_feed(&f, &post));
	v = fx_post_view(&f, &post);
	assert_string_equal(s_text(v), "hello");
	json_decref(v);
	fx_close(&f);
	fx_free(&post);
	fx_free(&backup);
	s_world_free(&w);
}

/* The events of one transaction read their author's key record once: the
 * record stays cached from one event to the next unless an event changes
 * the trust state (it was emptied after every event, and each one parsed
 * its author's record again: 4% of a receiving node's CPU during a fill). */
static void
test_key_records_cached_in_a_batch(void **state)
{
	fx_t f;
	world_t w;
	ev_t posts[20], *pp[20];
	ingest_res_t res[20];
	char text[32];
	size_t before;

	(void)state;
	s_world(&w);
	fx_open(&f);
	s_world_in(&f, &w);
	for (int i = 0; i < 20; i++) {
		snprintf(text, sizeof(text), "post %d", i);
		fx_post(&posts[i], K_ALICE, TS(100 + i, 0), text);
		pp[i] = &posts[i];
	}
	before = index_cache_reads(&f.ctx.ix);
	assert_int_equal(fx_ingest_n(&f, pp, 20, res), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(res[i].rc, 0);
	/* Alice's record, and what judging her reads beside it (her site's). */
	assert_in_range(index_cache_reads(&f.ctx.ix) - before, 1, 3);
	for (int i = 0; i < 20; i++)
		assert_true(fx_in_feed(&f, &posts[i]));
	fx_close(&f);
	for (int i = 0; i < 20; i++)
		fx_free(&posts[i]);
	s_world_free(&w);
}

/* A site certificate's optional title (the name staff read): kept in the
 * site's key record, replaced by a newer certificate, refused when it is not
 * 1 to 64 bytes without control characters. */
static void
test_site_title(void **state)
{
	fx_t f;
	ev_t e;
	char hex[CPT_HEX_ID], curve[CPT_HEX_ID], seal[CPT_HEX_ID];
	const char *bad[] = {"", "two\nlines", "tab\there",
	                     "0123456789012345678901234567890123456789012345678901234567890123x",
	                     NULL};
	size_t len;
	uint8_t *rec;

	(void)state;
	memset(curve, 'c', 64);
	curve[64] = 0;
#define CERT(title_json, ts)                                                                       \
	fx_mk(&e, K_ROOT, EVT_SITE_CERT, ts,                                                       \
	      json_pack("{s:s, s:o, s:s, s:s, s:s, s:[s], s:I, s:I}", "site", "paris", "title",    \
	                title_json, "sign_key", fx_hexkey(K_PARIS, hex), "curve_key",              \
	                fx_x25519(0x11, curve), "seal_key", fx_x25519(0x22, seal), "endpoints",    \
	                "tcp://127.0.0.1:7400", "not_before", (json_int_t)HLC_MS(ts), "not_after", \
	                (json_int_t)0))
	fx_open(&f);
	for (int i = 0; bad[i]; i++) {
		CERT(json_string(bad[i]), TS(5, i));
		FX_IN(&f, &e, CPT_EINVAL);
		fx_free(&e);
	}
	CERT(json_integer(7), TS(6, 0));
	FX_IN(&f, &e, CPT_EINVAL);
	fx_free(&e);
	assert_int_equal(fx_count(&f, DB_KEYS), 0);

	CERT(json_string("Entrepôt de Paris"), TS(10, 0));
	FX_IN(&f, &e, 0);
	fx_free(&e);
	rec = fx_get(&f, DB_KEYS, fx_pk(K_PARIS), CPT_KEY_LEN, &len);
	assert_non_null(rec);
	assert_non_null(memmem(rec, len, "\"title\":\"Entrepôt de Paris\"",
	                       strlen("\"title\":\"Entrepôt de Paris\"")));
	free(rec);
	/* A newer certificate without a title: the site has none any more. */
	fx_cert(&e, K_PARIS, "paris", TS(20, 0));
	FX_IN(&f, &e, 0);
	fx_free(&e);
	rec = fx_get(&f, DB_KEYS, fx_pk(K_PARIS), CPT_KEY_LEN, &len);
	assert_non_null(rec);
	assert_null(memmem(rec, len, "\"title\"", 7));
	free(rec);
#undef CERT
	fx_close(&f);
}

static void
test_only_users_write_content(void **state)
{
	fx_t f;
	world_t w;
	ev_t e;
	char hex[CPT_HEX_ID];

	(void)state;
	s_world(&w);
	fx_open(&f);
	s_world_in(&f, &w);
	/* Root and site keys vouch; they do not post. */
	fx_post(&e, K_ROOT, TS(10, 0), "from the root");
	FX_IN(&f, &e, CPT_EPERM);
	fx_free(&e);
	fx_post(&e, K_PARIS, TS(10, 0), "from the site");
	FX_IN(&f, &e, CPT_EPERM);
	fx_free(&e);
	fx_mk(&e, K_PARIS, EVT_PROFILE, TS(10, 0), json_pack("{s:{s:s}}", "fields", "name", "x"));
	FX_IN(&f, &e, CPT_EPERM);
	fx_free(&e);
	/* Only the root certifies, only a site enrols, users revoke nothing. */
	{
		/* A valid body (PROTOCOL.md 8.1: the body rules come first). */
		char ck[CPT_HEX_ID], xk[CPT_HEX_ID];
		fx_mk(&e, K_PARIS, EVT_SITE_CERT, TS(10, 0),
		      json_pack("{s:s, s:s, s:s, s:s, s:[], s:I, s:I}", "site", "rogue", "sign_key",
		                fx_hexkey(K_OTHER_ROOT, hex), "curve_key", fx_x25519(0x11, ck),
		                "seal_key", fx_x25519(0x22, xk), "endpoints", "not_before",
		                (json_int_t)(T0 + 10), "not_after", (json_int_t)0));
	}
	FX_IN(&f, &e, CPT_EPERM);
	fx_free(&e);
	fx_enrol(&e, K_ROOT, K_OTHER_ROOT, "eve", "paris", "admin", TS(10, 0));
	FX_IN(&f, &e, CPT_EPERM);
	fx_free(&e);
	/* Version 2: a user key signing an enrolment waits (author.not_site):
	 * only a certificate naming it could make it valid. */
	fx_enrol(&e, K_ALICE, K_OTHER_ROOT, "eve", "paris", "admin", TS(10, 0));
	FX_IN(&f, &e, CPT_EPENDING);
	fx_free(&e);
	fx_revoke(&e, K_ALICE, K_BOB, T0, TS(10, 0));
	FX_IN(&f, &e, CPT_EPENDING);
	fx_free(&e);
	/* The root cannot be revoked inside its own federation. */
	fx_revoke(&e, K_ROOT, K_ROOT, T0, TS(10, 0));
	FX_IN(&f, &e, CPT_EPERM);
	fx_free(&e);
	assert_false(fx_has(&f, DB_KEYS, fx_pk(K_OTHER_ROOT), CPT_KEY_LEN));
	assert_int_equal(fx_count(&f, DB_REVOKED), 0);
	assert_int_equal(fx_env_count(&f), 6);
	/* The enrolment and the revocation alice signed wait (author.not_site). */
	assert_int_equal(fx_count(&f, DB_PENDING), 2);
	fx_close(&f);
	s_world_free(&w);
}

/* A site's enrolment that waits depends on two keys: its signer's windows and
 * whether the key it names is a site's. When that key is certified as a site
 * while the enrolment waits for a window, the enrolment is refused for good
 * and not kept (PROTOCOL.md 8.3: enrol.site_key), whatever the order. */
static void
test_waiting_enrolment_of_a_site_key(void **state)
{
	fx_t f;
	world_t w;
	ev_t en, cert_alice;

	(void)state;
	s_world(&w);
	fx_enrol(&en, K_PARIS, K_ALICE, "alice", "lyon", "member", TS(20, 0));
	fx_cert(&cert_alice, K_ALICE, "alice-site", TS(30, 0));
	fx_open(&f);
	FX_IN(&f, &w.cert_paris, 0);
	FX_IN(&f, &en, CPT_EPENDING); /* paris has no window named lyon */
	assert_int_equal(fx_count(&f, DB_PENDING), 1);
	FX_IN(&f, &cert_alice, 0);
	assert_int_equal(fx_count(&f, DB_PENDING), 0);
	FX_IN(&f, &en, CPT_EPERM);
	fx_close(&f);
	fx_free(&en);
	fx_free(&cert_alice);
	s_world_free(&w);
}

static void
test_site_enrols_for_itself_only(void **state)
{
	fx_t f;
	world_t w;
	ev_t bad, good, post;

	(void)state;
	s_world(&w);
	fx_enrol(&bad, K_PARIS, K_OTHER_ROOT, "eve", "lyon", "admin", TS(10, 0));
	fx_enrol(&good, K_LYON, K_OTHER_ROOT, "eve", "lyon", "member", TS(11, 0));
	fx_post(&post, K_OTHER_ROOT, TS(12, 0), "eve posts");
	fx_open(&f);
	FX_IN(&f, &w.cert_paris, 0);
	FX_IN(&f, &w.cert_lyon, 0);
	/* Version 2: paris has no window named lyon; only a certificate could
	 * change that, so the enrolment waits (site.window). */
	FX_IN(&f, &bad, CPT_EPENDING);
	assert_false(fx_has(&f, DB_KEYS, fx_pk(K_OTHER_ROOT), CPT_KEY_LEN));
	assert_false(fx_has(&f, DB_HANDLES, "eve", 3));
	FX_IN(&f, &post, CPT_EPENDING);
	FX_IN(&f, &good, 0);
	assert_int_equal(fx_stored_len(&f, &post), post.len);
	fx_close(&f);
	fx_free(&bad);
	fx_free(&good);
	fx_free(&post);
	s_world_free(&w);
}

static void
test_revoked_key_refused_from_effective_time(void **state)
{
	fx_t f;
	world_t w;
	ev_t rv, rv_later, rv_bob, before, at, after, bob_after;
	size_t len;
	uint8_t *v;

	(void)state;
	s_world(&w);
	fx_revoke(&rv, K_PARIS, K_ALICE, T0 + 100, TS(200, 0));
	fx_revoke(&rv_later, K_ROOT, K_ALICE, T0 + 150, TS(201, 0));
	fx_revoke(&rv_bob, K_ROOT, K_BOB, T0 + 50, TS(202, 0));
	fx_post(&before, K_ALICE, HLC_MAKE(T0 + 99, 0xffff), "just before");
	fx_post(&at, K_ALICE, TS(100, 0), "at the time");
	fx_post(&after, K_ALICE, TS(150, 3), "after");
	fx_post(&bob_after, K_BOB, TS(60, 0), "bob after");
	fx_open(&f);
	s_world_in(&f, &w);
	FX_IN(&f, &rv, 0);
	FX_IN(&f, &rv_later, 0);
	FX_IN(&f, &rv_bob, 0);
	/* The smallest effective time wins. */
	v = fx_get(&f, DB_REVOKED, fx_pk(K_ALICE), CPT_KEY_LEN, &len);
	assert_int_equal(len, 8);
	assert_int_equal(store_get_u64(v), T0 + 100);
	free(v);
	FX_IN(&f, &before, 0);
	FX_IN(&f, &at, CPT_EREVOKED);
	FX_IN(&f, &after, CPT_EREVOKED);
	FX_IN(&f, &bob_after, CPT_EREVOKED);
	assert_int_equal(fx_stored_len(&f, &at), 0);
	assert_int_equal(fx_stored_len(&f, &after), 0);
	assert_true(fx_in_feed(&f, &before));
	assert_false(fx_in_feed(&f, &at));
	/* Version 2: what only the site's revocation covers is kept aside
	 * (the root may still undo it); the root's covers the rest for good. */
	assert_int_equal(fx_count(&f, DB_PENDING), 1);
	fx_close(&f);
	fx_free(&rv);
	fx_free(&rv_later);
	fx_free(&rv_bob);
	fx_free(&before);
	fx_free(&at);
	fx_free(&after);
	fx_free(&bob_after);
	s_world_free(&w);
}

/* Events by alice, some after the time her key is revoked from (T0+100). */
typedef struct purge_set {
	ev_t p1;      /* alice's post before */
	ev_t p2;      /* alice's post after: purged */
	ev_t c_alice; /* alice's comment on p1 after, mentioning bob: purged */
	ev_t c_bob;   /* bob's comment on p2: stays */
	ev_t r_alice; /* alice likes p1 after: purged */
	ev_t r_bob;   /* bob likes p1: stays */
	ev_t prof1;   /* alice's profile before */
	ev_t prof2;   /* alice's profile after: purged */
	ev_t kb1;     /* key backup before */
	ev_t kb2;     /* key backup after: purged */
	ev_t rd;      /* alice redacts p1 after: purged, p1 keeps its body */
	ev_t rv;      /* the revocation */
} purge_set_t;

static void
s_purge_set(purge_set_t *p)
{
	fx_post(&p->p1, K_ALICE, TS(50, 0), "before");
	fx_post(&p->p2, K_ALICE, TS(150, 0), "after");
	fx_child(&p->c_alice, K_ALICE, EVT_COMMENT, TS(160, 0), &p->p1, "hi @bob");
	fx_child(&p->c_bob, K_BOB, EVT_COMMENT, TS(161, 0), &p->p2, "reply");
	fx_react(&p->r_alice, K_ALICE, TS(170, 0), &p->p1, "like", 1);
	fx_react(&p->r_bob, K_BOB, TS(171, 0), &p->p1, "like", 1);
	fx_mk(&p->prof1, K_ALICE, EVT_PROFILE, TS(60, 0),
	      json_pack("{s:{s:s, s:s}}", "fields", "name", "Alice", "title", "Old"));
	fx_mk(&p->prof2, K_ALICE, EVT_PROFILE, TS(180, 0),
	      json_pack("{s:{s:s}}", "fields", "title", "Hacked"));
	fx_backup(&p->kb1, K_ALICE, TS(70, 0), "alice", 1);
	fx_backup(&p->kb2, K_ALICE, TS(190, 0), "alice", 2);
	fx_redact(&p->rd, K_ALICE, TS(195, 0), &p->p1);
	fx_revoke(&p->rv, K_PARIS, K_ALICE, T0 + 100, TS(300, 0));
}

static void
s_purge_set_free(purge_set_t *p)
{
	ev_t *all[] = {&p->p1,    &p->p2,    &p->c_alice, &p->c_bob, &p->r_alice, &p->r_bob,
	               &p->prof1, &p->prof2, &p->kb1,     &p->kb2,   &p->rd,      &p->rv};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		fx_free(all[i]);
}

static void
test_late_revocation_purges(void **state)
{
	fx_t f, g;
	world_t w;
	purge_set_t p;
	ev_t *content[11];
	snap_t late, early;
	json_t *v, *prof;
	size_t len;
	uint8_t *b;

	(void)state;
	s_world(&w);
	s_purge_set(&p);
	content[0] = &p.p1;
	content[1] = &p.p2;
	content[2] = &p.c_alice;
	content[3] = &p.c_bob;
	content[4] = &p.r_alice;
	content[5] = &p.r_bob;
	content[6] = &p.prof1;
	content[7] = &p.prof2;
	content[8] = &p.kb1;
	content[9] = &p.kb2;
	content[10] = &p.rd;

	/* Everything first, the revocation last. */
	fx_open(&f);
	s_world_in(&f, &w);
	for (size_t i = 0; i < 11; i++)
		FX_IN(&f, content[i], 0);
	assert_true(fx_mentioned(&f, "bob", &p.c_alice));
	assert_int_equal(fx_stored_len(&f, &p.p1), EVT_FIXED_LEN);
	FX_IN(&f, &p.rv, 0);
	assert_int_equal(fx_stored_len(&f, &p.p2), 0);
	assert_int_equal(fx_stored_len(&f, &p.c_alice), 0);
	assert_int_equal(fx_stored_len(&f, &p.r_alice), 0);
	assert_int_equal(fx_stored_len(&f, &p.prof2), 0);
	assert_int_equal(fx_stored_len(&f, &p.kb2), 0);
	assert_int_equal(fx_stored_len(&f, &p.rd), 0);
	assert_int_equal(fx_stored_len(&f, &p.c_bob), p.c_bob.len);
	assert_false(fx_in_feed(&f, &p.p2));
	assert_null(fx_post_view(&f, &p.p2));
	assert_false(fx_mentioned(&f, "bob", &p.c_alice));
	/* The redaction was purged with the key: the body it erased is not
	 * here any more, so the event goes too and comes back whole from a
	 * peer that kept it. */
	assert_int_equal(fx_stored_len(&f, &p.p1), 0);
	assert_int_equal(fx_count(&f, DB_TOMBSTONES), 0);
	FX_IN(&f, &p.p1, 0);
	assert_true(fx_in_feed(&f, &p.p1));
	v = fx_post_view(&f, &p.p1);
	assert_non_null(v);
	assert_string_equal(s_text(v), "before");
	assert_int_equal(s_int(v, "comments"), 0);
	assert_int_equal(s_int(json_object_get(v, "reactions"), "like"), 1);
	json_decref(v);
	v = fx_person(&f, "alice");
	prof = json_object_get(v, "profile");
	assert_string_equal(json_string_value(json_object_get(prof, "title")), "Old");
	assert_true(json_is_true(json_object_get(v, "disabled")));
	json_decref(v);
	b = fx_get(&f, DB_BACKUPS, fx_pk(K_ALICE), CPT_KEY_LEN, &len);
	assert_int_equal(len, 8 + CPT_ID_LEN);
	assert_memory_equal(b + 8, p.kb1.id, CPT_ID_LEN);
	free(b);
	fx_snap(f.st, &late);

	/* The revocation first: the same views. */
	fx_open(&g);
	s_world_in(&g, &w);
	FX_IN(&g, &p.rv, 0);
	for (size_t i = 0; i < 11; i++) {
		int rc = fx_in(&g, content[i]);
		assert_true(rc == 0 || rc == CPT_EREVOKED);
	}
	fx_snap(g.st, &early);
	FX_SNAP_EQUAL(&late, &early, "revocation first or last");
	fx_snap_free(&late);
	fx_snap_free(&early);
	fx_close(&f);
	fx_close(&g);
	s_purge_set_free(&p);
	s_world_free(&w);
}

static void
test_revocation_waits_for_enrolment(void **state)
{
	fx_t f;
	world_t w;
	ev_t rv, post;

	(void)state;
	s_world(&w);
	fx_revoke(&rv, K_PARIS, K_ALICE, T0 + 100, TS(300, 0));
	fx_post(&post, K_ALICE, TS(150, 0), "after");
	fx_open(&f);
	/* The site's revocation of a user it has not shown us yet waits for
	 * the enrolment, and is admitted when it comes. */
	FX_IN(&f, &w.cert_paris, 0);
	FX_IN(&f, &rv, CPT_EPENDING);
	FX_IN(&f, &w.en_alice, 0);
	assert_int_equal(fx_count(&f, DB_PENDING), 0);
	assert_int_equal(fx_stored_len(&f, &rv), rv.len);
	assert_true(fx_has(&f, DB_REVOKED, fx_pk(K_ALICE), CPT_KEY_LEN));
	FX_IN(&f, &post, CPT_EREVOKED);
	fx_close(&f);

	/* Nothing known at all: the revocation waits for its site, then for the
	 * user; the site's certificate last must not loop. */
	fx_open(&f);
	FX_IN(&f, &rv, CPT_EPENDING);
	FX_IN(&f, &post, CPT_EPENDING);
	FX_IN(&f, &w.en_alice, CPT_EPENDING);
	assert_int_equal(fx_count(&f, DB_PENDING), 3);
	FX_IN(&f, &w.cert_paris, 0);
	/* The post stays, aside: only the site's revocation covers it. */
	assert_int_equal(fx_count(&f, DB_PENDING), 1);
	assert_int_equal(fx_stored_len(&f, &rv), rv.len);
	assert_int_equal(fx_stored_len(&f, &post), 0);
	assert_true(fx_has(&f, DB_REVOKED, fx_pk(K_ALICE), CPT_KEY_LEN));
	fx_close(&f);
	fx_free(&rv);
	fx_free(&post);
	s_world_free(&w);
}

static void
test_wrong_federation(void **state)
{
	fx_t f;
	world_t w;
	ev_t e;
	uint8_t other[CPT_FED_LEN];

	(void)state;
	s_world(&w);
	evt_federation_id(other, fx_pk(K_OTHER_ROOT));
	fx_open(&f);
	s_world_in(&f, &w);
	fx_mk_fed(&e, other, K_ALICE, EVT_POST, TS(10, 0), json_pack("{s:s}", "text", "elsewhere"));
	FX_IN(&f, &e, CPT_EFEDERATION);
	fx_free(&e);
	fx_mk_fed(&e, other, K_OTHER_ROOT, EVT_SITE_CERT, TS(10, 0),
	          json_pack("{s:s, s:s, s:s, s:[], s:I, s:I}", "site", "rogue", "sign_key",
	                    "4444444444444444444444444444444444444444444444444444444444444444",
	                    "curve_key",
	                    "4444444444444444444444444444444444444444444444444444444444444444",
	                    "endpoints", "not_before", (json_int_t)0, "not_after", (json_int_t)0));
	FX_IN(&f, &e, CPT_EFEDERATION);
	fx_free(&e);
	assert_int_equal(fx_env_count(&f), 6);
	assert_int_equal(fx_count(&f, DB_PENDING), 0);
	fx_close(&f);
	s_world_free(&w);
}

static void
test_duplicate(void **state)
{
	fx_t f;
	world_t w;
	ev_t post;
	ev_t *twice[2] = {&post, &post};
	ingest_res_t res[2];

	(void)state;
	s_world(&w);
	fx_post(&post, K_BOB, TS(10, 0), "once");
	fx_open(&f);
	s_world_in(&f, &w);
	assert_int_equal(fx_ingest_n(&f, twice, 2, res), 0);
	assert_int_equal(res[0].rc, 0);
	assert_int_equal(res[1].rc, CPT_EEXIST);
	assert_memory_equal(res[1].id, post.id, CPT_ID_LEN);
	FX_IN(&f, &post, CPT_EEXIST);
	FX_IN(&f, &w.cert_paris, CPT_EEXIST);
	assert_int_equal(fx_env_count(&f), 7);
	assert_int_equal(fx_count(&f, DB_FEED), 1);
	fx_close(&f);
	fx_free(&post);
	s_world_free(&w);
}

static void
test_bad_event_does_not_fail_batch(void **state)
{
	fx_t f;
	world_t w;
	ev_t posts[10], *list[10];
	ingest_res_t res[10];

	(void)state;
	s_world(&w);
	for (int i = 0; i < 10; i++) {
		char text[32];
		snprintf(text, sizeof(text), "post %d", i);
		fx_post(&posts[i], K_BOB, TS(10 + i, 0), text);
		list[i] = &posts[i];
	}
	posts[4].buf[EVT_HEADER_LEN + 5] ^= 0x20; /* a signature byte */
	fx_open(&f);
	s_world_in(&f, &w);
	assert_int_equal(fx_ingest_n(&f, list, 10, res), 0);
	for (int i = 0; i < 10; i++) {
		if (i == 4) {
			assert_int_equal(res[i].rc, CPT_ESIG);
			assert_int_equal(fx_stored_len(&f, &posts[i]), 0);
		} else {
			assert_int_equal(res[i].rc, 0);
			assert_int_equal(fx_stored_len(&f, &posts[i]), posts[i].len);
			assert_true(fx_in_feed(&f, &posts[i]));
		}
	}
	assert_int_equal(fx_count(&f, DB_FEED), 9);
	fx_close(&f);
	for (int i = 0; i < 10; i++)
		fx_free(&posts[i]);
	s_world_free(&w);
}

static void
test_pending_cap(void **state)
{
	fx_t f;
	world_t w;
	ev_t posts[4];
	ingest_res_t res;

	(void)state;
	s_world(&w);
	for (int i = 0; i < 4; i++)
		fx_post(&posts[i], K_ALICE, TS(10 + i, 0), "waiting");
	fx_open(&f);
	f.ctx.max_pending = 3;
	FX_IN(&f, &w.cert_paris, 0);
	for (int i = 0; i < 3; i++)
		FX_IN(&f, &posts[i], CPT_EPENDING);
	assert_int_equal(fx_raw(&f, posts[3].buf, posts[3].len, &res), CPT_EFULL);
	assert_int_equal(fx_count(&f, DB_PENDING), 3);
	assert_int_equal(fx_env_count(&f), 1);
	/* One already waiting is not refused for want of room. */
	FX_IN(&f, &posts[1], CPT_EPENDING);
	FX_IN(&f, &w.en_alice, 0);
	assert_int_equal(fx_count(&f, DB_PENDING), 0);
	for (int i = 0; i < 3; i++)
		assert_true(fx_in_feed(&f, &posts[i]));
	assert_false(fx_in_feed(&f, &posts[3]));
	assert_int_equal(fx_stored_len(&f, &posts[3]), 0);
	fx_close(&f);
	for (int i = 0; i < 4; i++)
		fx_free(&posts[i]);
	s_world_free(&w);
}

/* ------------------------------------------------------ order independence */

/* A small world of concurrent changes. Indexes into ev[] are named. */
enum {
	S_CERT,
	S_EN_ALICE,
	S_EN_BOB,
	S_EN_CAROL,
	S_PROF_A1,
	S_PROF_A2,
	S_PROF_A3,
	S_PROF_A4,
	S_PROF_A5,
	S_PROF_B1,
	S_POST,
	S_POST2,
	S_EDIT_A0,
	S_EDIT_A1,
	S_EDIT_A2,
	S_EDIT_BOB,
	S_LIKE_BOB_ON,
	S_LIKE_BOB_OFF,
	S_LIKE_CAROL,
	S_LIKE_ALICE,
	S_HEART_CAROL,
	S_HEART_BOB_ON,
	S_HEART_BOB_OFF,
	S_C1,
	S_C2,
	S_C3,
	S_REDACT_C2,
	S_KB1,
	S_KB2,
	S_COUNT,                 /* the events every run has */
	S_REDACT_POST = S_COUNT, /* only in some runs */
	S_ALL
};

typedef struct scene {
	ev_t ev[S_ALL]; /* indexed by the enum above */
} scene_t;

static void
s_scene(scene_t *s)
{
	ev_t *e = s->ev;

	fx_cert(&e[S_CERT], K_PARIS, "paris", TS(1, 0));
	fx_enrol(&e[S_EN_ALICE], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	fx_enrol(&e[S_EN_BOB], K_PARIS, K_BOB, "bob", "paris", "member", TS(2, 1));
	fx_enrol(&e[S_EN_CAROL], K_PARIS, K_CAROL, "carol", "paris", "member", TS(2, 2));
	/* Same ms, the greater counter wins "name"; the older "title" loses;
	 * "department" has a single writer; "phone" is set then cleared. */
	fx_mk(&e[S_PROF_A1], K_ALICE, EVT_PROFILE, TS(100, 0),
	      json_pack("{s:{s:s, s:s}}", "fields", "name", "Alice A", "title", "Engineer"));
	fx_mk(&e[S_PROF_A2], K_ALICE, EVT_PROFILE, TS(100, 1),
	      json_pack("{s:{s:s}}", "fields", "name", "Alice B"));
	fx_mk(&e[S_PROF_A3], K_ALICE, EVT_PROFILE, TS(90, 5),
	      json_pack("{s:{s:s, s:s}}", "fields", "title", "Intern", "department", "R&D"));
	fx_mk(
	    &e[S_PROF_A4], K_ALICE, EVT_PROFILE, TS(110, 0),
	    json_pack("{s:{s:s, s:[s, s]}}", "fields", "phone", "+33 1 23", "skills", "C", "LMDB"));
	fx_mk(&e[S_PROF_A5], K_ALICE, EVT_PROFILE, TS(130, 0),
	      json_pack("{s:{s:n}}", "fields", "phone"));
	fx_mk(&e[S_PROF_B1], K_BOB, EVT_PROFILE, TS(100, 0),
	      json_pack("{s:{s:s}}", "fields", "name", "Bob"));
	fx_post(&e[S_POST], K_ALICE, TS(200, 0), "hello @bob");
	fx_post(&e[S_POST2], K_BOB, TS(205, 0), "second post");
	fx_child(&e[S_EDIT_A0], K_ALICE, EVT_EDIT, TS(250, 0), &e[S_POST], "v0");
	fx_child(&e[S_EDIT_A1], K_ALICE, EVT_EDIT, TS(300, 0), &e[S_POST], "v1");
	fx_child(&e[S_EDIT_A2], K_ALICE, EVT_EDIT, TS(300, 1), &e[S_POST], "v2");
	fx_child(&e[S_EDIT_BOB], K_BOB, EVT_EDIT, TS(400, 0), &e[S_POST], "hijacked");
	fx_react(&e[S_LIKE_BOB_ON], K_BOB, TS(210, 0), &e[S_POST], "like", 1);
	fx_react(&e[S_LIKE_BOB_OFF], K_BOB, TS(220, 0), &e[S_POST], "like", 0);
	fx_react(&e[S_LIKE_CAROL], K_CAROL, TS(215, 0), &e[S_POST], "like", 1);
	fx_react(&e[S_LIKE_ALICE], K_ALICE, TS(230, 0), &e[S_POST], "like", 1);
	fx_react(&e[S_HEART_CAROL], K_CAROL, TS(240, 0), &e[S_POST], "heart", 1);
	/* Same timestamp: the greater id wins. */
	fx_react(&e[S_HEART_BOB_ON], K_BOB, TS(241, 0), &e[S_POST], "heart", 1);
	fx_react(&e[S_HEART_BOB_OFF], K_BOB, TS(241, 0), &e[S_POST], "heart", 0);
	fx_child(&e[S_C1], K_BOB, EVT_COMMENT, TS(260, 0), &e[S_POST], "nice @alice");
	fx_child(&e[S_C2], K_CAROL, EVT_COMMENT, TS(270, 0), &e[S_POST], "@bob look");
	fx_child(&e[S_C3], K_ALICE, EVT_COMMENT, TS(280, 0), &e[S_POST], "thanks");
	fx_redact(&e[S_REDACT_C2], K_CAROL, TS(290, 0), &e[S_C2]);
	fx_backup(&e[S_KB1], K_ALICE, TS(50, 0), "alice", 1);
	fx_backup(&e[S_KB2], K_ALICE, TS(60, 0), "alice", 2);
	fx_redact(&e[S_REDACT_POST], K_ALICE, TS(500, 0), &e[S_POST]);
}

static void
s_scene_free(scene_t *s)
{
	for (int i = 0; i < S_ALL; i++)
		fx_free(&s->ev[i]);
}

/* Ingests list in order in batches of random sizes into a new store (in a
 * new directory when fresh is set, else the emptied scratch store) and
 * snapshots it. Each event must be stored or wait; nothing waits at the end.
 * The store stays open in f. */
static void
s_run(fx_t *f, ev_t **list, size_t n, uint64_t *seed, snap_t *out, int fresh)
{
	ingest_res_t *res = calloc(n, sizeof(*res));

	assert_non_null(res);
	if (fresh)
		fx_open(f);
	else
		fx_open_scratch(f);
	for (size_t at = 0; at < n;) {
		size_t k = 1 + (seed ? fx_rand(seed) % 6 : n);
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
	free(res);
}

/* The values the scene must give, whatever the order. */
static void
s_scene_check(fx_t *f, scene_t *s, int post_redacted)
{
	ev_t *e = s->ev;
	json_t *v, *prof, *reactions;
	size_t len;
	uint8_t *b;
	int bob_heart = memcmp(e[S_HEART_BOB_ON].id, e[S_HEART_BOB_OFF].id, CPT_ID_LEN) > 0;

	/* The post. */
	v = fx_post_view(f, &e[S_POST]);
	if (post_redacted) {
		assert_null(v);
		assert_false(fx_in_feed(f, &e[S_POST]));
		assert_int_equal(fx_stored_len(f, &e[S_POST]), EVT_FIXED_LEN);
		assert_false(fx_mentioned(f, "bob", &e[S_POST]));
	} else {
		assert_non_null(v);
		assert_true(fx_in_feed(f, &e[S_POST]));
		assert_string_equal(s_text(v), "v2");
		assert_int_equal(s_int(v, "edited"), T0 + 300);
		assert_int_equal(s_int(v, "created"), T0 + 200);
		assert_int_equal(s_int(v, "comments"), 2);
		reactions = json_object_get(v, "reactions");
		assert_int_equal(s_int(reactions, "like"), 2);
		assert_int_equal(s_int(reactions, "heart"), 1 + bob_heart);
		assert_true(fx_mentioned(f, "bob", &e[S_POST]));
		json_decref(v);
	}
	v = fx_post_view(f, &e[S_POST2]);
	assert_non_null(v);
	assert_string_equal(s_text(v), "second post");
	assert_string_equal(json_string_value(json_object_get(v, "author")), "bob");
	json_decref(v);
	assert_true(fx_in_feed(f, &e[S_POST2]));
	assert_int_equal(fx_count(f, DB_FEED), post_redacted ? 1 : 2);

	/* Comments: the redacted one keeps its header only, and its mention goes. */
	assert_int_equal(fx_stored_len(f, &e[S_C2]), EVT_FIXED_LEN);
	assert_false(fx_mentioned(f, "bob", &e[S_C2]));
	assert_true(fx_mentioned(f, "alice", &e[S_C1]));

	/* Profiles: the newest event per field. */
	v = fx_person(f, "alice");
	assert_non_null(v);
	prof = json_object_get(v, "profile");
	assert_string_equal(json_string_value(json_object_get(prof, "name")), "Alice B");
	assert_string_equal(json_string_value(json_object_get(prof, "title")), "Engineer");
	assert_string_equal(json_string_value(json_object_get(prof, "department")), "R&D");
	assert_null(json_object_get(prof, "phone"));
	assert_int_equal(json_array_size(json_object_get(prof, "skills")), 2);
	assert_int_equal(s_int(v, "updated"), T0 + 130);
	json_decref(v);
	v = fx_person(f, "bob");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(v, "profile"), "name")), "Bob");
	json_decref(v);

	/* The newest key backup. */
	b = fx_get(f, DB_BACKUPS, fx_pk(K_ALICE), CPT_KEY_LEN, &len);
	assert_int_equal(len, 8 + CPT_ID_LEN);
	assert_int_equal(store_get_u64(b), e[S_KB2].ts);
	assert_memory_equal(b + 8, e[S_KB2].id, CPT_ID_LEN);
	free(b);
}

/* Heap's algorithm, iterative: calls fn for each permutation of v. */
static void
s_permute(ev_t **v, size_t n, void (*fn)(ev_t **v, size_t n, void *arg), void *arg)
{
	size_t c[16] = {0};

	assert_true(n <= 16);
	fn(v, n, arg);
	for (size_t i = 1; i < n;) {
		if (c[i] < i) {
			size_t j = i % 2 == 0 ? 0 : c[i];
			ev_t *t = v[j];
			v[j] = v[i];
			v[i] = t;
			fn(v, n, arg);
			c[i]++;
			i = 1;
		} else {
			c[i] = 0;
			i++;
		}
	}
}

struct perm_arg {
	ev_t **base;                       /* ingested first, in order */
	size_t nbase;                      /* how many */
	snap_t first;                      /* the snapshot of the first order */
	int have_first;                    /* first is set */
	size_t runs;                       /* orders tried */
	void (*check)(fx_t *f, void *arg); /* the expected values, on the first order */
	void *check_arg;                   /* for check */
	int check_every;                   /* check every order: views read, not stored */
};

static void
s_perm_run(ev_t **v, size_t n, void *argp)
{
	struct perm_arg *a = argp;
	ev_t *list[32];
	fx_t f;
	snap_t s;

	assert_true(a->nbase + n <= 32);
	memcpy(list, a->base, a->nbase * sizeof(*list));
	memcpy(list + a->nbase, v, n * sizeof(*list));
	s_run(&f, list, a->nbase + n, NULL, &s, 0);
	if (!a->have_first) {
		a->first = s;
		a->have_first = 1;
		if (a->check)
			a->check(&f, a->check_arg);
	} else {
		char what[64];
		snprintf(what, sizeof(what), "permutation %zu", a->runs);
		FX_SNAP_EQUAL(&a->first, &s, what);
		fx_snap_free(&s);
		if (a->check && a->check_every)
			a->check(&f, a->check_arg);
	}
	a->runs++;
	fx_close(&f);
}

static void
s_check_edits(fx_t *f, void *arg)
{
	scene_t *s = arg;
	json_t *v = fx_post_view(f, &s->ev[S_POST]);

	assert_non_null(v);
	assert_string_equal(s_text(v), "v2");
	assert_int_equal(json_object_size(json_object_get(v, "reactions")), 0);
	json_decref(v);
}

/* Every order of an enrolment, a post, its edits (two in the same ms, one by
 * someone else) and a reaction set then cleared. */
static void
test_all_orders_edits_reactions(void **state)
{
	scene_t s;
	ev_t *e = s.ev;
	ev_t *base[] = {&e[S_CERT], &e[S_EN_BOB]};
	ev_t *set[] = {&e[S_EN_ALICE], &e[S_POST],        &e[S_EDIT_A1],     &e[S_EDIT_A2],
	               &e[S_EDIT_BOB], &e[S_LIKE_BOB_ON], &e[S_LIKE_BOB_OFF]};
	struct perm_arg a = {.base = base, .nbase = 2, .check = s_check_edits, .check_arg = &s};

	(void)state;
	s_scene(&s);
	s_permute(set, sizeof(set) / sizeof(set[0]), s_perm_run, &a);
	assert_int_equal(a.runs, 5040);
	fx_snap_free(&a.first);
	s_scene_free(&s);
}

/* A comment as GET /api/posts/ID/comments shows it: query_comment. */
static json_t *
s_comment_view(fx_t *f, const ev_t *c)
{
	store_txn_t *txn;
	json_t *j;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	j = query_comment(txn, c->id);
	store_read_end(f->st, &txn);
	return j;
}

struct comment_scene {
	scene_t *s;   /* the events */
	ev_t edit[4]; /* bob's two edits of C1 (same ms), alice's of C1, bob's of C3 */
	ev_t redact;  /* bob's redaction of his second edit */
};

static void
s_check_comment_edits(fx_t *f, void *arg)
{
	struct comment_scene *cs = arg;
	ev_t *e = cs->s->ev;
	json_t *c1 = s_comment_view(f, &e[S_C1]), *c3 = s_comment_view(f, &e[S_C3]), *list, *v;
	char next[81];
	store_txn_t *txn;

	/* Bob's edit at (300, 1) was erased: his (300, 0) one gives the text;
	 * alice's edit of his comment counts for nothing, nor bob's of hers. */
	assert_non_null(c1);
	assert_string_equal(s_text(c1), "c1 v1");
	assert_int_equal(s_int(c1, "edited"), T0 + 300);
	assert_int_equal(s_int(c1, "created"), T0 + 260);
	assert_string_equal(json_string_value(json_object_get(c1, "author")), "bob");
	assert_string_equal(json_string_value(json_object_get(c1, "author_site")), "paris");
	assert_string_equal(json_string_value(json_object_get(c1, "post")), e[S_POST].hex);
	assert_non_null(c3);
	assert_string_equal(s_text(c3), "thanks");
	assert_true(json_is_null(json_object_get(c3, "edited")));
	/* A post is not a comment, nor an edit. */
	v = s_comment_view(f, &e[S_POST]);
	assert_null(v);
	v = s_comment_view(f, &cs->edit[0]);
	assert_null(v);
	/* The thread lists the same texts, and the edits do not count as comments. */
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	list = query_comments(txn, e[S_POST].id, NULL, 10, next);
	store_read_end(f->st, &txn);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(s_text(json_array_get(list, 0)), "c1 v1");
	assert_string_equal(s_text(json_array_get(list, 1)), "thanks");
	v = fx_post_view(f, &e[S_POST]);
	assert_int_equal(s_int(v, "comments"), 2);
	assert_string_equal(s_text(v), "hello @bob");
	json_decref(v);
	json_decref(list);
	json_decref(c1);
	json_decref(c3);
}

/* Every order of a post, two comments, edits of a comment by its author (two
 * in the same ms, one erased) and by others: a comment's text is the newest
 * edit by its own author still here, as for a post, read the same whatever
 * came first (an edit may arrive before its comment). */
static void
test_all_orders_comment_edits(void **state)
{
	scene_t s;
	ev_t *e = s.ev;
	struct comment_scene cs = {.s = &s};
	/* 8! orders would take minutes. Every order of the post, bob's comment,
	 * his edits and the redaction, the rest first; every order of the rest,
	 * those first (backwards); then 200 random orders and batchings. */
	ev_t *base[] = {&e[S_CERT], &e[S_EN_ALICE], &e[S_EN_BOB],
	                &e[S_C3],   &cs.edit[2],    &cs.edit[3]};
	ev_t *set[] = {&e[S_POST], &e[S_C1], &cs.edit[0], &cs.edit[1], &cs.redact};
	ev_t *base2[] = {&e[S_CERT],  &e[S_EN_ALICE], &e[S_EN_BOB], &cs.redact,
	                 &cs.edit[1], &cs.edit[0],    &e[S_C1]};
	ev_t *set2[] = {&e[S_POST], &e[S_C3], &cs.edit[2], &cs.edit[3]};
	struct perm_arg a = {.base = base,
	                     .nbase = 6,
	                     .check = s_check_comment_edits,
	                     .check_arg = &cs,
	                     .check_every = 1};

	(void)state;
	s_scene(&s);
	fx_child(&cs.edit[0], K_BOB, EVT_EDIT, TS(300, 0), &e[S_C1], "c1 v1");
	fx_child(&cs.edit[1], K_BOB, EVT_EDIT, TS(300, 1), &e[S_C1], "c1 v2");
	fx_child(&cs.edit[2], K_ALICE, EVT_EDIT, TS(400, 0), &e[S_C1], "hijacked");
	fx_child(&cs.edit[3], K_BOB, EVT_EDIT, TS(410, 0), &e[S_C3], "not bob's");
	fx_redact(&cs.redact, K_BOB, TS(450, 0), &cs.edit[1]);
	s_permute(set, 5, s_perm_run, &a);
	assert_int_equal(a.runs, 120);
	a.base = base2;
	a.nbase = 7;
	s_permute(set2, 4, s_perm_run, &a);
	assert_int_equal(a.runs, 144);
	{
		uint64_t seed = 0x2545f4914f6cdd1dull;
		ev_t *list[11];
		for (int run = 0; run < 200; run++) {
			fx_t f;
			snap_t cur;
			char what[64];
			memcpy(list, base, sizeof(base));
			memcpy(list + 6, set, sizeof(set));
			fx_shuffle(list, 11, &seed);
			s_run(&f, list, 11, &seed, &cur, 0);
			snprintf(what, sizeof(what), "random order %d", run);
			FX_SNAP_EQUAL(&a.first, &cur, what);
			fx_snap_free(&cur);
			s_check_comment_edits(&f, &cs);
			fx_close(&f);
		}
	}
	fx_snap_free(&a.first);
	for (int i = 0; i < 4; i++)
		fx_free(&cs.edit[i]);
	fx_free(&cs.redact);
	s_scene_free(&s);
}

static void
s_check_enrol_names(fx_t *f, void *arg)
{
	json_t *p = fx_person(f, "alice"), *prof;

	(void)arg;
	assert_non_null(p);
	prof = json_object_get(p, "profile");
	/* The admin's name (150) is newer than hers (100, 1); the later
	 * enrolment (160) names nobody and changes only the role. */
	assert_string_equal(json_string_value(json_object_get(prof, "name")), "Alice Martin");
	assert_string_equal(json_string_value(json_object_get(prof, "title")), "Intern");
	assert_string_equal(json_string_value(json_object_get(p, "role")), "member");
	assert_int_equal(s_int(p, "updated"), T0 + 150);
	json_decref(p);
	p = fx_person(f, "bob");
	/* The admin's empty name (165) clears his own earlier one (120). */
	assert_null(json_object_get(json_object_get(p, "profile"), "name"));
	assert_int_equal(s_int(p, "updated"), T0 + 165);
	json_decref(p);
}

/* Every order of enrolments of the same key again, as the admin page makes
 * them to change a role or a name (users_edit), and profile events: the
 * newest enrolment gives the role; a name in an enrolment is a write of the
 * profile's name at its (ts, id), last writer wins with the user's own. */
static void
test_enrol_names_any_order(void **state)
{
	scene_t s;
	ev_t *e = s.ev;
	ev_t re[3], prof_b;
	char hex[CPT_HEX_ID], pf[2 * CPT_SIG_LEN + 1];
	/* 8! orders would take minutes: every order of alice's events with bob's
	 * first, and of bob's with alice's first. */
	ev_t *base[] = {&e[S_CERT], &e[S_EN_BOB], &re[2], &prof_b};
	ev_t *set[] = {&e[S_EN_ALICE], &re[0], &re[1], &e[S_PROF_A2], &e[S_PROF_A3]};
	ev_t *base2[] = {&e[S_CERT], &e[S_PROF_A3], &e[S_PROF_A2], &re[1], &re[0], &e[S_EN_ALICE]};
	ev_t *set2[] = {&e[S_EN_BOB], &re[2], &prof_b};
	struct perm_arg a = {
	    .base = base, .nbase = 4, .check = s_check_enrol_names, .check_every = 1};

	(void)state;
	s_scene(&s);
	fx_mk(&re[0], K_PARIS, EVT_ENROL, TS(150, 0),
	      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "handle", "alice", "key",
	                fx_hexkey(K_ALICE, hex), "site", "paris", "role", "admin", "name",
	                "Alice Martin", "proof", fx_proof(K_ALICE, "paris", "alice", pf)));
	fx_mk(&re[1], K_PARIS, EVT_ENROL, TS(160, 0),
	      json_pack("{s:s, s:s, s:s, s:s, s:s}", "handle", "alice", "key",
	                fx_hexkey(K_ALICE, hex), "site", "paris", "role", "member", "proof",
	                fx_proof(K_ALICE, "paris", "alice", pf)));
	fx_mk(&re[2], K_PARIS, EVT_ENROL, TS(165, 0),
	      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "handle", "bob", "key",
	                fx_hexkey(K_BOB, hex), "site", "paris", "role", "member", "name", "",
	                "proof", fx_proof(K_BOB, "paris", "bob", pf)));
	fx_mk(&prof_b, K_BOB, EVT_PROFILE, TS(120, 0),
	      json_pack("{s:{s:s}}", "fields", "name", "Bobby"));
	s_permute(set, 5, s_perm_run, &a);
	a.base = base2;
	a.nbase = 6;
	s_permute(set2, 3, s_perm_run, &a);
	assert_int_equal(a.runs, 126);
	fx_snap_free(&a.first);
	for (int i = 0; i < 3; i++)
		fx_free(&re[i]);
	fx_free(&prof_b);
	s_scene_free(&s);
}

struct redact_scene {
	scene_t *s; /* the events */
	ev_t *bare; /* a bodiless copy of C1 */
};

static void
s_check_redactions(fx_t *f, void *arg)
{
	struct redact_scene *r = arg;
	ev_t *e = r->s->ev;

	assert_null(fx_post_view(f, &e[S_POST]));
	assert_int_equal(fx_count(f, DB_FEED), 0);
	assert_int_equal(fx_count(f, DB_POSTS_V1), 0);
	assert_int_equal(fx_count(f, DB_MENTIONS), 0);
	assert_int_equal(fx_count(f, DB_TOMBSTONES), 2);
	assert_int_equal(fx_stored_len(f, &e[S_POST]), EVT_FIXED_LEN);
	assert_int_equal(fx_stored_len(f, &e[S_C1]), EVT_FIXED_LEN);
	/* The erased bodies are never taken back. */
	FX_IN(f, &e[S_C1], CPT_EEXIST);
	FX_IN(f, &e[S_POST], CPT_EEXIST);
	assert_int_equal(fx_stored_len(f, &e[S_C1]), EVT_FIXED_LEN);
	assert_int_equal(fx_stored_len(f, &e[S_POST]), EVT_FIXED_LEN);
}

/* s_run with an event that may be refused: a bodiless copy that comes
 * before its redaction. */
static void
s_perm_run_bare(ev_t **v, size_t n, void *argp)
{
	struct perm_arg *a = argp;
	ev_t *list[32];
	ingest_res_t res[32];
	fx_t f;
	snap_t s;
	size_t total = a->nbase + n;

	memcpy(list, a->base, a->nbase * sizeof(*list));
	memcpy(list + a->nbase, v, n * sizeof(*list));
	fx_open_scratch(&f);
	assert_int_equal(fx_ingest_n(&f, list, total, res), 0);
	for (size_t i = 0; i < total; i++)
		if (res[i].rc != 0 && res[i].rc != CPT_EPENDING && res[i].rc != CPT_EEXIST &&
		    !(res[i].rc == CPT_EINVAL && list[i]->len == EVT_FIXED_LEN))
			fail_msg("event %zu: %s (%s)", i, cpt_strerror(res[i].rc), res[i].why);
	assert_int_equal(fx_count(&f, DB_PENDING), 0);
	fx_snap(f.st, &s);
	if (!a->have_first) {
		a->first = s;
		a->have_first = 1;
		a->check(&f, a->check_arg);
	} else {
		char what[64];
		snprintf(what, sizeof(what), "permutation %zu", a->runs);
		FX_SNAP_EQUAL(&a->first, &s, what);
		fx_snap_free(&s);
	}
	a->runs++;
	fx_close(&f);
}

/* Every order of a post, a comment with a mention, both redacted, an edit, a
 * reaction and a bodiless copy of the comment. */
static void
test_all_orders_redactions(void **state)
{
	scene_t s;
	ev_t *e = s.ev;
	ev_t bare, redact_c1;
	ev_t *base[] = {&e[S_CERT], &e[S_EN_ALICE], &e[S_EN_BOB], &e[S_EN_CAROL]};
	ev_t *set[] = {&e[S_POST],    &e[S_C1],         &redact_c1, &e[S_REDACT_POST],
	               &e[S_EDIT_A1], &e[S_LIKE_CAROL], &bare};
	struct redact_scene rs = {&s, &bare};
	struct perm_arg a = {
	    .base = base, .nbase = 4, .check = s_check_redactions, .check_arg = &rs};

	(void)state;
	s_scene(&s);
	fx_redact(&redact_c1, K_BOB, TS(600, 0), &e[S_C1]);
	bare = e[S_C1];
	bare.buf = malloc(EVT_FIXED_LEN);
	assert_non_null(bare.buf);
	memcpy(bare.buf, e[S_C1].buf, EVT_FIXED_LEN);
	bare.len = EVT_FIXED_LEN;
	s_permute(set, sizeof(set) / sizeof(set[0]), s_perm_run_bare, &a);
	assert_int_equal(a.runs, 5040);
	fx_snap_free(&a.first);
	fx_free(&bare);
	fx_free(&redact_c1);
	s_scene_free(&s);
}

/* The whole scene in 200 random orders and batchings, with and without the
 * post's redaction, each in a new store. */
static void
test_random_orders(void **state)
{
	scene_t s;
	ev_t *list[S_ALL];
	snap_t first[2], cur;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	fx_t f;

	(void)state;
	s_scene(&s);
	for (int run = 0; run < 200; run++) {
		int redacted = run % 2;
		size_t n = redacted ? S_ALL : S_COUNT;
		for (size_t i = 0; i < n; i++)
			list[i] = &s.ev[i];
		/* The first run of each kind is in timestamp-ish (causal) order. */
		if (run >= 2)
			fx_shuffle(list, n, &seed);
		s_run(&f, list, n, run >= 2 ? &seed : NULL, run < 2 ? &first[redacted] : &cur, 1);
		if (run < 2) {
			s_scene_check(&f, &s, redacted);
		} else {
			char what[64];
			snprintf(what, sizeof(what), "random order %d", run);
			FX_SNAP_EQUAL(&first[redacted], &cur, what);
			fx_snap_free(&cur);
			if (run < 6)
				s_scene_check(&f, &s, redacted);
		}
		fx_close(&f);
	}
	fx_snap_free(&first[0]);
	fx_snap_free(&first[1]);
	s_scene_free(&s);
}

/* The path of batches from peers: signatures checked and bodies parsed by
 * the pool (ingest_ctx_t.verified and .bodies), duplicates caught by the
 * store's put itself (no lookup first). The same store as the ordinary path,
 * whatever duplicates come in the batch or later. */
static void
test_pool_verified_path(void **state)
{
	enum { N = S_ALL };
	scene_t s;
	ev_t *list[2 * N];
	uint8_t ok[2 * N];
	json_t *bodies[2 * N];
	ingest_res_t res[2 * N], first[N];
	snap_t a, b;
	fx_t f;

	(void)state;
	s_scene(&s);
	for (size_t i = 0; i < 2 * N; i++)
		list[i] = &s.ev[i % N];
	fx_open(&f);
	assert_int_equal(fx_ingest_n(&f, list, N, first), 0);
	fx_snap(f.st, &a);
	fx_close(&f);

	/* Each event twice in one batch, as the pool hands them over. */
	for (size_t i = 0; i < 2 * N; i++) {
		evt_t ev;
		ok[i] = 1;
		bodies[i] =
		    evt_decode(&ev, list[i]->buf, list[i]->len, EVT_MAX_BODY) == 0 && ev.body
		        ? index_body(&ev)
		        : NULL;
	}
	fx_open(&f);
	f.ctx.verified = ok;
	f.ctx.bodies = bodies;
	assert_int_equal(fx_ingest_n(&f, list, 2 * N, res), 0);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(res[i].rc, first[i].rc);
		if (first[i].rc == 0)
			assert_int_equal(res[N + i].rc, CPT_EEXIST);
	}
	/* And all of them once more, in a batch of their own. */
	assert_int_equal(fx_ingest_n(&f, list, N, res), 0);
	for (size_t i = 0; i < N; i++)
		if (first[i].rc == 0)
			assert_int_equal(res[i].rc, CPT_EEXIST);
	f.ctx.verified = NULL;
	f.ctx.bodies = NULL;
	fx_snap(f.st, &b);
	FX_SNAP_EQUAL(&a, &b, "pool-verified batches with duplicates");
	fx_snap_free(&a);
	fx_snap_free(&b);
	fx_close(&f);
	for (size_t i = 0; i < 2 * N; i++)
		json_decref(bodies[i]);
	s_scene_free(&s);
}

/* Trust that changes after the fact, in 300 orders: lyon is revoked from a
 * time before it enrolled eve and before it revoked gina; carol's key is
 * enrolled again under another handle. */
static void
test_trust_changes_any_order(void **state)
{
	enum { N = 16 };
	ev_t ev[N], *list[N];
	snap_t first, cur;
	uint64_t seed = 4242;
	fx_t f;
	json_t *v;

	(void)state;
	fx_cert(&ev[0], K_PARIS, "paris", TS(1, 0));
	fx_cert(&ev[1], K_LYON, "lyon", TS(1, 1));
	fx_enrol(&ev[2], K_LYON, K_ALICE2, "gina", "lyon", "member", TS(5, 0));
	fx_enrol(&ev[3], K_LYON, K_OTHER_ROOT, "eve", "lyon", "admin", TS(50, 0));
	fx_post(&ev[4], K_OTHER_ROOT, TS(60, 0), "eve was never really here");
	fx_mk(&ev[5], K_OTHER_ROOT, EVT_PROFILE, TS(61, 0),
	      json_pack("{s:{s:s}}", "fields", "name", "Eve"));
	/* Gina signs before her own revocation's time (a purged event comes
	 * back only through sync). */
	fx_child(&ev[6], K_ALICE2, EVT_COMMENT, TS(26, 0), &ev[4], "hi @eve");
	fx_post(&ev[7], K_ALICE2, TS(25, 0), "gina stays");
	fx_revoke(&ev[8], K_LYON, K_ALICE2, T0 + 30, TS(55, 0));
	fx_revoke(&ev[9], K_ROOT, K_LYON, T0 + 20, TS(100, 0));
	fx_enrol(&ev[10], K_PARIS, K_CAROL, "carol", "paris", "member", TS(2, 2));
	fx_enrol(&ev[11], K_PARIS, K_CAROL, "caro", "paris", "member", TS(30, 0));
	fx_mk(&ev[12], K_CAROL, EVT_PROFILE, TS(10, 0),
	      json_pack("{s:{s:s}}", "fields", "name", "Carol"));
	fx_mk(&ev[13], K_CAROL, EVT_PROFILE, TS(40, 0),
	      json_pack("{s:{s:s}}", "fields", "title", "Boss"));
	fx_post(&ev[14], K_CAROL, TS(41, 0), "carol or caro");
	fx_react(&ev[15], K_OTHER_ROOT, TS(62, 0), &ev[14], "like", 1);
	for (int run = 0; run < 300; run++) {
		ingest_res_t res[N];
		for (int i = 0; i < N; i++)
			list[i] = &ev[i];
		if (run > 0)
			fx_shuffle(list, N, &seed);
		fx_open_scratch(&f);
		for (size_t at = 0; at < N;) {
			size_t k = 1 + fx_rand(&seed) % 4;
			if (k > N - at)
				k = N - at;
			assert_int_equal(fx_ingest_n(&f, list + at, k, res + at), 0);
			at += k;
		}
		for (int i = 0; i < N; i++)
			if (res[i].rc != 0 && res[i].rc != CPT_EPENDING &&
			    res[i].rc != CPT_EREVOKED)
				fail_msg("run %d, event %d: %s (%s)", run, i,
				         cpt_strerror(res[i].rc), res[i].why);
		fx_snap(f.st, run == 0 ? &first : &cur);
		if (run == 0) {
			/* Eve's enrolment came after lyon's revocation: she is unknown,
			 * and what she signed waits. */
			assert_false(fx_has(&f, DB_KEYS, fx_pk(K_OTHER_ROOT), CPT_KEY_LEN));
			assert_false(fx_has(&f, DB_HANDLES, "eve", 3));
			assert_int_equal(fx_stored_len(&f, &ev[3]), 0);
			assert_int_equal(fx_count(&f, DB_PENDING), 3);
			v = fx_post_view(&f, &ev[14]);
			assert_int_equal(json_object_size(json_object_get(v, "reactions")), 0);
			json_decref(v);
			/* Gina was enrolled before: she stays, and lyon's revocation of
			 * her, made after lyon's own, does not count. */
			assert_true(fx_has(&f, DB_KEYS, fx_pk(K_ALICE2), CPT_KEY_LEN));
			assert_false(fx_has(&f, DB_REVOKED, fx_pk(K_ALICE2), CPT_KEY_LEN));
			assert_true(fx_has(&f, DB_REVOKED, fx_pk(K_LYON), CPT_KEY_LEN));
			assert_true(fx_in_feed(&f, &ev[7]));
			assert_true(fx_mentioned(&f, "eve", &ev[6]));
			/* Carol's key now has the handle "caro", with her profile. */
			v = fx_person(&f, "caro");
			assert_non_null(v);
			assert_string_equal(json_string_value(json_object_get(
			                        json_object_get(v, "profile"), "name")),
			                    "Carol");
			assert_string_equal(json_string_value(json_object_get(
			                        json_object_get(v, "profile"), "title")),
			                    "Boss");
			json_decref(v);
			assert_false(fx_has(&f, DB_PROFILES, "carol", 5));
			v = fx_post_view(&f, &ev[14]);
			assert_string_equal(json_string_value(json_object_get(v, "author")),
			                    "caro");
			json_decref(v);
			/* Reindex and verify agree, with events waiting. */
			{
				char err[256] = "";
				size_t n_events;
				if (event_reindex(&f.ctx, err, sizeof(err)) != 0)
					fail_msg("reindex: %s", err);
				fx_snap(f.st, &cur);
				FX_SNAP_EQUAL(&first, &cur, "reindex");
				fx_snap_free(&cur);
				if (event_verify(&f.ctx, &n_events, err, sizeof(err)) != 0)
					fail_msg("verify: %s", err);
			}
		} else {
			char what[64];
			snprintf(what, sizeof(what), "run %d", run);
			FX_SNAP_EQUAL(&first, &cur, what);
			fx_snap_free(&cur);
		}
		fx_close(&f);
	}
	fx_snap_free(&first);
	for (int i = 0; i < N; i++)
		fx_free(&ev[i]);
}

/* Erased bodies are never accepted again; bodiless copies need a redaction. */
static void
test_bodiless_copies(void **state)
{
	fx_t f;
	world_t w;
	ev_t p3, p4, r4;
	ingest_res_t res;

	(void)state;
	s_world(&w);
	fx_post(&p3, K_BOB, TS(10, 0), "kept");
	fx_post(&p4, K_BOB, TS(11, 0), "erased");
	fx_redact(&r4, K_BOB, TS(12, 0), &p4);
	fx_open(&f);
	s_world_in(&f, &w);

	/* No redaction known: a peer cannot censor by dropping the body. */
	assert_int_equal(fx_raw(&f, p3.buf, EVT_FIXED_LEN, &res), CPT_EINVAL);
	assert_int_equal(fx_stored_len(&f, &p3), 0);
	FX_IN(&f, &p3, 0);
	assert_int_equal(fx_stored_len(&f, &p3), p3.len);
	assert_int_equal(fx_raw(&f, p3.buf, EVT_FIXED_LEN, &res), CPT_EEXIST);
	assert_int_equal(fx_stored_len(&f, &p3), p3.len);

	/* The redaction first: the bodiless copy is what we keep. */
	FX_IN(&f, &r4, 0);
	assert_int_equal(fx_raw(&f, p4.buf, EVT_FIXED_LEN, &res), 0);
	assert_int_equal(fx_stored_len(&f, &p4), EVT_FIXED_LEN);
	FX_IN(&f, &p4, CPT_EEXIST);
	assert_int_equal(fx_stored_len(&f, &p4), EVT_FIXED_LEN);
	assert_false(fx_in_feed(&f, &p4));
	assert_null(fx_post_view(&f, &p4));

	/* Trust events never arrive without their body. */
	fx_close(&f);
	fx_open(&f);
	FX_IN(&f, &w.cert_paris, 0);
	assert_int_equal(fx_raw(&f, w.en_carol.buf, EVT_FIXED_LEN, &res), CPT_EINVAL);
	assert_int_equal(fx_count(&f, DB_PENDING), 0);
	fx_close(&f);
	fx_free(&p3);
	fx_free(&p4);
	fx_free(&r4);
	s_world_free(&w);
}

/* A comment, reaction or edit of a post not here yet. */
static void
test_children_before_post(void **state)
{
	fx_t f;
	world_t w;
	ev_t post, c, r, ed;
	json_t *v;

	(void)state;
	s_world(&w);
	fx_post(&post, K_ALICE, TS(10, 0), "late");
	fx_child(&c, K_BOB, EVT_COMMENT, TS(11, 0), &post, "first!");
	fx_react(&r, K_CAROL, TS(12, 0), &post, "like", 1);
	fx_child(&ed, K_ALICE, EVT_EDIT, TS(13, 0), &post, "edited");
	fx_open(&f);
	s_world_in(&f, &w);
	FX_IN(&f, &c, 0);
	FX_IN(&f, &r, 0);
	FX_IN(&f, &ed, 0);
	assert_int_equal(fx_count(&f, DB_POSTS_V1), 0);
	assert_int_equal(fx_count(&f, DB_FEED), 0);
	FX_IN(&f, &post, 0);
	v = fx_post_view(&f, &post);
	assert_string_equal(s_text(v), "edited");
	assert_int_equal(s_int(v, "comments"), 1);
	assert_int_equal(s_int(json_object_get(v, "reactions"), "like"), 1);
	json_decref(v);
	assert_int_equal(fx_count(&f, DB_FEED), 1);
	fx_close(&f);
	fx_free(&post);
	fx_free(&c);
	fx_free(&r);
	fx_free(&ed);
	s_world_free(&w);
}

/* Only the author, or an admin of the author's site, erases. */
static void
test_redaction_rights(void **state)
{
	fx_t f;
	world_t w;
	ev_t post, post2, post3, by_bob, by_dave, en_lyon_admin, by_lyon, by_bob3;

	(void)state;
	s_world(&w);
	fx_post(&post, K_ALICE, TS(10, 0), "mine");
	fx_post(&post2, K_ALICE, TS(11, 0), "also mine");
	fx_post(&post3, K_ALICE, TS(12, 0), "mine again");
	fx_redact(&by_bob, K_BOB, TS(20, 0), &post);
	fx_enrol(&en_lyon_admin, K_LYON, K_OTHER_ROOT, "eve", "lyon", "admin", TS(3, 0));
	fx_redact(&by_lyon, K_OTHER_ROOT, TS(21, 0), &post);
	fx_redact(&by_dave, K_DAVE, TS(22, 0), &post2);
	fx_redact(&by_bob3, K_BOB, TS(23, 0), &post3);
	fx_open(&f);
	s_world_in(&f, &w);
	FX_IN(&f, &en_lyon_admin, 0);
	FX_IN(&f, &post, 0);
	FX_IN(&f, &post2, 0);
	FX_IN(&f, &by_bob, 0);
	FX_IN(&f, &by_lyon, 0);
	assert_int_equal(fx_stored_len(&f, &post), post.len);
	assert_true(fx_in_feed(&f, &post));
	/* A bodiless copy is not let in by a redaction without the right. */
	FX_IN(&f, &by_bob3, 0);
	assert_int_equal(fx_raw(&f, post3.buf, EVT_FIXED_LEN, NULL), CPT_EINVAL);
	FX_IN(&f, &post3, 0);
	assert_int_equal(fx_stored_len(&f, &post3), post3.len);
	assert_true(fx_in_feed(&f, &post3));
	/* An admin of alice's site may. */
	FX_IN(&f, &by_dave, 0);
	assert_int_equal(fx_stored_len(&f, &post2), EVT_FIXED_LEN);
	assert_false(fx_in_feed(&f, &post2));
	fx_close(&f);
	fx_free(&post);
	fx_free(&post2);
	fx_free(&post3);
	fx_free(&by_bob);
	fx_free(&by_dave);
	fx_free(&by_bob3);
	fx_free(&en_lyon_admin);
	fx_free(&by_lyon);
	s_world_free(&w);
}

/* ------------------------------------------------------------ mentions */

static void
test_mentions(void **state)
{
	fx_t f;
	world_t w;
	ev_t post, comment, other, rd_c, rd_p;

	(void)state;
	s_world(&w);
	fx_post(&post, K_ALICE, TS(10, 0), "ping @bob and @carol, also email@bob.example");
	fx_child(&comment, K_CAROL, EVT_COMMENT, TS(11, 0), &post, "cc @bob. @bob again");
	fx_post(&other, K_BOB, TS(12, 0), "no one here @ all");
	fx_redact(&rd_c, K_CAROL, TS(13, 0), &comment);
	fx_redact(&rd_p, K_ALICE, TS(14, 0), &post);
	fx_open(&f);
	s_world_in(&f, &w);
	FX_IN(&f, &post, 0);
	FX_IN(&f, &comment, 0);
	FX_IN(&f, &other, 0);
	assert_true(fx_mentioned(&f, "bob", &post));
	assert_true(fx_mentioned(&f, "carol", &post));
	assert_true(fx_mentioned(&f, "bob", &comment));
	assert_false(fx_mentioned(&f, "carol", &comment));
	/* One entry per handle and event; "email@bob" is not a mention. */
	assert_int_equal(fx_count(&f, DB_MENTIONS), 3);
	FX_IN(&f, &rd_c, 0);
	assert_false(fx_mentioned(&f, "bob", &comment));
	assert_true(fx_mentioned(&f, "bob", &post));
	assert_int_equal(fx_count(&f, DB_MENTIONS), 2);
	FX_IN(&f, &rd_p, 0);
	assert_int_equal(fx_count(&f, DB_MENTIONS), 0);
	fx_close(&f);
	fx_free(&post);
	fx_free(&comment);
	fx_free(&other);
	fx_free(&rd_c);
	fx_free(&rd_p);
	s_world_free(&w);
}

/* ------------------------------------------------------ reindex, verify */

/* A long random history. Users are alice (her key changes halfway: a password
 * reset enrols a new key and revokes the old one), bob, carol and dave (admin). */
typedef struct history {
	ev_t ev[700];    /* every event, in the order made */
	int author[700]; /* the key index of each */
	size_t n;        /* how many */
	size_t late;     /* events signed with alice's old key after its revocation */
} history_t;

static const char *const s_handles[] = {"alice", "bob", "carol", "dave"};

static void
s_history(history_t *h, world_t *w, uint64_t seed)
{
	int users[4] = {K_ALICE, K_BOB, K_CAROL, K_DAVE};
	size_t posts[700], nposts = 0;
	uint64_t reset_ms = 0;

	h->n = 0;
	h->late = 0;
#define ADD(k) (h->author[h->n] = (k), &h->ev[h->n++])
	*ADD(K_ROOT) = w->cert_paris;
	*ADD(K_ROOT) = w->cert_lyon;
	*ADD(K_PARIS) = w->en_alice;
	*ADD(K_PARIS) = w->en_bob;
	*ADD(K_PARIS) = w->en_carol;
	*ADD(K_PARIS) = w->en_dave;
	for (int i = 0; i < 400; i++) {
		uint64_t ms = 1000 + (uint64_t)i * 10;
		uint64_t ts = TS(ms, fx_rand(&seed) % 3);
		int u = (int)(fx_rand(&seed) % 4);
		int k = users[u];
		char text[96];
		unsigned op = (unsigned)(fx_rand(&seed) % 11);

		snprintf(text, sizeof(text), "text %d for @%s", i, s_handles[fx_rand(&seed) % 4]);
		if (i == 200) {
			/* Password reset: a new key for alice, the old one revoked. */
			reset_ms = T0 + ms;
			fx_enrol(ADD(K_PARIS), K_PARIS, K_ALICE2, "alice", "paris", "member", ts);
			fx_revoke(ADD(K_PARIS), K_PARIS, K_ALICE, reset_ms, TS(ms + 1, 0));
			users[0] = K_ALICE2;
			continue;
		}
		if (nposts == 0 || op <= 2) {
			posts[nposts++] = h->n;
			fx_post(ADD(k), k, ts, text);
		} else if (op == 3) {
			fx_child(ADD(k), k, EVT_COMMENT, ts, &h->ev[posts[fx_rand(&seed) % nposts]],
			         text);
		} else if (op == 4) {
			fx_react(ADD(k), k, ts, &h->ev[posts[fx_rand(&seed) % nposts]],
			         fx_rand(&seed) % 2 ? "like" : "heart", (int)(fx_rand(&seed) % 2));
		} else if (op == 5) {
			/* Usually the author edits, sometimes someone else tries. */
			size_t p = posts[fx_rand(&seed) % nposts];
			int ek = fx_rand(&seed) % 4 ? h->author[p] : k;
			if ((ek == K_ALICE && users[0] == K_ALICE2))
				ek = k;
			fx_child(ADD(ek), ek, EVT_EDIT, ts, &h->ev[p], text);
		} else if (op == 6) {
			static const char *const fields[] = {"name", "title", "department",
			                                     "phone"};
			const char *field = fields[fx_rand(&seed) % 4];
			if (fx_rand(&seed) % 5 == 0)
				fx_mk(ADD(k), k, EVT_PROFILE, ts,
				      json_pack("{s:{s:n}}", "fields", field));
			else
				fx_mk(ADD(k), k, EVT_PROFILE, ts,
				      json_pack("{s:{s:s}}", "fields", field, text));
		} else if (op == 7 && h->n > 7) {
			/* Redact something earlier: by its author, an admin, or someone
			 * without the right. */
			size_t t = 6 + fx_rand(&seed) % (h->n - 6);
			int rk = h->author[t];
			unsigned who = (unsigned)(fx_rand(&seed) % 4);
			if (who == 0)
				rk = K_DAVE;
			else if (who == 1)
				rk = k;
			if (rk == K_ALICE && users[0] == K_ALICE2)
				rk = K_ALICE2;
			if (rk == K_ROOT || rk == K_PARIS)
				rk = k;
			fx_redact(ADD(rk), rk, ts, &h->ev[t]);
		} else if (op == 8) {
			fx_backup(ADD(k), k, ts, s_handles[u], i);
		} else {
			fx_child(ADD(k), k, EVT_COMMENT, ts, &h->ev[posts[fx_rand(&seed) % nposts]],
			         "plain comment");
		}
	}
	/* A stolen old key keeps signing after the revocation's effective time. */
	for (int i = 0; i < 3; i++) {
		h->late++;
		fx_post(ADD(K_ALICE), K_ALICE, TS(reset_ms - T0 + 5 + (uint64_t)i, 0),
		        "stolen key");
	}
#undef ADD
}

static void
s_history_free(history_t *h)
{
	/* The first six are the world's, freed with it. */
	for (size_t i = 6; i < h->n; i++)
		fx_free(&h->ev[i]);
}

/* Ingests the history in order, 25 per transaction. */
static void
s_history_in(fx_t *f, history_t *h, ev_t **list)
{
	ingest_res_t res[25];

	for (size_t at = 0; at < h->n; at += 25) {
		size_t k = h->n - at < 25 ? h->n - at : 25;
		assert_int_equal(fx_ingest_n(f, list + at, k, res), 0);
		for (size_t i = 0; i < k; i++) {
			int late = at + i >= h->n - h->late;
			if (res[i].rc != (late ? CPT_EREVOKED : 0))
				fail_msg("history event %zu (%s): %s (%s)", at + i,
				         evt_kind_name(res[i].kind), cpt_strerror(res[i].rc),
				         res[i].why);
		}
	}
}

struct raw_put {
	enum store_db db;  /* where */
	const void *k, *v; /* key and value */
	size_t kl, vl;     /* their lengths */
};

static int
s_raw_put_fn(store_txn_t *txn, void *arg)
{
	struct raw_put *p = arg;

	return store_put(txn, p->db, p->k, p->kl, p->v, p->vl);
}

/* Writes one entry behind the ingest path's back (a forged view). */
static void
s_raw_put(fx_t *f, enum store_db db, const void *k, size_t kl, const void *v, size_t vl)
{
	struct raw_put p = {db, k, v, kl, vl};

	assert_int_equal(store_write(f->st, s_raw_put_fn, &p), 0);
}

static int
s_env_put_fn(store_txn_t *txn, void *arg)
{
	struct raw_put *p = arg;

	return index_env_put(txn, p->k, p->v, p->vl, 0);
}

/* Replaces a stored envelope behind the ingest path's back (a damaged one). */
static void
s_env_put(fx_t *f, const uint8_t id[CPT_ID_LEN], const void *v, size_t vl)
{
	struct raw_put p = {DB_META, id, v, CPT_ID_LEN, vl};

	assert_int_equal(store_write(f->st, s_env_put_fn, &p), 0);
}

static int
s_bk_rebuild_fn(store_txn_t *txn, void *arg)
{
	return bk_rebuild(txn);
}

static void
test_reindex_and_verify(void **state)
{
	static history_t h;
	ev_t **list;
	world_t w;
	fx_t f, g;
	snap_t before, after;
	char err[256] = "";
	size_t n_events = 0, len;
	uint8_t *v;
	uint64_t seed = 12345;

	(void)state;
	s_world(&w);
	s_history(&h, &w, 777);
	list = calloc(h.n, sizeof(*list));
	assert_non_null(list);
	for (size_t i = 0; i < h.n; i++)
		list[i] = &h.ev[i];
	fx_open(&f);
	s_history_in(&f, &h, list);
	assert_true(fx_env_count(&f) > 350);
	assert_true(fx_count(&f, DB_TOMBSTONES) > 5);
	assert_true(fx_has(&f, DB_REVOKED, fx_pk(K_ALICE), CPT_KEY_LEN));
	fx_snap(f.st, &before);

	if (event_reindex(&f.ctx, err, sizeof(err)) != 0)
		fail_msg("reindex: %s", err);
	fx_snap(f.st, &after);
	FX_SNAP_EQUAL(&before, &after, "reindex");
	fx_snap_free(&after);
	if (event_verify(&f.ctx, &n_events, err, sizeof(err)) != 0)
		fail_msg("verify: %s", err);
	assert_int_equal(n_events, fx_env_count(&f));
	/* The reconciliation index kept up by ingest is the one made from
	 * DB_ORDER in one go. */
	assert_true(fx_count(&f, DB_BUCKETS_L3) > 0 && fx_count(&f, DB_BUCKETS_L7) > 0);
	assert_int_equal(store_write(f.st, s_bk_rebuild_fn, f.st), 0);
	fx_snap(f.st, &after);
	FX_SNAP_EQUAL(&before, &after, "buckets rebuilt from the order");
	fx_snap_free(&after);

	/* A damaged view is found, and reindex repairs it. */
	{
		store_txn_t *txn;
		store_cur_t *cur;
		store_val_t k, val;
		uint8_t fk[8 + CPT_ID_LEN];
		assert_int_equal(store_read_begin(f.st, &txn), 0);
		assert_int_equal(store_cur_open(txn, DB_FEED, &cur), 0);
		assert_int_equal(store_cur_get(cur, &k, &val, STORE_FIRST), 0);
		assert_int_equal(k.len, sizeof(fk));
		memcpy(fk, k.data, sizeof(fk));
		store_cur_close(&cur);
		store_read_end(f.st, &txn);
		s_raw_put(&f, DB_FEED, fk, sizeof(fk), "{\"text\":\"forged\"}", 17);
	}
	assert_int_not_equal(event_verify(&f.ctx, &n_events, err, sizeof(err)), 0);
	err[0] = 0;
	if (event_reindex(&f.ctx, err, sizeof(err)) != 0)
		fail_msg("reindex: %s", err);
	if (event_verify(&f.ctx, &n_events, err, sizeof(err)) != 0)
		fail_msg("verify after reindex: %s", err);
	fx_snap(f.st, &after);
	FX_SNAP_EQUAL(&before, &after, "reindex after damage");
	fx_snap_free(&after);

	/* The same history in other orders gives the same store. */
	for (int run = 0; run < 3; run++) {
		ingest_res_t res[25];
		fx_shuffle(list, h.n, &seed);
		fx_open(&g);
		for (size_t at = 0; at < h.n; at += 25) {
			size_t k = h.n - at < 25 ? h.n - at : 25;
			assert_int_equal(fx_ingest_n(&g, list + at, k, res), 0);
		}
		fx_snap(g.st, &after);
		FX_SNAP_EQUAL(&before, &after, "history shuffled");
		fx_snap_free(&after);
		fx_close(&g);
	}

	/* A damaged signature is found. */
	v = fx_env(&f, h.ev[10].id, &len);
	assert_non_null(v);
	v[EVT_HEADER_LEN + 7] ^= 1;
	s_env_put(&f, h.ev[10].id, v, len);
	free(v);
	assert_int_equal(event_verify(&f.ctx, &n_events, err, sizeof(err)), CPT_ESIG);

	fx_snap_free(&before);
	fx_close(&f);
	free(list);
	s_history_free(&h);
	s_world_free(&w);
}

/* A popular post: 4 users toggle 2 reactions 60 times, some of their
 * reactions and comments are redacted by their authors, all in random orders
 * and batches. The counts of the view, DB_REACTIONS and each user's own
 * reactions match what the newest surviving reaction of each (user, name)
 * says, computed here from the list itself, and every order gives the same
 * store as the first. */
static void
test_popular_post_counts(void **state)
{
	enum { NR = 60, NC = 12, NRD = 8, N = 5 + 1 + NR + NC + NRD };
	static const int users[4] = {K_ALICE, K_BOB, K_CAROL, K_DAVE};
	static const char *const names[2] = {"like", "heart"};
	static ev_t ev[N];
	ev_t *list[N];
	int who[NR], what[NR], on[NR], gone[NR + NC];
	size_t n = 0, post, first_react, first_comment;
	uint64_t seed = 4242;
	snap_t first, cur;
	world_t w;

	(void)state;
	s_world(&w);
	ev[n++] = w.cert_paris;
	ev[n++] = w.en_alice;
	ev[n++] = w.en_bob;
	ev[n++] = w.en_carol;
	ev[n++] = w.en_dave;
	post = n;
	fx_post(&ev[n++], K_ALICE, TS(100, 0), "all hands on friday");
	first_react = n;
	for (int i = 0; i < NR; i++) {
		who[i] = (int)(fx_rand(&seed) % 4);
		what[i] = (int)(fx_rand(&seed) % 2);
		on[i] = (int)(fx_rand(&seed) % 3 != 0);
		if (i % 2 && who[i] == who[i - 1] && what[i] == what[i - 1])
			on[i] = !on[i - 1]; /* not the very same event twice */
		/* Pairs share a timestamp: the greater id wins those. */
		fx_react(&ev[n++], users[who[i]], TS(200 + (uint64_t)i / 2, 0), &ev[post],
		         names[what[i]], on[i]);
	}
	first_comment = n;
	for (int i = 0; i < NC; i++)
		fx_child(&ev[n++], users[i % 4], EVT_COMMENT, TS(300 + (uint64_t)i, 0), &ev[post],
		         "agreed");
	memset(gone, 0, sizeof(gone));
	for (int i = 0; i < NRD; i++) {
		/* Authors take back some of their reactions and comments. */
		size_t t = first_react + (size_t)(i * 9 % (NR + NC));
		gone[t - first_react] = 1;
		fx_redact(&ev[n++],
		          users[t < first_comment ? who[t - first_react]
		                                  : (int)((t - first_comment) % 4)],
		          TS(400 + (uint64_t)i, 0), &ev[t]);
	}
	assert_int_equal(n, N);
	for (int run = 0; run < 40; run++) {
		fx_t f;
		json_t *v, *reactions;
		int expect[2] = {0, 0}, comments = 0;
		for (size_t i = 0; i < N; i++)
			list[i] = &ev[i];
		if (run > 0)
			fx_shuffle(list, N, &seed);
		s_run(&f, list, N, run > 0 ? &seed : NULL, run == 0 ? &first : &cur, 0);
		/* What the list says. */
		for (int u = 0; u < 4; u++) {
			for (int r = 0; r < 2; r++) {
				int best = -1;
				for (int i = 0; i < NR; i++) {
					ev_t *e = &ev[first_react + (size_t)i];
					ev_t *b = best < 0 ? NULL : &ev[first_react + (size_t)best];
					if (who[i] != u || what[i] != r || gone[i])
						continue;
					if (b == NULL || e->ts > b->ts ||
					    (e->ts == b->ts &&
					     memcmp(e->id, b->id, CPT_ID_LEN) > 0))
						best = i;
				}
				if (best >= 0 && on[best])
					expect[r]++;
				{
					/* Her own reactions, as GET /api/posts/ID lists them. */
					store_txn_t *txn;
					json_t *mine = json_array();
					int has = 0;
					assert_int_equal(store_read_begin(f.st, &txn), 0);
					assert_int_equal(index_reactions_of(txn, ev[post].id,
					                                    fx_pk(users[u]), mine),
					                 0);
					store_read_end(f.st, &txn);
					for (size_t j = 0; j < json_array_size(mine); j++)
						has |= strcmp(json_string_value(
						                  json_array_get(mine, j)),
						              names[r]) == 0;
					assert_int_equal(has, best >= 0 && on[best]);
					json_decref(mine);
				}
			}
		}
		for (int i = 0; i < NC; i++)
			comments += !gone[NR + i];
		v = fx_post_view(&f, &ev[post]);
		assert_non_null(v);
		reactions = json_object_get(v, "reactions");
		assert_int_equal(s_int(reactions, "like"), expect[0]);
		assert_int_equal(s_int(reactions, "heart"), expect[1]);
		assert_int_equal(json_object_size(reactions), (expect[0] > 0) + (expect[1] > 0));
		assert_int_equal(s_int(v, "comments"), comments);
		json_decref(v);
		if (run > 0) {
			char what_run[64];
			snprintf(what_run, sizeof(what_run), "popular post, order %d", run);
			FX_SNAP_EQUAL(&first, &cur, what_run);
			fx_snap_free(&cur);
		} else {
			assert_true(expect[0] + expect[1] > 0);
			assert_true(fx_count(&f, DB_REACTIONS) > 0);
		}
		fx_close(&f);
	}
	fx_snap_free(&first);
	for (size_t i = first_react; i < N; i++)
		fx_free(&ev[i]);
	fx_free(&ev[post]);
	s_world_free(&w);
}

/* Reindex keeps events that wait in (timestamp, id) order for an enrolment
 * newer than they are, even past the pending cap, and bodiless events whose
 * redaction is newer (the usual case) or older than they are. */
static void
test_reindex_out_of_order_history(void **state)
{
	fx_t f;
	world_t w;
	ev_t early[3], late_enrol, post, rd, post_b, rd_b;
	snap_t before, after;
	char err[256] = "";
	size_t n;

	(void)state;
	s_world(&w);
	/* Eve's posts are older than her enrolment by a site whose clock was
	 * behind. */
	for (int i = 0; i < 3; i++)
		fx_post(&early[i], K_OTHER_ROOT, TS(5 + i, 0), "before my enrolment");
	fx_enrol(&late_enrol, K_LYON, K_OTHER_ROOT, "eve", "lyon", "member", TS(50, 0));
	fx_post(&post, K_BOB, TS(30, 0), "to be erased");
	fx_redact(&rd, K_BOB, TS(40, 0), &post);
	fx_post(&post_b, K_BOB, TS(31, 0), "erased by an older redaction");
	fx_redact(&rd_b, K_BOB, TS(20, 0), &post_b);
	fx_open(&f);
	s_world_in(&f, &w);
	for (int i = 0; i < 3; i++)
		FX_IN(&f, &early[i], CPT_EPENDING);
	/* Version 2: a user key is valid from its first enrolment, so the
	 * early posts keep waiting (user.before_enrolment), through reindex too. */
	FX_IN(&f, &late_enrol, 0);
	FX_IN(&f, &post, 0);
	FX_IN(&f, &rd, 0);
	FX_IN(&f, &post_b, 0);
	FX_IN(&f, &rd_b, 0);
	assert_int_equal(fx_stored_len(&f, &post), EVT_FIXED_LEN);
	assert_int_equal(fx_stored_len(&f, &post_b), EVT_FIXED_LEN);
	assert_int_equal(fx_env_count(&f), 11);
	assert_int_equal(fx_count(&f, DB_PENDING), 3);
	fx_snap(f.st, &before);
	/* A smaller cap now must not lose what was accepted under the old one. */
	f.ctx.max_pending = 2;
	if (event_reindex(&f.ctx, err, sizeof(err)) != 0)
		fail_msg("reindex: %s", err);
	fx_snap(f.st, &after);
	FX_SNAP_EQUAL(&before, &after, "reindex");
	if (event_verify(&f.ctx, &n, err, sizeof(err)) != 0)
		fail_msg("verify: %s", err);
	assert_int_equal(n, 11); /* the admitted ones */
	fx_snap_free(&before);
	fx_snap_free(&after);
	fx_close(&f);
	for (int i = 0; i < 3; i++)
		fx_free(&early[i]);
	fx_free(&late_enrol);
	fx_free(&post);
	fx_free(&rd);
	fx_free(&post_b);
	fx_free(&rd_b);
	s_world_free(&w);
}

/* ----------------------------------------------------------------- main */

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
	fx_keys_free();
	fx_rmtree(s_template);
	fx_scratch_free();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_user_pending_until_enrolled),
	    cmocka_unit_test(test_enrol_waits_for_site_cert),
	    cmocka_unit_test(test_site_title),
	    cmocka_unit_test(test_only_users_write_content),
	    cmocka_unit_test(test_site_enrols_for_itself_only),
	    cmocka_unit_test(test_waiting_enrolment_of_a_site_key),
	    cmocka_unit_test(test_revoked_key_refused_from_effective_time),
	    cmocka_unit_test(test_late_revocation_purges),
	    cmocka_unit_test(test_revocation_waits_for_enrolment),
	    cmocka_unit_test(test_wrong_federation),
	    cmocka_unit_test(test_duplicate),
	    cmocka_unit_test(test_bad_event_does_not_fail_batch),
	    cmocka_unit_test(test_pending_cap),
	    cmocka_unit_test(test_all_orders_edits_reactions),
	    cmocka_unit_test(test_all_orders_redactions),
	    cmocka_unit_test(test_all_orders_comment_edits),
	    cmocka_unit_test(test_enrol_names_any_order),
	    cmocka_unit_test(test_random_orders),
	    cmocka_unit_test(test_pool_verified_path),
	    cmocka_unit_test(test_trust_changes_any_order),
	    cmocka_unit_test(test_bodiless_copies),
	    cmocka_unit_test(test_children_before_post),
	    cmocka_unit_test(test_redaction_rights),
	    cmocka_unit_test(test_mentions),
	    cmocka_unit_test(test_reindex_and_verify),
	    cmocka_unit_test(test_reindex_out_of_order_history),
	    cmocka_unit_test(test_popular_post_counts),
	    cmocka_unit_test(test_key_records_cached_in_a_batch),
	};

	/* TEST_FILTER=test_mentions runs the matching tests only. */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
