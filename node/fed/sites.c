/*
 * The sites certified here, by name, as the API, the status and the
 * figures list them: from the site records (DB_KEYS) and their revocations.
 */
#include <stdlib.h>
#include <string.h>

#include "node/fed/fed_internal.h"
#include "node/index/index.h"

/* A site record (DB_KEYS) as the API shows it. */
static json_t *
s_site_json(store_txn_t *txn, store_t *st, const uint8_t key[CPT_KEY_LEN], const json_t *rec,
            const uint8_t self[CPT_KEY_LEN], uint64_t now)
{
	store_val_t v;
	char hex[CPT_HEX_ID];
	int revoked = store_get(txn, DB_REVOKED, key, CPT_KEY_LEN, &v) == 0 && v.len == 8 &&
	              store_get_u64(v.data) <= now;
	json_t *j;

	cpt_hex32(hex, key);
	j = json_pack("{s:O, s:s, s:b, s:b, s:b}", "site", json_object_get(rec, "site"), "key", hex,
	              "revoked", revoked, "expired", !revoked && !index_site_valid_at(rec, now),
	              "self", self && memcmp(key, self, CPT_KEY_LEN) == 0);
	if (j && json_is_string(json_object_get(rec, "title")))
		json_object_set(j, "title", json_object_get(rec, "title"));
	return j;
}

json_t *
fed_site(node_t *n, const uint8_t key[CPT_KEY_LEN])
{
	store_t *st = node_store(n);
	store_txn_t *txn;
	json_t *rec, *j = NULL;

	if (store_read_begin(st, &txn) != 0)
		return NULL;
	rec = index_key_info(txn, key);
	if (rec && strcmp(json_string_value(json_object_get(rec, "type")) ?: "", "site") == 0)
		j = s_site_json(txn, st, key, rec, key_sign_public(node_site_key(n)),
		                hlc_wall_ms());
	json_decref(rec);
	store_read_end(st, &txn);
	return j;
}

static int
s_by_site(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return strcmp(json_string_value(json_object_get(x, "site")) ?: "",
	              json_string_value(json_object_get(y, "site")) ?: "");
}

/*
 * Every site certificate held here, by name. DB_KEYS holds users too, and
 * sites are few: the records that cannot be a site's are skipped before
 * parsing (they are stored with sorted keys, so a site's says "type":"site").
 */
json_t *
fed_sites(node_t *n)
{
	static const char tag[] = "\"type\":\"site\"";
	store_t *st = node_store(n);
	const uint8_t *self = key_sign_public(node_site_key(n));
	uint64_t now = hlc_wall_ms();
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	json_t *out = json_array(), **all = NULL;
	size_t count = 0, cap = 0;

	if (out == NULL || store_read_begin(st, &txn) != 0)
		return out;
	if (store_cur_open(txn, DB_KEYS, &cur) == 0) {
		for (int rc = store_cur_get(cur, &k, &v, STORE_FIRST); rc == 0;
		     rc = store_cur_get(cur, &k, &v, STORE_NEXT)) {
			json_t *rec, *j = NULL;
			if (k.len != CPT_KEY_LEN ||
			    memmem(v.data, v.len, tag, sizeof(tag) - 1) == NULL ||
			    (rec = json_loadb(v.data, v.len, 0, NULL)) == NULL)
				continue;
			if (strcmp(json_string_value(json_object_get(rec, "type")) ?: "", "site") ==
			        0 &&
			    json_is_string(json_object_get(rec, "site")))
				j = s_site_json(txn, st, k.data, rec, self, now);
			json_decref(rec);
			if (j && count == cap) {
				json_t **more =
				    realloc(all, (cap = cap ? 2 * cap : 16) * sizeof(*all));
				if (more == NULL) {
					json_decref(j);
					break;
				}
				all = more;
			}
			if (j)
				all[count++] = j;
		}
		store_cur_close(&cur);
	}
	store_read_end(st, &txn);
	if (count)
		qsort(all, count, sizeof(*all), s_by_site);
	for (size_t i = 0; i < count; i++)
		json_array_append_new(out, all[i]);
	free(all);
	return out;
}
