/*
 * Users' keys sealed under their password: the body of key-backup events
 * (argon2id + XSalsa20-Poly1305), opened at login. Logins are bounded in
 * number at once, since each argon2id run takes 64 MiB.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "node/node.h"

#define MAX_CONCURRENT_KDF 2

#define KDF_WAIT_MS 3000 /* a login waits this long for a free slot */

static pthread_mutex_t s_kdf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_kdf_free = PTHREAD_COND_INITIALIZER;
static int s_kdf_running;

/* Derives the sealing key; at most MAX_CONCURRENT_KDF at once, the others
 * queue for a while. 0, CPT_EAGAIN (still busy) or CPT_ENOMEM. */
static int
s_derive(uint8_t key[crypto_secretbox_KEYBYTES], const char *password, const uint8_t *salt,
	 unsigned long long ops, size_t mem)
{
	struct timespec until;
	int rc;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += KDF_WAIT_MS / 1000;
	pthread_mutex_lock(&s_kdf_lock);
	while (s_kdf_running >= MAX_CONCURRENT_KDF) {
		if (pthread_cond_timedwait(&s_kdf_free, &s_kdf_lock, &until) != 0) {
			pthread_mutex_unlock(&s_kdf_lock);
			return CPT_EAGAIN;
		}
	}
	s_kdf_running++;
	pthread_mutex_unlock(&s_kdf_lock);
	rc = crypto_pwhash(key, crypto_secretbox_KEYBYTES, password, strlen(password), salt, ops, mem,
			   crypto_pwhash_ALG_ARGON2ID13);
	pthread_mutex_lock(&s_kdf_lock);
	s_kdf_running--;
	pthread_cond_signal(&s_kdf_free);
	pthread_mutex_unlock(&s_kdf_lock);
	return rc == 0 ? 0 : CPT_ENOMEM;
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
	/* CLI callers wait rather than fail when logins are running. */
	while ((rc = s_derive(key, password, salt, ops, mem)) == CPT_EAGAIN)
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
	return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "handle", handle, "kdf", "argon2id13",
			 "ops", (json_int_t)ops, "mem", (json_int_t)mem, "salt", hsalt, "nonce", hnonce,
			 "box", hbox);
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
acct_backup_open(const json_t *body, const char *password, int *rc)
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
	if ((*rc = s_derive(mem, password, salt, (unsigned long long)ops, (size_t)memlim)) != 0)
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
