/*
 * The peers this site dials: those of the config, then those added with
 * `comptoir peer add` (DB_PEERS, with each one's watermark: unsent.c).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/fed/fed_internal.h"

/* The peers this site dials: the config's, then those added with `peer add`. */
size_t
fed_peers_dialed(node_t *n, sync_peer_conf_t *out, size_t max)
{
	const cfg_t *cfg = node_cfg(n);
	store_t *st = node_store(n);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t count = 0;

	for (size_t i = 0; i < cfg->n_peers; i++, count++)
		if (count < max) {
			snprintf(out[count].endpoint, sizeof(out[count].endpoint), "%s",
			         cfg->peers[i].endpoint);
			memcpy(out[count].site_key, cfg->peers[i].site_key, CPT_KEY_LEN);
		}
	if (store_read_begin(st, &txn) != 0)
		return count;
	if (store_cur_open(txn, DB_PEERS, &cur) == 0) {
		for (int rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			json_t *rec = json_loadb(v.data, v.len, 0, NULL);
			const char *ep = json_string_value(json_object_get(rec, "endpoint"));
			int dup = 0;
			for (size_t i = 0; i < count && i < max; i++)
				dup |= memcmp(out[i].site_key, k.data, CPT_KEY_LEN) == 0;
			if (ep && k.len == CPT_KEY_LEN && !dup && count >= max) {
				count++; /* counted, not kept: the caller says so */
			} else if (ep && k.len == CPT_KEY_LEN && !dup) {
				snprintf(out[count].endpoint, sizeof(out[count].endpoint), "%s",
				         ep);
				memcpy(out[count].site_key, k.data, CPT_KEY_LEN);
				count++;
			}
			json_decref(rec);
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	return count;
}

struct peer_put {
	store_t *st;              /* where */
	uint8_t key[CPT_KEY_LEN]; /* site key */
	json_t *rec;              /* fields to set: {"endpoint", "site"}, or {"unsent_from"} */
};

/* Sets the fields of rec in the peer's record, keeping the others (a peer
 * added again keeps its watermark, a watermark keeps the endpoint). */
static int
s_peer_put_fn(store_txn_t *txn, void *arg)
{
	struct peer_put *p = arg;
	json_t *old = store_get_json(txn, DB_PEERS, p->key, CPT_KEY_LEN);
	int rc;

	if (!json_is_object(old)) {
		json_decref(old);
		old = json_object();
	}
	if (old == NULL || json_object_update(old, p->rec) != 0) {
		json_decref(old);
		return CPT_ENOMEM;
	}
	rc = store_put_json(txn, DB_PEERS, p->key, CPT_KEY_LEN, old);
	json_decref(old);
	return rc;
}

int
fed_peer_add(node_t *n, const uint8_t site_key[CPT_KEY_LEN], const char *endpoint, const char *site)
{
	struct peer_put p = {
	    node_store(n), {0}, json_pack("{s:s, s:s}", "endpoint", endpoint, "site", site)};
	int rc;

	if (p.rec == NULL)
		return CPT_ENOMEM;
	memcpy(p.key, site_key, CPT_KEY_LEN);
	rc = store_write(node_store(n), s_peer_put_fn, &p);
	json_decref(p.rec);
	return rc;
}

int
fed_peer_mark(node_t *n, const uint8_t site_key[CPT_KEY_LEN], const uint8_t from[40],
              uint64_t down_ms)
{
	char hex[81];
	struct peer_put p = {node_store(n), {0}, NULL};
	int rc;

	sodium_bin2hex(hex, sizeof(hex), from, 40);
	if ((p.rec = json_pack("{s:s, s:I}", "unsent_from", hex, "down_ms", (json_int_t)down_ms)) ==
	    NULL)
		return CPT_ENOMEM;
	memcpy(p.key, site_key, CPT_KEY_LEN);
	rc = store_write(node_store(n), s_peer_put_fn, &p);
	json_decref(p.rec);
	return rc;
}

int
fed_peer_marked(node_t *n, const uint8_t site_key[CPT_KEY_LEN], uint8_t from[40], uint64_t *down_ms)
{
	store_t *st = node_store(n);
	store_txn_t *txn;
	json_t *rec;
	const char *hex;
	size_t len = 0;
	int rc = CPT_ENOTFOUND;

	if (store_read_begin(st, &txn) != 0)
		return CPT_EIO;
	rec = store_get_json(txn, DB_PEERS, site_key, CPT_KEY_LEN);
	store_read_end(st, &txn);
	hex = json_string_value(json_object_get(rec, "unsent_from"));
	if (hex && strlen(hex) == 80 && sodium_hex2bin(from, 40, hex, 80, NULL, &len, NULL) == 0 &&
	    len == 40)
		rc = 0;
	*down_ms = (uint64_t)json_integer_value(json_object_get(rec, "down_ms"));
	json_decref(rec);
	return rc;
}

size_t
fed_peer_keys(node_t *n, uint8_t (*out)[CPT_KEY_LEN], size_t max)
{
	store_t *st = node_store(n);
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	size_t count = 0;

	if (store_read_begin(st, &txn) != 0)
		return 0;
	if (store_cur_open(txn, DB_PEERS, &cur) == 0) {
		for (int rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0 && count < max;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT))
			if (k.len == CPT_KEY_LEN)
				memcpy(out[count++], k.data, CPT_KEY_LEN);
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	return count;
}
