/*
 * Unit tests for what the sync engine asks of a node (node/federation.c,
 * fed_sync_ops): a real node opened on a directory made by `comptoir init`.
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

#include "node/node.h"
#include "sync/sync.h"

/* A new node in a temporary directory, made by the real binary. */
static node_t *
s_node(char dir[64])
{
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	char cmd[512], err[1024];
	node_t *n = NULL;

	snprintf(dir, 64, "/tmp/comptoir-fedops-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "%s/comptoir init --dir %s/n --site ops >/dev/null 2>&1", build, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/n", dir);
	if (node_open(&n, cmd, err, sizeof(err)) != 0)
		fail_msg("node_open: %s", err);
	return n;
}

static void
s_rm(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A post signed in this federation by key. */
static size_t
s_post(node_t *n, const key_sign_t *key, const char *text, uint8_t *out, size_t cap)
{
	char body[256];
	size_t len;

	snprintf(body, sizeof(body), "{\"text\":\"%s\"}", text);
	assert_int_equal(evt_sign(out, cap, &len, EVT_POST, node_ingest_ctx(n)->fed,
	                          HLC_MAKE(hlc_wall_ms(), 0), (const uint8_t *)body, strlen(body), key),
	                 0);
	return len;
}

/* has() answers for events stored and for events waiting for their
 * author's enrolment: asking a peer for those again would only bring the
 * same bytes back at every reconciliation. */
static void
test_has_sees_pending(void **state)
{
	char dir[64];
	node_t *n = s_node(dir);
	sync_ops_t ops;
	key_sign_t *stranger = key_sign_new(), *user = key_sign_new();
	uint8_t env[2][512], id[2][CPT_ID_LEN], other[CPT_ID_LEN];
	const uint8_t *bufs[1];
	size_t len[2];
	ingest_res_t res;
	json_t *b;
	char hex[CPT_HEX_ID];

	(void)state;
	memset(&ops, 0, sizeof(ops));
	fed_sync_ops(n, &ops);
	assert_non_null(ops.has);
	/* One from a key nobody enrolled: it waits. */
	len[0] = s_post(n, stranger, "who am i", env[0], sizeof(env[0]));
	evt_id_raw(id[0], env[0]);
	bufs[0] = env[0];
	assert_int_equal(node_submit(n, bufs, &len[0], 1, &res), 0);
	assert_int_equal(res.rc, CPT_EPENDING);
	assert_int_equal(ops.has(ops.ctx, id[0]), 1);
	/* One from an enrolled user: stored. */
	cpt_hex32(hex, key_sign_public(user));
	b = json_pack("{s:s, s:s, s:s, s:s}", "handle", "ops1", "key", hex, "site", node_cfg(n)->name,
	              "role", "member");
	assert_int_equal(node_publish(n, node_site_key(n), EVT_ENROL, b, &res), 0);
	assert_int_equal(res.rc, 0);
	json_decref(b);
	len[1] = s_post(n, user, "hello", env[1], sizeof(env[1]));
	evt_id_raw(id[1], env[1]);
	bufs[0] = env[1];
	assert_int_equal(node_submit(n, bufs, &len[1], 1, &res), 0);
	assert_int_equal(res.rc, 0);
	assert_int_equal(ops.has(ops.ctx, id[1]), 1);
	/* Neither: an id that shares nothing with them, and one that shares
	 * all but its last byte with the waiting one. */
	randombytes_buf(other, sizeof(other));
	assert_int_equal(ops.has(ops.ctx, other), 0);
	memcpy(other, id[0], CPT_ID_LEN);
	other[CPT_ID_LEN - 1] ^= 1;
	assert_int_equal(ops.has(ops.ctx, other), 0);
	key_sign_destroy(&stranger);
	key_sign_destroy(&user);
	node_close(&n);
	s_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_has_sees_pending),
	};

	if (cpt_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
