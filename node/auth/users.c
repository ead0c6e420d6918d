/*
 * Managing a site's staff accounts, shared by the CLI (comptoir user ...)
 * and the admin pages of the web UI: enrol, reset a password, disable and
 * enable, change a name or a role, list. Every change is a signed event
 * through the single ingest path.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/index/index.h"
#include "node/query/query.h"

/* Publishes and turns a refusal into a message. */
static int
s_publish(node_t *n, const key_sign_t *key, uint16_t kind, json_t *body, char *err, size_t errlen)
{
	ingest_res_t res;
	int rc;

	if (body == NULL) {
		snprintf(err, errlen, "out of memory");
		return CPT_ENOMEM;
	}
	rc = node_publish(n, key, kind, body, &res);
	json_decref(body);
	if (rc == CPT_ENOSPC) {
		snprintf(err, errlen, "no space left on device (%s): nothing was stored",
		         store_dir(node_store(n)));
		return rc;
	}
	if (rc != 0) {
		snprintf(err, errlen, "store error: %s", cpt_strerror(rc));
		return rc;
	}
	if (res.rc != 0) {
		snprintf(err, errlen, "%s event refused: %s (%s)", evt_kind_name(kind),
		         cpt_strerror(res.rc), res.why);
		return res.rc;
	}
	return 0;
}

/* The handle's current key and its record, when this site enrolled it. */
static int
s_lookup(node_t *n, const char *handle, uint8_t key[CPT_KEY_LEN], json_t **rec, char *err,
         size_t errlen)
{
	store_t *st = node_store(n);
	store_txn_t *txn;
	char mine[CPT_HEX_ID];
	int rc;

	*rec = NULL;
	if (store_read_begin(st, &txn) != 0) {
		snprintf(err, errlen, "cannot read the store");
		return CPT_EIO;
	}
	rc = index_key_of(txn, handle, key);
	if (rc == 0)
		*rec = index_key_info(txn, key);
	store_read_end(st, &txn);
	if (rc != 0 || *rec == NULL) {
		snprintf(err, errlen, "no user \"%s\"", handle);
		return CPT_ENOTFOUND;
	}
	/* A site manages the handles that belong to its name (PROTOCOL.md 8.7):
	 * certified again with a new key, it keeps its people. */
	(void)mine;
	if (strcmp(json_string_value(json_object_get(*rec, "site")) ?: "", node_cfg(n)->name) !=
	    0) {
		snprintf(err, errlen, "\"%s\" belongs to site %s: only that site manages it",
		         handle, json_string_value(json_object_get(*rec, "site")) ?: "?");
		json_decref(*rec);
		*rec = NULL;
		return CPT_EPERM;
	}
	return 0;
}

/* The enrolment proof of key (PROTOCOL.md 7.2) as this site's handle, in
 * hex (129 bytes). The user's key signs it when it is made; a key enrolled
 * again (a new role, a new name) carries the proof of its last enrolment,
 * which binds the same site name and handle. 0, or CPT_ENOTFOUND. */
static int
s_proof(node_t *n, const key_sign_t *uk, const uint8_t key[CPT_KEY_LEN], const char *handle,
        char out[2 * CPT_SIG_LEN + 1])
{
	uint8_t sig[CPT_SIG_LEN], id[CPT_ID_LEN];
	store_txn_t *txn;
	json_t *rec, *body;
	const char *idh, *p;
	evt_t ev;
	int rc = CPT_ENOTFOUND;

	if (uk) {
		if (evt_proof_sign(sig, uk, node_ingest_ctx(n)->fed, node_cfg(n)->name, handle) !=
		    0)
			return CPT_EINVAL;
		sodium_bin2hex(out, 2 * CPT_SIG_LEN + 1, sig, sizeof(sig));
		return 0;
	}
	if (store_read_begin(node_store(n), &txn) != 0)
		return CPT_EIO;
	rec = index_key_info(txn, key);
	idh = json_string_value(json_object_get(rec, "id"));
	if (idh && cpt_unhex32(id, idh, strlen(idh)) == 0 && index_event(txn, id, &ev) == 0 &&
	    (body = index_body(&ev)) != NULL) {
		p = json_string_value(json_object_get(body, "proof"));
		if (p && strlen(p) == 2 * CPT_SIG_LEN &&
		    strcmp(json_string_value(json_object_get(body, "handle")) ?: "", handle) == 0 &&
		    strcmp(json_string_value(json_object_get(body, "site")) ?: "",
		           node_cfg(n)->name) == 0) {
			memcpy(out, p, 2 * CPT_SIG_LEN + 1);
			rc = 0;
		}
		json_decref(body);
	}
	json_decref(rec);
	store_read_end(node_store(n), &txn);
	return rc;
}

/* A new key for handle: its enrolment by the site, then its key backup. */
static int
s_enrol(node_t *n, const char *handle, const char *role, const char *password, key_sign_t **out,
        char *err, size_t errlen)
{
	key_sign_t *uk = key_sign_new();
	uint8_t seed[CPT_SEED_LEN];
	char hex[CPT_HEX_ID], proof[2 * CPT_SIG_LEN + 1];
	json_t *backup;
	int rc;

	*out = NULL;
	if (uk == NULL) {
		snprintf(err, errlen, "out of memory");
		return CPT_ENOMEM;
	}
	cpt_hex32(hex, key_sign_public(uk));
	/* The key's holder agrees to be this handle at this site: the node made
	 * the key, so it signs the proof at once (PROTOCOL.md 7.2). */
	if (s_proof(n, uk, key_sign_public(uk), handle, proof) != 0) {
		snprintf(err, errlen, "\"%s\" cannot be enrolled: its proof cannot be made",
		         handle);
		key_sign_destroy(&uk);
		return CPT_EINVAL;
	}
	rc = s_publish(n, node_site_key(n), EVT_ENROL,
	               json_pack("{s:s, s:s, s:s, s:s, s:s}", "handle", handle, "key", hex, "site",
	                         node_cfg(n)->name, "role", role, "proof", proof),
	               err, errlen);
	if (rc == 0) {
		key_sign_seed(uk, seed);
		backup = acct_backup_make(handle, seed, password);
		sodium_memzero(seed, sizeof(seed));
		rc = s_publish(n, uk, EVT_KEY_BACKUP, backup, err, errlen);
	}
	if (rc != 0) {
		key_sign_destroy(&uk);
		return rc;
	}
	*out = uk;
	return 0;
}

static int
s_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One revocation body: vouch [from, to) with the prefixes of ids (n of
 * them, hex of 32 digits each, sorted here). */
static json_t *
s_rev_body(const char *khex, uint64_t effective, const char *reason, uint64_t from, uint64_t to,
           char **ids, size_t n)
{
	char *list = malloc(32 * n + 1);
	json_t *b;

	if (list == NULL)
		return NULL;
	qsort(ids, n, sizeof(*ids), s_cmp_str);
	for (size_t i = 0; i < n; i++)
		memcpy(list + 32 * i, ids[i], 32);
	list[32 * n] = 0;
	b = json_pack("{s:s, s:I, s:s, s:{s:I, s:I, s:s}}", "key", khex, "effective",
	              (json_int_t)effective, "reason", reason ? reason : "", "vouch", "from",
	              (json_int_t)from, "to", (json_int_t)to, "ids", list);
	free(list);
	return b;
}

json_t *
users_revocations(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t effective, uint64_t to,
                  const char *reason)
{
	char khex[CPT_HEX_ID], **ids;
	uint64_t *ms, from = 0;
	uint8_t seek[CPT_KEY_LEN];
	store_cur_t *cur;
	store_val_t k, v;
	size_t n = 0, cap = 1024, start = 0;
	json_t *out = json_array(), *b;
	int rc;

	cpt_hex32(khex, key);
	ids = malloc(cap * sizeof(*ids));
	ms = malloc(cap * sizeof(*ms));
	if (out == NULL || ids == NULL || ms == NULL ||
	    store_cur_open(txn, DB_BY_AUTHOR, &cur) != 0)
		goto fail;
	/* What the revoker admitted of key before to, in (ts, id) order. */
	memcpy(seek, key, CPT_KEY_LEN);
	k.len = CPT_KEY_LEN;
	k.data = seek;
	for (rc = store_cur_get(cur, &k, &v, STORE_SEEK); rc == 0;
	     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
		const uint8_t *kd = k.data;
		uint64_t t;
		if (k.len != CPT_KEY_LEN + 8 + CPT_ID_LEN || memcmp(kd, key, CPT_KEY_LEN) != 0)
			break;
		t = HLC_MS(store_get_u64(kd + CPT_KEY_LEN));
		if (t >= to)
			break;
		if (n == cap) {
			char **bi = realloc(ids, 2 * cap * sizeof(*ids));
			uint64_t *bm = bi ? realloc(ms, 2 * cap * sizeof(*ms)) : NULL;
			if (bi)
				ids = bi;
			if (bm == NULL) {
				store_cur_close(&cur);
				goto fail;
			}
			ms = bm;
			cap *= 2;
		}
		if ((ids[n] = malloc(33)) == NULL) {
			store_cur_close(&cur);
			goto fail;
		}
		sodium_bin2hex(ids[n], 33, kd + CPT_KEY_LEN + 8, 16);
		ms[n++] = t;
	}
	store_cur_close(&cur);
	/* Pages of at most EVENT_VOUCH_MAX, cut between two ms (PROTOCOL.md 7.3). */
	while (n - start > EVENT_VOUCH_MAX) {
		size_t end = start + EVENT_VOUCH_MAX;
		while (end > start && ms[end] == ms[end - 1])
			end--;
		if (end == start)
			goto fail; /* over a thousand events in one ms: cannot be vouched for */
		if ((b = s_rev_body(khex, effective, reason, from, ms[end], ids + start,
		                    end - start)) == NULL)
			goto fail;
		json_array_append_new(out, b);
		from = ms[end];
		start = end;
	}
	if ((b = s_rev_body(khex, effective, reason, from, to, ids + start, n - start)) == NULL)
		goto fail;
	json_array_append_new(out, b);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(ms);
	return out;
fail:
	for (size_t i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids);
	free(ms);
	json_decref(out);
	return NULL;
}

/* Revokes key from now: what it signed before now - 7 days stands only as
 * listed (PROTOCOL.md 7.3, how a node fills vouch). */
static int
s_revoke(node_t *n, const uint8_t key[CPT_KEY_LEN], const char *reason, char *err, size_t errlen)
{
	uint64_t now = hlc_wall_ms(), week = 7ull * 86400000ull;
	store_txn_t *txn;
	json_t *bodies, *b;
	size_t i;
	int rc = 0;

	if (store_read_begin(node_store(n), &txn) != 0) {
		snprintf(err, errlen, "cannot read the store");
		return CPT_EIO;
	}
	bodies = users_revocations(txn, key, now, now > week ? now - week : 0, reason);
	store_read_end(node_store(n), &txn);
	if (bodies == NULL) {
		snprintf(err, errlen, "out of memory (or over a thousand events in one ms)");
		return CPT_ENOMEM;
	}
	json_array_foreach (bodies, i, b) {
		if ((rc = s_publish(n, node_site_key(n), EVT_REVOKE, json_incref(b), err,
		                    errlen)) != 0)
			break;
	}
	json_decref(bodies);
	return rc;
}

int
users_add(node_t *n, const char *handle, int admin, const char *name, const char *password,
          char *err, size_t errlen)
{
	store_t *st = node_store(n);
	uint8_t key[CPT_KEY_LEN];
	key_sign_t *uk = NULL;
	store_txn_t *txn;
	json_t *fields;
	int rc, exists;

	assert(n != NULL && handle != NULL && password != NULL);
	if (!event_valid_handle(handle)) {
		snprintf(err, errlen, "\"%s\" is not a valid handle (a-z, 0-9, . _ -, up to 32)",
		         handle);
		return CPT_EINVAL;
	}
	if (store_read_begin(st, &txn) != 0) {
		snprintf(err, errlen, "cannot read the store");
		return CPT_EIO;
	}
	exists = index_key_of(txn, handle, key) == 0;
	store_read_end(st, &txn);
	if (exists) {
		snprintf(err, errlen, "user \"%s\" exists already", handle);
		return CPT_EEXIST;
	}
	if ((rc = s_enrol(n, handle, users_role_name(admin), password, &uk, err, errlen)) != 0)
		return rc;
	/* A first profile: the home site, and the name when given. */
	fields = json_pack("{s:s}", "site", node_cfg(n)->name);
	if (fields && name && *name)
		json_object_set_new(fields, "name", json_string(name));
	rc = s_publish(n, uk, EVT_PROFILE, json_pack("{s:o}", "fields", fields), err, errlen);
	key_sign_destroy(&uk);
	return rc;
}

int
users_reset(node_t *n, const char *handle, const char *password, char *err, size_t errlen)
{
	uint8_t key[CPT_KEY_LEN];
	key_sign_t *uk = NULL;
	json_t *rec;
	int rc;

	if ((rc = s_lookup(n, handle, key, &rec, err, errlen)) != 0)
		return rc;
	/* The site cannot open the old key without the old password: it enrols
	 * a new key for the handle, then revokes the old one from now on (the
	 * posts signed before stay valid). */
	rc = s_enrol(n, handle, json_string_value(json_object_get(rec, "role")) ?: "member",
	             password, &uk, err, errlen);
	json_decref(rec);
	key_sign_destroy(&uk);
	if (rc == 0)
		rc = s_revoke(n, key, "password reset", err, errlen);
	return rc;
}

/* Is the handle disabled (its current key revoked)? 1, 0, or -1 when the
 * store cannot be read (err says so). */
static int
s_disabled(node_t *n, const char *handle, char *err, size_t errlen)
{
	store_t *st = node_store(n);
	store_txn_t *txn;
	json_t *p;
	int off;

	if (store_read_begin(st, &txn) != 0) {
		snprintf(err, errlen, "cannot read the store");
		return -1;
	}
	p = query_person(txn, handle);
	store_read_end(st, &txn);
	off = json_is_true(json_object_get(p, "disabled"));
	json_decref(p);
	return off;
}

int
users_disable(node_t *n, const char *handle, char *err, size_t errlen)
{
	uint8_t key[CPT_KEY_LEN];
	json_t *rec;
	int rc, off;

	if ((rc = s_lookup(n, handle, key, &rec, err, errlen)) != 0)
		return rc;
	json_decref(rec);
	if ((off = s_disabled(n, handle, err, errlen)) != 0) {
		if (off > 0)
			snprintf(err, errlen, "user \"%s\" is disabled already", handle);
		return off > 0 ? CPT_ESTATE : CPT_EIO;
	}
	return s_revoke(n, key, "disabled by site IT", err, errlen);
}

int
users_enable(node_t *n, const char *handle, const char *password, char *err, size_t errlen)
{
	uint8_t key[CPT_KEY_LEN];
	key_sign_t *uk = NULL;
	json_t *rec;
	int rc, off;

	if ((rc = s_lookup(n, handle, key, &rec, err, errlen)) != 0)
		return rc;
	if ((off = s_disabled(n, handle, err, errlen)) <= 0) {
		json_decref(rec);
		if (off == 0)
			snprintf(err, errlen, "user \"%s\" is not disabled", handle);
		return off == 0 ? CPT_ESTATE : CPT_EIO;
	}
	/* A revocation always wins, so the revoked key cannot come back: the
	 * handle gets a new key, as with a password reset, and the same role.
	 * Its posts signed before the revocation stayed valid all along. */
	rc = s_enrol(n, handle, json_string_value(json_object_get(rec, "role")) ?: "member",
	             password, &uk, err, errlen);
	json_decref(rec);
	key_sign_destroy(&uk);
	return rc;
}

const char *
users_role_name(int role)
{
	return role == USERS_ADMIN ? "admin" : role == USERS_MANAGEMENT ? "management" : "member";
}

int
users_edit(node_t *n, const char *handle, const char *name, int admin, char *err, size_t errlen)
{
	uint8_t key[CPT_KEY_LEN];
	char hex[CPT_HEX_ID], proof[2 * CPT_SIG_LEN + 1];
	json_t *rec, *body;
	const char *role;
	int rc, off;

	if (name && strlen(name) > EVT_MAX_FIELD) {
		snprintf(err, errlen, "a name is at most %d bytes", EVT_MAX_FIELD);
		return CPT_EINVAL;
	}
	if ((rc = s_lookup(n, handle, key, &rec, err, errlen)) != 0)
		return rc;
	if ((off = s_disabled(n, handle, err, errlen)) != 0) {
		json_decref(rec);
		if (off > 0)
			snprintf(err, errlen, "user \"%s\" is disabled: enable it first", handle);
		return off > 0 ? CPT_ESTATE : CPT_EIO;
	}
	role = admin < 0 ? json_string_value(json_object_get(rec, "role")) ?: "member"
	                 : users_role_name(admin);
	/* The same key enrolled again by the same site: the newest enrolment
	 * gives the key its role, and its "name" is a write of the profile's
	 * name (docs/PROTOCOL.md). The key, its backup and the sessions opened
	 * with it are unchanged. */
	cpt_hex32(hex, key);
	if (s_proof(n, NULL, key, handle, proof) != 0) {
		json_decref(rec);
		snprintf(err, errlen, "\"%s\": no enrolment of its key with a proof is known here",
		         handle);
		return CPT_ENOTFOUND;
	}
	body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "handle", handle, "key", hex, "site",
	                 node_cfg(n)->name, "role", role, "proof", proof);
	json_decref(rec);
	if (body && name)
		json_object_set_new(body, "name", json_string(name));
	return s_publish(n, node_site_key(n), EVT_ENROL, body, err, errlen);
}

json_t *
users_list(node_t *n, int this_site_only)
{
	store_t *st = node_store(n);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	json_t *out = json_array();
	const char *site = node_cfg(n)->name;

	if (store_read_begin(st, &txn) != 0)
		return out;
	if (store_cur_open(txn, DB_HANDLES, &cur) == 0) {
		for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0;
		     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			char h[64];
			json_t *p;
			if (k.len >= sizeof(h))
				continue;
			memcpy(h, k.data, k.len);
			h[k.len] = 0;
			if ((p = query_person(txn, h)) == NULL)
				continue;
			if (!this_site_only ||
			    strcmp(json_string_value(json_object_get(p, "home_site")) ?: "",
			           site) == 0)
				json_array_append_new(
				    out, json_pack("{s:s, s:O, s:O, s:O, s:s?}", "handle", h,
				                   "site", json_object_get(p, "home_site"), "role",
				                   json_object_get(p, "role"), "disabled",
				                   json_object_get(p, "disabled"), "name",
				                   json_string_value(json_object_get(
				                       json_object_get(p, "profile"), "name"))));
			json_decref(p);
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	return out;
}

/* ------------------------------------------------------ service accounts */

struct bot_put {
	const char *handle; /* the bot */
	json_t *rec;        /* its DB_BOTS record */
};

static int
s_bot_put_fn(store_txn_t *txn, void *arg)
{
	struct bot_put *b = arg;
	return store_put_json(txn, DB_BOTS, b->handle, strlen(b->handle), b->rec);
}

int
users_add_bot(node_t *n, const char *handle, const char *name, const char *owner, char *err,
              size_t errlen)
{
	store_t *st = node_store(n);
	uint8_t okey[CPT_KEY_LEN], xpk[crypto_box_PUBLICKEYBYTES], seed[CPT_SEED_LEN],
	    sealed[crypto_box_SEALBYTES + CPT_SEED_LEN];
	char pw[33], hex[2 * sizeof(sealed) + 1];
	key_sign_t *uk = NULL;
	store_txn_t *txn;
	json_t *orec, *fields;
	int rc, exists;

	assert(n != NULL && handle != NULL && owner != NULL);
	if (!event_valid_handle(handle)) {
		snprintf(err, errlen, "\"%s\" is not a valid handle (a-z, 0-9, . _ -, up to 32)",
		         handle);
		return CPT_EINVAL;
	}
	if (store_read_begin(st, &txn) != 0) {
		snprintf(err, errlen, "cannot read the store");
		return CPT_EIO;
	}
	exists = index_key_of(txn, handle, okey) == 0;
	orec = index_key_of(txn, owner, okey) == 0 ? index_key_info(txn, okey) : NULL;
	store_read_end(st, &txn);
	if (exists) {
		json_decref(orec);
		snprintf(err, errlen, "user \"%s\" exists already", handle);
		return CPT_EEXIST;
	}
	/* The owner is a person of this site, not a bot: their session opens
	 * the bot's seed. */
	if (orec == NULL ||
	    strcmp(json_string_value(json_object_get(orec, "site")) ?: "", node_cfg(n)->name) !=
	        0 ||
	    strcmp(json_string_value(json_object_get(orec, "role")) ?: "", "bot") == 0) {
		json_decref(orec);
		snprintf(err, errlen, "no person \"%s\" of this site to own the bot", owner);
		return CPT_ENOTFOUND;
	}
	json_decref(orec);
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, okey) != 0) {
		snprintf(err, errlen, "the key of \"%s\" cannot seal", owner);
		return CPT_EINVAL;
	}
	/* A password nobody keeps: the bot never logs in; its key backup is
	 * published as every key's is, and opens for nobody. */
	randombytes_buf(seed, 16);
	sodium_bin2hex(pw, sizeof(pw), seed, 16);
	rc = s_enrol(n, handle, "bot", pw, &uk, err, errlen);
	sodium_memzero(pw, sizeof(pw));
	if (rc != 0)
		return rc;
	key_sign_seed(uk, seed);
	crypto_box_seal(sealed, seed, sizeof(seed), xpk);
	sodium_memzero(seed, sizeof(seed));
	sodium_bin2hex(hex, sizeof(hex), sealed, sizeof(sealed));
	{
		struct bot_put b = {handle, json_pack("{s:s, s:s, s:I}", "owner", owner, "sealed",
		                                      hex, "created", (json_int_t)hlc_wall_ms())};
		rc = b.rec ? store_write(st, s_bot_put_fn, &b) : CPT_ENOMEM;
		json_decref(b.rec);
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot record the bot: %s", store_strerror(rc));
		key_sign_destroy(&uk);
		return rc;
	}
	fields = json_pack("{s:s}", "site", node_cfg(n)->name);
	if (fields && name && *name)
		json_object_set_new(fields, "name", json_string(name));
	rc = s_publish(n, uk, EVT_PROFILE, json_pack("{s:o}", "fields", fields), err, errlen);
	key_sign_destroy(&uk);
	return rc;
}

struct bots_of {
	const char *owner; /* NULL: every bot */
	json_t *out;       /* the array filled */
};

static void
s_bot_row(void *arg, store_txn_t *txn, const store_val_t *k, json_t *rec)
{
	struct bots_of *b = arg;
	const char *o = json_string_value(json_object_get(rec, "owner"));
	char handle[64];
	json_t *p;

	if (rec == NULL || o == NULL || k->len >= sizeof(handle) ||
	    (b->owner && strcmp(o, b->owner) != 0))
		return;
	memcpy(handle, k->data, k->len);
	handle[k->len] = 0;
	p = query_person(txn, handle);
	json_array_append_new(
	    b->out,
	    json_pack("{s:s, s:s, s:O, s:O, s:O, s:b}", "handle", handle, "owner", o, "name",
	              json_object_get(json_object_get(p, "profile"), "name") ?: json_null(), "key",
	              json_object_get(p, "key") ?: json_null(), "created",
	              json_object_get(rec, "created") ?: json_null(), "disabled",
	              json_is_true(json_object_get(p, "disabled"))));
	json_decref(p);
}

json_t *
users_bots(store_t *st, const char *owner)
{
	store_txn_t *txn;
	struct bots_of b = {owner, json_array()};

	if (b.out == NULL || store_read_begin(st, &txn) != 0) {
		json_decref(b.out);
		return NULL;
	}
	if (store_each_json(txn, DB_BOTS, s_bot_row, &b) != 0)
		log_warnx("users", "cannot read every bot record");
	store_read_end(st, &txn);
	return b.out;
}

int
users_bot_key(store_t *st, const char *owner, const char *handle, uint8_t key[CPT_KEY_LEN])
{
	store_txn_t *txn;
	json_t *rec;
	const char *o;
	int rc = CPT_ENOTFOUND;

	if (handle == NULL || strlen(handle) > 32 || store_read_begin(st, &txn) != 0)
		return handle == NULL || strlen(handle) > 32 ? CPT_ENOTFOUND : CPT_EIO;
	rec = store_get_json(txn, DB_BOTS, handle, strlen(handle));
	o = json_string_value(json_object_get(rec, "owner"));
	if (o && (owner == NULL || strcmp(o, owner) == 0) && index_key_of(txn, handle, key) == 0)
		rc = 0;
	json_decref(rec);
	store_read_end(st, &txn);
	return rc;
}

int
users_bot_token(store_t *st, const uint8_t owner_seed[CPT_SEED_LEN], const char *owner,
                const char *handle, const char *name, unsigned scopes, uint64_t expires_ms,
                char out[TOK_LEN + 1], json_t **view)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES],
	    xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES], seed[CPT_SEED_LEN],
	    sealed[crypto_box_SEALBYTES + CPT_SEED_LEN], key[CPT_KEY_LEN];
	const char *hex;
	store_txn_t *txn;
	json_t *rec, *krec = NULL;
	sess_anchor_t anchor;
	int rc = CPT_ENOTFOUND;

	if (users_bot_key(st, owner, handle, key) != 0)
		return CPT_ENOTFOUND;
	if (store_read_begin(st, &txn) != 0)
		return CPT_EIO;
	rec = store_get_json(txn, DB_BOTS, handle, strlen(handle));
	krec = index_key_info(txn, key);
	store_read_end(st, &txn);
	hex = json_string_value(json_object_get(rec, "sealed"));
	if (hex == NULL || sess_anchor_of(krec, UINT64_MAX, &anchor) != 0 ||
	    sodium_hex2bin(sealed, sizeof(sealed), hex, strlen(hex), NULL, NULL, NULL) != 0) {
		json_decref(rec);
		json_decref(krec);
		return CPT_ENOTFOUND;
	}
	json_decref(rec);
	json_decref(krec);
	crypto_sign_seed_keypair(pk, sk, owner_seed);
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, pk) == 0 &&
	    crypto_sign_ed25519_sk_to_curve25519(xsk, sk) == 0 &&
	    crypto_box_seal_open(seed, sealed, sizeof(sealed), xpk, xsk) == 0)
		rc = tok_create(st, seed, handle, 0, &anchor, name, scopes & ~(unsigned)TOK_ADMIN,
		                expires_ms, out, view);
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(xsk, sizeof(xsk));
	sodium_memzero(seed, sizeof(seed));
	return rc;
}
