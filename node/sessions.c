/*
 * Login sessions: a fixed table of cookie tokens, CSRF tokens and unlocked
 * user seeds. All seeds live in one sodium_malloc region (PITFALLS 20: one
 * guarded allocation per session would exhaust the kernel's map count).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "node/node.h"

typedef struct sess {
	int used;                        /* slot in use */
	char token[SESS_TOKEN_LEN + 1];  /* cookie value */
	sess_info_t info;                /* handle, key, admin, csrf */
	uint64_t last_ms;                /* last use, for the idle timeout */
} sess_t;

struct sess_table {
	pthread_mutex_t lock; /* guards everything below */
	size_t max;           /* slots */
	uint32_t ttl_ms;      /* idle lifetime */
	sess_t *slots;        /* public part of each session */
	uint8_t *seeds;       /* max * 32 bytes, sodium_malloc: the secret part */
};

/* Idle times are measured on the monotonic clock: a wall clock stepped
 * back must not log everyone out. */
static uint64_t
s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Has a session last used at last_ms been idle too long at now? A use later
 * than now (read before the lock by another thread) is not idle. */
static int
s_expired(const sess_table_t *t, uint64_t last_ms, uint64_t now)
{
	return now > last_ms && now - last_ms > t->ttl_ms;
}

static void
s_token(char out[SESS_TOKEN_LEN + 1])
{
	uint8_t raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, SESS_TOKEN_LEN + 1, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

sess_table_t *
sess_new(size_t max_sessions, uint32_t ttl_s)
{
	sess_table_t *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->max = max_sessions ? max_sessions : 1;
	t->ttl_ms = ttl_s * 1000u;
	t->slots = calloc(t->max, sizeof(*t->slots));
	t->seeds = sodium_malloc(t->max * CPT_SEED_LEN);
	if (t->slots == NULL || t->seeds == NULL) {
		sess_destroy(&t);
		return NULL;
	}
	sodium_memzero(t->seeds, t->max * CPT_SEED_LEN);
	pthread_mutex_init(&t->lock, NULL);
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
	free(t->slots);
	pthread_mutex_destroy(&t->lock);
	free(t);
	*self_p = NULL;
}

static void
s_close_slot(sess_table_t *t, size_t i)
{
	sodium_memzero(t->seeds + i * CPT_SEED_LEN, CPT_SEED_LEN);
	sodium_memzero(&t->slots[i], sizeof(t->slots[i]));
}

/* The live slot of token, or -1; expired sessions are closed on the way. */
static long
s_find(sess_table_t *t, const char *token)
{
	uint64_t now = s_now();

	if (token == NULL || strlen(token) != SESS_TOKEN_LEN)
		return -1;
	for (size_t i = 0; i < t->max; i++) {
		if (!t->slots[i].used)
			continue;
		if (s_expired(t, t->slots[i].last_ms, now)) {
			s_close_slot(t, i);
			continue;
		}
		if (sodium_memcmp(t->slots[i].token, token, SESS_TOKEN_LEN) == 0)
			return (long)i;
	}
	return -1;
}

int
sess_open(sess_table_t *t, key_sign_t **key, const char *handle, int admin,
	  char token[SESS_TOKEN_LEN + 1], sess_info_t *info)
{
	uint64_t now;
	long slot = -1;

	pthread_mutex_lock(&t->lock);
	now = s_now(); /* under the lock: no other use can be later */
	for (size_t i = 0; i < t->max; i++) {
		if (t->slots[i].used && s_expired(t, t->slots[i].last_ms, now))
			s_close_slot(t, i);
		if (!t->slots[i].used && slot < 0)
			slot = (long)i;
	}
	if (slot < 0) {
		pthread_mutex_unlock(&t->lock);
		key_sign_destroy(key);
		return CPT_EFULL;
	}
	sess_t *s = &t->slots[slot];
	s->used = 1;
	s->last_ms = now;
	s_token(s->token);
	s_token(s->info.csrf);
	snprintf(s->info.handle, sizeof(s->info.handle), "%s", handle);
	memcpy(s->info.key, key_sign_public(*key), CPT_KEY_LEN);
	s->info.admin = admin;
	key_sign_seed(*key, t->seeds + (size_t)slot * CPT_SEED_LEN);
	memcpy(token, s->token, SESS_TOKEN_LEN + 1);
	if (info)
		*info = s->info;
	pthread_mutex_unlock(&t->lock);
	key_sign_destroy(key);
	return 0;
}

int
sess_get(sess_table_t *t, const char *token, sess_info_t *info)
{
	long i;

	pthread_mutex_lock(&t->lock);
	i = s_find(t, token);
	if (i >= 0) {
		t->slots[i].last_ms = s_now();
		*info = t->slots[i].info;
	}
	pthread_mutex_unlock(&t->lock);
	return i >= 0 ? 0 : CPT_ENOTFOUND;
}

int
sess_publish(sess_table_t *t, const char *token, node_t *n, uint16_t kind, const json_t *body,
	     ingest_res_t *res)
{
	key_sign_t *k = NULL;
	long i;
	int rc;

	pthread_mutex_lock(&t->lock);
	i = s_find(t, token);
	if (i >= 0)
		k = key_sign_from_seed(t->seeds + (size_t)i * CPT_SEED_LEN);
	pthread_mutex_unlock(&t->lock);
	if (i < 0)
		return CPT_ENOTFOUND;
	if (k == NULL)
		return CPT_ENOMEM;
	/* Signing and the durable commit happen outside the table lock. */
	rc = node_publish(n, k, kind, body, res);
	key_sign_destroy(&k);
	return rc;
}

void
sess_close(sess_table_t *t, const char *token)
{
	long i;

	pthread_mutex_lock(&t->lock);
	if ((i = s_find(t, token)) >= 0)
		s_close_slot(t, (size_t)i);
	pthread_mutex_unlock(&t->lock);
}

void
sess_close_handle(sess_table_t *t, const char *handle)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->max; i++)
		if (t->slots[i].used && strcmp(t->slots[i].info.handle, handle) == 0)
			s_close_slot(t, i);
	pthread_mutex_unlock(&t->lock);
}

size_t
sess_count(sess_table_t *t)
{
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->max; i++)
		n += t->slots[i].used != 0;
	pthread_mutex_unlock(&t->lock);
	return n;
}
