/*
 * Unit tests of a staff member's own event (node_publish) on a real node
 * made by `comptoir init`: what the author is told when a peer's copy of
 * the event is stored before the node's own commit.
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

#include "node/core/core.h"
#include "tests/unit/node_util.h"

/* The federation's offer, which hands the event to the peers before the
 * node commits it: here the "peer" answers at once by giving the same
 * bytes back, stored as a peer's before the author's own commit starts
 * (what a relay round a cycle of sites or a reconciliation does when the
 * author's commit is slow). */
struct echo {
	node_t *n;
	int calls;
	int rc;
	ingest_res_t res;
};

static int
s_echo(void *arg, const uint8_t *env, size_t len)
{
	struct echo *e = arg;
	const uint8_t *b = env;

	e->calls++;
	e->rc = node_submit_from_peer(e->n, &b, &len, 1, &e->res);
	return 1;
}

/* Events the node stored since its start. */
static uint64_t
s_stored(node_t *n)
{
	node_stats_t st;

	node_stats(n, &st);
	return st.ingested;
}

/* 1 when the store holds the event id. */
static int
s_holds(node_t *n, const uint8_t id[CPT_ID_LEN])
{
	store_txn_t *txn;
	int rc;

	assert_int_equal(store_read_begin(node_store(n), &txn), 0);
	rc = index_env_ts(txn, id, NULL);
	store_read_end(node_store(n), &txn);
	return rc == 0;
}

/* The echo stored first: the author's publish is a success naming the
 * event the peer's copy stored, and the store holds it once. */
static void
test_echo_before_own_commit(void **state)
{
	char dir[64];
	node_t *n = tu_node(dir, "unit");
	key_sign_t *a = key_sign_new();
	struct echo e = {n, 0, -1, {0}};
	json_t *body = json_pack("{s:s}", "text", "back before me");
	ingest_res_t res;
	uint64_t before;

	(void)state;
	tu_enrol(n, a, "ann");
	before = s_stored(n);
	node_set_offer(n, s_echo, &e);
	assert_int_equal(node_publish(n, a, EVT_POST, body, &res), 0);
	node_set_offer(n, NULL, NULL);
	assert_int_equal(e.calls, 1);
	/* The peer's copy was stored first... */
	assert_int_equal(e.rc, 0);
	assert_int_equal(e.res.rc, 0);
	/* ...and the author is told the event is stored, not refused. */
	assert_int_equal(res.rc, 0);
	assert_memory_equal(res.id, e.res.id, CPT_ID_LEN);
	assert_true(s_holds(n, res.id));
	assert_int_equal(s_stored(n), before + 1);
	/* Without an echo a publish stores its event as ever. */
	assert_int_equal(node_publish(n, a, EVT_POST, body, &res), 0);
	assert_int_equal(res.rc, 0);
	assert_true(s_holds(n, res.id));
	assert_int_equal(s_stored(n), before + 2);
	json_decref(body);
	key_sign_destroy(&a);
	node_close(&n);
	tu_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_echo_before_own_commit),
	};

	if (cpt_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
