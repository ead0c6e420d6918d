/*
 * What the node does for spaces beyond indexing them (PROTOCOL.md 16.4 to
 * 16.8): its seal key and key ring, sealing what its people write in
 * private spaces (starting a new epoch first when the fold says one is
 * due), and the seals this site owes other member sites, made on a timer.
 * The key ring lives in memory; the keys live in the key events this site
 * sealed to itself, committed before anything is written with them, so a
 * key is never lost with a crash (index_spaces_load opens them at start).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/core/core_internal.h"
#include "config/config.h"
#include "node/index/index.h"
#include "node/space/space.h"

/* Space keys one node holds: 32 bytes each in one guarded region. */
#define NODE_SPACE_KEYS 16384

int
node_spaces_open(node_t *n, skey_ring_t **ring, char *err, size_t errlen)
{
	store_txn_t *txn;
	int rc;

	if ((*ring = skey_ring_new(NODE_SPACE_KEYS)) == NULL) {
		snprintf(err, errlen, "no memory for the key ring of spaces");
		return CPT_ENOMEM;
	}
	index_spaces_setup(*ring, node_seal_key(n), node_ingest_ctx(n)->fed, node_cfg(n)->name);
	if ((rc = store_read_begin(node_store(n), &txn)) != 0) {
		snprintf(err, errlen, "%s: cannot read the store", node_dir(n));
		return rc;
	}
	rc = index_spaces_load(txn);
	store_read_end(node_store(n), &txn);
	if (rc != 0)
		snprintf(err, errlen, "%s: cannot read the keys of spaces", node_dir(n));
	return rc;
}

void
node_spaces_close(node_t *n, skey_ring_t **ring)
{
	(void)n;
	if (*ring)
		index_spaces_setup(NULL, NULL, NULL, NULL);
	skey_ring_destroy(ring);
}

/* ------------------------------------------------------------ epochs */

/* The site space this site's people may write in, or none: site gets
 * this site's name when space is its space. */
static const char *
s_site_of(const uint8_t space[CPT_ID_LEN])
{
	uint8_t mine[CPT_ID_LEN];

	index_site_space(mine, index_spaces_site());
	return memcmp(mine, space, CPT_ID_LEN) == 0 ? index_spaces_site() : NULL;
}

/* Seals key_id of space to the seal keys pks (n of them) in key events
 * signed by this site, SPACE_SEALS_MAX seals each. 0 or an error. */
static int
s_publish_seals(node_t *n, const uint8_t space[CPT_ID_LEN], const uint8_t key_id[SKEY_ID_LEN],
                const uint8_t (*pks)[CPT_KEY_LEN], size_t count, char *err, size_t errlen)
{
	for (size_t at = 0; at < count; at += SPACE_SEALS_MAX) {
		size_t k = count - at < SPACE_SEALS_MAX ? count - at : SPACE_SEALS_MAX;
		json_t *body = NULL;
		ingest_res_t res;
		skey_ring_t *ring = index_spaces_ring_lock();
		int rc =
		    ring ? space_key_body(&body, ring, space, key_id, pks + at, k) : CPT_ENOTFOUND;
		index_spaces_ring_unlock();
		if (rc != 0) {
			snprintf(err, errlen, "cannot seal a key of the space: %s",
			         cpt_strerror(rc));
			return rc;
		}
		rc = node_publish(n, node_site_key(n), EVT_SPACE_KEY, body, &res);
		json_decref(body);
		if (rc == 0 && res.rc != 0 && res.rc != CPT_EEXIST)
			rc = res.rc;
		if (rc != 0) {
			snprintf(err, errlen, "the key event was refused: %s",
			         res.why[0] ? res.why : cpt_strerror(rc));
			return rc;
		}
	}
	return 0;
}

/* A new epoch of space: a new key sealed to every member site (st). */
static int
s_new_epoch(node_t *n, const uint8_t space[CPT_ID_LEN], const space_state_t *st,
            uint8_t key_id[SKEY_ID_LEN], char *err, size_t errlen)
{
	size_t ns = space_state_nsites(st), m = 0;
	uint8_t(*pks)[CPT_KEY_LEN] = calloc(ns ? ns : 1, CPT_KEY_LEN);
	skey_ring_t *ring;
	int rc;

	if (pks == NULL)
		return CPT_ENOMEM;
	for (size_t i = 0; i < ns; i++) {
		const space_site_t *s = space_state_site_at(st, i);
		if (s->has_seal)
			memcpy(pks[m++], s->seal_key, CPT_KEY_LEN);
	}
	if (m == 0) {
		free(pks);
		snprintf(
		    err, errlen,
		    "no member site of the space has a seal key (seal_key in its certificate)");
		return CPT_ESTATE;
	}
	ring = index_spaces_ring_lock();
	rc = ring ? skey_ring_generate(ring, key_id) : CPT_ENOTFOUND;
	index_spaces_ring_unlock();
	if (rc == 0)
		rc = s_publish_seals(n, space, key_id, (const uint8_t(*)[CPT_KEY_LEN])pks, m, err,
		                     errlen);
	else
		snprintf(err, errlen, "the key ring of spaces is full or missing");
	free(pks);
	return rc;
}

/* The fold of space now. */
static int
s_fold(node_t *n, const uint8_t space[CPT_ID_LEN], space_state_t **st, json_t **keep)
{
	store_txn_t *txn;
	int rc;

	if ((rc = store_read_begin(node_store(n), &txn)) != 0)
		return rc;
	rc = index_space_fold(st, keep, txn, space, s_site_of(space));
	store_read_end(node_store(n), &txn);
	return rc;
}

/* Is this site a member site of st, holding a seal key? */
static int
s_we_hold(const space_state_t *st)
{
	return space_state_is_member_site(st, index_spaces_site());
}

/* This site's own seal key as its certificate gives it to every site. */
static int
s_own_seal_key(node_t *n, uint8_t pk[CPT_KEY_LEN], char *err, size_t errlen)
{
	store_txn_t *txn;
	json_t *rec;
	int rc;

	if ((rc = store_read_begin(node_store(n), &txn)) != 0)
		return rc;
	rec = store_get_json(txn, DB_SITE_SEALS, index_spaces_site(), strlen(index_spaces_site()));
	rc = rec && index_hex_field(rec, "seal_key", pk) == 0 ? 0 : CPT_ESTATE;
	json_decref(rec);
	store_read_end(node_store(n), &txn);
	if (rc != 0)
		snprintf(err, errlen,
		         "this site's certificate has no seal_key: private spaces need one "
		         "(docs/OPERATIONS.md)");
	return rc;
}

int
node_space_seal(node_t *n, const uint8_t author[CPT_KEY_LEN], const uint8_t *space, uint16_t kind,
                const json_t *plain, json_t **sealed, uint8_t key_id[SKEY_ID_LEN], char *err,
                size_t errlen)
{
	space_state_t *st = NULL;
	json_t *keep = NULL;
	const space_key_t *wk;
	skey_ring_t *ring;
	skey_ctx_t c = {node_ingest_ctx(n)->fed, kind, author, space};
	int rc = 0;

	*sealed = NULL;
	if (space == NULL) {
		/* A space being made: a key of its own, sealed to this site once
		 * the space has its id (node_space_key_to_self). */
		uint8_t pk[CPT_KEY_LEN];
		if ((rc = s_own_seal_key(n, pk, err, errlen)) != 0)
			return rc;
		ring = index_spaces_ring_lock();
		rc = ring ? skey_ring_generate(ring, key_id) : CPT_ENOTFOUND;
		index_spaces_ring_unlock();
		if (rc != 0) {
			snprintf(err, errlen, "the key ring of spaces is full or missing");
			return rc;
		}
		goto seal;
	}
	if ((rc = s_fold(n, space, &st, &keep)) != 0) {
		snprintf(err, errlen, "cannot fold the space: %s", cpt_strerror(rc));
		return rc;
	}
	if (!s_we_hold(st)) {
		snprintf(err, errlen, "this site is not a member site of the space");
		rc = CPT_EPERM;
		goto out;
	}
	wk = space_state_write_key(st);
	if (wk && !space_state_epoch_due(st)) {
		ring = index_spaces_ring_lock();
		rc = ring && skey_ring_has(ring, wk->id) ? 0 : CPT_ENOTFOUND;
		index_spaces_ring_unlock();
		if (rc == 0)
			memcpy(key_id, wk->id, SKEY_ID_LEN);
	}
	/* No key, an epoch due, or a write key this site was not given yet: a
	 * new epoch, sealed to every member site, before writing (16.8). */
	if (wk == NULL || space_state_epoch_due(st) || rc != 0)
		if ((rc = s_new_epoch(n, space, st, key_id, err, errlen)) != 0)
			goto out;
seal:
	ring = index_spaces_ring_lock();
	rc = ring ? space_seal(sealed, ring, key_id, &c, plain) : CPT_ENOTFOUND;
	index_spaces_ring_unlock();
	if (rc != 0)
		snprintf(err, errlen, "cannot seal: %s", cpt_strerror(rc));
out:
	space_state_destroy(&st);
	json_decref(keep);
	return rc;
}

int
node_space_rotate(node_t *n, const uint8_t space[CPT_ID_LEN], uint8_t key_id[SKEY_ID_LEN],
                  char *err, size_t errlen)
{
	space_state_t *st = NULL;
	json_t *keep = NULL;
	int rc;

	if ((rc = s_fold(n, space, &st, &keep)) != 0) {
		snprintf(err, errlen, "cannot fold the space: %s", cpt_strerror(rc));
		return rc;
	}
	if (s_site_of(space) == NULL && space_state_visibility(st) == SPACE_OPEN) {
		snprintf(err, errlen, "an open space has no keys to renew");
		rc = CPT_ESTATE;
	} else if (!s_we_hold(st)) {
		snprintf(err, errlen, "this site is not a member site of the space");
		rc = CPT_EPERM;
	} else {
		rc = s_new_epoch(n, space, st, key_id, err, errlen);
	}
	space_state_destroy(&st);
	json_decref(keep);
	return rc;
}

int
node_space_key_to_self(node_t *n, const uint8_t space[CPT_ID_LEN],
                       const uint8_t key_id[SKEY_ID_LEN], char *err, size_t errlen)
{
	uint8_t pk[CPT_KEY_LEN];
	int rc = s_own_seal_key(n, pk, err, errlen);

	return rc != 0 ? rc
	               : s_publish_seals(n, space, key_id, (const uint8_t(*)[CPT_KEY_LEN]) & pk, 1,
	                                 err, errlen);
}

/* --------------------------------------------------------- duties */

/* What this site owes, as the stored state of each space says: a new epoch
 * it is designated to start, seals of keys it holds to member sites that
 * lack them. Made again only when what is owed changed, or a minute later
 * (a seal that had no effect is not made in a loop). */
static uint8_t s_last_owed[32];
static uint64_t s_last_ms;

int
node_spaces_tick(node_t *n)
{
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	json_t *owed = json_array(), *o;
	const char *me = index_spaces_site();
	uint8_t h[32];
	char *text;
	size_t i;
	int rc, done = 0;

	if (owed == NULL || *me == 0)
		goto out;
	if (store_read_begin(node_store(n), &txn) != 0)
		goto out;
	if (store_cur_open(txn, DB_SPACES, &cur) == 0) {
		for (rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			json_t *s = json_loadb(v.data, v.len, 0, NULL), *d;
			const char *by = json_string_value(json_object_get(s, "epoch_by"));
			size_t j;
			int mine = json_is_true(json_object_get(s, "epoch_due")) && by &&
			           strcmp(by, me) == 0;
			json_array_foreach (json_object_get(s, "duties"), j, d) {
				const char *dby = json_string_value(json_object_get(d, "by"));
				mine |= dby && strcmp(dby, me) == 0;
			}
			if (mine)
				json_array_append(owed, json_object_get(s, "id"));
			json_decref(s);
		}
		store_cur_close(&cur);
	}
	store_read_end(node_store(n), &txn);
	if (json_array_size(owed) == 0)
		goto out;
	text = json_dumps(owed, JSON_COMPACT);
	crypto_generichash(h, sizeof(h), (const uint8_t *)(text ? text : ""),
	                   text ? strlen(text) : 0, NULL, 0);
	free(text);
	if (memcmp(h, s_last_owed, sizeof(h)) == 0 && hlc_wall_ms() < s_last_ms + 60000)
		goto out;
	memcpy(s_last_owed, h, sizeof(h));
	s_last_ms = hlc_wall_ms();
	json_array_foreach (owed, i, o) {
		uint8_t space[CPT_ID_LEN], key_id[SKEY_ID_LEN];
		space_state_t *st = NULL;
		json_t *keep = NULL;
		char err[256];
		const char *hex = json_string_value(o);
		if (hex == NULL || cpt_unhex32(space, hex, strlen(hex)) != 0 ||
		    s_fold(n, space, &st, &keep) != 0)
			continue;
		if (space_state_epoch_due(st) && space_state_epoch_by(st) &&
		    strcmp(space_state_epoch_by(st), me) == 0) {
			if (s_new_epoch(n, space, st, key_id, err, sizeof(err)) != 0)
				log_warnx("spaces", "space %.16s: no new epoch: %s", hex, err);
			else
				done++;
		}
		for (size_t j = 0; j < space_state_nduties(st); j++) {
			const space_duty_t *d = space_state_duty(st, j);
			if (d->by == NULL || strcmp(d->by, me) != 0)
				continue;
			if (s_publish_seals(n, space, d->key,
			                    (const uint8_t(*)[CPT_KEY_LEN]) & d->to_seal, 1, err,
			                    sizeof(err)) != 0)
				log_warnx("spaces", "space %.16s: a seal to %s not made: %s", hex,
				          d->to, err);
			else
				done++;
		}
		space_state_destroy(&st);
		json_decref(keep);
	}
out:
	json_decref(owed);
	return done;
}
