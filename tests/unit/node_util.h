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
#include "node/index/index.h"

/* How far back a test node's site is certified and its users enrolled:
 * events of the tests may be dated up to this long ago (a user key is valid
 * from its enrolment, a site key inside its certificates' windows). */
#define TU_PAST_MS (400ull * 86400000ull)

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
	{
		/* The site certified again, from TU_PAST_MS ago (windows add up). */
		char path[128], *text;
		key_sign_t *root;
		store_txn_t *txn;
		json_t *rec, *body;
		uint8_t env[2048];
		size_t len;
		uint64_t ms = hlc_wall_ms() - TU_PAST_MS;
		ingest_res_t res;
		const uint8_t *b = env;
		snprintf(path, sizeof(path), "%s/n/keys/root.key", dir);
		assert_non_null(root = key_sign_load(path, err, sizeof(err)));
		assert_int_equal(store_read_begin(node_store(n), &txn), 0);
		rec = index_key_info(txn, key_sign_public(node_site_key(n)));
		store_read_end(node_store(n), &txn);
		assert_non_null(rec);
		body =
		    json_pack("{s:s, s:s, s:O, s:O, s:[s], s:I, s:I}", "site", site, "sign_key", "",
		              "curve_key", json_object_get(rec, "curve_key"), "seal_key",
		              json_object_get(rec, "seal_key"), "endpoints", "tcp://127.0.0.1:7400",
		              "not_before", (json_int_t)ms, "not_after", (json_int_t)0);
		cpt_hex32(path, key_sign_public(node_site_key(n)));
		json_object_set_new(body, "sign_key", json_string(path));
		text = json_dumps(body, JSON_COMPACT);
		assert_int_equal(evt_sign(env, sizeof(env), &len, EVT_SITE_CERT,
		                          node_ingest_ctx(n)->fed, HLC_MAKE(ms, 0),
		                          (const uint8_t *)text, strlen(text), root),
		                 0);
		assert_int_equal(node_submit(n, &b, &len, 1, &res), 0);
		assert_int_equal(res.rc, 0);
		free(text);
		json_decref(body);
		json_decref(rec);
		key_sign_destroy(&root);
	}
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
	char hex[CPT_HEX_ID], proof[2 * CPT_SIG_LEN + 1];
	uint8_t sig[CPT_SIG_LEN];
	ingest_res_t res;
	json_t *b;

	cpt_hex32(hex, key_sign_public(key));
	/* The key agrees to be this handle at this site (PROTOCOL.md 7.2). */
	assert_int_equal(
	    evt_proof_sign(sig, key, node_ingest_ctx(n)->fed, node_cfg(n)->name, handle), 0);
	sodium_bin2hex(proof, sizeof(proof), sig, sizeof(sig));
	b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "handle", handle, "key", hex, "site",
	              node_cfg(n)->name, "role", "member", "proof", proof);
	{
		/* Enrolled TU_PAST_MS ago, inside the site's window (tu_node). */
		char *text = json_dumps(b, JSON_COMPACT);
		uint8_t env[1024];
		size_t len = tu_sign(n, node_site_key(n), EVT_ENROL, text,
		                     hlc_wall_ms() - TU_PAST_MS + 1000, env, sizeof(env));
		const uint8_t *p = env;
		assert_int_equal(node_submit(n, &p, &len, 1, &res), 0);
		assert_int_equal(res.rc, 0);
		free(text);
	}
	json_decref(b);
}

/* Certifies a site of name site with these keys in n's federation (the
 * root of dir signs it), valid from from_ms until until_ms (0: no end). */
__attribute__((unused)) static void
tu_certify(node_t *n, const char *dir, const char *site, const key_sign_t *sign,
           const key_curve_t *curve, const key_curve_t *seal, uint64_t from_ms, uint64_t until_ms)
{
	char path[128], err[256], hex[3][CPT_HEX_ID], *text;
	key_sign_t *root;
	uint8_t env[2048];
	size_t len;
	ingest_res_t res;
	const uint8_t *b = env;
	json_t *body;

	snprintf(path, sizeof(path), "%s/n/keys/root.key", dir);
	assert_non_null(root = key_sign_load(path, err, sizeof(err)));
	cpt_hex32(hex[0], key_sign_public(sign));
	cpt_hex32(hex[1], key_curve_public(curve));
	cpt_hex32(hex[2], key_curve_public(seal));
	body = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:I, s:I}", "site", site, "sign_key", hex[0],
	                 "curve_key", hex[1], "seal_key", hex[2], "endpoints", "tcp://127.0.0.1:9",
	                 "not_before", (json_int_t)from_ms, "not_after", (json_int_t)until_ms);
	text = json_dumps(body, JSON_COMPACT);
	len = tu_sign(n, root, EVT_SITE_CERT, text, from_ms, env, sizeof(env));
	assert_int_equal(node_submit(n, &b, &len, 1, &res), 0);
	assert_int_equal(res.rc, 0);
	free(text);
	json_decref(body);
	key_sign_destroy(&root);
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
