/*
 * Users' keys sealed under their password: the body of key-backup events
 * (argon2id + XSalsa20-Poly1305), opened at login. What protects the KDF:
 * at most two runs at once (64 MiB each), known browsers served first, a
 * back-off per account, and no KDF at all for handles that do not exist.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/index/index.h"

#define MAX_CONCURRENT_KDF 2

#define KDF_WAIT_MS 3000 /* a login waits this long for a free slot */

static pthread_mutex_t s_kdf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_kdf_free = PTHREAD_COND_INITIALIZER;
static int s_kdf_running;   /* runs now */
static int s_kdf_prio_wait; /* callers with priority waiting for a slot */
static uint64_t s_kdf_us;   /* average INTERACTIVE run here (µs), 0 before the first */

static uint64_t
s_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Takes one of the MAX_CONCURRENT_KDF slots, waiting at most KDF_WAIT_MS.
 * Callers without priority also wait while one with priority does: guesses
 * from strangers cannot keep a known browser's login out. 0 or CPT_EAGAIN. */
static int
s_slot_take(int priority)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += KDF_WAIT_MS / 1000;
	pthread_mutex_lock(&s_kdf_lock);
	s_kdf_prio_wait += priority != 0;
	while (s_kdf_running >= MAX_CONCURRENT_KDF || (!priority && s_kdf_prio_wait > 0)) {
		if (pthread_cond_timedwait(&s_kdf_free, &s_kdf_lock, &until) != 0) {
			s_kdf_prio_wait -= priority != 0;
			pthread_cond_broadcast(&s_kdf_free); /* others may go now */
			pthread_mutex_unlock(&s_kdf_lock);
			return CPT_EAGAIN;
		}
	}
	s_kdf_prio_wait -= priority != 0;
	s_kdf_running++;
	pthread_mutex_unlock(&s_kdf_lock);
	return 0;
}

/* Gives a slot back; us > 0: an INTERACTIVE run took that long. */
static void
s_slot_give(uint64_t us)
{
	pthread_mutex_lock(&s_kdf_lock);
	s_kdf_running--;
	if (us)
		s_kdf_us = s_kdf_us ? (7 * s_kdf_us + us) / 8 : us;
	/* Waiters of both kinds: a signal could wake only one that must wait on. */
	pthread_cond_broadcast(&s_kdf_free);
	pthread_mutex_unlock(&s_kdf_lock);
}

/* Derives the sealing key in a KDF slot. 0, CPT_EAGAIN (still busy) or CPT_ENOMEM. */
static int
s_derive(uint8_t key[crypto_secretbox_KEYBYTES], const char *password, const uint8_t *salt,
         unsigned long long ops, size_t mem, int priority)
{
	uint64_t t0;
	int rc;

	if ((rc = s_slot_take(priority)) != 0)
		return rc;
	t0 = s_mono_us();
	rc = crypto_pwhash(key, crypto_secretbox_KEYBYTES, password, strlen(password), salt, ops,
	                   mem, crypto_pwhash_ALG_ARGON2ID13);
	s_slot_give(ops == crypto_pwhash_OPSLIMIT_INTERACTIVE &&
	                    mem == crypto_pwhash_MEMLIMIT_INTERACTIVE
	                ? s_mono_us() - t0 + 1
	                : 0);
	return rc == 0 ? 0 : CPT_ENOMEM;
}

int
acct_kdf_pause(void)
{
	uint64_t us;
	int rc;

	pthread_mutex_lock(&s_kdf_lock);
	us = s_kdf_us;
	pthread_mutex_unlock(&s_kdf_lock);
	if (us == 0) {
		/* Nothing measured yet: one real run, which measures. */
		uint8_t key[crypto_secretbox_KEYBYTES], salt[crypto_pwhash_SALTBYTES];
		randombytes_buf(salt, sizeof(salt));
		rc = s_derive(key, "", salt, crypto_pwhash_OPSLIMIT_INTERACTIVE,
		              crypto_pwhash_MEMLIMIT_INTERACTIVE, 0);
		sodium_memzero(key, sizeof(key));
		return rc == CPT_EAGAIN ? rc : 0;
	}
	/* Queue as a login would, but hand the slot back at once. */
	if ((rc = s_slot_take(0)) != 0)
		return rc;
	s_slot_give(0);
	usleep((useconds_t)us);
	return 0;
}

json_t *
acct_backup_make(const char *handle, const uint8_t seed[CPT_SEED_LEN], const char *password)
{
	uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
	uint8_t box[CPT_SEED_LEN + crypto_secretbox_MACBYTES];
	uint8_t *key = sodium_malloc(crypto_secretbox_KEYBYTES);
	char hsalt[2 * sizeof(salt) + 1], hnonce[2 * sizeof(nonce) + 1], hbox[2 * sizeof(box) + 1];
	unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
	size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	int rc;

	if (key == NULL)
		return NULL;
	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(nonce, sizeof(nonce));
	/* Callers wait rather than fail when logins are running: the CLI, an
	 * admin adding a user, a person changing their password. */
	while ((rc = s_derive(key, password, salt, ops, mem, 1)) == CPT_EAGAIN)
		usleep(20000);
	if (rc != 0) {
		sodium_free(key);
		return NULL;
	}
	crypto_secretbox_easy(box, seed, CPT_SEED_LEN, nonce, key);
	sodium_free(key);
	sodium_bin2hex(hsalt, sizeof(hsalt), salt, sizeof(salt));
	sodium_bin2hex(hnonce, sizeof(hnonce), nonce, sizeof(nonce));
	sodium_bin2hex(hbox, sizeof(hbox), box, sizeof(box));
	return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "handle", handle, "kdf",
	                 "argon2id13", "ops", (json_int_t)ops, "mem", (json_int_t)mem, "salt",
	                 hsalt, "nonce", hnonce, "box", hbox);
}

static int
s_hex(uint8_t *out, size_t n, const json_t *body, const char *name)
{
	const char *s = json_string_value(json_object_get(body, name));
	size_t got = 0;

	if (s == NULL || strlen(s) != 2 * n)
		return -1;
	return sodium_hex2bin(out, n, s, 2 * n, NULL, &got, NULL) == 0 && got == n ? 0 : -1;
}

key_sign_t *
acct_backup_open(const json_t *body, const char *password, int priority, int *rc)
{
	uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
	uint8_t box[CPT_SEED_LEN + crypto_secretbox_MACBYTES];
	uint8_t *mem = NULL;
	json_int_t ops = json_integer_value(json_object_get(body, "ops"));
	json_int_t memlim = json_integer_value(json_object_get(body, "mem"));
	key_sign_t *k = NULL;

	*rc = CPT_EINVAL;
	if (s_hex(salt, sizeof(salt), body, "salt") || s_hex(nonce, sizeof(nonce), body, "nonce") ||
	    s_hex(box, sizeof(box), body, "box"))
		return NULL;
	/* Bounds: a hostile backup must not make a login take minutes or GiBs. */
	if (ops < (json_int_t)crypto_pwhash_OPSLIMIT_MIN || ops > 16 ||
	    memlim < (json_int_t)crypto_pwhash_MEMLIMIT_MIN || memlim > (json_int_t)(256u << 20))
		return NULL;
	if (strlen(password) > ACCT_MAX_PASSWORD)
		return NULL;
	/* key (32) then seed (32), in one guarded region. */
	if ((mem = sodium_malloc(2 * 32)) == NULL) {
		*rc = CPT_ENOMEM;
		return NULL;
	}
	if ((*rc = s_derive(mem, password, salt, (unsigned long long)ops, (size_t)memlim,
	                    priority)) != 0)
		goto out;
	if (crypto_secretbox_open_easy(mem + 32, box, sizeof(box), nonce, mem) != 0) {
		*rc = CPT_EAUTH;
		goto out;
	}
	k = key_sign_from_seed(mem + 32);
	*rc = k ? 0 : CPT_ENOMEM;
out:
	sodium_free(mem);
	return k;
}

void
acct_password_generate(char out[32])
{
	/* No 0/o, 1/l: read aloud over the phone by site IT. */
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
	size_t p = 0;

	for (int g = 0; g < 4; g++) {
		for (int i = 0; i < 5; i++)
			out[p++] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
		if (g < 3)
			out[p++] = '-';
	}
	out[p] = 0;
}

/* ------------------------------------------------------ login guard */

#define GUARD_SLOTS     4096       /* accounts remembered; see s_guard_find */
#define GUARD_FORGET_MS 3600000ull /* failures forgotten an hour after the last */

static struct guard {
	char handle[65];       /* the handle tried (as sent), "" = free slot */
	uint32_t failures;     /* wrong passwords, counted since forgotten */
	uint32_t inflight;     /* untrusted attempts running now */
	uint64_t last_fail_ms; /* when the last failure was */
	uint64_t next_ms;      /* no untrusted attempt before this, once past the free ones */
} s_guard[GUARD_SLOTS];
static pthread_mutex_t s_guard_lock = PTHREAD_MUTEX_INITIALIZER;

static int
s_guard_idle(const struct guard *g, uint64_t now_ms)
{
	return g->inflight == 0 && now_ms > g->last_fail_ms + GUARD_FORGET_MS;
}

/* Which slot a new handle takes first: free (0), forgotten (1), else (2)
 * the one whose last failure is oldest. */
static int
s_guard_rank(const struct guard *g, uint64_t now_ms)
{
	return !g->handle[0] ? 0 : s_guard_idle(g, now_ms) ? 1 : 2;
}

/* The entry of handle; with create, a new one in a free or forgotten slot,
 * else the one whose last failure is oldest (an account in back-off is
 * pushed out only by a table full of newer ones). NULL when none. */
static struct guard *
s_guard_find(const char *handle, uint64_t now_ms, int create)
{
	struct guard *spare = NULL;

	if (strlen(handle) >= sizeof(s_guard[0].handle))
		return NULL;
	for (size_t i = 0; i < GUARD_SLOTS; i++) {
		struct guard *g = &s_guard[i];
		if (g->handle[0] && strcmp(g->handle, handle) == 0) {
			if (s_guard_idle(g, now_ms)) {
				g->failures = 0;
				g->next_ms = 0;
			}
			return g;
		}
		if (!create || g->inflight)
			continue;
		if (spare == NULL || s_guard_rank(g, now_ms) < s_guard_rank(spare, now_ms) ||
		    (s_guard_rank(g, now_ms) == s_guard_rank(spare, now_ms) &&
		     g->last_fail_ms < spare->last_fail_ms))
			spare = g;
	}
	if (spare) {
		memset(spare, 0, sizeof(*spare));
		snprintf(spare->handle, sizeof(spare->handle), "%s", handle);
	}
	return spare;
}

int
acct_login_allow(const char *handle, int trusted, uint64_t now_ms, unsigned *retry_s)
{
	struct guard *g;
	int ok;

	if (trusted)
		return 1;
	pthread_mutex_lock(&s_guard_lock);
	g = s_guard_find(handle, now_ms, 1);
	/* Attempts running count as failures until they end: a burst of
	 * parallel guesses gets no more than the free ones. */
	ok = g == NULL || g->failures + g->inflight < ACCT_FREE_FAILURES ||
	     (g->inflight == 0 && now_ms >= g->next_ms);
	if (g && ok)
		g->inflight++;
	if (!ok)
		*retry_s = g->next_ms > now_ms ? (unsigned)((g->next_ms - now_ms + 999) / 1000) : 1;
	pthread_mutex_unlock(&s_guard_lock);
	return ok;
}

void
acct_login_done(const char *handle, int trusted, int outcome, uint64_t now_ms)
{
	struct guard *g;

	pthread_mutex_lock(&s_guard_lock);
	g = s_guard_find(handle, now_ms, outcome < 0);
	if (g && !trusted && g->inflight)
		g->inflight--;
	if (g && outcome < 0) {
		uint32_t over;
		g->failures++;
		g->last_fail_ms = now_ms;
		if (g->failures >= ACCT_FREE_FAILURES) {
			over = g->failures - ACCT_FREE_FAILURES;
			g->next_ms =
			    now_ms + 1000ull * (over >= 10 || (1u << over) > ACCT_MAX_BACKOFF_S
			                            ? ACCT_MAX_BACKOFF_S
			                            : 1u << over);
		}
	} else if (g && outcome > 0 && !trusted && g->inflight == 0) {
		/* The right password from anywhere: the count starts again. A
		 * known browser's success does not wipe what strangers tried. */
		memset(g, 0, sizeof(*g));
	}
	pthread_mutex_unlock(&s_guard_lock);
}

void
acct_login_reset(void)
{
	pthread_mutex_lock(&s_guard_lock);
	memset(s_guard, 0, sizeof(s_guard));
	pthread_mutex_unlock(&s_guard_lock);
}

/* ---------------------------------------------------- device cookies */

/* The MAC of a device cookie: BLAKE2b-128 of handle and nonce under a key
 * derived from the site's seed. -1 without a site key. */
static int
s_device_mac(const key_sign_t *site, const char *handle, const uint8_t nonce[16], uint8_t mac[16])
{
	uint8_t seed[CPT_SEED_LEN], key[32];
	crypto_generichash_state st;

	if (site == NULL)
		return -1;
	key_sign_seed(site, seed);
	crypto_kdf_derive_from_key(key, sizeof(key), 1, "cptdevic", seed);
	sodium_memzero(seed, sizeof(seed));
	crypto_generichash_init(&st, key, sizeof(key), 16);
	crypto_generichash_update(&st, (const uint8_t *)handle, strlen(handle) + 1);
	crypto_generichash_update(&st, nonce, 16);
	crypto_generichash_final(&st, mac, 16);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(&st, sizeof(st));
	return 0;
}

void
acct_device_cookie(const key_sign_t *site, const char *handle, char out[ACCT_DEVICE_LEN + 1])
{
	uint8_t raw[32];

	out[0] = 0;
	randombytes_buf(raw, 16);
	if (s_device_mac(site, handle, raw, raw + 16) == 0)
		sodium_bin2base64(out, ACCT_DEVICE_LEN + 1, raw, sizeof(raw),
		                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int
acct_device_check(const key_sign_t *site, const char *handle, const char *cookie)
{
	uint8_t raw[32], mac[16];
	size_t got = 0;

	if (cookie == NULL || strlen(cookie) != ACCT_DEVICE_LEN ||
	    sodium_base642bin(raw, sizeof(raw), cookie, ACCT_DEVICE_LEN, NULL, &got, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    got != sizeof(raw) || s_device_mac(site, handle, raw, mac) != 0)
		return 0;
	return sodium_memcmp(mac, raw + 16, sizeof(mac)) == 0;
}

/* ---------------------------------------------------- the key's backup */

json_t *
acct_backup_load(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], uint64_t *ts)
{
	uint8_t id[CPT_ID_LEN];
	uint64_t t;
	index_env_t v;
	evt_t ev;

	if (index_backup(txn, key, &t, id) != 0)
		return NULL;
	if (ts)
		*ts = t;
	if (index_env_read(txn, id, &v) != 0 || index_env_decode(&v, &ev, 0) != 0 ||
	    ev.body == NULL || ev.kind != EVT_KEY_BACKUP ||
	    memcmp(ev.author, key, CPT_KEY_LEN) != 0)
		return NULL;
	/* Parsed (copied) before the transaction ends. */
	return json_loadb((const char *)ev.body, ev.body_len, 0, NULL);
}

int
acct_is_site_admin(const key_sign_t *site, const char *site_name, const json_t *rec)
{
	const char *role = json_string_value(json_object_get(rec, "role"));
	const char *by = json_string_value(json_object_get(rec, "by"));
	char hex[CPT_HEX_ID];

	if (role == NULL || strcmp(role, "admin") != 0)
		return 0;
	/* The same site is the same site name (PROTOCOL.md 8.6): a site
	 * certified again with a new signing key keeps its admins. */
	if (site_name) {
		const char *s = json_string_value(json_object_get(rec, "site"));
		return s && strcmp(s, site_name) == 0;
	}
	if (site == NULL)
		return 0;
	cpt_hex32(hex, key_sign_public(site));
	return by && strcmp(by, hex) == 0;
}

/* ------------------------------------------------------- personal keys */

struct mine_put {
	const uint8_t *user; /* the user key */
	const uint8_t *k;    /* their personal key */
};

static int
s_mine_put_fn(store_txn_t *txn, void *arg)
{
	struct mine_put *m = arg;
	uint8_t old[INDEX_MINE_KEY_LEN];

	/* Written once: a login that changes nothing commits nothing. */
	if (index_mine_key_get(txn, m->user, old) == 0 &&
	    sodium_memcmp(old, m->k, INDEX_MINE_KEY_LEN) == 0) {
		sodium_memzero(old, sizeof(old));
		return STORE_NOCHANGE;
	}
	sodium_memzero(old, sizeof(old));
	return index_mine_key_put(txn, m->user, m->k);
}

int
acct_mine_remember(store_t *st, const key_sign_t *key)
{
	uint8_t seed[CPT_SEED_LEN], k[INDEX_MINE_KEY_LEN];
	struct mine_put m = {key_sign_public(key), k};
	int rc;

	assert(st != NULL && key != NULL);
	key_sign_seed(key, seed);
	index_mine_derive(k, seed);
	sodium_memzero(seed, sizeof(seed));
	rc = store_write(st, s_mine_put_fn, &m);
	sodium_memzero(k, sizeof(k));
	return rc == STORE_NOCHANGE ? 0 : rc;
}
