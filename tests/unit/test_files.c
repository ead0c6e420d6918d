/*
 * Unit tests of files (PROTOCOL.md 18.3, 18.5): the file event's body rules
 * (kind 20) and the "files" of posts, the blob refs index and what a site
 * wants from it (node/query/files.c): redactions take blobs out, and the
 * same events in any order give the same wanted set and fetch order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "node/event/event.h"
#include "tests/unit/ingest_fixture.h"

static void
s_world(ev_t w[6])
{
	fx_cert(&w[0], K_PARIS, "paris", TS(1, 0));
	fx_cert(&w[1], K_LYON, "lyon", TS(1, 1));
	fx_enrol(&w[2], K_PARIS, K_ALICE, "alice", "paris", "member", TS(2, 0));
	fx_enrol(&w[3], K_PARIS, K_BOB, "bob", "paris", "member", TS(2, 1));
	fx_enrol(&w[4], K_PARIS, K_CAROL, "carol", "paris", "member", TS(2, 2));
	fx_enrol(&w[5], K_PARIS, K_DAVE, "dave", "paris", "admin", TS(2, 3));
}

/* A blob id made of one repeated hex digit pair. */
static const char *
s_blob(char out[65], int c)
{
	for (int i = 0; i < 64; i++)
		out[i] = "0123456789abcdef"[(c >> (i % 2 ? 0 : 4)) & 15];
	out[64] = 0;
	return out;
}

/* A file event by k naming blob b (with thumbnails t1, t2 when nonzero). */
static void
s_file(ev_t *e, int k, uint64_t ts, int b, const char *type, json_int_t size, int t1, int t2)
{
	char h[65];
	json_t *body = json_pack("{s:s, s:I, s:s, s:s}", "blob", s_blob(h, b), "size", size, "type",
	                         type, "name", "photo quai 3.jpg");
	if (t1) {
		json_t *th = json_array();
		json_array_append_new(th, json_pack("{s:s, s:i, s:i, s:i}", "blob", s_blob(h, t1),
		                                    "size", 1800, "w", 320, "h", 240));
		if (t2)
			json_array_append_new(th, json_pack("{s:s, s:i, s:i, s:i}", "blob",
			                                    s_blob(h, t2), "size", 16000, "w", 1280,
			                                    "h", 960));
		json_object_set_new(body, "w", json_integer(4032));
		json_object_set_new(body, "h", json_integer(3024));
		json_object_set_new(body, "thumbs", th);
	}
	fx_mk(e, k, EVT_FILE, ts, body);
}

/* Whether blob c is wanted in f's store. */
static int
s_wanted(fx_t *f, int c, query_blob_t *out)
{
	char h[65];
	uint8_t id[32];
	query_blob_t b;
	store_txn_t *txn;
	int rc;

	assert_int_equal(cpt_unhex32(id, s_blob(h, c), 64), 0);
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	rc = query_blob_wanted(txn, id, out ? out : &b);
	store_read_end(f->st, &txn);
	assert_true(rc == 0 || rc == CPT_ENOTFOUND);
	return rc == 0;
}

/* The missing list (no blob store: every wanted blob is missing), as the
 * first bytes of each id, in fetch order. */
struct list {
	uint8_t first[16]; /* the first byte of each id */
	int prio[16];      /* its class */
	size_t n;          /* how many */
};

static int
s_list_fn(void *arg, const query_blob_t *b)
{
	struct list *l = arg;

	if (l->n < 16) {
		l->prio[l->n] = b->prio;
		l->first[l->n++] = b->id[0];
	}
	return 0;
}

static void
s_missing(fx_t *f, struct list *l)
{
	store_txn_t *txn;

	memset(l, 0, sizeof(*l));
	assert_int_equal(store_read_begin(f->st, &txn), 0);
	assert_int_equal(query_blobs_missing(txn, NULL, 0, 16, s_list_fn, l), 0);
	store_read_end(f->st, &txn);
}

/* Bodies that break a rule of 18.3 are refused, naming the field. */
static void
test_file_rules(void **state)
{
	fx_t f;
	ev_t w[6], e;
	char h[65];
	ingest_res_t res;
	struct {
		const char *why; /* what is wrong */
		json_t *body;    /* the body */
	} bad[] = {
	    {"svg type", json_pack("{s:s, s:i, s:s, s:s}", "blob", s_blob(h, 1), "size", 10, "type",
	                           "image/svg+xml", "name", "a.svg")},
	    {"size 0", json_pack("{s:s, s:i, s:s, s:s}", "blob", s_blob(h, 1), "size", 0, "type",
	                         "application/pdf", "name", "a.pdf")},
	    {"slash in name", json_pack("{s:s, s:i, s:s, s:s}", "blob", s_blob(h, 1), "size", 10,
	                                "type", "application/pdf", "name", "../a.pdf")},
	    {"uppercase blob",
	     json_pack("{s:s, s:i, s:s, s:s}", "blob",
	               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "size",
	               10, "type", "application/pdf", "name", "a.pdf")},
	    {"w without h", json_pack("{s:s, s:i, s:s, s:s, s:i}", "blob", s_blob(h, 1), "size", 10,
	                              "type", "image/png", "name", "a.png", "w", 10)},
	    {"thumbs on a pdf",
	     json_pack("{s:s, s:i, s:s, s:s, s:[]}", "blob", s_blob(h, 1), "size", 10, "type",
	               "application/pdf", "name", "a.pdf", "thumbs")},
	    {"post files not ids", NULL},
	};

	(void)state;
	s_world(w);
	fx_open(&f);
	for (int i = 0; i < 6; i++)
		FX_IN(&f, &w[i], 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (bad[i].body == NULL)
			fx_mk(&e, K_ALICE, EVT_POST, TS(10, (int)i),
			      json_pack("{s:s, s:[s]}", "text", "hi", "files", "nope"));
		else
			fx_mk(&e, K_ALICE, EVT_FILE, TS(10, (int)i), bad[i].body);
		fx_raw(&f, e.buf, e.len, &res);
		if (res.rc != CPT_EINVAL)
			fail_msg("%s: admitted (rc %d)", bad[i].why, res.rc);
		fx_free(&e);
	}
	/* The good one, and a post carrying it. */
	s_file(&e, K_ALICE, TS(20, 0), 1, "image/jpeg", 2483117, 2, 3);
	FX_IN(&f, &e, 0);
	{
		ev_t p;
		fx_mk(&p, K_ALICE, EVT_POST, TS(21, 0),
		      json_pack("{s:s, s:[s]}", "text", "quai 3", "files", e.hex));
		FX_IN(&f, &p, 0);
		fx_free(&p);
	}
	assert_true(s_wanted(&f, 1, NULL));
	assert_true(s_wanted(&f, 2, NULL));
	assert_false(s_wanted(&f, 4, NULL));
	fx_free(&e);
	fx_close(&f);
	for (int i = 0; i < 6; i++)
		fx_free(&w[i]);
}

enum { F_A, F_PDF, F_TXT, F_A_AGAIN, F_BIG, R_TXT, R_A, N_EV };

static void
s_scene(ev_t ev[N_EV])
{
	s_file(&ev[F_A], K_ALICE, TS(30, 0), 0x11, "image/jpeg", 2483117, 0x21, 0x22);
	s_file(&ev[F_PDF], K_BOB, TS(31, 0), 0x12, "application/pdf", 5000000, 0, 0);
	s_file(&ev[F_TXT], K_ALICE, TS(32, 0), 0x13, "text/plain", 100, 0, 0);
	s_file(&ev[F_A_AGAIN], K_BOB, TS(33, 0), 0x11, "image/jpeg", 2483117, 0, 0);
	s_file(&ev[F_BIG], K_CAROL, TS(34, 0), 0x14, "application/pdf", 900000000, 0, 0);
	fx_redact(&ev[R_TXT], K_ALICE, TS(40, 0), &ev[F_TXT]);
	fx_redact(&ev[R_A], K_ALICE, TS(41, 0), &ev[F_A]);
}

/* What is wanted follows the events: a redaction takes a blob out when no
 * other event names it, and the thumbnails of the redacted file go with
 * it; the fetch order puts thumbnails first, then small files newest
 * first, then large ones smallest first. */
static void
test_wanted_follows_events(void **state)
{
	fx_t f;
	ev_t w[6], ev[N_EV];
	query_blob_t b;
	struct list l;

	(void)state;
	s_world(w);
	s_scene(ev);
	fx_open(&f);
	for (int i = 0; i < 6; i++)
		FX_IN(&f, &w[i], 0);
	for (int i = F_A; i <= F_BIG; i++)
		FX_IN(&f, &ev[i], 0);
	assert_true(s_wanted(&f, 0x11, &b));
	assert_int_equal(b.refs, 2);
	assert_false(b.is_private);
	assert_int_equal(b.size, 2483117);
	assert_string_equal(b.type, "image/jpeg");
	assert_memory_equal(b.author, fx_pk(K_ALICE), CPT_KEY_LEN); /* the first to name it */
	assert_memory_equal(b.event, ev[F_A_AGAIN].id, CPT_ID_LEN); /* the newest */
	assert_true(s_wanted(&f, 0x21, &b));
	assert_int_equal(b.prio, QUERY_BLOB_THUMB);
	assert_true(s_wanted(&f, 0x13, &b));
	assert_int_equal(b.prio, QUERY_BLOB_SMALL_FILE);
	s_missing(&f, &l);
	/* thumbnails (same event: by id), small newest first, large smallest
	 * first */
	assert_int_equal(l.n, 6);
	assert_int_equal(l.prio[0], QUERY_BLOB_THUMB);
	assert_int_equal(l.prio[1], QUERY_BLOB_THUMB);
	assert_int_equal(l.first[0], 0x21);
	assert_int_equal(l.first[1], 0x22);
	assert_int_equal(l.first[2], 0x13); /* 100 B, newest small one */
	assert_int_equal(l.first[3], 0x11); /* 2.4 MB */
	assert_int_equal(l.first[4], 0x12); /* 5 MB */
	assert_int_equal(l.first[5], 0x14); /* 900 MB, last */

	FX_IN(&f, &ev[R_TXT], 0);
	assert_false(s_wanted(&f, 0x13, NULL));
	FX_IN(&f, &ev[R_A], 0);
	assert_true(s_wanted(&f, 0x11, &b)); /* bob's file names it still */
	assert_int_equal(b.refs, 1);
	assert_false(s_wanted(&f, 0x21, NULL)); /* its thumbnails were alice's only */
	assert_false(s_wanted(&f, 0x22, NULL));
	s_missing(&f, &l);
	assert_int_equal(l.n, 3);
	fx_close(&f);
	for (int i = 0; i < N_EV; i++)
		fx_free(&ev[i]);
	for (int i = 0; i < 6; i++)
		fx_free(&w[i]);
}

/* Convergence: the same events in any order give the same blob refs,
 * byte for byte, and the same fetch list. */
static void
test_wanted_any_order(void **state)
{
	ev_t w[6], ev[N_EV], *list[6 + N_EV];
	uint64_t seed = 20;
	snap_t first, cur;
	struct list l0, l;

	(void)state;
	s_world(w);
	s_scene(ev);
	for (int run = 0; run < 40; run++) {
		fx_t f;
		for (int i = 0; i < 6; i++)
			list[i] = &w[i];
		for (int i = 0; i < N_EV; i++)
			list[6 + i] = &ev[i];
		if (run > 0)
			fx_shuffle(list, 6 + N_EV, &seed);
		fx_open_scratch(&f);
		/* Out of order events wait (pending) and come in when their
		 * author's enrolment does: one at a time, as from a peer. */
		for (int i = 0; i < 6 + N_EV; i++)
			fx_in(&f, list[i]);
		s_missing(&f, &l);
		if (run == 0) {
			fx_snap(f.st, &first);
			l0 = l;
			assert_int_equal(l0.n, 3); /* 0x11 (bob's), 0x12, 0x14 */
		} else {
			char what[32];
			fx_snap(f.st, &cur);
			snprintf(what, sizeof(what), "order %d", run);
			FX_SNAP_EQUAL(&first, &cur, what);
			fx_snap_free(&cur);
			assert_int_equal(l.n, l0.n);
			assert_memory_equal(l.first, l0.first, l.n);
		}
		fx_close(&f);
	}
	fx_snap_free(&first);
	for (int i = 0; i < N_EV; i++)
		fx_free(&ev[i]);
	for (int i = 0; i < 6; i++)
		fx_free(&w[i]);
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
	fx_keys_free();
	fx_rmtree(s_template);
	fx_scratch_free();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_file_rules),
	    cmocka_unit_test(test_wanted_follows_events),
	    cmocka_unit_test(test_wanted_any_order),
	};

	return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
