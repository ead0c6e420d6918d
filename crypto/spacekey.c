/*
 * Space keys: the cryptography of private spaces (docs/PROTOCOL.md 16.4 to
 * 16.6). A key ring in one guarded region, key ids, sealing a key to a site's
 * seal key and opening it, and bodies encrypted with XChaCha20-Poly1305 under
 * associated data that binds them to the event carrying them.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/crypto.h"

/* One key of a ring. */
struct s_slot {
	uint8_t id[SKEY_ID_LEN]; /* its id, the sort key of the ring */
	uint8_t key[SKEY_LEN];   /* the key itself */
};

/*
 * The ring is one sodium_malloc region: this header, then cap slots sorted by
 * id (binary search; a node holds a few thousand keys at most). The region is
 * read-only except inside s_writable()/s_readonly() pairs, so a stray write
 * faults instead of corrupting a key.
 */
struct skey_ring {
	size_t cap;           /* slots allocated */
	size_t count;         /* slots used, sorted by id */
	struct s_slot slot[]; /* the keys */
};

_Static_assert(SKEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "space key length");
_Static_assert(SKEY_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce length");
_Static_assert(SKEY_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag length");
_Static_assert(SKEY_SEAL_LEN == crypto_box_SEALBYTES + SKEY_LEN + CPT_ID_LEN, "seal length");

/* ------------------------------------------------------------------ ring */

skey_ring_t *
skey_ring_new(size_t cap)
{
	skey_ring_t *self;

	assert(cap >= 1);
	if (cap > (SIZE_MAX - sizeof(*self)) / sizeof(struct s_slot))
		return NULL;
	if ((self = sodium_malloc(sizeof(*self) + cap * sizeof(struct s_slot))) == NULL)
		return NULL;
	self->cap = cap;
	self->count = 0;
	sodium_mprotect_readonly(self);
	return self;
}

void
skey_ring_destroy(skey_ring_t **self_p)
{
	if (self_p == NULL || *self_p == NULL)
		return;
	/* sodium_free makes the region writable again and wipes it. */
	sodium_free(*self_p);
	*self_p = NULL;
}

size_t
skey_ring_count(const skey_ring_t *self)
{
	assert(self != NULL);
	return self->count;
}

/* The slot of id, or where it would go (*found = 0). */
static size_t
s_find(const skey_ring_t *self, const uint8_t id[SKEY_ID_LEN], int *found)
{
	size_t lo = 0, hi = self->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(self->slot[mid].id, id, SKEY_ID_LEN);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

static const uint8_t *
s_key(const skey_ring_t *self, const uint8_t id[SKEY_ID_LEN])
{
	int found;
	size_t i = s_find(self, id, &found);

	return found ? self->slot[i].key : NULL;
}

int
skey_ring_has(const skey_ring_t *self, const uint8_t id[SKEY_ID_LEN])
{
	assert(self != NULL && id != NULL);
	return s_key(self, id) != NULL;
}

void
skey_id_of(uint8_t id[SKEY_ID_LEN], const uint8_t key[SKEY_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, SKEY_ID_LEN);
	crypto_generichash_update(&st, (const uint8_t *)SKEY_ID_DOMAIN, sizeof(SKEY_ID_DOMAIN) - 1);
	crypto_generichash_update(&st, key, SKEY_LEN);
	crypto_generichash_final(&st, id, SKEY_ID_LEN);
	/* The state held the key's bytes. */
	sodium_memzero(&st, sizeof(st));
}

int
skey_ring_add(skey_ring_t *self, const uint8_t key[SKEY_LEN], uint8_t id[SKEY_ID_LEN])
{
	int found;
	size_t at;

	assert(self != NULL && key != NULL && id != NULL);
	skey_id_of(id, key);
	at = s_find(self, id, &found);
	if (found)
		return 0;
	if (self->count == self->cap)
		return CPT_EFULL;
	sodium_mprotect_readwrite(self);
	memmove(&self->slot[at + 1], &self->slot[at], (self->count - at) * sizeof(struct s_slot));
	memcpy(self->slot[at].id, id, SKEY_ID_LEN);
	memcpy(self->slot[at].key, key, SKEY_LEN);
	self->count++;
	sodium_mprotect_readonly(self);
	return 0;
}

int
skey_ring_generate(skey_ring_t *self, uint8_t id[SKEY_ID_LEN])
{
	uint8_t *key;
	int rc;

	assert(self != NULL && id != NULL);
	/* Made in guarded memory too: a stack copy could outlive the call in a core. */
	if ((key = sodium_malloc(SKEY_LEN)) == NULL)
		return CPT_ENOMEM;
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	rc = skey_ring_add(self, key, id);
	sodium_free(key);
	return rc;
}

/* ------------------------------------------------------------- sealing */

int
skey_ring_seal(const skey_ring_t *self, uint8_t box[SKEY_SEAL_LEN], const uint8_t id[SKEY_ID_LEN],
               const uint8_t space[CPT_ID_LEN], const uint8_t seal_pk[CPT_KEY_LEN])
{
	const uint8_t *key;
	uint8_t *msg;

	assert(self != NULL && box != NULL && id != NULL && space != NULL && seal_pk != NULL);
	if ((key = s_key(self, id)) == NULL)
		return CPT_ENOTFOUND;
	if (!key_x25519_valid(seal_pk))
		return CPT_EINVAL;
	if ((msg = sodium_malloc(SKEY_LEN + CPT_ID_LEN)) == NULL)
		return CPT_ENOMEM;
	memcpy(msg, key, SKEY_LEN);
	memcpy(msg + SKEY_LEN, space, CPT_ID_LEN);
	/* Cannot fail for a valid key: the ephemeral pair is libsodium's own. */
	if (crypto_box_seal(box, msg, SKEY_LEN + CPT_ID_LEN, seal_pk) != 0) {
		sodium_free(msg);
		return CPT_EINVAL;
	}
	sodium_free(msg);
	return 0;
}

int
skey_ring_open(skey_ring_t *self, const uint8_t box[SKEY_SEAL_LEN], const uint8_t space[CPT_ID_LEN],
               const uint8_t id[SKEY_ID_LEN], const key_curve_t *seal)
{
	uint8_t *msg, got[SKEY_ID_LEN], added[SKEY_ID_LEN];
	int rc;

	assert(self != NULL && box != NULL && space != NULL && id != NULL && seal != NULL);
	if ((msg = sodium_malloc(SKEY_LEN + CPT_ID_LEN)) == NULL)
		return CPT_ENOMEM;
	if (crypto_box_seal_open(msg, box, SKEY_SEAL_LEN, key_curve_public(seal),
	                         key_curve_secret(seal)) != 0) {
		rc = CPT_EAUTH;
		goto out;
	}
	skey_id_of(got, msg);
	/* Both comparisons are of public values (ids): no need for constant time. */
	if (memcmp(msg + SKEY_LEN, space, CPT_ID_LEN) != 0 || memcmp(got, id, SKEY_ID_LEN) != 0) {
		rc = CPT_EINVAL;
		goto out;
	}
	rc = skey_ring_add(self, msg, added);
out:
	sodium_free(msg);
	return rc;
}

/* ------------------------------------------------------------- bodies */

void
skey_ad(uint8_t ad[SKEY_AD_LEN], const skey_ctx_t *ctx, const uint8_t id[SKEY_ID_LEN])
{
	size_t n = sizeof(SKEY_AD_DOMAIN) - 1;

	assert(ad != NULL && ctx != NULL && ctx->fed != NULL && ctx->author != NULL && id != NULL);
	memcpy(ad, SKEY_AD_DOMAIN, n);
	memcpy(ad + n, ctx->fed, CPT_FED_LEN);
	n += CPT_FED_LEN;
	ad[n++] = (uint8_t)(ctx->kind >> 8);
	ad[n++] = (uint8_t)ctx->kind;
	memcpy(ad + n, ctx->author, CPT_KEY_LEN);
	n += CPT_KEY_LEN;
	if (ctx->space != NULL)
		memcpy(ad + n, ctx->space, CPT_ID_LEN);
	else
		memset(ad + n, 0, CPT_ID_LEN);
	n += CPT_ID_LEN;
	memcpy(ad + n, id, SKEY_ID_LEN);
	n += SKEY_ID_LEN;
	assert(n == SKEY_AD_LEN);
}

size_t
skey_sealed_len(size_t plain_len)
{
	/* The next multiple of SKEY_PAD, and one block for an empty text. */
	size_t padded =
	    plain_len == 0 ? SKEY_PAD : (plain_len + SKEY_PAD - 1) / SKEY_PAD * SKEY_PAD;

	return padded + SKEY_TAG_LEN;
}

int
skey_encrypt(const skey_ring_t *self, uint8_t *out, size_t cap, size_t *out_len,
             const uint8_t id[SKEY_ID_LEN], const skey_ctx_t *ctx,
             const uint8_t nonce[SKEY_NONCE_LEN], const uint8_t *plain, size_t plain_len)
{
	uint8_t ad[SKEY_AD_LEN];
	const uint8_t *key;
	size_t need, padded;
	unsigned long long clen = 0;

	assert(self != NULL && out != NULL && out_len != NULL && nonce != NULL);
	assert(plain != NULL || plain_len == 0);
	if ((key = s_key(self, id)) == NULL)
		return CPT_ENOTFOUND;
	if (plain_len > SIZE_MAX / 2)
		return CPT_ETOOBIG;
	need = skey_sealed_len(plain_len);
	if (cap < need)
		return CPT_ETOOBIG;
	padded = need - SKEY_TAG_LEN;
	/* Encrypted in place in out: the plaintext then its padding. */
	if (plain_len > 0)
		memmove(out, plain, plain_len);
	memset(out + plain_len, ' ', padded - plain_len);
	skey_ad(ad, ctx, id);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, out, padded, ad, sizeof(ad), NULL,
	                                           nonce, key);
	assert(clen == need);
	*out_len = need;
	return 0;
}

int
skey_decrypt(const skey_ring_t *self, uint8_t *out, size_t cap, size_t *out_len,
             const uint8_t id[SKEY_ID_LEN], const skey_ctx_t *ctx,
             const uint8_t nonce[SKEY_NONCE_LEN], const uint8_t *ct, size_t ct_len)
{
	uint8_t ad[SKEY_AD_LEN];
	const uint8_t *key;
	unsigned long long mlen = 0;

	assert(self != NULL && out != NULL && out_len != NULL && nonce != NULL && ct != NULL);
	if ((key = s_key(self, id)) == NULL)
		return CPT_ENOTFOUND;
	if (ct_len < SKEY_TAG_LEN)
		return CPT_EINVAL;
	if (cap < ct_len - SKEY_TAG_LEN)
		return CPT_ETOOBIG;
	skey_ad(ad, ctx, id);
	/* libsodium checks the tag before it decrypts; on failure it zeroes out. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, ct, ct_len, ad, sizeof(ad),
	                                               nonce, key) != 0)
		return CPT_EAUTH;
	*out_len = (size_t)mlen;
	return 0;
}

void
skey_site_space(uint8_t id[CPT_ID_LEN], const uint8_t fed[CPT_FED_LEN], const char *site)
{
	crypto_generichash_state st;

	assert(id != NULL && fed != NULL && site != NULL);
	crypto_generichash_init(&st, NULL, 0, CPT_ID_LEN);
	crypto_generichash_update(&st, (const uint8_t *)SKEY_SITE_DOMAIN,
	                          sizeof(SKEY_SITE_DOMAIN) - 1);
	crypto_generichash_update(&st, fed, CPT_FED_LEN);
	crypto_generichash_update(&st, (const uint8_t *)site, strlen(site));
	crypto_generichash_final(&st, id, CPT_ID_LEN);
}

/* ---------------------------------------------------------------- base64 */

size_t
cpt_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void
cpt_b64(char *out, const uint8_t *in, size_t n)
{
	assert(out != NULL && (in != NULL || n == 0));
	sodium_bin2base64(out, cpt_b64_len(n) + 1, in, n, sodium_base64_VARIANT_ORIGINAL);
}

int
cpt_unb64(uint8_t *out, size_t cap, size_t *out_len, const char *s, size_t len)
{
	const char *end = NULL;
	size_t n = 0, pad = 0;

	assert(out != NULL && out_len != NULL && (s != NULL || len == 0));
	if (len % 4 != 0)
		return CPT_EINVAL;
	while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
		pad++;
	if (len / 4 * 3 - pad > cap)
		return CPT_ETOOBIG;
	/* libsodium refuses non-zero unused bits and a wrong padding; it stops at
	 * the padding, so anything after it is caught by the end check. */
	if (sodium_base642bin(out, cap, s, len, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) !=
	        0 ||
	    end != s + len)
		return CPT_EINVAL;
	*out_len = n;
	return 0;
}
