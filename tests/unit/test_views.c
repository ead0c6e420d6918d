/*
 * Unit tests of the read side that pages and counts (node/query/:
 * query_comments, query_figures) on a real node made by
 * `comptoir init`, with events signed in its federation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/core/core.h"
#include "node/query/query.h"
#include "tests/unit/node_util.h"

#define DAY 86400000ULL

/* The JSON body of a comment or reaction on post. */
static const char *
s_ref_body(char *out, size_t cap, const uint8_t post[CPT_ID_LEN], const char *fmt, const char *arg)
{
	char hex[CPT_HEX_ID], tail[128];

	cpt_hex32(hex, post);
	snprintf(tail, sizeof(tail), fmt, arg);
	snprintf(out, cap, "{\"post\":\"%s\",%s}", hex, tail);
	return out;
}

/* Stores an event of kind by key at ms; its id. */
static void
s_put(node_t *n, const key_sign_t *key, unsigned kind, const char *body, uint64_t ms,
      uint8_t id[CPT_ID_LEN])
{
	uint8_t env[1024];
	size_t len = tu_sign(n, key, kind, body, ms, env, sizeof(env));

	assert_int_equal(tu_submit(n, env, len, id), 0);
}

static json_t *
s_site_of(json_t *f, const char *site)
{
	size_t i;
	json_t *x;

	json_array_foreach (json_object_get(f, "sites"), i, x)
		if (strcmp(json_string_value(json_object_get(x, "site")), site) == 0)
			return x;
	fail_msg("no site %s in the figures", site);
	return NULL;
}

static json_int_t
s_int(json_t *o, const char *k)
{
	assert_true(json_is_integer(json_object_get(o, k)));
	return json_integer_value(json_object_get(o, k));
}

/* A thread of 5 comments with reactions between them, paged 2 by 2 from
 * the newest; an unknown post has no comments. */
static void
test_comments_pages(void **state)
{
	char dir[64], body[256], text[16], next[81];
	node_t *n = tu_node(dir, "unit");
	key_sign_t *a = key_sign_new();
	uint8_t post[CPT_ID_LEN], c[5][CPT_ID_LEN], cur[40], other[CPT_ID_LEN];
	uint64_t now = hlc_wall_ms();
	const char *want[3][2] = {{"c3", "c4"}, {"c1", "c2"}, {"c0", NULL}};
	store_t *st = node_store(n);
	store_txn_t *txn;
	json_t *page, *p;

	(void)state;
	tu_enrol(n, a, "ann");
	s_put(n, a, EVT_POST, "{\"text\":\"a thread\"}", now - 60000, post);
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "c%d", i);
		s_put(n, a, EVT_COMMENT,
		      s_ref_body(body, sizeof(body), post, "\"text\":\"%s\"", text),
		      now - 50000 + (uint64_t)i * 1000, c[i]);
		s_put(n, a, EVT_REACTION,
		      s_ref_body(body, sizeof(body), post, "\"reaction\":\"%s\",\"on\":true",
		                 i % 2 ? "+1" : "ok"),
		      now - 49500 + (uint64_t)i * 1000, NULL);
	}
	assert_int_equal(store_read_begin(st, &txn), 0);
	for (int pg = 0; pg < 3; pg++) {
		page = query_comments(txn, post, pg ? cur : NULL, 2, next);
		assert_non_null(page);
		assert_int_equal(json_array_size(page), want[pg][1] ? 2 : 1);
		for (size_t i = 0; i < json_array_size(page); i++)
			assert_string_equal(
			    json_string_value(json_object_get(json_array_get(page, i), "text")),
			    want[pg][i]);
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(page, 0), "author")), "ann");
		if (pg < 2) {
			size_t got = 0;
			assert_int_equal(strlen(next), 80);
			assert_int_equal(
			    sodium_hex2bin(cur, sizeof(cur), next, 80, NULL, &got, NULL), 0);
			assert_int_equal(got, 40);
			/* The cursor is the oldest listed: (ts, id) of its comment. */
			assert_memory_equal(cur + 8, c[3 - 2 * pg], CPT_ID_LEN);
		} else {
			assert_string_equal(next, "");
		}
		json_decref(page);
	}
	/* The post carries them all (fewer than a page) and no cursor. */
	p = query_post(txn, post, 1);
	assert_non_null(p);
	assert_int_equal(json_array_size(json_object_get(p, "comment_list")), 5);
	assert_true(json_is_null(json_object_get(p, "comments_before")));
	assert_int_equal(s_int(p, "comments"), 5);
	json_decref(p);
	/* A post nobody wrote: no view, and no comments to page through. */
	randombytes_buf(other, sizeof(other));
	assert_null(query_post(txn, other, 1));
	page = query_comments(txn, other, NULL, 50, next);
	assert_non_null(page);
	assert_int_equal(json_array_size(page), 0);
	assert_string_equal(next, "");
	json_decref(page);
	store_read_end(st, &txn);
	key_sign_destroy(&a);
	node_close(&n);
	tu_rm(dir);
}

/* Counts over a period, by week, and after a user is disabled; periods
 * out of range are refused. */
static void
test_figures(void **state)
{
	char dir[64], body[256], err[256];
	node_t *n = tu_node(dir, "unit");
	key_sign_t *a = key_sign_new(), *b = key_sign_new();
	uint8_t post[CPT_ID_LEN];
	uint64_t now = hlc_wall_ms();
	store_t *st = node_store(n);
	store_txn_t *txn;
	json_t *f, *s, *w;
	json_int_t staff0;

	(void)state;
	assert_int_equal(store_read_begin(st, &txn), 0);
	assert_null(query_figures(txn, now, 0));
	assert_null(query_figures(txn, now, QUERY_FIGURES_MAX_DAYS + 1));
	assert_null(query_figures(txn, 1000, 1)); /* a clock before the period */
	/* A new site is listed before anyone is enrolled or writes. */
	f = query_figures(txn, now, 30);
	assert_non_null(f);
	assert_int_equal(json_array_size(json_object_get(f, "sites")), 1);
	s = s_site_of(f, "unit");
	staff0 = s_int(s, "staff");
	assert_int_equal(s_int(s, "active") + s_int(s, "posts") + s_int(s, "comments") +
	                     s_int(s, "reactions"),
	                 0);
	json_decref(f);
	store_read_end(st, &txn);

	tu_enrol(n, a, "ann");
	tu_enrol(n, b, "bea");
	s_put(n, a, EVT_POST, "{\"text\":\"old\"}", now - 40 * DAY, NULL);
	s_put(n, a, EVT_POST, "{\"text\":\"last week\"}", now - 10 * DAY, NULL);
	s_put(n, a, EVT_POST, "{\"text\":\"today\"}", now - 3600000, post);
	s_put(n, b, EVT_COMMENT, s_ref_body(body, sizeof(body), post, "\"text\":\"%s\"", "yes"),
	      now - 1800000, NULL);
	s_put(n, b, EVT_REACTION,
	      s_ref_body(body, sizeof(body), post, "\"reaction\":\"%s\",\"on\":true", "+1"),
	      now - 1700000, NULL);

	assert_int_equal(store_read_begin(st, &txn), 0);
	f = query_figures(txn, now, 30);
	assert_non_null(f);
	s = s_site_of(f, "unit");
	assert_int_equal(s_int(s, "staff"), staff0 + 2);
	assert_int_equal(s_int(s, "active"), 2);
	assert_int_equal(s_int(s, "posts"), 2); /* not the one of 40 days ago */
	assert_int_equal(s_int(s, "comments"), 1);
	assert_int_equal(s_int(s, "reactions"), 1);
	assert_int_equal(json_array_size(json_object_get(f, "exchange")), 0);
	assert_int_equal(json_array_size(json_object_get(f, "weeks")), 5);
	w = json_array_get(json_object_get(f, "weeks"), 4); /* the last 7 days */
	assert_int_equal(s_int(w, "posts"), 1);
	assert_int_equal(s_int(w, "comments"), 1);
	assert_int_equal(s_int(w, "active"), 2);
	w = json_array_get(json_object_get(f, "weeks"), 3); /* 7 to 14 days ago */
	assert_int_equal(s_int(w, "posts"), 1);
	assert_int_equal(s_int(w, "active"), 1);
	assert_int_equal(s_int(f, "to") - s_int(f, "from"), (json_int_t)(30 * DAY));
	json_decref(f);
	f = query_figures(txn, now, 366);
	assert_int_equal(s_int(s_site_of(f, "unit"), "posts"), 3);
	json_decref(f);
	store_read_end(st, &txn);

	/* Disabled: out of the staff, still active in a period she wrote in. */
	assert_int_equal(users_disable(n, "bea", err, sizeof(err)), 0);
	assert_int_equal(store_read_begin(st, &txn), 0);
	f = query_figures(txn, now, 30);
	s = s_site_of(f, "unit");
	assert_int_equal(s_int(s, "staff"), staff0 + 1);
	assert_int_equal(s_int(s, "active"), 2);
	json_decref(f);
	store_read_end(st, &txn);
	key_sign_destroy(&a);
	key_sign_destroy(&b);
	node_close(&n);
	tu_rm(dir);
}

/* Search folding: case and the accents of Latin letters, in one or two
 * code points; nothing else changes and the output is never cut mid-way. */
static void
test_fold(void **state)
{
	static const char *const cases[][2] = {
	    {"Lef\xc3\xa8vre", "lefevre"},  /* è */
	    {"LEF\xc3\x88VRE", "lefevre"},  /* È */
	    {"Lefe\xcc\x80vre", "lefevre"}, /* e + U+0300 */
	    {"\xc3\x89lodie \xc3\x86sir", "elodie aesir"},
	    {"Stra\xc3\x9f"
	     "e",
	     "strasse"}, /* ß */
	    {"\xc5\x92uvre \xc5\x81\xc3\xb3"
	     "d\xc5\xba",
	     "oeuvre lodz"},
	    {"\xc3\x97\xc3\xb7", "\xc3\x97\xc3\xb7"}, /* × ÷ stay */
	    {"\xe6\x9d\xb1\xe4\xba\xac \xd0\x9c", "\xe6\x9d\xb1\xe4\xba\xac \xd0\x9c"},
	    {"\xc3", "\xc3"}, /* a cut sequence is copied */
	    {"", ""},
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		query_fold(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
	/* A small buffer: whole characters only, always terminated. */
	query_fold("\xc3\x89t\xc3\xa9", out, 4);
	assert_string_equal(out, "ete");
	query_fold("ab\xe6\x9d\xb1", out, 4);
	assert_string_equal(out, "ab");
	query_fold("\xc3\x86", out, 2);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_comments_pages),
	    cmocka_unit_test(test_figures),
	    cmocka_unit_test(test_fold),
	};

	if (cpt_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
