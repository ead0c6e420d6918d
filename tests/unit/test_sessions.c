/*
 * Unit tests of login sessions (node/auth/sessions.c) on a real node's store:
 * records that survive the table, hold no seed in clear and do not open when
 * tampered with; the checks against the key state; the per-person cap; and
 * the login guard and device cookies of node/auth/accounts.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/index/index.h"
#include "tests/unit/node_util.h"

/* A node with one user: handle's key, enrolled and with a key backup. */
struct fix {
	char dir[64];         /* the node's temporary directory */
	node_t *n;            /* the node */
	store_t *st;          /* its store */
	uint8_t seed[32];     /* the user's seed */
	sess_anchor_t anchor; /* what a login would give */
};

static key_sign_t *
s_key(const struct fix *f)
{
	return key_sign_from_seed(f->seed);
}

/* Publishes a (new) key backup of the fixture's user. */
static void
s_backup(struct fix *f, const char *pw)
{
	key_sign_t *k = s_key(f);
	json_t *b = acct_backup_make("alice", f->seed, pw);
	ingest_res_t res;

	assert_non_null(b);
	assert_int_equal(node_publish(f->n, k, EVT_KEY_BACKUP, b, &res), 0);
	assert_int_equal(res.rc, 0);
	json_decref(b);
	key_sign_destroy(&k);
}

/* The anchor of the user as the login computes it. */
static void
s_anchor(struct fix *f)
{
	key_sign_t *k = s_key(f);
	store_txn_t *txn;
	store_val_t kv = {CPT_KEY_LEN, (void *)key_sign_public(k)}, v;
	json_t *rec;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	rec = index_key_info(txn, key_sign_public(k));
	assert_non_null(rec);
	assert_int_equal(store_get(txn, DB_BACKUPS, kv.data, kv.len, &v), 0);
	f->anchor.backup_ts = store_get_u64(v.data);
	store_read_end(f->st, &txn);
	memcpy(f->anchor.site, key_sign_public(node_site_key(f->n)), CPT_KEY_LEN);
	f->anchor.enrol_ms = HLC_MS((uint64_t)json_integer_value(json_object_get(rec, "ts")));
	json_decref(rec);
	key_sign_destroy(&k);
}

static void
s_setup(struct fix *f)
{
	key_sign_t *k;

	memset(f, 0, sizeof(*f));
	f->n = tu_node(f->dir, "paris");
	f->st = node_store(f->n);
	randombytes_buf(f->seed, sizeof(f->seed));
	k = s_key(f);
	tu_enrol(f->n, k, "alice");
	key_sign_destroy(&k);
	s_backup(f, "first-password");
	s_anchor(f);
}

static void
s_teardown(struct fix *f)
{
	node_close(&f->n);
	tu_rm(f->dir);
}

static int
s_open(struct fix *f, sess_table_t *t, char token[SESS_TOKEN_LEN + 1])
{
	key_sign_t *k = s_key(f);
	sess_info_t info;

	return sess_open(t, &k, "alice", 0, &f->anchor, token, &info);
}

static size_t
s_records(struct fix *f)
{
	store_txn_t *txn;
	size_t n;

	assert_int_equal(store_read_begin(f->st, &txn), 0);
	n = store_count(txn, DB_SESSIONS);
	store_read_end(f->st, &txn);
	return n;
}

/* A session outlives its table (a restart), with the same CSRF token, and
 * signs; closed, it does not come back. */
static void
test_restart(void **state)
{
	struct fix f;
	char tok[SESS_TOKEN_LEN + 1];
	sess_info_t a, b;
	sess_table_t *t;
	ingest_res_t res;
	json_t *body = json_pack("{s:s}", "text", "after the restart");

	s_setup(&f);
	t = sess_new(f.st, 8, 3600, 4);
	assert_int_equal(s_open(&f, t, tok), 0);
	assert_int_equal(sess_get(t, tok, &a), 0);
	assert_int_equal(s_records(&f), 1);
	sess_destroy(&t);

	t = sess_new(f.st, 8, 3600, 4);
	assert_int_equal(sess_count(t), 1);
	assert_int_equal(sess_get(t, tok, &b), 0);
	assert_string_equal(b.handle, "alice");
	assert_string_equal(b.csrf, a.csrf);
	assert_memory_equal(b.key, a.key, CPT_KEY_LEN);
	assert_int_equal(sess_publish(t, tok, f.n, EVT_POST, body, &res), 0);
	assert_int_equal(res.rc, 0);
	/* Another token is not this session, nor a malformed one. */
	tok[5] = tok[5] == 'A' ? 'B' : 'A';
	assert_int_equal(sess_get(t, tok, &b), CPT_ENOTFOUND);
	assert_int_equal(sess_get(t, "short", &b), CPT_ENOTFOUND);
	tok[5] = a.csrf[0]; /* not the token any more either */
	sess_destroy(&t);

	/* A backup holds no session: a restore must not bring one back. */
	{
		char bdir[128], err[512];
		store_t *copy = NULL;
		store_txn_t *txn;
		snprintf(bdir, sizeof(bdir), "%s/backup", f.dir);
		assert_int_equal(s_records(&f), 1);
		assert_int_equal(store_backup(f.st, bdir, err, sizeof(err)), 0);
		assert_int_equal(index_store_open(&copy, bdir, 0, err, sizeof(err)), 0);
		assert_int_equal(store_read_begin(copy, &txn), 0);
		assert_int_equal(store_count(txn, DB_SESSIONS), 0);
		assert_true(index_env_count(txn) > 0);
		store_read_end(copy, &txn);
		store_close(&copy);
		assert_int_equal(s_records(&f), 1);
	}

	t = sess_new(f.st, 8, 3600, 4);
	assert_int_equal(s_open(&f, t, tok), 0);
	sess_close(t, tok);
	assert_int_equal(s_records(&f), 1); /* the first one's */
	sess_destroy(&t);
	t = sess_new(f.st, 8, 3600, 4);
	assert_int_equal(sess_get(t, tok, &b), CPT_ENOTFOUND);
	sess_destroy(&t);
	json_decref(body);
	s_teardown(&f);
}

/* Writes one record as is (a damaged or forged one). */
struct put {
	store_t *st;  /* the store */
	uint8_t *id;  /* the record's key */
	uint8_t *rec; /* its bytes */
	size_t len;   /* their number */
};

static int
s_put_fn(store_txn_t *wt, void *arg)
{
	struct put *p = arg;
	store_val_t k = {32, p->id}, v = {p->len, p->rec};

	return store_put(wt, DB_SESSIONS, k.data, k.len, v.data, v.len);
}

/* The records hold the seed sealed only; one changed does not open, and goes. */
static void
test_record_sealed(void **state)
{
	struct fix f;
	char tok[SESS_TOKEN_LEN + 1];
	sess_info_t info;
	sess_table_t *t;
	store_txn_t *txn;
	store_cur_t *cur;
	store_val_t k, v;
	uint8_t id[32], rec[512];
	size_t len = 0;

	s_setup(&f);
	t = sess_new(f.st, 8, 3600, 4);
	assert_int_equal(s_open(&f, t, tok), 0);
	sess_destroy(&t);
	assert_int_equal(store_read_begin(f.st, &txn), 0);
	assert_int_equal(store_cur_open(txn, DB_SESSIONS, &cur), 0);
	assert_int_equal(store_cur_get(cur, &k, &v, STORE_FIRST), 0);
	assert_int_equal(k.len, 32);
	assert_true(v.len <= sizeof(rec));
	memcpy(id, k.data, 32);
	memcpy(rec, v.data, v.len);
	len = v.len;
	store_cur_close(&cur);
	store_read_end(f.st, &txn);
	assert_null(memmem(rec, len, f.seed, sizeof(f.seed)));
	assert_null(memmem(rec, len, tok, SESS_TOKEN_LEN));

	/* The handle (byte 99 on) is bound to the seal: "alice" -> "blice". */
	rec[99] = 'b';
	{
		struct put p = {f.st, id, rec, len};
		assert_int_equal(store_write(f.st, s_put_fn, &p), 0);
	}
	t = sess_new(f.st, 8, 3600, 4);
	assert_int_equal(sess_get(t, tok, &info), CPT_ENOTFOUND);
	assert_int_equal(s_records(&f), 0);
	sess_destroy(&t);
	s_teardown(&f);
}

/* A revoked key (disabled), a newer key backup (password changed), each end
 * the session at its next use; the sweep closes the idle ones too. */
static void
test_key_state(void **state)
{
	struct fix f;
	char t1[SESS_TOKEN_LEN + 1], t2[SESS_TOKEN_LEN + 1], t3[SESS_TOKEN_LEN + 1], err[256];
	sess_info_t info;
	sess_table_t *t;

	s_setup(&f);
	t = sess_new(f.st, 8, 3600, 4);
	assert_int_equal(s_open(&f, t, t1), 0);
	assert_int_equal(s_open(&f, t, t2), 0);
	assert_int_equal(s_open(&f, t, t3), 0);
	/* t2 changes the password: it follows the new backup, t1 does not. */
	assert_int_equal(sess_rebase(t, t2, UINT64_MAX), 0);
	s_backup(&f, "second-password");
	assert_int_equal(sess_get(t, t1, &info), CPT_ENOTFOUND);
	assert_int_equal(sess_get(t, t2, &info), 0);
	sess_sweep(t);
	assert_int_equal(sess_count(t), 1); /* t3, seen by the sweep */
	assert_int_equal(s_records(&f), 1);

	assert_int_equal(users_disable(f.n, "alice", err, sizeof(err)), 0);
	assert_int_equal(sess_get(t, t2, &info), CPT_ENOTFOUND);
	assert_int_equal(sess_count(t), 0);
	assert_int_equal(s_records(&f), 0);
	sess_destroy(&t);
	s_teardown(&f);
}

/* At most per_person sessions of a handle: the least recently used closes;
 * the table full is CPT_EFULL. */
static void
test_cap(void **state)
{
	struct fix f;
	char tok[4][SESS_TOKEN_LEN + 1], other[SESS_TOKEN_LEN + 1];
	sess_info_t info;
	sess_table_t *t;
	key_sign_t *k;

	s_setup(&f);
	t = sess_new(f.st, 3, 3600, 2);
	assert_int_equal(s_open(&f, t, tok[0]), 0);
	assert_int_equal(s_open(&f, t, tok[1]), 0);
	assert_int_equal(sess_get(t, tok[0], &info), 0); /* tok[1] is now the least recent */
	assert_int_equal(s_open(&f, t, tok[2]), 0);
	assert_int_equal(sess_get(t, tok[1], &info), CPT_ENOTFOUND);
	assert_int_equal(sess_get(t, tok[0], &info), 0);
	assert_int_equal(sess_get(t, tok[2], &info), 0);
	assert_int_equal(s_records(&f), 2);
	/* Another person fills the last slot; then nobody new gets in. */
	k = key_sign_new();
	assert_int_equal(sess_open(t, &k, "bob", 0, &f.anchor, other, &info), 0);
	assert_null(k);
	k = key_sign_new();
	assert_int_equal(sess_open(t, &k, "carl", 0, &f.anchor, tok[3], &info), CPT_EFULL);
	assert_null(k);
	sess_close_handle(t, "alice", tok[2]);
	assert_int_equal(sess_get(t, tok[0], &info), CPT_ENOTFOUND);
	assert_int_equal(sess_get(t, tok[2], &info), 0);
	sess_destroy(&t);
	s_teardown(&f);
}

/* Five free failures, then 1, 2, 4 s... of back-off; attempts running count;
 * a trusted attempt is never held back; a success starts the count again. */
static void
test_guard(void **state)
{
	uint64_t now = 1000000;
	unsigned retry = 0;

	acct_login_reset();
	for (int i = 0; i < ACCT_FREE_FAILURES; i++) {
		assert_true(acct_login_allow("alice", 0, now, &retry));
		acct_login_done("alice", 0, -1, now);
	}
	assert_false(acct_login_allow("alice", 0, now, &retry));
	assert_int_equal(retry, 1);
	assert_true(acct_login_allow("alice", 1, now, &retry)); /* her known browser */
	acct_login_done("alice", 1, 1, now);
	assert_false(acct_login_allow("alice", 0, now + 999, &retry));
	assert_true(acct_login_allow("alice", 0, now + 1000, &retry));
	/* Meanwhile no second attempt: the first is still running. */
	assert_false(acct_login_allow("alice", 0, now + 1000, &retry));
	acct_login_done("alice", 0, -1, now + 1000);
	assert_false(acct_login_allow("alice", 0, now + 2999, &retry));
	assert_int_equal(retry, 1);
	assert_false(acct_login_allow("alice", 0, now + 1500, &retry));
	assert_int_equal(retry, 2);
	for (int i = 0; i < 20; i++) {
		uint64_t at = now + 3000 + (uint64_t)i * 1000000;
		assert_true(acct_login_allow("alice", 0, at, &retry));
		acct_login_done("alice", 0, -1, at);
	}
	assert_false(acct_login_allow("alice", 0, now + 3000 + 19 * 1000000ull, &retry));
	assert_int_equal(retry, ACCT_MAX_BACKOFF_S);
	/* An hour after the last failure, all is forgotten. */
	assert_true(acct_login_allow("alice", 0, now + 3000 + 19 * 1000000ull + 3600001, &retry));
	acct_login_done("alice", 0, 1, now);

	/* Parallel attempts count before they end. */
	for (int i = 0; i < ACCT_FREE_FAILURES; i++)
		assert_true(acct_login_allow("bob", 0, now, &retry));
	assert_false(acct_login_allow("bob", 0, now, &retry));
	for (int i = 0; i < ACCT_FREE_FAILURES; i++)
		acct_login_done("bob", 0, i == 0 ? 1 : 0, now);
	assert_true(acct_login_allow("bob", 0, now, &retry));
	acct_login_done("bob", 0, 1, now);
	/* A success from anywhere starts again. */
	for (int i = 0; i < ACCT_FREE_FAILURES - 1; i++) {
		assert_true(acct_login_allow("carl", 0, now, &retry));
		acct_login_done("carl", 0, -1, now);
	}
	assert_true(acct_login_allow("carl", 0, now, &retry));
	acct_login_done("carl", 0, 1, now);
	for (int i = 0; i < ACCT_FREE_FAILURES; i++) {
		assert_true(acct_login_allow("carl", 0, now, &retry));
		acct_login_done("carl", 0, -1, now);
	}
	assert_false(acct_login_allow("carl", 0, now, &retry));
	acct_login_reset();
}

/* A device cookie is for one handle, from one site, and not changed. */
static void
test_device(void **state)
{
	key_sign_t *site = key_sign_new(), *other = key_sign_new();
	char c[ACCT_DEVICE_LEN + 1], d[ACCT_DEVICE_LEN + 1];

	acct_device_cookie(site, "alice", c);
	assert_int_equal(strlen(c), ACCT_DEVICE_LEN);
	acct_device_cookie(site, "alice", d);
	assert_string_not_equal(c, d); /* a fresh nonce each time */
	assert_true(acct_device_check(site, "alice", c));
	assert_true(acct_device_check(site, "alice", d));
	assert_false(acct_device_check(site, "alicf", c));
	assert_false(acct_device_check(other, "alice", c));
	assert_false(acct_device_check(site, "alice", NULL));
	assert_false(acct_device_check(site, "alice", "short"));
	c[20] = c[20] == 'A' ? 'B' : 'A';
	assert_false(acct_device_check(site, "alice", c));
	acct_device_cookie(NULL, "alice", d);
	assert_string_equal(d, "");
	assert_false(acct_device_check(NULL, "alice", d));
	key_sign_destroy(&site);
	key_sign_destroy(&other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_restart),   cmocka_unit_test(test_record_sealed),
	    cmocka_unit_test(test_key_state), cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_guard),     cmocka_unit_test(test_device),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
