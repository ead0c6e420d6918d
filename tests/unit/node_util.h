/*
 * Helpers of the unit tests that need a whole node: a real one, made by the
 * real binary in a temporary directory (`comptoir init`), and events signed
 * in its federation. Included by one test file each (static functions).
 */
#ifndef TESTS_UNIT_NODE_UTIL_H
#define TESTS_UNIT_NODE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/core/core.h"

/* A new node in a temporary directory (dir gets its path). */
__attribute__((unused)) static node_t *
tu_node(char dir[64], const char *site)
{
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	char cmd[512], err[1024];
	node_t *n = NULL;

	snprintf(dir, 64, "/tmp/comptoir-unit-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "%s/comptoir init --dir %s/n --site %s >/dev/null 2>&1", build,
	         dir, site);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/n", dir);
	if (node_open(&n, cmd, err, sizeof(err)) != 0)
		fail_msg("node_open: %s", err);
	return n;
}

__attribute__((unused)) static void
tu_rm(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* An event of kind with body (JSON text) signed by key at ms, into out. */
__attribute__((unused)) static size_t
tu_sign(node_t *n, const key_sign_t *key, unsigned kind, const char *body, uint64_t ms,
        uint8_t *out, size_t cap)
{
	size_t len;

	assert_int_equal(evt_sign(out, cap, &len, kind, node_ingest_ctx(n)->fed, HLC_MAKE(ms, 0),
	                          (const uint8_t *)body, strlen(body), key),
	                 0);
	return len;
}

/* Enrols key as handle, a member of this node's site. */
__attribute__((unused)) static void
tu_enrol(node_t *n, const key_sign_t *key, const char *handle)
{
	char hex[CPT_HEX_ID];
	ingest_res_t res;
	json_t *b;

	cpt_hex32(hex, key_sign_public(key));
	b = json_pack("{s:s, s:s, s:s, s:s}", "handle", handle, "key", hex, "site",
	              node_cfg(n)->name, "role", "member");
	assert_int_equal(node_publish(n, node_site_key(n), EVT_ENROL, b, &res), 0);
	assert_int_equal(res.rc, 0);
	json_decref(b);
}

/* Stores one envelope; its result code. */
__attribute__((unused)) static int
tu_submit(node_t *n, const uint8_t *env, size_t len, uint8_t id[CPT_ID_LEN])
{
	const uint8_t *bufs[1] = {env};
	ingest_res_t res;

	assert_int_equal(node_submit(n, bufs, &len, 1, &res), 0);
	if (id)
		memcpy(id, res.id, CPT_ID_LEN);
	return res.rc;
}

#endif
