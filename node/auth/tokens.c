/*
 * Personal API tokens: a record per token in DB_TOKENS, found by a hash of
 * the token, holding the person's seed sealed under a key derived from the
 * token. The node never keeps the token, a password or an unsealed seed:
 * each signed call opens the seed for that call only.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/index/index.h"

#define TOK_CTX        "cpttok01"
#define TOK_MAX_NAME   100
#define TOK_TOUCH_MS   60000 /* last_used is written at most this often */
#define TOK_SEAL_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TOK_SEAL_BOX   (CPT_SEED_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)

static const char *const s_scope_names[] = {"read", "write", "spaces", "admin"};

unsigned
tok_scopes_parse(const json_t *names, char *err, size_t errlen)
{
	unsigned bits = 0;
	size_t i;
	json_t *v;

	if (!json_is_array(names) || json_array_size(names) == 0) {
		snprintf(err, errlen, "\"scopes\" must be a list of read, write, spaces, admin");
		return 0;
	}
	json_array_foreach (names, i, v) {
		const char *s = json_string_value(v);
		unsigned bit = 0;
		for (unsigned k = 0; s && k < 4; k++)
			if (strcmp(s, s_scope_names[k]) == 0)
				bit = 1u << k;
		if (bit == 0) {
			snprintf(err, errlen,
			         "unknown scope \"%.40s\": read, write, spaces or admin",
			         s ? s : "(not a string)");
			return 0;
		}
		bits |= bit;
	}
	return bits;
}

json_t *
tok_scopes_json(unsigned scopes)
{
	json_t *a = json_array();

	for (unsigned k = 0; a && k < 4; k++)
		if (scopes & (1u << k))
			json_array_append_new(a, json_string(s_scope_names[k]));
	return a;
}

int
tok_shape_ok(const char *s)
{
	if (s == NULL || strlen(s) != TOK_LEN || strncmp(s, TOK_PREFIX, 4) != 0)
		return 0;
	for (s += 4; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '-' && *s != '_')
			return 0;
	return 1;
}

/* What a token gives (BLAKE2b through crypto_kdf: the token is 256 random
 * bits, no password hashing needed): the record's key, and the sealing key
 * when seal is not NULL. -1 when token is not shaped like one. */
static int
s_derive(const char *token, uint8_t id[32], uint8_t *seal)
{
	uint8_t raw[32];
	size_t got = 0;

	if (!tok_shape_ok(token) ||
	    sodium_base642bin(raw, sizeof(raw), token + 4, TOK_LEN - 4, NULL, &got, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    got != sizeof(raw))
		return -1;
	crypto_kdf_derive_from_key(id, 32, 1, TOK_CTX, raw);
	if (seal)
		crypto_kdf_derive_from_key(seal, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, 2,
		                           TOK_CTX, raw);
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

/* The associated data of a record's seal: what says whose token it is and
 * what it may do cannot be changed in the store without the token. */
static int
s_ad(const uint8_t id[32], const json_t *rec, char *out, size_t len)
{
	char idhex[CPT_HEX_ID];
	int n;

	cpt_hex32(idhex, id);
	n = snprintf(out, len, "cpttok1|%s|%s|%s|%lld|%lld|%d", idhex,
	             json_string_value(json_object_get(rec, "handle")),
	             json_string_value(json_object_get(rec, "key")),
	             (long long)json_integer_value(json_object_get(rec, "scopes")),
	             (long long)json_integer_value(json_object_get(rec, "expires")),
	             json_is_true(json_object_get(rec, "admin")));
	return n > 0 && (size_t)n < len ? n : -1;
}

static json_t *
s_view(const uint8_t id[32], const json_t *rec)
{
	char idhex[CPT_HEX_ID];
	json_t *exp = json_object_get(rec, "expires"), *last = json_object_get(rec, "last_used");

	cpt_hex32(idhex, id);
	idhex[TOK_ID_LEN] = 0;
	return json_pack(
	    "{s:s, s:O, s:O, s:o, s:O, s:O, s:O}", "id", idhex, "name",
	    json_object_get(rec, "name"), "handle", json_object_get(rec, "handle"), "scopes",
	    tok_scopes_json((unsigned)json_integer_value(json_object_get(rec, "scopes"))),
	    "created", json_object_get(rec, "created"), "expires",
	    json_integer_value(exp) ? exp : json_null(), "last_used",
	    json_integer_value(last) ? last : json_null());
}

struct put {
	const uint8_t *id;
	json_t *rec;
};

static int
s_put_fn(store_txn_t *txn, void *arg)
{
	struct put *p = arg;

	return store_put_json(txn, DB_TOKENS, p->id, 32, p->rec);
}

int
tok_create(store_t *st, const uint8_t seed[CPT_SEED_LEN], const char *handle, int admin,
           const sess_anchor_t *anchor, const char *name, unsigned scopes, uint64_t expires_ms,
           char out[TOK_LEN + 1], json_t **view)
{
	uint8_t raw[32], id[32], seal[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t nonce[TOK_SEAL_NONCE], box[TOK_SEAL_BOX];
	char keyhex[CPT_HEX_ID], sitehex[CPT_HEX_ID], ad[512];
	char nhex[2 * TOK_SEAL_NONCE + 1], bhex[2 * TOK_SEAL_BOX + 1];
	key_sign_t *k;
	json_t *rec;
	struct put p;
	int rc, adlen;

	if (name == NULL || name[0] == 0 || strlen(name) > TOK_MAX_NAME || scopes == 0 ||
	    (scopes & ~(unsigned)TOK_ALL) || ((scopes & TOK_ADMIN) && !admin))
		return CPT_EINVAL;
	if ((k = key_sign_from_seed(seed)) == NULL)
		return CPT_ENOMEM;
	cpt_hex32(keyhex, key_sign_public(k));
	key_sign_destroy(&k);
	cpt_hex32(sitehex, anchor->site);
	randombytes_buf(raw, sizeof(raw));
	memcpy(out, TOK_PREFIX, 4);
	sodium_bin2base64(out + 4, TOK_LEN - 4 + 1, raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	if (s_derive(out, id, seal) != 0)
		return CPT_EINVAL;
	rec = json_pack("{s:i, s:s, s:s, s:b, s:s, s:I, s:s, s:I, s:I, s:I, s:I}", "v", 1, "handle",
	                handle, "key", keyhex, "admin", admin != 0, "site", sitehex, "enrol_ms",
	                (json_int_t)anchor->enrol_ms, "name", name, "scopes", (json_int_t)scopes,
	                "created", (json_int_t)hlc_wall_ms(), "expires", (json_int_t)expires_ms,
	                "last_used", (json_int_t)0);
	if (rec == NULL || (adlen = s_ad(id, rec, ad, sizeof(ad))) < 0) {
		json_decref(rec);
		sodium_memzero(seal, sizeof(seal));
		return CPT_EINVAL;
	}
	randombytes_buf(nonce, sizeof(nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(
	    box, NULL, seed, CPT_SEED_LEN, (const uint8_t *)ad, (size_t)adlen, NULL, nonce, seal);
	sodium_memzero(seal, sizeof(seal));
	sodium_bin2hex(nhex, sizeof(nhex), nonce, sizeof(nonce));
	sodium_bin2hex(bhex, sizeof(bhex), box, sizeof(box));
	json_object_set_new(rec, "nonce", json_string(nhex));
	json_object_set_new(rec, "box", json_string(bhex));
	p.id = id;
	p.rec = rec;
	rc = store_write(st, s_put_fn, &p);
	if (rc == 0 && view)
		*view = s_view(id, rec);
	json_decref(rec);
	if (rc != 0)
		sodium_memzero(out, TOK_LEN + 1);
	return rc;
}

/* The record of token, checked (expiry, key state): 0 with a new reference
 * in *rec, CPT_ENOTFOUND or CPT_EIO. */
static int
s_load(store_t *st, const char *token, uint64_t now_ms, uint8_t id[32], json_t **rec)
{
	store_txn_t *txn;
	sess_anchor_t a;
	uint8_t key[CPT_KEY_LEN];
	const char *kh, *sh;
	json_int_t exp;
	int ok;

	*rec = NULL;
	if (s_derive(token, id, NULL) != 0)
		return CPT_ENOTFOUND;
	if (store_read_begin(st, &txn) != 0)
		return CPT_EIO;
	*rec = store_get_json(txn, DB_TOKENS, id, 32);
	if (*rec == NULL) {
		store_read_end(st, &txn);
		return CPT_ENOTFOUND;
	}
	exp = json_integer_value(json_object_get(*rec, "expires"));
	kh = json_string_value(json_object_get(*rec, "key"));
	sh = json_string_value(json_object_get(*rec, "site"));
	memset(&a, 0, sizeof(a));
	a.enrol_ms = (uint64_t)json_integer_value(json_object_get(*rec, "enrol_ms"));
	/* A token outlives a password change (the key is the same and the token
	 * is its own secret); it ends with the key (disable, reset) or with the
	 * site that enrolled it. */
	a.backup_ts = UINT64_MAX;
	ok = !(exp > 0 && (uint64_t)exp <= now_ms) && kh && sh &&
	     cpt_unhex32(key, kh, strlen(kh)) == 0 && cpt_unhex32(a.site, sh, strlen(sh)) == 0;
	if (ok)
		ok = sess_anchor_valid(txn, key, &a);
	store_read_end(st, &txn);
	if (ok <= 0) {
		json_decref(*rec);
		*rec = NULL;
		return ok < 0 ? CPT_EIO : CPT_ENOTFOUND;
	}
	return 0;
}

struct touch {
	const uint8_t *id;
	uint64_t now;
};

static int
s_touch_fn(store_txn_t *txn, void *arg)
{
	struct touch *t = arg;
	json_t *rec = store_get_json(txn, DB_TOKENS, t->id, 32);
	int rc;

	if (rec == NULL)
		return STORE_NOCHANGE; /* revoked meanwhile: it must not come back */
	json_object_set_new(rec, "last_used", json_integer((json_int_t)t->now));
	rc = store_put_json(txn, DB_TOKENS, t->id, 32, rec);
	json_decref(rec);
	return rc;
}

int
tok_check(store_t *st, const char *token, uint64_t now_ms, tok_info_t *info)
{
	uint8_t id[32];
	json_t *rec;
	const char *h, *kh;
	char idhex[CPT_HEX_ID];
	int rc = s_load(st, token, now_ms, id, &rec);

	if (rc != 0)
		return rc;
	memset(info, 0, sizeof(*info));
	h = json_string_value(json_object_get(rec, "handle"));
	kh = json_string_value(json_object_get(rec, "key"));
	snprintf(info->handle, sizeof(info->handle), "%s", h ? h : "");
	if (kh == NULL || cpt_unhex32(info->key, kh, strlen(kh)) != 0) {
		json_decref(rec);
		return CPT_ENOTFOUND;
	}
	info->admin = json_is_true(json_object_get(rec, "admin"));
	info->scopes = (unsigned)json_integer_value(json_object_get(rec, "scopes"));
	cpt_hex32(idhex, id);
	memcpy(info->id, idhex, TOK_ID_LEN);
	info->id[TOK_ID_LEN] = 0;
	if (now_ms >=
	    (uint64_t)json_integer_value(json_object_get(rec, "last_used")) + TOK_TOUCH_MS) {
		struct touch t = {id, now_ms};
		if (store_write(st, s_touch_fn, &t) != 0)
			log_warnx("tokens", "cannot record the last use of token %s", info->id);
	}
	json_decref(rec);
	return 0;
}

/* The key a token signs with, opened from its record: *k the caller's. */
static int
s_token_key(store_t *st, const char *token, key_sign_t **k)
{
	uint8_t id[32], seal[crypto_aead_xchacha20poly1305_ietf_KEYBYTES], seed[CPT_SEED_LEN];
	uint8_t nonce[TOK_SEAL_NONCE], box[TOK_SEAL_BOX];
	const char *nh, *bh;
	char ad[512];
	size_t nl = 0, bl = 0;
	json_t *rec;
	int rc, adlen;

	if ((rc = s_load(st, token, hlc_wall_ms(), id, &rec)) != 0)
		return rc;
	nh = json_string_value(json_object_get(rec, "nonce"));
	bh = json_string_value(json_object_get(rec, "box"));
	rc = CPT_ENOTFOUND;
	if (nh && bh && (adlen = s_ad(id, rec, ad, sizeof(ad))) > 0 &&
	    sodium_hex2bin(nonce, sizeof(nonce), nh, strlen(nh), NULL, &nl, NULL) == 0 &&
	    nl == sizeof(nonce) &&
	    sodium_hex2bin(box, sizeof(box), bh, strlen(bh), NULL, &bl, NULL) == 0 &&
	    bl == sizeof(box) && s_derive(token, id, seal) == 0) {
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed, NULL, NULL, box, sizeof(box),
		                                               (const uint8_t *)ad, (size_t)adlen,
		                                               nonce, seal) == 0) {
			*k = key_sign_from_seed(seed);
			rc = *k ? 0 : CPT_ENOMEM;
		}
		sodium_memzero(seal, sizeof(seal));
		sodium_memzero(seed, sizeof(seed));
	}
	json_decref(rec);
	return rc;
}

int
tok_publish(store_t *st, const char *token, node_t *n, uint16_t kind, const json_t *body,
            ingest_res_t *res)
{
	key_sign_t *k = NULL;
	int rc;

	if ((rc = s_token_key(st, token, &k)) != 0)
		return rc;
	rc = node_publish(n, k, kind, body, res);
	key_sign_destroy(&k);
	return rc;
}

int
tok_sign(store_t *st, const char *token, node_t *n, uint16_t kind, const json_t *body,
         uint8_t **out, size_t *out_len)
{
	key_sign_t *k = NULL;
	int rc;

	if ((rc = s_token_key(st, token, &k)) != 0)
		return rc;
	rc = node_sign(n, k, kind, body, out, out_len);
	key_sign_destroy(&k);
	return rc;
}

json_t *
tok_list(store_t *st, const uint8_t *key)
{
	char keyhex[CPT_HEX_ID];
	store_txn_t *txn;
	store_cur_t *cur = NULL;
	store_val_t k, v;
	json_t *out = json_array();
	enum store_op op = STORE_FIRST;

	if (out == NULL || store_read_begin(st, &txn) != 0) {
		json_decref(out);
		return NULL;
	}
	if (key)
		cpt_hex32(keyhex, key);
	if (store_cur_open(txn, DB_TOKENS, &cur) == 0) {
		while (store_cur_get(cur, &k, &v, op) == 0) {
			json_t *rec = k.len == 32 ? json_loadb(v.data, v.len, 0, NULL) : NULL;
			const char *kh = json_string_value(json_object_get(rec, "key"));
			op = STORE_NEXT;
			if (rec && kh && (key == NULL || strcmp(kh, keyhex) == 0))
				json_array_append_new(out, s_view(k.data, rec));
			json_decref(rec);
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	return out;
}

struct revoke {
	char id[TOK_ID_LEN + 1];
	const uint8_t *key;
	int found;
};

static int
s_revoke_fn(store_txn_t *txn, void *arg)
{
	struct revoke *r = arg;
	store_cur_t *cur = NULL;
	store_val_t k, v;
	enum store_op op = STORE_FIRST;
	char keyhex[CPT_HEX_ID], idhex[CPT_HEX_ID];
	int rc;

	r->found = 0;
	if (r->key)
		cpt_hex32(keyhex, r->key);
	if ((rc = store_cur_open(txn, DB_TOKENS, &cur)) != 0)
		return rc;
	while ((rc = store_cur_get(cur, &k, &v, op)) == 0) {
		op = STORE_NEXT;
		if (k.len != 32)
			continue;
		cpt_hex32(idhex, k.data);
		if (strncmp(idhex, r->id, TOK_ID_LEN) != 0)
			continue;
		if (r->key) {
			json_t *rec = json_loadb(v.data, v.len, 0, NULL);
			const char *kh = json_string_value(json_object_get(rec, "key"));
			int mine = kh && strcmp(kh, keyhex) == 0;
			json_decref(rec);
			if (!mine)
				continue;
		}
		rc = store_cur_del(cur);
		r->found = rc == 0;
		break;
	}
	store_cur_close(&cur);
	if (rc == CPT_ENOTFOUND)
		rc = 0;
	return rc != 0 ? rc : r->found ? 0 : STORE_NOCHANGE;
}

int
tok_revoke(store_t *st, const char *id, const uint8_t *key)
{
	struct revoke r;
	int rc;

	if (id == NULL || strlen(id) != TOK_ID_LEN || strspn(id, "0123456789abcdef") != TOK_ID_LEN)
		return CPT_ENOTFOUND;
	memcpy(r.id, id, TOK_ID_LEN + 1);
	r.key = key;
	if ((rc = store_write(st, s_revoke_fn, &r)) != 0)
		return rc;
	return r.found ? 0 : CPT_ENOTFOUND;
}
