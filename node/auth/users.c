/*
 * Managing a site's staff accounts, shared by the CLI (comptoir user ...)
 * and the admin pages of the web UI: enrol, reset a password, disable and
 * enable, change a name or a role, list. Every change is a signed event
 * through the single ingest path.
 */
#include <assert.h>
#include <stdio.h>
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
	cpt_hex32(mine, key_sign_public(node_site_key(n)));
	if (strcmp(json_string_value(json_object_get(*rec, "by")) ?: "", mine) != 0) {
		snprintf(err, errlen, "\"%s\" belongs to site %s: only that site manages it",
		         handle, json_string_value(json_object_get(*rec, "site")) ?: "?");
		json_decref(*rec);
		*rec = NULL;
		return CPT_EPERM;
	}
	return 0;
}

/* A new key for handle: its enrolment by the site, then its key backup. */
static int
s_enrol(node_t *n, const char *handle, const char *role, const char *password, key_sign_t **out,
        char *err, size_t errlen)
{
	key_sign_t *uk = key_sign_new();
	uint8_t seed[CPT_SEED_LEN];
	char hex[CPT_HEX_ID];
	json_t *backup;
	int rc;

	*out = NULL;
	if (uk == NULL) {
		snprintf(err, errlen, "out of memory");
		return CPT_ENOMEM;
	}
	cpt_hex32(hex, key_sign_public(uk));
	rc = s_publish(n, node_site_key(n), EVT_ENROL,
	               json_pack("{s:s, s:s, s:s, s:s}", "handle", handle, "key", hex, "site",
	                         node_cfg(n)->name, "role", role),
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
s_revoke(node_t *n, const uint8_t key[CPT_KEY_LEN], const char *reason, char *err, size_t errlen)
{
	char hex[CPT_HEX_ID];

	cpt_hex32(hex, key);
	return s_publish(n, node_site_key(n), EVT_REVOKE,
	                 json_pack("{s:s, s:I, s:s}", "key", hex, "effective",
	                           (json_int_t)hlc_wall_ms(), "reason", reason),
	                 err, errlen);
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
	char hex[CPT_HEX_ID];
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
	body = json_pack("{s:s, s:s, s:s, s:s}", "handle", handle, "key", hex, "site",
	                 node_cfg(n)->name, "role", role);
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
