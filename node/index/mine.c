/*
 * A person's own state (kind 17, "mine": read marks, muted threads,
 * preferences), sealed under a key only their signing key gives, and the
 * fold of it; the personal keys a node learnt when people logged in here
 * (DB_MINE_KEYS, local). Every byte is in docs/PROTOCOL.md section 17.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/index/index_internal.h"

#define MINE_KEY_DOMAIN "comptoir/personal-key/v1"
#define MINE_AD_DOMAIN  "comptoir/mine/v1"
#define MINE_AD_LEN     (sizeof(MINE_AD_DOMAIN) - 1 + CPT_FED_LEN + CPT_KEY_LEN)
#define MINE_NONCE_LEN  crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define MINE_TAG_LEN    crypto_aead_xchacha20poly1305_ietf_ABYTES

void
index_mine_derive(uint8_t k[INDEX_MINE_KEY_LEN], const uint8_t seed[CPT_SEED_LEN])
{
	crypto_generichash(k, INDEX_MINE_KEY_LEN, (const uint8_t *)MINE_KEY_DOMAIN,
	                   sizeof(MINE_KEY_DOMAIN) - 1, seed, CPT_SEED_LEN);
}

int
index_mine_key_put(store_txn_t *txn, const uint8_t user[CPT_KEY_LEN],
                   const uint8_t k[INDEX_MINE_KEY_LEN])
{
	assert(txn != NULL && user != NULL && k != NULL);
	return store_put(txn, DB_MINE_KEYS, user, CPT_KEY_LEN, k, INDEX_MINE_KEY_LEN);
}

int
index_mine_key_get(store_txn_t *txn, const uint8_t user[CPT_KEY_LEN], uint8_t k[INDEX_MINE_KEY_LEN])
{
	store_val_t v;
	int rc = store_get(txn, DB_MINE_KEYS, user, CPT_KEY_LEN, &v);

	if (rc != 0)
		return rc;
	if (v.len != INDEX_MINE_KEY_LEN)
		return CPT_EINVAL;
	memcpy(k, v.data, INDEX_MINE_KEY_LEN);
	return 0;
}

static void
s_ad(uint8_t ad[MINE_AD_LEN], const uint8_t fed[CPT_FED_LEN], const uint8_t author[CPT_KEY_LEN])
{
	memcpy(ad, MINE_AD_DOMAIN, sizeof(MINE_AD_DOMAIN) - 1);
	memcpy(ad + sizeof(MINE_AD_DOMAIN) - 1, fed, CPT_FED_LEN);
	memcpy(ad + sizeof(MINE_AD_DOMAIN) - 1 + CPT_FED_LEN, author, CPT_KEY_LEN);
}

json_t *
index_mine_seal(const uint8_t k[INDEX_MINE_KEY_LEN], const uint8_t fed[CPT_FED_LEN],
                const uint8_t author[CPT_KEY_LEN], const json_t *plain)
{
	uint8_t ad[MINE_AD_LEN], nonce[MINE_NONCE_LEN], *pt, *ct;
	char nhex[2 * MINE_NONCE_LEN + 1], *b64;
	char *text = json_dumps(plain, JSON_COMPACT);
	size_t len, padded;
	unsigned long long ctlen;
	json_t *out = NULL;

	if (text == NULL)
		return NULL;
	len = strlen(text);
	padded = (len / 64 + 1) * 64; /* spaces to a multiple of 64: lengths stay vague */
	pt = malloc(padded);
	ct = malloc(padded + MINE_TAG_LEN);
	b64 = malloc(cpt_b64_len(padded + MINE_TAG_LEN) + 1);
	if (pt && ct && b64) {
		memcpy(pt, text, len);
		memset(pt + len, ' ', padded - len);
		randombytes_buf(nonce, sizeof(nonce));
		s_ad(ad, fed, author);
		crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, pt, padded, ad, sizeof(ad),
		                                           NULL, nonce, k);
		cpt_b64(b64, ct, (size_t)ctlen);
		sodium_bin2hex(nhex, sizeof(nhex), nonce, sizeof(nonce));
		out = json_pack("{s:s, s:s}", "nonce", nhex, "box", b64);
		sodium_memzero(pt, padded);
	}
	free(pt);
	free(ct);
	free(b64);
	free(text);
	return out;
}

json_t *
index_mine_open(const uint8_t k[INDEX_MINE_KEY_LEN], const uint8_t fed[CPT_FED_LEN],
                const uint8_t author[CPT_KEY_LEN], const json_t *body)
{
	const char *nonce = json_string_value(json_object_get(body, "nonce"));
	const char *box = json_string_value(json_object_get(body, "box"));
	uint8_t ad[MINE_AD_LEN], n[MINE_NONCE_LEN], *ct, *pt;
	size_t blen, ctlen;
	unsigned long long ptlen;
	json_t *out = NULL;

	if (nonce == NULL || box == NULL || strlen(nonce) != 2 * MINE_NONCE_LEN ||
	    sodium_hex2bin(n, sizeof(n), nonce, strlen(nonce), NULL, NULL, NULL) != 0)
		return NULL;
	blen = strlen(box);
	if ((ct = malloc(blen)) == NULL)
		return NULL;
	if (cpt_unb64(ct, blen, &ctlen, box, blen) != 0 || ctlen < MINE_TAG_LEN ||
	    (pt = malloc(ctlen)) == NULL) {
		free(ct);
		return NULL;
	}
	s_ad(ad, fed, author);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL, ct, ctlen, ad, sizeof(ad),
	                                               n, k) == 0) {
		json_error_t jerr;
		out = json_loadb((const char *)pt, (size_t)ptlen, JSON_REJECT_DUPLICATES, &jerr);
		if (out && !json_is_object(out)) {
			json_decref(out);
			out = NULL;
		}
		sodium_memzero(pt, (size_t)ptlen);
	}
	free(pt);
	free(ct);
	return out;
}

/* ------------------------------------------------------------- the fold */

struct fold {
	const uint8_t *k;   /* the personal key */
	const uint8_t *fed; /* the federation */
	const uint8_t *who; /* the author */
	json_t *state;      /* the state so far */
	json_t *order;      /* "mute/<post>", "prefs/<name>" -> [ts, id hex]: the newest writer */
	size_t events;      /* kind 17 events read */
	size_t opened;      /* of which opened */
};

/* Is (ts, id) newer than what order holds under name? Records it if so. */
static int
s_newer(struct fold *f, const char *name, uint64_t ts, const uint8_t id[CPT_ID_LEN])
{
	json_t *at = json_object_get(f->order, name);
	char hex[2 * CPT_ID_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), id, CPT_ID_LEN);
	if (at != NULL) {
		uint64_t ots = (uint64_t)json_integer_value(json_array_get(at, 0));
		const char *oid = json_string_value(json_array_get(at, 1));
		if (ots > ts || (ots == ts && oid && strcmp(oid, hex) >= 0))
			return 0;
	}
	json_object_set_new(f->order, name, json_pack("[I, s]", (json_int_t)ts, hex));
	return 1;
}

static void
s_apply(struct fold *f, const json_t *p, uint64_t ts, const uint8_t id[CPT_ID_LEN])
{
	const char *name;
	json_t *v;
	char key[128];

	/* A read mark is [latest, n]: the group's newest item and its count
	 * when it was read; marks only grow, each part on its own. */
	json_object_foreach (json_object_get(p, "read"), name, v) {
		json_t *read = json_object_get(f->state, "read"), *old;
		json_int_t l = json_integer_value(json_array_get(v, 0));
		json_int_t n = json_integer_value(json_array_get(v, 1));
		if (strlen(name) != 2 * CPT_ID_LEN || !json_is_integer(json_array_get(v, 0)) ||
		    !json_is_integer(json_array_get(v, 1)) || l < 0 || n < 0)
			continue;
		if ((old = json_object_get(read, name)) != NULL) {
			if (json_integer_value(json_array_get(old, 0)) > l)
				l = json_integer_value(json_array_get(old, 0));
			if (json_integer_value(json_array_get(old, 1)) > n)
				n = json_integer_value(json_array_get(old, 1));
		}
		json_object_set_new(read, name, json_pack("[I, I]", l, n));
	}
	json_object_foreach (json_object_get(p, "mute"), name, v) {
		if (strlen(name) != 2 * CPT_ID_LEN || !json_is_boolean(v))
			continue;
		snprintf(key, sizeof(key), "mute/%s", name);
		if (s_newer(f, key, ts, id))
			json_object_set(json_object_get(f->state, "mute"), name, v);
	}
	json_object_foreach (json_object_get(p, "prefs"), name, v) {
		/* The longest name is "space." and a space's 64 hex digits (70):
		 * 64 here dropped every preference per space. */
		if (strlen(name) > 96)
			continue;
		snprintf(key, sizeof(key), "prefs/%s", name);
		if (s_newer(f, key, ts, id))
			json_object_set(json_object_get(f->state, "prefs"), name, v);
	}
}

static int
s_fold_one(index_ctx_t *ix, store_txn_t *txn, const uint8_t *id, uint16_t kind, void *arg)
{
	struct fold *f = arg;
	evt_t ev;
	json_t *b, *p;

	(void)ix;
	if (kind != EVT_MINE || index_event(txn, id, &ev) != 0)
		return 0;
	f->events++;
	if ((b = index_body(&ev)) == NULL)
		return 0; /* erased: it says nothing any more */
	if ((p = index_mine_open(f->k, f->fed, f->who, b)) != NULL) {
		f->opened++;
		s_apply(f, p, ev.ts, id);
		json_decref(p);
	}
	json_decref(b);
	return 0;
}

/* ------------------------------------------------- the index by author */

static size_t
s_mine_key(uint8_t k[CPT_KEY_LEN + STORE_TSID_LEN], const evt_t *ev, const uint8_t id[CPT_ID_LEN])
{
	memcpy(k, ev->author, CPT_KEY_LEN);
	store_tsid(k + CPT_KEY_LEN, ev->ts, id);
	return CPT_KEY_LEN + STORE_TSID_LEN;
}

int
ix_mine_added(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t k[CPT_KEY_LEN + STORE_TSID_LEN];

	(void)ix;
	return store_put(txn, DB_MINE, k, s_mine_key(k, e->ev, e->id), "", 0);
}

/* Erased (a redaction by its author) or gone: the fold skips it. */
int
ix_mine_removed(index_ctx_t *ix, store_txn_t *txn, const index_ev_t *e)
{
	uint8_t k[CPT_KEY_LEN + STORE_TSID_LEN];
	int rc;

	(void)ix;
	rc = store_del(txn, DB_MINE, k, s_mine_key(k, e->ev, e->id));
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

/* Calls s_fold_one for each of user's kind 17 events, in (ts, id) order. */
static int
s_each_mine(store_txn_t *txn, const uint8_t user[CPT_KEY_LEN], struct fold *f)
{
	store_cur_t *cur;
	store_val_t k = {CPT_KEY_LEN, (void *)user}, v;
	int rc;

	if ((rc = store_cur_open(txn, DB_MINE, &cur)) != 0)
		return rc;
	rc = store_cur_get(cur, &k, &v, STORE_SEEK);
	while (rc == 0 && k.len == CPT_KEY_LEN + STORE_TSID_LEN &&
	       memcmp(k.data, user, CPT_KEY_LEN) == 0) {
		if ((rc = s_fold_one(NULL, txn, (const uint8_t *)k.data + CPT_KEY_LEN + 8, EVT_MINE,
		                     f)) != 0)
			break;
		rc = store_cur_get(cur, &k, &v, STORE_NEXT);
	}
	store_cur_close(&cur);
	return rc == CPT_ENOTFOUND ? 0 : rc;
}

json_t *
index_mine_state(store_txn_t *txn, const uint8_t fed[CPT_FED_LEN], const uint8_t user[CPT_KEY_LEN])
{
	uint8_t k[INDEX_MINE_KEY_LEN];
	struct fold f = {0};
	int rc, known;

	assert(txn != NULL && fed != NULL && user != NULL);
	known = index_mine_key_get(txn, user, k) == 0;
	f.k = k;
	f.fed = fed;
	f.who = user;
	f.state = json_pack("{s:{}, s:{}, s:{}, s:b}", "read", "mute", "prefs", "known", known);
	f.order = json_object();
	if (f.state == NULL || f.order == NULL) {
		json_decref(f.state);
		json_decref(f.order);
		return NULL;
	}
	/* DB_MINE holds only kind 17 events: a person's other events (a year
	 * of posts and reactions) are not walked. */
	rc = known ? s_each_mine(txn, user, &f) : 0;
	sodium_memzero(k, sizeof(k));
	json_decref(f.order);
	if (rc != 0) {
		json_decref(f.state);
		return NULL;
	}
	json_object_set_new(f.state, "events", json_integer((json_int_t)f.events));
	json_object_set_new(f.state, "opened", json_integer((json_int_t)f.opened));
	return f.state;
}
