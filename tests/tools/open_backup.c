/*
 * Opens a user's newest key backup with their password and prints the seed
 * in hex, for tests that look for it where it must never be (the data
 * directory, in clear). Reads the store of a node, running or not.
 *
 * usage: open_backup DIR HANDLE PASSWORD
 * Exit: 0 printed, 1 not found or wrong password, 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/index/index.h"

int
main(int argc, char **argv)
{
	char err[512], hex[2 * CPT_SEED_LEN + 1];
	uint8_t key[CPT_KEY_LEN], seed[CPT_SEED_LEN];
	store_t *st = NULL;
	json_t *body = NULL;
	key_sign_t *k = NULL;
	store_txn_t *txn;
	store_val_t kv, v;
	evt_t ev;
	index_env_t e;
	int rc = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: open_backup DIR HANDLE PASSWORD\n");
		return 2;
	}
	if (sodium_init() < 0 || index_store_open(&st, argv[1], 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "open_backup: %s\n", err);
		return 1;
	}
	if (store_read_begin(st, &txn) == 0) {
		kv.len = CPT_KEY_LEN;
		kv.data = key;
		if (index_key_of(txn, argv[2], key) == 0 &&
		    store_get(txn, DB_BACKUPS, kv.data, kv.len, &v) == 0 &&
		    v.len == 8 + CPT_ID_LEN) {
			kv.len = CPT_ID_LEN;
			kv.data = (uint8_t *)v.data + 8;
			if (index_env_read(txn, kv.data, &e) == 0 &&
			    index_env_decode(&e, &ev, 0) == 0 && ev.body)
				body = json_loadb((const char *)ev.body, ev.body_len, 0, NULL);
		}
		store_read_end(st, &txn);
	}
	if (body && (k = acct_backup_open(body, argv[3], 1, &rc)) != NULL) {
		key_sign_seed(k, seed);
		sodium_bin2hex(hex, sizeof(hex), seed, sizeof(seed));
		printf("%s\n", hex);
		sodium_memzero(seed, sizeof(seed));
		rc = 0;
	} else {
		fprintf(stderr, "open_backup: no key backup of %s opens with this password\n",
		        argv[2]);
		rc = 1;
	}
	key_sign_destroy(&k);
	json_decref(body);
	store_close(&st);
	return rc;
}
