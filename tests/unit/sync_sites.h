/*
 * For the unit tests that run real sync engines over CURVE with no event
 * store behind them (test_blobsync, test_hold): an empty store's event ops
 * and the table of sites that admits and finds peers by their keys.
 * Included by one test file each (static functions), after it has defined
 * SITES, a site_t with at least name[16], sign[32] and curve (NULL for a
 * site not made yet), and `static site_t s_sites[SITES]`.
 */
#ifndef TESTS_UNIT_SYNC_SITES_H
#define TESTS_UNIT_SYNC_SITES_H

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "crypto/crypto.h"
#include "sync/sync.h"

/* ---------------------------------------------- an empty store's ops */

static int
s_has(void *ctx, const uint8_t id[CPT_ID_LEN])
{
	return 0;
}

static void
s_get_many(void *ctx, const uint8_t (*ids)[CPT_ID_LEN], size_t n, uint8_t **out, size_t *len)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = NULL;
		len[i] = 0;
	}
}

static size_t
s_scan(void *ctx, const uint8_t *after, uint8_t (*out)[SYNC_TSID_LEN], size_t max)
{
	return 0;
}

static void
s_fp(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t *count, uint8_t fp[16])
{
	uint8_t sum[32] = {0};

	*count = 0;
	recon_fingerprint(fp, sum, 0);
}

static size_t
s_items(void *ctx, const uint8_t *lo, const uint8_t *hi, uint8_t (*out)[SYNC_TSID_LEN], size_t max)
{
	return 0;
}

static size_t
s_split(void *ctx, const uint8_t *lo, const uint8_t *hi, uint64_t count, size_t k,
        uint8_t (*bounds)[SYNC_TSID_LEN])
{
	return 0;
}

/* ------------------------------------------------- the sites by key */

static int
s_admit(void *ctx, const uint8_t curve_pk[CPT_KEY_LEN], uint8_t sign_key[CPT_KEY_LEN],
        char site[64])
{
	for (int i = 0; i < SITES; i++)
		if (s_sites[i].curve &&
		    memcmp(key_curve_public(s_sites[i].curve), curve_pk, CPT_KEY_LEN) == 0) {
			memcpy(sign_key, s_sites[i].sign, CPT_KEY_LEN);
			snprintf(site, 64, "%s", s_sites[i].name);
			return 1;
		}
	return 0;
}

static int
s_lookup(void *ctx, const uint8_t sign_key[CPT_KEY_LEN], uint8_t curve_pk[CPT_KEY_LEN],
         char site[64])
{
	for (int i = 0; i < SITES; i++)
		if (s_sites[i].curve && memcmp(s_sites[i].sign, sign_key, CPT_KEY_LEN) == 0) {
			memcpy(curve_pk, key_curve_public(s_sites[i].curve), CPT_KEY_LEN);
			snprintf(site, 64, "%s", s_sites[i].name);
			return 0;
		}
	return CPT_ENOTFOUND;
}

/* The configuration every test engine shares for site st: loopback,
 * its keys, small messages, a fast heartbeat, the ops above with put. */
static void
s_conf(sync_conf_t *c, const site_t *st, int (*put)(void *, sync_put_t *))
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "tcp://127.0.0.1:0");
	c->curve = st->curve;
	memcpy(c->site_key, st->sign, 32);
	snprintf(c->site, sizeof(c->site), "%s", st->name);
	c->max_msg = 1 << 20;
	c->heartbeat_ms = 200;
	c->reconcile_interval_s = 60;
	c->ops = (sync_ops_t){NULL,    s_has,   NULL,    s_get_many, put,  s_scan, s_fp,
	                      s_items, s_split, s_admit, s_lookup,   NULL, NULL};
}

/* ---------------------------------------------- the sites' keys */

/* Gives every site (named already) a signing key and a CURVE key pair:
 * 0, or -1 when libsodium or a key cannot be made. */
static inline int
s_sites_keys(void)
{
	if (sodium_init() < 0)
		return -1;
	for (int i = 0; i < SITES; i++) {
		randombytes_buf(s_sites[i].sign, 32);
		if ((s_sites[i].curve = key_curve_new()) == NULL)
			return -1;
	}
	return 0;
}

static inline void
s_sites_free(void)
{
	for (int i = 0; i < SITES; i++)
		key_curve_destroy(&s_sites[i].curve);
}

#endif
