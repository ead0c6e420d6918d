/*
 * Login sessions: a table of sessions found by a hash of their cookie token,
 * with the CSRF tokens and the unlocked user seeds. Each session has a record
 * in the store holding its seed sealed under a key that only the cookie
 * gives, so a restart logs nobody out and no seed is written in clear. Every
 * use checks the session against the store's key state (docs/ARCHITECTURE.md,
 * "Accounts and sessions"). All seeds live in one sodium_malloc region
 * (PITFALLS 20: one guarded allocation per session would exhaust the kernel's
 * map count).
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "node/auth/auth.h"
#include "node/event/event.h"
#include "node/index/index.h"

enum { S_FREE = 0, S_OPEN, S_SEALED };

/* A record (DB_SESSIONS value), version 1:
 *   [0] version  [1..8] last use, wall ms  [9..16] anchor's backup_ts
 *   [17..24] login, wall ms  [25..56] user key  [57..88] enrolling site
 *   [89..96] enrol_ms  [97] admin  [98] handle length n  [99..99+n) handle
 *   then the nonce (24) and the sealed seed (32 + 16).
 * The seal is XChaCha20-Poly1305 under a key derived from the token; its
 * associated data is the version and bytes 17..99+n, so what says whose
 * session it is cannot be changed without the token. Bytes 1..16 change
 * while the session lives and are patched in place. */
#define REC_VERSION 1
#define REC_LAST    1
#define REC_BACKUP  9
#define REC_IMMUT   17
#define REC_HANDLE  99
#define REC_NONCE   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define REC_BOX     (CPT_SEED_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define REC_MAX     (REC_HANDLE + 63 + REC_NONCE + REC_BOX)

typedef struct sess {
	int state;                /* S_FREE, S_OPEN (seed in memory), S_SEALED (seed in box only) */
	int32_t next;             /* next slot of the same hash bucket, -1 at the end */
	uint8_t id[32];           /* derived from the token: bucket and record key */
	sess_info_t info;         /* handle, key, admin; csrf once open */
	sess_anchor_t anchor;     /* what the session is checked against */
	uint64_t login_wall;      /* when the login was, wall ms */
	int64_t last_ms;          /* last use, monotonic ms (may be < 0: before this boot) */
	uint64_t use;             /* t->uses at the last use (0: not since the restart) */
	uint64_t saved_wall;      /* last use as the record says, wall ms */
	uint8_t nonce[REC_NONCE]; /* the record's seal */
	uint8_t box[REC_BOX];     /* the sealed seed */
} sess_t;

struct sess_table {
	pthread_mutex_t lock; /* guards everything below but st */
	store_t *st;          /* where records live, or NULL (not owned) */
	size_t max;           /* slots */
	int64_t ttl_ms;       /* idle lifetime */
	uint32_t per_person;  /* sessions per handle */
	uint64_t uses;        /* counts uses: orders sessions used in the same millisecond */
	sess_t *slots;        /* public part of each session */
	int32_t *buckets;     /* first slot of each bucket, -1 when empty */
	uint32_t nbuckets;    /* a power of two >= max */
	uint8_t *seeds;       /* max * 32 bytes, sodium_malloc: the secret part */
};

/* Idle times are measured on the monotonic clock: a wall clock stepped
 * back must not log everyone out. Signed: a session loaded from its record
 * may have been used before this boot. */
static int64_t
s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Has a session last used at last_ms been idle too long at now? A use later
 * than now (read before the lock by another thread) is not idle. */
static int
s_expired(const sess_table_t *t, int64_t last_ms, int64_t now)
{
	return now - last_ms > t->ttl_ms;
}

/* The record's last use is written at most this often (ms): a write per
 * request would cost a commit; a restart then counts the idle time from up
 * to this much earlier. */
static uint64_t
s_touch_every(const sess_table_t *t)
{
	return t->ttl_ms / 16 > 1000 ? (uint64_t)t->ttl_ms / 16 : 1000;
}

/* ------------------------------------------------------------ tokens */

/* What a token gives, derived with BLAKE2b (crypto_kdf; the token is 256
 * random bits, so no password hashing is needed): the record's id, the key
 * sealing the seed and the CSRF token. seal and csrf may be NULL. -1 when
 * token is not one of ours. */
static int
s_derive(const char *token, uint8_t id[32], uint8_t *seal, char *csrf)
{
	uint8_t raw[32], c[32];
	size_t got = 0;

	if (token == NULL || strlen(token) != SESS_TOKEN_LEN ||
	    sodium_base642bin(raw, sizeof(raw), token, SESS_TOKEN_LEN, NULL, &got, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    got != sizeof(raw))
		return -1;
	crypto_kdf_derive_from_key(id, 32, 1, "cptsess1", raw);
	if (seal)
		crypto_kdf_derive_from_key(seal, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, 2,
		                           "cptsess1", raw);
	if (csrf) {
		crypto_kdf_derive_from_key(c, sizeof(c), 3, "cptsess1", raw);
		sodium_bin2base64(csrf, SESS_TOKEN_LEN + 1, c, sizeof(c),
		                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	}
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

/* ----------------------------------------------------------- records */

/* The record of slot s (REC_MAX bytes at out); its length. */
static size_t
s_rec_encode(const sess_t *s, uint8_t *out)
{
	size_t n = strlen(s->info.handle);

	out[0] = REC_VERSION;
	store_put_u64(out + REC_LAST, s->saved_wall);
	store_put_u64(out + REC_BACKUP, s->anchor.backup_ts);
	store_put_u64(out + REC_IMMUT, s->login_wall);
	memcpy(out + 25, s->info.key, CPT_KEY_LEN);
	memcpy(out + 57, s->anchor.site, CPT_KEY_LEN);
	store_put_u64(out + 89, s->anchor.enrol_ms);
	out[97] = (uint8_t)(s->info.admin != 0);
	out[98] = (uint8_t)n;
	memcpy(out + REC_HANDLE, s->info.handle, n);
	memcpy(out + REC_HANDLE + n, s->nonce, REC_NONCE);
	memcpy(out + REC_HANDLE + n + REC_NONCE, s->box, REC_BOX);
	return REC_HANDLE + n + REC_NONCE + REC_BOX;
}

/* The associated data of a record: its version and its fixed part. */
static size_t
s_rec_ad(const uint8_t *rec, uint8_t *ad)
{
	size_t n = REC_HANDLE - REC_IMMUT + rec[98];

	ad[0] = rec[0];
	memcpy(ad + 1, rec + REC_IMMUT, n);
	return n + 1;
}

/* Fills slot s (sealed) from a record; -1 when it is not a valid one. */
static int
s_rec_decode(sess_t *s, const uint8_t id[32], const uint8_t *rec, size_t len)
{
	size_t n;

	if (len < REC_HANDLE || rec[0] != REC_VERSION)
		return -1;
	n = rec[98];
	if (n == 0 || n >= sizeof(s->info.handle) || len != REC_HANDLE + n + REC_NONCE + REC_BOX)
		return -1;
	memset(s, 0, sizeof(*s));
	memcpy(s->info.handle, rec + REC_HANDLE, n);
	if (!event_valid_handle(s->info.handle))
		return -1;
	s->state = S_SEALED;
	memcpy(s->id, id, 32);
	s->saved_wall = store_get_u64(rec + REC_LAST);
	s->anchor.backup_ts = store_get_u64(rec + REC_BACKUP);
	s->login_wall = store_get_u64(rec + REC_IMMUT);
	memcpy(s->info.key, rec + 25, CPT_KEY_LEN);
	memcpy(s->anchor.site, rec + 57, CPT_KEY_LEN);
	s->anchor.enrol_ms = store_get_u64(rec + 89);
	s->info.admin = rec[97] != 0;
	memcpy(s->nonce, rec + REC_HANDLE + n, REC_NONCE);
	memcpy(s->box, rec + REC_HANDLE + n + REC_NONCE, REC_BOX);
	return 0;
}

/* Record changes, made in one write transaction outside the table lock. */
struct rec_write {
	store_t *st;              /* the store */
	const uint8_t (*del)[32]; /* records to delete */
	size_t ndel;              /* how many */
	const uint8_t *put_id;    /* a record to write whole, or NULL */
	const uint8_t *put;       /* its bytes */
	size_t put_len;           /* their number */
	const uint8_t *patch_id;  /* a record to patch when it still exists, or NULL */
	size_t patch_off;         /* where: REC_LAST or REC_BACKUP */
	uint64_t patch_val;       /* the value */
};

static int
s_rec_fn(store_txn_t *txn, void *arg)
{
	struct rec_write *w = arg;
	store_val_t k, v;
	int rc, changed = 0;

	for (size_t i = 0; i < w->ndel; i++) {
		k.len = 32;
		k.data = (void *)w->del[i];
		rc = store_del_existing(txn, DB_SESSIONS, k.data, k.len);
		if (rc != 0 && rc != CPT_ENOTFOUND)
			return rc;
		changed |= rc == 0;
	}
	if (w->put_id) {
		k.len = 32;
		k.data = (void *)w->put_id;
		v.len = w->put_len;
		v.data = (void *)w->put;
		if ((rc = store_put(txn, DB_SESSIONS, k.data, k.len, v.data, v.len)) != 0)
			return rc;
		changed = 1;
	}
	if (w->patch_id) {
		/* Only a record that still exists: a session closed meanwhile (its
		 * record deleted) must not come back. */
		uint8_t rec[REC_MAX];
		k.len = 32;
		k.data = (void *)w->patch_id;
		rc = store_get(txn, DB_SESSIONS, k.data, k.len, &v);
		if (rc == 0 && v.len <= sizeof(rec) && v.len >= REC_HANDLE) {
			memcpy(rec, v.data, v.len);
			store_put_u64(rec + w->patch_off, w->patch_val);
			v.data = rec;
			if ((rc = store_put(txn, DB_SESSIONS, k.data, k.len, v.data, v.len)) != 0)
				return rc;
			changed = 1;
		} else if (rc != 0 && rc != CPT_ENOTFOUND) {
			return rc;
		}
	}
	return changed ? 0 : STORE_NOCHANGE;
}

static void
s_rec_write(sess_table_t *t, struct rec_write *w)
{
	int rc;

	if (t->st == NULL || (w->ndel == 0 && w->put_id == NULL && w->patch_id == NULL))
		return;
	w->st = t->st;
	if ((rc = store_write(t->st, s_rec_fn, w)) != 0)
		log_warnx("sessions", "cannot write session records: %s", store_strerror(rc));
}

static void
s_rec_delete(sess_table_t *t, const uint8_t (*ids)[32], size_t n)
{
	struct rec_write w = {.del = ids, .ndel = n};

	s_rec_write(t, &w);
}

static void
s_rec_patch(sess_table_t *t, const uint8_t id[32], size_t off, uint64_t val)
{
	struct rec_write w = {.patch_id = id, .patch_off = off, .patch_val = val};

	s_rec_write(t, &w);
}

/* ------------------------------------------------------------- slots */

static uint32_t
s_bucket(const sess_table_t *t, const uint8_t id[32])
{
	return ((uint32_t)id[0] | (uint32_t)id[1] << 8 | (uint32_t)id[2] << 16 |
	        (uint32_t)id[3] << 24) &
	       (t->nbuckets - 1);
}

static void
s_link(sess_table_t *t, size_t i)
{
	uint32_t b = s_bucket(t, t->slots[i].id);

	t->slots[i].next = t->buckets[b];
	t->buckets[b] = (int32_t)i;
}

/* The slot of id, or -1. The ids are secret-derived: compared in constant time. */
static long
s_lookup(const sess_table_t *t, const uint8_t id[32])
{
	for (int32_t i = t->buckets[s_bucket(t, id)]; i >= 0; i = t->slots[i].next)
		if (sodium_memcmp(t->slots[i].id, id, 32) == 0)
			return i;
	return -1;
}

/* Frees slot i; its id is copied into gone (for the record's deletion). */
static void
s_close_slot(sess_table_t *t, size_t i, uint8_t gone[32])
{
	int32_t *p = &t->buckets[s_bucket(t, t->slots[i].id)];

	while (*p >= 0 && (size_t)*p != i)
		p = &t->slots[*p].next;
	if (*p >= 0)
		*p = t->slots[i].next;
	if (gone)
		memcpy(gone, t->slots[i].id, 32);
	sodium_memzero(t->seeds + i * CPT_SEED_LEN, CPT_SEED_LEN);
	sodium_memzero(&t->slots[i], sizeof(t->slots[i]));
	t->slots[i].next = -1;
}

/* The live slot of token (whose id is given), opened when it was sealed
 * (after a restart); -1 when there is none (an idle session is closed on
 * the way: its id goes to *gone, *ngone = 1). */
static long
s_use(sess_table_t *t, const char *token, const uint8_t id[32], int64_t now, uint8_t gone[32],
      size_t *ngone)
{
	long i = s_lookup(t, id);
	sess_t *s;

	if (i < 0)
		return -1;
	s = &t->slots[i];
	if (s_expired(t, s->last_ms, now)) {
		s_close_slot(t, (size_t)i, gone);
		*ngone = 1;
		return -1;
	}
	if (s->state == S_SEALED) {
		/* Once per session after a restart: the seal key and the CSRF
		 * token are derived only now. */
		uint8_t rec[REC_MAX], ad[REC_MAX],
		    seal[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
		uint8_t *seed = t->seeds + (size_t)i * CPT_SEED_LEN, same[32];
		char csrf[SESS_TOKEN_LEN + 1];
		unsigned long long n = 0;
		key_sign_t *k = NULL;
		int ok;
		size_t adl;
		s_rec_encode(s, rec);
		adl = s_rec_ad(rec, ad);
		ok = s_derive(token, same, seal, csrf) == 0 &&
		     crypto_aead_xchacha20poly1305_ietf_decrypt(seed, &n, NULL, s->box, REC_BOX, ad,
		                                                adl, s->nonce, seal) == 0 &&
		     n == CPT_SEED_LEN && (k = key_sign_from_seed(seed)) != NULL &&
		     sodium_memcmp(key_sign_public(k), s->info.key, CPT_KEY_LEN) == 0;
		key_sign_destroy(&k);
		sodium_memzero(seal, sizeof(seal));
		if (!ok) {
			/* Not sealed under this token: a damaged or forged record. */
			log_warnx("sessions", "a session record of %s does not open: dropped",
			          s->info.handle);
			s_close_slot(t, (size_t)i, gone);
			*ngone = 1;
			return -1;
		}
		s->state = S_OPEN;
		memcpy(s->info.csrf, csrf, SESS_TOKEN_LEN + 1);
	}
	return i;
}

/* Is the session of key still valid in the store? 1 yes, 0 no, -1 store error. */
static int
s_valid(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], const sess_anchor_t *a)
{
	uint64_t ms, ts;
	uint8_t id[CPT_ID_LEN];
	int rc;

	/* Any revocation of the key ends its sessions: that is what "disabled"
	 * and a password reset (a new key, the old one revoked) are. */
	if ((rc = index_revoked(txn, key, &ms)) != CPT_ENOTFOUND)
		return rc == 0 ? 0 : -1;
	/* A site revoked before it enrolled the key never vouched for it. */
	if ((rc = index_revoked(txn, a->site, &ms)) == 0) {
		if (ms <= a->enrol_ms)
			return 0;
	} else if (rc != CPT_ENOTFOUND) {
		return -1;
	}
	/* A newer key backup: the password was changed (here from another
	 * session, or at another site). */
	if ((rc = index_backup(txn, key, &ts, id)) == 0)
		return ts > a->backup_ts ? 0 : 1;
	return rc == CPT_ENOTFOUND || rc == CPT_EINVAL ? 1 : -1;
}

/* ------------------------------------------------------------ public */

sess_table_t *
sess_new(store_t *st, size_t max_sessions, uint32_t ttl_s, uint32_t per_person)
{
	sess_table_t *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->st = st;
	t->max = max_sessions ? max_sessions : 1;
	t->ttl_ms = (int64_t)ttl_s * 1000;
	t->per_person = per_person ? per_person : 1;
	for (t->nbuckets = 1; t->nbuckets < t->max; t->nbuckets *= 2)
		;
	t->slots = calloc(t->max, sizeof(*t->slots));
	t->buckets = malloc(t->nbuckets * sizeof(*t->buckets));
	t->seeds = sodium_malloc(t->max * CPT_SEED_LEN);
	if (t->slots == NULL || t->buckets == NULL || t->seeds == NULL) {
		sess_destroy(&t);
		return NULL;
	}
	sodium_memzero(t->seeds, t->max * CPT_SEED_LEN);
	for (uint32_t b = 0; b < t->nbuckets; b++)
		t->buckets[b] = -1;
	for (size_t i = 0; i < t->max; i++)
		t->slots[i].next = -1;
	if (st) {
		/* The sessions of before a restart come back sealed; records idle
		 * too long, unreadable or beyond the table go. */
		uint8_t(*gone)[32] = NULL;
		size_t ngone = 0, cap = 0, used = 0;
		uint64_t wall = hlc_wall_ms();
		int64_t now = s_now();
		store_txn_t *txn;
		store_cur_t *cur;
		store_val_t k, v;
		if (store_read_begin(st, &txn) == 0) {
			if (store_cur_open(txn, DB_SESSIONS, &cur) == 0) {
				for (int r = store_cur_get(cur, &k, &v, STORE_FIRST); r == 0;
				     r = store_cur_get(cur, &k, &v, STORE_NEXT)) {
					sess_t *s = used < t->max ? &t->slots[used] : NULL;
					uint64_t idle;
					int keep = k.len == 32 && s &&
					           s_rec_decode(s, k.data, v.data, v.len) == 0;
					if (keep) {
						idle =
						    wall > s->saved_wall ? wall - s->saved_wall : 0;
						keep = (int64_t)idle <= t->ttl_ms;
						s->last_ms = now - (int64_t)idle;
					}
					if (keep) {
						s_link(t, used++);
						continue;
					}
					if (s) {
						memset(s, 0, sizeof(*s));
						s->next = -1;
					}
					if (k.len != 32)
						continue;
					if (ngone == cap) {
						size_t nc = cap ? cap * 2 : 64;
						uint8_t(*g)[32] = realloc(gone, nc * 32);
						if (g == NULL)
							continue;
						gone = g;
						cap = nc;
					}
					memcpy(gone[ngone++], k.data, 32);
				}
				store_cur_close(&cur);
			}
			store_read_end(st, &txn);
		}
		s_rec_delete(t, (const uint8_t(*)[32])gone, ngone);
		free(gone);
		if (used)
			log_info("sessions", "%zu sessions kept from before the restart", used);
	}
	return t;
}

void
sess_destroy(sess_table_t **self_p)
{
	sess_table_t *t = *self_p;

	if (t == NULL)
		return;
	if (t->seeds)
		sodium_free(t->seeds); /* wipes */
	if (t->slots)
		sodium_memzero(t->slots, t->max * sizeof(*t->slots));
	free(t->slots);
	free(t->buckets);
	pthread_mutex_destroy(&t->lock);
	free(t);
	*self_p = NULL;
}

int
sess_open(sess_table_t *t, key_sign_t **key, const char *handle, int admin,
          const sess_anchor_t *anchor, char token[SESS_TOKEN_LEN + 1], sess_info_t *info)
{
	uint8_t raw[32], seal[crypto_aead_xchacha20poly1305_ietf_KEYBYTES], rec[REC_MAX],
	    ad[REC_MAX];
	uint8_t(*gone)[32];
	uint8_t *seed;
	char tok[SESS_TOKEN_LEN + 1];
	size_t ngone = 0, recl, adl, mine = 0;
	struct rec_write w = {0};
	int64_t now;
	long slot = -1;
	sess_t *s;

	assert(t != NULL && key != NULL && *key != NULL && anchor != NULL);
	if (strlen(handle) >= sizeof(s->info.handle) ||
	    (gone = malloc((t->max + 1) * sizeof(*gone))) == NULL) {
		key_sign_destroy(key);
		return strlen(handle) >= sizeof(s->info.handle) ? CPT_EINVAL : CPT_ENOMEM;
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(tok, sizeof(tok), raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));

	pthread_mutex_lock(&t->lock);
	now = s_now(); /* under the lock: no other use can be later */
	for (size_t i = 0; i < t->max; i++) {
		if (t->slots[i].state != S_FREE && s_expired(t, t->slots[i].last_ms, now))
			s_close_slot(t, i, gone[ngone++]);
		if (t->slots[i].state != S_FREE && strcmp(t->slots[i].info.handle, handle) == 0)
			mine++;
	}
	/* One person holds at most per_person sessions: the least recently
	 * used go first (a forgotten kiosk before the phone in use). */
	while (mine >= t->per_person) {
		long lru = -1;
		for (size_t i = 0; i < t->max; i++)
			if (t->slots[i].state != S_FREE &&
			    strcmp(t->slots[i].info.handle, handle) == 0 &&
			    (lru < 0 || t->slots[i].use < t->slots[lru].use ||
			     (t->slots[i].use == t->slots[lru].use &&
			      t->slots[i].last_ms < t->slots[lru].last_ms)))
				lru = (long)i;
		s_close_slot(t, (size_t)lru, gone[ngone++]);
		mine--;
	}
	for (size_t i = 0; i < t->max && slot < 0; i++)
		if (t->slots[i].state == S_FREE)
			slot = (long)i;
	if (slot < 0) {
		pthread_mutex_unlock(&t->lock);
		s_rec_delete(t, (const uint8_t(*)[32])gone, ngone);
		free(gone);
		sodium_memzero(tok, sizeof(tok));
		key_sign_destroy(key);
		return CPT_EFULL;
	}
	s = &t->slots[slot];
	memset(s, 0, sizeof(*s));
	s->state = S_OPEN;
	if (s_derive(tok, s->id, seal, s->info.csrf) != 0)
		abort(); /* a token we made always derives */
	s_link(t, (size_t)slot);
	s->last_ms = now;
	s->use = ++t->uses;
	s->login_wall = s->saved_wall = hlc_wall_ms();
	snprintf(s->info.handle, sizeof(s->info.handle), "%s", handle);
	memcpy(s->info.key, key_sign_public(*key), CPT_KEY_LEN);
	s->info.admin = admin;
	s->anchor = *anchor;
	seed = t->seeds + (size_t)slot * CPT_SEED_LEN;
	key_sign_seed(*key, seed);
	randombytes_buf(s->nonce, sizeof(s->nonce));
	recl = s_rec_encode(s, rec);
	adl = s_rec_ad(rec, ad);
	crypto_aead_xchacha20poly1305_ietf_encrypt(s->box, NULL, seed, CPT_SEED_LEN, ad, adl, NULL,
	                                           s->nonce, seal);
	recl = s_rec_encode(s, rec); /* with the box */
	memcpy(token, tok, SESS_TOKEN_LEN + 1);
	if (info)
		*info = s->info;
	memcpy(gone[ngone], s->id, 32); /* the new record's id, kept past the lock */
	pthread_mutex_unlock(&t->lock);
	sodium_memzero(seal, sizeof(seal));
	sodium_memzero(tok, sizeof(tok));
	key_sign_destroy(key);

	w.del = (const uint8_t(*)[32])gone;
	w.ndel = ngone;
	w.put_id = gone[ngone];
	w.put = rec;
	w.put_len = recl;
	s_rec_write(t, &w);
	free(gone);
	return 0;
}

/* The token's slot under the lock, or -1 (then the lock is released and the
 * record of an idle session deleted). On success the lock is held. */
static long
s_enter(sess_table_t *t, const char *token, int64_t *now)
{
	uint8_t id[32], gone[32];
	size_t ngone = 0;
	long i;

	if (s_derive(token, id, NULL, NULL) != 0)
		return -1;
	pthread_mutex_lock(&t->lock);
	*now = s_now();
	i = s_use(t, token, id, *now, gone, &ngone);
	if (i < 0) {
		pthread_mutex_unlock(&t->lock);
		s_rec_delete(t, (const uint8_t(*)[32])gone, ngone);
	}
	return i;
}

/* Closes the slot of id if it is still there (it was found invalid). */
static void
s_close_id(sess_table_t *t, const uint8_t id[32])
{
	uint8_t gone[32];
	long i;

	pthread_mutex_lock(&t->lock);
	i = s_lookup(t, id);
	if (i >= 0)
		s_close_slot(t, (size_t)i, gone);
	pthread_mutex_unlock(&t->lock);
	s_rec_delete(t, (const uint8_t(*)[32])id, 1);
}

int
sess_get(sess_table_t *t, const char *token, sess_info_t *info)
{
	uint8_t id[32];
	sess_anchor_t anchor;
	uint64_t wall = hlc_wall_ms();
	int64_t now;
	int touch = 0, ok = 1;
	long i;

	assert(t != NULL && info != NULL);
	if ((i = s_enter(t, token, &now)) < 0)
		return CPT_ENOTFOUND;
	sess_t *s = &t->slots[i];
	s->last_ms = now;
	s->use = ++t->uses;
	if (wall > s->saved_wall + s_touch_every(t)) {
		s->saved_wall = wall;
		touch = 1;
	}
	*info = s->info;
	anchor = s->anchor;
	memcpy(id, s->id, 32);
	pthread_mutex_unlock(&t->lock);

	/* The key state, read now: a revocation written by the CLI in another
	 * process or received from a peer a moment ago is seen by this request. */
	if (t->st) {
		store_txn_t *txn;
		if (store_read_begin(t->st, &txn) != 0)
			return CPT_EIO;
		ok = s_valid(txn, info->key, &anchor);
		store_read_end(t->st, &txn);
		if (ok < 0)
			return CPT_EIO;
	}
	if (!ok) {
		log_info("sessions",
		         "session of %s closed: its key was revoked or its password changed",
		         info->handle);
		s_close_id(t, id);
		sodium_memzero(info, sizeof(*info));
		return CPT_ENOTFOUND;
	}
	if (touch)
		s_rec_patch(t, id, REC_LAST, wall);
	return 0;
}

int
sess_publish(sess_table_t *t, const char *token, node_t *n, uint16_t kind, const json_t *body,
             ingest_res_t *res)
{
	key_sign_t *k;
	int64_t now;
	long i;
	int rc;

	if ((i = s_enter(t, token, &now)) < 0)
		return CPT_ENOTFOUND;
	k = key_sign_from_seed(t->seeds + (size_t)i * CPT_SEED_LEN);
	pthread_mutex_unlock(&t->lock);
	if (k == NULL)
		return CPT_ENOMEM;
	/* Signing and the durable commit happen outside the table lock. */
	rc = node_publish(n, k, kind, body, res);
	key_sign_destroy(&k);
	return rc;
}

int
sess_sign(sess_table_t *t, const char *token, node_t *n, uint16_t kind, const json_t *body,
          uint8_t **out, size_t *out_len)
{
	key_sign_t *k;
	int64_t now;
	long i;
	int rc;

	if ((i = s_enter(t, token, &now)) < 0)
		return CPT_ENOTFOUND;
	k = key_sign_from_seed(t->seeds + (size_t)i * CPT_SEED_LEN);
	pthread_mutex_unlock(&t->lock);
	if (k == NULL)
		return CPT_ENOMEM;
	rc = node_sign(n, k, kind, body, out, out_len);
	key_sign_destroy(&k);
	return rc;
}

int
sess_anchor_valid(store_txn_t *txn, const uint8_t key[CPT_KEY_LEN], const sess_anchor_t *a)
{
	return s_valid(txn, key, a);
}

int
sess_seed(sess_table_t *t, const char *token, uint8_t seed[CPT_SEED_LEN], sess_anchor_t *anchor)
{
	int64_t now;
	long i;

	if ((i = s_enter(t, token, &now)) < 0)
		return CPT_ENOTFOUND;
	memcpy(seed, t->seeds + (size_t)i * CPT_SEED_LEN, CPT_SEED_LEN);
	*anchor = t->slots[i].anchor;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int
sess_rebase(sess_table_t *t, const char *token, uint64_t backup_ts)
{
	uint8_t id[32];
	int64_t now;
	long i;

	if ((i = s_enter(t, token, &now)) < 0)
		return CPT_ENOTFOUND;
	t->slots[i].anchor.backup_ts = backup_ts;
	memcpy(id, t->slots[i].id, 32);
	pthread_mutex_unlock(&t->lock);
	s_rec_patch(t, id, REC_BACKUP, backup_ts);
	return 0;
}

void
sess_close(sess_table_t *t, const char *token)
{
	uint8_t id[32];

	if (s_derive(token, id, NULL, NULL) != 0)
		return;
	s_close_id(t, id);
}

void
sess_close_handle(sess_table_t *t, const char *handle, const char *keep_token)
{
	uint8_t keep[32], (*gone)[32] = malloc(t->max * sizeof(*gone));
	int has_keep = keep_token && s_derive(keep_token, keep, NULL, NULL) == 0;
	size_t ngone = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->max; i++) {
		sess_t *s = &t->slots[i];
		if (s->state == S_FREE || strcmp(s->info.handle, handle) != 0 ||
		    (has_keep && sodium_memcmp(s->id, keep, 32) == 0))
			continue;
		/* Without memory for the ids, the records go at the next sweep. */
		s_close_slot(t, i, gone ? gone[ngone++] : NULL);
	}
	pthread_mutex_unlock(&t->lock);
	s_rec_delete(t, (const uint8_t(*)[32])gone, ngone);
	free(gone);
}

void
sess_sweep(sess_table_t *t)
{
	struct snap {
		uint8_t id[32];           /* the session */
		uint8_t key[CPT_KEY_LEN]; /* its user's key */
		sess_anchor_t anchor;     /* checked against the store */
	} *snap = malloc(t->max * sizeof(*snap));
	uint8_t(*gone)[32] = malloc(t->max * sizeof(*gone));
	size_t n = 0, ngone = 0;
	int64_t now;
	store_txn_t *txn;

	if (snap == NULL || gone == NULL) {
		free(snap);
		free(gone);
		return;
	}
	pthread_mutex_lock(&t->lock);
	now = s_now();
	for (size_t i = 0; i < t->max; i++) {
		sess_t *s = &t->slots[i];
		if (s->state == S_FREE)
			continue;
		if (s_expired(t, s->last_ms, now)) {
			s_close_slot(t, i, gone[ngone++]);
			continue;
		}
		memcpy(snap[n].id, s->id, 32);
		memcpy(snap[n].key, s->info.key, CPT_KEY_LEN);
		snap[n++].anchor = s->anchor;
	}
	pthread_mutex_unlock(&t->lock);
	/* The key state of every session, in one short read transaction. */
	if (t->st && n && store_read_begin(t->st, &txn) == 0) {
		size_t bad = 0;
		for (size_t j = 0; j < n; j++)
			if (s_valid(txn, snap[j].key, &snap[j].anchor) == 0)
				memcpy(snap[bad++].id, snap[j].id, 32);
		store_read_end(t->st, &txn);
		if (bad) {
			pthread_mutex_lock(&t->lock);
			for (size_t j = 0; j < bad; j++) {
				long i = s_lookup(t, snap[j].id);
				if (i >= 0)
					s_close_slot(t, (size_t)i, gone[ngone++]);
			}
			pthread_mutex_unlock(&t->lock);
			log_info("sessions",
			         "%zu sessions closed: keys revoked or passwords changed", bad);
		}
	}
	s_rec_delete(t, (const uint8_t(*)[32])gone, ngone);
	sodium_memzero(snap, t->max * sizeof(*snap));
	free(snap);
	free(gone);
}

size_t
sess_count(sess_table_t *t)
{
	size_t n = 0;
	int64_t now;

	pthread_mutex_lock(&t->lock);
	now = s_now();
	for (size_t i = 0; i < t->max; i++)
		n += t->slots[i].state != S_FREE && !s_expired(t, t->slots[i].last_ms, now);
	pthread_mutex_unlock(&t->lock);
	return n;
}

int
sess_anchor_of(const json_t *rec, uint64_t backup_ts, sess_anchor_t *a)
{
	const char *by = json_string_value(json_object_get(rec, "by"));
	json_t *ts = json_object_get(rec, "ts");

	memset(a, 0, sizeof(*a));
	if (by == NULL || cpt_unhex32(a->site, by, strlen(by)) != 0 || !json_is_integer(ts))
		return -1;
	a->enrol_ms = HLC_MS((uint64_t)json_integer_value(ts));
	a->backup_ts = backup_ts;
	return 0;
}
