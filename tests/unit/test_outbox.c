/*
 * Unit tests for node/outbox/outbox.c on a real store: entries of one lane
 * go in the order put and a failing one holds back the later ones of its
 * lane, not the others'; a channel takes only its own entries (and "mail"
 * the entries made before channels); a failure backs off and is tried
 * again; the channel's flush runs in the commit of the outcomes; a lane is
 * dropped whole.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/outbox/outbox.h"

static char s_dir[64];

static store_t *
s_store(void)
{
	store_t *st = NULL;
	char err[256];

	snprintf(s_dir, sizeof(s_dir), "/tmp/cpt-outbox-XXXXXX");
	assert_non_null(mkdtemp(s_dir));
	assert_int_equal(store_open(&st, s_dir, STORE_CREATE, NULL, NULL, err, sizeof(err)), 0);
	return st;
}

static void
s_gone(store_t **st)
{
	char cmd[128];

	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", s_dir);
	assert_int_equal(system(cmd), 0);
}

/* What the test channel saw, in order. */
struct seen {
	pthread_mutex_t mu;
	char log[64][16]; /* "lane:n" delivered or "lane:n!" failed */
	size_t n;
	int fail_a;  /* the first deliveries of lane "a" to fail */
	int flushes; /* flush calls */
};

static enum outbox_result
s_deliver(void *arg, const json_t *e, char *err, size_t errlen)
{
	struct seen *s = arg;
	const char *lane = json_string_value(json_object_get(e, "lane"));
	int n = (int)json_integer_value(json_object_get(e, "n"));
	int fail = 0;

	pthread_mutex_lock(&s->mu);
	if (lane && strcmp(lane, "a") == 0 && s->fail_a > 0) {
		s->fail_a--;
		fail = 1;
	}
	if (s->n < 64)
		snprintf(s->log[s->n++], 16, "%s:%d%s", lane ? lane : "-", n, fail ? "!" : "");
	pthread_mutex_unlock(&s->mu);
	if (fail) {
		snprintf(err, errlen, "refused");
		return OUTBOX_RETRY;
	}
	return OUTBOX_SENT;
}

static int
s_flush(void *arg, store_txn_t *txn)
{
	struct seen *s = arg;
	uint64_t v = 1;

	s->flushes++;
	/* Written in the outcomes' commit. */
	return store_meta_put(txn, "outbox_test", &v, sizeof(v));
}

struct put {
	const char *channel, *lane;
	int n;
};

static int
s_put_fn(store_txn_t *txn, void *arg)
{
	const struct put *p = arg;
	json_t *e = json_pack("{s:i}", "n", p->n);
	int rc = outbox_put(txn, p->channel, p->lane, e, hlc_wall_ms());

	json_decref(e);
	return rc;
}

static void
s_put(store_t *st, const char *channel, const char *lane, int n)
{
	struct put p = {channel, lane, n};
	assert_int_equal(store_write(st, s_put_fn, &p), 0);
}

static size_t
s_waiting(store_t *st, const char *channel, const char *lane)
{
	json_t *j = outbox_status(st, channel, lane);
	size_t n = (size_t)json_integer_value(json_object_get(j, "waiting"));

	json_decref(j);
	return n;
}

/* Waits (at most 20 s) until nothing of channel waits. */
static void
s_drain(store_t *st, const char *channel)
{
	for (int i = 0; i < 2000 && s_waiting(st, channel, NULL) > 0; i++)
		usleep(10000);
	assert_int_equal(s_waiting(st, channel, NULL), 0);
}

static size_t
s_index(struct seen *s, const char *what)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->log[i], what) == 0)
			return i;
	fail_msg("%s was not delivered", what);
	return 0;
}

static void
test_lanes_in_order_and_held_back(void **state)
{
	store_t *st = s_store();
	struct seen s = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0, 2, 0};
	outbox_ops_t ops = {0};
	outbox_t *o = NULL;
	char err[128];

	(void)state;
	for (int i = 0; i < 3; i++) {
		s_put(st, "test", "a", i);
		s_put(st, "test", "b", i);
	}
	s_put(st, "other", "a", 9); /* another channel's: never seen here */
	ops.name = "test";
	ops.deliver = s_deliver;
	ops.flush = s_flush;
	ops.arg = &s;
	ops.retry_min_s = 1;
	ops.retry_max_s = 1;
	ops.give_up_ms = 3600000;
	ops.poll_ms = 50;
	assert_int_equal(outbox_start(&o, st, &ops, err, sizeof(err)), 0);
	s_drain(st, "test");
	outbox_stop(&o);
	assert_null(o);
	/* Lane a: its first failed twice, and its later ones came after it. */
	assert_true(s_index(&s, "a:0!") < s_index(&s, "a:0"));
	assert_true(s_index(&s, "a:0") < s_index(&s, "a:1"));
	assert_true(s_index(&s, "a:1") < s_index(&s, "a:2"));
	/* Lane b went on meanwhile: all of it before a's retry. */
	assert_true(s_index(&s, "b:2") < s_index(&s, "a:0"));
	assert_int_equal(s.n, 8); /* 6 entries, 2 failures, nothing twice */
	assert_int_equal(s_waiting(st, "other", NULL), 1);
	assert_true(s.flushes >= 2);
	{
		store_txn_t *txn;
		uint8_t v[8];
		size_t len = sizeof(v);
		assert_int_equal(store_read_begin(st, &txn), 0);
		assert_int_equal(store_meta_get(txn, "outbox_test", v, &len), 0);
		store_read_end(st, &txn);
	}
	s_gone(&st);
}

static int
s_drop_fn(store_txn_t *txn, void *arg)
{
	return outbox_drop_lane(txn, "test", arg);
}

static void
test_drop_lane(void **state)
{
	store_t *st = s_store();

	(void)state;
	for (int i = 0; i < 40; i++) /* more than one round of deletions */
		s_put(st, "test", i % 2 ? "a" : "b", i);
	s_put(st, "mail", NULL, 1);
	assert_int_equal(s_waiting(st, "test", "a"), 20);
	assert_int_equal(store_write(st, s_drop_fn, "a"), 0);
	assert_int_equal(s_waiting(st, "test", "a"), 0);
	assert_int_equal(s_waiting(st, "test", "b"), 20);
	assert_int_equal(s_waiting(st, "mail", NULL), 1);
	s_gone(&st);
}

/* An entry of the mail outbox as issue 18 wrote it: no channel. */
static int
s_old_mail_fn(store_txn_t *txn, void *arg)
{
	uint8_t k[16] = {0};
	json_t *e = json_pack("{s:s, s:I, s:i, s:I}", "to", "a@b.c", "created",
	                      (json_int_t)hlc_wall_ms(), "attempts", 0, "next_at", (json_int_t)0);
	int rc;

	(void)arg;
	k[7] = 1;
	rc = store_put_json(txn, DB_OUTBOX, k, sizeof(k), e);
	json_decref(e);
	return rc;
}

static void
test_old_mail_entries_are_mail(void **state)
{
	store_t *st = s_store();

	(void)state;
	assert_int_equal(store_write(st, s_old_mail_fn, NULL), 0);
	assert_int_equal(s_waiting(st, "mail", NULL), 1);
	assert_int_equal(s_waiting(st, "test", NULL), 0);
	s_gone(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lanes_in_order_and_held_back),
	    cmocka_unit_test(test_drop_lane),
	    cmocka_unit_test(test_old_mail_entries_are_mail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
